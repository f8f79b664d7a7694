// detect: the engine. Consumes typed events in order, keeps flows and (uploader, destination)
// pairs, joins each pair with its lineage's reads, scores it 0..100 from weighted signals and
// emits an Alert when the score crosses the threshold (again only when it escalates).
// Deterministic: the only clock is the events' time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "detect/command.hpp"
#include "detect/content.hpp"
#include "detect/lineage.hpp"
#include "detect/recurring.hpp"
#include "detect/rules.hpp"
#include "detect/signals.hpp"
#include "events.hpp"
#include "util/bounded.hpp"
#include "util/counters.hpp"

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
    std::uint64_t volumes = 0;  // (lineage, destination) upload volumes kept
    std::uint64_t evicted_processes = 0;
    std::uint64_t evicted_flows = 0;
    std::uint64_t evicted_pairs = 0;
    std::uint64_t evicted_staged_files = 0;
    std::uint64_t evicted_destinations = 0;
    std::uint64_t incidents = 0;
    std::uint64_t blind_spots = 0;
    std::uint64_t incident_updates = 0;
    std::uint64_t dropped_reads = 0;
    std::uint64_t expiry_work = 0;  // entries expire() looked at (bounded cost test)

    // As metric counters (the ones a metric record has always carried).
    void report(util::Counters& out) const
    {
        out.emplace_back("detect.events", events);
        out.emplace_back("detect.alerts", alerts);
        out.emplace_back("detect.processes", processes);
        out.emplace_back("detect.flows", flows);
        out.emplace_back("detect.evicted_processes", evicted_processes);
        out.emplace_back("detect.evicted_flows", evicted_flows);
        out.emplace_back("detect.blind_spots", blind_spots);
        out.emplace_back("detect.incidents", incidents);
        out.emplace_back("detect.incident_updates", incident_updates);
        out.emplace_back("detect.rescore_skipped", rescore_skipped);
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
    // Evidence that makes an incident worse at any score (set without `explain` too).
    bool content_leak = false;   // a sensitive file's content seen leaving
    std::size_t data_files = 0;  // sensitive files whose data is in the lineage
};

class Engine {
public:
    explicit Engine(Rules rules);

    std::vector<Alert> process(const Event& event);
    EngineStats stats() const;
    const Rules& rules() const { return rules_; }
    const Lineage& lineage() const { return lineage_; }
    // New rules for what comes next (SIGHUP); state built so far (lineage, flows) is kept.
    void replace_rules(Rules rules);
    // Learn recurring upload jobs into `memory` and score with it (nullptr: off). Not owned.
    void set_job_memory(JobMemory* memory) { jobs_ = memory; }
    // The run loop lost `count` records or entries (`cause`: "ringbuf_full", ...). While a lineage
    // holds sensitive data this is a blind spot, reported by take_blind_spots().
    void note_loss(TimeNs time, std::string_view cause, std::uint64_t count);
    // Data moved through a pipe, FIFO, UNIX or loopback socket.
    std::vector<Alert> process(const ObjectIoEvent& event);
    // A sensitive file found at start (device, inode): known by identity before any read.
    void seed_sensitive(const std::string& path, std::uint64_t device, std::uint64_t inode);
    // Blind spots since the last call: the engine's own (sensitive state evicted, work shed) and
    // note_loss()'s, and
    // the lineage's (tainted state its caps evicted). One per cause and second at most: what a
    // cause reports within a second of its last record is summed and released when that second
    // is over, or by take_blind_spots(true) (the end of a run or a replay). The run loop drains
    // and writes them.
    std::vector<BlindSpot> take_blind_spots(bool all = false);

