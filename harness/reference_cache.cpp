#include "harness/reference_cache.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>

#define XXH_INLINE_ALL  // header-only: the bundle for the GPU machine carries no extra library
#include <xxhash.h>

#include "harness/build_id.hpp"
#include "harness/error.hpp"
#include "harness/json_file.hpp"
#include "harness/output_file.hpp"
#include "harness/runner.hpp"
#include "harness/suite.hpp"

namespace dsbench {
namespace fs = std::filesystem;

namespace {

// File layout: magic (8 bytes), header length (u64 LE), header (JSON text), payload, XXH3-128 of
// everything before it (16 bytes). The hash covers the header, so an edited hash, value, key or count
// is caught, and the lengths catch a truncated file before any of it is read as numbers.
// Payload, per check: the flat indices as zigzag deltas in LEB128 (positions run mostly in order:
// about a byte each), then the expected values as float32 where every one of them converts to float32
// and back unchanged (outputs are BF16/FP32), else as float64. The bundle for the GPU machine has a
// size limit (docs/gpu_check.md); both encodings are exact.
constexpr char kMagic[8] = {'D', 'S', 'B', 'R', 'E', 'F', '0', '1'};
constexpr size_t kHashBytes = 16;
constexpr uint64_t kMaxHeaderBytes = 64ull << 20;

std::string hex128(const XXH128_hash_t& h) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
void put_hash(std::string& s, const XXH128_hash_t& h) {
  put_u64(s, h.low64);
  put_u64(s, h.high64);
}

void put_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}

// Reads one LEB128 value from [*p, end); false when it runs past end or over 64 bits.
bool get_varint(const char** p, const char* end, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    const auto b = static_cast<unsigned char>(*(*p)++);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

std::string encode_indices(const std::vector<int64_t>& index) {
  std::string out;
  int64_t prev = 0;
  for (int64_t i : index) {
    const int64_t d = static_cast<int64_t>(static_cast<uint64_t>(i) - static_cast<uint64_t>(prev));
    put_varint(out, (static_cast<uint64_t>(d) << 1) ^ static_cast<uint64_t>(d >> 63));  // zigzag
    prev = i;
  }
  return out;
}

bool decode_indices(const char* p, const char* end, size_t n, std::vector<int64_t>* index) {
  index->resize(n);
  int64_t prev = 0;
  for (size_t k = 0; k < n; ++k) {
    uint64_t z = 0;
    if (!get_varint(&p, end, &z)) return false;
    const int64_t d = static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
    prev = static_cast<int64_t>(static_cast<uint64_t>(prev) + static_cast<uint64_t>(d));
    (*index)[k] = prev;
  }
  return p == end;
}

bool fits_float32(const std::vector<double>& v) {
  for (double x : v) {
    if (std::isnan(x)) continue;
    const double back = static_cast<double>(static_cast<float>(x));
    if (std::memcmp(&back, &x, sizeof x) != 0) return false;  // also keeps -0.0 apart from 0.0
  }
  return true;
}

bool has_custom(const std::vector<OutputCheck>& checks) {
  for (const OutputCheck& c : checks)
    if (c.custom) return true;
  return false;
}

}  // namespace

const char* reference_source_name(ReferenceSource s) {
  switch (s) {
    case ReferenceSource::kCache: return "cache";
    case ReferenceSource::kComputed: return "computed";
    case ReferenceSource::kNone: break;
  }
  return "none";
}

ReferenceSource reference_source_from(const std::string& name) {
  if (name == "cache") return ReferenceSource::kCache;
  if (name == "computed") return ReferenceSource::kComputed;
  DSB_THROW("reference.source: \"" + name + "\" is not cache or computed");
}

std::string this_build() {
  const BuildId& b = build_id();
  return std::string("dsbench ") + b.version + " " + b.git_commit + (b.git_dirty ? "+dirty" : "");
}

ReferenceKey reference_key(const std::string& op, const std::string& case_id, const nlohmann::json& params,
                           uint64_t seed, uint64_t sample_seed, const VerifyPolicy& policy,
                           const std::vector<TensorSpec>& specs, const TensorMap& inputs) {
  ReferenceKey k;
  // nlohmann's objects are ordered maps: dump() is canonical for equal params.
  k.identity = nlohmann::json{{"op", op},
                              {"case_id", case_id},
                              {"params", params},
                              {"seed", seed},
                              {"sample_seed", sample_seed},
                              {"verify",
                               {{"full_max_macs", policy.full_max_macs},
                                {"sample_rows", policy.sample_rows},
                                {"sample_cols", policy.sample_cols},
                                {"force_full", policy.force_full}}}}
                   .dump();
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  for (const TensorSpec& s : specs) {
    const HostTensor& t = inputs.at(s.name);
    const std::string head = s.name + ":" + dsb_dtype_name(s.dtype) + ":" + shape_string(s.shape) + ":";
    XXH3_128bits_update(st, head.data(), head.size());
    XXH3_128bits_update(st, t.data.data(), t.data.size());
  }
  k.inputs_hash = hex128(XXH3_128bits_digest(st));
  XXH3_freeState(st);
  k.build = this_build();
  return k;
}

ReferenceCache::ReferenceCache(std::string dir) : dir_(std::move(dir)) {}

std::string ReferenceCache::entry_path(const ReferenceKey& key) const {
  return (fs::path(dir_) / (hex128(XXH3_128bits(key.identity.data(), key.identity.size())) + ".dsref")).string();
}

bool ReferenceCache::load(const ReferenceKey& key, std::vector<OutputCheck>* checks, std::string* why) const {
  const std::string path = entry_path(key);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    *why = "no cache entry for this case (" + fs::path(path).filename().string() + ")";
    return false;
  }
  if (!fs::is_regular_file(path, ec)) {
    *why = "cache entry " + path + " is not a regular file";
    return false;
  }
  std::string bytes;
  try {
    bytes = read_regular_file(path, "cache entry " + path);
  } catch (const std::exception& e) {
    *why = e.what();
    return false;
  }
  const std::string bad = "cache entry " + fs::path(path).filename().string() + " rejected: ";
  if (bytes.size() < sizeof kMagic + 8 + kHashBytes || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    *why = bad + "not a dsbench reference entry, or truncated (" + std::to_string(bytes.size()) + " bytes)";
    return false;
  }
  const uint64_t header_len = get_u64(bytes.data() + sizeof kMagic);
  const size_t header_at = sizeof kMagic + 8;
  if (header_len > kMaxHeaderBytes || header_at + header_len + kHashBytes > bytes.size()) {
    *why = bad + "truncated (the header says " + std::to_string(header_len) + " bytes, the file has " +
           std::to_string(bytes.size()) + ")";
    return false;
  }
  const size_t body = bytes.size() - kHashBytes;
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), body);
  if (get_u64(bytes.data() + body) != h.low64 || get_u64(bytes.data() + body + 8) != h.high64) {
    *why = bad + "its content hash does not match its content (edited, truncated or corrupted)";
    return false;
  }
  nlohmann::json head;
  try {
    head = nlohmann::json::parse(bytes.substr(header_at, header_len));
    if (head.at("identity").get<std::string>() != key.identity) {
      *why = bad + "it was made for another case or check policy";
      return false;
    }
    if (head.at("build").get<std::string>() != key.build) {
      *why = "cache entry from another build (" + head.at("build").get<std::string>() + "; this is " + key.build +
             "): the reference code may differ, so it was recomputed";
      return false;
    }
    if (head.at("inputs_hash").get<std::string>() != key.inputs_hash) {
      *why = "the inputs generated here hash to " + key.inputs_hash + ", the cache entry was made from " +
             head.at("inputs_hash").get<std::string>() +
             " (a generator or libm that gives other floats on this host?): recomputed";
      return false;
    }
    std::vector<OutputCheck> out;
    size_t at = header_at + header_len;
    for (const nlohmann::json& c : head.at("checks")) {
      OutputCheck oc;
      oc.output = c.at("output");
      oc.sampled = c.at("sampled");
      oc.rule = c.at("rule");
      oc.total = c.at("total");
      const uint64_t n = c.at("count"), index_bytes = c.at("index_bytes");
      const bool f32 = c.at("values").get<std::string>() == "f32";
      const uint64_t value_bytes = n * (f32 ? 4 : 8);
      if (n > body || index_bytes > body - at || value_bytes > body - at - index_bytes) {
        *why = bad + "output " + oc.output + " claims " + std::to_string(n) + " values past the end of the file";
        return false;
      }
      if (!decode_indices(bytes.data() + at, bytes.data() + at + index_bytes, n, &oc.index)) {
        *why = bad + "output " + oc.output + ": the positions do not decode";
        return false;
      }
      at += index_bytes;
      oc.expected.resize(n);
      if (f32) {
        for (uint64_t i = 0; i < n; ++i) {
          float x;
          std::memcpy(&x, bytes.data() + at + 4 * i, 4);
          oc.expected[i] = x;
        }
      } else {
        std::memcpy(oc.expected.data(), bytes.data() + at, n * 8);
      }
      at += value_bytes;
      out.push_back(std::move(oc));
    }
    if (at != body) {
      *why = bad + std::to_string(body - at) + " bytes after the last output";
      return false;
    }
    *checks = std::move(out);
  } catch (const std::exception& e) {
    *why = bad + "unreadable header: " + e.what();
    return false;
  }
  *why = "cache entry " + fs::path(path).filename().string() + " (inputs " + key.inputs_hash.substr(0, 12) + "...)";
  return true;
}

