// format.h — the on-disk format: byte layouts of the data file's header slots, the
// arena state blob, log file headers and log records. docs/format.md is the prose
// version of this file; keep them in step.
//
// All integers are little-endian. Every structure carries a checksum (XXH3-64).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "palloc.h"
#include "status.h"

namespace palloc {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "palloc's format is little-endian");

constexpr uint32_t kFormatVersion = 1;
constexpr char kDataMagic[8] = {'P', 'A', 'L', 'L', 'O', 'C', 'A', 'R'};
constexpr char kLogMagic[8] = {'P', 'A', 'L', 'L', 'O', 'C', 'W', 'L'};
constexpr uint32_t kRecordMagic = 0x43455250;             // "PREC"
constexpr uint64_t kTrailerMagic = 0x444e45434f4c4c50ull;  // "PLLOCEND"

// Data file layout (byte offsets).
constexpr uint64_t kHeaderSlotBytes = 64 * 1024;  // two slots: [0, 64K) and [64K, 128K)
constexpr uint64_t kRegionZoneOffset = 1 << 20;   // saved contents of extra regions
constexpr uint64_t kRegionZoneBytes = 64 << 20;
constexpr uint64_t kTableOffset = kRegionZoneOffset + kRegionZoneBytes;  // page checksums
constexpr uint64_t kLogHeaderBytes = 4096;
constexpr uint64_t kRecordHeaderBytes = 64;
constexpr uint64_t kRecordEntryBytes = 16;
constexpr uint64_t kRecordTrailerBytes = 24;

constexpr unsigned kMaxRegions = 64;
constexpr unsigned kMaxBinaries = 128;
constexpr unsigned kRegionNameMax = 47;
constexpr unsigned kBinaryPathMax = 255;
constexpr unsigned kBuildIdMax = 64;

// Checksums. Every checksum is XXH3-64 with a seed that binds it to its place.
uint64_t checksum(const void *data, size_t len, uint64_t seed);
// A page's checksum; never 0 (0 in the checksum table means "never written: zeros").
uint64_t page_checksum(const void *page, size_t page_size, uint64_t file_pgno);

struct Root {
  uint64_t value = 0;
  std::string name;  // empty: unnamed
};

struct RegionRecord {
  std::string name;
  uint64_t zone_offset = 0;  // relative to kRegionZoneOffset
  uint64_t length = 0;
};

struct BinaryRecord {
  std::string path;
  std::vector<uint8_t> build_id;
  uint64_t load_address = 0;
};

// The part of an arena's state that every commit records besides pages.
struct ArenaState {
  uint64_t size = 0;              // usable bytes from the base
  uint64_t region_zone_used = 0;  // bytes of the region zone handed out
  std::array<Root, PALLOC_ROOT_SLOTS> roots;
  std::vector<RegionRecord> regions;
  std::vector<BinaryRecord> binaries;

  bool operator==(const ArenaState &) const;
};

std::vector<uint8_t> encode_state(const ArenaState &state);
Status decode_state(const uint8_t *data, size_t len, ArenaState *out);

// Geometry fixed at creation.
struct Layout {
  uint64_t page_size = 0;
  uint64_t base = 0;
  uint64_t max_size = 0;
  uint64_t table_bytes = 0;
  uint64_t data_offset = 0;

  static Layout for_arena(uint64_t page_size, uint64_t base, uint64_t max_size);
  // File page number of an arena address / of a region-zone offset.
  uint64_t arena_pgno(uint64_t addr) const { return (data_offset + (addr - base)) / page_size; }
  uint64_t zone_pgno(uint64_t zone_offset) const { return (kRegionZoneOffset + zone_offset) / page_size; }
  // Offset in the checksum table of a file page's entry (pages before the zone have none).
  uint64_t table_entry_offset(uint64_t file_pgno) const {
    return kTableOffset + (file_pgno - kRegionZoneOffset / page_size) * 8;
  }
  // True if a page number lies in the region zone or the data zone.
  bool pgno_valid(uint64_t pgno) const;
};

// One header slot of the data file.
struct DataHeader {
  uint64_t seq = 0;  // the slot with the higher valid seq is current
  Layout layout;
  std::array<uint8_t, 16> uuid{};
  uint64_t create_unix_ns = 0;
  uint64_t checkpoint_epoch = 0;  // the data file holds exactly this commit
  uint64_t checkpoint_unix_ns = 0;
  ArenaState state;
};

std::vector<uint8_t> encode_header(const DataHeader &header);
// Decodes a slot. NOT_ARENA if the magic is absent, VERSION if the version differs,
// CORRUPT if truncated or the checksum fails.
Status decode_header(const uint8_t *data, size_t len, DataHeader *out);

struct LogHeader {
  uint32_t index = 0;  // 0 or 1: which of the two log files
  std::array<uint8_t, 16> uuid{};
  uint64_t seq = 0;    // generation: bumped each time the log is emptied
  uint64_t page_size = 0;
};

std::vector<uint8_t> encode_log_header(const LogHeader &header);
Status decode_log_header(const uint8_t *data, size_t len, LogHeader *out);

// A commit record's fixed header. The record is
//   header | npages pages | npages entries {pgno, checksum} | state blob | trailer
struct RecordHeader {
  uint64_t epoch = 0;
  uint64_t log_seq = 0;
  uint64_t unix_ns = 0;
  uint32_t npages = 0;
  uint32_t state_len = 0;
  // The newest epoch known to be on disk when this record was written. Recovery uses it
  // to tell a power loss that reordered un-synced writes (nothing after the damage was
  // ever known durable) from damage to a commit that was. kDurableUnknown: assume durable.
  uint64_t durable_epoch = 0;
};

constexpr uint64_t kDurableUnknown = ~0ull;

struct RecordEntry {
  uint64_t pgno = 0;
  uint64_t checksum = 0;
};

uint64_t uuid_seed(const std::array<uint8_t, 16> &uuid);
void encode_record_header(const RecordHeader &h, uint64_t seed, uint8_t out[kRecordHeaderBytes]);
Status decode_record_header(const uint8_t in[kRecordHeaderBytes], uint64_t seed, RecordHeader *out);
uint64_t record_bytes(const RecordHeader &h, uint64_t page_size);

// Trailer: magic, epoch, checksum over header + entries + state + the trailer's first 16 bytes.
void encode_record_trailer(uint64_t epoch, uint64_t record_checksum, uint8_t out[kRecordTrailerBytes]);

// Incremental checksum over the parts of a record (header, entries, state, trailer prefix).
class RecordHasher {
 public:
  explicit RecordHasher(uint64_t seed);
  ~RecordHasher();
  RecordHasher(const RecordHasher &) = delete;
  RecordHasher &operator=(const RecordHasher &) = delete;
  void update(const void *data, size_t len);
  uint64_t digest() const;

 private:
  void *state_;
};

std::string hex(const uint8_t *data, size_t len);
std::string uuid_string(const std::array<uint8_t, 16> &uuid);

}  // namespace palloc
