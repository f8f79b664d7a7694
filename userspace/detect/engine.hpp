// detect: the engine. Consumes typed events in order, keeps flows and (uploader, destination)
// pairs, joins each pair with its lineage's reads, scores it 0..100 from weighted signals and
// emits an Alert when the score crosses the threshold (again only when it escalates).
// Deterministic: the only clock is the events' time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "detect/command.hpp"
#include "detect/lineage.hpp"
#include "detect/rules.hpp"
#include "events.hpp"
#include "util/counters.hpp"

namespace exfilwatch::detect {

struct EngineStats {
    std::uint64_t events = 0;
    std::uint64_t alerts = 0;
    std::uint64_t evaluations = 0;
    std::uint64_t rescored_on_read = 0;
    std::uint64_t processes = 0;
    std::uint64_t flows = 0;
    std::uint64_t pairs = 0;
    std::uint64_t staged_files = 0;
    std::uint64_t destinations = 0;
    std::uint64_t evicted_processes = 0;
    std::uint64_t evicted_flows = 0;
    std::uint64_t evicted_pairs = 0;
    std::uint64_t evicted_staged_files = 0;
    std::uint64_t evicted_destinations = 0;
    std::uint64_t dropped_reads = 0;

    // As metric counters (the ones a metric record has always carried).
    void report(util::Counters& out) const
    {
        out.emplace_back("detect.events", events);
        out.emplace_back("detect.alerts", alerts);
        out.emplace_back("detect.processes", processes);
        out.emplace_back("detect.flows", flows);
        out.emplace_back("detect.evicted_processes", evicted_processes);
        out.emplace_back("detect.evicted_flows", evicted_flows);
    }
};

// The score of one pair with everything that went into it (what an alert reports).
struct Assessment {
    int score = 0;
    bool gated = false;  // held under the threshold: no data, or nothing says it left
    std::vector<Signal> signals;
    std::vector<AlertFile> files;
    std::vector<ProcessRef> chain;
    const Category* category = nullptr;
    std::string reason;
};

class Engine {
public:
    explicit Engine(Rules rules);

    std::vector<Alert> process(const Event& event);
    EngineStats stats() const;
    const Rules& rules() const { return rules_; }
    // New rules for what comes next (SIGHUP); state built so far (lineage, flows) is kept.
    void replace_rules(Rules rules);

private:
    struct Flow {
        std::string entity;
        std::string domain;
        std::string path;
        Endpoint destination;
        bool tls = false;
        std::uint64_t bytes_out = 0, bytes_in = 0;
        TimeNs last = 0;
        std::string pair_key;
    };
    struct Pair {
        std::string entity;
        std::string domain;  // normalized; empty when only the IP is known
        std::string path;
        Endpoint destination;
        ProcessRef process;
        bool tls = false;
        bool first_seen = false;
        std::uint64_t bytes_out = 0, bytes_in = 0;
        TimeNs first = 0, last = 0;
        int alerted_score = 0;
        std::size_t open_flows = 0;
    };

    void on_flow(const ProcessRef& process, TimeNs time, std::uint64_t cookie, const Endpoint& destination,
                 const std::string& domain, const std::string& path, bool tls, const std::uint64_t* out,
                 const std::uint64_t* in, bool final, std::vector<Alert>& alerts);
    void evaluate(Pair& pair, TimeNs now, std::vector<Alert>& alerts);
    void rescore_near(const ProcessRef& reader, TimeNs now, std::vector<Alert>& alerts);
    // `view`: the uploader's lineage (Lineage::view of pair.process).
    Assessment assess(const Pair& pair, const LineageView& view, bool explain) const;
    void note_destination(Pair& pair, TimeNs time);
    void expire(TimeNs now);

    // Memos of the pure functions scoring calls again and again with the same inputs (each
    // rescoring of every pair): direct-mapped, bounded, compared in full on a hit, so results are
    // exactly those of the functions.
    const CommandAnalysis& command_of(const ProcessRef& process) const;
    std::string redacted(std::string_view text) const;
    const Service* service_of(const std::string& domain, const std::string& path) const;
    struct CommandMemo {
        bool used = false;
        std::string name, executable;
        std::vector<std::string> args;
        CommandAnalysis result;
    };
    struct TextMemo {
        bool used = false;
        std::string text, result;
    };
    struct ServiceMemo {
        bool used = false;
        std::string domain, path;
        const Service* service = nullptr;
    };
    mutable std::vector<CommandMemo> command_memo_;
    mutable std::vector<TextMemo> redact_memo_;
    mutable std::vector<ServiceMemo> service_memo_;
    mutable CommandAnalysis command_scratch_;

    Rules rules_;
    // Earlier rule sets: lineage keeps pointers into their class lists (moving a vector keeps
    // its elements in place), so they live as long as the engine. A few KiB per SIGHUP.
    std::vector<std::unique_ptr<Rules>> retired_rules_;
    Lineage lineage_;
    std::unordered_map<std::uint64_t, Flow> flows_;
    std::unordered_map<std::string, Pair> pairs_;
    std::unordered_map<std::string, TimeNs> destinations_;  // first time any process reached it
    TimeNs now_ = 0;
    TimeNs last_expiry_ = 0;
    EngineStats stats_;
};

std::string human_bytes(std::uint64_t bytes);

}  // namespace exfilwatch::detect
