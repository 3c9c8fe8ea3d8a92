#include "harness/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "harness/error.hpp"

namespace dsbench {
namespace fs = std::filesystem;
namespace {

// Follows symbolic links (relative ones from their own folder) to the path that will be written;
// a dangling link yields its target, which is then created, as cp does.
fs::path resolve_links(const std::string& path, const std::string& what) {
  fs::path p(path);
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code ec;
    if (!fs::is_symlink(fs::symlink_status(p, ec))) return p;
    const fs::path to = fs::read_symlink(p, ec);
    if (ec) DSB_THROW(what + " " + path + ": cannot read the symbolic link: " + ec.message());
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
  DSB_THROW(what + " " + path + ": too many levels of symbolic links");
}

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const std::string& text, const std::string& where) {
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) DSB_THROW(where + ": write failed: " + (n < 0 ? errno_text() : "nothing written"));
    off += static_cast<size_t>(n);
  }
}

// A device, FIFO or socket: written in place, never replaced.
void write_in_place(const fs::path& p, const std::string& text, const std::string& where, const char* kind) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENXIO) DSB_THROW(where + ": " + kind + " has no reader: refusing to wait for one");
    DSB_THROW(where + ": cannot open the " + std::string(kind) + ": " + errno_text());
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  try {
    write_all(fd, text, where);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0 && errno != EINTR) DSB_THROW(where + ": close failed: " + errno_text());
}

const char* special_kind(const fs::file_status& st) {
  switch (st.type()) {
    case fs::file_type::character: return "a character device";
    case fs::file_type::block: return "a block device";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::socket: return "a socket";
    default: return nullptr;
  }
}

std::string unique_suffix() {
  return std::to_string(::getpid()) + "-" + std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
}

}  // namespace

void write_output_file(const std::string& path, const std::string& text, const std::string& what) {
  const fs::path p = resolve_links(path, what);
  const std::string where = what + " " + path + (p.string() == path ? "" : " (-> " + p.string() + ")");
  std::error_code ec;
  const fs::file_status st = fs::status(p, ec);
  if (fs::is_directory(st)) DSB_THROW(where + ": is a folder");
  if (const char* kind = special_kind(st)) return write_in_place(p, text, where, kind);

  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  const fs::path tmp = p.string() + ".tmp." + unique_suffix();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) DSB_THROW(where + ": cannot create " + tmp.string() + ": " + errno_text());
  auto give_up = [&](const std::string& why) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    DSB_THROW(where + ": " + why + " (the earlier file, if any, is unchanged)");
  };
  try {
    write_all(fd, text, "write");
  } catch (const std::exception& e) {
    ::close(fd);
    give_up(e.what());
  }
  // A full disk can show only here (delayed allocation on some file systems).
  if (::fsync(fd) != 0 && errno != EINVAL) {
    const std::string why = "fsync failed: " + errno_text();
    ::close(fd);
    give_up(why);
  }
  if (::close(fd) != 0) give_up("close failed: " + errno_text());
  fs::rename(tmp, p, ec);
  if (ec) give_up("rename into place failed: " + ec.message());
}

// A probe file, named per process and thread (the in-process ranks of --local-ranks probe one
// folder at once), created and removed; throws `why` when it cannot be created.
static void probe_folder(const fs::path& dir, const std::string& why) {
  const fs::path probe = dir / (".dsbench-write-probe-" + unique_suffix());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) DSB_THROW(why + ": " + errno_text());
  ::close(fd);
  std::error_code ec;
  fs::remove(probe, ec);
}

void check_output_path(const std::string& path, const std::string& what) {
  const fs::path p = resolve_links(path, what);
  std::error_code ec;
  const fs::file_status st = fs::status(p, ec);
  if (fs::is_directory(st)) DSB_THROW(what + " " + path + ": is a folder");
  if (const char* kind = special_kind(st)) {
    // Not opened: opening a FIFO and closing it would hand its reader an early end of file.
    if (::access(p.c_str(), W_OK) != 0) DSB_THROW(what + " " + path + ": " + kind + " that is not writable: " + errno_text());
    return;
  }
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  fs::create_directories(dir, ec);
  probe_folder(dir, what + " " + path + ": folder " + dir.string() + " is not writable");
}

void check_writable_folder(const std::string& dir, const std::string& what) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) DSB_THROW(what + " " + dir + ": cannot create the folder" + (ec ? ": " + ec.message() : ""));
  probe_folder(dir, what + " " + dir + ": folder is not writable");
}

}  // namespace dsbench
