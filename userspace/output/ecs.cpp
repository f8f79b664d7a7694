// output: the ECS mapping of every record kind. Field names follow ECS (ecs_version, checked
// against ECS's own field definitions in tests/tools/check_ecs.py); what ECS has no field for
// lives under `exfilwatch.*`. Keep schemas/*.schema.json and replay/ in step with this file.
#include "output/ecs.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "output/actions.hpp"
#include "redact/redact.hpp"

namespace exfilwatch::output {
namespace {

void timestamp_field(JsonWriter& json, std::string_view name, TimeNs time)
{
    json.key(name);
    json.timestamp(time);
}

void optional_field(JsonWriter& json, std::string_view name, const std::string& value)
{
    if (!value.empty()) json.field(name, value);
}

// How many of `size` array items the writer's limits allow (all when unlimited).
std::size_t item_count(JsonWriter& json, std::size_t size)
{
    return json.items_allowed(size) ? size : json.limits().max_items;
}

void string_array(JsonWriter& json, std::string_view name, const std::vector<std::string>& values)
{
    json.array(name);
    const std::size_t n = item_count(json, values.size());
    for (std::size_t i = 0; i < n; ++i) json.string(values[i]);
    json.end_array();
}

// A u64 that can pass 2^53 (cookies, inodes, cgroup ids) as a decimal string: JSON readers with
// doubles and Elasticsearch's signed `long` cannot hold every value.
void u64_string(JsonWriter& json, std::string_view name, std::uint64_t value)
{
    json.field(name, std::to_string(value));
}

std::string first_line(const std::string& path)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string link_target(const char* path)
{
    char buf[128];
    auto n = ::readlink(path, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// ecs, host and agent: the first members of every record.
void identity(JsonWriter& json, const Context& c)
{
    json.object("ecs");
    json.field("version", ecs_version);
    json.end_object();
    if (!c.host_name.empty() || !c.host_hostname.empty() || !c.host_id.empty()) {
        json.object("host");
        optional_field(json, "name", c.host_name);
        optional_field(json, "hostname", c.host_hostname);
        optional_field(json, "id", c.host_id);
        json.end_object();
    }
    json.object("agent");
    json.field("type", "exfilwatch");
    json.field("name", "exfilwatch");
    json.field("version", EXFILWATCH_VERSION);
    optional_field(json, "id", c.agent_id);
    optional_field(json, "ephemeral_id", c.agent_ephemeral_id);
    json.end_object();
}

std::string join_command_line(const std::vector<std::string>& args)
{
    std::size_t size = 0;
    for (const auto& a : args) size += a.size() + 1;
    std::string line;
    line.reserve(size);
    for (const auto& a : args) {
        if (!line.empty() || &a != &args.front()) line.push_back(' ');
        line.append(a);
    }
    return line;
}

// The record's start and its open `event` object; `categories`/`types` are ECS allowed values,
// written as arrays.
void event_header(JsonWriter& json, const Context& context, TimeNs time, std::string_view kind, std::string_view action,
                  std::initializer_list<std::string_view> categories = {},
                  std::initializer_list<std::string_view> types = {})
{
    json.begin_object();
    timestamp_field(json, "@timestamp", time);
    identity(json, context);
    json.object("event");
    json.field("kind", kind);
    json.field("action", action);
    json.field("module", "exfilwatch");
    json.key("dataset");
    json.raw(kind == "alert"    ? "\"exfilwatch.alert\""
             : kind == "event"  ? "\"exfilwatch.telemetry\""
             : kind == "metric" ? "\"exfilwatch.metric\""
                                : "\"exfilwatch.state\"");
    timestamp_field(json, "created", context.clock ? context.clock() : time);
    if (categories.size()) {
        json.array("category");
        for (auto c : categories) json.string(c);
        json.end_array();
    }
    if (types.size()) {
        json.array("type");
        for (auto t : types) json.string(t);
        json.end_array();
    }
}

// The ECS `process` object (args and command line redacted), without closing it so that a caller
// can add fields such as exit_code.
void args_members(JsonWriter& json, const std::vector<std::string>& raw_args)
{
    const auto args = redact::redact_args(raw_args);
    string_array(json, "args", args);
    json.field("args_count", static_cast<std::uint64_t>(raw_args.size()));
    json.field("command_line", join_command_line(args));
}

void begin_process(JsonWriter& json, const ProcessRef& p, ArgsCache* cache)
{
    json.object("process");
    json.field("pid", p.pid);
    json.field("entity_id", p.entity_id);
    json.field("name", p.name);
    optional_field(json, "executable", p.executable);
    if (cache) json.raw(cache->members(p.args));
    else
        args_members(json, p.args);
    json.object("parent");
    json.field("pid", p.ppid);
    optional_field(json, "entity_id", p.parent_entity_id);
    json.end_object();
    json.object("group_leader");
    json.field("pid", p.pgid);
    json.end_object();
    json.object("session_leader");
    json.field("pid", p.sid);
    json.end_object();
    json.object("user");
    json.key("id");
    json.string(std::to_string(p.uid));  // ECS user.id is a keyword
    json.end_object();
    // ECS: a process with a controlling TTY belongs to an interactive session. process.tty
    // itself (the device numbers) is not known.
    json.field("interactive", p.has_tty);
    if (p.start_time) timestamp_field(json, "start", p.start_time);
}

// container.* and orchestrator.* of the actor, when known.
void placement(JsonWriter& json, const ProcessRef& p)
{
    if (!p.container_id.empty()) {
        json.object("container");
        json.field("id", p.container_id);
        json.end_object();
    }
    if (!p.pod_uid.empty()) {
        json.object("orchestrator");
        json.object("resource");
        json.field("type", "pod");
        json.field("id", p.pod_uid);
        json.end_object();
        json.end_object();
    }
}

// exfilwatch.process: what ECS has no field for (opens the `exfilwatch` object; caller closes).
void begin_extension(JsonWriter& json, const ProcessRef& p)
{
    json.object("exfilwatch");
    json.object("process");
    json.field("args_truncated", p.args_truncated);
    json.field("has_tty", p.has_tty);  // ECS process.tty is an object of device numbers
    u64_string(json, "cgroup_id", p.cgroup_id);
    if (p.stdin_pipe) u64_string(json, "stdin_pipe", p.stdin_pipe);
    if (p.stdout_pipe) u64_string(json, "stdout_pipe", p.stdout_pipe);
    static constexpr std::string_view stdout_kinds[] = {"", "pipe", "file", "other"};
    if (p.stdout_kind != StdoutKind::unknown) json.field("stdout", stdout_kinds[static_cast<int>(p.stdout_kind)]);
    json.end_object();
}

void endpoint(JsonWriter& json, const Endpoint& ep)
{
    optional_field(json, "ip", ep.ip);
    if (ep.port) json.field("port", ep.port);
}

// source / destination without a byte count: left out when nothing is known (no empty objects).
void endpoint_object(JsonWriter& json, std::string_view name, const Endpoint& ep, const std::string& domain = {})
{
    if (ep.ip.empty() && !ep.port && domain.empty()) return;
    json.object(name);
    endpoint(json, ep);
    optional_field(json, "domain", domain);
    json.end_object();
}

std::string_view network_type(const std::string& ip)
{
    if (ip.empty()) return {};
    return ip.find(':') != std::string::npos ? "ipv6" : "ipv4";
}

std::string_view transport_name(Transport t)
{
    return t == Transport::udp ? "udp" : "tcp";
}

void network(JsonWriter& json, std::string_view transport, std::string_view type, std::string_view protocol,
             const std::uint64_t* bytes = nullptr)
{
    json.object("network");
    json.field("direction", "egress");  // every flow watched is one this host opened
    if (!transport.empty()) json.field("transport", transport);
    if (!type.empty()) json.field("type", type);
    if (!protocol.empty()) json.field("protocol", protocol);
    if (bytes) json.field("bytes", *bytes);
    json.end_object();
}

void file_object(JsonWriter& json, const std::string& path, std::uint64_t inode, std::uint64_t device)
{
    json.object("file");
    json.field("path", path);
    // ECS file.inode and file.device are keywords.
    json.field("inode", std::to_string(inode));
    json.field("device", std::to_string(device));
    json.end_object();
}

void flow_extension(JsonWriter& json, const FlowKey& flow)
{
    json.object("flow");
    u64_string(json, "cookie", flow.socket_cookie);
}

// Per event kind: event header, ECS objects, then the exfilwatch extension; one record.
struct EventWriter {
    JsonWriter& json;
    ArgsCache* cache;
    const Context& context;

    void common_start(TimeNs time, std::string_view action, std::initializer_list<std::string_view> categories,
                      std::initializer_list<std::string_view> types, std::string_view outcome = {})
    {
        event_header(json, context, time, "event", action, categories, types);
        if (!outcome.empty()) json.field("outcome", outcome);
        json.end_object();
    }

    void finish_process(const ProcessRef& p)
    {
        json.end_object();  // process
        placement(json, p);
    }

    void operator()(const ExecEvent& e)
    {
        common_start(e.time, actions::exec, {"process"}, {"start"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        begin_extension(json, e.process);
        json.end_object();
        json.end_object();
    }

    void operator()(const ForkEvent& e)
    {
        common_start(e.time, actions::fork, {"process"}, {"start"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        begin_extension(json, e.process);
        json.end_object();
        json.end_object();
    }

    void operator()(const ExitEvent& e)
    {
        common_start(e.time, actions::exit, {"process"}, {"end"});
        begin_process(json, e.process, cache);
        json.field("exit_code", e.exit_code);
        timestamp_field(json, "end", e.time);
        finish_process(e.process);
        begin_extension(json, e.process);
        json.end_object();
        json.end_object();
    }

    void operator()(const FileOpenEvent& e)
    {
        common_start(e.time, actions::file_open, {"file"}, {"access"}, e.error ? "failure" : "success");
        begin_process(json, e.process, cache);
        finish_process(e.process);
        file_object(json, e.path, e.inode, e.device);
        begin_extension(json, e.process);
        json.object("file");
        optional_field(json, "requested_path", e.requested_path);
        json.field("flags", e.flags);
        json.field("fd", e.fd);
        if (e.error) {
            auto name = errno_name(e.error);
            if (!name.empty()) json.field("error", name);
            json.field("errno", e.error);
        }
        json.end_object();
        json.end_object();
        json.end_object();
    }

    void operator()(const FileSummaryEvent& e)
    {
        common_start(e.time, actions::file_summary, {"file"}, {"access"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        file_object(json, e.path, e.inode, e.device);
        begin_extension(json, e.process);
        json.object("file");
        json.field("bytes_read", e.bytes_read);
        json.field("bytes_mapped", e.bytes_mapped);
        json.field("opened_for_write", e.opened_for_write);
        if (e.last_write) timestamp_field(json, "last_write", e.last_write);
        json.end_object();
        json.end_object();
        json.end_object();
    }

    void operator()(const ConnectEvent& e)
    {
        common_start(e.time, actions::connect, {"network"}, {"connection", "start"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        endpoint_object(json, "source", e.source);
        endpoint_object(json, "destination", e.destination, e.destination_domain);
        network(json, transport_name(e.transport), e.ipv6 ? "ipv6" : "ipv4", {});
        begin_extension(json, e.process);
        flow_extension(json, e.flow);
        if (e.socket_inode) u64_string(json, "socket_inode", e.socket_inode);
        if (e.adopted) json.field("adopted", true);
        json.end_object();
        json.end_object();
        json.end_object();
    }

    void operator()(const TlsClientHelloEvent& e)
    {
        common_start(e.time, actions::tls_client_hello, {"network"}, {"protocol"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        endpoint_object(json, "destination", e.destination);
        network(json, "tcp", network_type(e.destination.ip), "tls");
        const auto version = tls_version_text(e.version);
        if (!e.server_name.empty() || !version.empty()) {
            json.object("tls");
            if (!e.server_name.empty()) {
                json.object("client");
                json.field("server_name", e.server_name);
                json.end_object();
            }
            if (!version.empty()) {
                json.field("version", version);
                json.field("version_protocol", e.version == 0x0300 ? "ssl" : "tls");
            }
            json.end_object();
        }
        begin_extension(json, e.process);
        flow_extension(json, e.flow);
        json.end_object();
        json.object("tls");
        string_array(json, "alpn", e.alpn);
        json.field("version_code", e.version);
        json.end_object();
        json.end_object();
        json.end_object();
    }

    void operator()(const DnsAnswerEvent& e)
    {
        common_start(e.time, actions::dns_answer, {"network"}, {"protocol", "info"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        network(json, {}, {}, "dns");
        json.object("dns");
        json.field("type", "answer");
        json.object("question");
        json.field("name", e.question);
        json.end_object();
        string_array(json, "resolved_ip", e.resolved_ips);
        json.array("answers");
        const std::string* owner = &e.question;
        std::size_t budget = item_count(json, e.cnames.size() + e.resolved_ips.size());
        for (const auto& cname : e.cnames) {
            if (budget == 0) break;
            --budget;
            json.begin_object();
            json.field("name", *owner);
            json.field("type", "CNAME");
            json.field("data", cname);
            json.end_object();
            owner = &cname;
        }
        for (const auto& ip : e.resolved_ips) {
            if (budget == 0) break;
            --budget;
            json.begin_object();
            json.field("name", *owner);
            json.field("type", ip.find(':') != std::string::npos ? "AAAA" : "A");
            json.field("data", ip);
            json.end_object();
        }
        json.end_array();
        json.end_object();
        begin_extension(json, e.process);
        flow_extension(json, e.flow);
        json.end_object();
        json.end_object();
        json.end_object();
    }

    void operator()(const HttpRequestEvent& e)
    {
        common_start(e.time, actions::http_request, {"network", "web"}, {"protocol", "access"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        endpoint_object(json, "destination", e.destination);
        network(json, "tcp", network_type(e.destination.ip), "http");
        json.object("http");
        json.object("request");
        json.field("method", e.method);
        json.end_object();
        json.end_object();
        if (!e.host.empty() || !e.path.empty()) {
            json.object("url");
            optional_field(json, "domain", e.host);
            optional_field(json, "path", e.path);
            json.end_object();
        }
        begin_extension(json, e.process);
        flow_extension(json, e.flow);
        json.end_object();
        if (!e.connect_target.empty()) {
            json.object("http");
            json.field("connect_target", e.connect_target);
            json.end_object();
        }
        json.end_object();
        json.end_object();
    }

    void operator()(const FlowSummaryEvent& e)
    {
        common_start(e.time, actions::flow_summary, {"network"}, {"connection", e.final ? "end" : "info"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        json.object("source");
        endpoint(json, e.source);
        json.field("bytes", e.bytes_out);
        json.end_object();
        json.object("destination");
        endpoint(json, e.destination);
        optional_field(json, "domain", e.destination_domain);
        json.field("bytes", e.bytes_in);
        json.end_object();
        const std::uint64_t total = e.bytes_out + e.bytes_in;
        network(json, transport_name(e.transport), network_type(e.destination.ip), {}, &total);
        begin_extension(json, e.process);
        flow_extension(json, e.flow);
        json.field("final", e.final);
        optional_field(json, "domain_source", e.domain_source);
        if (e.socket_inode) u64_string(json, "socket_inode", e.socket_inode);
        if (e.adopted) json.field("adopted", true);
        if (e.tcp_bytes_acked || e.tcp_bytes_received) {
            json.field("tcp_bytes_acked", e.tcp_bytes_acked);
            json.field("tcp_bytes_received", e.tcp_bytes_received);
        }
        json.end_object();
        json.end_object();
        json.end_object();
    }

    void operator()(const ObjectIoEvent& e)
    {
        // Pipes and FIFOs are files to ECS; UNIX and loopback sockets are network.
        const bool file = e.object == ObjectKind::pipe || e.object == ObjectKind::fifo;
        const bool write = e.direction == IoDirection::write;
        common_start(e.time, "object-io", {file ? "file" : "network"}, {file ? (write ? "change" : "access") : "info"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        begin_extension(json, e.process);
        json.object("object");
        json.field("kind", object_kind_name(e.object));
        json.field("id", std::to_string(e.object_id));  // a 64-bit hash: a keyword, as file.inode
        if (e.device) json.field("device", std::to_string(e.device));
        json.field("direction", write ? "write" : "read");
        json.field("fd", e.fd);
        json.field("bytes", e.bytes);
        json.end_object();
        json.end_object();
        json.end_object();
    }
};

// The `exfilwatch.chain` / blind-spot process entry: who, with the redacted command line.
void lineage_entry(JsonWriter& json, const ProcessRef& p)
{
    json.begin_object();
    json.field("pid", p.pid);
    json.field("entity_id", p.entity_id);
    json.field("name", p.name);
    optional_field(json, "executable", p.executable);
    json.field("command_line", detect::redacted_command_line(p.args, 4096));
    json.object("parent");
    json.field("pid", p.ppid);
    json.end_object();
    json.end_object();
}

// Retries of an over-long record: shorter strings and fewer array items at each level.
constexpr JsonLimits shrink_levels[] = {{2048, 64}, {512, 16}, {128, 4}, {32, 1}};

// Writes one record into `out` (cleared) with `write(json, cache_allowed)`, then rewrites it under
// shrinking limits while it is longer than max_line_bytes. A shortened record ends its last member,
// the `exfilwatch` object, with "truncated":true. Cached argv members are not limited, so the
// cache is only used for the first attempt.
template <typename Write>
void bounded_line(std::string& out, Write&& write)
{
    out.clear();
    {
        JsonWriter json(out);
        write(json, true);
    }
    if (out.size() <= max_line_bytes) return;
    for (const auto& limits : shrink_levels) {
        out.clear();
        JsonWriter json(out);
        json.set_limits(limits);
        write(json, false);
        if (json.truncated() && out.size() >= 2 && out.compare(out.size() - 2, 2, "}}") == 0)
            out.insert(out.size() - 2, ",\"truncated\":true");
        if (out.size() <= max_line_bytes) return;
    }
}

std::string random_uuid()
{
    return first_line("/proc/sys/kernel/random/uuid");
}

}  // namespace

Context Context::local(std::string ruleset)
{
    Context c;
    c.ruleset = std::move(ruleset);
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0) c.host_hostname = name;
    // In a pod the UTS namespace's hostname is the pod's, not the node's: say only what is known.
    const char* node = std::getenv("NODE_NAME");
    if (node && *node) {
        const auto own = link_target("/proc/self/ns/uts");
        const auto init = link_target("/proc/1/ns/uts");
        if (own.empty() || own != init) c.host_hostname.clear();
        c.host_name = node;
    } else {
        c.host_name = c.host_hostname;
    }
    // PID 1's root is the host's when the monitor shares the host's PID namespace (the DaemonSet).
    for (const char* path : {"/proc/1/root/etc/machine-id", "/etc/machine-id", "/var/lib/dbus/machine-id"}) {
        auto id = first_line(path);
        if (id.size() == 32 &&
            std::all_of(id.begin(), id.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)); })) {
            c.host_id = id;
            break;
        }
    }
    c.agent_id = c.host_id;
    c.agent_ephemeral_id = random_uuid();
    return c;
}

const Context& default_context()
{
    static const Context context = Context::local();
    return context;
}

std::string_view event_action(const Event& event)
{
    return actions::by_event_index[event.index()];
}

void write_event(JsonWriter& json, const Event& event, ArgsCache* cache, const Context& context)
{
    std::visit(EventWriter{json, cache, context}, event);
}

void write_alert(JsonWriter& json, const Alert& a, ArgsCache* cache, const Context& context)
{
    // A rising score of an incident already reported updates it (same event.id).
    if (a.incident_update)
        event_header(json, context, a.time, "alert", "exfiltration-suspected", {"intrusion_detection", "network"},
                     {"info", "change"});
    else
        event_header(json, context, a.time, "alert", "exfiltration-suspected", {"intrusion_detection", "network"},
                     {"info"});
    optional_field(json, "id", a.incident_id);
    json.field("risk_score", static_cast<std::int64_t>(a.risk_score));
    json.field("severity", static_cast<std::int64_t>(a.risk_score));
    json.field("reason", a.reason);
    json.end_object();
    json.field("message", a.reason);
    json.object("rule");
    json.field("id", a.rule_name);
    json.field("name", a.rule_name);
    json.field("ruleset", context.ruleset);
    optional_field(json, "category", a.category);
    json.end_object();

    // ECS types threat.tactic.* and threat.technique.* as arrays (one item per tactic/technique).
    const std::string technique = a.technique_id.empty() ? std::string("T1567") : a.technique_id;
    auto one = [&json](std::string_view name, std::string_view value) {
        json.array(name);
        json.string(value);
        json.end_array();
    };
    auto reference = [](std::string_view id) {
        std::string url = "https://attack.mitre.org/techniques/";
        for (char ch : id) url.push_back(ch == '.' ? '/' : ch);
        return url + "/";
    };
    json.object("threat");
    json.field("framework", "MITRE ATT&CK");
    json.object("tactic");
    one("id", "TA0010");
    one("name", "Exfiltration");
    one("reference", "https://attack.mitre.org/tactics/TA0010/");
    json.end_object();
    json.object("technique");
    one("id", technique);
    if (auto name = technique_name(technique); !name.empty()) one("name", name);
    one("reference", reference(technique));
    if (!a.subtechnique_id.empty()) {
        json.object("subtechnique");
        one("id", a.subtechnique_id);
        if (auto name = technique_name(a.subtechnique_id); !name.empty()) one("name", name);
        one("reference", reference(a.subtechnique_id));
        json.end_object();
    }
    json.end_object();
    json.end_object();

    begin_process(json, a.process, cache);
    json.end_object();
    placement(json, a.process);
    json.object("source");
    json.field("bytes", a.bytes_out);
    json.end_object();
    json.object("destination");
    endpoint(json, a.destination);
    optional_field(json, "domain", a.destination_domain);
    json.field("bytes", a.bytes_in);
    json.end_object();
    network(json, {}, network_type(a.destination.ip), {});

    begin_extension(json, a.process);
    optional_field(json, "category", a.category);
    json.array("signals");
    for (std::size_t i = 0, n = item_count(json, a.signals.size()); i < n; ++i) {
        const auto& s = a.signals[i];
        json.begin_object();
        json.field("name", s.name);
        json.field("weight", static_cast<std::int64_t>(s.weight));
        json.field("evidence", s.evidence);  // redacted by detection
        json.end_object();
    }
    json.end_array();
    json.array("files");
    for (std::size_t i = 0, n = item_count(json, a.files.size()); i < n; ++i) {
        const auto& f = a.files[i];
        json.begin_object();
        json.field("path", f.path);
        optional_field(json, "class", f.sensitive_class);
        json.field("bytes_read", f.bytes_read);
        json.end_object();
    }
    json.end_array();
    json.array("chain");
    for (std::size_t i = 0, n = item_count(json, a.chain.size()); i < n; ++i) lineage_entry(json, a.chain[i]);
    json.end_array();
    json.end_object();
    json.end_object();
}

void write_blind_spot(JsonWriter& json, const BlindSpot& b, const Context& context)
{
    event_header(json, context, b.time, "alert", "monitor-blind-spot", {"host"}, {"info"});
    json.field("reason", b.detail);
    json.end_object();
    json.field("message", b.detail);
    json.object("exfilwatch");
    json.object("blind_spot");
    json.field("cause", b.cause);
    json.field("lost", b.lost);
    json.end_object();
    json.array("processes");
    for (std::size_t i = 0, n = item_count(json, b.processes.size()); i < n; ++i) lineage_entry(json, b.processes[i]);
    json.end_array();
    json.end_object();
    json.end_object();
}

void write_state(JsonWriter& json, const MonitorState& s, const Context& context)
{
    const bool started = s.action == StateAction::started;
    const bool stopped = s.action == StateAction::stopped;
    event_header(json, context, s.time, "state",
                 started   ? "monitor-started"
                 : stopped ? "monitor-stopped"
                           : "rules-reloaded");
    if (stopped) json.field("reason", s.reason);
    json.end_object();
    json.object("service");
    json.field("name", "exfilwatch");
    json.field("version", s.version);
    json.end_object();
    json.object("exfilwatch");
    json.field("version", s.version);
    optional_field(json, "mode", s.mode);
    if (started) {
        json.object("hooks");
        json.array("attached");
        for (const auto& h : s.hooks)
            if (h.attached) json.string(h.name);
        json.end_array();
        json.array("degraded");
        for (const auto& h : s.hooks) {
            if (h.attached) continue;
            json.begin_object();
            json.field("name", h.name);
            json.field("reason", h.reason);
            json.end_object();
        }
        json.end_array();
        json.end_object();
        json.object("rules");
        json.field("source", s.rules_source);
        json.end_object();
        json.field("events", s.events);
        json.field("processes_scanned", s.processes_scanned);
        if (s.mode == "run") {
            json.array("capabilities");
            for (const auto& name : s.capabilities) json.string(name);
            json.end_array();
        }
    } else if (stopped) {
        json.field("stop_reason", s.reason);
    } else {
        json.object("rules");
        json.field("source", s.rules_source);
        json.end_object();
    }
    json.end_object();
    json.end_object();
}

void write_metrics(JsonWriter& json, const Metrics& m, const Context& context)
{
    event_header(json, context, m.time, "metric", "stats");
    json.end_object();
    json.object("service");
    json.field("name", "exfilwatch");
    json.end_object();
    json.object("exfilwatch");
    json.object("stats");
    for (const auto& [name, value] : m.counters) json.field(name, value);
    json.end_object();
    json.end_object();
    json.end_object();
}

std::string to_ndjson_line(const Event& event, const Context& context)
{
    std::string out;
    bounded_line(out, [&](JsonWriter& json, bool) { write_event(json, event, nullptr, context); });
    return out;
}

std::string to_ndjson_line(const Alert& alert, const Context& context)
{
    std::string out;
    bounded_line(out, [&](JsonWriter& json, bool) { write_alert(json, alert, nullptr, context); });
    return out;
}

std::string to_ndjson_line(const BlindSpot& blind_spot, const Context& context)
{
    std::string out;
    bounded_line(out, [&](JsonWriter& json, bool) { write_blind_spot(json, blind_spot, context); });
    return out;
}

std::string to_ndjson_line(const MonitorState& state, const Context& context)
{
    std::string out;
    bounded_line(out, [&](JsonWriter& json, bool) { write_state(json, state, context); });
    return out;
}

std::string to_ndjson_line(const Metrics& metrics, const Context& context)
{
    std::string out;
    bounded_line(out, [&](JsonWriter& json, bool) { write_metrics(json, metrics, context); });
    return out;
}

std::string_view EcsEncoder::line(const Event& event)
{
    bounded_line(buffer_, [&](JsonWriter& json, bool cached) {
        write_event(json, event, cached ? &cache_ : nullptr, context_);
    });
    return buffer_;
}

std::string_view EcsEncoder::line(const Alert& alert)
{
    bounded_line(buffer_, [&](JsonWriter& json, bool cached) {
        write_alert(json, alert, cached ? &cache_ : nullptr, context_);
    });
    return buffer_;
}

std::string_view EcsEncoder::line(const BlindSpot& blind_spot)
{
    bounded_line(buffer_, [&](JsonWriter& json, bool) { write_blind_spot(json, blind_spot, context_); });
    return buffer_;
}

std::string_view EcsEncoder::line(const MonitorState& state)
{
    bounded_line(buffer_, [&](JsonWriter& json, bool) { write_state(json, state, context_); });
    return buffer_;
}

std::string_view EcsEncoder::line(const Metrics& metrics)
{
    bounded_line(buffer_, [&](JsonWriter& json, bool) { write_metrics(json, metrics, context_); });
    return buffer_;
}

std::string_view ArgsCache::members(const std::vector<std::string>& args)
{
    std::size_t bytes = 0;
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (const auto& a : args) {
        bytes += a.size() + 1;
        hash = (hash ^ std::hash<std::string_view>{}(a)) * 0x100000001b3ULL;
        hash = (hash ^ a.size()) * 0x100000001b3ULL;
    }
    auto encode = [&](std::string& out) {
        out.clear();
        JsonWriter json(out);
        args_members(json, args);
    };
    if (bytes > max_argv_bytes) {
        ++misses_;
        encode(scratch_);
        return scratch_;
    }
    Entry& e = entries_[hash % slots];
    if (e.used && e.hash == hash && e.args == args) {
        ++hits_;
        return e.members;
    }
    ++misses_;
    e.used = true;
    e.hash = hash;
    e.args = args;
    encode(e.members);
    return e.members;
}

std::string_view errno_name(int error)
{
    if (error <= 0) return {};
    const char* name = strerrorname_np(error);  // glibc >= 2.32
    return name ? std::string_view(name) : std::string_view();
}

namespace {
constexpr std::string_view object_kind_names[] = {"pipe", "fifo", "unix_socket", "loopback_socket"};
}

std::string_view object_kind_name(ObjectKind kind)
{
    return object_kind_names[static_cast<std::size_t>(kind) % std::size(object_kind_names)];
}

std::optional<ObjectKind> object_kind_from_name(std::string_view name)
{
    for (std::size_t i = 0; i < std::size(object_kind_names); ++i)
        if (object_kind_names[i] == name) return static_cast<ObjectKind>(i);
    return std::nullopt;
}

int errno_from_name(std::string_view name)
{
    static const std::unordered_map<std::string_view, int> by_name = [] {
        std::unordered_map<std::string_view, int> m;
        for (int e = 1; e < 4096; ++e)
            if (const char* n = strerrorname_np(e)) m.emplace(n, e);
        return m;
    }();
    auto it = by_name.find(name);
    return it == by_name.end() ? 0 : it->second;
}

std::string_view tls_version_text(std::uint16_t version)
{
    switch (version) {
    case 0x0300: return "3.0";
    case 0x0301: return "1.0";
    case 0x0302: return "1.1";
    case 0x0303: return "1.2";
    case 0x0304: return "1.3";
    default: return {};
    }
}

std::string_view technique_name(std::string_view id)
{
    if (id == "T1567") return "Exfiltration Over Web Service";
    if (id == "T1567.001") return "Exfiltration to Code Repository";
    if (id == "T1567.002") return "Exfiltration to Cloud Storage";
    if (id == "T1567.003") return "Exfiltration to Text Storage Sites";
    if (id == "T1567.004") return "Exfiltration Over Webhook";
    return {};
}

}  // namespace exfilwatch::output
