// lock.cpp — flock ownership, and finding the holder through /proc/locks.
#include "lock.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace palloc {

long lock_holder(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
    std::istringstream in(line);
    std::string id, kind, mode, rw, dev;
    long pid = 0;
    if (!(in >> id >> kind)) continue;
    if (kind == "->") in >> kind;  // a blocked waiter's line
    if (!(in >> mode >> rw >> pid >> dev) || kind != "FLOCK") continue;
    unsigned maj = 0, min = 0;
    unsigned long ino = 0;
    if (sscanf(dev.c_str(), "%x:%x:%lu", &maj, &min, &ino) != 3) continue;
    if (ino == st.st_ino && maj == major(st.st_dev) && min == minor(st.st_dev)) return pid;
  }
  return 0;
}

Status lock_exclusive(int fd, const std::string &path) {
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return errno_status(errno, "locking " + path);
    long pid = lock_holder(fd);
    std::string who = "another process";
    if (pid == getpid())
      return {PALLOC_E_LOCKED, path + " is already open in this process; close it before opening it again"};
    if (pid > 0) {
      who = "process " + std::to_string(pid);
      std::ifstream cmd("/proc/" + std::to_string(pid) + "/comm");
      std::string name;
      if (std::getline(cmd, name) && !name.empty()) who += " (" + name + ")";
    }
    return {PALLOC_E_LOCKED, path + " is in use by " + who +
                                 "; an arena has one owner at a time. Stop that process or use another arena."};
  }
  return ok_status();
}

}  // namespace palloc
