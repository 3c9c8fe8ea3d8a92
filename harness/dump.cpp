#include "harness/dump.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/build_id.hpp"
#include "harness/error.hpp"
#include "harness/json_file.hpp"
#include "harness/npy.hpp"
#include "harness/output_file.hpp"
#include "harness/rng.hpp"

namespace dsbench {
namespace fs = std::filesystem;

namespace {

// Readable, and unique: ids that sanitise alike (g/x, g_x, g:x) differ in the hash of the raw id.
std::string folder_name(const std::string& case_id, const std::string& kernel) {
  std::string s = case_id + "__" + kernel;
  for (char& ch : s)
    if (ch == '/' || ch == ' ' || ch == '\\' || ch == ':' || static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '_';
  char tag[16];
  std::snprintf(tag, sizeof tag, "-%08x", static_cast<unsigned>(hash_name(case_id + '\0' + kernel) & 0xffffffffu));
  return s + tag;
}

nlohmann::json tolerance_json(const std::map<std::string, Tolerance>& tol) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, t] : tol)
    j[name] = {{"abs", t.abs}, {"abs_rms", t.abs_rms}, {"rel", t.rel}, {"cos_diff", t.cos_diff}};
  return j;
}

}  // namespace

std::string npy_descr_for(dsb_dtype t) {
  switch (t) {
    case DSB_DTYPE_F32: return "<f4";
    case DSB_DTYPE_BF16: return "<u2";
    case DSB_DTYPE_F16: return "<f2";
    case DSB_DTYPE_I32: return "<i4";
    case DSB_DTYPE_I64: return "<i8";
    case DSB_DTYPE_E4M3FN: case DSB_DTYPE_E5M2: case DSB_DTYPE_E4M3FNUZ: case DSB_DTYPE_E5M2FNUZ:
    case DSB_DTYPE_UE8M0: return "|u1";
    default: DSB_THROW(std::string("no .npy storage for dtype ") + dsb_dtype_name(t));
  }
}

nlohmann::json write_tensors(const std::string& dir, const TensorMap& tensors, const std::string& role,
                             const std::string& suffix) {
  nlohmann::json table = nlohmann::json::object();
  for (const auto& [name, t] : tensors) {
    npy::Array a;
    a.descr = npy_descr_for(t.spec.dtype);
    a.shape = t.spec.shape;
    a.data = t.data;
    const std::string file = name + suffix + ".npy";
    npy::write((fs::path(dir) / file).string(), a);
    table[name + suffix] = {{"role", role}, {"dtype", dsb_dtype_name(t.spec.dtype)}, {"shape", t.spec.shape}, {"file", file}};
  }
  return table;
}

nlohmann::json write_reference(const std::string& dir, const Problem& problem, const std::vector<OutputCheck>& checks) {
  TensorMap refs;
  nlohmann::json info = nlohmann::json::object();
  for (const OutputCheck& c : checks) {
    for (const TensorSpec& s : problem.outputs()) {
      if (s.name != c.output) continue;
      HostTensor h(s);
      std::fill(h.data.begin(), h.data.end(), uint8_t{0xff});
      for (size_t i = 0; i < c.index.size(); ++i) store_from_double(h.data.data(), s.dtype, c.index[i], c.expected[i]);
      refs[s.name] = std::move(h);
    }
    info[c.output] = {{"verification", c.sampled ? "sampled" : "full"}, {"rule", c.rule},
                      {"checked", c.index.size()}, {"total", c.total}};
  }
  nlohmann::json table = write_tensors(dir, refs, "reference", "_ref");
  return {{"tensors", table}, {"reference", info}};
}

std::string dump_case(const std::string& dir, const CaseSpec& c, uint64_t seed, const Kernel& kernel,
                      const Problem& problem, const std::map<std::string, Tolerance>& tolerances,
                      const VerifyPolicy& policy,
                      const TensorMap& inputs, const TensorMap* outputs, const std::vector<OutputCheck>* checks) {
  const fs::path folder = fs::path(dir) / folder_name(c.id, kernel.id());
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) DSB_THROW(folder.string() + ": cannot create folder: " + ec.message());
  nlohmann::json meta = {
      {"format", "dsbench-dump/1"}, {"case_id", c.id}, {"op", c.op}, {"params", c.params},
      {"seed", seed}, {"kernel", kernel.id()}, {"tolerance", tolerance_json(tolerances)},
      {"verification", {{"full_max_macs", policy.full_max_macs}, {"sample_rows", policy.sample_rows},
                        {"sample_cols", policy.sample_cols}, {"force_full", policy.force_full}}},
      {"dsbench", {{"version", build_id().version}, {"git_commit", build_id().git_commit}}}};
  nlohmann::json tensors = write_tensors(folder.string(), inputs, "input");
  if (outputs) tensors.update(write_tensors(folder.string(), *outputs, "output"));
  if (checks) {
    nlohmann::json ref = write_reference(folder.string(), problem, *checks);
    tensors.update(ref["tensors"]);
    meta["reference"] = ref["reference"];
  }
  meta["tensors"] = tensors;
  write_output_file((folder / "case.json").string(), meta.dump(2) + "\n", "dump");
  return folder.string();
}

