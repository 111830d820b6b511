// status.h — error values carried through the library, and the per-thread last error.
#pragma once

#include <string>
#include <utility>

#include "palloc.h"

namespace palloc {

// A status with a message. Functions return Status; the C API stores the message as
// the thread's last error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(palloc_status code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == PALLOC_OK; }
  palloc_status code() const { return code_; }
  const std::string &message() const { return message_; }

  // Prefixes context ("opening /x: ") to the message.
  Status with_context(const std::string &context) const {
    return ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  palloc_status code_ = PALLOC_OK;
  std::string message_;
};

inline Status ok_status() { return {}; }

// Maps an errno from a failed system call to a status; `what` names the operation.
Status errno_status(int err, const std::string &what);

// Sets / returns the thread's last error message (for palloc_last_error).
void set_last_error(const Status &status);
const char *last_error();

}  // namespace palloc

#define PALLOC_TRY(expr)                      \
  do {                                        \
    ::palloc::Status palloc_try_s_ = (expr);  \
    if (!palloc_try_s_.ok()) return palloc_try_s_; \
  } while (0)
