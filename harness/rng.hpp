// Counter-based random numbers: value i of stream s under seed k is a pure function of (k, s, i),
// so inputs are identical on every backend and any element can be generated in parallel or alone.
#pragma once

#include <cstdint>
#include <string_view>

namespace dsbench {

// SplitMix64's finaliser: a bijective 64-bit mixer with full avalanche.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a, used to turn names (case ids, tensor names) into stream ids.
inline uint64_t hash_name(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

class CounterRng {
 public:
  CounterRng(uint64_t seed, uint64_t stream) : key_(mix64(seed ^ mix64(stream))) {}
  uint64_t bits(uint64_t i) const { return mix64(key_ + mix64(i)); }
  // Uniform in [lo, hi) with 24 random bits (exact in float).
  float uniform(uint64_t i, float lo, float hi) const {
    return lo + (hi - lo) * static_cast<float>(bits(i) >> 40) * (1.0f / 16777216.0f);
  }
  // Uniform integer in [lo, hi].
  int64_t integer(uint64_t i, int64_t lo, int64_t hi) const {
    return lo + static_cast<int64_t>(bits(i) % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  uint64_t key_;
};

}  // namespace dsbench
