// A small, strict JSON Schema (draft 2020-12) validator over nlohmann::json, for `dsbench validate`
// and the scorecard tests. Debian packages no C++ validator, so we implement exactly the subset our
// published schemas use and throw on any other keyword rather than silently ignoring it.
// Its answers are pinned to Python's jsonschema by tests/harness/schema_cases/.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench::harness {

struct SchemaViolation {
  std::string instance_path;  // JSON pointer into the instance, "" = root
  std::string message;        // e.g. `-1 is less than minimum 0`
};

// Validates `instance` against `schema` (draft 2020-12 subset). Returns all violations found
// (empty = valid), in a deterministic order.
//
// Supported keywords:
//   annotations: $schema (must be 2020-12), $id (root only), $comment, title, description, examples,
//                default, deprecated, format (annotation only, never asserted, as the spec's
//                default and Python's jsonschema without a format checker)
//   references:  $defs, $ref (local "#..." JSON pointers, or the root $id followed by one)
//   any:         type, enum, const, allOf, anyOf, oneOf, not, if/then/else, boolean schemas
//   objects:     properties, required, additionalProperties, patternProperties, propertyNames,
//                minProperties, maxProperties
//   arrays:      items (a schema), prefixItems, minItems, maxItems, uniqueItems
//   numbers:     minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf
//   strings:     minLength, maxLength (Unicode code points), pattern (std::regex ECMAScript, search)
//
// Throws dsbench::Error (harness/error.hpp) before looking at the instance if the schema uses any
// other keyword, has a malformed keyword value, an invalid regex, or an unresolvable $ref.
std::vector<SchemaViolation> validate_against_schema(const nlohmann::json& schema,
                                                     const nlohmann::json& instance);

}  // namespace dsbench::harness
