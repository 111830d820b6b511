// fault_image.h — looking at an arena's files without opening the arena: which commit
// recovery would produce and with what content (computed read-only, so it can be asked
// while another process owns the arena, or without touching damaged files), and where
// each log record lies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format.h"
#include "status.h"

namespace crash {

struct CommittedImage {
  uint64_t epoch = 0;
  palloc::ArenaState state;
  std::vector<uint8_t> content;  // [base, base + state.size)
};

// What palloc_open would recover, without writing anything: the data file's checkpoint
// with the valid records of both logs laid over it.
palloc::Status read_committed_image(const std::string &path, CommittedImage *out);

struct RecordSpan {
  unsigned log = 0;     // 0 or 1: which log file
  uint64_t offset = 0;  // of the record's header in the log
  uint64_t bytes = 0;   // the whole record
  uint64_t epoch = 0;
  uint64_t npages = 0;
  uint64_t state_len = 0;
  // Offsets inside the record of its parts.
  uint64_t pages_at() const { return palloc::kRecordHeaderBytes; }
  uint64_t entries_at(uint64_t page_size) const { return pages_at() + npages * page_size; }
  uint64_t state_at(uint64_t page_size) const { return entries_at(page_size) + npages * palloc::kRecordEntryBytes; }
  uint64_t trailer_at() const { return bytes - palloc::kRecordTrailerBytes; }
};

// The valid records of both logs, in epoch order.
palloc::Status list_records(const std::string &path, std::vector<RecordSpan> *out);

// The current header slot (0 or 1) and the layout, read from the data file.
palloc::Status read_data_header(const std::string &path, palloc::DataHeader *header, int *slot);

// Page `i` of the arena as stored in the data file, and its entry in the checksum table.
palloc::Status read_data_page(const std::string &path, uint64_t i, std::vector<uint8_t> *page, uint64_t *table_entry,
                              uint64_t *file_offset);

}  // namespace crash
