// What an Event must look like after the ECS writer and the decoder: the writer's UTF-8 repairs
// and argv redaction applied. Shared by the ecs/ and replay/ tests.
#pragma once

#include <algorithm>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "events.hpp"
#include "output/json.hpp"
#include "redact/redact.hpp"

namespace exfilwatch::round_trip {

using output::sanitize_utf8;

inline auto fields(const ProcessRef& p)
{
    return std::tie(p.pid, p.entity_id, p.ppid, p.parent_entity_id, p.pgid, p.sid, p.uid, p.executable, p.name, p.args,
                    p.args_truncated, p.has_tty, p.cgroup_id, p.container_id, p.pod_uid, p.start_time, p.stdin_pipe,
                    p.stdout_pipe, p.stdout_kind);
}
inline auto fields(const Endpoint& e)
{
    return std::tie(e.ip, e.port);
}
inline auto fields(const ExecEvent& e)
{
    return std::tuple_cat(std::tie(e.time), fields(e.process));
}
inline auto fields(const ForkEvent& e)
{
    return std::tuple_cat(std::tie(e.time), fields(e.process));
}
inline auto fields(const ExitEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.exit_code), fields(e.process));
}
inline auto fields(const FileOpenEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.path, e.requested_path, e.fd, e.flags, e.inode, e.device, e.error),
                          fields(e.process));
}
inline auto fields(const FileSummaryEvent& e)
{
    return std::tuple_cat(
        std::tie(e.time, e.path, e.inode, e.device, e.bytes_read, e.bytes_mapped, e.opened_for_write, e.last_write),
        fields(e.process));
}
inline auto fields(const ConnectEvent& e)
{
    return std::tuple_cat(
        std::tie(e.time, e.flow.socket_cookie, e.transport, e.ipv6, e.destination_domain, e.socket_inode, e.adopted),
        fields(e.source), fields(e.destination), fields(e.process));
}
inline auto fields(const TlsClientHelloEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.flow.socket_cookie, e.server_name, e.alpn, e.version),
                          fields(e.destination), fields(e.process));
}
inline auto fields(const DnsAnswerEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.flow.socket_cookie, e.question, e.cnames, e.resolved_ips),
                          fields(e.process));
}
inline auto fields(const HttpRequestEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.flow.socket_cookie, e.method, e.host, e.path, e.connect_target),
                          fields(e.destination), fields(e.process));
}
inline auto fields(const FlowSummaryEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.flow.socket_cookie, e.transport, e.destination_domain, e.domain_source,
                                   e.bytes_out, e.bytes_in, e.final, e.socket_inode, e.adopted, e.tcp_bytes_acked,
                                   e.tcp_bytes_received),
                          fields(e.source), fields(e.destination), fields(e.process));
}

inline auto fields(const ObjectIoEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.object, e.object_id, e.device, e.direction, e.fd, e.bytes),
                          fields(e.process));
}

inline auto fields(const ContentMatch& m)
{
    return std::tie(m.path, m.device, m.inode, m.encoding, m.location, m.header);
}
inline auto fields(const ContentScanEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.flow.socket_cookie, e.source, e.offset, e.bytes, e.scanned, e.complete,
                                   e.body_bytes, e.opaque_bytes, e.auth_headers),
                          fields(e.process));
}

inline bool same(const Event& a, const Event& b)
{
    if (a.index() != b.index()) return false;
    if (const auto* x = std::get_if<ContentScanEvent>(&a)) {
        const auto& y = std::get<ContentScanEvent>(b);
        if (!std::equal(x->matches.begin(), x->matches.end(), y.matches.begin(), y.matches.end(),
                        [](const ContentMatch& p, const ContentMatch& q) { return fields(p) == fields(q); }))
            return false;
    }
    return std::visit([&](const auto& x) { return fields(x) == fields(std::get<std::decay_t<decltype(x)>>(b)); }, a);
}

inline void repair(std::string& s)
{
    s = sanitize_utf8(s);
}
inline void repair(std::vector<std::string>& v)
{
    for (auto& s : v) repair(s);
}

// What the reader must give back for `e`: the writer's repairs and redaction applied.
inline Event expected_after_round_trip(Event e)
{
    std::visit(
        [](auto& x) {
            auto& p = x.process;
            p.args = redact::redact_args(p.args);
            for (auto* s : {&p.entity_id, &p.parent_entity_id, &p.executable, &p.name, &p.container_id, &p.pod_uid})
                repair(*s);
            repair(p.args);
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, FileOpenEvent>) {
                repair(x.path);
                repair(x.requested_path);
            } else if constexpr (std::is_same_v<T, FileSummaryEvent>) {
                repair(x.path);
            } else if constexpr (std::is_same_v<T, TlsClientHelloEvent>) {
                repair(x.server_name);
                repair(x.alpn);
            } else if constexpr (std::is_same_v<T, DnsAnswerEvent>) {
                repair(x.question);
                repair(x.cnames);
                repair(x.resolved_ips);
            } else if constexpr (std::is_same_v<T, HttpRequestEvent>) {
                repair(x.method);
                repair(x.host);
                repair(x.path);
                repair(x.connect_target);
            } else if constexpr (std::is_same_v<T, FlowSummaryEvent>) {
                repair(x.destination_domain);
            } else if constexpr (std::is_same_v<T, ContentScanEvent>) {
                repair(x.source);
                repair(x.auth_headers);
                for (auto& m : x.matches)
                    for (auto* s : {&m.path, &m.encoding, &m.location, &m.header}) repair(*s);
            }
        },
        e);
    return e;
}

}  // namespace exfilwatch::round_trip
