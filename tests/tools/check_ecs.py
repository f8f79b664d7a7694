#!/usr/bin/python3
"""Check exfilwatch NDJSON records against ECS's own field definitions.

usage: check_ecs.py [--ecs FILE] [--require-kinds alert,event,...] [--expect-invalid] FILE|-

Every field outside `exfilwatch.*` must be an ECS field (tests/data/ecs/ecs_flat.yml, the
generated flat definitions from github.com/elastic/ecs), with a JSON value of its ECS type, an
array only where ECS normalizes the field to an array, and one of the ECS allowed values (or
expected values) where ECS lists them. Also: no empty objects anywhere, every line shorter than
16 KiB, and ecs.version equal to the version of the definitions. Exit 0 with a summary when every
record passes, 1 with each violation otherwise. With --expect-invalid it is the reverse: every
record must have a violation (proves the check catches them).
"""
import argparse
import datetime
import ipaddress
import json
import pathlib
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_ECS = HERE.parent / "data" / "ecs" / "ecs_flat.yml"
CUSTOM_ROOT = "exfilwatch"
MAX_LINE = 16 * 1024  # container runtimes split lines at 16 KiB: a line and its '\n' must fit


def load_ecs(path):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)


def is_date(value):
    if not isinstance(value, str):
        return False
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python before 3.11 takes at most 6 fraction digits
        head, rest = text.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        datetime.datetime.fromisoformat(text)
        return True
    except ValueError:
        return False


def is_ip(value):
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def type_ok(ecs_type, value):
    if ecs_type in ("keyword", "constant_keyword", "wildcard", "match_only_text", "text"):
        return isinstance(value, str)
    if ecs_type in ("long", "integer", "short", "byte"):
        return isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63
    if ecs_type in ("float", "double", "scaled_float", "half_float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ecs_type == "boolean":
        return isinstance(value, bool)
    if ecs_type == "date":
        return is_date(value)
    if ecs_type == "ip":
        return isinstance(value, str) and is_ip(value)
    if ecs_type in ("object", "nested", "flattened"):
        return isinstance(value, dict)
    return False


class Checker:
    def __init__(self, ecs):
        self.ecs = ecs
        self.version = None
        self.fields_seen = set()
        self.custom_seen = set()

    def allowed(self, name):
        spec = self.ecs[name]
        values = [a["name"] for a in spec.get("allowed_values", [])]
        return values or spec.get("expected_values")

    def check_value(self, name, value, errors):
        spec = self.ecs[name]
        allowed = self.allowed(name)
        if allowed is not None and value not in allowed:
            errors.append(f"{name}: {value!r} is not an ECS allowed value ({', '.join(map(str, allowed))})")
        if not type_ok(spec["type"], value):
            errors.append(f"{name}: {value!r} is not of ECS type {spec['type']}")

    def walk(self, prefix, node, errors):
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and not value:
                errors.append(f"{name}: empty object")
            if name == CUSTOM_ROOT or name.startswith(CUSTOM_ROOT + "."):
                self.custom_seen.add(name)
                if isinstance(value, dict):
                    self.walk(name, value, errors)
                elif isinstance(value, list):
                    for item in value:
                        if isinstance(item, dict):
                            if not item:
                                errors.append(f"{name}[]: empty object")
                            self.walk(name, item, errors)
                continue
            spec = self.ecs.get(name)
            if spec is None:
                if isinstance(value, dict) and any(f.startswith(name + ".") for f in self.ecs):
                    self.walk(name, value, errors)  # an object of ECS fields (host, process.parent, ...)
                else:
                    errors.append(f"{name}: not an ECS field (custom fields belong under {CUSTOM_ROOT}.*)")
                continue
            self.fields_seen.add(name)
            is_array_field = "array" in spec.get("normalize", [])
            if isinstance(value, list):
                if not is_array_field:
                    errors.append(f"{name}: an array, but ECS defines a single value")
                for item in value:
                    if spec["type"] in ("object", "nested") and isinstance(item, dict):
                        self.walk(name, item, errors)
                    else:
                        self.check_value(name, item, errors)
                continue
            if is_array_field:
                errors.append(f"{name}: a single value, but ECS defines an array")
            if spec["type"] in ("object", "nested"):
                if not isinstance(value, dict):
                    errors.append(f"{name}: {value!r} is not an object")
                else:
                    self.walk(name, value, errors)
                continue
            if isinstance(value, dict):
                errors.append(f"{name}: an object, but ECS type is {spec['type']}")
                continue
            self.check_value(name, value, errors)

    def check_line(self, raw):
        errors = []
        if len(raw) + 1 > MAX_LINE:
            errors.append(f"line is {len(raw)} bytes: with its newline it must fit in {MAX_LINE}")
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return [f"not JSON: {e}"]
        if not isinstance(record, dict):
            return ["not an object"]
        if record.get("ecs", {}).get("version") != self.version:
            errors.append(f"ecs.version is {record.get('ecs', {}).get('version')!r}, not {self.version!r}")
        for required in ("host", "agent"):
            if required not in record:
                errors.append(f"{required}: missing")
        self.walk("", record, errors)
        return errors, record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="NDJSON file, or - for stdin")
    parser.add_argument("--ecs", default=str(DEFAULT_ECS), help="ECS generated ecs_flat.yml")
    parser.add_argument("--ecs-version", default="9.4.0", help="the version the records must declare")
    parser.add_argument("--require-kinds", default="", help="comma-separated event.kind values that must occur")
    parser.add_argument("--expect-invalid", action="store_true", help="every record must have a violation")
    args = parser.parse_args()

    checker = Checker(load_ecs(args.ecs))
    checker.version = args.ecs_version
    stream = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    records = failures = 0
    kinds = set()
    with stream:
        for number, raw in enumerate(stream, 1):
            raw = raw.rstrip(b"\n")
            if not raw.strip():
                continue
            records += 1
            result = checker.check_line(raw)
            errors, record = result if isinstance(result, tuple) else (result, {})
            kinds.add(record.get("event", {}).get("kind"))
            if args.expect_invalid:
                if errors:
                    failures += 1
                else:
                    print(f"line {number}: accepted, but it should violate ECS")
                continue
            if errors:
                failures += 1
                for e in dict.fromkeys(errors):
                    print(f"line {number}: {e}")
    if args.expect_invalid:
        print(f"{failures} of {records} records rejected as expected")
        sys.exit(0 if records > 0 and failures == records else 1)
    missing = [k for k in args.require_kinds.split(",") if k and k not in kinds]
    if missing:
        print(f"no record of kind {', '.join(missing)}")
    print(f"{records} records, {failures} with ECS violations; {len(checker.fields_seen)} ECS fields and "
          f"{len(checker.custom_seen)} exfilwatch.* fields used")
    sys.exit(0 if failures == 0 and records > 0 and not missing else 1)


if __name__ == "__main__":
    main()
