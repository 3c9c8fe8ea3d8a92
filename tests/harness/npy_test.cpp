// .npy reader/writer: round trips for every dtype and shape kind, NumPy's exact layout, tolerant
// header parsing, and one test per defect the reader must name (file + what is wrong).
#include "harness/npy.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include "harness/error.hpp"

namespace dsbench::npy {
namespace {

namespace fs = std::filesystem;

const char* const kAllDescrs[] = {"|u1", "|i1", "<u2", "<i2", "<f2", "<i4",
                                  "<u4", "<f4", "<i8", "<u8", "<f8", "|b1"};

class Npy : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("dsbench_npy_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write_raw(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }

  // A .npy file as NumPy lays it out, from a header dict literal and raw data.
  std::string write_npy(const std::string& name, const std::string& dict, const std::string& data,
                        int major = 1) const {
    const size_t preamble = major == 1 ? 10 : 12;
    std::string header = dict;
    while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string bytes = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
    for (size_t i = 0; i < preamble - 8; ++i) bytes += static_cast<char>((header.size() >> (8 * i)) & 0xff);
    return write_raw(name, bytes + header + data);
  }

  // Reading `file` must throw a message naming the file and containing every fragment.
  static void expect_read_error(const std::string& file, std::initializer_list<const char*> fragments) {
    try {
      read(file);
      ADD_FAILURE() << "reading " << file << " did not throw";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(file + ": ", 0), 0u) << msg;
      for (const char* f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
    }
  }

  fs::path dir_;
};

Array make_array(const std::string& descr, std::vector<int64_t> shape) {
  Array a;
  a.descr = descr;
  a.shape = std::move(shape);
  a.data.resize(static_cast<size_t>(a.numel()) * a.itemsize());
  for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<uint8_t>(i * 31 + 7);
  return a;
}

TEST_F(Npy, EveryDescrRoundTripsForScalarVectorCubeAndEmptyShapes) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {2, 3, 4}, {3, 0, 2}};
  for (const char* descr : kAllDescrs) {
    for (const auto& shape : shapes) {
      const Array a = make_array(descr, shape);
      write(path("a.npy"), a);
      const Array b = read(path("a.npy"));
      EXPECT_EQ(b.descr, a.descr);
      EXPECT_EQ(b.shape, a.shape);
      EXPECT_EQ(b.data, a.data) << descr;
    }
  }
}

TEST_F(Npy, WritesVersion1WithAPaddedNewlineTerminatedHeaderAndAlignedData) {
  write(path("a.npy"), make_array("<f4", {3, 4}));
  std::ifstream in(path("a.npy"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(bytes[10 + header_len - 1], '\n');
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  EXPECT_EQ(bytes.size(), 10 + header_len + 48);
}

TEST_F(Npy, WritesOneTuplesAndScalarShapesAsPythonDoes) {
  write(path("v.npy"), make_array("<i8", {5}));
  write(path("s.npy"), make_array("<f8", {}));
  std::ifstream v(path("v.npy"), std::ios::binary), s(path("s.npy"), std::ios::binary);
  std::string vh, sh;
  std::getline(v, vh);
  std::getline(s, sh);
  EXPECT_NE(vh.find("'shape': (5,), }"), std::string::npos) << vh;
  EXPECT_NE(sh.find("'shape': (), }"), std::string::npos) << sh;
  EXPECT_EQ(make_array("<f8", {}).numel(), 1);
}

TEST_F(Npy, SwitchesToVersion2WhenTheHeaderOutgrows64KiB) {
  const Array a = make_array("<u2", std::vector<int64_t>(25000, 1));
  write(path("big.npy"), a);
  std::ifstream in(path("big.npy"), std::ios::binary);
  char pre[12];
  in.read(pre, 12);
  EXPECT_EQ(pre[6], 2);
  const Array b = read(path("big.npy"));
  EXPECT_EQ(b.shape, a.shape);
  EXPECT_EQ(b.data, a.data);
}

TEST_F(Npy, ReadsVersion2And3Files) {
  for (int major : {2, 3}) {
    const std::string file = write_npy("v.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
                                       std::string("\x01\0\0\0\xff\xff\xff\xff", 8), major);
    const Array a = read(file);
    EXPECT_EQ(a.descr, "<i4");
    EXPECT_EQ(a.shape, std::vector<int64_t>{2});
    EXPECT_EQ(a.data.size(), 8u);
  }
}

TEST_F(Npy, ParsesHeadersWrittenInAnyReasonableStyle) {
  const std::string data(24, '\x05');
  const char* const dicts[] = {
      "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,3)}",
      "  {  'descr' :'<f4' ,\n 'fortran_order':False,'shape':( 2 , 3 , ) , }  ",
      "{'descr': '=f4', 'fortran_order': False, 'shape': (2L, 3L), }",
  };
  for (const char* dict : dicts) {
    const Array a = read(write_npy("h.npy", dict, data));
    EXPECT_EQ(a.descr, "<f4") << dict;
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3})) << dict;
  }
  EXPECT_EQ(read(write_npy("u1.npy", "{'descr': '<u1', 'fortran_order': False, 'shape': ()}", "x")).descr,
            "|u1");
}

