// Typed, enriched events: what decode+enrich produce from the kernel, what replay parses back
// from NDJSON telemetry, and what detection consumes. One model for live and replay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace exfilwatch {

// Wall-clock time in nanoseconds since the UNIX epoch. Every event carries its own time so that
// detection never reads a clock (replay equals live).
using TimeNs = std::uint64_t;

// The actor of an event, as the process table knew it when the event happened.
// What a process's fd 1 was at exec: whether its output can reach the process that spawned it.
enum class StdoutKind : std::uint8_t { unknown, pipe, file, other };

struct ProcessRef {
    std::uint32_t pid = 0;
    std::string entity_id;  // unique across pid reuse
    std::uint32_t ppid = 0;
    std::string parent_entity_id;
    std::uint32_t pgid = 0;  // process group: a shell pipeline shares it
    std::uint32_t sid = 0;   // session
    std::uint32_t uid = 0;
    std::string executable;         // absolute path of the executed file; may be non-UTF-8
    std::string name;               // basename of executable (or comm when unknown)
    std::vector<std::string> args;  // argv, raw bytes (never redacted here; sinks redact)
    bool args_truncated = false;
    bool has_tty = false;
    std::uint64_t cgroup_id = 0;
    std::string container_id;  // empty when not in a container
    std::string pod_uid;       // Kubernetes pod UID when the cgroup path holds one
    TimeNs start_time = 0;
    std::uint64_t stdin_pipe = 0;                  // pipe inode on fd 0 at exec; joins a pipeline to the
    std::uint64_t stdout_pipe = 0;                 // member whose stdout_pipe it is (0: not a pipe / unknown)
    StdoutKind stdout_kind = StdoutKind::unknown;  // what fd 1 was at exec
};

struct ExecEvent {
    TimeNs time = 0;
    ProcessRef process;  // after the exec
};

struct ForkEvent {
    TimeNs time = 0;
    ProcessRef process;  // the child (inherits the parent's image until it execs)
};

struct ExitEvent {
    TimeNs time = 0;
    ProcessRef process;
    std::int32_t exit_code = 0;  // WEXITSTATUS, or 128+signal when killed
};

// A file opened by a process (successfully or not).
struct FileOpenEvent {
    TimeNs time = 0;
    ProcessRef process;
    std::string path;            // absolute, as the process sees it (container view)
    std::string requested_path;  // as the process named it
    std::int32_t fd = -1;
    std::uint32_t flags = 0;  // open(2) flags
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
    std::int32_t error = 0;  // 0 on success, else positive errno
};

// How many bytes a process read from one file (cumulative for that process and file).
struct FileSummaryEvent {
    TimeNs time = 0;
    ProcessRef process;
    std::string path;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
    std::uint64_t bytes_read = 0;
    std::uint64_t bytes_mapped = 0;  // mmap of the file: an upper bound of what was read
    bool opened_for_write = false;
    TimeNs last_write = 0;  // the last write the kernel saw (0: none): what a holder wrote after it held
};

enum class Transport : std::uint8_t { tcp, udp };

struct Endpoint {
    std::string ip;  // textual IPv4 or IPv6
    std::uint16_t port = 0;
};

struct FlowKey {
    std::uint64_t socket_cookie = 0;  // the kernel's socket cookie: unique for the boot
};

struct ConnectEvent {
    TimeNs time = 0;
    ProcessRef process;
    FlowKey flow;
    Transport transport = Transport::tcp;
    bool ipv6 = false;
    Endpoint source;
    Endpoint destination;
    std::string destination_domain;  // best name known at connect time (DNS cache), may be empty
    std::uint64_t socket_inode = 0;  // joins /proc/<pid>/fd "socket:[N]"; 0 when unknown
    bool adopted = false;            // older than the monitor: owner found from /proc/*/fd
};

struct TlsClientHelloEvent {
    TimeNs time = 0;
    ProcessRef process;
    FlowKey flow;
    Endpoint destination;
    std::string server_name;
    std::vector<std::string> alpn;
    std::uint16_t version = 0;  // highest offered, e.g. 0x0304
};

struct DnsAnswerEvent {
    TimeNs time = 0;
    ProcessRef process;
    FlowKey flow;
    std::string question;
    std::vector<std::string> cnames;        // the CNAME chain, in order
    std::vector<std::string> resolved_ips;  // A and AAAA answers, textual
};

struct HttpRequestEvent {
    TimeNs time = 0;
    ProcessRef process;
    FlowKey flow;
    Endpoint destination;
    std::string method;
    std::string host;            // Host header, or the CONNECT target host
    std::string path;            // without query values
    std::string connect_target;  // "host:port" of a CONNECT request, else empty
};

