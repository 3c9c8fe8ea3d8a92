// Reference values that travel (`dsbench run --reference-cache DIR`): a case's reference checks
// (positions and FP64-derived expected values) stored once, so that a host without the time for
// them (the lent GPU machine, docs/gpu_check.md) judges its kernels without computing a reference.
//
// Trust rule: an entry is used only when the inputs this run generated hash to what the entry was
// made from (a generator that gives other floats on another libm is caught), it was written by
// the same build, its identity (op, case, params, check policy, seeds) is this case's, and its
// content hash holds (a changed value, a changed hash or a truncated file is caught). Otherwise the
// reference is computed here, the entry rewritten, and the row says why.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/problem.hpp"
#include "harness/tensor.hpp"

namespace dsbench {

struct CaseSpec;

// Where a row's reference checks came from, recorded in the scorecard when a cache is in use.
enum class ReferenceSource { kNone, kComputed, kCache };
const char* reference_source_name(ReferenceSource s);  // "computed" | "cache" (JSON boundary)
ReferenceSource reference_source_from(const std::string& name);

struct ReferenceNote {
  ReferenceSource source = ReferenceSource::kNone;  // kNone: no cache asked for
  std::string detail;                               // why computed, or which entry was used
};

// What identifies a case's checks, apart from the inputs: everything reference() depends on.
struct ReferenceKey {
  std::string identity;     // canonical JSON of op, case id, params, seed, sample seed, verify policy
  std::string inputs_hash;  // XXH3-128 over every input tensor (name, dtype, shape, bytes), hex
  std::string build;        // the build that computes it (commit, dirty flag, version)
};

ReferenceKey reference_key(const std::string& op, const std::string& case_id, const nlohmann::json& params,
                           uint64_t seed, uint64_t sample_seed, const VerifyPolicy& policy,
                           const std::vector<TensorSpec>& specs, const TensorMap& inputs);
std::string this_build();  // the `build` this binary writes into its entries

class ReferenceCache {
 public:
  explicit ReferenceCache(std::string dir);

  // The entry's file for a key (in dir, named by the hash of the identity).
  std::string entry_path(const ReferenceKey& key) const;

  // Loads the checks for `key`; on any doubt returns false with why in *why (never throws for a bad
  // entry: a missing, foreign or tampered entry is a reason to recompute, not an error).
  bool load(const ReferenceKey& key, std::vector<OutputCheck>* checks, std::string* why) const;

  // Stores the checks (atomically: a temporary file renamed into place). Throws Error when the
  // folder cannot be written; checks whose comparison is a closure the problem cannot restore are
  // refused the same way (see Problem::restore_checks).
  void store(const ReferenceKey& key, const std::vector<OutputCheck>& checks) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// The reference checks of a prepared case: from `cache` when it holds a trusted entry, else computed
// by the problem (and stored when it can be). `cache` null: computed, note.source kNone.
std::vector<OutputCheck> reference_checks(const Problem& problem, const CaseSpec& c, const TensorMap& inputs,
                                          uint64_t seed, const VerifyPolicy& policy, const ReferenceCache* cache,
                                          ReferenceNote* note);

}  // namespace dsbench