DumpedCase read_case_json(const std::string& dir) {
  const fs::path path = fs::path(dir) / "case.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) DSB_THROW(path.string() + ": cannot be opened (is " + dir + " a dump folder?)");
  DumpedCase d;
  d.dir = dir;
  d.meta = read_json_file(path.string(), path.string());
  auto field = [&](const char* key, bool (nlohmann::json::*is)() const noexcept, const char* what) -> const nlohmann::json& {
    if (!d.meta.contains(key) || !(d.meta.at(key).*is)()) DSB_THROW(path.string() + ": field \"" + key + "\": missing or not " + what);
    return d.meta.at(key);
  };
  d.op = field("op", &nlohmann::json::is_string, "a string").get<std::string>();
  d.case_id = field("case_id", &nlohmann::json::is_string, "a string").get<std::string>();
  d.kernel = field("kernel", &nlohmann::json::is_string, "a string").get<std::string>();
  d.seed = field("seed", &nlohmann::json::is_number_unsigned, "an unsigned integer").get<uint64_t>();
  field("params", &nlohmann::json::is_object, "an object");
  field("tensors", &nlohmann::json::is_object, "an object");
  return d;
}

TensorMap read_inputs(const std::string& dir, const Problem& problem, const nlohmann::json* table) {
  TensorMap t;
  const std::string cj = (fs::path(dir) / "case.json").string();
  for (const TensorSpec& s : problem.inputs()) {
    if (table != nullptr) {
      // What case.json says of the tensor must be what the op and the file hold: an edited entry is
      // an error naming it, never silently ignored.
      const std::string at = cj + ": tensors." + s.name;
      if (!table->contains(s.name) || !table->at(s.name).is_object()) DSB_THROW(at + ": missing (the op needs this input)");
      const nlohmann::json& e = table->at(s.name);
      auto text = [&](const char* key) {
        if (!e.contains(key) || !e.at(key).is_string()) DSB_THROW(at + "." + key + ": missing or not a string");
        return e.at(key).get<std::string>();
      };
      if (text("role") != "input") DSB_THROW(at + ".role: \"" + text("role") + "\", expected \"input\"");
      if (text("dtype") != dsb_dtype_name(s.dtype))
        DSB_THROW(at + ".dtype: \"" + text("dtype") + "\", but the op with these params takes " + dsb_dtype_name(s.dtype));
      if (text("file") != s.name + ".npy")
        DSB_THROW(at + ".file: \"" + text("file") + "\", expected \"" + s.name + ".npy\" (inputs are read from their own file)");
      if (!e.contains("shape") || e.at("shape") != nlohmann::json(s.shape))
        DSB_THROW(at + ".shape: " + (e.contains("shape") ? e.at("shape").dump() : std::string("missing")) +
                  ", but the params give " + shape_string(s.shape));
    }
    const fs::path file = fs::path(dir) / (s.name + ".npy");
    if (!fs::exists(file)) DSB_THROW(file.string() + ": missing input tensor '" + s.name + "'");
    npy::Array a = npy::read(file.string());
    const std::string want = npy_descr_for(s.dtype);
    if (a.descr != want)
      DSB_THROW(file.string() + ": dtype mismatch: file has " + a.descr + ", tensor '" + s.name + "' (" +
                dsb_dtype_name(s.dtype) + ") is stored as " + want);
    if (a.shape != s.shape)
      DSB_THROW(file.string() + ": shape mismatch: file has " + shape_string(a.shape) + ", params give " +
                shape_string(s.shape));
    HostTensor h(s);
    h.data = std::move(a.data);
    t.emplace(s.name, std::move(h));
  }
  return t;
}

}  // namespace dsbench
