// ecs: the field map of every telemetry record kind, written once. Each map is a function
// template over an "op" that visits the record's fields in output order: output/ecs.cpp's encoder
// writes them, ecs/decoder.cpp reads them back (replay), ecs::describe() lists them for the test
// that holds schemas/ to this map. A field is a member of the typed event with its JSON shape
// (a codec tag), or a value derived from the event that only the encoder writes (`op.text`, ...).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "events.hpp"
#include "output/actions.hpp"
#include "output/ecs.hpp"

namespace exfilwatch::ecs {

// The JSON type of a field, for the schema check.
enum class JsonType : std::uint8_t { string, integer, boolean, strings, objects };

// How a member field is written and read back.
enum class Presence : std::uint8_t {
    always,         // always written; a missing one reads back as the member's default
    required,       // always written; a record without it is an error
    optional,       // left out when the member is 0, "" or false (or an empty name); reads back as the default
    optional_keep,  // optional, and a missing one leaves the member as an earlier field of the map set it
};

// Codec tags: the JSON shape of a member.
struct Integer {};  // an integer member as a JSON number
struct Keyword {};  // a u64 (cookie, inode, cgroup id, uid) as a decimal string (ECS keyword; JSON readers
                    // with doubles and Elasticsearch's signed long cannot hold every value); numbers are read too
struct Text {};     // std::string
struct Flag {};     // bool
struct Time {};     // TimeNs as RFC 3339 UTC
struct Texts {};    // std::vector<std::string>
// An enum (or bool) member by name: the value is the index into `names`. An empty name is left out.
template <std::size_t N>
struct Names {
    std::array<std::string_view, N> names;
};
struct ErrnoName {};  // an errno value by its symbolic name ("ENOENT")

inline constexpr Names<4> stdout_kinds{{"", "pipe", "file", "other"}};
inline constexpr Names<2> transports{{"tcp", "udp"}};
inline constexpr Names<2> ip_versions{{"ipv4", "ipv6"}};
inline constexpr Names<8> object_kinds{{"pipe", "fifo", "unix_socket", "loopback_socket", "process_memory",
                                        "process_environ", "shared_memory", "process_cmdline"}};
inline constexpr Names<2> io_directions{{"read", "write"}};

// The type of a member under its codec (for describe()).
constexpr JsonType json_type(Integer)
{
    return JsonType::integer;
}
constexpr JsonType json_type(Keyword)
{
    return JsonType::string;
}
constexpr JsonType json_type(Text)
{
    return JsonType::string;
}
constexpr JsonType json_type(Flag)
{
    return JsonType::boolean;
}
constexpr JsonType json_type(Time)
{
    return JsonType::string;
}
constexpr JsonType json_type(Texts)
{
    return JsonType::strings;
}
template <std::size_t N>
constexpr JsonType json_type(const Names<N>&)
{
    return JsonType::string;
}
constexpr JsonType json_type(ErrnoName)
{
    return JsonType::string;
}

// The op interface every map is written against:
//   op.object(name, body)                 a nested object (the encoder leaves out one with no field)
//   op.field(name, member, codec[, presence[, missing]])   a member; `missing`: the integer a
//                                          missing field reads back as (default 0)
//   op.text / flag / number / instant / texts(name, value)  derived, written only ("" leaves a text out)
//   op.argv(args)                         process.args (redacted), args_count, command_line
//   op.context(which)                     host.* and agent.* ids of the writer's context
//   op.created(time)                      event.created (the writer's clock, else the record's time)
//   op.dns_answers(question, cnames, ips) dns.answers: written from the chain, read back into cnames
//   op.items(name, vector, body)          an array of objects, each item's members by
//                                          body(op, item) (at most max_items read back)
// `E` is the event type, const for the encoder and the lister.

enum class ContextField : std::uint8_t { host_name, host_hostname, host_id, agent_id, agent_ephemeral_id };

// ecs, host and agent: the first members of every record (alerts, state and metrics too).
template <typename Op>
void identity_fields(Op& op)
{
    // The same for every record of one context: an encoder may write its copy of the block.
    if constexpr (requires { op.cached_identity(); })
        if (op.cached_identity()) return;
    op.object("ecs", [&] { op.text("version", output::ecs_version); });
    op.object("host", [&] {
        op.context("name", ContextField::host_name);
        op.context("hostname", ContextField::host_hostname);
        op.context("id", ContextField::host_id);
    });
    op.object("agent", [&] {
        op.text("type", "exfilwatch");
        op.text("name", "exfilwatch");
        op.text("version", EXFILWATCH_VERSION);
        op.context("id", ContextField::agent_id);
        op.context("ephemeral_id", ContextField::agent_ephemeral_id);
    });
}

// `event.*` of a record, without closing the object (alerts add their own members).
template <typename Op>
void event_header_fields(Op& op, TimeNs time, std::string_view kind, std::string_view action,
                         std::initializer_list<std::string_view> categories,
                         std::initializer_list<std::string_view> types)
{
    op.text("kind", kind);
    op.text("action", action);
    op.text("module", "exfilwatch");
    op.text("dataset", kind == "alert"    ? "exfilwatch.alert"
                       : kind == "event"  ? "exfilwatch.telemetry"
                       : kind == "metric" ? "exfilwatch.metric"
                                          : "exfilwatch.state");
    op.created(time);
    op.texts("category", categories);
    op.texts("type", types);
}

// The members of ECS `process` (args and command line redacted by the encoder).
template <typename Op, typename P>
void process_fields(Op& op, P& p)
{
    op.field("pid", p.pid, Integer{}, Presence::required);
    op.field("entity_id", p.entity_id, Text{});
    op.field("name", p.name, Text{});
    op.field("executable", p.executable, Text{}, Presence::optional);
    op.argv(p.args);
    op.object("parent", [&] {
        op.field("pid", p.ppid, Integer{});
        op.field("entity_id", p.parent_entity_id, Text{}, Presence::optional);
    });
    op.object("group_leader", [&] { op.field("pid", p.pgid, Integer{}); });
    op.object("session_leader", [&] { op.field("pid", p.sid, Integer{}); });
    op.object("user", [&] { op.field("id", p.uid, Keyword{}); });
    // ECS: a process with a controlling TTY belongs to an interactive session. process.tty itself
    // (the device numbers) is not known.
    op.flag("interactive", p.has_tty);
    op.field("start", p.start_time, Time{}, Presence::optional);
}

// container.* and orchestrator.* of the actor, when known.
template <typename Op, typename P>
void placement_fields(Op& op, P& p)
{
    op.object("container", [&] { op.field("id", p.container_id, Text{}, Presence::optional); });
    op.object("orchestrator", [&] {
        op.object("resource", [&] {
            op.text("type", p.pod_uid.empty() ? "" : "pod");
            op.field("id", p.pod_uid, Text{}, Presence::optional);
        });
    });
}

// exfilwatch.process: what ECS has no field for (inside the `exfilwatch` object).
template <typename Op, typename P>
void process_extension_fields(Op& op, P& p)
{
    op.object("process", [&] {
        op.field("args_truncated", p.args_truncated, Flag{});
        op.field("has_tty", p.has_tty, Flag{});  // ECS process.tty is an object of device numbers
        op.field("cgroup_id", p.cgroup_id, Keyword{});
        op.field("stdin_pipe", p.stdin_pipe, Keyword{}, Presence::optional);
        op.field("stdout_pipe", p.stdout_pipe, Keyword{}, Presence::optional);
        op.field("stdout", p.stdout_kind, stdout_kinds, Presence::optional);
    });
}

template <typename Op, typename Ep>
void endpoint_fields(Op& op, Ep& ep)
{
    op.field("ip", ep.ip, Text{}, Presence::optional);
    op.field("port", ep.port, Integer{}, Presence::optional);
}

inline std::string_view network_type(std::string_view ip)
{
    if (ip.empty()) return {};
    return ip.find(':') != std::string_view::npos ? "ipv6" : "ipv4";
}

// The start of a telemetry record: @timestamp, identity, event.*, the actor's process, container
// and orchestrator. `process_tail` adds members to `process` (exit_code, end).
template <typename Op, typename E, typename Tail>
void telemetry_start(Op& op, E& e, std::string_view action, std::initializer_list<std::string_view> categories,
                     std::initializer_list<std::string_view> types, std::string_view outcome, Tail&& process_tail)
{
    op.field("@timestamp", e.time, Time{}, Presence::required);
    identity_fields(op);
    op.object("event", [&] {
        event_header_fields(op, e.time, "event", action, categories, types);
        op.text("outcome", outcome);
    });
    op.object("process", [&] {
        process_fields(op, e.process);
        process_tail();
    });
    placement_fields(op, e.process);
}

template <typename Op, typename E>
void telemetry_start(Op& op, E& e, std::string_view action, std::initializer_list<std::string_view> categories,
                     std::initializer_list<std::string_view> types, std::string_view outcome = {})
{
    telemetry_start(op, e, action, categories, types, outcome, [] {});
}

template <typename Op, typename F>
void flow_cookie(Op& op, F& flow)
{
    op.field("cookie", flow.socket_cookie, Keyword{}, Presence::required);
}

// One map per Event alternative.

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, ExecEvent> || std::is_same_v<std::remove_const_t<E>, ForkEvent>
void fields(Op& op, E& e)
{
    constexpr bool exec = std::is_same_v<std::remove_const_t<E>, ExecEvent>;
    telemetry_start(op, e, exec ? output::actions::exec : output::actions::fork, {"process"}, {"start"});
    op.object("exfilwatch", [&] { process_extension_fields(op, e.process); });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, ExitEvent>
void fields(Op& op, E& e)
{
    telemetry_start(op, e, output::actions::exit, {"process"}, {"end"}, {}, [&] {
        op.field("exit_code", e.exit_code, Integer{}, Presence::required);
        op.instant("end", e.time);
    });
    op.object("exfilwatch", [&] { process_extension_fields(op, e.process); });
}

template <typename Op, typename E>
void file_fields(Op& op, E& e)
{
    op.object("file", [&] {
        op.field("path", e.path, Text{}, Presence::required);
        // ECS file.inode and file.device are keywords.
        op.field("inode", e.inode, Keyword{});
        op.field("device", e.device, Keyword{});
    });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, FileOpenEvent>
void fields(Op& op, E& e)
{
    telemetry_start(op, e, output::actions::file_open, {"file"}, {"access"}, e.error ? "failure" : "success");
    file_fields(op, e);
    op.object("exfilwatch", [&] {
        process_extension_fields(op, e.process);
        op.object("file", [&] {
            op.field("requested_path", e.requested_path, Text{}, Presence::optional);
            op.field("flags", e.flags, Integer{});
            op.field("fd", e.fd, Integer{}, Presence::always, -1);
            // The name where the C library knows it, and the number: the number wins on read.
            op.field("error", e.error, ErrnoName{}, Presence::optional);
            op.field("errno", e.error, Integer{}, Presence::optional_keep);
        });
    });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, FileSummaryEvent>
void fields(Op& op, E& e)
{
    telemetry_start(op, e, output::actions::file_summary, {"file"}, {"access"});
    file_fields(op, e);
    op.object("exfilwatch", [&] {
        process_extension_fields(op, e.process);
        op.object("file", [&] {
            op.field("bytes_read", e.bytes_read, Integer{});
            op.field("bytes_mapped", e.bytes_mapped, Integer{});
            op.field("opened_for_write", e.opened_for_write, Flag{});
            op.field("last_write", e.last_write, Time{}, Presence::optional);
        });
    });
}

// network.*: every flow watched is one this host opened (direction egress).
template <typename Op, typename Transport, typename Type>
void network_fields(Op& op, Transport&& transport, Type&& type, std::string_view protocol)
{
    op.object("network", [&] {
        op.text("direction", "egress");
        transport();
        type();
        op.text("protocol", protocol);
    });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, ConnectEvent>
void fields(Op& op, E& e)
{
    telemetry_start(op, e, output::actions::connect, {"network"}, {"connection", "start"});
    op.object("source", [&] { endpoint_fields(op, e.source); });
    op.object("destination", [&] {
        endpoint_fields(op, e.destination);
        op.field("domain", e.destination_domain, Text{}, Presence::optional);
    });
    network_fields(
        op, [&] { op.field("transport", e.transport, transports); }, [&] { op.field("type", e.ipv6, ip_versions); },
        {});
    op.object("exfilwatch", [&] {
        process_extension_fields(op, e.process);
        op.object("flow", [&] {
            flow_cookie(op, e.flow);
            op.field("socket_inode", e.socket_inode, Keyword{}, Presence::optional);
            op.field("adopted", e.adopted, Flag{}, Presence::optional);
        });
    });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, TlsClientHelloEvent>
void fields(Op& op, E& e)
{
    telemetry_start(op, e, output::actions::tls_client_hello, {"network"}, {"protocol"});
    op.object("destination", [&] { endpoint_fields(op, e.destination); });
    network_fields(
        op, [&] { op.text("transport", "tcp"); }, [&] { op.text("type", network_type(e.destination.ip)); }, "tls");
    const auto version = output::tls_version_text(e.version);
    op.object("tls", [&] {
        op.object("client", [&] { op.field("server_name", e.server_name, Text{}, Presence::optional); });
        op.text("version", version);
        op.text("version_protocol", version.empty() ? "" : e.version == 0x0300 ? "ssl" : "tls");
    });
    op.object("exfilwatch", [&] {
        process_extension_fields(op, e.process);
        op.object("flow", [&] { flow_cookie(op, e.flow); });
        op.object("tls", [&] {
            op.field("alpn", e.alpn, Texts{});
            op.field("version_code", e.version, Integer{});
        });
    });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, DnsAnswerEvent>
void fields(Op& op, E& e)
{
    telemetry_start(op, e, output::actions::dns_answer, {"network"}, {"protocol", "info"});
    network_fields(
        op, [] {}, [] {}, "dns");
    op.object("dns", [&] {
        op.text("type", "answer");
        op.object("question", [&] { op.field("name", e.question, Text{}, Presence::required); });
        op.field("resolved_ip", e.resolved_ips, Texts{});
        op.dns_answers("answers", e.question, e.cnames, e.resolved_ips);
    });
    op.object("exfilwatch", [&] {
        process_extension_fields(op, e.process);
        op.object("flow", [&] { flow_cookie(op, e.flow); });
    });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, HttpRequestEvent>
void fields(Op& op, E& e)
{
    telemetry_start(op, e, output::actions::http_request, {"network", "web"}, {"protocol", "access"});
    op.object("destination", [&] { endpoint_fields(op, e.destination); });
    network_fields(
        op, [&] { op.text("transport", "tcp"); }, [&] { op.text("type", network_type(e.destination.ip)); }, "http");
    op.object("http", [&] { op.object("request", [&] { op.field("method", e.method, Text{}, Presence::required); }); });
    op.object("url", [&] {
        op.field("domain", e.host, Text{}, Presence::optional);
        op.field("path", e.path, Text{}, Presence::optional);
    });
    op.object("exfilwatch", [&] {
        process_extension_fields(op, e.process);
        op.object("flow", [&] { flow_cookie(op, e.flow); });
        op.object("http", [&] { op.field("connect_target", e.connect_target, Text{}, Presence::optional); });
    });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, FlowSummaryEvent>
void fields(Op& op, E& e)
{
    telemetry_start(op, e, output::actions::flow_summary, {"network"}, {"connection", e.final ? "end" : "info"});
    op.object("source", [&] {
        endpoint_fields(op, e.source);
        op.field("bytes", e.bytes_out, Integer{});
    });
    op.object("destination", [&] {
        endpoint_fields(op, e.destination);
        op.field("domain", e.destination_domain, Text{}, Presence::optional);
        op.field("bytes", e.bytes_in, Integer{});
    });
    op.object("network", [&] {
        op.text("direction", "egress");
        op.field("transport", e.transport, transports);
        op.text("type", network_type(e.destination.ip));
        op.number("bytes", e.bytes_out + e.bytes_in);
    });
    op.object("exfilwatch", [&] {
        process_extension_fields(op, e.process);
        op.object("flow", [&] {
            flow_cookie(op, e.flow);
            op.field("final", e.final, Flag{});
            op.field("domain_source", e.domain_source, Text{}, Presence::optional);
            op.field("socket_inode", e.socket_inode, Keyword{}, Presence::optional);
            op.field("adopted", e.adopted, Flag{}, Presence::optional);
            op.field("tcp_bytes_acked", e.tcp_bytes_acked, Integer{}, Presence::optional);
            op.field("tcp_bytes_received", e.tcp_bytes_received, Integer{}, Presence::optional);
        });
    });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, ObjectIoEvent>
void fields(Op& op, E& e)
{
    // Pipes, FIFOs and shared mappings (of an inode) are files to ECS; UNIX and loopback sockets
    // are network; another process's memory is process.
    const bool file =
        e.object == ObjectKind::pipe || e.object == ObjectKind::fifo || e.object == ObjectKind::shared_memory;
    const bool memory = is_process_object(e.object);
    const bool write = e.direction == IoDirection::write;
    telemetry_start(op, e, output::actions::object_io,
                    {file     ? "file"
                     : memory ? "process"
                              : "network"},
                    {file || memory ? (write ? "change" : "access") : "info"});
    op.object("exfilwatch", [&] {
        process_extension_fields(op, e.process);
        op.object("object", [&] {
            op.field("kind", e.object, object_kinds, Presence::required);
            op.field("id", e.object_id, Keyword{}, Presence::required);  // a 64-bit hash: a keyword
            op.field("device", e.device, Keyword{}, Presence::optional);
            op.field("direction", e.direction, io_directions, Presence::required);
            op.field("fd", e.fd, Integer{}, Presence::required, -1);
            op.field("bytes", e.bytes, Integer{}, Presence::required);
            op.object("process", [&] {
                op.field("pid", e.peer_pid, Integer{}, Presence::optional);
                op.field("entity_id", e.peer_entity_id, Text{}, Presence::optional);
            });
        });
    });
}

template <typename Op, typename E>
requires std::is_same_v<std::remove_const_t<E>, ContentScanEvent>
void fields(Op& op, E& e)
{
    // What a scan of plaintext sent found: which sensitive file, in which encoding, where; never
    // a byte of the plaintext or of a secret.
    telemetry_start(op, e, output::actions::content_scan, {"network"}, {"info"});
    op.object("exfilwatch", [&] {
        process_extension_fields(op, e.process);
        op.object("flow", [&] { flow_cookie(op, e.flow); });
        op.object("content", [&] {
            op.field("source", e.source, Text{}, Presence::required);
            op.field("offset", e.offset, Integer{});
            op.field("bytes", e.bytes, Integer{}, Presence::required);
            op.field("scanned", e.scanned, Integer{});
            op.field("complete", e.complete, Flag{});
            op.field("body_bytes", e.body_bytes, Integer{});
            op.field("opaque_bytes", e.opaque_bytes, Integer{});
            op.field("auth_headers", e.auth_headers, Texts{});
            op.items("matches", e.matches, [](auto& item, auto& m) {
                item.field("path", m.path, Text{}, Presence::required);
                item.field("device", m.device, Keyword{});
                item.field("inode", m.inode, Keyword{});
                item.field("encoding", m.encoding, Text{}, Presence::required);
                item.field("location", m.location, Text{}, Presence::required);
                item.field("header", m.header, Text{}, Presence::optional);
                item.field("secret", m.secret, Text{}, Presence::optional);
                item.field("audience", m.audience, Text{}, Presence::optional);
            });
        });
    });
}

// What describe() reports: one field of one record kind.
struct FieldInfo {
    std::string_view action;  // event.action of the record kind
    std::string path;         // dotted: "process.parent.pid"
    JsonType type;
    std::vector<std::pair<std::string, JsonType>> items;  // members of an array of objects
};

// Every field the map of each telemetry record kind can write.
std::vector<FieldInfo> describe();

}  // namespace exfilwatch::ecs
