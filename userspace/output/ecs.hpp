// output: typed events, alerts, monitor state and metrics -> one ECS record each (the NDJSON
// output contract, described by schemas/*.schema.json). Command lines are redacted here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events.hpp"
#include "hook_status.hpp"
#include "output/json.hpp"
#include "util/counters.hpp"

namespace exfilwatch::output {

// The ECS version every record declares (ecs.version) and is checked against in the tests
// (tests/data/ecs/ecs_flat.yml).
inline constexpr std::string_view ecs_version = "9.4.0";

// No record line is longer than this (without its '\n'): container runtimes split longer log
// lines in two (16 KiB). Longer records are rewritten with shorter strings and fewer array items,
// each cut marked, and `exfilwatch.truncated: true`.
inline constexpr std::size_t max_line_bytes = 16 * 1024 - 1;

// Who writes the records and where: host.*, agent.*, rule.ruleset, and the clock of
// event.created. Read once at start (local()); a test builds its own.
struct Context {
    std::string host_name;             // NODE_NAME (the Kubernetes node) when set, else the hostname
    std::string host_hostname;         // the host's hostname; empty when only a pod's own is known
    std::string host_id;               // the host's /etc/machine-id; empty when unreadable
    std::string agent_id;              // stable per host: host_id (one monitor per host)
    std::string agent_ephemeral_id;    // this run's random UUID
    std::string ruleset = "built-in";  // rule.ruleset: "built-in" or the rules file
    std::function<TimeNs()> clock;     // event.created; when empty, event.created is @timestamp

    // Reads NODE_NAME, the hostname and the machine id (the host's, through /proc/1/root when
    // the monitor runs in a container with the host's PID namespace).
    static Context local(std::string ruleset = "built-in");
};

// Context::local() read once, without a clock: what the one-argument writers use.
const Context& default_context();

enum class StateAction : std::uint8_t { started, stopped, rules_reloaded };

// A monitor lifecycle record (event.kind: state).
struct MonitorState {
    TimeNs time = 0;
    StateAction action = StateAction::started;
    std::string version;            // exfilwatch version
    std::vector<HookStatus> hooks;  // monitor-started: attached and degraded hooks
    std::string rules_source;       // "built-in" or the rules file path
    std::string events;             // the --events selection ("" = none)
    std::string mode;               // "run" or "replay"
    std::uint64_t processes_scanned = 0;
    std::vector<std::string> capabilities;  // monitor-started (run): what the process kept after attach
    std::string reason;                     // monitor-stopped: "SIGINT", "duration", "output closed", ...
};

// A stats record (event.kind: metric). Counter names are dotted ("kernel.drops.ringbuf_full")
// and must be unique within one record.
struct Metrics {
    TimeNs time = 0;
    util::Counters counters;
};

// Remembers the redacted, serialized argv (`"args":[...],"args_count":N,"command_line":"..."`) of
// recent command lines: every record of a process repeats its argv, and redaction is the costliest
// part of a record. Direct-mapped by a hash of the argv bytes, compared in full on a hit, bounded
// in entries and in the argv size it keeps, so a hostile argv costs memory only once.
// It also keeps the serialized `ecs`, `host` and `agent` members of the last context it saw.
class ArgsCache {
public:
    static constexpr std::size_t slots = 512;
    static constexpr std::size_t max_argv_bytes = 2048;  // longer argv are redacted every time

    // The JSON members for `args`, from the cache or freshly redacted and encoded.
    std::string_view members(const std::vector<std::string>& args);
    // The JSON members `"ecs":{...},"host":{...},"agent":{...}` for `context` (compared in full).
    std::string_view identity(const Context& context);
    std::uint64_t hits() const { return hits_; }
    std::uint64_t misses() const { return misses_; }

private:
    struct Entry {
        std::uint64_t hash = 0;
        bool used = false;
        std::vector<std::string> args;
        std::string members;
    };
    std::vector<Entry> entries_ = std::vector<Entry>(slots);
    std::string scratch_;
    std::string identity_;
    std::vector<std::string> identity_of_;  // the context fields identity_ was written from
    std::uint64_t hits_ = 0, misses_ = 0;
};

// Each writes one whole record (a JSON object, no newline) at the writer's current position,
// without the line-length bound (to_ndjson_line and EcsEncoder apply it).
// `cache`, when given, saves redacting a command line seen recently (the output is the same).
void write_event(JsonWriter& json, const Event& event, ArgsCache* cache = nullptr,
                 const Context& context = default_context());
void write_alert(JsonWriter& json, const Alert& alert, ArgsCache* cache = nullptr,
                 const Context& context = default_context());
// A BlindSpot as an alert-kind record (event.action monitor-blind-spot).
void write_blind_spot(JsonWriter& json, const BlindSpot& blind_spot, const Context& context = default_context());
void write_state(JsonWriter& json, const MonitorState& state, const Context& context = default_context());
void write_metrics(JsonWriter& json, const Metrics& metrics, const Context& context = default_context());

// One record as an NDJSON line, without the trailing '\n', at most max_line_bytes long.
std::string to_ndjson_line(const Event& event, const Context& context = default_context());
std::string to_ndjson_line(const Alert& alert, const Context& context = default_context());
std::string to_ndjson_line(const BlindSpot& blind_spot, const Context& context = default_context());
std::string to_ndjson_line(const MonitorState& state, const Context& context = default_context());
std::string to_ndjson_line(const Metrics& metrics, const Context& context = default_context());

// The encoder of the hot path: one reused line buffer and an ArgsCache. Each call returns the
// record's NDJSON line (without '\n', at most max_line_bytes), valid until the next call.
class EcsEncoder {
public:
    explicit EcsEncoder(Context context = default_context()) : context_(std::move(context)) {}

    std::string_view line(const Event& event);
    std::string_view line(const Alert& alert);
    std::string_view line(const BlindSpot& blind_spot);
    std::string_view line(const MonitorState& state);
    std::string_view line(const Metrics& metrics);
    const Context& context() const { return context_; }

private:
    Context context_;
    std::string buffer_;
    ArgsCache cache_;
};

// event.action of a telemetry event ("exec", "file-open", ...).
std::string_view event_action(const Event& event);

// Symbolic errno name ("ENOENT"), or "" when unknown; and back (0 when unknown).
std::string_view errno_name(int error);
int errno_from_name(std::string_view name);

// exfilwatch.object.kind of an object-io record, and back (nullopt for an unknown name).
std::string_view object_kind_name(ObjectKind kind);
std::optional<ObjectKind> object_kind_from_name(std::string_view name);

// ECS tls.version ("1.3") for a TLS wire version (0x0304); "" when not a TLS/SSL version.
std::string_view tls_version_text(std::uint16_t version);

// MITRE ATT&CK names of T1567 and its sub-techniques; "" for an unknown id.
std::string_view technique_name(std::string_view id);

}  // namespace exfilwatch::output
