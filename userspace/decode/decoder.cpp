// decode: ring-buffer bytes -> typed records, with every size checked against the record.
#include "decode/decoder.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace exfilwatch::decode {
namespace {

namespace w = exfilwatch::wire;
using namespace exfilwatch::wire;

template <typename T>
bool read_fixed(std::span<const std::byte> bytes, T& out)
{
    if (bytes.size() < sizeof(T)) return false;
    std::memcpy(&out, bytes.data(), sizeof(T));
    return true;
}

Header header_of(const w::ew_header& h)
{
    return Header{h.kind, h.time_ns, h.pid, h.tid};
}

std::string c_string(const std::uint8_t* data, std::size_t max)
{
    const auto* end = std::find(data, data + max, std::uint8_t{0});
    return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(end - data));
}

Tuple tuple_of(const w::ew_flow_tuple& t)
{
    Tuple out;
    std::memcpy(out.saddr.data(), t.saddr, 16);
    std::memcpy(out.daddr.data(), t.daddr, 16);
    out.sport = t.sport;
    out.dport = t.dport;
    out.family = t.family == EW_AF_INET ? Family::ipv4 : t.family == EW_AF_INET6 ? Family::ipv6 : Family::unknown;
    out.protocol = t.protocol == EW_PROTO_TCP   ? Protocol::tcp
                   : t.protocol == EW_PROTO_UDP ? Protocol::udp
                                                : Protocol::other;
    return out;
}

DecodeError error(std::string_view kind, std::string_view what)
{
    return DecodeError{fmt::format("{} record: {}", kind, what)};
}

DecodeResult decode_exec(std::span<const std::byte> bytes)
{
    w::ew_exec raw{};
    if (!read_fixed(bytes, raw)) return error("exec", "shorter than its fixed part");
    auto rest = bytes.subspan(sizeof(raw));
    if (raw.exe_size > rest.size() || raw.args_size > rest.size() - raw.exe_size ||
        raw.cgroup_size > rest.size() - raw.exe_size - raw.args_size)
        return error("exec", "sizes exceed the record");
    Exec out;
    out.header = header_of(raw.hdr);
    out.ppid = raw.ppid;
    out.uid = raw.uid;
    out.gid = raw.gid;
    out.pgid = raw.pgid;
    out.sid = raw.sid;
    out.tty = raw.tty != 0;
    out.cgroup_id = raw.cgroup_id;
    out.start_ns = raw.start_ns;
    out.stdin_pipe = raw.stdin_pipe;
    out.stdout_pipe = raw.stdout_pipe;
    switch (raw.stdout_kind) {
    case EW_STDOUT_PIPE: out.stdout_kind = StdoutKind::pipe; break;
    case EW_STDOUT_FILE: out.stdout_kind = StdoutKind::file; break;
    case EW_STDOUT_OTHER: out.stdout_kind = StdoutKind::other; break;
    default: out.stdout_kind = StdoutKind::unknown; break;
    }
    out.comm = c_string(raw.comm, sizeof(raw.comm));
    out.executable = join_components(rest.first(raw.exe_size));
    out.executable_truncated = raw.exe_truncated != 0;
    out.args = split_args(rest.subspan(raw.exe_size, raw.args_size));
    out.args_truncated = raw.args_truncated != 0;
    if (raw.cgroup_size > 0)
        out.cgroup_path = join_components(rest.subspan(raw.exe_size + raw.args_size, raw.cgroup_size));
    return out;
}

DecodeResult decode_file_open(std::span<const std::byte> bytes)
{
    w::ew_file_open raw{};
    if (!read_fixed(bytes, raw)) return error("file-open", "shorter than its fixed part");
    auto rest = bytes.subspan(sizeof(raw));
    if (raw.name_size > rest.size() || raw.base_size > rest.size() - raw.name_size)
        return error("file-open", "sizes exceed the record");
    FileOpen out;
    out.header = header_of(raw.hdr);
    out.fd = raw.fd;
    out.dirfd = raw.dirfd;
    out.flags = raw.flags;
    out.mode = raw.mode;
    out.inode = raw.ino;
    out.device = raw.dev;
    auto name = rest.first(raw.name_size);
    out.requested_path = c_string(reinterpret_cast<const std::uint8_t*>(name.data()), name.size());
    out.truncated = (raw.path_flags & EW_PATH_TRUNCATED) != 0;
    if (raw.path_flags & EW_PATH_RESOLVED)
        out.resolved_path = join_components(rest.subspan(raw.name_size, raw.base_size));
    else if (raw.path_flags & EW_PATH_BASE_WALKED)
        out.base_directory = join_components(rest.subspan(raw.name_size, raw.base_size));
    return out;
}

}  // namespace

