// output: the ECS encoder. Telemetry records are written from their field maps in ecs/fields.hpp
// (the same maps replay's decoder reads with); alerts, blind spots, state and metrics, which are
// written only, are written here. Field names follow ECS (ecs_version, checked against ECS's own
// field definitions in tests/tools/check_ecs.py); what ECS has no field for lives under
// `exfilwatch.*`. schemas/*.schema.json is checked against the maps (tests/unit/ecs).
#include "output/ecs.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "ecs/fields.hpp"
#include "output/actions.hpp"
#include "redact/redact.hpp"

namespace exfilwatch::output {
namespace {

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

// `"args":[...],"args_count":N,"command_line":"..."` of a process, redacted.
void args_members(JsonWriter& json, const std::vector<std::string>& raw_args)
{
    const auto args = redact::redact_args(raw_args);
    string_array(json, "args", args);
    json.field("args_count", static_cast<std::uint64_t>(raw_args.size()));
    json.field("command_line", join_command_line(args));
}

// The encoder of ecs/fields.hpp's maps: writes each field with the JsonWriter. A nested object is
// opened when its first field is written, so no record holds an empty object.
class EncodeOp {
public:
    EncodeOp(JsonWriter& json, ArgsCache* cache, const Context& context) : json_(json), cache_(cache), context_(context)
    {
    }

    template <typename Body>
    void object(std::string_view name, Body&& body)
    {
        pending_[depth_++] = name;
        body();
        if (open_ == depth_) {
            json_.end_object();
            --open_;
        }
        --depth_;
    }

    template <typename M, typename Codec>
    void field(std::string_view name, const M& member, const Codec& codec,
               ecs::Presence presence = ecs::Presence::always, std::int64_t /*missing*/ = 0)
    {
        using ecs::Presence;
        if ((presence == Presence::optional || presence == Presence::optional_keep) && is_default(member)) return;
        write(name, member, codec);
    }

    void text(std::string_view name, std::string_view value)
    {
        if (value.empty()) return;
        key(name);
        json_.string(value);
    }
    void flag(std::string_view name, bool value)
    {
        key(name);
        json_.boolean(value);
    }
    void number(std::string_view name, std::uint64_t value)
    {
        key(name);
        json_.uinteger(value);
    }
    void instant(std::string_view name, TimeNs time)
    {
        key(name);
        json_.timestamp(time);
    }
    void texts(std::string_view name, std::initializer_list<std::string_view> values)
    {
        if (values.size() == 0) return;
        key(name);
        json_.begin_array();
        for (auto v : values) json_.string(v);
        json_.end_array();
    }
    void created(TimeNs time) { instant("created", context_.clock ? context_.clock() : time); }
    void context(std::string_view name, ecs::ContextField which)
    {
        using ecs::ContextField;
        switch (which) {
        case ContextField::host_name: text(name, context_.host_name); break;
        case ContextField::host_hostname: text(name, context_.host_hostname); break;
        case ContextField::host_id: text(name, context_.host_id); break;
        case ContextField::agent_id: text(name, context_.agent_id); break;
        case ContextField::agent_ephemeral_id: text(name, context_.agent_ephemeral_id); break;
        }
    }
    // identity_fields from the cache (only while no object is open: the block is top-level).
    bool cached_identity()
    {
        if (!cache_ || depth_ != 0) return false;
        json_.raw(cache_->identity(context_));
        return true;
    }
    void argv(const std::vector<std::string>& args)
    {
        open_pending();
        if (cache_) json_.raw(cache_->members(args));
        else
            args_members(json_, args);
    }
    void dns_answers(std::string_view name, const std::string& question, const std::vector<std::string>& cnames,
                     const std::vector<std::string>& ips)
    {
        key(name);
        json_.begin_array();
        const std::string* owner = &question;
        std::size_t budget = item_count(json_, cnames.size() + ips.size());
        for (const auto& cname : cnames) {
            if (budget == 0) break;
            --budget;
            answer(*owner, "CNAME", cname);
            owner = &cname;
        }
        for (const auto& ip : ips) {
            if (budget == 0) break;
            --budget;
            answer(*owner, ip.find(':') != std::string::npos ? "AAAA" : "A", ip);
        }
        json_.end_array();
    }

    template <typename V, typename Body>
    void items(std::string_view name, const V& values, Body&& body)
    {
        key(name);
        json_.begin_array();
        const std::size_t n = item_count(json_, values.size());
        for (std::size_t i = 0; i < n; ++i) {
            json_.begin_object();
            body(*this, values[i]);
            json_.end_object();
        }
        json_.end_array();
    }

private:
    static constexpr std::size_t max_depth = 8;

    template <typename M>
    static bool is_default(const M& member)
    {
        if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::vector<std::string>>)
            return member.empty();
        else
            return member == M{};
    }

    void open_pending()
    {
        while (open_ < depth_) json_.object(pending_[open_++]);
    }
    void key(std::string_view name)
    {
        open_pending();
        json_.key(name);
    }

