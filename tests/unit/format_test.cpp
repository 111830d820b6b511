// format_test.cpp — the on-disk structures: every encoder round-trips through its
// decoder, every class of damage is detected with the right status, and the data file's
// layout arithmetic is consistent.
#include <cstring>

#include <gtest/gtest.h>

#include "format.h"

namespace palloc {
namespace {

// A state that exercises every field: numbered and named roots (including the last
// slot), regions and binaries with build-ids.
ArenaState full_state() {
  ArenaState s;
  s.size = 48ull << 20;
  s.region_zone_used = 3 * 4096;
  s.roots[0].value = 0x1100000012340ull;
  s.roots[5].value = 7;
  s.roots[5].name = "config";
  s.roots[PALLOC_ROOT_SLOTS - 1].name = std::string(PALLOC_ROOT_NAME_MAX, 'z');  // name, value 0
  s.regions.push_back({"libfoo.data", 0, 2 * 4096});
  s.regions.push_back({std::string(kRegionNameMax, 'r'), 2 * 4096, 4096});
  s.binaries.push_back({"/usr/lib/x86_64-linux-gnu/libfoo.so.1", {0xde, 0xad, 0xbe, 0xef}, 0x7f0000001000ull});
  s.binaries.push_back({"/usr/bin/prog", std::vector<uint8_t>(20, 0x5a), 0x555555554000ull});
  return s;
}

DataHeader sample_header() {
  DataHeader h;
  h.seq = 42;
  h.layout = Layout::for_arena(4096, 0x110000000000ull, 64ull << 20);
  for (size_t i = 0; i < h.uuid.size(); i++) h.uuid[i] = static_cast<uint8_t>(i * 17 + 3);
  h.create_unix_ns = 1700000000123456789ull;
  h.checkpoint_epoch = 99;
  h.checkpoint_unix_ns = 1700000000987654321ull;
  h.state = full_state();
  return h;
}

void expect_same(const DataHeader &a, const DataHeader &b) {
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.layout.page_size, b.layout.page_size);
  EXPECT_EQ(a.layout.base, b.layout.base);
  EXPECT_EQ(a.layout.max_size, b.layout.max_size);
  EXPECT_EQ(a.layout.table_bytes, b.layout.table_bytes);
  EXPECT_EQ(a.layout.data_offset, b.layout.data_offset);
  EXPECT_EQ(a.uuid, b.uuid);
  EXPECT_EQ(a.create_unix_ns, b.create_unix_ns);
  EXPECT_EQ(a.checkpoint_epoch, b.checkpoint_epoch);
  EXPECT_EQ(a.checkpoint_unix_ns, b.checkpoint_unix_ns);
  EXPECT_TRUE(a.state == b.state);
}

uint32_t get32(const std::vector<uint8_t> &b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}

// Rewrites the header's trailing checksum after a deliberate edit, the way a writer of
// that (edited) header would have.
void reseal_header(std::vector<uint8_t> &b) {
  const uint32_t checked = get32(b, 12);
  const uint64_t sum = checksum(b.data(), checked, 0);
  std::memcpy(b.data() + checked, &sum, 8);
}

TEST(FormatState, RoundTripsEveryField) {
  const ArenaState s = full_state();
  std::vector<uint8_t> blob = encode_state(s);
  ArenaState back;
  ASSERT_TRUE(decode_state(blob.data(), blob.size(), &back).ok());
  EXPECT_TRUE(back == s);
  EXPECT_EQ(back.roots[5].name, "config");
  EXPECT_EQ(back.roots[PALLOC_ROOT_SLOTS - 1].name.size(), PALLOC_ROOT_NAME_MAX);
  ASSERT_EQ(back.binaries.size(), 2u);
  EXPECT_EQ(back.binaries[1].build_id.size(), 20u);
}

TEST(FormatState, EmptyStateRoundTrips) {
  ArenaState s;
  std::vector<uint8_t> blob = encode_state(s);
  ArenaState back;
  back.size = 1;  // must be overwritten
  ASSERT_TRUE(decode_state(blob.data(), blob.size(), &back).ok());
  EXPECT_TRUE(back == s);
}

TEST(FormatState, EqualityNoticesEachField) {
  const ArenaState base = full_state();
  std::vector<std::function<void(ArenaState &)>> edits = {
      [](ArenaState &s) { s.size += 4096; },
      [](ArenaState &s) { s.region_zone_used += 4096; },
      [](ArenaState &s) { s.roots[3].value = 1; },
      [](ArenaState &s) { s.roots[5].name = "other"; },
      [](ArenaState &s) { s.regions[0].length += 4096; },
      [](ArenaState &s) { s.regions.pop_back(); },
      [](ArenaState &s) { s.binaries[0].build_id[0] ^= 1; },
      [](ArenaState &s) { s.binaries[1].load_address += 4096; },
      [](ArenaState &s) { s.binaries[1].path += "x"; },
  };
  for (size_t i = 0; i < edits.size(); i++) {
    ArenaState s = base;
    edits[i](s);
    EXPECT_FALSE(s == base) << "edit " << i;
  }
}

TEST(FormatState, EveryTruncationIsCorrupt) {
  std::vector<uint8_t> blob = encode_state(full_state());
  for (size_t len = 0; len < blob.size(); len++) {
    ArenaState out;
    Status s = decode_state(blob.data(), len, &out);
    EXPECT_EQ(s.code(), PALLOC_E_CORRUPT) << "length " << len;
  }
}

TEST(FormatState, TrailingBytesAreCorrupt) {
  std::vector<uint8_t> blob = encode_state(full_state());
  blob.push_back(0);
  ArenaState out;
  EXPECT_EQ(decode_state(blob.data(), blob.size(), &out).code(), PALLOC_E_CORRUPT);
}

TEST(FormatState, OutOfRangeCountsAreCorrupt) {
  // Root count beyond the slot table (offset 16: after size and region_zone_used).
  std::vector<uint8_t> blob = encode_state(ArenaState{});
  uint32_t big = PALLOC_ROOT_SLOTS + 1;
  std::memcpy(blob.data() + 16, &big, 4);
  ArenaState out;
  EXPECT_EQ(decode_state(blob.data(), blob.size(), &out).code(), PALLOC_E_CORRUPT);

  // A root naming a slot outside the table.
  ArenaState one;
  one.roots[0].value = 5;
  blob = encode_state(one);
  uint32_t slot = PALLOC_ROOT_SLOTS;
  std::memcpy(blob.data() + 20, &slot, 4);
  EXPECT_EQ(decode_state(blob.data(), blob.size(), &out).code(), PALLOC_E_CORRUPT);

  // A region reaching past the region zone.
  ArenaState reg;
  reg.regions.push_back({"r", kRegionZoneBytes - 4096, 8192});
  blob = encode_state(reg);
  EXPECT_EQ(decode_state(blob.data(), blob.size(), &out).code(), PALLOC_E_CORRUPT);
}

TEST(FormatHeader, RoundTrips) {
  const DataHeader h = sample_header();
  std::vector<uint8_t> b = encode_header(h);
  DataHeader back;
  ASSERT_TRUE(decode_header(b.data(), b.size(), &back).ok());
  expect_same(h, back);
  // Decoding a whole slot (the encoded bytes followed by unused space) works too.
  b.resize(kHeaderSlotBytes, 0xee);
  DataHeader back2;
  ASSERT_TRUE(decode_header(b.data(), b.size(), &back2).ok());
  expect_same(h, back2);
}

TEST(FormatHeader, RoundTripsAtEveryChecksumAlignment) {
  // The state blob has any length, so the trailing checksum may sit at any offset
  // (the sanitizer build catches a misaligned read of it).
  for (size_t extra = 1; extra <= 8; extra++) {
    DataHeader h = sample_header();
    h.state.binaries.push_back({std::string(extra, 'p'), {}, 0});
    std::vector<uint8_t> b = encode_header(h);
    DataHeader back;
    Status s = decode_header(b.data(), b.size(), &back);
    ASSERT_TRUE(s.ok()) << "extra " << extra << ": " << s.message();
    expect_same(h, back);
  }
}

TEST(FormatHeader, BadMagicIsNotAnArena) {
  std::vector<uint8_t> b = encode_header(sample_header());
  for (size_t i = 0; i < 8; i++) {
    std::vector<uint8_t> c = b;
    c[i] ^= 0x20;
    DataHeader out;
    EXPECT_EQ(decode_header(c.data(), c.size(), &out).code(), PALLOC_E_NOT_ARENA) << "byte " << i;
  }
  DataHeader out;
  EXPECT_EQ(decode_header(b.data(), 7, &out).code(), PALLOC_E_NOT_ARENA);
  const char text[] = "#!/bin/sh\necho this is a shell script\n";
  EXPECT_EQ(decode_header(reinterpret_cast<const uint8_t *>(text), sizeof text, &out).code(), PALLOC_E_NOT_ARENA);
}

TEST(FormatHeader, OtherVersionIsReportedAsVersionEvenWhenResealed) {
  std::vector<uint8_t> b = encode_header(sample_header());
  ASSERT_EQ(get32(b, 8), kFormatVersion);
  for (uint32_t v : {kFormatVersion + 1, kFormatVersion + 100, 0u}) {
    std::vector<uint8_t> c = b;
    std::memcpy(c.data() + 8, &v, 4);
    reseal_header(c);
    DataHeader out;
    Status s = decode_header(c.data(), c.size(), &out);
    EXPECT_EQ(s.code(), PALLOC_E_VERSION) << "version " << v;
    EXPECT_NE(s.message().find(std::to_string(v)), std::string::npos) << s.message();
  }
}

TEST(FormatHeader, EveryTruncationIsDetected) {
  std::vector<uint8_t> b = encode_header(sample_header());
  for (size_t len = 0; len < b.size(); len++) {
    DataHeader out;
    const palloc_status code = decode_header(b.data(), len, &out).code();
    // Too short to hold the magic: indistinguishable from a non-arena file.
    const palloc_status expect = len < 8 ? PALLOC_E_NOT_ARENA : PALLOC_E_CORRUPT;
    EXPECT_EQ(code, expect) << "length " << len;
  }
}

TEST(FormatHeader, EveryBitFlipIsDetected) {
  std::vector<uint8_t> b = encode_header(sample_header());
  for (size_t i = 0; i < b.size(); i++) {
    for (int bit = 0; bit < 8; bit++) {
      std::vector<uint8_t> c = b;
      c[i] ^= static_cast<uint8_t>(1u << bit);
      DataHeader out;
      const palloc_status code = decode_header(c.data(), c.size(), &out).code();
      palloc_status expect = PALLOC_E_CORRUPT;
      if (i < 8) expect = PALLOC_E_NOT_ARENA;         // the magic
      else if (i < 12) expect = PALLOC_E_VERSION;     // the version field
      ASSERT_EQ(code, expect) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(FormatHeader, ResealedInconsistentGeometryIsCorrupt) {
  // Damage that a checksum cannot catch (the writer itself was wrong) is still refused.
  DataHeader h = sample_header();
  h.layout.data_offset += 4096;
  std::vector<uint8_t> b = encode_header(h);
  DataHeader out;
  EXPECT_EQ(decode_header(b.data(), b.size(), &out).code(), PALLOC_E_CORRUPT);

  h = sample_header();
  h.layout.page_size = 3000;  // not a power of two
  h.layout.table_bytes = Layout::for_arena(3000, h.layout.base, h.layout.max_size).table_bytes;
  h.layout.data_offset = Layout::for_arena(3000, h.layout.base, h.layout.max_size).data_offset;
  b = encode_header(h);
  EXPECT_EQ(decode_header(b.data(), b.size(), &out).code(), PALLOC_E_CORRUPT);
}

TEST(FormatLogHeader, RoundTripsAndFillsOnePage) {
  LogHeader h;
  h.index = 1;
  for (size_t i = 0; i < h.uuid.size(); i++) h.uuid[i] = static_cast<uint8_t>(255 - i);
  h.seq = 12345;
  h.page_size = 4096;
  std::vector<uint8_t> b = encode_log_header(h);
  EXPECT_EQ(b.size(), kLogHeaderBytes);
  LogHeader back;
  ASSERT_TRUE(decode_log_header(b.data(), b.size(), &back).ok());
  EXPECT_EQ(back.index, h.index);
  EXPECT_EQ(back.uuid, h.uuid);
  EXPECT_EQ(back.seq, h.seq);
  EXPECT_EQ(back.page_size, h.page_size);
}

TEST(FormatLogHeader, DamageIsClassified) {
  LogHeader h;
  h.seq = 3;
  h.page_size = 4096;
  const std::vector<uint8_t> b = encode_log_header(h);
  const size_t used = 56;  // magic, version, index, uuid, seq, page size, checksum
  for (size_t i = 0; i < used; i++) {
    std::vector<uint8_t> c = b;
    c[i] ^= 0x01;
    LogHeader out;
    palloc_status expect = i < 8 ? PALLOC_E_NOT_ARENA : i < 12 ? PALLOC_E_VERSION : PALLOC_E_CORRUPT;
    EXPECT_EQ(decode_log_header(c.data(), c.size(), &out).code(), expect) << "byte " << i;
  }
  for (size_t len = 8; len < used; len++) {
    LogHeader out;
    EXPECT_EQ(decode_log_header(b.data(), len, &out).code(), PALLOC_E_CORRUPT) << "length " << len;
  }
  // Bytes after the used part are padding: damage there does not matter.
  std::vector<uint8_t> c = b;
  c[kLogHeaderBytes - 1] ^= 0xff;
  LogHeader out;
  EXPECT_TRUE(decode_log_header(c.data(), c.size(), &out).ok());
}

TEST(FormatRecord, HeaderRoundTripsAndIsBoundToItsSeed) {
  RecordHeader h;
  h.epoch = 77;
  h.log_seq = 4;
  h.unix_ns = 1700000000000000001ull;
  h.npages = 1000;
  h.state_len = 333;
  uint8_t b[kRecordHeaderBytes];
  encode_record_header(h, 0xabc, b);
  RecordHeader back;
  ASSERT_TRUE(decode_record_header(b, 0xabc, &back).ok());
  EXPECT_EQ(back.epoch, h.epoch);
  EXPECT_EQ(back.log_seq, h.log_seq);
  EXPECT_EQ(back.unix_ns, h.unix_ns);
  EXPECT_EQ(back.npages, h.npages);
  EXPECT_EQ(back.state_len, h.state_len);
  // A record written for another arena (other uuid, so other seed) does not decode.
  EXPECT_EQ(decode_record_header(b, 0xabd, &back).code(), PALLOC_E_CORRUPT);
}

TEST(FormatRecord, EveryHeaderBitFlipIsCorrupt) {
  RecordHeader h;
  h.epoch = 5;
  h.log_seq = 1;
  h.npages = 3;
  h.state_len = 40;
  uint8_t b[kRecordHeaderBytes];
  encode_record_header(h, 9, b);
  for (size_t i = 0; i < kRecordHeaderBytes; i++)
    for (int bit = 0; bit < 8; bit++) {
      uint8_t c[kRecordHeaderBytes];
      std::memcpy(c, b, sizeof c);
      c[i] ^= static_cast<uint8_t>(1u << bit);
      RecordHeader out;
      ASSERT_EQ(decode_record_header(c, 9, &out).code(), PALLOC_E_CORRUPT) << "byte " << i << " bit " << bit;
    }
}

TEST(FormatRecord, RecordBytesAddsUpItsParts) {
  RecordHeader h;
  h.npages = 7;
  h.state_len = 101;
  EXPECT_EQ(record_bytes(h, 4096), 64u + 7 * 4096 + 7 * 16 + 101 + 24);
  h.npages = 0;
  h.state_len = 0;
  EXPECT_EQ(record_bytes(h, 4096), kRecordHeaderBytes + kRecordTrailerBytes);
  // npages is 32-bit: the size arithmetic must not wrap at 4 GiB.
  h.npages = 0xffffffffu;
  EXPECT_EQ(record_bytes(h, 65536), 64 + 0xffffffffull * (65536 + 16) + 24);
}

TEST(FormatRecord, HasherIsIncrementalAndSeeded) {
  std::vector<uint8_t> data(10000);
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<uint8_t>(i * 7);
  RecordHasher whole(11), parts(11), other(12);
  whole.update(data.data(), data.size());
  parts.update(data.data(), 1);
  parts.update(data.data() + 1, 4999);
  parts.update(data.data() + 5000, 5000);
  other.update(data.data(), data.size());
  EXPECT_EQ(whole.digest(), parts.digest());
  EXPECT_EQ(whole.digest(), checksum(data.data(), data.size(), 11));
  EXPECT_NE(whole.digest(), other.digest());
}

TEST(FormatChecksum, PageChecksumDependsOnContentAndPlace) {
  std::vector<uint8_t> page(4096, 0);
  const uint64_t a = page_checksum(page.data(), page.size(), 300);
  EXPECT_NE(a, 0u);  // 0 is reserved for "never written"
  EXPECT_NE(a, page_checksum(page.data(), page.size(), 301));  // the same bytes elsewhere
  page[4095] = 1;
  EXPECT_NE(a, page_checksum(page.data(), page.size(), 300));
  EXPECT_EQ(checksum("abc", 3, 1), checksum("abc", 3, 1));
}

TEST(FormatUuid, StringIsCanonical) {
  std::array<uint8_t, 16> u{};
  for (size_t i = 0; i < 16; i++) u[i] = static_cast<uint8_t>(i == 0 ? 0xab : i);
  EXPECT_EQ(uuid_string(u), "ab010203-0405-0607-0809-0a0b0c0d0e0f");
  const uint8_t b[] = {0x00, 0x7f, 0xff};
  EXPECT_EQ(hex(b, 3), "007fff");
}

constexpr uint64_t kOneMiB = 1 << 20;

// Layout: the file is [2 header slots][...][region zone][checksum table][data zone].
class LayoutMath : public ::testing::TestWithParam<std::tuple<uint64_t, uint64_t>> {};

TEST_P(LayoutMath, RegionsDoNotOverlapAndTableCoversEveryPage) {
  const auto [ps, max_size] = GetParam();
  const uint64_t base = 0x110000000000ull;
  const Layout l = Layout::for_arena(ps, base, max_size);
  EXPECT_EQ(l.page_size, ps);
  EXPECT_EQ(l.base, base);
  EXPECT_EQ(l.max_size, max_size);

  // The header slots end before the region zone; the table starts after it.
  EXPECT_LE(2 * kHeaderSlotBytes, kRegionZoneOffset);
  EXPECT_EQ(kTableOffset, kRegionZoneOffset + kRegionZoneBytes);
  EXPECT_EQ(l.data_offset, kTableOffset + l.table_bytes);
  EXPECT_EQ(l.data_offset % ps, 0u);
  EXPECT_EQ(l.table_bytes % kOneMiB, 0u);

  const uint64_t zone_first = kRegionZoneOffset / ps;
  const uint64_t zone_last = (kRegionZoneOffset + kRegionZoneBytes) / ps - 1;
  const uint64_t data_first = l.data_offset / ps;
  const uint64_t data_last = (l.data_offset + max_size) / ps - 1;

  EXPECT_EQ(l.zone_pgno(0), zone_first);
  EXPECT_EQ(l.zone_pgno(kRegionZoneBytes - ps), zone_last);
  EXPECT_EQ(l.arena_pgno(base), data_first);
  EXPECT_EQ(l.arena_pgno(base + max_size - ps), data_last);
  EXPECT_EQ(l.arena_pgno(base + 5 * ps + 17), data_first + 5);  // any byte of a page

  // Every zone and data page has its own 8-byte entry, in page order, and every entry
  // lies inside the table: an entry past its end would overwrite arena data.
  EXPECT_EQ(l.table_entry_offset(zone_first), kTableOffset);
  EXPECT_EQ(l.table_entry_offset(zone_first + 1), kTableOffset + 8);
  EXPECT_LE(l.table_entry_offset(zone_last) + 8, l.table_entry_offset(data_first));
  EXPECT_EQ(l.table_entry_offset(data_first + 1), l.table_entry_offset(data_first) + 8);
  EXPECT_LE(l.table_entry_offset(data_last) + 8, kTableOffset + l.table_bytes)
      << "the last arena page's checksum entry lies outside the table";
  // ... and the table is not wastefully large (at most 1 MiB of rounding beyond that).
  EXPECT_LT(kTableOffset + l.table_bytes, l.table_entry_offset(data_last) + 8 + kOneMiB);

  EXPECT_TRUE(l.pgno_valid(zone_first));
  EXPECT_TRUE(l.pgno_valid(zone_last));
  EXPECT_TRUE(l.pgno_valid(data_first));
  EXPECT_TRUE(l.pgno_valid(data_last));
  EXPECT_FALSE(l.pgno_valid(0));                // header slot
  EXPECT_FALSE(l.pgno_valid(zone_first - 1));
  EXPECT_FALSE(l.pgno_valid(zone_last + 1));    // the checksum table itself
  EXPECT_FALSE(l.pgno_valid(data_first - 1));
  EXPECT_FALSE(l.pgno_valid(data_last + 1));
}

INSTANTIATE_TEST_SUITE_P(Sizes, LayoutMath,
                         ::testing::Combine(::testing::Values(4096u, 16384u, 65536u),
                                            ::testing::Values(32ull << 20, 64ull << 30, 2ull << 40)));

}  // namespace
}  // namespace palloc