std::string join_components(std::span<const std::byte> components)
{
    std::vector<std::string_view> parts;
    const char* data = reinterpret_cast<const char*>(components.data());
    std::size_t start = 0;
    for (std::size_t i = 0; i < components.size(); ++i) {
        if (data[i] != '\0') continue;
        if (i > start) parts.emplace_back(data + start, i - start);
        start = i + 1;
    }
    if (start < components.size()) parts.emplace_back(data + start, components.size() - start);
    std::string path;
    // Leaf first on the wire, root first in the path. (A reverse iterator loop: clang 14 cannot
    // parse std::ranges::reverse_view over libstdc++ 12.)
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {  // NOLINT(modernize-loop-convert)
        if (*it == "/") continue;                               // the root dentry's own name
        path += '/';
        path += *it;
    }
    return path.empty() ? "/" : path;
}

std::vector<std::string> split_args(std::span<const std::byte> bytes)
{
    std::vector<std::string> args;
    const char* data = reinterpret_cast<const char*>(bytes.data());
    std::size_t start = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (data[i] != '\0') continue;
        args.emplace_back(data + start, i - start);
        start = i + 1;
    }
    if (start < bytes.size()) args.emplace_back(data + start, bytes.size() - start);
    return args;
}

std::string resolve_path(std::string_view base, std::string_view relative)
{
    std::vector<std::string_view> parts;
    auto push = [&parts](std::string_view path) {
        std::size_t pos = 0;
        while (pos <= path.size()) {
            std::size_t next = path.find('/', pos);
            if (next == std::string_view::npos) next = path.size();
            std::string_view part = path.substr(pos, next - pos);
            if (part == "..") {
                if (!parts.empty()) parts.pop_back();
            } else if (!part.empty() && part != ".") {
                parts.push_back(part);
            }
            pos = next + 1;
        }
    };
    if (relative.empty() || relative.front() != '/') push(base);
    push(relative);
    std::string out;
    for (auto part : parts) {
        out += '/';
        out += part;
    }
    return out.empty() ? "/" : out;
}

std::string format_ip(Family family, const std::array<std::uint8_t, 16>& addr)
{
    char text[INET6_ADDRSTRLEN] = {};
    if (family == Family::ipv4) {
        inet_ntop(AF_INET, addr.data(), text, sizeof(text));
    } else if (family == Family::ipv6) {
        // IPv4-mapped IPv6 (a v4 connection on a dual-stack socket) reads better as IPv4.
        static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(addr.data(), mapped, sizeof(mapped)) == 0)
            inet_ntop(AF_INET, addr.data() + 12, text, sizeof(text));
        else
            inet_ntop(AF_INET6, addr.data(), text, sizeof(text));
    }
    return text;
}

// A kind added to records.h's EW_RECORD_KINDS needs its case below (and this count raised).
static_assert(EW_REC_LIMIT == 12, "a record kind without a decoder");

