// launch.cpp — see launch.h.
#include "launch.h"

#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace palloc::launch {
namespace {
constexpr rlim_t kPinnedStack = rlim_t(8) << 20;
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  std::string s(buf);
  size_t slash = s.rfind('/');
  return slash == std::string::npos ? "." : s.substr(0, slash);
}

std::string absolute(const std::string &p) {
  if (!p.empty() && p[0] == '/') return p;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof(cwd))) return p;
  return std::string(cwd) + "/" + p;
}

bool make_dirs(const std::string &dir) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  return true;
}

std::string data_dir() {
  const char *xdg = getenv("XDG_DATA_HOME");
  const char *home = getenv("HOME");
  return (xdg && *xdg) ? std::string(xdg) + "/palloc"
                       : std::string(home && *home ? home : ".") + "/.local/share/palloc";
}

std::string library_path(const char *name, const char *env_var) {
  const char *env = env_var ? getenv(env_var) : nullptr;
  return absolute((env && *env) ? std::string(env) : self_dir() + "/../lib/" + name);
}

bool pin_address_space(std::string *error) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_STACK, &rl) == 0 && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur != kPinnedStack)) {
    rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= kPinnedStack) ? kPinnedStack : rl.rlim_max;
    if (setrlimit(RLIMIT_STACK, &rl) != 0) {
      *error = std::string("cannot pin the stack limit: ") + strerror(errno);
      return false;
    }
  }
  const int current = personality(0xffffffff);
  if (current == -1 || personality(static_cast<unsigned long>(current) | ADDR_NO_RANDOMIZE) == -1) {
    *error = std::string("cannot turn off address-space randomisation: ") + strerror(errno);
    return false;
  }
  return true;
}

}  // namespace palloc::launch
