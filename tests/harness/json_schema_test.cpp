// Unit tests of the strict JSON Schema subset: each keyword with valid and invalid instances, the
// exact paths and messages users see from `dsbench validate`, and the refusals (unsupported
// keywords, bad $ref) that keep the validator from passing anything silently.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/error.hpp"
#include "harness/json_schema.hpp"

namespace dsbench::harness {
namespace {

using nlohmann::json;

// Violations rendered one per line as "path: message", the form `dsbench validate` prints.
std::vector<std::string> errors(const json& schema, const json& instance) {
  std::vector<std::string> out;
  for (const auto& v : validate_against_schema(schema, instance)) out.push_back(v.instance_path + ": " + v.message);
  return out;
}

bool valid(const json& schema, const json& instance) { return validate_against_schema(schema, instance).empty(); }

// The schema error's message, or "" if validation did not throw.
std::string schema_error(const json& schema, const json& instance = json()) {
  try {
    validate_against_schema(schema, instance);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

using Lines = std::vector<std::string>;

TEST(JsonSchemaMessages, NameThePathAndTheRuleAsDocumented) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "context": {"type": "object", "required": ["git_commit"]},
      "results": {"type": "array", "items": {"$ref": "#/$defs/result"}}
    },
    "$defs": {"result": {
      "type": "object", "additionalProperties": false,
      "properties": {"timing": {"properties": {"median_ms": {"minimum": 0}}}}
    }}
  })");
  const json instance = json::parse(R"({
    "context": {},
    "results": [{"foo": 1}, {}, {}, {"timing": {"median_ms": -1}}]
  })");
  EXPECT_EQ(errors(schema, instance), (Lines{
      "/context: missing required property \"git_commit\"",
      "/results/0: additional property \"foo\" is not allowed",
      "/results/3/timing/median_ms: -1 is less than minimum 0"}));
}

TEST(JsonSchemaMessages, EscapePointerTokensInPaths) {
  const json schema = {{"additionalProperties", {{"type", "integer"}}}};
  EXPECT_EQ(errors(schema, {{"a/b", "x"}, {"c~d", "y"}}),
            (Lines{"/a~1b: \"x\" is not of type \"integer\"", "/c~0d: \"y\" is not of type \"integer\""}));
}

TEST(JsonSchemaMessages, CutLongValuesShort) {
  const auto lines = errors({{"type", "integer"}}, std::string(500, 'x'));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(lines[0].size(), 120u);
  EXPECT_TRUE(has(lines[0], "...")) << lines[0];
}

TEST(JsonSchemaType, IntegerAcceptsIntegralNumbersOnly) {
  const json s = {{"type", "integer"}};
  EXPECT_TRUE(valid(s, 2));
  EXPECT_TRUE(valid(s, 2.0));
  EXPECT_TRUE(valid(s, -7));
  EXPECT_TRUE(valid(s, 18446744073709551615ull));
  EXPECT_EQ(errors(s, 2.5), Lines{": 2.5 is not of type \"integer\""});
  EXPECT_FALSE(valid(s, "2"));
  EXPECT_FALSE(valid(s, true));
}

TEST(JsonSchemaType, NumberRejectsBooleansAndStrings) {
  const json s = {{"type", "number"}};
  EXPECT_TRUE(valid(s, 1));
  EXPECT_TRUE(valid(s, -0.5));
  EXPECT_FALSE(valid(s, true));
  EXPECT_FALSE(valid(s, "1"));
}

TEST(JsonSchemaType, ArrayFormAcceptsAnyListedTypeAndNamesThemAll) {
  const json s = {{"type", {"string", "null"}}};
  EXPECT_TRUE(valid(s, nullptr));
  EXPECT_TRUE(valid(s, "x"));
  EXPECT_EQ(errors(s, 1), Lines{": 1 is not of type \"string\" or \"null\""});
}

TEST(JsonSchemaType, DistinguishesEveryJsonType) {
  const json values = {nullptr, true, json::object(), json::array(), 1.5, 1, "s"};
  const char* names[] = {"null", "boolean", "object", "array", "number", "integer", "string"};
  for (const char* name : names) {
    int accepted = 0;
    for (const auto& v : values) accepted += valid({{"type", name}}, v);
    EXPECT_EQ(accepted, std::string(name) == "number" ? 2 : 1) << name;
  }
}

