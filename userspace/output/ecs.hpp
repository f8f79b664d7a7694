// output: typed events, alerts, monitor state and metrics -> one ECS record each (the NDJSON
// output contract, described by schemas/*.schema.json). Command lines are redacted here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events.hpp"
#include "hook_status.hpp"
#include "output/json.hpp"
#include "util/counters.hpp"

namespace exfilwatch::output {

enum class StateAction : std::uint8_t { started, stopped, rules_reloaded };

// A monitor lifecycle record (event.kind: state).
struct MonitorState {
    TimeNs time = 0;
    StateAction action = StateAction::started;
    std::string version;              // exfilwatch version
    std::vector<HookStatus> hooks;    // monitor-started: attached and degraded hooks
    std::string rules_source;         // "built-in" or the rules file path
    std::string events;               // the --events selection ("" = none)
    std::string mode;                 // "run" or "replay"
    std::uint64_t processes_scanned = 0;
    std::vector<std::string> capabilities;  // monitor-started (run): what the process kept after attach
    std::string reason;               // monitor-stopped: "SIGINT", "duration", "output closed", ...
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
class ArgsCache {
public:
    static constexpr std::size_t slots = 512;
    static constexpr std::size_t max_argv_bytes = 2048;  // longer argv are redacted every time

    // The JSON members for `args`, from the cache or freshly redacted and encoded.
    std::string_view members(const std::vector<std::string>& args);
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
    std::uint64_t hits_ = 0, misses_ = 0;
};

// Each writes one whole record (a JSON object, no newline) at the writer's current position.
// `cache`, when given, saves redacting a command line seen recently (the output is the same).
void write_event(JsonWriter& json, const Event& event, ArgsCache* cache = nullptr);
void write_alert(JsonWriter& json, const Alert& alert, ArgsCache* cache = nullptr);
void write_state(JsonWriter& json, const MonitorState& state);
void write_metrics(JsonWriter& json, const Metrics& metrics);

// One record as an NDJSON line, without the trailing '\n'.
std::string to_ndjson_line(const Event& event);
std::string to_ndjson_line(const Alert& alert);
std::string to_ndjson_line(const MonitorState& state);
std::string to_ndjson_line(const Metrics& metrics);

// The encoder of the hot path: one reused line buffer and an ArgsCache. Each call returns the
// record's NDJSON line (without '\n'), valid until the next call.
class EcsEncoder {
public:
    std::string_view line(const Event& event);
    std::string_view line(const Alert& alert);

private:
    std::string buffer_;
    ArgsCache cache_;
};

// event.action of a telemetry event ("exec", "file-open", ...).
std::string_view event_action(const Event& event);

// Symbolic errno name ("ENOENT"), or "" when unknown; and back (0 when unknown).
std::string_view errno_name(int error);
int errno_from_name(std::string_view name);

// ECS tls.version ("1.3") for a TLS wire version (0x0304); "" when not a TLS/SSL version.
std::string_view tls_version_text(std::uint16_t version);

// MITRE ATT&CK names of T1567 and its sub-techniques; "" for an unknown id.
std::string_view technique_name(std::string_view id);

}  // namespace exfilwatch::output
