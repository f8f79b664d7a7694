#!/usr/bin/python3
"""Check that deploy/siem/elasticsearch/index-template.json maps every field of exfilwatch records.

usage: check_index_template.py [--template FILE] FILE|-

The template is `"dynamic": false`, so a field it does not map is kept in _source but never
indexed: this check fails on any such field, and on a value its mapped type would reject
(Elasticsearch's own coercion rules: a keyword takes strings, a long integers, an ip addresses,
a date RFC 3339 text). exfilwatch.chain, files, signals and processes must be nested.
"""
import argparse
import datetime
import ipaddress
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_TEMPLATE = HERE.parent.parent / "deploy" / "siem" / "elasticsearch" / "index-template.json"
MUST_BE_NESTED = ("exfilwatch.chain", "exfilwatch.files", "exfilwatch.signals", "exfilwatch.processes")


def fits(es_type, value):
    if es_type in ("keyword", "wildcard", "match_only_text", "text"):
        return isinstance(value, str)
    if es_type == "long":
        return isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63
    if es_type in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if es_type == "boolean":
        return isinstance(value, bool)
    if es_type == "ip":
        try:
            ipaddress.ip_address(value)
            return True
        except (ValueError, TypeError):
            return False
    if es_type in ("date", "date_nanos"):
        if not isinstance(value, str):
            return False
        head = value.replace("Z", "+00:00")
        if "." in head:
            a, b = head.split(".", 1)
            digits = "".join(c for c in b if c.isdigit())
            head = f"{a}.{digits[:6]}{b[len(digits):]}"
        try:
            datetime.datetime.fromisoformat(head)
            return True
        except ValueError:
            return False
    return False


def dynamic_type(template, name):
    for entry in template.get("dynamic_templates", []):
        for spec in entry.values():
            pattern = spec.get("path_match", "")
            if pattern.endswith(".*") and name.startswith(pattern[:-1]):
                return spec["mapping"]["type"]
    return None


def walk(mappings, node, prefix, value, errors, seen):
    """`node`: the mapping of `prefix` (an object with properties, or a leaf)."""
    if isinstance(value, list):
        if prefix in MUST_BE_NESTED and node.get("type") != "nested":
            errors.append(f"{prefix}: must be nested, is {node.get('type', 'object')}")
        for item in value:
            walk(mappings, node, prefix, item, errors, seen)
        return
    if isinstance(value, dict):
        if "properties" not in node and node.get("type") not in (None, "object", "nested"):
            errors.append(f"{prefix}: an object, but mapped as {node.get('type')}")
            return
        for key, child in value.items():
            name = f"{prefix}.{key}" if prefix else key
            props = node.get("properties", {})
            # Dots in a key are object paths to Elasticsearch (exfilwatch.stats' counter names).
            parts = key.split(".")
            target = props.get(parts[0])
            for part in parts[1:]:
                target = (target or {}).get("properties", {}).get(part)
            if target is None:
                if node.get("dynamic") is True or dynamic_type(mappings, name):
                    kind = dynamic_type(mappings, name)
                    if kind and not isinstance(child, (dict, list)) and not fits(kind, child):
                        errors.append(f"{name}: {child!r} does not fit the dynamic type {kind}")
                    seen.add(name)
                    continue
                errors.append(f"{name}: not mapped (dynamic: false would leave it unindexed)")
                continue
            walk(mappings, target, name, child, errors, seen)
        return
    seen.add(prefix)
    es_type = node.get("type")
    if es_type in (None, "object", "nested"):
        errors.append(f"{prefix}: a value {value!r}, but mapped as an object")
    elif not fits(es_type, value):
        errors.append(f"{prefix}: {value!r} does not fit {es_type}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("--template", default=str(DEFAULT_TEMPLATE))
    args = parser.parse_args()
    template = json.loads(pathlib.Path(args.template).read_text())
    mappings = template["template"]["mappings"]
    if mappings.get("dynamic") is not False:
        sys.exit("check_index_template: the template must say \"dynamic\": false")
    stream = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    records = failures = 0
    seen = set()
    with stream:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            records += 1
            errors = []
            walk(mappings, mappings, "", json.loads(raw), errors, seen)
            if errors:
                failures += 1
                for e in dict.fromkeys(errors):
                    print(f"line {number}: {e}")
    print(f"{records} records, {failures} with unmapped or mistyped fields; {len(seen)} fields mapped")
    sys.exit(0 if records and not failures else 1)


if __name__ == "__main__":
    main()