    template <typename M>
    void write(std::string_view name, const M& value, ecs::Integer)
    {
        key(name);
        if constexpr (std::is_signed_v<M>) json_.integer(value);
        else
            json_.uinteger(value);
    }
    template <typename M>
    void write(std::string_view name, const M& value, ecs::Keyword)
    {
        char digits[24];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
        (void)ec;  // 24 bytes hold any 64-bit integer
        text_always(name, std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
    void write(std::string_view name, const std::string& value, ecs::Text) { text_always(name, value); }
    void write(std::string_view name, bool value, ecs::Flag) { flag(name, value); }
    void write(std::string_view name, TimeNs value, ecs::Time) { instant(name, value); }
    void write(std::string_view name, const std::vector<std::string>& values, ecs::Texts)
    {
        key(name);
        json_.begin_array();
        const std::size_t n = item_count(json_, values.size());
        for (std::size_t i = 0; i < n; ++i) json_.string(values[i]);
        json_.end_array();
    }
    template <typename M, std::size_t N>
    void write(std::string_view name, const M& value, const ecs::Names<N>& codec)
    {
        const auto index = static_cast<std::size_t>(value);
        text(name, index < N ? codec.names[index] : std::string_view());
    }
    void write(std::string_view name, int value, ecs::ErrnoName) { text(name, errno_name(value)); }

    void text_always(std::string_view name, std::string_view value)
    {
        key(name);
        json_.string(value);
    }
    void answer(std::string_view owner, std::string_view type, std::string_view data)
    {
        json_.begin_object();
        json_.field("name", owner);
        json_.field("type", type);
        json_.field("data", data);
        json_.end_object();
    }

    JsonWriter& json_;
    ArgsCache* cache_;
    const Context& context_;
    std::array<std::string_view, max_depth> pending_{};
    std::size_t depth_ = 0;  // objects entered
    std::size_t open_ = 0;   // of which written (a prefix)
};

// The record's start and its open `event` object; `categories`/`types` are ECS allowed values,
// written as arrays.
void event_header(JsonWriter& json, const Context& context, TimeNs time, std::string_view kind, std::string_view action,
                  std::initializer_list<std::string_view> categories = {},
                  std::initializer_list<std::string_view> types = {})
{
    json.begin_object();
    EncodeOp op(json, nullptr, context);
    op.instant("@timestamp", time);
    ecs::identity_fields(op);
    json.object("event");
    ecs::event_header_fields(op, time, kind, action, categories, types);
}

// The ECS `process` object (args and command line redacted), without closing it so that a caller
// can add fields.
void begin_process(JsonWriter& json, const ProcessRef& p, ArgsCache* cache, const Context& context)
{
    json.object("process");
    EncodeOp op(json, cache, context);
    ecs::process_fields(op, p);
}

// container.* and orchestrator.* of the actor, when known.
void placement(JsonWriter& json, const ProcessRef& p, const Context& context)
{
    EncodeOp op(json, nullptr, context);
    ecs::placement_fields(op, p);
}

// exfilwatch.process (opens the `exfilwatch` object; caller closes).
void begin_extension(JsonWriter& json, const ProcessRef& p, const Context& context)
{
    json.object("exfilwatch");
    EncodeOp op(json, nullptr, context);
    ecs::process_extension_fields(op, p);
}

void endpoint(JsonWriter& json, const Endpoint& ep)
{
    optional_field(json, "ip", ep.ip);
    if (ep.port) json.field("port", ep.port);
}

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
    std::visit(
        [&](const auto& e) {
            json.begin_object();
            EncodeOp op(json, cache, context);
            ecs::fields(op, e);
            json.end_object();
        },
        event);
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

    begin_process(json, a.process, cache, context);
    json.end_object();
    placement(json, a.process, context);
    json.object("source");
    json.field("bytes", a.bytes_out);
    json.end_object();
    json.object("destination");
    endpoint(json, a.destination);
    optional_field(json, "domain", a.destination_domain);
    json.field("bytes", a.bytes_in);
    json.end_object();
    json.object("network");
    json.field("direction", "egress");
    if (auto type = ecs::network_type(a.destination.ip); !type.empty()) json.field("type", type);
    json.end_object();

    begin_extension(json, a.process, context);
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

std::string_view ArgsCache::identity(const Context& context)
{
    const std::string* fields[] = {&context.host_name, &context.host_hostname, &context.host_id, &context.agent_id,
                                   &context.agent_ephemeral_id};
    if (identity_of_.size() == std::size(fields) &&
        std::equal(identity_of_.begin(), identity_of_.end(), std::begin(fields),
                   [](const std::string& kept, const std::string* now) { return kept == *now; }))
        return identity_;
    identity_.clear();
    JsonWriter json(identity_);
    EncodeOp op(json, nullptr, context);
    ecs::identity_fields(op);
    identity_of_.clear();
    for (const auto* f : fields) identity_of_.push_back(*f);
    return identity_;
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

std::string_view object_kind_name(ObjectKind kind)
{
    const auto& names = ecs::object_kinds.names;
    return names[static_cast<std::size_t>(kind) % names.size()];
}

std::optional<ObjectKind> object_kind_from_name(std::string_view name)
{
    const auto& names = ecs::object_kinds.names;
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return static_cast<ObjectKind>(i);
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