TEST(JsonSchemaEnumConst, CompareNumbersByValueAndBooleansApart) {
  EXPECT_TRUE(valid({{"enum", {1, "a"}}}, 1.0));
  EXPECT_EQ(errors({{"enum", {1, 0}}}, true), Lines{": true is not one of [1,0]"});
  EXPECT_TRUE(valid({{"const", {{"a", 1}, {"b", {1, 2}}}}}, json::parse(R"({"b":[1,2.0],"a":1})")));
  EXPECT_EQ(errors({{"const", {1, 2}}}, {2, 1}), Lines{": [2,1] is not equal to const [1,2]"});
  EXPECT_TRUE(valid({{"const", nullptr}}, nullptr));
  EXPECT_FALSE(valid({{"const", nullptr}}, 0));
}

TEST(JsonSchemaObject, RequiredListsEachMissingProperty) {
  const json s = {{"required", {"a", "b", "c"}}};
  EXPECT_TRUE(valid(s, {{"a", 1}, {"b", 2}, {"c", 3}}));
  EXPECT_EQ(errors(s, {{"b", 1}}), (Lines{": missing required property \"a\"", ": missing required property \"c\""}));
  EXPECT_TRUE(valid(s, "not an object"));  // object keywords ignore other types
}

TEST(JsonSchemaObject, AdditionalPropertiesSpareKeysCoveredByPatterns) {
  const json s = json::parse(R"({"properties": {"a": {}}, "patternProperties": {"^x_": {"type": "integer"}},
                                 "additionalProperties": false})");
  EXPECT_TRUE(valid(s, {{"a", "anything"}, {"x_1", 2}}));
  EXPECT_EQ(errors(s, {{"a", 1}, {"x_1", "s"}, {"y", 3}}),
            (Lines{"/x_1: \"s\" is not of type \"integer\"", ": additional property \"y\" is not allowed"}));
}

TEST(JsonSchemaObject, AdditionalPropertiesSchemaValidatesOnlyExtras) {
  const json s = json::parse(R"({"properties": {"a": {}}, "additionalProperties": {"type": "number"}})");
  EXPECT_TRUE(valid(s, {{"a", "s"}, {"b", 2}}));
  EXPECT_EQ(errors(s, {{"a", "s"}, {"b", "t"}}), Lines{"/b: \"t\" is not of type \"number\""});
}

TEST(JsonSchemaObject, PropertiesAndPatternPropertiesBothApply) {
  const json s = json::parse(R"({"properties": {"x_a": {"type": "integer"}},
                                 "patternProperties": {"_a$": {"minimum": 10}}})");
  EXPECT_TRUE(valid(s, {{"x_a", 12}}));
  EXPECT_EQ(errors(s, {{"x_a", 5.5}}),
            (Lines{"/x_a: 5.5 is not of type \"integer\"", "/x_a: 5.5 is less than minimum 10"}));
}

TEST(JsonSchemaObject, PropertyNamesAreValidatedAsStrings) {
  const json s = {{"propertyNames", {{"pattern", "^[a-z_]+$"}, {"maxLength", 5}}}};
  EXPECT_TRUE(valid(s, {{"ok", 1}}));
  EXPECT_EQ(errors(s, {{"Bad_name", 1}}),
            Lines{": property name \"Bad_name\" is invalid: \"Bad_name\" is longer than maxLength 5; "
                  "\"Bad_name\" does not match pattern \"^[a-z_]+$\""});
}

TEST(JsonSchemaObject, MinAndMaxPropertiesCountKeys) {
  const json s = {{"minProperties", 1}, {"maxProperties", 2}};
  EXPECT_TRUE(valid(s, {{"a", 1}}));
  EXPECT_EQ(errors(s, json::object()), Lines{": object has 0 properties, fewer than minProperties 1"});
  EXPECT_EQ(errors(s, {{"a", 1}, {"b", 2}, {"c", 3}}), Lines{": object has 3 properties, more than maxProperties 2"});
}

