"""Validates SARIF logs against the SARIF 2.1.0 JSON schema with the
third-party `jsonschema` package (draft-07, with format checks for `uri`,
`uri-reference` and the rest the package knows).

    python sarif_validate.py SCHEMA LOG...

Prints every violation as `LOG: PATH: MESSAGE` and exits 1 if there is any,
0 if every log is valid.
"""
import json
import sys

import jsonschema


def main() -> int:
    schema_path, *logs = sys.argv[1:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    bad = 0
    for log in logs:
        with open(log, encoding="utf-8") as f:
            doc = json.load(f)
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            path = "/".join(str(p) for p in error.absolute_path)
            print(f"{log}: /{path}: {error.message}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
