// NumPy .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// "\x93NUMPY", major, minor, header length (u16 for 1.0, u32 for 2.0/3.0), a Python dict literal
// padded with spaces to a 64-byte boundary and ended by '\n', then the raw C-order data.
#include "harness/npy.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "harness/error.hpp"

// Data is copied byte for byte and called little-endian; a big-endian host would need swaps.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy.cpp assumes a little-endian host");

namespace dsbench::npy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;  // NumPy >= 1.14 aligns data to 64 bytes; older files used 16
constexpr int kMaxDepth = 32;  // nesting limit, so a hostile header cannot overflow the stack

struct DtypeInfo { const char* code; size_t size; };
constexpr DtypeInfo kDtypes[] = {{"u1", 1}, {"i1", 1}, {"b1", 1}, {"u2", 2}, {"i2", 2}, {"f2", 2},
                                 {"u4", 4}, {"i4", 4}, {"f4", 4}, {"u8", 8}, {"i8", 8}, {"f8", 8}};

// Canonical descr ('|' for one-byte types, '<' otherwise) and its item size; `where` prefixes errors.
std::string canonical_descr(const std::string& descr, const std::string& where, size_t* size) {
  if (!descr.empty() && descr[0] == '>')
    DSB_THROW(where + "big-endian arrays are not supported (descr '" + descr +
              "'); convert first with a.astype(a.dtype.newbyteorder('<'))");
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '|' || descr[0] == '=')) {
    for (const auto& d : kDtypes) {
      if (descr.compare(1, 2, d.code) != 0) continue;
      if (size) *size = d.size;
      return std::string(d.size == 1 ? "|" : "<") + d.code;
    }
  }
  DSB_THROW(where + "unsupported dtype '" + descr +
            "' (supported: |u1 |i1 |b1 <u2 <i2 <f2 <u4 <i4 <f4 <u8 <i8 <f8)");
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// Bytes of data a shape needs; false on overflow (a corrupt header can claim any shape).
bool data_bytes(const std::vector<int64_t>& shape, size_t itemsize, uint64_t* bytes) {
  uint64_t n = itemsize;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  *bytes = n;
  return true;
}

// Printable excerpt of untrusted bytes for error messages.
std::string excerpt(const std::string& s, size_t max_len = 120) {
  std::string out;
  size_t end = s.size();
  while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\n')) --end;  // padding says nothing
  for (size_t i = 0; i < end && i < max_len; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) { out += static_cast<char>(c); continue; }
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out += buf;
  }
  return end > max_len ? out + "..." : out;
}

// A parsed Python literal: the subset .npy headers use (str, int, bool, None, tuple, list, dict).
struct Value {
  enum Kind { kStr, kInt, kBool, kNone, kTuple, kList, kDict } kind;
  explicit Value(Kind k = kNone) : kind(k) {}
  std::string str;                // kStr
  int64_t num = 0;                // kInt; kBool as 0/1
  std::vector<Value> items;       // kTuple, kList; kDict values
  std::vector<std::string> keys;  // kDict keys, parallel to items
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& where) : s_(text), where_(where) {}

  Value parse() {
    Value v = value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the dict");
    if (v.kind != Value::kDict) fail_at(0, "expected a dict literal");
    return v;
  }

 private:
  [[noreturn]] void fail_at(size_t pos, const std::string& why) {
    DSB_THROW(where_ + "malformed header: " + why + " at offset " + std::to_string(pos) + " in \"" +
              excerpt(s_) + "\"");
  }
  [[noreturn]] void fail(const std::string& why) {
    fail_at(pos_, pos_ < s_.size() ? why : "unexpected end (" + why + ")");
  }

  // Whether the next character is c (or of a class); false at the end.
  bool at(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  unsigned char next() const { return pos_ < s_.size() ? static_cast<unsigned char>(s_[pos_]) : 0; }
  bool at_digit() const { return std::isdigit(next()); }
  bool at_alnum() const { return std::isalnum(next()) || at('_'); }
  void skip_ws() { while (std::isspace(next())) ++pos_; }

  Value value(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    skip_ws();
    if (pos_ == s_.size()) fail("expected a value");
    const char c = s_[pos_];
    if (c == '\'' || c == '"') return string();
    if (c == '(') return sequence(')', Value::kTuple, depth);
    if (c == '[') return sequence(']', Value::kList, depth);
    if (c == '{') return sequence('}', Value::kDict, depth);
    if (c == '-' || c == '+' || at_digit()) return integer();
    if (at_alnum()) return name();
    fail(std::string("unexpected character '") + excerpt(std::string(1, c)) + "'");
  }

  Value string() {
    const size_t start = pos_;
    const char quote = s_[pos_++];
    Value v{Value::kStr};
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;  // \' \" \\ ; dtype names need no more
      v.str += s_[pos_++];
    }
    if (pos_ == s_.size()) fail_at(start, "unterminated string");
    ++pos_;
    return v;
  }

  Value integer() {
    const size_t start = pos_;
    if (at('-') || at('+')) ++pos_;
    if (!at_digit()) fail_at(start, "expected a number");
    while (at_digit()) ++pos_;
    const std::string digits = s_.substr(start, pos_ - start);
    if (at('L') || at('l')) ++pos_;  // Python 2 longs
    if (at('.') || at_alnum()) fail_at(start, "expected an integer");
    errno = 0;
    Value v{Value::kInt};
    v.num = std::strtoll(digits.c_str(), nullptr, 10);
    if (errno == ERANGE) fail_at(start, "integer out of range");
    return v;
  }

  Value name() {
    const size_t start = pos_;
    while (at_alnum()) ++pos_;
    const std::string word = s_.substr(start, pos_ - start);
    if (word == "None") return Value{};
    if (word != "True" && word != "False") fail_at(start, "unknown name '" + excerpt(word) + "'");
    Value v{Value::kBool};
    v.num = word == "True";
    return v;
  }

  // A tuple, list or dict (whose items are "key: value"); "(x)" without a comma is just x.
  Value sequence(char close, Value::Kind kind, int depth) {
    ++pos_;
    Value v{kind};
    bool comma = false;
    for (;;) {
      skip_ws();
      if (at(close)) break;
      if (kind == Value::kDict) {
        const size_t key_pos = pos_;
        const Value key = value(depth + 1);
        if (key.kind != Value::kStr) fail_at(key_pos, "dict keys must be strings");
        skip_ws();
        if (!at(':')) fail("expected ':'");
        ++pos_;
        v.keys.push_back(key.str);
      }
      v.items.push_back(value(depth + 1));
      skip_ws();
      if (at(',')) { ++pos_; comma = true; continue; }
      if (at(close)) break;
      fail(std::string("expected ',' or '") + close + "'");
    }
    ++pos_;
    if (kind == Value::kTuple && v.items.size() == 1 && !comma) return v.items[0];
    return v;
  }

  const std::string& s_;
  const std::string& where_;
  size_t pos_ = 0;
};

