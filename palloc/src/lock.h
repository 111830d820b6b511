// lock.h — one owner per arena: an exclusive flock on the data file.
#pragma once

#include <string>

#include "status.h"

namespace palloc {

// Takes the lock without waiting; PALLOC_E_LOCKED names the holder's pid and command.
Status lock_exclusive(int fd, const std::string &path);
// The pid holding a flock on the file open as fd (0 if unknown).
long lock_holder(int fd);

}  // namespace palloc
