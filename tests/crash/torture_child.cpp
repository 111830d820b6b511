// torture_child.cpp — the process that gets killed: it recovers the arena, reports what
// it found, then commits epoch after epoch, acknowledging each one to the parent the
// moment palloc_commit returns, until a SIGKILL ends it. Now and then it closes the
// arena (a checkpoint) and opens it again, so kills land there too.
#include "torture_child.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "protocol.h"
#include "rng.h"
#include "workload.h"

namespace crash {

namespace {

constexpr char kRegionName[] = "torture";

void send(const Message &m, const std::string &text = {}) {
  char buf[sizeof(Message) + kMaxMessageText];
  Message h = m;
  h.text_len = static_cast<uint32_t>(std::min<size_t>(text.size(), kMaxMessageText));
  std::memcpy(buf, &h, sizeof h);
  std::memcpy(buf + sizeof h, text.data(), h.text_len);
  const size_t len = sizeof h + h.text_len;
  // One write of less than PIPE_BUF bytes is atomic; a short write cannot happen.
  while (::write(kChildMsgFd, buf, len) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void fail(const std::string &what) {
  Message m;
  m.type = kMsgError;
  send(m, what);
  _exit(3);
}

std::string palloc_error(const char *call, int64_t status) {
  return std::string(call) + " failed: " + palloc_status_name(static_cast<palloc_status>(status)) + ": " +
         palloc_last_error();
}

// Opens the arena, registers the region and describes what was recovered.
palloc_arena *open_arena(const TortureOptions &opts, uint8_t *region, uint64_t region_bytes, Message *out) {
  const palloc_options popts = arena_options(opts, true);
  palloc_arena *arena = nullptr;
  if (palloc_status s = palloc_open(arena_path(opts).c_str(), &popts, &arena); s != PALLOC_OK)
    fail(palloc_error("palloc_open", s));
  int restored = 0;
  if (palloc_status s = palloc_region_register(arena, kRegionName, region, region_bytes, &restored); s != PALLOC_OK)
    fail(palloc_error("palloc_region_register", s));
  if (!restored) std::memset(region, 0, region_bytes);  // no commit holds it yet: it starts as zeros
  palloc_stats st;
  (void)palloc_get_stats(arena, &st);
  out->a = palloc_epoch(arena);
  out->b = palloc_size(arena);
  out->c =
      state_digest(static_cast<const uint8_t *>(palloc_base(arena)), out->b, arena_roots(arena), region, region_bytes);
  out->d = (std::strcmp(st.tracker, "uffd") == 0 ? kOpenedUffd : 0) | (restored ? kOpenedRestored : 0);
  return arena;
}

}  // namespace

void run_child(const TortureOptions &opts) {
  void *shared = mmap(nullptr, sizeof(SharedStatus), PROT_READ | PROT_WRITE, MAP_SHARED, kChildStatusFd, 0);
  if (shared == MAP_FAILED) fail(std::string("mapping the status page: ") + strerror(errno));
  auto *status = static_cast<SharedStatus *>(shared);

  const WorkloadParams params = workload_params(opts);
  const uint64_t region_bytes = kRegionPages * params.page_size;
  void *mem = mmap(nullptr, region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) fail(std::string("mapping the region: ") + strerror(errno));
  auto *region = static_cast<uint8_t *>(mem);

  status->phase = kPhaseOpening;
  Message opened;
  opened.type = kMsgOpened;
  palloc_arena *arena = open_arena(opts, region, region_bytes, &opened);
  status->phase = kPhaseVerifying;
  send(opened);
  char go;
  ssize_t n;
  while ((n = ::read(kChildGoFd, &go, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) _exit(0);  // the parent found something wrong and wants this state left alone

  // Only the content must be deterministic; when to close and reopen need not be.
  Rng rng(opts.seed ^ (static_cast<uint64_t>(getpid()) << 32));
  std::string error;
  palloc_stats st;
  uint64_t closed_checkpoints = 0;  // by arenas this child has closed already
  for (uint64_t epoch = opened.a + 1;; epoch++) {
    ArenaTarget target(arena, region);
    status->phase = kPhaseMutating;
    if (!apply_epoch(params, epoch, target, &error)) fail("epoch " + std::to_string(epoch) + ": " + error);
    status->phase = kPhaseCommitting;
    const int64_t got = palloc_commit(arena);
    status->phase = kPhaseAcking;
    if (got < 0) fail(palloc_error("palloc_commit", -got));
    if (static_cast<uint64_t>(got) != epoch)
      fail("palloc_commit returned epoch " + std::to_string(got) + ", expected " + std::to_string(epoch));
    (void)palloc_get_stats(arena, &st);
    status->checkpoints = closed_checkpoints + st.checkpoints;
    status->log_bytes = st.log_bytes;
    Message ack;
    ack.type = kMsgAck;
    ack.a = epoch;
    send(ack);

    if (rng.below(24) == 0) {
      status->phase = kPhaseClosing;
      if (palloc_status s = palloc_close(arena); s != PALLOC_OK) fail(palloc_error("palloc_close", s));
      closed_checkpoints += st.checkpoints + 1;  // and the one palloc_close just made
      status->checkpoints = closed_checkpoints;
      status->phase = kPhaseReopening;
      Message reopened;
      reopened.type = kMsgReopened;
      arena = open_arena(opts, region, region_bytes, &reopened);
      send(reopened);
    }
  }
}

}  // namespace crash
