// workload.h — the torture workload: deterministic arena mutations derived from
// (seed, epoch), applied either to a live arena (in the child that gets killed) or to a
// plain in-memory model (in the parent that checks what recovery brought back).
//
// Because the mutations of epoch e depend only on (seed, e) and on the state at epoch
// e - 1, the parent can reproduce any committed state exactly without ever reading it
// back from the process that made it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "palloc.h"

namespace crash {

// Pages of the extra persistent region (palloc_region_register) the workload also writes.
constexpr uint64_t kRegionPages = 4;

struct WorkloadParams {
  uint64_t seed = 1;
  uint64_t page_size = 4096;
  uint64_t initial_pages = 256;  // arena size at creation
  uint64_t max_pages = 2048;     // the workload never grows the arena beyond this
};

// What a mutation needs from the memory it mutates.
class Target {
 public:
  virtual ~Target() = default;
  virtual uint8_t *base() = 0;
  virtual uint64_t size() const = 0;
  // Makes [base, base + new_size) usable; false (with *error set) on failure.
  virtual bool grow(uint64_t new_size, std::string *error) = 0;
  virtual bool set_root(unsigned slot, uint64_t value, std::string *error) = 0;
  // The registered region: kRegionPages pages outside the arena, committed with it.
  virtual uint8_t *region() = 0;
};

// Applies the mutations of `epoch` to `t`, which must hold the state of epoch - 1.
// Always stamps the epoch into the first word of page 0, so no two epochs look alike.
bool apply_epoch(const WorkloadParams &p, uint64_t epoch, Target &t, std::string *error);

// Digest of everything a commit makes durable that the workload controls: the size,
// every root, every byte of [base, base + size) and of the region.
uint64_t state_digest(const uint8_t *base, uint64_t size, const std::array<uint64_t, PALLOC_ROOT_SLOTS> &roots,
                      const uint8_t *region, uint64_t region_bytes);

// The parent's copy of the arena: a byte vector, the roots, and the epoch it holds.
class Model final : public Target {
 public:
  explicit Model(const WorkloadParams &p);
  // Back to epoch 0: a fresh arena of initial_pages zero pages and zero roots.
  void reset();
  // Applies epochs until the model holds `epoch` (which must not be older).
  bool advance_to(uint64_t epoch, std::string *error);
  // Rebuilds the model from scratch at an older or newer epoch.
  bool rebuild_at(uint64_t epoch, std::string *error);

  uint64_t epoch() const { return epoch_; }
  uint64_t digest() const { return state_digest(image_.data(), size_, roots_, region_.data(), region_.size()); }
  const std::array<uint64_t, PALLOC_ROOT_SLOTS> &roots() const { return roots_; }
  const uint8_t *data() const { return image_.data(); }
  const uint8_t *region_data() const { return region_.data(); }

  uint8_t *base() override { return image_.data(); }
  uint64_t size() const override { return size_; }
  bool grow(uint64_t new_size, std::string *error) override;
  bool set_root(unsigned slot, uint64_t value, std::string *error) override;
  uint8_t *region() override { return region_.data(); }

 private:
  WorkloadParams p_;
  std::vector<uint8_t> image_;  // max_pages long; bytes past size_ stay zero
  std::vector<uint8_t> region_;
  uint64_t size_ = 0;
  uint64_t epoch_ = 0;
  std::array<uint64_t, PALLOC_ROOT_SLOTS> roots_{};
};

// A live arena as a mutation target; `region` is registered with it.
class ArenaTarget final : public Target {
 public:
  ArenaTarget(palloc_arena *a, uint8_t *region) : a_(a), region_(region) {}
  uint8_t *base() override;
  uint64_t size() const override;
  bool grow(uint64_t new_size, std::string *error) override;
  bool set_root(unsigned slot, uint64_t value, std::string *error) override;
  uint8_t *region() override { return region_; }

 private:
  palloc_arena *a_;
  uint8_t *region_;
};

// Reads the roots of an open arena.
std::array<uint64_t, PALLOC_ROOT_SLOTS> arena_roots(const palloc_arena *a);

}  // namespace crash
