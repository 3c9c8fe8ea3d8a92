// Output files never replace what is not theirs (a device, a FIFO, a link's target is written, not
// swapped for a regular file), and a failed write leaves the earlier file intact and no temporary
// file behind. The devices are made with mknod in a temporary folder: the real /dev is never touched.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "harness/error.hpp"
#include "harness/output_file.hpp"
#include "harness/scorecard.hpp"

namespace dsbench {
namespace {
namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() /
                  ("dsbench_output_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                   "_" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;  // never throw from here (a folder a failed test left read-only)
    fs::remove_all(path, ec);
  }
};

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

size_t entries(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().find(".tmp.") == std::string::npos ? 1 : 1000;
  return n;  // a leftover temporary counts 1000
}

// A character device like /dev/null (1, 3) or /dev/full (1, 7), inside `dir`; skips without the right.
bool make_device(const fs::path& p, unsigned minor) {
  return ::mknod(p.c_str(), S_IFCHR | 0666, makedev(1, minor)) == 0;
}

TEST(OutputFile, ACharacterDeviceIsWrittenInPlaceNotReplaced) {
  TempDir t;
  const fs::path null_dev = t.path / "null";
  if (!make_device(null_dev, 3)) GTEST_SKIP() << "mknod needs CAP_MKNOD";
  for (int i = 0; i < 2; ++i) {
    write_output_file(null_dev.string(), "{\"x\": 1}\n", "--out");
    write_json_atomic(null_dev.string(), nlohmann::json{{"a", i}});
  }
  EXPECT_TRUE(fs::is_character_file(null_dev)) << "the device was replaced by a regular file";
  EXPECT_NO_THROW(check_output_path(null_dev.string(), "--out"));
  EXPECT_EQ(entries(t.path), 1u);
}

TEST(OutputFile, AFullDeviceGivesAClearErrorAndStaysADevice) {
  TempDir t;
  const fs::path full = t.path / "full";
  if (!make_device(full, 7)) GTEST_SKIP() << "mknod needs CAP_MKNOD";
  try {
    write_output_file(full.string(), std::string(100000, 'x'), "--junit");
    FAIL() << "a write to a full device succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--junit " + full.string() + ": write failed: No space left on device"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::is_character_file(full));
  EXPECT_EQ(entries(t.path), 1u);
}

TEST(OutputFile, AFifoWithAReaderGetsTheTextAndOneWithoutIsRefused) {
  TempDir t;
  const fs::path fifo = t.path / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  try {
    write_output_file(fifo.string(), "nobody reads", "--markdown");
    FAIL() << "a FIFO without a reader was waited on or written";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a FIFO has no reader: refusing to wait"), std::string::npos) << e.what();
  }
  std::string got;
  std::thread reader([&] {
    const int fd = ::open(fifo.c_str(), O_RDONLY);  // blocks until the writer opens
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    ::close(fd);
  });
  bool written = false;
  for (int i = 0; i < 200 && !written; ++i) {  // until the reader has opened its end
    try {
      write_output_file(fifo.string(), "hello fifo\n", "--markdown");
      written = true;
    } catch (const Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  reader.join();
  EXPECT_TRUE(written);
  EXPECT_EQ(got, "hello fifo\n");
  EXPECT_TRUE(fs::is_fifo(fifo));
}

TEST(OutputFile, ASymlinkIsFollowedToItsTargetAsCpDoes) {
  TempDir t;
  fs::create_directories(t.path / "real");
  const fs::path target = t.path / "real" / "card.json";
  std::ofstream(target) << "old";
  fs::create_symlink("real/card.json", t.path / "link.json");  // relative, from the link's folder
  write_output_file((t.path / "link.json").string(), "new\n", "--out");
  EXPECT_TRUE(fs::is_symlink(t.path / "link.json"));
  EXPECT_EQ(read(target), "new\n");
  // A dangling link: its target is created.
  fs::create_symlink(t.path / "real" / "fresh.json", t.path / "dangling.json");
  write_output_file((t.path / "dangling.json").string(), "made\n", "--out");
  EXPECT_TRUE(fs::is_symlink(t.path / "dangling.json"));
  EXPECT_EQ(read(t.path / "real" / "fresh.json"), "made\n");
  // A loop is an error, not a hang.
  fs::create_symlink(t.path / "loop_b", t.path / "loop_a");
  fs::create_symlink(t.path / "loop_a", t.path / "loop_b");
  EXPECT_THROW(write_output_file((t.path / "loop_a").string(), "x", "--out"), Error);
}

TEST(OutputFile, AFolderIsRefusedBeforeAndAtWriting) {
  TempDir t;
  EXPECT_THROW(check_output_path(t.path.string(), "--out"), Error);
  EXPECT_THROW(write_output_file(t.path.string(), "x", "--out"), Error);
}

TEST(OutputFile, ARegularFileIsReplacedWholeAndAFailedWriteKeepsTheEarlierOne) {
  TempDir t;
  const fs::path card = t.path / "card.json";
  write_output_file(card.string(), "first\n", "--out");
  write_output_file(card.string(), "second\n", "--out");
  EXPECT_EQ(read(card), "second\n");
  EXPECT_EQ(entries(t.path), 1u);
  // A disk that fills during the write: RLIMIT_FSIZE in a child makes the write fail part way.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit lim{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      write_output_file(card.string(), std::string(1 << 20, 'z'), "--out");
      ::_exit(3);
    } catch (const Error& e) {
      ::_exit(std::string(e.what()).find("the earlier file, if any, is unchanged") != std::string::npos ? 0 : 4);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: the oversized write succeeded; 4: the message does not say the file is kept";
  EXPECT_EQ(read(card), "second\n");
  EXPECT_EQ(entries(t.path), 1u) << "a temporary file was left behind";
}

// Read-only even for root: the immutable attribute (chattr +i); without the capability, mode 0555
// serves where permissions are enforced (not for root).
bool make_read_only(const fs::path& dir, bool on) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok) {
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  ::close(fd);
  if (!ok && ::geteuid() != 0) ok = ::chmod(dir.c_str(), on ? 0555 : 0755) == 0;
  return ok;
}

TEST(OutputFile, AReadOnlyFolderGivesAClearErrorAndKeepsTheEarlierFile) {
  TempDir t;
  const fs::path card = t.path / "card.json";
  write_output_file(card.string(), "earlier\n", "--out");
  if (!make_read_only(t.path, true)) GTEST_SKIP() << "cannot make a folder read-only here";
  std::string check_msg, write_msg;
  try {
    check_output_path(card.string(), "--out");
  } catch (const std::exception& e) {
    check_msg = e.what();
  }
  try {
    write_output_file(card.string(), "later\n", "--out");
  } catch (const std::exception& e) {
    write_msg = e.what();
  }
  make_read_only(t.path, false);  // before any assertion, so the folder can always be removed
  EXPECT_NE(check_msg.find("is not writable"), std::string::npos) << check_msg;
  EXPECT_NE(write_msg.find("--out " + card.string() + ": cannot create"), std::string::npos) << write_msg;
  EXPECT_EQ(read(card), "earlier\n");
  EXPECT_EQ(entries(t.path), 1u);
}

TEST(OutputFile, AFolderRemovedDuringTheRunIsMadeAgain) {
  TempDir t;
  const fs::path card = t.path / "sub" / "card.json";
  check_output_path(card.string(), "--out");
  fs::remove_all(t.path / "sub");
  write_output_file(card.string(), "kept\n", "--out");
  EXPECT_EQ(read(card), "kept\n");
}

}  // namespace
}  // namespace dsbench
