#!/usr/bin/env python3
"""Pins the schema cases to Python's jsonschema, the reference implementation we compare against.

Every case file in the given directory is {"schema", "instance", "valid", "note"}. The C++ validator
(harness/json_schema.cpp) is held to the same "valid" answers by json_schema_cases_test.cpp, so the
two implementations cannot drift apart silently.

Usage: python3 tests/harness/json_schema_crosscheck.py tests/harness/schema_cases
"""
import json
import pathlib
import sys

import jsonschema


def check_case(path):
    """Returns None if jsonschema agrees with the case's "valid", else a message saying why not."""
    try:
        case = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"cannot read case: {e}"
    missing = {"schema", "instance", "valid", "note"} - set(case)
    if missing:
        return f"case lacks {sorted(missing)}"
    if not isinstance(case["valid"], bool):
        return f'"valid" must be true or false, got {case["valid"]!r}'
    try:
        jsonschema.Draft202012Validator.check_schema(case["schema"])
    except jsonschema.exceptions.SchemaError as e:
        return f"schema is not a valid draft 2020-12 schema: {e.message}"
    # No format_checker: like our validator, format stays an annotation.
    validator = jsonschema.Draft202012Validator(case["schema"])
    errors = sorted(validator.iter_errors(case["instance"]), key=lambda e: list(e.absolute_path))
    if (not errors) == case["valid"]:
        return None
    if case["valid"]:
        where = "/".join(str(p) for p in errors[0].absolute_path)
        return f'case says valid, jsonschema says invalid at "/{where}": {errors[0].message}'
    return "case says invalid, jsonschema says valid"


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} CASES_DIR", file=sys.stderr)
        return 2
    cases = sorted(pathlib.Path(argv[1]).glob("*.json"))
    if not cases:
        print(f"no *.json case files in {argv[1]}", file=sys.stderr)
        return 1
    failed = 0
    for path in cases:
        problem = check_case(path)
        if problem is not None:
            failed += 1
            print(f"FAIL {path.name}: {problem}")
    print(f"{len(cases) - failed} passed, {failed} failed (jsonschema {jsonschema_version()})")
    return 1 if failed else 0


def jsonschema_version():
    try:
        from importlib.metadata import version
        return version("jsonschema")
    except Exception:  # pragma: no cover - metadata missing on odd installs
        return "unknown"


if __name__ == "__main__":
    sys.exit(main(sys.argv))