// Fills descr and shape from the header dict, rejecting what we cannot represent.
void apply_header(const std::string& text, const std::string& where, Array* a) {
  const Value dict = HeaderParser(text, where).parse();
  auto malformed = [&](const std::string& why) {
    DSB_THROW(where + "malformed header: " + why + " in \"" + excerpt(text) + "\"");
  };
  const Value* got[3] = {nullptr, nullptr, nullptr};
  const char* const kKeys[3] = {"descr", "fortran_order", "shape"};
  for (size_t i = 0; i < dict.keys.size(); ++i) {
    int k = 0;
    while (k < 3 && dict.keys[i] != kKeys[k]) ++k;
    if (k == 3) malformed("unexpected key '" + excerpt(dict.keys[i]) +
                          "' (expected exactly 'descr', 'fortran_order', 'shape')");
    if (got[k]) malformed(std::string("duplicate key '") + kKeys[k] + "'");
    got[k] = &dict.items[i];
  }
  for (int k = 0; k < 3; ++k)
    if (!got[k]) malformed(std::string("missing key '") + kKeys[k] + "'");

  const Value& descr = *got[0];
  if (descr.kind == Value::kList)
    DSB_THROW(where + "structured dtypes are not supported (descr is a list of fields); "
              "save each field as its own array");
  if (descr.kind != Value::kStr) malformed("'descr' must be a string");
  a->descr = canonical_descr(descr.str, where, nullptr);

  if (got[1]->kind != Value::kBool) malformed("'fortran_order' must be True or False");
  if (got[1]->num)
    DSB_THROW(where + "Fortran-order arrays are not supported; save a C-order copy "
              "(numpy.ascontiguousarray)");

  const Value& shape = *got[2];
  if (shape.kind != Value::kTuple) malformed("'shape' must be a tuple");
  for (const Value& d : shape.items) {
    if (d.kind != Value::kInt || d.num < 0)
      malformed("'shape' must be a tuple of non-negative integers");
    a->shape.push_back(d.num);
  }
}

struct FileCloser { void operator()(std::FILE* f) const { std::fclose(f); } };
using File = std::unique_ptr<std::FILE, FileCloser>;

void read_exact(std::FILE* f, void* dst, size_t n, const std::string& where) {
  if (n == 0 || std::fread(dst, 1, n, f) == n) return;
  if (std::ferror(f)) DSB_THROW(where + "read failed: " + std::strerror(errno));
  DSB_THROW(where + "truncated: file ended early while reading");  // file shrank under us
}

