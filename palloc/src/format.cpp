// format.cpp — encoding and decoding of every on-disk structure (see docs/format.md).
#include "format.h"

#include <xxhash.h>

#include <cstring>

namespace palloc {

uint64_t checksum(const void *data, size_t len, uint64_t seed) {
  return XXH3_64bits_withSeed(data, len, seed);
}

uint64_t page_checksum(const void *page, size_t page_size, uint64_t file_pgno) {
  uint64_t h = XXH3_64bits_withSeed(page, page_size, file_pgno);
  return h == 0 ? 1 : h;
}

bool ArenaState::operator==(const ArenaState &o) const {
  if (size != o.size || region_zone_used != o.region_zone_used) return false;
  for (size_t i = 0; i < roots.size(); i++)
    if (roots[i].value != o.roots[i].value || roots[i].name != o.roots[i].name) return false;
  if (regions.size() != o.regions.size() || binaries.size() != o.binaries.size()) return false;
  for (size_t i = 0; i < regions.size(); i++)
    if (regions[i].name != o.regions[i].name || regions[i].zone_offset != o.regions[i].zone_offset ||
        regions[i].length != o.regions[i].length)
      return false;
  for (size_t i = 0; i < binaries.size(); i++)
    if (binaries[i].path != o.binaries[i].path || binaries[i].build_id != o.binaries[i].build_id ||
        binaries[i].load_address != o.binaries[i].load_address)
      return false;
  return true;
}

namespace {

// Little-endian append-only writer and bounds-checked reader.
class Writer {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { bytes(&v, 2); }
  void u32(uint32_t v) { bytes(&v, 4); }
  void u64(uint64_t v) { bytes(&v, 8); }
  void bytes(const void *p, size_t n) {
    auto *b = static_cast<const uint8_t *>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  void fixed_string(const std::string &s, size_t width) {  // NUL-padded
    std::vector<uint8_t> field(width, 0);
    std::memcpy(field.data(), s.data(), std::min(s.size(), width - 1));
    bytes(field.data(), width);
  }
  std::vector<uint8_t> &buffer() { return buf_; }

 private:
  std::vector<uint8_t> buf_;
};

class Reader {
 public:
  Reader(const uint8_t *p, size_t n) : p_(p), n_(n) {}
  bool u8(uint8_t *v) { return bytes(v, 1); }
  bool u16(uint16_t *v) { return bytes(v, 2); }
  bool u32(uint32_t *v) { return bytes(v, 4); }
  bool u64(uint64_t *v) { return bytes(v, 8); }
  bool bytes(void *out, size_t n) {
    if (n > n_ - off_) return false;
    if (n) std::memcpy(out, p_ + off_, n);  // an empty vector's data() may be null
    off_ += n;
    return true;
  }
  bool fixed_string(std::string *s, size_t width) {
    if (width > n_ - off_) return false;
    const char *b = reinterpret_cast<const char *>(p_ + off_);
    *s = std::string(b, strnlen(b, width));
    off_ += width;
    return true;
  }
  size_t offset() const { return off_; }

