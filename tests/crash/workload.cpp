// workload.cpp — deterministic mutations for the torture test, and the parent's model.
#include "workload.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "rng.h"

namespace crash {

namespace {

uint64_t epoch_seed(uint64_t seed, uint64_t epoch) {
  Rng r(seed ^ (epoch * 0xd1b54a32d192ed03ull));
  r.next();
  return r.next();
}

void fill_page(uint8_t *page, uint64_t page_size, uint64_t pattern_seed) {
  Rng r(pattern_seed);
  for (uint64_t off = 0; off < page_size; off += 8) {
    uint64_t w = r.next();
    std::memcpy(page + off, &w, 8);
  }
}

// Half the touches go anywhere, a quarter to the newest pages (often just grown, so
// still anonymous memory), a quarter to a small hot set (rewritten again and again).
uint64_t pick_page(Rng &r, uint64_t pages) {
  switch (r.below(4)) {
    case 0: return pages - 1 - r.below(std::max<uint64_t>(1, pages / 8));
    case 1: return r.below(std::min<uint64_t>(16, pages));
    default: return r.below(pages);
  }
}

}  // namespace

bool apply_epoch(const WorkloadParams &p, uint64_t epoch, Target &t, std::string *error) {
  Rng r(epoch_seed(p.seed, epoch));
  const uint64_t ps = p.page_size;

  uint64_t pages = t.size() / ps;
  if (pages < p.max_pages && r.below(24) == 0) {
    const uint64_t add = 1 + r.below(std::max<uint64_t>(1, p.max_pages / 8));
    if (!t.grow(std::min(p.max_pages, pages + add) * ps, error)) return false;
    pages = t.size() / ps;
  }
  if (r.below(4) == 0) {
    const unsigned slot = static_cast<unsigned>(r.below(PALLOC_ROOT_SLOTS));
    const uint64_t value = r.below(8) == 0 ? 0 : r.next();  // clearing a root must stick too
    if (!t.set_root(slot, value, error)) return false;
  }

  uint8_t *b = t.base();
  auto page = [&](uint64_t i) { return b + i * ps; };
  const uint64_t kind = r.below(100);
  if (kind < 65) {  // a few pages: whole-page fills or scattered words
    for (uint64_t n = 1 + r.below(4); n > 0; n--) {
      const uint64_t pg = pick_page(r, pages);
      if (r.below(2)) {
        fill_page(page(pg), ps, r.next());
      } else {
        for (uint64_t k = 1 + r.below(8); k > 0; k--) {
          const uint64_t w = r.next();
          std::memcpy(page(pg) + r.below(ps / 8) * 8, &w, 8);
        }
      }
    }
  } else if (kind < 92) {  // a run of pages; the long ones span several write batches
    const uint64_t len = std::min(pages, kind < 85 ? 8 + r.below(57) : 200 + r.below(400));
    const uint64_t start = r.below(pages - len + 1);
    for (uint64_t i = start; i < start + len; i++) fill_page(page(i), ps, r.next());
  } else if (kind < 97) {  // zeroing: a page whose committed content is zeros again
    for (uint64_t n = 1 + r.below(3); n > 0; n--) std::memset(page(pick_page(r, pages)), 0, ps);
  } else {  // many pages, one word each: many entries, little data
    for (uint64_t n = 32; n > 0; n--) {
      const uint64_t w = r.next();
      std::memcpy(page(r.below(pages)) + r.below(ps / 8) * 8, &w, 8);
    }
  }
  if (r.below(6) == 0) {  // the region: a few words, sometimes a whole page
    uint8_t *reg = t.region();
    if (r.below(4) == 0) {
      fill_page(reg + r.below(kRegionPages) * ps, ps, r.next());
    } else {
      for (uint64_t n = 1 + r.below(3); n > 0; n--) {
        const uint64_t w = r.next();
        std::memcpy(reg + r.below(kRegionPages * ps / 8) * 8, &w, 8);
      }
    }
  }
  std::memcpy(b, &epoch, 8);
  return true;
}

uint64_t state_digest(const uint8_t *base, uint64_t size, const std::array<uint64_t, PALLOC_ROOT_SLOTS> &roots,
                      const uint8_t *region, uint64_t region_bytes) {
  XXH3_state_t *s = XXH3_createState();
  XXH3_64bits_reset(s);
  XXH3_64bits_update(s, &size, sizeof size);
  XXH3_64bits_update(s, roots.data(), sizeof(uint64_t) * roots.size());
  XXH3_64bits_update(s, base, size);
  XXH3_64bits_update(s, region, region_bytes);
  const uint64_t d = XXH3_64bits_digest(s);
  XXH3_freeState(s);
  return d;
}

Model::Model(const WorkloadParams &p) : p_(p) { reset(); }

void Model::reset() {
  image_.assign(p_.max_pages * p_.page_size, 0);
  region_.assign(kRegionPages * p_.page_size, 0);
  size_ = p_.initial_pages * p_.page_size;
  epoch_ = 0;
  roots_.fill(0);
}

bool Model::advance_to(uint64_t epoch, std::string *error) {
  while (epoch_ < epoch) {
    if (!apply_epoch(p_, epoch_ + 1, *this, error)) return false;
    epoch_++;
  }
  return epoch_ == epoch;
}

bool Model::rebuild_at(uint64_t epoch, std::string *error) {
  reset();
  return advance_to(epoch, error);
}

bool Model::grow(uint64_t new_size, std::string *error) {
  if (new_size > image_.size()) {
    *error = "model: growth beyond max_pages";
    return false;
  }
  size_ = std::max(size_, new_size);
  return true;
}

bool Model::set_root(unsigned slot, uint64_t value, std::string *) {
  roots_[slot] = value;
  return true;
}

uint8_t *ArenaTarget::base() { return static_cast<uint8_t *>(palloc_base(a_)); }
uint64_t ArenaTarget::size() const { return palloc_size(a_); }

bool ArenaTarget::grow(uint64_t new_size, std::string *error) {
  palloc_status s = palloc_grow(a_, new_size);
  if (s != PALLOC_OK) *error = std::string("palloc_grow: ") + palloc_status_name(s) + ": " + palloc_last_error();
  return s == PALLOC_OK;
}

bool ArenaTarget::set_root(unsigned slot, uint64_t value, std::string *error) {
  palloc_status s = palloc_root_set(a_, slot, value);
  if (s != PALLOC_OK) *error = std::string("palloc_root_set: ") + palloc_status_name(s) + ": " + palloc_last_error();
  return s == PALLOC_OK;
}

std::array<uint64_t, PALLOC_ROOT_SLOTS> arena_roots(const palloc_arena *a) {
  std::array<uint64_t, PALLOC_ROOT_SLOTS> roots{};
  for (unsigned i = 0; i < PALLOC_ROOT_SLOTS; i++) roots[i] = palloc_root_get(a, i);
  return roots;
}

}  // namespace crash