uint32_t load_le(const unsigned char* p, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

int64_t Array::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t Array::itemsize() const { return descr_itemsize(descr); }

size_t descr_itemsize(const std::string& descr) {
  size_t size = 0;
  canonical_descr(descr, "", &size);
  return size;
}

void write(const std::string& path, const Array& a) {
  const std::string where = path + ": ";
  size_t itemsize = 0;
  const std::string descr = canonical_descr(a.descr, where, &itemsize);
  uint64_t bytes = 0;
  if (!data_bytes(a.shape, itemsize, &bytes))
    DSB_THROW(where + "invalid shape " + shape_str(a.shape) + " (negative or too large)");
  if (a.data.size() != bytes)
    DSB_THROW(where + "data is " + std::to_string(a.data.size()) + " bytes, but shape " +
              shape_str(a.shape) + " of '" + descr + "' needs " + std::to_string(bytes));

  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " +
                       shape_str(a.shape) + ", }";
  auto padding = [&](size_t preamble) {
    return (kAlign - (preamble + header.size() + 1) % kAlign) % kAlign;
  };
  // Version 2.0 only when the padded header outgrows 1.0's u16 length, as NumPy does.
  const int major = header.size() + padding(10) + 1 > 65535 ? 2 : 1;
  const size_t preamble = major == 1 ? 10 : 12;
  header.append(padding(preamble), ' ');
  header += '\n';
  std::string head(kMagic, kMagicLen);
  head += static_cast<char>(major);
  head += '\0';
  for (size_t i = 0; i < preamble - kMagicLen - 2; ++i)
    head += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  head += header;

  // Temp file in the same directory, so the rename is atomic and never crosses filesystems.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) DSB_THROW(where + "cannot write (creating " + tmp + "): " + std::strerror(errno));
  bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size() &&
            (a.data.empty() || std::fwrite(a.data.data(), 1, a.data.size(), f) == a.data.size());
  int err = ok ? 0 : errno;
  if (std::fclose(f) != 0 && ok) { ok = false; err = errno; }
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    std::remove(tmp.c_str());
    DSB_THROW(where + "cannot write (renaming " + tmp + "): " + std::strerror(err));
  }
  if (!ok) {
    std::remove(tmp.c_str());
    DSB_THROW(where + "cannot write: " + std::strerror(err));
  }
}

Array read(const std::string& path) {
  const std::string where = path + ": ";
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) DSB_THROW(where + "cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(::fileno(f.get()), &st) != 0) DSB_THROW(where + "cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) DSB_THROW(where + "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  unsigned char pre[12] = {};
  const size_t have = file_size < 8 ? static_cast<size_t>(file_size) : 8;
  read_exact(f.get(), pre, have, where);
  if (std::memcmp(pre, kMagic, have < kMagicLen ? have : kMagicLen) != 0)
    DSB_THROW(where + "not a .npy file: bad magic string \"" +
              excerpt(std::string(reinterpret_cast<char*>(pre), have < kMagicLen ? have : kMagicLen)) +
              "\" (expected \"\\x93NUMPY\")");
  if (file_size < 8)
    DSB_THROW(where + "truncated: file is " + std::to_string(file_size) +
              " bytes, too short for the .npy preamble");
  const int major = pre[6], minor = pre[7];
  if (minor != 0 || major < 1 || major > 3)
    DSB_THROW(where + "unsupported .npy format version " + std::to_string(major) + "." +
              std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t preamble = 8 + len_bytes;
  if (file_size < preamble)
    DSB_THROW(where + "truncated: file is " + std::to_string(file_size) + " bytes, too short for the "
              "version " + std::to_string(major) + ".0 preamble (" + std::to_string(preamble) + ")");
  read_exact(f.get(), pre + 8, len_bytes, where);
  const uint32_t header_len = load_le(pre + 8, len_bytes);
  if (file_size - preamble < header_len)
    DSB_THROW(where + "truncated: header length is " + std::to_string(header_len) +
              " bytes, file has " + std::to_string(file_size - preamble) + " after the preamble");

  std::string header(header_len, '\0');
  read_exact(f.get(), &header[0], header_len, where);
  Array a;
  apply_header(header, where, &a);
  uint64_t bytes = 0;
  if (!data_bytes(a.shape, descr_itemsize(a.descr), &bytes))
    DSB_THROW(where + "malformed header: shape " + shape_str(a.shape) + " is too large");
  const uint64_t data_in_file = file_size - preamble - header_len;
  if (data_in_file < bytes)
    DSB_THROW(where + "truncated: header says " + std::to_string(bytes) + " bytes of data, file has " +
              std::to_string(data_in_file));
  if (data_in_file > bytes)
    DSB_THROW(where + "data size mismatch: shape " + shape_str(a.shape) + " of '" + a.descr +
              "' needs " + std::to_string(bytes) + " bytes of data, file has " +
              std::to_string(data_in_file));
  a.data.resize(bytes);
  read_exact(f.get(), a.data.data(), bytes, where);
  return a;
}

}  // namespace dsbench::npy
