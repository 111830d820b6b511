// layout_check.cpp — the data file geometry that `palloc check` walks: every page of the
// region zone and of the data zone must have its own checksum-table entry inside the
// table, for every allowed maximum size. (Large arenas once got entries past the table's
// end, inside the data zone.) Exits 1 naming the first geometry that breaks this.
#include <cstdio>

#include "format.h"

int main() {
  using namespace palloc;
  int failures = 0;
  for (uint64_t ps : {4096ull, 16384ull, 65536ull}) {
    // Every multiple of 32 MiB up to 2 TiB would be 65536 sizes; powers of two and
    // their neighbours cover each rounding case of the table size.
    for (uint64_t max = uint64_t{32} << 20; max <= 2ull << 40; max *= 2) {
      for (uint64_t m : {uint64_t{max - (32ull << 20)}, max, uint64_t{max + (32ull << 20)}, uint64_t{max + max / 2}}) {
        if (m == 0 || m > (2ull << 40)) continue;
        const Layout l = Layout::for_arena(ps, 0x110000000000ull, m);
        const uint64_t table_end = kTableOffset + l.table_bytes;
        const uint64_t first_zone = kRegionZoneOffset / ps;
        const uint64_t last_data = (l.data_offset + m) / ps - 1;
        const bool ok = l.data_offset == table_end && l.table_entry_offset(first_zone) == kTableOffset &&
                        l.table_entry_offset(last_data) + 8 <= table_end && l.table_bytes % (1 << 20) == 0;
        if (!ok && failures++ < 5)
          std::fprintf(stderr, "page size %llu, max size %llu: table ends at %llu, last entry at %llu\n",
                       static_cast<unsigned long long>(ps), static_cast<unsigned long long>(m),
                       static_cast<unsigned long long>(table_end),
                       static_cast<unsigned long long>(l.table_entry_offset(last_data)));
      }
    }
  }
  // Geometry is part of the format: for sizes whose entries always fitted, the table size
  // must not have changed ((64 MiB + max) / page size * 8, rounded up to 1 MiB).
  for (uint64_t m : {32ull << 20, 256ull << 20, 1ull << 30, 64ull << 30, 128ull << 30}) {
    const uint64_t expect = ((kRegionZoneBytes + m) / 4096 * 8 + (1 << 20) - 1) / (1 << 20) * (1 << 20);
    if (Layout::for_arena(4096, 0x110000000000ull, m).table_bytes != expect && failures++ < 10)
      std::fprintf(stderr, "max size %llu: table size changed\n", static_cast<unsigned long long>(m));
  }
  if (failures) return 1;
  std::printf("ok\n");
  return 0;
}