    // Use versus leak by content (detect/content). The live run gives a reader of a sensitive
    // file's content (bounded), from which its fingerprints are built at its first read; replay
    // has none and takes the scans from the telemetry.
    using FileReader = std::function<std::optional<std::string>(const ProcessRef& reader, const std::string& path,
                                                                std::uint64_t device, std::uint64_t inode)>;
    void set_file_reader(FileReader reader) { file_reader_ = std::move(reader); }
    // A sensitive file a process held open when the monitor started: its fingerprints are built
    // now, since its first read through that fd is known only at the next harvest, after the
    // plaintext it sent was scanned.
    void fingerprint_open_file(std::uint32_t pid, const std::string& path, std::uint64_t device, std::uint64_t inode)
    {
        ProcessRef holder;
        holder.pid = pid;
        fingerprint(holder, path, device, inode);
    }
    // Scans plaintext a process sent; the scan is telemetry, then an event for process().
    ContentScanEvent scan(const PlaintextWrite& write);
    const FingerprintIndex& fingerprints() const { return fingerprints_; }

private:
    struct Flow {
        std::string entity;
        std::string domain;            // the riskier of the names below
        std::string sni, host, other;  // from the ClientHello, an HTTP Host, DNS/hosts/argv
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
        std::string other_name;  // the name SNI or Host gave when the other one won (fronting)
        Endpoint destination;
        ProcessRef process;
        bool tls = false;
        bool first_seen = false;
        std::uint64_t bytes_out = 0, bytes_in = 0;
        TimeNs first = 0, last = 0;
        std::size_t open_flows = 0;
        bool had_data = false;  // its lineage held sensitive data when last evaluated
        std::uint32_t sid = 0;  // the uploader's session and parent, for the indexes
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
        std::uint16_t source_port = 0;  // 0: not known by this event
        enum class Name : std::uint8_t { other, sni, http } name_source = Name::other;
        const std::uint64_t* bytes_out = nullptr;  // cumulative; nullptr: not known by this event
        const std::uint64_t* bytes_in = nullptr;
        bool final = false;
    };
    void on_flow(const FlowUpdate& update, std::vector<Alert>& alerts);
    // `view`: the uploader's lineage when the caller has it already (pairs of one uploader share it).
    void evaluate(Pair& pair, TimeNs now, std::vector<Alert>& alerts, const LineageView* given = nullptr);
    void rescore_changed(TimeNs now, std::vector<Alert>& alerts);
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
        std::size_t operator()(const T&) const
        {
            return 0;
        }
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
    // Flows and pairs by their last activity (least recent last): expiry and the caps take the
    // oldest without a scan.
    util::LruMap<std::uint64_t, char> flow_order_;
    util::LruMap<std::string, char> pair_order_;
    // What a read can affect, most recently active first, so a read touches a bounded number of
    // pairs however many are live: an uploader's pairs, and the uploaders of a session and of a
    // parent. Kept in step with pairs_ (index_pair/unindex_pair).
    using RecentKeys = util::LruMap<std::string, char>;
    std::unordered_map<std::string, RecentKeys> pairs_by_uploader_;
    std::unordered_map<std::uint32_t, RecentKeys> uploaders_by_session_;
    std::unordered_map<std::string, RecentKeys> uploaders_by_parent_;
    util::LruMap<std::string, TimeNs> destinations_;  // first time any process reached it, newest first
    JobMemory* jobs_ = nullptr;                       // recurring jobs (run --state-dir)
    // Incidents: one per uploader lineage (its session, else the process) and destination. The
    // first alert opens one; a rising score updates it (same id) instead of a new alert.
    // What the incident's last alert said: a higher score, content seen leaving or another
    // sensitive file updates it (at the top score, only the last two can).
    struct Incident {
        std::string id;
        int alerted_score = 0;
        bool alerted_content_leak = false;
        std::size_t alerted_data_files = 0;
        TimeNs last = 0;
    };
    util::LruMap<std::string, Incident> incidents_;
    // Bytes out per lineage and destination (the incident's key) across its connections and
    // processes, so trickles add up; `flows` counts the connections (each pays its overhead).
    // A volume whose lineage holds sensitive data (`origins`: the sources its evaluations saw)
    // outlives the window as long as a holder of that data lives: one post every 11 minutes
    // adds up. The cap evicts it then, a blind spot.
    struct Volume {
        std::uint64_t bytes_out = 0;
        std::uint64_t flows = 0;
        TimeNs last = 0;
        std::vector<std::uint64_t> origins;  // bounded
    };
    util::LruMap<std::string, Volume> volumes_;
    bool holds_data(const Volume& v) const;
    void trim_volumes(TimeNs time);
    std::string incident_key(const Pair& pair) const;
    void move_volume(const std::string& from, const std::string& to, std::uint64_t bytes_out, TimeNs time);
    std::vector<BlindSpot> blind_spots_;
    // A cause reported within the last second: what comes in that second is held, summed, and
    // reported once the second is over (a flood of evictions makes one record per second, not
    // one per event).
    struct BlindWindow {
        TimeNs until = 0;
        std::optional<BlindSpot> held;
        std::uint64_t merged = 0;  // reports summed into `held` after its first
    };
    std::map<std::string, BlindWindow, std::less<>> blind_windows_;  // one per cause: a few
    bool hold_blind_spot(TimeNs time, std::string_view cause, std::uint64_t lost);
    void queue_blind_spot(BlindSpot b);
    // Files opened under a never-staging name (settings.never_staging), by (device, inode): their
    // summaries carry the resolved path only.
    static constexpr std::size_t max_system_files = 4096;
    std::set<std::pair<std::uint64_t, std::uint64_t>> system_files_;
    void note_system_file(std::uint64_t device, std::uint64_t inode);
    bool is_system_file(std::uint64_t device, std::uint64_t inode) const;
    void blind_spot(TimeNs time, std::string_view cause, std::uint64_t lost, std::string_view what);
    // Content: fingerprints of sensitive files, the next plaintext offset expected per connection
    // (continuity), and what the scans said per pair.
    FileReader file_reader_;
    FingerprintIndex fingerprints_;
    util::LruMap<std::string, std::uint64_t> plaintext_next_;
    // Per connection (same key), the previous write's last plaintext: a secret cut across two
    // writes is matched whole. At most 4096 kept; one dropped only leaves a boundary unjoined.
    static constexpr std::size_t max_tails = 4096;
    util::LruMap<std::string, PlaintextTail> tails_;
    ContentEvidence content_;
    // Per process (entity id): the sensitive files whose secrets its command line carries as
    // data (path -> "base64 in the argument --body"), from its argv scan; bounded.
    static constexpr std::size_t max_argv_leaks = 4096;
    util::LruMap<std::string, std::map<std::string, std::string>> argv_leaks_;
    // The uploader's argv leaks merged into its pair's content facts when no plaintext of the
    // pair was scanned (nullptr: none, and `facts` was none).
    const ContentFacts* with_argv_leaks(const ContentFacts* facts, const ProcessRef& up, ContentFacts& merged) const;
    // Scans of a connection not known yet (its first packet's record still to come), by cookie.
    static constexpr std::size_t max_early_scan_flows = 1024;
    static constexpr std::size_t max_early_scans_per_flow = 8;
    util::LruMap<std::uint64_t, std::vector<ContentScanEvent>> early_scans_;
    void fingerprint(const ProcessRef& reader, const std::string& path, std::uint64_t device, std::uint64_t inode);
    void on_content_scan(const ContentScanEvent& scan, std::vector<Alert>& alerts);
    TimeNs now_ = 0;
    TimeNs last_expiry_ = 0;
    EngineStats stats_;
};

}  // namespace exfilwatch::detect