void ReferenceCache::store(const ReferenceKey& key, const std::vector<OutputCheck>& checks) const {
  nlohmann::json cs = nlohmann::json::array();
  std::string payload;
  for (const OutputCheck& c : checks) {
    if (c.index.size() != c.expected.size()) DSB_THROW("reference cache: output " + c.output + ": index/expected sizes differ");
    const std::string idx = encode_indices(c.index);
    const bool f32 = fits_float32(c.expected);
    cs.push_back({{"output", c.output}, {"sampled", c.sampled}, {"rule", c.rule}, {"total", c.total},
                  {"count", c.index.size()}, {"index_bytes", idx.size()}, {"values", f32 ? "f32" : "f64"}});
    payload += idx;
    if (f32) {
      for (double x : c.expected) {
        const float f = static_cast<float>(x);
        payload.append(reinterpret_cast<const char*>(&f), 4);
      }
    } else {
      payload.append(reinterpret_cast<const char*>(c.expected.data()), 8 * c.expected.size());
    }
  }
  const std::string header =
      nlohmann::json{{"identity", key.identity}, {"inputs_hash", key.inputs_hash}, {"build", key.build}, {"checks", cs}}
          .dump();
  std::string bytes(kMagic, sizeof kMagic);
  bytes.reserve(sizeof kMagic + 8 + header.size() + payload.size() + kHashBytes);
  put_u64(bytes, header.size());
  bytes += header;
  bytes += payload;
  put_hash(bytes, XXH3_128bits(bytes.data(), bytes.size()));

  // Atomic (a temporary renamed into place): isolated workers and later runs never read half an entry.
  write_output_file(entry_path(key), bytes, "--reference-cache");
}