struct FlowSummaryEvent {
    TimeNs time = 0;
    ProcessRef process;
    FlowKey flow;
    Transport transport = Transport::tcp;
    Endpoint source;
    Endpoint destination;
    std::string destination_domain;     // SNI, then HTTP Host, then DNS
    std::string domain_source;          // "sni", "http", "dns", "hosts", "argv" or empty
    std::uint64_t bytes_out = 0;        // payload bytes sent (source.bytes)
    std::uint64_t bytes_in = 0;         // payload bytes received (destination.bytes)
    bool final = false;                 // true at close, false for a periodic summary
    std::uint64_t socket_inode = 0;     // 0 when unknown
    bool adopted = false;               // counts start when the monitor first saw the socket
    std::uint64_t tcp_bytes_acked = 0;  // the kernel's own TCP counters (0 when unknown)
    std::uint64_t tcp_bytes_received = 0;
};

// The data-flow model: a process moved bytes through a kernel object other than a regular file
// (regular files travel as FileOpenEvent/FileSummaryEvent). Both ends of one channel name the same
// object, so a writer and a reader that never met (setsid, unrelated processes) still join.
enum class ObjectKind : std::uint8_t {
    pipe,             // object_id: the pipe's inode (both ends share it)
    fifo,             // object_id: the FIFO's inode, device: its filesystem
    unix_socket,      // object_id: a salted hash of the lower of the two ends' kernel sockets (a
                      // pair and a stream connection share it, also before accept); a datagram
                      // socket connected to a receiver: the receiver's
    loopback_socket,  // object_id: a hash of the connection's 4-tuple, the same from both ends
    process_memory,   // object_id: the pid of the process whose memory was read or written
                      // (process_vm_readv/writev, ptrace PEEK/POKE, /proc/<pid>/mem); peer names it
    process_environ,  // object_id: the pid of the process whose environment was read
                      // (/proc/<pid>/environ); peer names it
    shared_memory,    // object_id: the inode behind a shared mapping (a file, memfd or /dev/shm
                      // file mapped MAP_SHARED, an anonymous shared mapping, a System V segment),
                      // device: its filesystem; read: mapped (sees what any mapper writes, while it
                      // lives), write: mapped writable (writes at times no syscall shows); device 0:
                      // an address space two processes share (clone with CLONE_VM), a salted hash
    process_cmdline,  // object_id: the pid of the process whose command line was read
                      // (/proc/<pid>/cmdline); peer names it
};
enum class IoDirection : std::uint8_t { read, write };
// An object that is another process (its memory or its environment), named by that process's pid.
constexpr bool is_process_object(ObjectKind kind)
{
    return kind == ObjectKind::process_memory || kind == ObjectKind::process_environ ||
           kind == ObjectKind::process_cmdline;
}

// The first read or write of a (process, object, direction), then again each time the
// cumulative byte count grew past the previous report (at most once a second per pair).
struct ObjectIoEvent {
    TimeNs time = 0;
    ProcessRef process;
    ObjectKind object = ObjectKind::pipe;
    std::uint64_t object_id = 0;
    std::uint64_t device = 0;  // FIFOs: the filesystem's device; else 0
    IoDirection direction = IoDirection::read;
    std::int32_t fd = -1;     // the fd it happened through (-1: io_uring fixed file, unknown)
    std::uint64_t bytes = 0;  // cumulative for this (process, object, direction)
    // process_memory, process_environ: the process whose memory it is (empty when it could not be
    // found)
    std::uint32_t peer_pid = 0;
    std::string peer_entity_id;
};

// An HTTP/2 write's frames decoded (enrich/http2): the header fields its HEADERS and CONTINUATION
// frames carried (HPACK undone) and its DATA frames' payloads, padding stripped, end to end.
// As transient as the write it comes with: scanned, never kept or written out.
struct DecodedFrames {
    struct Field {
        std::string name;  // lower case; pseudo-headers keep their ':' (":path")
        std::string value;
    };
    std::vector<Field> fields;
    std::vector<std::byte> body;
    bool truncated = false;  // fields past the bound (count or bytes) were decoded, not kept
};