TEST(JsonSchemaArray, ItemsApplyAfterPrefixItems) {
  const json s = json::parse(R"({"prefixItems": [{"type": "string"}, {"type": "boolean"}],
                                 "items": {"type": "integer"}})");
  EXPECT_TRUE(valid(s, json::parse(R"(["a", true, 1, 2])")));
  EXPECT_TRUE(valid(s, json::parse(R"(["a"])")));
  EXPECT_EQ(errors(s, json::parse(R"([1, true, 2, "x"])")),
            (Lines{"/0: 1 is not of type \"string\"", "/3: \"x\" is not of type \"integer\""}));
}

TEST(JsonSchemaArray, ItemsFalseForbidsExtraItems) {
  const json s = json::parse(R"({"prefixItems": [{}], "items": false})");
  EXPECT_TRUE(valid(s, {1}));
  EXPECT_EQ(errors(s, {1, 2}), Lines{"/1: no value is allowed here (the schema is false)"});
}

TEST(JsonSchemaArray, MinAndMaxItemsCountElements) {
  const json s = {{"minItems", 1}, {"maxItems", 2}};
  EXPECT_TRUE(valid(s, {1, 2}));
  EXPECT_EQ(errors(s, json::array()), Lines{": array has 0 items, fewer than minItems 1"});
  EXPECT_EQ(errors(s, {1, 2, 3}), Lines{": array has 3 items, more than maxItems 2"});
}

TEST(JsonSchemaArray, UniqueItemsUsesJsonEquality) {
  const json s = {{"uniqueItems", true}};
  EXPECT_TRUE(valid(s, json::parse(R"([1, true, "1", [1], {"a": 1}, {"a": 2}])")));
  EXPECT_EQ(errors(s, json::parse(R"([1, 2, 1.0, {"a": 1, "b": 2}, {"b": 2, "a": 1}])")),
            (Lines{": items 0 and 2 are equal, but uniqueItems is true",
                   ": items 3 and 4 are equal, but uniqueItems is true"}));
  EXPECT_TRUE(valid({{"uniqueItems", false}}, {1, 1}));
}

TEST(JsonSchemaNumber, BoundsAreInclusiveOrExclusiveAsNamed) {
  EXPECT_TRUE(valid({{"minimum", 0}}, 0));
  EXPECT_EQ(errors({{"minimum", 0}}, -1), Lines{": -1 is less than minimum 0"});
  EXPECT_TRUE(valid({{"maximum", 1.5}}, 1.5));
  EXPECT_EQ(errors({{"maximum", 1.5}}, 2), Lines{": 2 is greater than maximum 1.5"});
  EXPECT_TRUE(valid({{"exclusiveMinimum", 0}}, 0.001));
  EXPECT_EQ(errors({{"exclusiveMinimum", 0}}, 0), Lines{": 0 is less than or equal to exclusiveMinimum 0"});
  EXPECT_TRUE(valid({{"exclusiveMaximum", 10}}, 9));
  EXPECT_EQ(errors({{"exclusiveMaximum", 10}}, 10.0),
            Lines{": 10.0 is greater than or equal to exclusiveMaximum 10"});
  EXPECT_TRUE(valid({{"minimum", 5}}, "3"));  // number keywords ignore other types
}

TEST(JsonSchemaNumber, LargeIntegersCompareExactly) {
  // 2^53 + 1 and 2^53 are one double; an exact comparison tells them apart.
  EXPECT_FALSE(valid({{"maximum", 9007199254740992ll}}, 9007199254740993ll));
  EXPECT_TRUE(valid({{"minimum", -1}}, 18446744073709551615ull));
  EXPECT_FALSE(valid({{"maximum", -1}}, 18446744073709551615ull));
  EXPECT_FALSE(valid({{"minimum", 0}}, -9223372036854775807ll - 1));
}

TEST(JsonSchemaNumber, MultipleOfHandlesIntegersAndFloats) {
  EXPECT_TRUE(valid({{"multipleOf", 3}}, 9));
  EXPECT_TRUE(valid({{"multipleOf", 3}}, -9));
  EXPECT_TRUE(valid({{"multipleOf", 3}}, 9.0));
  EXPECT_EQ(errors({{"multipleOf", 3}}, 10), Lines{": 10 is not a multiple of 3"});
  EXPECT_TRUE(valid({{"multipleOf", 0.5}}, 4.5));
  EXPECT_FALSE(valid({{"multipleOf", 0.5}}, 4.2));
  EXPECT_FALSE(valid({{"multipleOf", 2}}, 7.5));
}