std::vector<OutputCheck> reference_checks(const Problem& problem, const CaseSpec& c, const TensorMap& inputs,
                                          uint64_t seed, const VerifyPolicy& policy, const ReferenceCache* cache,
                                          ReferenceNote* note) {
  const uint64_t ss = sample_seed(seed);
  if (cache == nullptr) {
    note->source = ReferenceSource::kNone;
    return problem.reference(inputs, policy, ss);
  }
  const ReferenceKey key = reference_key(c.op, c.id, c.params, seed, ss, policy, problem.inputs(), inputs);
  std::vector<OutputCheck> checks;
  std::string why;
  if (cache->load(key, &checks, &why)) {
    problem.restore_checks(checks);
    note->source = ReferenceSource::kCache;
    note->detail = why;
    return checks;
  }
  checks = problem.reference(inputs, policy, ss);
  note->source = ReferenceSource::kComputed;
  note->detail = why;
  if (has_custom(checks) && !problem.custom_checks_restorable()) {
    note->detail += "; not stored: this op's checks keep state beyond reference values (computed on every run)";
    return checks;
  }
  try {
    cache->store(key, checks);
    note->detail += "; stored";
  } catch (const std::exception& e) {
    note->detail += std::string("; not stored: ") + e.what();
  }
  return checks;
}

}  // namespace dsbench
