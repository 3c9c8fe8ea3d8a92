// Runs every case in DSB_SCHEMA_CASES_DIR through our validator and expects the case's "valid".
// json_schema_crosscheck.py holds Python's jsonschema to the same answers, so the two agree.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/json_schema.hpp"

#ifndef DSB_SCHEMA_CASES_DIR
#error "define DSB_SCHEMA_CASES_DIR as the path of tests/harness/schema_cases (a string literal)"
#endif

namespace dsbench::harness {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> case_files() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(DSB_SCHEMA_CASES_DIR, ec))
    if (entry.path().extension() == ".json") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

nlohmann::json load(const std::string& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

class SchemaCase : public ::testing::TestWithParam<std::string> {};

TEST_P(SchemaCase, VerdictMatchesTheCaseFile) {
  const nlohmann::json c = load(GetParam());
  ASSERT_TRUE(c.contains("schema") && c.contains("instance") && c.contains("valid") && c["valid"].is_boolean())
      << GetParam() << " must hold schema, instance and a boolean valid";
  const auto violations = validate_against_schema(c["schema"], c["instance"]);
  std::string found;
  for (const auto& v : violations) found += "\n  " + v.instance_path + ": " + v.message;
  EXPECT_EQ(violations.empty(), c["valid"].get<bool>())
      << GetParam() << " (" << c.value("note", std::string()) << ")" << found;
}

// Test names come from file names, which GoogleTest wants as identifiers.
std::string case_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  for (char& ch : name) if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(CaseFiles, SchemaCase, ::testing::ValuesIn(case_files()), case_name);

// An empty or misplaced directory would otherwise pass by running nothing.
TEST(SchemaCaseFiles, DirectoryHoldsEnoughCases) {
  EXPECT_GE(case_files().size(), 25u) << "cases directory: " << DSB_SCHEMA_CASES_DIR;
}

}  // namespace
}  // namespace dsbench::harness
