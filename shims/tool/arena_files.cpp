// arena_files.cpp — opening the data file and the logs with messages that say what to do.
#include "arena_files.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "lock.h"
#include "tool.h"

namespace palloc::tool {

namespace {

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Status open_data_file(const std::string &path, bool writable, DataFile *df) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return {PALLOC_E_NOT_FOUND, path + " does not exist (give the path of the arena's data file, not of its .wal0/.wal1 logs)"};
    return errno_status(errno, "examining " + path);
  }
  if (S_ISDIR(st.st_mode)) return {PALLOC_E_NOT_ARENA, path + " is a directory; give the path of an arena's data file"};
  if (!S_ISREG(st.st_mode)) return {PALLOC_E_NOT_ARENA, path + " is not a regular file, so it is not a palloc arena"};
  Fd fd(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
  if (!fd.valid()) return errno_status(errno, "opening " + path);
  if (writable) PALLOC_TRY(lock_exclusive(fd.get(), path));
  df->fd = std::move(fd);
  df->path = path;
  Status s = data_read_header(df);
  if (s.code() == PALLOC_E_NOT_ARENA) {
    // The commonest slip: naming a log instead of the data file.
    for (const char *suffix : {".wal0", ".wal1"})
      if (ends_with(path, suffix))
        return {PALLOC_E_NOT_ARENA, s.message() + "; this looks like a log file: give the arena's data file, " +
                                        path.substr(0, path.size() - 5)};
    return {PALLOC_E_NOT_ARENA, s.message() + "; check the path"};
  }
  return s;
}

Status open_log_file(const std::string &arena, unsigned index, bool writable, const DataHeader &header,
                     LogFile *out) {
  const std::string path = log_path(arena, index);
  Status s = log_open(path, writable, out);
  if (s.code() == PALLOC_E_NOT_ARENA || s.code() == PALLOC_E_VERSION || s.code() == PALLOC_E_NOT_FOUND)
    return {PALLOC_E_CORRUPT, s.message()};
  if (!s.ok()) return s;
  if (out->header.index != index)
    return {PALLOC_E_CORRUPT, path + " is log " + std::to_string(out->header.index) + ", not log " +
                                  std::to_string(index) + " (were the log files renamed?)"};
  if (out->header.uuid != header.uuid)
    return {PALLOC_E_CORRUPT, path + " belongs to a different arena (uuid " + uuid_string(out->header.uuid) +
                                  ", arena " + uuid_string(header.uuid) + ")"};
  if (out->header.page_size != header.layout.page_size)
    return {PALLOC_E_CORRUPT, path + " has a different page size than its arena"};
  return ok_status();
}

bool damaged_slot_was_newer(const DataFile &df, uint64_t *epoch) {
  if (df.slot_problem.empty()) return false;
  // Offsets of the fields in a header slot (see format.cpp, encode_header).
  constexpr size_t kSeqAt = 16, kUuidAt = 88, kEpochAt = 112, kFixed = 136;
  uint8_t raw[kFixed];
  if (!pread_full(df.fd.get(), raw, sizeof raw, (1 - df.slot) * kHeaderSlotBytes, df.path).ok()) return false;
  uint64_t seq;
  std::memcpy(&seq, raw + kSeqAt, 8);
  if (std::memcmp(raw, kDataMagic, 8) != 0 || seq != df.header.seq + 1 ||
      std::memcmp(raw + kUuidAt, df.header.uuid.data(), 16) != 0)
    return false;
  std::memcpy(epoch, raw + kEpochAt, 8);
  return true;
}

LogFile placeholder_log(const std::string &arena, unsigned index, const DataHeader &header) {
  LogFile log;
  log.path = log_path(arena, index);
  log.header.index = index;
  log.header.uuid = header.uuid;
  log.header.page_size = header.layout.page_size;
  return log;
}

int exit_code_for(const Status &s) { return s.code() == PALLOC_E_CORRUPT ? kExitCorrupt : kExitCannot; }

}  // namespace palloc::tool