TEST_F(Npy, OverwritesInPlaceAndLeavesNoTempFileBehind) {
  write(path("a.npy"), make_array("<f4", {100}));
  write(path("a.npy"), make_array("|u1", {3}));
  EXPECT_EQ(read(path("a.npy")).descr, "|u1");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(NpyDescr, ItemsizesMatchNumpyAndUnsupportedDtypesThrow) {
  EXPECT_EQ(descr_itemsize("|u1"), 1u);
  EXPECT_EQ(descr_itemsize("|b1"), 1u);
  EXPECT_EQ(descr_itemsize("<f2"), 2u);
  EXPECT_EQ(descr_itemsize("<u4"), 4u);
  EXPECT_EQ(descr_itemsize("<f8"), 8u);
  EXPECT_EQ(descr_itemsize("=i8"), 8u);
  EXPECT_THROW(descr_itemsize("<c8"), Error);
  EXPECT_THROW(descr_itemsize("|O"), Error);
  EXPECT_THROW(descr_itemsize(">f4"), Error);
  EXPECT_THROW(descr_itemsize(""), Error);
}

// --- defects the reader must name ---

TEST_F(Npy, MissingFileIsReportedWithTheOsError) {
  expect_read_error(path("nope.npy"), {"cannot open", "No such file or directory"});
}

TEST_F(Npy, TruncatedDataSaysHowMuchTheHeaderPromisedAndHowMuchIsThere) {
  const std::string file = write_npy("t.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
                                     std::string(20, '\0'));
  expect_read_error(file, {"truncated: header says 48 bytes of data, file has 20"});
}

TEST_F(Npy, TruncatedHeaderAndPreambleAreReported) {
  std::string full = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + "{'descr': '<f4'";
  expect_read_error(write_raw("h.npy", full), {"truncated: header length is 118 bytes"});
  expect_read_error(write_raw("p.npy", full.substr(0, 9)), {"truncated", "preamble"});
  expect_read_error(write_raw("e.npy", ""), {"truncated: file is 0 bytes"});
}

TEST_F(Npy, BadMagicStringIsReported) {
  expect_read_error(write_raw("zip.npy", std::string("PK\x03\x04 not npy at all", 20)),
                    {"not a .npy file: bad magic string"});
}

TEST_F(Npy, UnsupportedFormatVersionIsReported) {
  expect_read_error(write_raw("v4.npy", std::string("\x93NUMPY\x04\x00\x00\x00\x00\x00", 12)),
                    {"unsupported .npy format version 4.0"});
  expect_read_error(write_raw("v11.npy", std::string("\x93NUMPY\x01\x01\x00\x00", 10)),
                    {"unsupported .npy format version 1.1"});
}

TEST_F(Npy, MalformedHeadersAreReportedWithTheDefect) {
  struct Case { const char* dict; const char* why; };
  const Case cases[] = {
      {"['descr', '<f4']", "expected a dict literal"},
      {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", "unexpected key 'x'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "duplicate key 'descr'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': ()}", "expected ',' or '}'"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': ()}", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': ()", "unexpected end"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (5)}", "'shape' must be a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "non-negative integers"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}", "expected an integer"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", "'fortran_order' must be True or False"},
      {"{'descr': '<f4', 'fortran_order': false, 'shape': ()}", "unknown name 'false'"},
      {"{'descr': 4, 'fortran_order': False, 'shape': ()}", "'descr' must be a string"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': ()} junk", "unexpected text after the dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "out of range"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", "too large"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.dict);
    expect_read_error(write_npy("m.npy", c.dict, ""), {"malformed header", c.why});
  }
  expect_read_error(write_npy("deep.npy", std::string(100, '('), ""), {"nesting too deep"});
}

TEST_F(Npy, BigEndianArraysAreRejected) {
  const std::string file = write_npy("be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
                                     std::string(4, '\0'));
  expect_read_error(file, {"big-endian arrays are not supported", "'>f4'"});
}

TEST_F(Npy, FortranOrderArraysAreRejected) {
  const std::string file = write_npy("f.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                     std::string(24, '\0'));
  expect_read_error(file, {"Fortran-order arrays are not supported"});
}

TEST_F(Npy, StructuredAndUnsupportedDtypesAreRejected) {
  expect_read_error(write_npy("s.npy", "{'descr': [('a', '<f4'), ('b', '<i4', (2,))], "
                                       "'fortran_order': False, 'shape': (1,), }",
                              std::string(12, '\0')),
                    {"structured dtypes are not supported"});
  expect_read_error(write_npy("c.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
                              std::string(8, '\0')),
                    {"unsupported dtype '<c8'"});
}

TEST_F(Npy, DataLongerThanTheShapeIsASizeMismatch) {
  const std::string file = write_npy("x.npy", "{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }",
                                     std::string(8, '\0'));
  expect_read_error(file, {"data size mismatch", "needs 6 bytes of data, file has 8"});
}

TEST_F(Npy, DirectoryIsNotAnArrayFile) {
  expect_read_error(dir_.string(), {"not a regular file"});
}

// --- writer errors ---

TEST_F(Npy, UnwritablePathNamesThePathAndTheOsError) {
  const std::string missing_dir = path("no/such/dir/a.npy");
  try {
    write(missing_dir, make_array("<f4", {2}));
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(missing_dir + ": cannot write", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
  write_raw("file", "x");
  const std::string under_file = path("file") + "/a.npy";
  try {
    write(under_file, make_array("<f4", {2}));
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Not a directory"), std::string::npos) << e.what();
  }
}

TEST_F(Npy, WriteRejectsDataThatDoesNotMatchTheShapeAndTouchesNothing) {
  Array a = make_array("<f4", {3, 4});
  a.data.resize(40);
  try {
    write(path("a.npy"), a);
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data is 40 bytes, but shape (3, 4) of '<f4' needs 48"),
              std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(Npy, WriteRejectsBigEndianDescrsAndNegativeShapes) {
  Array be = make_array("<f4", {2});
  be.descr = ">f4";
  EXPECT_THROW(write(path("a.npy"), be), Error);
  Array neg;
  neg.descr = "<f4";
  neg.shape = {-1};
  EXPECT_THROW(write(path("a.npy"), neg), Error);
  EXPECT_TRUE(fs::is_empty(dir_));
}

}  // namespace
}  // namespace dsbench::npy
