// frontend.cpp — see frontend.h.
#include "frontend.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "launch.h"

namespace palloc::launch {

std::string persist_options_help(const char *subdir, const char *script_example) {
  return std::string() +
         "persistence options:\n"
         "  --arena PATH          the arena file (logs PATH.wal0/.wal1); created if missing.\n"
         "                        Default: one per script in " + data_dir() + "/" + subdir + "/\n" +
         "                        (" + script_example + ")\n" +
         "  --fresh               start over with an empty state; the old arena is kept as\n"
         "                        PATH.bak-DATE (with its logs)\n"
         "  --durability MODE     sync (default): a commit is on disk when it returns; async:\n"
         "                        within 1 s; none: survives a crash of the program, not of the\n"
         "                        machine\n"
         "  --commit-interval MS  also commit every MS milliseconds (0 = off, the default)\n"
         "  --max-size SIZE       largest size of a new arena (e.g. 64G, the default)\n"
         "  --verbose             report open, resume and commits on stderr\n"
         "  -h, --help            show this help\n";
}

bool take_persist_option(int argc, char **argv, int *i, PersistOptions *o, std::string *error) {
  const char *a = argv[*i];
  if (!strcmp(a, "--fresh")) return o->fresh = true;
  if (!strcmp(a, "--verbose")) return o->verbose = true;
  struct {
    const char *name;
    std::string *out;
  } const valued[] = {{"--arena", &o->arena},
                      {"--durability", &o->durability},
                      {"--commit-interval", &o->interval},
                      {"--max-size", &o->max_size}};
  for (const auto &v : valued) {
    const size_t len = strlen(v.name);
    if (strncmp(a, v.name, len) != 0 || (a[len] != '=' && a[len] != '\0')) continue;
    if (a[len] == '=') {
      *v.out = a + len + 1;
    } else if (*i + 1 >= argc) {
      *error = std::string(v.name) + " needs a value";
      return true;
    } else {
      *v.out = argv[++*i];
    }
    if (v.out == &o->durability && *v.out != "sync" && *v.out != "async" && *v.out != "none")
      *error = "--durability '" + *v.out + "' is not one of sync, async, none";
    if (v.out == &o->max_size) {  // digits and an optional k/m/g/t suffix; libpalloc checks the rest
      char *end = nullptr;
      strtoull(v.out->c_str(), &end, 10);
      if (end == v.out->c_str() || (*end && (strchr("kKmMgGtT", *end) == nullptr || end[1] != '\0')))
        *error = "--max-size '" + *v.out + "' is not a size (e.g. 64G)";
    }
    if (v.out == &o->interval) {
      char *end = nullptr;
      const unsigned long n = strtoul(v.out->c_str(), &end, 10);
      if (v.out->empty() || *end != '\0' || n > 86400000ul)
        *error = "--commit-interval '" + *v.out + "' is not a number of milliseconds";
    }
    return true;
  }
  return false;
}

std::string default_arena(const char *subdir, const char *script, const char *ext, const char *no_script) {
  const std::string dir = data_dir() + "/" + subdir + "/";
  if (!script) return dir + no_script;
  const std::string abs = absolute(script);
  char real[PATH_MAX];
  const std::string key = realpath(abs.c_str(), real) ? std::string(real) : abs;
  std::string base = key.substr(key.rfind('/') + 1);
  const size_t elen = strlen(ext);
  if (base.size() > elen && base.compare(base.size() - elen, elen, ext) == 0) base.resize(base.size() - elen);
  char hash[17];
  snprintf(hash, sizeof hash, "%08llx",
           static_cast<unsigned long long>(XXH3_64bits(key.data(), key.size()) & 0xffffffffu));
  return dir + base + "." + hash + ".arena";
}

bool start_over(const char *program, const std::string &arena, std::string *error) {
  if (access(arena.c_str(), F_OK) != 0) return true;
  const int fd = open(arena.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    close(fd);
    *error = "--fresh: " + arena + " is in use by another process; stop it first";
    return false;
  }
  char stamp[32];
  const time_t now = time(nullptr);
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
  std::string backup = arena + ".bak-" + stamp;
  for (int n = 2; access(backup.c_str(), F_OK) == 0; n++) backup = arena + ".bak-" + stamp + "-" + std::to_string(n);
  for (const char *suffix : {"", ".wal0", ".wal1"}) {
    const std::string from = arena + suffix, to = backup + suffix;
    if (access(from.c_str(), F_OK) == 0 && rename(from.c_str(), to.c_str()) != 0) {
      *error = "--fresh: cannot move " + from + " to " + to + ": " + strerror(errno);
      if (fd >= 0) close(fd);
      return false;
    }
  }
  if (fd >= 0) close(fd);
  fprintf(stderr, "%s: starting over; the previous state is kept in %s\n", program, backup.c_str());
  return true;
}

std::string reexec_persistent(const char *program, const PersistOptions &o, const std::string &arena,
                              const char *hint, const char *stage_variable, char *const *args) {
  const std::string dir = arena.substr(0, arena.rfind('/'));
  if (!dir.empty() && !make_dirs(dir))
    return "cannot create the directory " + dir + " for the arena: " + strerror(errno);
  if (std::string error; o.fresh && !start_over(program, arena, &error)) return error;
  setenv("PALLOC_ARENA", arena.c_str(), 1);
  if (!o.durability.empty()) setenv("PALLOC_DURABILITY", o.durability.c_str(), 1);
  if (!o.max_size.empty()) setenv("PALLOC_MAX_SIZE", o.max_size.c_str(), 1);
  setenv("PALLOC_COMMIT_INTERVAL_MS", o.interval.empty() ? "0" : o.interval.c_str(), 1);
  if (o.verbose) setenv("PALLOC_VERBOSE", "1", 1);
  setenv("PALLOC_HINT", hint, 1);
  setenv(stage_variable, "2", 1);
  if (std::string error; !pin_address_space(&error)) return error;
  // Through the real path, so that the process keeps its name (ps shows the front end).
  char self[PATH_MAX];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len > 0) self[len] = '\0';
  execv(len > 0 ? self : "/proc/self/exe", args);
  return std::string("cannot re-execute itself: ") + strerror(errno);
}

}  // namespace palloc::launch
