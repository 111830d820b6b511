// bad_input_test.cpp — palloc_open on files that are not (good) arenas, arenas it may
// not use, and bad options: each fails with its own status and a message that says
// what is wrong, never with a crash.
#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cstring>

#include <gtest/gtest.h>

#include "datafile.h"
#include "format.h"
#include "unit_util.h"

namespace {

using unit::ArenaPtr;

class BadInput : public ::testing::Test {
 protected:
  palloc_options opts() const { return unit::test_options(base_); }

  // Opens path_ with `o` and expects `code`; returns the message.
  std::string expect_open_fails(palloc_status code, const palloc_options &o) {
    palloc_status st;
    ArenaPtr a = unit::open_arena(path_, o, &st);
    EXPECT_EQ(st, code) << palloc_status_name(st) << ": " << palloc_last_error();
    EXPECT_FALSE(a);
    std::string msg = palloc_last_error();
    EXPECT_FALSE(msg.empty());
    return msg;
  }
  std::string expect_open_fails(palloc_status code) { return expect_open_fails(code, opts()); }

  // A real arena holding one committed page, closed.
  void make_arena() {
    palloc_status st;
    ArenaPtr a = unit::open_arena(path_, opts(), &st);
    ASSERT_EQ(st, PALLOC_OK) << palloc_last_error();
    static_cast<uint8_t *>(palloc_base(a.get()))[0] = 42;
    ASSERT_GT(palloc_commit(a.get()), 0);
  }

  void expect_opens() {
    palloc_status st;
    ArenaPtr a = unit::open_arena(path_, opts(), &st);
    EXPECT_EQ(st, PALLOC_OK) << palloc_last_error();
    if (a) {
      EXPECT_EQ(static_cast<uint8_t *>(palloc_base(a.get()))[0], 42);
    }
  }

  static uint64_t stats_pages(palloc_arena *a) {
    palloc_stats s;
    palloc_get_stats(a, &s);
    return s.last_commit_pages;
  }

  static bool contains(const std::string &hay, const std::string &needle) {
    return hay.find(needle) != std::string::npos;
  }