TEST(JsonSchemaString, LengthCountsCodePointsNotBytes) {
  const json s = {{"minLength", 2}, {"maxLength", 2}};
  EXPECT_TRUE(valid(s, "\xC3\xA9\xF0\x9F\x98\x80"));  // é and an emoji: 6 bytes, 2 code points
  EXPECT_EQ(errors(s, "a"), Lines{": \"a\" is shorter than minLength 2"});
  EXPECT_EQ(errors(s, "abc"), Lines{": \"abc\" is longer than maxLength 2"});
}

TEST(JsonSchemaString, PatternSearchesUnlessAnchored) {
  EXPECT_TRUE(valid({{"pattern", "b+"}}, "abbc"));
  EXPECT_EQ(errors({{"pattern", "^[0-9a-f]{7,40}$"}}, "abc123g"),
            Lines{": \"abc123g\" does not match pattern \"^[0-9a-f]{7,40}$\""});
  EXPECT_TRUE(valid({{"pattern", "^x$"}}, 5));  // string keywords ignore other types
}

TEST(JsonSchemaCombinators, AllOfReportsEveryFailingBranch) {
  const json s = json::parse(R"({"allOf": [{"type": "integer"}, {"minimum": 5}, {"maximum": 1}]})");
  EXPECT_TRUE(valid(json::parse(R"({"allOf": [{"type": "integer"}, {"minimum": 5}]})"), 6));
  EXPECT_EQ(errors(s, 3.5), (Lines{": 3.5 is not of type \"integer\"", ": 3.5 is less than minimum 5",
                                   ": 3.5 is greater than maximum 1"}));
}

TEST(JsonSchemaCombinators, AnyOfSaysWhyEachAlternativeFailed) {
  const json s = json::parse(R"({"anyOf": [{"type": "string"}, {"properties": {"n": {"minimum": 5}}}]})");
  EXPECT_TRUE(valid(s, "x"));
  EXPECT_TRUE(valid(s, {{"n", 7}}));
  EXPECT_EQ(errors(s, {{"n", 1}}),
            Lines{": {\"n\":1} does not match any alternative of anyOf (0: {\"n\":1} is not of type \"string\"; "
                  "1: /n: 1 is less than minimum 5)"});
}

TEST(JsonSchemaCombinators, OneOfNeedsExactlyOneMatch) {
  const json s = json::parse(R"({"oneOf": [{"type": "integer"}, {"minimum": 0}]})");
  EXPECT_TRUE(valid(s, -1));
  EXPECT_TRUE(valid(s, 0.5));
  EXPECT_EQ(errors(s, 3), Lines{": 3 matches oneOf alternatives 0, 1, but exactly one must match"});
  EXPECT_EQ(errors(s, -1.5), Lines{": -1.5 does not match any alternative of oneOf "
                                   "(0: -1.5 is not of type \"integer\"; 1: -1.5 is less than minimum 0)"});
}

TEST(JsonSchemaCombinators, NotInvertsItsSchema) {
  const json s = {{"not", {{"type", "string"}}}};
  EXPECT_TRUE(valid(s, 1));
  EXPECT_EQ(errors(s, "x"), Lines{": \"x\" must not match the \"not\" schema {\"type\":\"string\"}"});
}

TEST(JsonSchemaCombinators, IfChoosesThenOrElse) {
  const json s = json::parse(R"({"if": {"properties": {"op": {"const": "gemm"}}, "required": ["op"]},
                                 "then": {"required": ["m"]}, "else": {"required": ["name"]}})");
  EXPECT_TRUE(valid(s, {{"op", "gemm"}, {"m", 1}}));
  EXPECT_EQ(errors(s, {{"op", "gemm"}}), Lines{": missing required property \"m\""});
  EXPECT_TRUE(valid(s, {{"op", "mla"}, {"name", "x"}}));
  EXPECT_EQ(errors(s, {{"op", "mla"}}), Lines{": missing required property \"name\""});
  EXPECT_TRUE(valid({{"then", false}, {"else", false}}, 1));  // without "if" they do nothing
  EXPECT_TRUE(valid({{"if", false}, {"then", false}}, 1));    // if without else: nothing to apply
}

