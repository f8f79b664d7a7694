// The back half shared by `run` and `replay`: detection over enriched events, and every record
// out through one NDJSON sink (telemetry when selected, alerts, state, metrics).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events.hpp"
#include "hook_status.hpp"
#include "util/counters.hpp"

namespace exfilwatch::commands {

struct PipelineOptions {
    std::string rules_file;  // empty: built-in
    std::string events;      // --events list
    int min_score = -1;
    std::string output_file;  // empty: stdout
    // `run` is privileged: it refuses a rules file (or its directory) that anyone but root (or
    // the monitor's own user) could change, since the rules decide what is never alerted on.
    bool require_trusted_rules = false;
    // Directory of state kept across restarts (recurring upload jobs); empty: none.
    std::string state_dir;
};

class Pipeline {
public:
    // Loads the rules (throws std::runtime_error with file:line:column on a bad file) and opens
    // the output.
    explicit Pipeline(const PipelineOptions& options);
    ~Pipeline();

    void started(TimeNs time, const std::vector<HookStatus>& hooks, std::size_t processes_scanned,
                 const std::vector<std::string>& capabilities = {});
    // Re-reads the rules file (SIGHUP). On success the new rules apply from the next event and a
    // rules-reloaded record says so; on error the current rules stay and the error comes back.
    bool reload_rules(TimeNs time, std::string& error);
    void on_event(const Event& event);
    // Plaintext a process sent (live only): scanned against the fingerprints of the sensitive
    // files read so far; the scan (content-scan telemetry) goes on as an event.
    void on_plaintext(const PlaintextWrite& write);
    // Build fingerprints of sensitive files from their content when they are first read: the
    // file as its reader sees it (/proc/<pid>/root/...), at most 64 KiB, checked by inode.
    void read_sensitive_content();
    // A file a process held open at the start (Engine::fingerprint_open_file).
    void fingerprint_open_file(std::uint32_t pid, const std::string& path, std::uint64_t device, std::uint64_t inode);
    // The run loop lost records (`cause`: "ringbuf_full"): a blind spot while a lineage holds
    // sensitive data.
    void note_loss(TimeNs time, std::string_view cause, std::uint64_t count);
    // Sensitive files of the homes in `passwd_path`, known by (device, inode) from the start.
    std::size_t seed_sensitive_files(const std::string& passwd_path);
    // Under load telemetry output goes first (counted: output.telemetry_shed); detection and
    // alerts never do.
    void shed_telemetry(bool shed);
    void metrics(TimeNs time, util::Counters counters);
    // Appends the counters a metric record adds to the caller's (detect.*, output.*, rules.*).
    void append_counters(util::Counters& counters) const;
    void stopped(TimeNs time, const std::string& reason);
    void flush(bool final);
    bool output_broken() const;

    std::uint64_t alerts() const;
    std::uint64_t dropped_lines() const;

private:
    struct State;
    void drain_blind_spots(bool all = false);  // all: also what the current second holds
    std::unique_ptr<State> state_;
};

}  // namespace exfilwatch::commands
