// datafile.h — the arena's data file: two header slots, the region zone, the page
// checksum table and the data zone. It always holds one complete commit (the
// checkpoint); the logs bring it forward.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "format.h"
#include "io.h"
#include "wal.h"

namespace palloc {

struct DataFile {
  Fd fd;
  std::string path;
  DataHeader header;  // the current (highest valid) slot
  int slot = 0;
  std::string slot_problem;  // why the other slot is unusable, if it is
};

// Reads both header slots and keeps the valid one with the higher sequence number.
Status data_read_header(DataFile *df);
// Writes `header` (with seq = current + 1) into the slot not in use and syncs it. The
// data pages it describes must already be synced.
Status data_write_header(DataFile *df, DataHeader header);
// Creates a new data file at `tmp_path` holding epoch 0 with `header`; both slots written.
Status data_create(const std::string &tmp_path, const DataHeader &header, DataFile *out);

// Reserves disk space for the arena's bytes [from, to) and their checksum-table entries,
// so that no later commit, checkpoint or recovery needs new space for them (creation
// and growth both go through here).
Status data_reserve_arena(int fd, const Layout &l, uint64_t from, uint64_t to, const std::string &path);

// Copies the pages of `records` (in epoch order; later versions win) from their logs into
// the data file, updates the checksum table, and syncs. logs[i] is the log of index i.
Status data_apply_records(DataFile *df, LogFile *logs, const std::vector<RecordInfo> &records,
                          const std::function<void(uint64_t done, uint64_t total)> &progress = {});

// Reads a page's entry in the checksum table (0: never written, the page is zeros).
Status data_table_entry(const DataFile &df, uint64_t pgno, uint64_t *out);

}  // namespace palloc
