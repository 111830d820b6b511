// status.cpp — errno mapping and the thread-local last error.
#include "status.h"

#include <cerrno>
#include <cstring>

namespace palloc {

Status errno_status(int err, const std::string &what) {
  palloc_status code = PALLOC_E_IO;
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG: code = PALLOC_E_NOSPACE; break;
    case EACCES:
    case EPERM:
    case EROFS: code = PALLOC_E_PERMISSION; break;
    case ENOENT: code = PALLOC_E_NOT_FOUND; break;
    case EEXIST: code = PALLOC_E_EXISTS; break;
    case ENOMEM: code = PALLOC_E_NOMEM; break;
    default: break;
  }
  std::string hint;
  if (code == PALLOC_E_NOSPACE) hint = " (free some disk space and retry; nothing committed was lost)";
  if (err == EROFS) hint = " (the file system is read-only)";
  return {code, what + ": " + std::strerror(err) + hint};
}

namespace {
thread_local std::string tls_last_error;
}

void set_last_error(const Status &status) { tls_last_error = status.message(); }
const char *last_error() { return tls_last_error.c_str(); }

}  // namespace palloc
