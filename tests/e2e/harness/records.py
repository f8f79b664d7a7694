"""Reading ECS records: dotted-path field access (nested or flattened keys), NDJSON files and
the predicates the tests wait on."""

import json

_MISSING = object()


def get(record, path, default=None):
    """Field at a dotted path: get(rec, "process.parent.pid"). Accepts nested objects, flattened
    keys ("process.parent.pid": 1) and any mix ({"process": {"parent.pid": 1}})."""
    value = _lookup(record, path.split("."))
    return default if value is _MISSING else value


def _lookup(node, parts):
    if not parts:
        return node
    if not isinstance(node, dict):
        return _MISSING
    # longest key first, so a flattened "a.b" wins over nothing and nested stays exact
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key in node:
            found = _lookup(node[key], parts[cut:])
            if found is not _MISSING:
                return found
    return _MISSING


def has(record, path):
    return _lookup(record, path.split(".")) is not _MISSING


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def read_ndjson(path):
    """Every complete line of an NDJSON file, parsed; a line that is not JSON is an error."""
    records = []
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                break
            if line.strip():
                records.append(parse_line(line, f"{path}:{number}"))
    return records


def parse_line(line, where):
    try:
        record = json.loads(line)
    except ValueError as err:
        raise AssertionError(f"{where}: not JSON ({err}): {line[:300]!r}") from None
    if not isinstance(record, dict):
        raise AssertionError(f"{where}: a record must be a JSON object: {line[:300]!r}")
    return record


def action(record):
    return get(record, "event.action")


def kind(record):
    return get(record, "event.kind")


def is_action(name, fields=None):
    """Predicate: event.action == name and every dotted field in `fields` equals its value
    (a callable value is applied to the field instead)."""
    fields = fields or {}

    def predicate(record):
        if action(record) != name:
            return False
        for path, expected in fields.items():
            value = get(record, path)
            if callable(expected):
                if not expected(value):
                    return False
            elif value != expected:
                return False
        return True

    return predicate


def alerts(records):
    return [r for r in records if kind(r) == "alert"]


def summarize(records, limit=60):
    """A short human view of records for failure messages."""
    lines = []
    for r in records[-limit:]:
        bits = [f"{kind(r)}/{action(r)}"]
        for path in ("process.pid", "process.name", "destination.ip", "destination.port",
                     "destination.domain", "tls.client.server_name", "dns.question.name",
                     "file.path", "source.bytes", "destination.bytes", "event.risk_score",
                     "rule.name", "threat.technique.subtechnique.id"):
            value = get(r, path)
            if value is not None:
                bits.append(f"{path}={value}")
        lines.append(" ".join(str(b) for b in bits))
    if len(records) > limit:
        lines.insert(0, f"... {len(records) - limit} earlier records not shown")
    return "\n".join(lines)

