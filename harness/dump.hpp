// Dump and replay of a case (docs/dump_format.md): a folder with case.json (op, params, tolerances,
// kernel, seed, tensor table) and one .npy per tensor named by the op's argument names. FP8/BF16 are
// stored as raw bits (|u1, <u2), their logical dtype in case.json. Vendors send each other these.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/kernel.hpp"
#include "harness/problem.hpp"
#include "harness/suite.hpp"

namespace dsbench {

// Writes DIR/<case id>__<kernel>/ ('/', ' ', '\\' and ':' become '_') and returns that folder. outputs/checks may be null
// (the kernel did not run / was not verified). The reference output `<name>_ref` holds the
// reference value at every checked position and the poison pattern (NaN) elsewhere.
std::string dump_case(const std::string& dir, const CaseSpec& c, uint64_t seed, const Kernel& kernel,
                      const Problem& problem, const std::map<std::string, Tolerance>& tolerances,
                      const VerifyPolicy& policy,
                      const TensorMap& inputs, const TensorMap* outputs, const std::vector<OutputCheck>* checks);

// Writes tensors as .npy files named <name><suffix>.npy into dir; returns their table for case.json.
nlohmann::json write_tensors(const std::string& dir, const TensorMap& tensors, const std::string& role,
                             const std::string& suffix = "");

// Writes the reference values of checks as tensors shaped like the outputs (poison where unchecked).
nlohmann::json write_reference(const std::string& dir, const Problem& problem, const std::vector<OutputCheck>& checks);

struct DumpedCase {
  std::string dir;
  nlohmann::json meta;        // case.json
  std::string op, case_id, kernel;
  uint64_t seed = 0;
};

// Reads and checks case.json (throws Error naming the file and field).
DumpedCase read_case_json(const std::string& dir);

// Reads every input tensor the problem expects from dir; throws Error naming the file for a missing
// or truncated file, a dtype or a shape mismatch.
// `table`: case.json's "tensors" object; each input's entry (role, dtype, shape, file) must agree
// with the op and its file, else Error naming the entry. Null: the files alone are checked.
TensorMap read_inputs(const std::string& dir, const Problem& problem, const nlohmann::json* table = nullptr);

// .npy dtype string that stores a dtype's raw bits ("|u1" for FP8, "<u2" for BF16, "<f4", ...).
std::string npy_descr_for(dsb_dtype t);

}  // namespace dsbench
