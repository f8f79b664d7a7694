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
#include "detect/signals.hpp"
#include "events.hpp"
#include "util/bounded.hpp"

namespace exfilwatch::detect {

struct EngineStats {
    std::uint64_t events = 0;
    std::uint64_t alerts = 0;
    std::uint64_t evaluations = 0;
    std::uint64_t rescored_on_read = 0;
    std::uint64_t rescore_skipped = 0;  // pairs a read could affect past the per-read bound
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
        std::uint32_t sid = 0;      // the uploader's session and parent, for the indexes
        std::string parent;
    };

    // One flow event as on_flow sees it: a connect, a ClientHello, an HTTP request head or a
    // summary carry different parts of it.
    struct FlowUpdate {
        const ProcessRef* process = nullptr;
        TimeNs time = 0;
        std::uint64_t cookie = 0;
        Endpoint destination;
        std::string domain;
        std::string path;
        bool tls = false;
        const std::uint64_t* bytes_out = nullptr;  // cumulative; nullptr: not known by this event
        const std::uint64_t* bytes_in = nullptr;
        bool final = false;
    };
    void on_flow(const FlowUpdate& update, std::vector<Alert>& alerts);
    // `view`: the uploader's lineage when the caller has it already (pairs of one uploader share it).
    void evaluate(Pair& pair, TimeNs now, std::vector<Alert>& alerts, const LineageView* view = nullptr);
    void rescore_near(const ProcessRef& reader, TimeNs now, std::vector<Alert>& alerts);
    void index_pair(const std::string& key, const Pair& pair);
    void unindex_pair(const std::string& key, const Pair& pair);
    // `view`: the uploader's lineage (Lineage::view of pair.process).
    Assessment assess(const Pair& pair, const LineageView& view, bool explain) const;
    void note_destination(Pair& pair, TimeNs time);
    void expire(TimeNs now);

    // Memos of the pure functions scoring calls again and again with the same inputs (each
    // rescoring of every pair): bounded, compared in full on a hit, so results are exactly those
    // of the functions; cleared on a rules reload.
    const CommandAnalysis& command_of(const ProcessRef& process) const;
    std::string redacted(std::string_view text) const;
    const Service* service_of(const std::string& domain, const std::string& path) const;
    struct CommandKey {
        std::string name, executable;
        std::vector<std::string> args;
        CommandKey() = default;
        explicit CommandKey(const ProcessRef& p) : name(p.name), executable(p.executable), args(p.args) {}
        bool operator==(const ProcessRef& p) const
        {
            return name == p.name && executable == p.executable && args == p.args;
        }
        bool operator==(const CommandKey&) const = default;
    };
    struct ServiceProbe {
        const std::string& domain;
        const std::string& path;
    };
    struct ServiceKey {
        std::string domain, path;
        ServiceKey() = default;
        explicit ServiceKey(const ServiceProbe& p) : domain(p.domain), path(p.path) {}
        bool operator==(const ServiceProbe& p) const { return domain == p.domain && path == p.path; }
        bool operator==(const ServiceKey&) const = default;
    };
    struct NoHash {
        template <typename T>
        std::size_t operator()(const T&) const { return 0; }
    };
    mutable util::Memo<CommandKey, CommandAnalysis, NoHash> command_memo_;
    mutable util::Memo<std::string, std::string> redact_memo_;
    mutable util::Memo<ServiceKey, const Service*, NoHash> service_memo_;
    mutable CommandAnalysis command_scratch_;

    Rules rules_;
    // Earlier rule sets: lineage keeps pointers into their class lists (moving a vector keeps
    // its elements in place), so they live as long as the engine. A few KiB per SIGHUP.
    std::vector<std::unique_ptr<Rules>> retired_rules_;
    Lineage lineage_;
    std::unordered_map<std::uint64_t, Flow> flows_;
    std::unordered_map<std::string, Pair> pairs_;
    // What a read can affect, most recently active first, so a read touches a bounded number of
    // pairs however many are live: an uploader's pairs, and the uploaders of a session and of a
    // parent. Kept in step with pairs_ (index_pair/unindex_pair).
    using RecentKeys = util::LruMap<std::string, char>;
    std::unordered_map<std::string, RecentKeys> pairs_by_uploader_;
    std::unordered_map<std::uint32_t, RecentKeys> uploaders_by_session_;
    std::unordered_map<std::string, RecentKeys> uploaders_by_parent_;
    std::unordered_map<std::string, TimeNs> destinations_;  // first time any process reached it
    TimeNs now_ = 0;
    TimeNs last_expiry_ = 0;
    EngineStats stats_;
};

std::string human_bytes(std::uint64_t bytes);

}  // namespace exfilwatch::detect