  unit::TempDir dir_;
  std::string path_ = dir_.file("arena");
  uint64_t base_ = unit::arena_base(3);
};

TEST_F(BadInput, MissingArenaWithoutCreate) {
  palloc_options o = opts();
  o.flags &= ~PALLOC_CREATE;
  const std::string msg = expect_open_fails(PALLOC_E_NOT_FOUND, o);
  EXPECT_TRUE(contains(msg, path_)) << msg;
  EXPECT_EQ(unit::file_size_of(path_), 0u);  // and nothing was created
}

TEST_F(BadInput, ExclusiveCreateOfAnExistingArena) {
  make_arena();
  palloc_options o = opts();
  o.flags |= PALLOC_EXCLUSIVE;
  expect_open_fails(PALLOC_E_EXISTS, o);
  expect_opens();
}

TEST_F(BadInput, NotAnArenaFile) {
  std::string text;
  for (int i = 0; i < 8000; i++) text += "just some text, line " + std::to_string(i) + "\n";
  ASSERT_GT(text.size(), 2 * palloc::kHeaderSlotBytes);
  ASSERT_TRUE(unit::write_file(path_, text.data(), text.size()));
  const std::string msg = expect_open_fails(PALLOC_E_NOT_ARENA);
  EXPECT_TRUE(contains(msg, path_)) << msg;
  // Short files too, even with PALLOC_CREATE: an existing file is never overwritten.
  ASSERT_TRUE(unit::write_file(path_, "hello\n", 6));
  expect_open_fails(PALLOC_E_NOT_ARENA);
  EXPECT_EQ(unit::read_file(path_), "hello\n");
}

TEST_F(BadInput, EmptyFile) {
  ASSERT_TRUE(unit::write_file(path_, "", 0));
  const std::string msg = expect_open_fails(PALLOC_E_NOT_ARENA);
  EXPECT_TRUE(contains(msg, "empty")) << msg;
  EXPECT_EQ(unit::file_size_of(path_), 0u);
}

TEST_F(BadInput, TruncatedDataFile) {
  make_arena();
  const std::string whole = unit::read_file(path_);
  // Inside the first slot, inside the second slot, and after both slots but short of
  // the data the header describes.
  for (uint64_t len : {uint64_t{100}, palloc::kHeaderSlotBytes + 100, 2 * palloc::kHeaderSlotBytes + 4096,
                       uint64_t{whole.size()} / 2}) {
    SCOPED_TRACE("truncated to " + std::to_string(len));
    ASSERT_TRUE(unit::write_file(path_, whole.data(), len, 0600));
    const std::string msg = expect_open_fails(PALLOC_E_CORRUPT);
    EXPECT_TRUE(contains(msg, path_)) << msg;
  }
}

TEST_F(BadInput, DataFileTruncatedInsideTheCommittedImage) {
  // The committed page at offset 0 of the arena lies in the data zone; cutting the file
  // there loses it. That must be refused, not mapped as zeros.
  make_arena();
  palloc::DataHeader h;
  {
    palloc::DataFile df;
    df.fd.reset(::open(path_.c_str(), O_RDONLY));
    df.path = path_;
    ASSERT_TRUE(palloc::data_read_header(&df).ok());
    h = df.header;
  }
  ASSERT_EQ(truncate(path_.c_str(), static_cast<off_t>(h.layout.data_offset)), 0);
  const std::string msg = expect_open_fails(PALLOC_E_CORRUPT);
  EXPECT_TRUE(contains(msg, path_)) << msg;
}

TEST_F(BadInput, OneDamagedHeaderSlotIsSurvivable) {
  make_arena();
  int fd = ::open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  palloc::DataFile df;
  df.fd.reset(fd);
  df.path = path_;
  ASSERT_TRUE(palloc::data_read_header(&df).ok());
  // Damage the current slot: the other (previous) one still describes a valid commit.
  const uint64_t cur = df.slot * palloc::kHeaderSlotBytes;
  ASSERT_EQ(pwrite(fd, "XXXX", 4, static_cast<off_t>(cur + 40)), 4);
  {
    palloc_status st;
    ArenaPtr a = unit::open_arena(path_, opts(), &st);
    EXPECT_EQ(st, PALLOC_OK) << palloc_last_error();
  }
  // Both slots damaged: refused, naming both problems.
  ASSERT_TRUE(palloc::data_read_header(&df).ok());
  ASSERT_EQ(pwrite(fd, "XXXX", 4, static_cast<off_t>(40)), 4);
  ASSERT_EQ(pwrite(fd, "XXXX", 4, static_cast<off_t>(palloc::kHeaderSlotBytes + 40)), 4);
  const std::string msg = expect_open_fails(PALLOC_E_CORRUPT);
  EXPECT_TRUE(contains(msg, "both")) << msg;
}

TEST_F(BadInput, NewerFormatVersion) {
  make_arena();
  // Rewrite both header slots as a future version would: same layout, version + 1,
  // valid checksum.
  std::string bytes = unit::read_file(path_);
  const uint32_t future = palloc::kFormatVersion + 1;
  for (uint64_t slot = 0; slot < 2; slot++) {
    uint8_t *h = reinterpret_cast<uint8_t *>(bytes.data()) + slot * palloc::kHeaderSlotBytes;
    palloc::DataHeader decoded;
    ASSERT_TRUE(palloc::decode_header(h, palloc::kHeaderSlotBytes, &decoded).ok());
    std::vector<uint8_t> enc = palloc::encode_header(decoded);
    std::memcpy(enc.data() + 8, &future, 4);
    uint32_t checked;
    std::memcpy(&checked, enc.data() + 12, 4);
    const uint64_t sum = palloc::checksum(enc.data(), checked, 0);
    std::memcpy(enc.data() + checked, &sum, 8);
    std::memcpy(h, enc.data(), enc.size());
  }
  ASSERT_TRUE(unit::write_file(path_, bytes.data(), bytes.size(), 0600));
  const std::string msg = expect_open_fails(PALLOC_E_VERSION);
  EXPECT_TRUE(contains(msg, std::to_string(future))) << msg;
  EXPECT_TRUE(contains(msg, path_)) << msg;
}

TEST_F(BadInput, ArenaLockedByAnotherProcess) {
  make_arena();
  const palloc_options o = opts();
  int ready[2], release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  unit::quiesce_threads();
  fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(unit::kChildSeconds);
    // Holds the arena open until the parent says so.
    palloc_arena *a = nullptr;
    const char ok = palloc_open(path_.c_str(), &o, &a) == PALLOC_OK ? 'y' : 'n';
    if (::write(ready[1], &ok, 1) != 1) _exit(2);
    char c;
    if (::read(release[0], &c, 1) < 0) _exit(3);
    palloc_close(a);
    _exit(ok == 'y' ? 0 : 1);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y') << "the child could not open the arena";
  const std::string msg = expect_open_fails(PALLOC_E_LOCKED);
  EXPECT_TRUE(contains(msg, "process " + std::to_string(child))) << msg;
  EXPECT_TRUE(contains(msg, path_)) << msg;
  ASSERT_EQ(::write(release[1], "x", 1), 1);
  EXPECT_EQ(unit::wait_for(child), 0);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
  expect_opens();  // the lock went with the process
}

TEST_F(BadInput, AddressRangeAlreadyTaken) {
  make_arena();
  void *squatter = mmap(reinterpret_cast<void *>(base_ + 5 * unit::kMiB), unit::page_size(), PROT_READ,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_NE(squatter, MAP_FAILED);
  char hex[32];
  snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(base_));
  const std::string msg = expect_open_fails(PALLOC_E_ADDRESS);
  EXPECT_TRUE(contains(msg, hex)) << msg;
  EXPECT_TRUE(contains(msg, "in use")) << msg;
  munmap(squatter, unit::page_size());
  expect_opens();  // the failed open released everything (lock, reservation)
}

TEST_F(BadInput, AddressTakenAtCreation) {
  void *squatter = mmap(reinterpret_cast<void *>(base_), unit::page_size(), PROT_READ,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_NE(squatter, MAP_FAILED);
  expect_open_fails(PALLOC_E_ADDRESS);
  munmap(squatter, unit::page_size());
}

TEST_F(BadInput, FileTheUserCannotRead) {
  make_arena();
  if (geteuid() != 0) {
    ASSERT_EQ(chmod(path_.c_str(), 0), 0);
    const std::string msg = expect_open_fails(PALLOC_E_PERMISSION);
    EXPECT_TRUE(contains(msg, path_)) << msg;
    return;
  }
  // Root reads everything: drop to nobody in a child. The directory must let nobody in
  // (mkdtemp made it 0700); the arena files stay 0600 root's.
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  const palloc_options o = opts();
  const std::string other = dir_.file("new-arena");
  int code = unit::run_in_child([&]() -> int {
    CHILD_CHECK(setgroups(0, nullptr) == 0);
    CHILD_CHECK(setgid(65534) == 0);
    CHILD_CHECK(setuid(65534) == 0);
    palloc_arena *a = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_E_PERMISSION);
    CHILD_CHECK(std::string(palloc_last_error()).find(path_) != std::string::npos);
    // Nor may nobody create an arena in root's directory.
    CHILD_CHECK(palloc_open(other.c_str(), &o, &a) == PALLOC_E_PERMISSION);
    return 0;
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(unit::file_size_of(other), 0u);
}

TEST_F(BadInput, MissingLogFile) {
  make_arena();
  const std::string log = path_ + ".wal1";
  ASSERT_EQ(unlink(log.c_str()), 0);
  const std::string msg = expect_open_fails(PALLOC_E_CORRUPT);
  EXPECT_TRUE(contains(msg, log)) << msg;
  EXPECT_TRUE(contains(msg, "missing")) << msg;
}

TEST_F(BadInput, LogFileOfAnotherArena) {
  make_arena();
  // A second arena elsewhere; its log replaces ours.
  const std::string other = dir_.file("other");
  {
    palloc_status st;
    ArenaPtr a = unit::open_arena(other, opts(), &st);
    ASSERT_EQ(st, PALLOC_OK);
  }
  ASSERT_EQ(rename((other + ".wal0").c_str(), (path_ + ".wal0").c_str()), 0);
  const std::string msg = expect_open_fails(PALLOC_E_CORRUPT);
  EXPECT_TRUE(contains(msg, "different arena")) << msg;
}

TEST_F(BadInput, LogFilesSwapped) {
  make_arena();
  const std::string l0 = path_ + ".wal0", l1 = path_ + ".wal1", tmp = path_ + ".tmp";
  ASSERT_EQ(rename(l0.c_str(), tmp.c_str()), 0);
  ASSERT_EQ(rename(l1.c_str(), l0.c_str()), 0);
  ASSERT_EQ(rename(tmp.c_str(), l1.c_str()), 0);
  expect_open_fails(PALLOC_E_CORRUPT);
}

TEST_F(BadInput, DamagedCommitWithALaterCommitAfterIt) {
  // A crash leaves three commits in the log; one in the middle is then damaged.
  const palloc_options o = opts();
  int code = unit::run_in_child([&]() -> int {
    palloc_arena *a = nullptr;
    CHILD_CHECK(palloc_open(path_.c_str(), &o, &a) == PALLOC_OK);
    auto *p = static_cast<uint8_t *>(palloc_base(a));
    for (int e = 1; e <= 3; e++) {
      p[e * unit::page_size()] = static_cast<uint8_t>(e);
      CHILD_CHECK(palloc_commit(a) == e);
    }
    unit::crash_now();
  });
  ASSERT_EQ(code, 128 + SIGKILL);
  const std::string log = path_ + ".wal0";
  std::string bytes = unit::read_file(log);
  ASSERT_GT(bytes.size(), palloc::kLogHeaderBytes);
  // The second record starts where the first ends: find it from the first's header.
  palloc::RecordHeader h;
  palloc::DataHeader dh;
  {
    palloc::DataFile df;
    df.fd.reset(::open(path_.c_str(), O_RDONLY));
    df.path = path_;
    ASSERT_TRUE(palloc::data_read_header(&df).ok());
    dh = df.header;
  }
  ASSERT_TRUE(palloc::decode_record_header(reinterpret_cast<const uint8_t *>(bytes.data()) + palloc::kLogHeaderBytes,
                                           palloc::uuid_seed(dh.uuid), &h)
                  .ok());
  const uint64_t second = palloc::kLogHeaderBytes + palloc::record_bytes(h, dh.layout.page_size);
  bytes[second + 10] ^= 0x01;
  ASSERT_TRUE(unit::write_file(log, bytes.data(), bytes.size(), 0600));
  const std::string msg = expect_open_fails(PALLOC_E_CORRUPT);
  EXPECT_TRUE(contains(msg, log)) << msg;
  EXPECT_TRUE(contains(msg, "epoch 3")) << msg;
  // The refusal changed nothing: the same damage is reported again.
  EXPECT_EQ(unit::read_file(log), bytes);
}

TEST_F(BadInput, BadOptions) {
  struct Case {
    const char *what;
    std::function<void(palloc_options &)> edit;
  };
  const std::vector<Case> cases = {
      {"max_size 0", [](palloc_options &o) { o.max_size = 0; }},
      {"max_size above 2 TiB", [](palloc_options &o) { o.max_size = 4ull << 40; }},
      {"initial above max", [](palloc_options &o) { o.initial_size = o.max_size + 4096; }},
      {"tiny checkpoint_bytes", [](palloc_options &o) { o.checkpoint_bytes = 4096; }},
      {"durability", [](palloc_options &o) { o.durability = static_cast<palloc_durability>(3); }},
      {"tracker", [](palloc_options &o) { o.tracker = static_cast<palloc_tracker_kind>(3); }},
      {"unaligned base", [](palloc_options &o) { o.base += 4096; }},
      {"base below 4 GiB", [](palloc_options &o) { o.base = 1ull << 30; }},
      {"base beyond 20 TiB", [](palloc_options &o) { o.base = 20ull << 40; }},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.what);
    palloc_options o = opts();
    c.edit(o);
    expect_open_fails(PALLOC_E_INVALID, o);
    EXPECT_EQ(unit::file_size_of(path_), 0u) << "a refused creation must leave no arena";
  }
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    if (const char *old = getenv(name)) old_ = old, had_ = true;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char *name_;
  std::string old_;
  bool had_ = false;
};

TEST_F(BadInput, MalformedEnvironmentVariables) {
  const std::vector<std::pair<const char *, const char *>> vars = {
      {"PALLOC_TRACKER", "bogus"},
      {"PALLOC_DURABILITY", "sometimes"},
      {"PALLOC_MAX_SIZE", "12q"},
      {"PALLOC_ASYNC_MS", "-5"},
      {"PALLOC_CHECKPOINT_BYTES", "lots"},
  };
  for (const auto &[name, value] : vars) {
    SCOPED_TRACE(name);
    ScopedEnv env(name, value);
    palloc_options o;
    palloc_options_init(&o);
    o.flags |= PALLOC_CREATE;
    o.base = base_;
    o.max_size = 64 * unit::kMiB;
    const std::string msg = expect_open_fails(PALLOC_E_INVALID, o);
    EXPECT_TRUE(contains(msg, name)) << msg;
    EXPECT_TRUE(contains(msg, value)) << msg;
    // palloc_open without options reads the environment itself.
    palloc_arena *a = nullptr;
    EXPECT_EQ(palloc_open(path_.c_str(), nullptr, &a), PALLOC_E_INVALID);
    EXPECT_EQ(a, nullptr);
  }
}

TEST_F(BadInput, WellFormedEnvironmentVariablesApply) {
  ScopedEnv d("PALLOC_DURABILITY", "none");
  ScopedEnv t("PALLOC_TRACKER", "hash");
  ScopedEnv m("PALLOC_MAX_SIZE", "96m");
  ScopedEnv c("PALLOC_CHECKPOINT_BYTES", "2MiB");
  ScopedEnv s("PALLOC_ASYNC_MS", "250");
  palloc_options o;
  palloc_options_init(&o);
  EXPECT_EQ(o.durability, PALLOC_DURABILITY_NONE);
  EXPECT_EQ(o.tracker, PALLOC_TRACKER_HASH);
  EXPECT_EQ(o.max_size, 96 * unit::kMiB);
  EXPECT_EQ(o.checkpoint_bytes, 2 * unit::kMiB);
  EXPECT_EQ(o.async_bound_ms, 250u);
  o.flags |= PALLOC_CREATE;
  o.base = base_;
  palloc_status st;
  ArenaPtr a = unit::open_arena(path_, o, &st);
  ASSERT_EQ(st, PALLOC_OK) << palloc_last_error();
  palloc_stats stats;
  ASSERT_EQ(palloc_get_stats(a.get(), &stats), PALLOC_OK);
  EXPECT_STREQ(stats.tracker, "hash");
  EXPECT_STREQ(stats.durability, "none");
  EXPECT_EQ(stats.max_size, 96 * unit::kMiB);
}

// These run on kernels without the uffd tracker, and here through the ctest entry
// unit-without-uffd, which sets PALLOC_DISABLE_UFFD=1.
TEST_F(BadInput, UffdTrackerOnAKernelWithoutIt) {
  if (palloc_uffd_supported()) GTEST_SKIP() << "this kernel supports the uffd tracker";
  palloc_options o = opts();
  o.tracker = PALLOC_TRACKER_UFFD;
  const std::string msg = expect_open_fails(PALLOC_E_UNSUPPORTED, o);
  EXPECT_TRUE(contains(msg, "hash")) << msg;
}

TEST_F(BadInput, AutoFallsBackToHashAndSaysSoOnce) {
  if (palloc_uffd_supported()) GTEST_SKIP() << "this kernel supports the uffd tracker";
  testing::internal::CaptureStderr();
  for (int round = 0; round < 2; round++) {
    palloc_status st;
    ArenaPtr a = unit::open_arena(path_, opts(), &st);
    ASSERT_EQ(st, PALLOC_OK) << palloc_last_error();
    palloc_stats stats;
    ASSERT_EQ(palloc_get_stats(a.get(), &stats), PALLOC_OK);
    EXPECT_STREQ(stats.tracker, "hash");
    static_cast<uint8_t *>(palloc_base(a.get()))[round] = 7;
    ASSERT_EQ(palloc_commit(a.get()), round + 1);
    ASSERT_EQ(stats_pages(a.get()), 1u) << "the hash tracker found the written page";
  }
  const std::string err = testing::internal::GetCapturedStderr();
  const size_t first = err.find("using the hash tracker");
  ASSERT_NE(first, std::string::npos) << err;
  EXPECT_EQ(err.find("using the hash tracker", first + 1), std::string::npos) << "said more than once: " << err;
  EXPECT_TRUE(contains(err, "PALLOC_TRACKER=hash")) << err;
}

}  // namespace