// Plaintext a process sent on a flow, where it can be seen in the clear: one write through a TLS
// library (uprobes), or the captured head of a plain HTTP stream. Never written out: detection
// scans it (detect/content) into a ContentScanEvent, which carries no byte of it.
struct PlaintextWrite {
    TimeNs time = 0;
    ProcessRef process;
    FlowKey flow;                  // 0: not joined to a socket
    std::string source;            // "openssl", "gnutls", "http"; a ContentScanEvent also "argv"
    std::uint64_t object = 0;      // the TLS library's connection within the process (0: http)
    std::uint64_t offset = 0;      // where the write starts in the connection's plaintext
    std::uint64_t write_size = 0;  // bytes the write sent (data holds its head)
    std::vector<std::byte> data;
    std::optional<DecodedFrames> http2;  // the write decoded, when its connection speaks HTTP/2
};

// A sensitive file's fingerprint found in plaintext: which file, which encoding, where.
struct ContentMatch {
    std::string path;
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::string encoding;  // "raw", "base64", "base64url", "hex", "url"
    std::string location;  // "body", "auth-header", "header", "request-line"
    // The header's name (lower case) for a header location; for the body, the form or JSON field
    // whose value it is when that field is named for a credential (token=, "api_key": ) or as
    // its setting (PUSHOVER_USER as user=): a field the service authenticates by.
    std::string header;
    // "signing-key": a key that signs (detect::TokenFacts), which authentication never sends;
    // empty for any other secret.
    std::string secret;
    // Whether the request's host is one its file names the token for (detect::TokenFacts), for a
    // match in an authentication header, the request line or a credential field of the body (of
    // a command line: an auth-argument, by the host of its URL):
    // "named" (a host the file names, or one a word of its setting's name names: SLACK_WEBHOOK_URL's
    // hooks.slack.com, NTFY_TOKEN's ntfy.sh), "foreign" (the file names other hosts), empty when
    // the file names nothing (or the host is unknown).
    std::string audience;
};

// What a scan of one plaintext write found (never a byte of the write or of a secret).
struct ContentScanEvent {
    TimeNs time = 0;
    ProcessRef process;
    FlowKey flow;
    std::string source;                     // as PlaintextWrite
    std::uint64_t offset = 0;               // the write's place in the connection's plaintext
    std::uint64_t bytes = 0;                // bytes the write sent
    std::uint64_t scanned = 0;              // bytes of it that were seen and scanned
    bool complete = false;                  // everything the connection wrote up to here was seen
    std::uint64_t body_bytes = 0;           // bytes past the request head (all of a continuation write)
    std::uint64_t opaque_bytes = 0;         // body bytes no fingerprint can see into (binary, encoded blobs)
    std::vector<std::string> auth_headers;  // authentication headers present (names, lower case)
    std::vector<ContentMatch> matches;
};

using Event =
    std::variant<ExecEvent, ForkEvent, ExitEvent, FileOpenEvent, FileSummaryEvent, ConnectEvent, TlsClientHelloEvent,
                 DnsAnswerEvent, HttpRequestEvent, FlowSummaryEvent, ObjectIoEvent, ContentScanEvent>;

// One contributing signal of an alert.
struct Signal {
    std::string name;
    int weight = 0;
    std::string evidence;  // human-readable, already redacted
};

struct AlertFile {
    std::string path;
    std::string sensitive_class;  // empty for a staging file
    std::uint64_t bytes_read = 0;
};

struct Alert {
    TimeNs time = 0;
    int risk_score = 0;
    std::string rule_name;
    std::string reason;
    std::string technique_id;       // "T1567"
    std::string subtechnique_id;    // "T1567.003", or empty for the parent technique
    std::string category;           // "paste", "cloud-storage", ...
    ProcessRef process;             // the uploader
    std::vector<ProcessRef> chain;  // every process of the lineage, oldest first
    Endpoint destination;
    std::string destination_domain;
    std::uint64_t bytes_out = 0;
    std::uint64_t bytes_in = 0;
    std::vector<AlertFile> files;
    std::vector<Signal> signals;
    std::string incident_id;       // stable for one incident (uploader lineage + destination): event.id
    bool incident_update = false;  // a rising score of an incident already alerted: event.type [change]
};

// Something the monitor lost while a lineage held sensitive data (ring-buffer drops, evicted
// tainted state, an engine behind the ring): reported as loudly as an alert
// (event.kind alert, event.action monitor-blind-spot).
struct BlindSpot {
    TimeNs time = 0;
    std::string cause;                  // "ringbuf_full", "taint_evicted", "engine_lag", ...
    std::uint64_t lost = 0;             // how many records or entries were lost
    std::string detail;                 // one line for people, already redacted
    std::vector<ProcessRef> processes;  // the lineages holding sensitive data at the time (capped)
};

}  // namespace exfilwatch