TEST(JsonSchemaRef, ResolvesNestedDefinitions) {
  const json s = json::parse(R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"type": "string"}},
                                 "items": {"$ref": "#/$defs/a"}})");
  EXPECT_TRUE(valid(s, {"x", "y"}));
  EXPECT_EQ(errors(s, {"x", 2}), Lines{"/1: 2 is not of type \"string\""});
}

TEST(JsonSchemaRef, UnescapesPointerTokensAndPercentEncoding) {
  const json s = json::parse(R"({"$defs": {"a/b": {"type": "integer"}, "c~d": {"minimum": 3}, "e f": {"maximum": 4}},
                                 "allOf": [{"$ref": "#/$defs/a~1b"}, {"$ref": "#/$defs/c~0d"},
                                           {"$ref": "#/$defs/e%20f"}]})");
  EXPECT_TRUE(valid(s, 3));
  EXPECT_EQ(errors(s, 2.5), (Lines{": 2.5 is not of type \"integer\"", ": 2.5 is less than minimum 3"}));
  EXPECT_EQ(errors(s, 5), Lines{": 5 is greater than maximum 4"});
}

TEST(JsonSchemaRef, AppliesTogetherWithSiblingKeywords) {
  const json s = json::parse(R"({"$defs": {"pos": {"exclusiveMinimum": 0}}, "$ref": "#/$defs/pos", "maximum": 5})");
  EXPECT_TRUE(valid(s, 3));
  EXPECT_FALSE(valid(s, 0));
  EXPECT_FALSE(valid(s, 7));
}

TEST(JsonSchemaRef, RootAndArrayIndexPointersResolve) {
  const json to_root = json::parse(R"({"type": ["integer", "array"], "items": {"$ref": "#"}})");
  EXPECT_EQ(errors(to_root, json::parse(R"([1, [2, ["x"]]])")),
            Lines{"/1/1/0: \"x\" is not of type \"integer\" or \"array\""});
  const json to_index = json::parse(R"({"anyOf": [{"type": "string"}, {"type": "integer"}],
                                        "not": {"$ref": "#/anyOf/1"}})");
  EXPECT_FALSE(valid(to_index, 2));
  EXPECT_TRUE(valid(to_index, "s"));
}

TEST(JsonSchemaRef, AcceptsTheRootIdAsBase) {
  const json s = json::parse(R"({"$id": "https://dsbench.example/s.json", "$defs": {"x": {"type": "string"}},
                                 "properties": {"a": {"$ref": "https://dsbench.example/s.json#/$defs/x"}}})");
  EXPECT_TRUE(valid(s, {{"a", "s"}}));
  EXPECT_FALSE(valid(s, {{"a", 1}}));
}

TEST(JsonSchemaRef, RecursiveSchemasTerminateOnFiniteInstances) {
  const json s = json::parse(R"({"$defs": {"node": {"properties": {"kids": {"items": {"$ref": "#/$defs/node"}},
                                                                     "v": {"type": "integer"}}}},
                                 "$ref": "#/$defs/node"})");
  EXPECT_TRUE(valid(s, json::parse(R"({"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]})")));
  EXPECT_EQ(errors(s, json::parse(R"({"kids": [{"kids": [{"v": "x"}]}]})")),
            Lines{"/kids/0/kids/0/v: \"x\" is not of type \"integer\""});
}

TEST(JsonSchemaRef, CycleThatNeverDescendsThrows) {
  const json s = json::parse(R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                                 "$ref": "#/$defs/a"})");
  EXPECT_TRUE(has(schema_error(s, 1), "$ref cycle"));
}

TEST(JsonSchemaBoolean, TrueAcceptsAndFalseRejectsEverything) {
  EXPECT_TRUE(valid(true, {{"any", {1, nullptr}}}));
  EXPECT_EQ(errors(false, 1), Lines{": no value is allowed here (the schema is false)"});
  EXPECT_EQ(errors({{"properties", {{"x", false}}}}, {{"x", 1}}),
            Lines{"/x: no value is allowed here (the schema is false)"});
  EXPECT_TRUE(valid({{"properties", {{"x", false}}}}, {{"y", 1}}));
}

