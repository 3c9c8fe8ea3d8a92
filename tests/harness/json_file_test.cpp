// Hostile JSON inputs get a message naming the file, never a crash or an unbounded read.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "harness/error.hpp"
#include "harness/json_file.hpp"
#include "harness/json_schema.hpp"

namespace dsbench {
namespace {
namespace fs = std::filesystem;

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonFile, NestingPastTheLimitIsRefusedWithoutRecursing) {
  for (int depth : {kMaxJsonDepth + 2, 100000}) {
    const std::string m = message_of([&] { parse_json_text(nested(depth), "suite file x.json"); });
    EXPECT_NE(m.find("suite file x.json: nested deeper than 256 levels"), std::string::npos) << m;
  }
  // Inside an object too (a case's params).
  const std::string in_params = "{\"cases\": [{\"params\": " + nested(100000) + "}]}";
  EXPECT_NE(message_of([&] { parse_json_text(in_params, "s"); }).find("nested deeper"), std::string::npos);
  EXPECT_NO_THROW(parse_json_text(nested(kMaxJsonDepth), "ok"));
}

TEST(JsonFile, ANumberOutOfRangeIsNamedWithTheFile) {
  const std::string m = message_of([] { parse_json_text("{\"m\": 1e400}", "suite file big.json"); });
  EXPECT_NE(m.find("suite file big.json: a number is out of range"), std::string::npos) << m;
  EXPECT_EQ(m.find("[json.exception"), std::string::npos) << m;
}

TEST(JsonFile, ASyntaxErrorSaysWhereWithoutEchoingTheFile) {
  const std::string m = message_of([] { parse_json_text("{\"a\": SECRETTOKEN}", "params.matrix_file \"m.json\""); });
  EXPECT_NE(m.find("params.matrix_file \"m.json\": not valid JSON at byte"), std::string::npos) << m;
  EXPECT_EQ(m.find("SECRETTOKEN"), std::string::npos) << m;
  const std::string t = message_of([] { parse_json_text("{\"a\": [1, 2", "f"); });
  EXPECT_NE(t.find("truncated?"), std::string::npos) << t;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("dsbench_json_" + std::to_string(::getpid()) + "_" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

TEST(JsonFile, OnlyRegularFilesAreReadAndTheirSizeIsBounded) {
  TempDir t;
  const fs::path fifo = t.path / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(message_of([&] { read_json_file(fifo.string(), "suite file fifo"); }).find("not a regular file"),
            std::string::npos);  // and it returned: no wait for a writer
  const fs::path zero = t.path / "zero";
  if (::mknod(zero.c_str(), S_IFCHR | 0666, makedev(1, 5)) == 0) {  // like /dev/zero, made here
    EXPECT_NE(message_of([&] { read_json_file(zero.string(), "suite file zero"); }).find("not a regular file"),
              std::string::npos);
  }
  EXPECT_NE(message_of([&] { read_json_file(t.path.string(), "suite file dir"); }).find("is a folder"), std::string::npos);
  const fs::path big = t.path / "big.json";
  std::ofstream(big) << "[" << std::string(5000, ' ') << "]";
  EXPECT_NE(message_of([&] { read_regular_file(big.string(), "case.json", 1000); }).find("over the limit of 1000"),
            std::string::npos);
  const fs::path empty = t.path / "empty.json";
  std::ofstream(empty) << "  \n";
  EXPECT_NE(message_of([&] { read_json_file(empty.string(), "scorecard e"); }).find("the file is empty"), std::string::npos);
  EXPECT_NE(message_of([&] { read_json_file((t.path / "absent").string(), "suite file a"); }).find("cannot be opened"),
            std::string::npos);
}

TEST(JsonSchema, AHugeStringAgainstAPatternIsAViolationNotAStackOverflow) {
  const nlohmann::json schema = {{"type", "object"},
                                 {"properties", {{"v", {{"type", "string"}, {"pattern", "^1\\.[0-9]+\\.[0-9]+$"}}}}},
                                 {"patternProperties", {{"^x_[a-z]+$", {{"type", "integer"}}}}}};
  const nlohmann::json doc = {{"v", std::string(30000, '1')}, {"x_" + std::string(30000, 'a'), "not checked"}};
  const auto violations = harness::validate_against_schema(schema, doc);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_NE(violations[0].message.find("a string of 30000 bytes, longer than the 4096"), std::string::npos)
      << violations[0].message;
}

}  // namespace
}  // namespace dsbench