 private:
  const uint8_t *p_;
  size_t n_;
  size_t off_ = 0;
};

constexpr size_t kRootNameField = PALLOC_ROOT_NAME_MAX + 1;
constexpr size_t kRegionNameField = kRegionNameMax + 1;

Status corrupt(const std::string &what) { return {PALLOC_E_CORRUPT, what}; }

}  // namespace

bool Layout::pgno_valid(uint64_t pgno) const {
  const uint64_t zone_first = kRegionZoneOffset / page_size;
  const uint64_t zone_end = (kRegionZoneOffset + kRegionZoneBytes) / page_size;
  const uint64_t data_first = data_offset / page_size;
  const uint64_t data_end = (data_offset + max_size) / page_size;
  return (pgno >= zone_first && pgno < zone_end) || (pgno >= data_first && pgno < data_end);
}

Layout Layout::for_arena(uint64_t page_size, uint64_t base, uint64_t max_size) {
  constexpr uint64_t kMiB = 1 << 20;
  Layout l;
  l.page_size = page_size;
  l.base = base;
  l.max_size = max_size;
  // Entries are indexed from the region zone's first page up to the data zone's last,
  // so the table's own pages take entries too: grow the table until it covers them
  // (otherwise the top pages of a large arena get entries inside the data zone).
  auto entries_bytes = [&](uint64_t table_bytes) {
    const uint64_t pages = (kRegionZoneBytes + table_bytes + max_size) / page_size;
    return (pages * 8 + kMiB - 1) / kMiB * kMiB;
  };
  l.table_bytes = entries_bytes(0);
  while (entries_bytes(l.table_bytes) > l.table_bytes) l.table_bytes = entries_bytes(l.table_bytes);
  l.data_offset = kTableOffset + l.table_bytes;
  return l;
}

std::vector<uint8_t> encode_state(const ArenaState &s) {
  Writer w;
  w.u64(s.size);
  w.u64(s.region_zone_used);
  uint32_t nroots = 0;
  for (const Root &r : s.roots) nroots += (r.value != 0 || !r.name.empty());
  w.u32(nroots);
  for (uint32_t i = 0; i < s.roots.size(); i++) {
    const Root &r = s.roots[i];
    if (r.value == 0 && r.name.empty()) continue;
    w.u32(i);
    w.u64(r.value);
    w.fixed_string(r.name, kRootNameField);
  }
  w.u32(static_cast<uint32_t>(s.regions.size()));
  for (const RegionRecord &r : s.regions) {
    w.fixed_string(r.name, kRegionNameField);
    w.u64(r.zone_offset);
    w.u64(r.length);
  }
  w.u32(static_cast<uint32_t>(s.binaries.size()));
  for (const BinaryRecord &b : s.binaries) {
    w.u16(static_cast<uint16_t>(b.path.size()));
    w.bytes(b.path.data(), b.path.size());
    w.u8(static_cast<uint8_t>(b.build_id.size()));
    w.bytes(b.build_id.data(), b.build_id.size());
    w.u64(b.load_address);
  }
  return std::move(w.buffer());
}

Status decode_state(const uint8_t *data, size_t len, ArenaState *out) {
  Reader r(data, len);
  ArenaState s;
  uint32_t n = 0;
  if (!r.u64(&s.size) || !r.u64(&s.region_zone_used) || !r.u32(&n) || n > PALLOC_ROOT_SLOTS)
    return corrupt("arena state: bad root table");
  for (uint32_t i = 0; i < n; i++) {
    uint32_t slot;
    Root root;
    if (!r.u32(&slot) || slot >= PALLOC_ROOT_SLOTS || !r.u64(&root.value) ||
        !r.fixed_string(&root.name, kRootNameField))
      return corrupt("arena state: bad root entry");
    s.roots[slot] = root;
  }
  if (!r.u32(&n) || n > kMaxRegions) return corrupt("arena state: bad region count");
  for (uint32_t i = 0; i < n; i++) {
    RegionRecord reg;
    if (!r.fixed_string(&reg.name, kRegionNameField) || !r.u64(&reg.zone_offset) || !r.u64(&reg.length) ||
        reg.zone_offset + reg.length > kRegionZoneBytes)
      return corrupt("arena state: bad region entry");
    s.regions.push_back(reg);
  }
  if (!r.u32(&n) || n > kMaxBinaries) return corrupt("arena state: bad binary count");
  for (uint32_t i = 0; i < n; i++) {
    BinaryRecord b;
    uint16_t plen;
    uint8_t blen;
    if (!r.u16(&plen) || plen > kBinaryPathMax) return corrupt("arena state: bad binary path");
    b.path.resize(plen);
    if (!r.bytes(b.path.data(), plen) || !r.u8(&blen) || blen > kBuildIdMax)
      return corrupt("arena state: bad binary entry");
    b.build_id.resize(blen);
    if (!r.bytes(b.build_id.data(), blen) || !r.u64(&b.load_address))
      return corrupt("arena state: bad binary entry");
    s.binaries.push_back(std::move(b));
  }
  if (r.offset() != len) return corrupt("arena state: trailing bytes");
  *out = std::move(s);
  return ok_status();
}

// Header slot: fixed fields (136 bytes), state blob, then the checksum of all before it.
constexpr size_t kHeaderFixedBytes = 136;

std::vector<uint8_t> encode_header(const DataHeader &h) {
  std::vector<uint8_t> state = encode_state(h.state);
  Writer w;
  w.bytes(kDataMagic, 8);
  w.u32(kFormatVersion);
  w.u32(static_cast<uint32_t>(kHeaderFixedBytes + state.size()));
  w.u64(h.seq);
  w.u64(h.layout.page_size);
  w.u64(h.layout.base);
  w.u64(h.layout.max_size);
  w.u64(kRegionZoneOffset);
  w.u64(kRegionZoneBytes);
  w.u64(kTableOffset);
  w.u64(h.layout.table_bytes);
  w.u64(h.layout.data_offset);
  w.bytes(h.uuid.data(), 16);
  w.u64(h.create_unix_ns);
  w.u64(h.checkpoint_epoch);
  w.u64(h.checkpoint_unix_ns);
  w.u32(static_cast<uint32_t>(state.size()));
  w.u32(0);
  w.bytes(state.data(), state.size());
  std::vector<uint8_t> &buf = w.buffer();
  uint64_t sum = checksum(buf.data(), buf.size(), 0);
  w.u64(sum);
  return std::move(buf);
}

Status decode_header(const uint8_t *data, size_t len, DataHeader *out) {
  if (len < 8 || std::memcmp(data, kDataMagic, 8) != 0)
    return {PALLOC_E_NOT_ARENA, "not a palloc arena (no arena magic at the start of the file)"};
  Reader r(data, len);
  char magic[8];
  uint32_t version = 0, checked = 0, state_len = 0, reserved = 0;
  uint64_t zone_off, zone_bytes, table_off;
  DataHeader h;
  if (!r.bytes(magic, 8) || !r.u32(&version)) return corrupt("arena header is truncated");
  if (version != kFormatVersion)
    return {PALLOC_E_VERSION, "arena format version " + std::to_string(version) +
                                  " is not supported (this build reads version " +
                                  std::to_string(kFormatVersion) + ")"};
  if (!r.u32(&checked) || checked < kHeaderFixedBytes || checked + 8 > len)
    return corrupt("arena header is truncated or its length field is damaged");
  uint64_t stored_sum;
  std::memcpy(&stored_sum, data + checked, 8);  // the state blob leaves it unaligned
  if (checksum(data, checked, 0) != stored_sum)
    return corrupt("arena header checksum mismatch");
  if (!r.u64(&h.seq) || !r.u64(&h.layout.page_size) || !r.u64(&h.layout.base) ||
      !r.u64(&h.layout.max_size) || !r.u64(&zone_off) || !r.u64(&zone_bytes) || !r.u64(&table_off) ||
      !r.u64(&h.layout.table_bytes) || !r.u64(&h.layout.data_offset) || !r.bytes(h.uuid.data(), 16) ||
      !r.u64(&h.create_unix_ns) || !r.u64(&h.checkpoint_epoch) || !r.u64(&h.checkpoint_unix_ns) ||
      !r.u32(&state_len) || !r.u32(&reserved))
    return corrupt("arena header is truncated");
  if (zone_off != kRegionZoneOffset || zone_bytes != kRegionZoneBytes || table_off != kTableOffset ||
      kHeaderFixedBytes + state_len != checked)
    return corrupt("arena header has an unexpected layout");
  Layout expect = Layout::for_arena(h.layout.page_size, h.layout.base, h.layout.max_size);
  if (h.layout.page_size == 0 || (h.layout.page_size & (h.layout.page_size - 1)) != 0 ||
      expect.data_offset != h.layout.data_offset || expect.table_bytes != h.layout.table_bytes)
    return corrupt("arena header has inconsistent geometry");
  PALLOC_TRY(decode_state(data + kHeaderFixedBytes, state_len, &h.state));
  *out = std::move(h);
  return ok_status();
}

// Log header: magic, version, index, uuid, seq, page size, checksum (56 bytes used).
std::vector<uint8_t> encode_log_header(const LogHeader &h) {
  Writer w;
  w.bytes(kLogMagic, 8);
  w.u32(kFormatVersion);
  w.u32(h.index);
  w.bytes(h.uuid.data(), 16);
  w.u64(h.seq);
  w.u64(h.page_size);
  uint64_t sum = checksum(w.buffer().data(), w.buffer().size(), 0);
  w.u64(sum);
  w.buffer().resize(kLogHeaderBytes, 0);
  return std::move(w.buffer());
}

Status decode_log_header(const uint8_t *data, size_t len, LogHeader *out) {
  constexpr size_t kUsed = 48;
  if (len < 8 || std::memcmp(data, kLogMagic, 8) != 0)
    return {PALLOC_E_NOT_ARENA, "not a palloc log file (no log magic)"};
  if (len < kUsed + 8) return corrupt("log header is truncated");
  Reader r(data, len);
  char magic[8];
  uint32_t version;
  LogHeader h;
  (void)r.bytes(magic, 8);
  (void)r.u32(&version);
  if (version != kFormatVersion)
    return {PALLOC_E_VERSION, "log format version " + std::to_string(version) + " is not supported"};
  (void)r.u32(&h.index);
  (void)r.bytes(h.uuid.data(), 16);
  (void)r.u64(&h.seq);
  (void)r.u64(&h.page_size);
  uint64_t sum;
  (void)r.u64(&sum);
  if (sum != checksum(data, kUsed, 0)) return corrupt("log header checksum mismatch");
  *out = h;
  return ok_status();
}

uint64_t uuid_seed(const std::array<uint8_t, 16> &uuid) { return checksum(uuid.data(), 16, 0x70616c6c6f63ull); }

void encode_record_header(const RecordHeader &h, uint64_t seed, uint8_t out[kRecordHeaderBytes]) {
  std::memset(out, 0, kRecordHeaderBytes);
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(out + off, &v, 4); };
  auto put64 = [&](size_t off, uint64_t v) { std::memcpy(out + off, &v, 8); };
  put32(0, kRecordMagic);
  put32(4, kFormatVersion);
  put64(8, h.epoch);
  put64(16, h.log_seq);
  put64(24, h.unix_ns);
  put32(32, h.npages);
  put32(36, h.state_len);
  put64(40, h.durable_epoch);
  put64(56, checksum(out, 56, seed));
}

Status decode_record_header(const uint8_t in[kRecordHeaderBytes], uint64_t seed, RecordHeader *out) {
  uint32_t magic, version;
  uint64_t sum;
  std::memcpy(&magic, in, 4);
  std::memcpy(&version, in + 4, 4);
  std::memcpy(&sum, in + 56, 8);
  if (magic != kRecordMagic) return corrupt("no record magic");
  if (sum != checksum(in, 56, seed)) return corrupt("record header checksum mismatch");
  if (version != kFormatVersion) return {PALLOC_E_VERSION, "record format version " + std::to_string(version)};
  RecordHeader h;
  std::memcpy(&h.epoch, in + 8, 8);
  std::memcpy(&h.log_seq, in + 16, 8);
  std::memcpy(&h.unix_ns, in + 24, 8);
  std::memcpy(&h.npages, in + 32, 4);
  std::memcpy(&h.state_len, in + 36, 4);
  std::memcpy(&h.durable_epoch, in + 40, 8);
  *out = h;
  return ok_status();
}

uint64_t record_bytes(const RecordHeader &h, uint64_t page_size) {
  return kRecordHeaderBytes + uint64_t{h.npages} * (page_size + kRecordEntryBytes) + h.state_len +
         kRecordTrailerBytes;
}

void encode_record_trailer(uint64_t epoch, uint64_t record_checksum, uint8_t out[kRecordTrailerBytes]) {
  std::memcpy(out, &kTrailerMagic, 8);
  std::memcpy(out + 8, &epoch, 8);
  std::memcpy(out + 16, &record_checksum, 8);
}

RecordHasher::RecordHasher(uint64_t seed) : state_(XXH3_createState()) {
  XXH3_64bits_reset_withSeed(static_cast<XXH3_state_t *>(state_), seed);
}
RecordHasher::~RecordHasher() { XXH3_freeState(static_cast<XXH3_state_t *>(state_)); }
void RecordHasher::update(const void *data, size_t len) {
  XXH3_64bits_update(static_cast<XXH3_state_t *>(state_), data, len);
}
uint64_t RecordHasher::digest() const { return XXH3_64bits_digest(static_cast<XXH3_state_t *>(state_)); }

std::string hex(const uint8_t *data, size_t len) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < len; i++) {
    s += digits[data[i] >> 4];
    s += digits[data[i] & 15];
  }
  return s;
}

std::string uuid_string(const std::array<uint8_t, 16> &u) {
  std::string h = hex(u.data(), 16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

}  // namespace palloc
