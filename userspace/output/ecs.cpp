// output: the ECS mapping of every record kind. Field names follow ECS 8.x; what ECS has no field
// for lives under `exfilwatch.*`. Keep schemas/*.schema.json and replay/ in step with this file.
#include "output/ecs.hpp"

#include <cstring>
#include <string>
#include <type_traits>
#include <functional>
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

void string_array(JsonWriter& json, std::string_view name, const std::vector<std::string>& values)
{
    json.array(name);
    for (const auto& v : values) json.string(v);
    json.end_array();
}

void optional_field(JsonWriter& json, std::string_view name, const std::string& value)
{
    if (!value.empty()) json.field(name, value);
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

// The `event` object; `categories`/`types` are ECS allowed values, written as arrays.
void event_header(JsonWriter& json, TimeNs time, std::string_view kind, std::string_view action,
                  std::initializer_list<std::string_view> categories = {},
                  std::initializer_list<std::string_view> types = {})
{
    json.begin_object();
    timestamp_field(json, "@timestamp", time);
    json.object("event");
    json.field("kind", kind);
    json.field("action", action);
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
    if (cache)
        json.raw(cache->members(p.args));
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
    json.field("cgroup_id", p.cgroup_id);
    if (p.stdin_pipe) json.field("stdin_pipe", p.stdin_pipe);
    if (p.stdout_pipe) json.field("stdout_pipe", p.stdout_pipe);
    static constexpr std::string_view stdout_kinds[] = {"", "pipe", "file", "other"};
    if (p.stdout_kind != StdoutKind::unknown) json.field("stdout", stdout_kinds[static_cast<int>(p.stdout_kind)]);
    json.end_object();
}

void endpoint(JsonWriter& json, const Endpoint& ep)
{
    optional_field(json, "ip", ep.ip);
    if (ep.port) json.field("port", ep.port);
}

std::string_view network_type(const std::string& ip)
{
    if (ip.empty()) return {};
    return ip.find(':') != std::string::npos ? "ipv6" : "ipv4";
}

std::string_view transport_name(Transport t) { return t == Transport::udp ? "udp" : "tcp"; }

void network(JsonWriter& json, std::string_view transport, std::string_view type, std::string_view protocol,
             const std::uint64_t* bytes = nullptr)
{
    json.object("network");
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
    json.field("cookie", flow.socket_cookie);
}

// Per event kind: event header, ECS objects, then the exfilwatch extension; one record.
struct EventWriter {
    JsonWriter& json;
    ArgsCache* cache;

    void common_start(TimeNs time, std::string_view action, std::initializer_list<std::string_view> categories,
                      std::initializer_list<std::string_view> types, std::string_view outcome = {})
    {
        event_header(json, time, "event", action, categories, types);
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
        json.end_object();
        json.end_object();
        json.end_object();
    }

    void operator()(const ConnectEvent& e)
    {
        common_start(e.time, actions::connect, {"network"}, {"connection", "start"});
        begin_process(json, e.process, cache);
        finish_process(e.process);
        json.object("source");
        endpoint(json, e.source);
        json.end_object();
        json.object("destination");
        endpoint(json, e.destination);
        optional_field(json, "domain", e.destination_domain);
        json.end_object();
        network(json, transport_name(e.transport), e.ipv6 ? "ipv6" : "ipv4", {});
        begin_extension(json, e.process);
        flow_extension(json, e.flow);
        if (e.socket_inode) json.field("socket_inode", e.socket_inode);
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
        json.object("destination");
        endpoint(json, e.destination);
        json.end_object();
        network(json, "tcp", network_type(e.destination.ip), "tls");
        json.object("tls");
        json.object("client");
        optional_field(json, "server_name", e.server_name);
        json.end_object();
        if (auto v = tls_version_text(e.version); !v.empty()) {
            json.field("version", v);
            json.field("version_protocol", e.version == 0x0300 ? "ssl" : "tls");
        }
        json.end_object();
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
        for (const auto& cname : e.cnames) {
            json.begin_object();
            json.field("name", *owner);
            json.field("type", "CNAME");
            json.field("data", cname);
            json.end_object();
            owner = &cname;
        }
        for (const auto& ip : e.resolved_ips) {
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
        json.object("destination");
        endpoint(json, e.destination);
        json.end_object();
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
        if (e.socket_inode) json.field("socket_inode", e.socket_inode);
        if (e.adopted) json.field("adopted", true);
        if (e.tcp_bytes_acked || e.tcp_bytes_received) {
            json.field("tcp_bytes_acked", e.tcp_bytes_acked);
            json.field("tcp_bytes_received", e.tcp_bytes_received);
        }
        json.end_object();
        json.end_object();
        json.end_object();
    }
};

template <typename Record>
std::string line_of(const Record& record, void (*write)(JsonWriter&, const Record&))
{
    std::string out;
    out.reserve(1024);
    JsonWriter json(out);
    write(json, record);
    return out;
}


}  // namespace

std::string_view event_action(const Event& event)
{
    return actions::by_event_index[event.index()];
}

void write_event(JsonWriter& json, const Event& event, ArgsCache* cache) { std::visit(EventWriter{json, cache}, event); }

void write_alert(JsonWriter& json, const Alert& a, ArgsCache* cache)
{
    event_header(json, a.time, "alert", "exfiltration-suspected", {"intrusion_detection", "network"}, {"info"});
    json.field("risk_score", static_cast<std::int64_t>(a.risk_score));
    json.field("severity", static_cast<std::int64_t>(a.risk_score));
    json.field("reason", a.reason);
    json.end_object();
    json.field("message", a.reason);
    json.object("rule");
    json.field("name", a.rule_name);
    optional_field(json, "category", a.category);
    json.end_object();

    const std::string technique = a.technique_id.empty() ? std::string("T1567") : a.technique_id;
    json.object("threat");
    json.field("framework", "MITRE ATT&CK");
    json.object("tactic");
    json.field("id", "TA0010");
    json.field("name", "Exfiltration");
    json.field("reference", "https://attack.mitre.org/tactics/TA0010/");
    json.end_object();
    json.object("technique");
    json.field("id", technique);
    if (auto name = technique_name(technique); !name.empty()) json.field("name", name);
    if (!a.subtechnique_id.empty()) {
        json.object("subtechnique");
        json.field("id", a.subtechnique_id);
        if (auto name = technique_name(a.subtechnique_id); !name.empty()) json.field("name", name);
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

    begin_extension(json, a.process);
    optional_field(json, "category", a.category);
    json.array("signals");
    for (const auto& s : a.signals) {
        json.begin_object();
        json.field("name", s.name);
        json.field("weight", static_cast<std::int64_t>(s.weight));
        json.field("evidence", s.evidence);  // redacted by detection
        json.end_object();
    }
    json.end_array();
    json.array("files");
    for (const auto& f : a.files) {
        json.begin_object();
        json.field("path", f.path);
        optional_field(json, "class", f.sensitive_class);
        json.field("bytes_read", f.bytes_read);
        json.end_object();
    }
    json.end_array();
    json.array("chain");
    for (const auto& p : a.chain) {
        json.begin_object();
        json.field("pid", p.pid);
        json.field("entity_id", p.entity_id);
        json.field("name", p.name);
        optional_field(json, "executable", p.executable);
        json.field("command_line", redact::redacted_command_line(p.args, 4096));
        json.object("parent");
        json.field("pid", p.ppid);
        json.end_object();
        json.end_object();
    }
    json.end_array();
    json.end_object();
    json.end_object();
}

void write_state(JsonWriter& json, const MonitorState& s)
{
    const bool started = s.action == StateAction::started;
    const bool stopped = s.action == StateAction::stopped;
    event_header(json, s.time, "state",
                 started ? "monitor-started" : stopped ? "monitor-stopped" : "rules-reloaded");
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

void write_metrics(JsonWriter& json, const Metrics& m)
{
    event_header(json, m.time, "metric", "stats");
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

std::string to_ndjson_line(const Event& event)
{
    return line_of<Event>(event, [](JsonWriter& json, const Event& e) { write_event(json, e); });
}
std::string to_ndjson_line(const Alert& alert)
{
    return line_of<Alert>(alert, [](JsonWriter& json, const Alert& a) { write_alert(json, a); });
}

std::string_view EcsEncoder::line(const Event& event)
{
    buffer_.clear();
    JsonWriter json(buffer_);
    write_event(json, event, &cache_);
    return buffer_;
}

std::string_view EcsEncoder::line(const Alert& alert)
{
    buffer_.clear();
    JsonWriter json(buffer_);
    write_alert(json, alert, &cache_);
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
std::string to_ndjson_line(const MonitorState& state) { return line_of(state, &write_state); }
std::string to_ndjson_line(const Metrics& metrics) { return line_of(metrics, &write_metrics); }

std::string_view errno_name(int error)
{
    if (error <= 0) return {};
    const char* name = strerrorname_np(error);  // glibc >= 2.32
    return name ? std::string_view(name) : std::string_view();
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
