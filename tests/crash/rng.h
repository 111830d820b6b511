// rng.h — splitmix64: a tiny deterministic generator. The workload and the kill
// schedule both derive everything from it, so a run is reproducible from its seed.
#pragma once

#include <cstdint>

namespace crash {

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
  double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }  // [0, 1)

 private:
  uint64_t s_;
};

}  // namespace crash
