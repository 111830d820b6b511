// fault_scenario.cpp — scripted commits and their expected states.
#include "fault_scenario.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fault_isolation.h"
#include "rng.h"

namespace crash {

namespace {

constexpr unsigned kFirstRoot = 8;

uint64_t root_value(const Script &s, uint64_t epoch) { return Rng(s.seed * 31 + epoch).next() | 1; }

}  // namespace

uint64_t page_size() {
  static const uint64_t size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return size;
}

palloc_options script_options(const Script &s, bool create) {
  palloc_options o;
  palloc_options_init(&o);
  o.flags = create ? PALLOC_CREATE : 0;
  o.tracker = s.tracker;
  o.durability = s.durability;
  o.initial_size = s.initial_pages * page_size();
  o.max_size = s.max_bytes;
  o.checkpoint_bytes = s.checkpoint_bytes;
  return o;
}

void fill_pattern(const Script &s, uint64_t epoch, uint64_t page, uint8_t *dst) {
  Rng r(s.seed * 0x9e3779b97f4a7c15ull ^ (epoch << 24) ^ page);
  for (uint64_t off = 0, end = page_size(); off < end; off += 8) {
    const uint64_t w = r.next();
    std::memcpy(dst + off, &w, 8);
  }
}

void write_epoch(const Script &s, uint64_t epoch, palloc_arena *a) {
  if (epoch <= s.grow_to.size() && s.grow_to[epoch - 1]) {
    ASSERT_EQ(palloc_grow(a, s.grow_to[epoch - 1] * page_size()), PALLOC_OK) << palloc_last_error();
  }
  auto *base = static_cast<uint8_t *>(palloc_base(a));
  for (uint64_t p : s.pages[epoch - 1]) fill_pattern(s, epoch, p, base + p * page_size());
  ASSERT_EQ(palloc_root_set(a, kFirstRoot + epoch % 8, root_value(s, epoch)), PALLOC_OK);
  ASSERT_EQ(palloc_root_set_named(a, "epoch", epoch), PALLOC_OK);
}

Snapshot expected_at(const Script &s, uint64_t epoch) {
  Snapshot snap;
  snap.epoch = epoch;
  uint64_t pages = s.initial_pages;
  for (uint64_t e = 1; e <= epoch; e++)
    if (e <= s.grow_to.size()) pages = std::max(pages, s.grow_to[e - 1]);
  snap.content.assign(pages * page_size(), 0);
  for (uint64_t e = 1; e <= epoch; e++) {
    for (uint64_t p : s.pages[e - 1]) fill_pattern(s, e, p, snap.content.data() + p * page_size());
    snap.roots[e % 8] = root_value(s, e);
  }
  snap.named = epoch;
  return snap;
}

Snapshot snapshot_of(const palloc_arena *a) {
  Snapshot snap;
  snap.epoch = palloc_epoch(a);
  const auto *base = static_cast<const uint8_t *>(palloc_base(a));
  snap.content.assign(base, base + palloc_size(a));
  for (unsigned i = 0; i < 8; i++) snap.roots[i] = palloc_root_get(a, kFirstRoot + i);
  if (palloc_root_get_named(a, "epoch", &snap.named) != PALLOC_OK) snap.named = 0;
  return snap;
}

::testing::AssertionResult same_state(const Snapshot &got, const Snapshot &want) {
  if (got.epoch != want.epoch)
    return ::testing::AssertionFailure() << "epoch " << got.epoch << ", expected " << want.epoch;
  if (got.content.size() != want.content.size())
    return ::testing::AssertionFailure() << "epoch " << got.epoch << ": size " << got.content.size() << ", expected "
                                         << want.content.size();
  for (uint64_t off = 0; off < got.content.size(); off += page_size())
    if (std::memcmp(got.content.data() + off, want.content.data() + off, page_size()) != 0)
      return ::testing::AssertionFailure()
             << "epoch " << got.epoch << ": page " << off / page_size() << " has the wrong content";
  for (unsigned i = 0; i < 8; i++)
    if (got.roots[i] != want.roots[i])
      return ::testing::AssertionFailure() << "epoch " << got.epoch << ": root " << kFirstRoot + i << " is "
                                           << got.roots[i] << ", expected " << want.roots[i];
  if (got.named != want.named)
    return ::testing::AssertionFailure() << "epoch " << got.epoch << ": named root 'epoch' is " << got.named
                                         << ", expected " << want.named;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult commit_in_child(const std::string &path, const Script &s, uint64_t from, uint64_t to,
                                           bool close) {
  return run_isolated([&] {
    const palloc_options o = script_options(s, true);
    palloc_arena *a = nullptr;
    ASSERT_EQ(palloc_open(path.c_str(), &o, &a), PALLOC_OK) << palloc_last_error();
    ASSERT_EQ(palloc_epoch(a), from - 1);
    for (uint64_t e = from; e <= to; e++) {
      write_epoch(s, e, a);
      if (::testing::Test::HasFatalFailure()) return;
      ASSERT_EQ(palloc_commit(a), static_cast<int64_t>(e)) << palloc_last_error();
    }
    if (close) {
      ASSERT_EQ(palloc_close(a), PALLOC_OK) << palloc_last_error();
    }
    // Otherwise the child ends without palloc_close, like a crash right after the commit.
  });
}

::testing::AssertionResult open_and_expect(const std::string &path, const Script &s, uint64_t epoch) {
  const palloc_options o = script_options(s, false);
  palloc_arena *a = nullptr;
  if (palloc_status st = palloc_open(path.c_str(), &o, &a); st != PALLOC_OK)
    return ::testing::AssertionFailure() << "palloc_open: " << palloc_status_name(st) << ": " << palloc_last_error();
  ::testing::AssertionResult r = same_state(snapshot_of(a), expected_at(s, epoch));
  if (palloc_status st = palloc_close(a); st != PALLOC_OK && r)
    return ::testing::AssertionFailure() << "palloc_close: " << palloc_status_name(st) << ": " << palloc_last_error();
  return r;
}

}  // namespace crash
