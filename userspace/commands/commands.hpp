// The subcommands behind the CLI: each wires the pipeline stages for one job. main.cpp only
// parses flags into these option structs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace exfilwatch::commands {

struct RunOptions {
    std::string rules_file;  // empty: the built-in rules
    std::string events;      // telemetry kinds to emit besides alerts/state/metrics
    int min_score = -1;      // -1: the rules' alert threshold
    double duration_s = 0;   // 0: until SIGINT/SIGTERM
    double stats_interval_s = 60;
    std::string output_file;  // empty: stdout
    bool verbose = false;
    std::string health_file;                      // touched every second while the loop runs (liveness)
    std::uint32_t ring_buffer_bytes = 16u << 20;  // kernel -> userspace ring: a power of two >= 4096
    std::string state_dir;                        // recurring upload jobs kept here; empty: not kept
    std::string listen;                           // ADDR:PORT of /metrics, /healthz, /readyz; empty: off
};

struct ReplayOptions {
    std::string input;  // a file, or "-" for stdin
    std::string rules_file;
    int min_score = -1;
    std::string output_file;
    std::string events;     // also re-emit the telemetry it read
    std::string state_dir;  // off unless given (replay equals live only with the same state)
};

int run(const RunOptions& options);
int replay(const ReplayOptions& options);
int rules_check(const std::string& file);
int rules_dump();
// Exit 0 when `file` was modified less than `max_age_s` seconds ago (a liveness probe).
int health(const std::string& file, double max_age_s);
// The heartbeat behind `health`: sets `path`'s modification time to now (creating it 0644).
void touch_health_file(const std::string& path);

// Parses a comma-separated --events list into event.action names; throws std::invalid_argument
// naming the unknown entry.
std::vector<std::string> parse_event_selection(const std::string& list);
// The same check as a flag validator: "" when `list` parses, else the message (a usage error).
std::string check_event_selection(const std::string& list);

}  // namespace exfilwatch::commands
