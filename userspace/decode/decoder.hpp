// decode: bounds-checked conversion of ring-buffer bytes into typed records. Pure: a record that
// lies about its sizes is rejected with a reason, never read past its end.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events.hpp"
#include "records.h"

// Everything past decode sees typed values (Family, Protocol, StdoutKind) and the named bounds
// below, never the wire's EW_* numbers: records.h stays the contract of kernel/ and decode/.
namespace exfilwatch::decode {

// The kernel's capture bounds, which stream reassembly must not exceed.
inline constexpr std::size_t capture_tls_max = EW_CAPTURE_TLS_MAX;        // first TLS record
inline constexpr std::size_t capture_hello_max = EW_CAPTURE_HELLO_MAX;    // a ClientHello over records
inline constexpr std::size_t capture_head_max = EW_CAPTURE_HEAD_MAX;      // a plain stream's head
inline constexpr std::size_t capture_stream_max = EW_CAPTURE_STREAM_MAX;  // CONNECT head + tunnelled hello

enum class Family : std::uint8_t { unknown, ipv4, ipv6 };
enum class Protocol : std::uint8_t { other, tcp, udp };

struct Header {
    std::uint16_t kind = 0;
    std::uint64_t time_ns = 0;  // CLOCK_MONOTONIC
    std::uint32_t pid = 0;
    std::uint32_t tid = 0;
};

struct Exec {
    Header header;
    std::uint32_t ppid = 0, uid = 0, gid = 0, pgid = 0, sid = 0;
    bool tty = false;
    std::uint64_t cgroup_id = 0;
    std::uint64_t start_ns = 0;
    std::uint64_t stdin_pipe = 0, stdout_pipe = 0;  // pipe inodes on fd 0 and 1 at exec (0: none)
    StdoutKind stdout_kind = StdoutKind::unknown;
    std::string comm;
    std::string executable;  // absolute path (joined from walked components)
    bool executable_truncated = false;
    std::vector<std::string> args;
    bool args_truncated = false;
    std::string cgroup_path;  // innermost cgroup v2 levels ("/docker/<id>"); empty: root or unknown
};

struct Fork {
    Header header;  // header.pid is the child
    std::uint32_t ppid = 0, uid = 0;
    std::uint64_t start_ns = 0;
    std::uint64_t cgroup_id = 0;
    std::string comm;
};

struct Exit {
    Header header;
    std::int32_t wait_status = 0;
    std::uint64_t start_ns = 0;
};

struct FileOpen {
    Header header;
    std::int32_t fd = -1;  // or -errno
    std::int32_t dirfd = 0;
    std::uint32_t flags = 0;
    std::uint32_t mode = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;    // kernel encoding (major << 20 | minor)
    std::string requested_path;  // as the process named it (empty for open_by_handle_at)
    std::string base_directory;  // a failed relative open: the directory it was relative to
    std::string resolved_path;   // a successful open: the opened file's own path (task's view)
    bool truncated = false;
};

struct FileFirstRead {
    Header header;
    std::int32_t fd = -1;
    bool write = false;  // a write through an fd not seen opened (inherited), not a read
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
};

struct Tuple {
    std::array<std::uint8_t, 16> saddr{};
    std::array<std::uint8_t, 16> daddr{};
    std::uint16_t sport = 0, dport = 0;
    Family family = Family::unknown;
    Protocol protocol = Protocol::other;
};

struct FlowStart {
    Header header;
    std::uint64_t cookie = 0;
    Tuple tuple;
    bool owner_known = false;        // false: no process claimed it; the owner is found by inode
    std::uint64_t socket_inode = 0;  // 0 for a kernel socket
};

struct FlowData {
    Header header;
    std::uint64_t cookie = 0;
    Tuple tuple;
    std::uint32_t offset = 0;
    bool inbound = false;
    bool datagram = false;
    std::vector<std::byte> data;
};

struct FlowCounters {
    Header header;
    std::uint64_t cookie = 0;
    Tuple tuple;
    std::uint64_t bytes_out = 0, bytes_in = 0;
    std::uint64_t tcp_bytes_acked = 0, tcp_bytes_received = 0;
    bool final = false;  // FLOW_END (true) or FLOW_UPDATE (false)
};

// Bytes through a pipe, FIFO, UNIX or loopback socket, another process's memory or a shared mapping (EW_OBJ_*), cumulative per (process,
// object, direction); `first` on the pair's first record.
struct ObjectIo {
    Header header;
    std::uint8_t kind = EW_OBJ_PIPE;
    std::uint8_t direction = EW_IO_READ;
    bool first = false;
    std::uint64_t object_id = 0;
    std::uint64_t device = 0;  // kernel encoding; FIFOs only
    std::uint64_t bytes = 0;
    std::int32_t fd = -1;
};

// The plaintext head of one write through a TLS library (SSL_write, gnutls_record_send).
enum class TlsLibrary : std::uint8_t { openssl, gnutls };
struct TlsPlaintext {
    Header header;             // time: the write's start
    std::uint64_t cookie = 0;  // the socket it went out on; 0: unknown (join by object)
    std::uint64_t object = 0;  // the library's connection within the process
    std::uint64_t offset = 0;  // where the write starts in the connection's plaintext
    std::uint32_t write_size = 0;
    TlsLibrary library = TlsLibrary::openssl;
    std::vector<std::byte> data;  // the write's head (at most EW_PLAINTEXT_MAX bytes)
};
using Record =
    std::variant<Exec, Fork, Exit, FileOpen, FileFirstRead, FlowStart, FlowData, FlowCounters, ObjectIo, TlsPlaintext>;

struct DecodeError {
    std::string reason;
};

using DecodeResult = std::variant<Record, DecodeError>;

// Decodes one ring-buffer record.
DecodeResult decode_record(std::span<const std::byte> bytes);

// Joins leaf-first, NUL-terminated components into an absolute path ("/" when empty).
std::string join_components(std::span<const std::byte> components);

// argv as the kernel stores it (NUL-separated, NUL-terminated) into separate arguments.
std::vector<std::string> split_args(std::span<const std::byte> bytes);

// Joins `relative` onto the absolute `base` and normalises "." and ".." lexically.
std::string resolve_path(std::string_view base, std::string_view relative);

// Textual address of a tuple side.
std::string format_ip(Family family, const std::array<std::uint8_t, 16>& addr);

}  // namespace exfilwatch::decode
