// The strict draft 2020-12 subset described in json_schema.hpp, in two passes: a schema check that
// refuses everything we do not implement (so an unsupported or misspelt keyword can never pass an
// instance silently), then validation, which may assume a well-formed schema.
#include "harness/json_schema.hpp"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <regex>
#include <set>

#include "harness/error.hpp"

namespace dsbench::harness {
namespace {

constexpr size_t kMaxPatternInput = 4096;  // bytes of a string matched against a schema pattern

using nlohmann::json;
using Violations = std::vector<SchemaViolation>;

constexpr const char* kDraft202012 = "https://json-schema.org/draft/2020-12/schema";
// Deep enough for any real schema; a $ref cycle that never descends into the instance hits it.
constexpr int kMaxDepth = 256;

const std::set<std::string> kKeywords = {
    "$schema", "$id", "$comment", "title", "description", "examples", "default", "deprecated",
    "format", "$defs", "$ref", "type", "enum", "const", "properties", "required",
    "additionalProperties", "patternProperties", "propertyNames", "minProperties", "maxProperties",
    "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern",
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else"};
const std::set<std::string> kTypes = {"null", "boolean", "object", "array", "number", "integer",
                                      "string"};

std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

// Values in messages are cut short so that one bad blob cannot flood a report.
std::string show(const json& v) {
  std::string s = dump(v);
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

std::string quote(const std::string& s) { return dump(json(s)); }

std::string escape_token(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

std::string child(const std::string& path, const std::string& key) { return path + "/" + escape_token(key); }
std::string child(const std::string& path, size_t i) { return path + "/" + std::to_string(i); }

// The spec counts 2.0 as an integer: "integer" is a property of the value, not of its spelling.
bool is_integral(const json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool is_negative_integer(const json& v) { return !v.is_number_unsigned() && v.get<int64_t>() < 0; }

// Integers are compared exactly (int64 and uint64 do not both fit a double); anything else as double.
int compare_numbers(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    const bool an = is_negative_integer(a), bn = is_negative_integer(b);
    if (an != bn) return an ? -1 : 1;
    if (an) { const int64_t x = a.get<int64_t>(), y = b.get<int64_t>(); return (x > y) - (x < y); }
    const uint64_t x = a.get<uint64_t>(), y = b.get<uint64_t>();
    return (x > y) - (x < y);
  }
  const double x = a.get<double>(), y = b.get<double>();
  return (x > y) - (x < y);
}

// JSON Schema equality: 1 and 1.0 are equal, true and 1 are not, objects ignore key order.
bool json_equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) if (!json_equal(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& el : a.items()) {
      const auto it = b.find(el.key());
      if (it == b.end() || !json_equal(el.value(), *it)) return false;
    }
    return true;
  }
  return a == b;
}

bool is_multiple_of(const json& v, const json& divisor) {
  if (divisor.is_number_integer()) {
    const uint64_t d = divisor.get<uint64_t>();  // > 0, checked with the schema
    if (v.is_number_unsigned()) return v.get<uint64_t>() % d == 0;
    if (v.is_number_integer()) {
      const int64_t x = v.get<int64_t>();
      const uint64_t magnitude = x < 0 ? uint64_t(0) - uint64_t(x) : uint64_t(x);
      return magnitude % d == 0;
    }
    return std::fmod(v.get<double>(), static_cast<double>(d)) == 0.0;  // exact, as Python's %
  }
  // A float divisor: the quotient must be integral, which is what Python's jsonschema checks.
  const double q = v.get<double>() / divisor.get<double>();
  return std::isfinite(q) && std::floor(q) == q;
}

// maxLength and friends count code points; UTF-8 continuation bytes are 10xxxxxx.
size_t count_code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool has_type(const json& v, const std::string& t) {
  if (t == "null") return v.is_null();
  if (t == "boolean") return v.is_boolean();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  return t == "integer" && is_integral(v);
}

std::string count_of(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

bool is_count(const json& v) { return is_integral(v) && v.get<double>() >= 0; }

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') { out += s[i]; continue; }
    DSB_REQUIRE(i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                    std::isxdigit(static_cast<unsigned char>(s[i + 2])),
                "bad percent-escape in $ref fragment " + quote(s));
    out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

// RFC 6901 JSON pointer lookup; nullptr when any step does not exist.
const json* resolve_pointer(const json& root, const std::string& pointer) {
  const json* cur = &root;
  if (pointer.empty()) return cur;
  if (pointer[0] != '/') return nullptr;  // a plain-name fragment ($anchor), which we do not support
  size_t pos = 1;
  while (true) {
    const size_t end = pointer.find('/', pos);
    const std::string raw = pointer.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') { token += raw[i]; continue; }
      if (i + 1 >= raw.size() || (raw[i + 1] != '0' && raw[i + 1] != '1')) return nullptr;
      token += raw[++i] == '0' ? '~' : '/';
    }
    if (cur->is_object()) {
      const auto it = cur->find(token);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      if (token.empty() || token.find_first_not_of("0123456789") != std::string::npos ||
          (token.size() > 1 && token[0] == '0') || token.size() > 9 || std::stoul(token) >= cur->size())
        return nullptr;
      cur = &(*cur)[std::stoul(token)];
    } else {
      return nullptr;
    }
    if (end == std::string::npos) return cur;
    pos = end + 1;
  }
}

class Validator {
 public:
  explicit Validator(const json& root) : root_(root) {
    if (root.is_object() && root.contains("$id") && root["$id"].is_string()) {
      root_id_ = root["$id"].get<std::string>();
      if (!root_id_.empty() && root_id_.back() == '#') root_id_.pop_back();
    }
    check(root, "#", true);
  }

  void validate(const json& s, const json& v, const std::string& path, Violations& out);

 private:
  [[noreturn]] static void fail(const std::string& at, const std::string& what) {
    DSB_THROW("JSON schema at " + quote(at) + ": " + what);
  }
  void check(const json& s, const std::string& at, bool is_root);
  void check_keyword(const std::string& key, const json& v, const std::string& at, bool is_root);
  const json& resolve(const std::string& ref) const;
  const std::regex& regex(const std::string& pattern, const std::string& at);

  void validate_combinators(const json& s, const json& v, const std::string& path, Violations& out);
  void validate_object(const json& s, const json& v, const std::string& path, Violations& out);
  void validate_array(const json& s, const json& v, const std::string& path, Violations& out);
  void validate_scalar(const json& s, const json& v, const std::string& path, Violations& out);
  Violations errors_of(const json& s, const json& v, const std::string& path) {
    Violations errs;
    validate(s, v, path, errs);
    return errs;
  }

  const json& root_;
  std::string root_id_;
  std::set<const json*> checked_;                // schemas already checked ($ref cycles end here)
  std::map<std::string, std::regex> regexes_;    // compiled once, used per instance value
  int depth_ = 0;
};

void Validator::check(const json& s, const std::string& at, bool is_root) {
  if (s.is_boolean()) return;
  if (!s.is_object()) fail(at, "a schema must be an object or a boolean, not " + show(s));
  if (!checked_.insert(&s).second) return;
  for (const auto& el : s.items()) {
    if (kKeywords.count(el.key()) == 0)
      fail(at, "unsupported keyword " + quote(el.key()) +
                   " (dsbench implements a strict subset of draft 2020-12)");
    check_keyword(el.key(), el.value(), at, is_root);
  }
}

void Validator::check_keyword(const std::string& key, const json& v, const std::string& at, bool is_root) {
  const std::string here = child(at, key);
  auto need = [&](bool ok, const std::string& what) { if (!ok) fail(here, what + ", got " + show(v)); };
  if (key == "$schema") {
    need(is_root, "$schema is only supported at the root");
    need(v.is_string() && (v == kDraft202012 || v == std::string(kDraft202012) + "#"),
         std::string("only draft 2020-12 (") + kDraft202012 + ") is supported");
  } else if (key == "$id") {
    // A nested $id would change what "#/..." means inside it; we resolve only against the root.
    need(is_root, "$id is only supported at the root");
    need(v.is_string() && v.get<std::string>().find('#') >= v.get<std::string>().size() - 1,
         "$id must be a string without a fragment");
  } else if (key == "$comment" || key == "title" || key == "description" || key == "format" ||
             key == "$ref") {
    need(v.is_string(), key + " must be a string");
    if (key == "$ref") check(resolve(v.get<std::string>()), v.get<std::string>(), false);
  } else if (key == "examples" || key == "enum") {
    need(v.is_array(), key + " must be an array");
  } else if (key == "deprecated" || key == "uniqueItems") {
    need(v.is_boolean(), key + " must be a boolean");
  } else if (key == "$defs" || key == "properties" || key == "patternProperties") {
    need(v.is_object(), key + " must be an object");
    for (const auto& el : v.items()) {
      if (key == "patternProperties") regex(el.key(), here);
      check(el.value(), child(here, el.key()), false);
    }
  } else if (key == "type") {
    const json names = v.is_array() ? v : json::array({v});
    std::set<std::string> seen;
    need(!names.empty(), "type must not be an empty array");
    for (const auto& t : names)
      need(t.is_string() && kTypes.count(t.get<std::string>()) && seen.insert(t.get<std::string>()).second,
           "type must be a type name or an array of distinct type names");
  } else if (key == "required") {
    std::set<std::string> seen;
    need(v.is_array(), "required must be an array of distinct strings");
    for (const auto& n : v)
      need(n.is_string() && seen.insert(n.get<std::string>()).second,
           "required must be an array of distinct strings");
  } else if (key == "additionalProperties" || key == "propertyNames" || key == "items" || key == "not" ||
             key == "if" || key == "then" || key == "else") {
    need(v.is_object() || v.is_boolean(),
         key + " must be a schema" +
             (key == "items" ? " (the array form of items is prefixItems in 2020-12)" : ""));
    check(v, here, false);
  } else if (key == "prefixItems" || key == "allOf" || key == "anyOf" || key == "oneOf") {
    need(v.is_array() && !v.empty(), key + " must be a non-empty array of schemas");
    for (size_t i = 0; i < v.size(); ++i) check(v[i], child(here, i), false);
  } else if (key == "minProperties" || key == "maxProperties" || key == "minItems" || key == "maxItems" ||
             key == "minLength" || key == "maxLength") {
    need(is_count(v), key + " must be a non-negative integer");
  } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" || key == "exclusiveMaximum") {
    need(v.is_number(), key + " must be a number");
  } else if (key == "multipleOf") {
    need(v.is_number() && v.get<double>() > 0, "multipleOf must be a number greater than 0");
  } else if (key == "pattern") {
    need(v.is_string(), "pattern must be a string");
    regex(v.get<std::string>(), here);
  }
  // "default" and "const" take any value.
}

const json& Validator::resolve(const std::string& ref) const {
  std::string fragment;
  if (!ref.empty() && ref[0] == '#') {
    fragment = ref.substr(1);
  } else if (!root_id_.empty() && ref.compare(0, root_id_.size(), root_id_) == 0 &&
             (ref.size() == root_id_.size() || ref[root_id_.size()] == '#')) {
    fragment = ref.size() == root_id_.size() ? "" : ref.substr(root_id_.size() + 1);
  } else {
    DSB_THROW("unsupported $ref " + quote(ref) +
              ": only references into this schema (\"#/...\") are supported");
  }
  const json* target = resolve_pointer(root_, percent_decode(fragment));
  if (target == nullptr)
    DSB_THROW("unresolvable $ref " + quote(ref) + " (only JSON-pointer fragments are supported)");
  return *target;
}

const std::regex& Validator::regex(const std::string& pattern, const std::string& at) {
  auto it = regexes_.find(pattern);
  if (it != regexes_.end()) return it->second;
  try {
    return regexes_.emplace(pattern, std::regex(pattern, std::regex::ECMAScript)).first->second;
  } catch (const std::regex_error& e) {
    fail(at, "invalid regular expression " + quote(pattern) + ": " + e.what());
  }
}

void Validator::validate(const json& s, const json& v, const std::string& path, Violations& out) {
  if (s.is_boolean()) {
    if (!s.get<bool>()) out.push_back({path, "no value is allowed here (the schema is false)"});
    return;
  }
  struct DepthGuard { int& d; ~DepthGuard() { --d; } } guard{++depth_};
  if (depth_ > kMaxDepth)
    DSB_THROW("JSON schema nests deeper than " + std::to_string(kMaxDepth) + " at instance " + quote(path) +
              " (a $ref cycle that never descends into the instance?)");
  if (const auto it = s.find("$ref"); it != s.end()) validate(resolve(it->get<std::string>()), v, path, out);
  if (const auto it = s.find("type"); it != s.end()) {
    const json names = it->is_array() ? *it : json::array({*it});
    bool ok = false;
    std::string wanted;
    for (const auto& t : names) {
      ok = ok || has_type(v, t.get<std::string>());
      wanted += (wanted.empty() ? "" : " or ") + dump(t);
    }
    if (!ok) out.push_back({path, show(v) + " is not of type " + wanted});
  }
  if (const auto it = s.find("enum"); it != s.end()) {
    bool found = false;
    for (const auto& e : *it) found = found || json_equal(v, e);
    if (!found) out.push_back({path, show(v) + " is not one of " + show(*it)});
  }
  if (const auto it = s.find("const"); it != s.end() && !json_equal(v, *it))
    out.push_back({path, show(v) + " is not equal to const " + show(*it)});
  validate_combinators(s, v, path, out);
  if (v.is_object()) validate_object(s, v, path, out);
  if (v.is_array()) validate_array(s, v, path, out);
  if (v.is_number() || v.is_string()) validate_scalar(s, v, path, out);
}

// First violation of each failed alternative, so a report says why nothing matched.
std::string summarize(const std::vector<Violations>& branches, const std::string& path) {
  std::string text;
  for (size_t i = 0; i < branches.size(); ++i) {
    if (branches[i].empty()) continue;
    const SchemaViolation& first = branches[i].front();
    text += (text.empty() ? "" : "; ") + std::to_string(i) + ": " +
            (first.instance_path == path ? "" : first.instance_path + ": ") + first.message;
  }
  return text;
}

void Validator::validate_combinators(const json& s, const json& v, const std::string& path,
                                     Violations& out) {
  if (const auto it = s.find("allOf"); it != s.end())
    for (const auto& sub : *it) validate(sub, v, path, out);
  for (const char* key : {"anyOf", "oneOf"}) {
    const auto it = s.find(key);
    if (it == s.end()) continue;
    std::vector<Violations> branches;
    std::vector<size_t> matched;
    for (const auto& sub : *it) {
      branches.push_back(errors_of(sub, v, path));
      if (branches.back().empty()) matched.push_back(branches.size() - 1);
    }
    if (matched.empty()) {
      out.push_back({path, show(v) + " does not match any alternative of " + key + " (" +
                               summarize(branches, path) + ")"});
    } else if (matched.size() > 1 && std::string(key) == "oneOf") {
      std::string list;
      for (size_t i : matched) list += (list.empty() ? "" : ", ") + std::to_string(i);
      out.push_back({path, show(v) + " matches oneOf alternatives " + list + ", but exactly one must match"});
    }
  }
  if (const auto it = s.find("not"); it != s.end() && errors_of(*it, v, path).empty())
    out.push_back({path, show(v) + " must not match the \"not\" schema " + show(*it)});
  if (const auto it = s.find("if"); it != s.end()) {
    const char* branch = errors_of(*it, v, path).empty() ? "then" : "else";
    if (const auto b = s.find(branch); b != s.end()) validate(*b, v, path, out);
  }
}

void Validator::validate_object(const json& s, const json& v, const std::string& path, Violations& out) {
  if (const auto it = s.find("required"); it != s.end())
    for (const auto& name : *it)
      if (!v.contains(name.get<std::string>())) out.push_back({path, "missing required property " + dump(name)});
  if (const auto it = s.find("minProperties"); it != s.end() && v.size() < it->get<double>())
    out.push_back({path, "object has " + count_of(v.size(), "property", "properties") +
                             ", fewer than minProperties " + show(*it)});
  if (const auto it = s.find("maxProperties"); it != s.end() && v.size() > it->get<double>())
    out.push_back({path, "object has " + count_of(v.size(), "property", "properties") +
                             ", more than maxProperties " + show(*it)});
  const auto props = s.find("properties"), patterns = s.find("patternProperties");
  const auto additional = s.find("additionalProperties"), names = s.find("propertyNames");
  for (const auto& el : v.items()) {
    const std::string& key = el.key();
    const std::string at = child(path, key);
    bool covered = false;
    if (props != s.end() && props->contains(key)) {
      covered = true;
      validate((*props)[key], el.value(), at, out);
    }
    if (patterns != s.end()) {
      for (const auto& p : patterns->items()) {
        if (key.size() > kMaxPatternInput || !std::regex_search(key, regex(p.key(), "patternProperties"))) continue;
        covered = true;
        validate(p.value(), el.value(), at, out);
      }
    }
    if (!covered && additional != s.end()) {
      if (*additional == false) out.push_back({path, "additional property " + quote(key) + " is not allowed"});
      else validate(*additional, el.value(), at, out);
    }
    if (names != s.end()) {
      const auto errs = errors_of(*names, json(key), "");
      std::string why;
      for (const auto& e : errs) why += (why.empty() ? "" : "; ") + e.message;
      if (!errs.empty()) out.push_back({path, "property name " + quote(key) + " is invalid: " + why});
    }
  }
}

void Validator::validate_array(const json& s, const json& v, const std::string& path, Violations& out) {
  if (const auto it = s.find("minItems"); it != s.end() && v.size() < it->get<double>())
    out.push_back({path, "array has " + count_of(v.size(), "item", "items") + ", fewer than minItems " +
                             show(*it)});
  if (const auto it = s.find("maxItems"); it != s.end() && v.size() > it->get<double>())
    out.push_back({path, "array has " + count_of(v.size(), "item", "items") + ", more than maxItems " +
                             show(*it)});
  size_t first_free = 0;  // items applies only after the prefixItems
  if (const auto it = s.find("prefixItems"); it != s.end()) {
    first_free = it->size();
    for (size_t i = 0; i < v.size() && i < it->size(); ++i) validate((*it)[i], v[i], child(path, i), out);
  }
  if (const auto it = s.find("items"); it != s.end())
    for (size_t i = first_free; i < v.size(); ++i) validate(*it, v[i], child(path, i), out);
  if (const auto it = s.find("uniqueItems"); it != s.end() && *it == true) {
    for (size_t j = 1; j < v.size(); ++j) {
      for (size_t i = 0; i < j; ++i) {
        if (!json_equal(v[i], v[j])) continue;
        out.push_back({path, "items " + std::to_string(i) + " and " + std::to_string(j) +
                                 " are equal, but uniqueItems is true"});
        break;
      }
    }
  }
}

void Validator::validate_scalar(const json& s, const json& v, const std::string& path, Violations& out) {
  auto add = [&](const char* relation, const char* key) {
    out.push_back({path, show(v) + " is " + relation + " " + key + " " + show(s[key])});
  };
  if (v.is_number()) {
    if (s.contains("minimum") && compare_numbers(v, s["minimum"]) < 0) add("less than", "minimum");
    if (s.contains("maximum") && compare_numbers(v, s["maximum"]) > 0) add("greater than", "maximum");
    if (s.contains("exclusiveMinimum") && compare_numbers(v, s["exclusiveMinimum"]) <= 0)
      add("less than or equal to", "exclusiveMinimum");
    if (s.contains("exclusiveMaximum") && compare_numbers(v, s["exclusiveMaximum"]) >= 0)
      add("greater than or equal to", "exclusiveMaximum");
    if (s.contains("multipleOf") && !is_multiple_of(v, s["multipleOf"]))
      out.push_back({path, show(v) + " is not a multiple of " + show(s["multipleOf"])});
    return;
  }
  const std::string& text = v.get_ref<const std::string&>();
  const size_t length = count_code_points(text);
  if (s.contains("minLength") && length < s["minLength"].get<double>()) add("shorter than", "minLength");
  if (s.contains("maxLength") && length > s["maxLength"].get<double>()) add("longer than", "maxLength");
  const auto pattern = s.find("pattern");
  if (pattern == s.end()) return;
  // std::regex recurses per character: a long enough string overflows the stack. No value a
  // dsbench schema constrains by pattern is near this long, so a longer one is a violation.
  if (text.size() > kMaxPatternInput)
    out.push_back({path, "a string of " + std::to_string(text.size()) + " bytes, longer than the " +
                             std::to_string(kMaxPatternInput) + " matched against pattern " + dump(*pattern)});
  else if (!std::regex_search(text, regex(pattern->get<std::string>(), "pattern")))
    out.push_back({path, show(v) + " does not match pattern " + dump(*pattern)});
}

}  // namespace

std::vector<SchemaViolation> validate_against_schema(const nlohmann::json& schema,
                                                     const nlohmann::json& instance) {
  Validator validator(schema);
  Violations out;
  validator.validate(schema, instance, "", out);
  return out;
}

}  // namespace dsbench::harness
