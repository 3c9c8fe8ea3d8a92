#include "harness/report/text_file.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness/error.hpp"

namespace dsbench::report {
namespace fs = std::filesystem;

void write_text_atomic(const std::string& path, const std::string& text, const std::string& what) {
  const fs::path p(path);
  if (fs::is_directory(p)) DSB_THROW(what + " " + path + ": is a folder");
  std::error_code ec;
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  const fs::path tmp = p.string() + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) DSB_THROW(what + " " + path + ": cannot create " + tmp.string());
    f << text;
    if (!f.flush()) DSB_THROW(what + " " + path + ": write failed");
  }
  fs::rename(tmp, p, ec);
  if (ec) {
    fs::remove(tmp, ec);
    DSB_THROW(what + " " + path + ": rename failed: " + ec.message());
  }
}

}  // namespace dsbench::report
