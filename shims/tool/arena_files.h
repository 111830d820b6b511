// arena_files.h — opening an arena's three files for inspection or repair, without the
// library's Arena (which would map it, take the lock and replay the logs).
#pragma once

#include <string>

#include "datafile.h"
#include "wal.h"

namespace palloc::tool {

// Opens the data file and reads its current header slot. With `writable` the file is
// opened for writing and locked first (LOCKED names the process that has it open), so
// no owner can be part-way through a checkpoint while the header is read.
// NOT_FOUND / NOT_ARENA / VERSION / IO / PERMISSION mean the file could not be examined;
// CORRUPT means it is an arena whose headers are both unusable (or that is truncated).
Status open_data_file(const std::string &path, bool writable, DataFile *df);

// Opens log `index` of the arena and checks that it belongs to it (index, uuid, page
// size). A missing or foreign log, or one with a damaged header, is CORRUPT.
Status open_log_file(const std::string &arena, unsigned index, bool writable, const DataHeader &header,
                     LogFile *out);

// When one header slot is damaged, whether it was the newer copy: a damaged slot that
// still carries this arena's uuid and the sequence number one above the intact slot's
// was written after it. Then *epoch is the checkpoint epoch it recorded (read without
// trusting its checksum). If recovery cannot reach that epoch, commits were lost.
bool damaged_slot_was_newer(const DataFile &df, uint64_t *epoch);

// An empty stand-in for a log that cannot be opened, so that a plan can still be made
// from the other log (it is what recovery gets if that log is recreated).
LogFile placeholder_log(const std::string &arena, unsigned index, const DataHeader &header);

// The exit status for a failure to open or read: 2 for damage, 3 for everything else.
int exit_code_for(const Status &s);

}  // namespace palloc::tool
