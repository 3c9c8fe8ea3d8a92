#include "harness/json_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "harness/error.hpp"

namespace dsbench {
namespace {

struct TooDeep {};

// nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while
// parsing value - invalid literal; last read: '<the file's bytes>'" without the id and the echo.
std::string syntax_reason(const std::string& what) {
  std::string s = what;
  if (const size_t close = s.find("] "); s.rfind("[json.exception.", 0) == 0 && close != std::string::npos)
    s = s.substr(close + 2);
  if (const size_t echo = s.find("; last read: "); echo != std::string::npos) s.resize(echo);
  return s;
}

}  // namespace

nlohmann::json parse_json_text(const std::string& text, const std::string& where) {
  const nlohmann::json::parser_callback_t guard = [](int depth, nlohmann::json::parse_event_t event,
                                                      nlohmann::json&) {
    if (depth > kMaxJsonDepth &&
        (event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start))
      throw TooDeep{};
    return true;
  };
  try {
    return nlohmann::json::parse(text, guard);
  } catch (const TooDeep&) {
    DSB_THROW(where + ": nested deeper than " + std::to_string(kMaxJsonDepth) +
              " levels of arrays and objects: refused (no dsbench file needs more than a few)");
  } catch (const nlohmann::json::parse_error& e) {
    const bool at_end = e.byte >= text.size();
    DSB_THROW(where + ": not valid JSON at byte " + std::to_string(e.byte) + " of " + std::to_string(text.size()) +
              (at_end ? " (the file ends early: truncated?)" : "") + ": " + syntax_reason(e.what()));
  } catch (const nlohmann::json::out_of_range& e) {
    DSB_THROW(where + ": a number is out of range (" + syntax_reason(e.what()) + ")");
  } catch (const nlohmann::json::exception& e) {
    DSB_THROW(where + ": not readable as JSON: " + syntax_reason(e.what()));
  }
}

std::string read_regular_file(const std::string& path, const std::string& where, uint64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) DSB_THROW(where + ": cannot be opened: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    DSB_THROW(where + (S_ISDIR(st.st_mode) ? ": is a folder, not a file" : ": not a regular file (a device, FIFO or socket): refused"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    DSB_THROW(where + ": " + std::to_string(st.st_size) + " bytes, over the limit of " + std::to_string(max_bytes) +
              " for this kind of file");
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      DSB_THROW(where + ": read failed: " + std::strerror(errno));
    }
    if (n == 0) break;  // shrank while read
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  ::close(fd);
  return text;
}

nlohmann::json read_json_file(const std::string& path, const std::string& where) {
  const std::string text = read_regular_file(path, where);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) DSB_THROW(where + ": the file is empty");
  return parse_json_text(text, where);
}

}  // namespace dsbench