TEST(JsonSchemaAnnotations, NeverConstrainAndFormatIsNotAsserted) {
  const json s = json::parse(R"({"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:x",
                                 "$comment": "c", "title": "t", "description": "d", "examples": [1], "default": 0,
                                 "deprecated": true, "format": "date-time"})");
  EXPECT_TRUE(valid(s, "not a date"));
  EXPECT_TRUE(valid({{"format", "ipv4"}}, "999.1"));
}

TEST(JsonSchemaRefusals, UnsupportedKeywordsThrowEvenInUnreachedBranches) {
  for (const char* keyword :
       {"contains", "unevaluatedProperties", "dependentRequired", "$anchor", "$dynamicRef", "requried"}) {
    const std::string at_root = schema_error({{keyword, true}});
    EXPECT_TRUE(has(at_root, std::string("unsupported keyword \"") + keyword + "\"")) << at_root;
  }
  // The instance never reaches these, but a schema we cannot fully understand is refused outright.
  const std::string in_defs = schema_error(json::parse(R"({"$defs": {"unused": {"contains": {}}}})"));
  EXPECT_TRUE(has(in_defs, "\"#/$defs/unused\"")) << in_defs;
  EXPECT_NE(schema_error(json::parse(R"({"anyOf": [true, {"items": {"contains": {}}}]})"), 1), "");
  EXPECT_NE(schema_error(json::parse(R"({"properties": {"a": {"unevaluatedItems": false}}})"), json::object()), "");
}

TEST(JsonSchemaRefusals, BadReferencesThrow) {
  EXPECT_TRUE(has(schema_error({{"$ref", "#/$defs/missing"}}), "unresolvable $ref \"#/$defs/missing\""));
  EXPECT_TRUE(has(schema_error({{"$ref", "#/$defs/a~2b"}, {"$defs", {{"a~2b", true}}}}), "unresolvable"));
  EXPECT_TRUE(has(schema_error({{"$ref", "#/items/0"}, {"items", true}}), "unresolvable"));
  EXPECT_TRUE(has(schema_error({{"$ref", "#anchor"}}), "unresolvable"));
  EXPECT_TRUE(has(schema_error({{"$ref", "other.json#/x"}}), "unsupported $ref"));
  EXPECT_TRUE(has(schema_error({{"$ref", "https://example.com/s.json"}}), "unsupported $ref"));
  EXPECT_TRUE(has(schema_error({{"$ref", "#/required"}, {"required", {"a"}}}), "must be an object or a boolean"));
  EXPECT_TRUE(has(schema_error({{"$ref", "#/$defs/x%2"}}), "percent-escape"));
  // Reached only through an otherwise unused $ref target: still checked.
  EXPECT_NE(schema_error(json::parse(R"({"$defs": {"a": {"$ref": "#/$defs/nope"}}})")), "");
}

TEST(JsonSchemaRefusals, MalformedKeywordValuesThrow) {
  const json bad[] = {
      {{"$schema", "http://json-schema.org/draft-07/schema#"}},
      {{"$defs", {{"a", {{"$id", "nested"}}}}}},
      {{"items", {true, false}}},
      {{"pattern", "(unclosed"}},
      {{"patternProperties", {{"[", true}}}},
      {{"minLength", -1}},
      {{"maxItems", 1.5}},
      {{"required", "a"}},
      {{"required", {"a", "a"}}},
      {{"type", "int"}},
      {{"type", json::array()}},
      {{"multipleOf", 0}},
      {{"minimum", "0"}},
      {{"allOf", json::array()}},
      {{"properties", {{"a", 1}}}},
      {{"uniqueItems", 1}},
      {{"title", 3}},
  };
  for (const auto& s : bad) EXPECT_NE(schema_error(s), "") << s.dump();
  EXPECT_NE(schema_error(json::array()), "");
  EXPECT_NE(schema_error(42), "");
}

TEST(JsonSchemaRefusals, SchemaErrorsCarryTheSourceLocation) {
  try {
    validate_against_schema({{"contains", true}}, 1);
    FAIL() << "expected dsbench::Error";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.where(), "json_schema.cpp:")) << e.where();
  }
}

}  // namespace
}  // namespace dsbench::harness
