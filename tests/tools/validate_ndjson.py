#!/usr/bin/python3
"""Validate exfilwatch NDJSON output against schemas/record.schema.json, line by line.

usage: validate_ndjson.py [--expect-invalid] [--schemas DIR] FILE|-

Exit 0 and print "N records valid" when every non-empty line is a valid record; exit 1 and print
each failing line number with the reason otherwise. With --expect-invalid it is the reverse:
every line must be rejected (used to prove the schemas catch broken records).
Only the Python standard library and Debian's python3-jsonschema (>= 4.0) are used.
"""
import argparse
import json
import pathlib
import sys

import jsonschema

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_SCHEMAS = HERE.parent.parent / "schemas"


def load_validator(schema_dir):
    store = {}
    for path in sorted(pathlib.Path(schema_dir).glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        store[schema["$id"]] = schema
    root = next((s for s in store.values() if s["$id"].endswith("/record.schema.json")), None)
    if root is None:
        sys.exit(f"validate_ndjson: no record.schema.json in {schema_dir}")
    resolver = jsonschema.RefResolver(base_uri=root["$id"], referrer=root, store=store)
    return jsonschema.Draft202012Validator(root, resolver=resolver)


def line_errors(validator, raw):
    try:
        text = raw.decode("utf-8")  # strict: the output contract is valid UTF-8
    except UnicodeDecodeError as e:
        return [f"not UTF-8: {e}"]
    try:
        record = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"bad constant {c}")))
    except ValueError as e:
        return [f"not JSON: {e}"]
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    messages = [f"{'/'.join(str(p) for p in e.absolute_path) or '(record)'}: {e.message}" for e in errors]
    return list(dict.fromkeys(messages))  # if/then branches can report the same error twice


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="NDJSON file, or - for stdin")
    parser.add_argument("--schemas", default=str(DEFAULT_SCHEMAS), help="schema directory")
    parser.add_argument("--expect-invalid", action="store_true", help="every line must be rejected")
    args = parser.parse_args()

    validator = load_validator(args.schemas)
    stream = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    records = 0
    failures = 0
    with stream:
        for number, raw in enumerate(stream, start=1):
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            records += 1
            errors = line_errors(validator, raw)
            if args.expect_invalid:
                if not errors:
                    failures += 1
                    print(f"line {number}: accepted, but it should have been rejected", file=sys.stderr)
            elif errors:
                failures += 1
                for message in errors[:5]:
                    print(f"line {number}: {message}", file=sys.stderr)
    if records == 0:
        print("validate_ndjson: no records in input", file=sys.stderr)
        return 1
    if failures:
        what = "accepted by mistake" if args.expect_invalid else "invalid"
        print(f"{failures} of {records} records {what}", file=sys.stderr)
        return 1
    print(f"{records} records {'rejected as expected' if args.expect_invalid else 'valid'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