DecodeResult decode_record(std::span<const std::byte> bytes)
{
    w::ew_header hdr{};
    if (!read_fixed(bytes, hdr)) return DecodeError{"record shorter than its header"};
    if (hdr.version != EW_RECORD_VERSION)
        return DecodeError{fmt::format("record version {} (expected {})", hdr.version, EW_RECORD_VERSION)};
    if (hdr.size < sizeof(hdr) || hdr.size > bytes.size())
        return DecodeError{fmt::format("record size {} does not fit {} bytes", hdr.size, bytes.size())};
    bytes = bytes.first(hdr.size);

    switch (hdr.kind) {
    case EW_REC_EXEC: return decode_exec(bytes);
    case EW_REC_FORK: {
        w::ew_fork raw{};
        if (!read_fixed(bytes, raw)) return error("fork", "too short");
        return Fork{header_of(raw.hdr), raw.ppid,      raw.uid,
                    raw.start_ns,       raw.cgroup_id, c_string(raw.comm, sizeof(raw.comm))};
    }
    case EW_REC_EXIT: {
        w::ew_exit raw{};
        if (!read_fixed(bytes, raw)) return error("exit", "too short");
        return Exit{header_of(raw.hdr), raw.exit_code, raw.start_ns};
    }
    case EW_REC_FILE_OPEN: return decode_file_open(bytes);
    case EW_REC_FILE_FIRST_READ: {
        w::ew_file_first_read raw{};
        if (!read_fixed(bytes, raw)) return error("file-first-read", "too short");
        return FileFirstRead{header_of(raw.hdr), raw.fd, raw.write != 0, raw.ino, raw.dev};
    }
    case EW_REC_FLOW_START: {
        w::ew_flow_start raw{};
        if (!read_fixed(bytes, raw)) return error("flow-start", "too short");
        return FlowStart{header_of(raw.hdr), raw.cookie, tuple_of(raw.tuple), raw.owner_known != 0, raw.socket_inode};
    }
    case EW_REC_FLOW_DATA: {
        w::ew_flow_data raw{};
        if (!read_fixed(bytes, raw)) return error("flow-data", "too short");
        if (raw.data_size > bytes.size() - sizeof(raw)) return error("flow-data", "data exceeds the record");
        auto data = bytes.subspan(sizeof(raw), raw.data_size);
        return FlowData{header_of(raw.hdr),
                        raw.cookie,
                        tuple_of(raw.tuple),
                        raw.offset,
                        raw.direction == EW_DIR_IN,
                        raw.datagram != 0,
                        std::vector<std::byte>(data.begin(), data.end())};
    }
    case EW_REC_FLOW_END:
    case EW_REC_FLOW_UPDATE: {
        w::ew_flow_end raw{};
        if (!read_fixed(bytes, raw)) return error("flow-end", "too short");
        return FlowCounters{
            header_of(raw.hdr), raw.cookie,          tuple_of(raw.tuple),    raw.bytes_out,
            raw.bytes_in,       raw.tcp_bytes_acked, raw.tcp_bytes_received, hdr.kind == EW_REC_FLOW_END};
    }
    case EW_REC_OBJECT_IO: {
        w::ew_object_io raw{};
        if (!read_fixed(bytes, raw)) return error("object-io", "too short");
        if (raw.kind > EW_OBJ_CMDLINE || raw.direction > EW_IO_WRITE)
            return error("object-io", "unknown kind or direction");
        return ObjectIo{header_of(raw.hdr), raw.kind, raw.direction, raw.first != 0,
                        raw.object_id,      raw.dev,  raw.bytes,     raw.fd};
    }
    case EW_REC_TLS_PLAINTEXT: {
        w::ew_tls_plaintext raw{};
        if (!read_fixed(bytes, raw)) return error("tls-plaintext", "too short");
        if (raw.data_size > bytes.size() - sizeof(raw) || raw.data_size > raw.write_size)
            return error("tls-plaintext", "data exceeds the record or the write");
        if (raw.library != EW_TLS_LIB_OPENSSL && raw.library != EW_TLS_LIB_GNUTLS)
            return error("tls-plaintext", "unknown library");
        auto data = bytes.subspan(sizeof(raw), raw.data_size);
        return TlsPlaintext{header_of(raw.hdr),
                            raw.cookie,
                            raw.object,
                            raw.offset,
                            raw.write_size,
                            raw.library == EW_TLS_LIB_OPENSSL ? TlsLibrary::openssl : TlsLibrary::gnutls,
                            std::vector<std::byte>(data.begin(), data.end())};
    }
    default: return DecodeError{fmt::format("unknown record kind {}", hdr.kind)};
    }
}

}  // namespace exfilwatch::decode
