// options.h — option defaults, the PALLOC_* environment variables, and validation.
#pragma once

#include "palloc.h"
#include "status.h"

namespace palloc {

// 17 TiB: clear of heap, libraries and stacks, above ASan's shadow (which ends near
// 16 TiB) and below the 20 TiB that mimalloc 2.0.9's segment map covers.
constexpr uint64_t kDefaultBase = 0x110000000000ull;
constexpr uint64_t kDefaultMaxSize = 64ull << 30;
constexpr uint64_t kDefaultInitialSize = 16ull << 20;
constexpr uint64_t kDefaultCheckpointBytes = 64ull << 20;
constexpr uint32_t kDefaultAsyncBoundMs = 1000;

// Parses "123", "64k", "16m", "4g", "1t" (powers of 1024). False if malformed.
bool parse_size(const char *text, uint64_t *out);
Status parse_durability(const char *text, palloc_durability *out);
Status parse_tracker(const char *text, palloc_tracker_kind *out);
const char *durability_name(palloc_durability d);

// Rejects inconsistent options, and reports a malformed PALLOC_* variable seen by
// palloc_options_init.
Status options_check(const palloc_options &opts);

}  // namespace palloc
