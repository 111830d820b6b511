// options.cpp — defaults and the environment.
#include "options.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace palloc {

namespace {
// palloc_options_init cannot fail; a malformed variable is reported by palloc_open,
// possibly on another thread: the message is process-wide.
constexpr uint32_t kFlagBadEnvironment = 0x80000000u;
// A plain buffer, not a std::string: as libpalloc.so's malloc, this code can run before
// the library's static constructors (the first allocation of the process opens the heap).
std::mutex env_error_mu;
char env_error[512];

void set_env_error(const std::string &msg) {
  std::lock_guard<std::mutex> lk(env_error_mu);
  snprintf(env_error, sizeof(env_error), "%s", msg.c_str());
}

std::string get_env_error() {
  std::lock_guard<std::mutex> lk(env_error_mu);
  return env_error;
}
}  // namespace

bool parse_size(const char *text, uint64_t *out) {
  if (!text || !*text) return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || end == text) return false;
  unsigned shift = 0;
  switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
  }
  if (*end == 'i' || *end == 'B') end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
  if (*end != '\0' || (shift && v > (~0ull >> shift))) return false;
  *out = v << shift;
  return true;
}

Status parse_durability(const char *t, palloc_durability *out) {
  if (!strcmp(t, "sync")) *out = PALLOC_DURABILITY_SYNC;
  else if (!strcmp(t, "async")) *out = PALLOC_DURABILITY_ASYNC;
  else if (!strcmp(t, "none")) *out = PALLOC_DURABILITY_NONE;
  else return {PALLOC_E_INVALID, std::string("unknown durability '") + t + "' (use sync, async or none)"};
  return ok_status();
}

Status parse_tracker(const char *t, palloc_tracker_kind *out) {
  if (!strcmp(t, "auto")) *out = PALLOC_TRACKER_AUTO;
  else if (!strcmp(t, "uffd")) *out = PALLOC_TRACKER_UFFD;
  else if (!strcmp(t, "hash")) *out = PALLOC_TRACKER_HASH;
  else return {PALLOC_E_INVALID, std::string("unknown tracker '") + t + "' (use auto, uffd or hash)"};
  return ok_status();
}

const char *durability_name(palloc_durability d) {
  switch (d) {
    case PALLOC_DURABILITY_SYNC: return "sync";
    case PALLOC_DURABILITY_ASYNC: return "async";
    case PALLOC_DURABILITY_NONE: return "none";
  }
  return "?";
}

Status options_check(const palloc_options &o) {
  if (o.flags & kFlagBadEnvironment) return {PALLOC_E_INVALID, get_env_error()};
  // The struct may come from C code holding any value: read the enums as raw integers
  // (an out-of-range enum value is undefined behaviour in C++).
  uint32_t durability, tracker;
  static_assert(sizeof durability == sizeof o.durability && sizeof tracker == sizeof o.tracker);
  std::memcpy(&durability, &o.durability, sizeof durability);
  std::memcpy(&tracker, &o.tracker, sizeof tracker);
  if (durability > PALLOC_DURABILITY_NONE) return {PALLOC_E_INVALID, "unknown durability mode " + std::to_string(durability)};
  if (tracker > PALLOC_TRACKER_HASH) return {PALLOC_E_INVALID, "unknown tracker kind " + std::to_string(tracker)};
  if (o.max_size == 0) return {PALLOC_E_INVALID, "max_size must be positive"};
  if (o.max_size > (2ull << 40)) return {PALLOC_E_INVALID, "max_size is limited to 2 TiB"};
  if (o.initial_size > o.max_size) return {PALLOC_E_INVALID, "initial_size exceeds max_size"};
  if (o.checkpoint_bytes < (1 << 20)) return {PALLOC_E_INVALID, "checkpoint_bytes must be at least 1 MiB"};
  return ok_status();
}

}  // namespace palloc

using namespace palloc;

extern "C" void palloc_options_init(palloc_options *o) {
  *o = {};
  o->durability = PALLOC_DURABILITY_SYNC;
  o->tracker = PALLOC_TRACKER_AUTO;
  o->async_bound_ms = kDefaultAsyncBoundMs;
  o->initial_size = kDefaultInitialSize;
  o->max_size = kDefaultMaxSize;
  o->checkpoint_bytes = kDefaultCheckpointBytes;
  auto bad = [o](const std::string &msg) {
    o->flags |= kFlagBadEnvironment;
    set_env_error(msg);
  };
  if (const char *v = getenv("PALLOC_DURABILITY")) {
    Status s = parse_durability(v, &o->durability);
    if (!s.ok()) bad("PALLOC_DURABILITY: " + s.message());
  }
  if (const char *v = getenv("PALLOC_TRACKER")) {
    Status s = parse_tracker(v, &o->tracker);
    if (!s.ok()) bad("PALLOC_TRACKER: " + s.message());
  }
  uint64_t n;
  if (const char *v = getenv("PALLOC_MAX_SIZE")) {
    if (parse_size(v, &n)) o->max_size = n;
    else bad(std::string("PALLOC_MAX_SIZE: cannot parse '") + v + "' (examples: 4g, 512m)");
  }
  if (const char *v = getenv("PALLOC_ASYNC_MS")) {
    if (parse_size(v, &n) && n > 0 && n < 3600000) o->async_bound_ms = static_cast<uint32_t>(n);
    else bad(std::string("PALLOC_ASYNC_MS: cannot parse '") + v + "' (milliseconds)");
  }
  if (const char *v = getenv("PALLOC_CHECKPOINT_BYTES")) {
    if (parse_size(v, &n)) o->checkpoint_bytes = n;
    else bad(std::string("PALLOC_CHECKPOINT_BYTES: cannot parse '") + v + "' (examples: 64m, 1g)");
  }
}
