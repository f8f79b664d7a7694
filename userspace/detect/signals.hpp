// detect: the signals of a score, one pure function each. Each takes the rules and what the engine
// knows of one (uploader, destination) pair and adds weighted signals to a SignalList; none reads
// engine state, a clock or the lineage graph, so each is tested on its own
// (tests/unit/detect/signals_test.cpp). The engine (engine.cpp) gathers the inputs and sums.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "detect/command.hpp"
#include "detect/lineage.hpp"
#include "detect/rules.hpp"
#include "events.hpp"

namespace exfilwatch::detect {

// Signals in the order they were added. Evidence is built only when `explain` (an alert is
// written); a score needs only the weights. Evidence is raw: the engine redacts it.
class SignalList {
public:
    explicit SignalList(bool explain) : explain_(explain) {}

    template <typename Evidence>
    void add(std::string name, int weight, Evidence&& evidence)
    {
        if (weight == 0) return;
        signals_.push_back(Signal{std::move(name), weight, explain_ ? std::string(evidence()) : std::string()});
    }
    bool explain() const { return explain_; }
    int total() const;
    bool has(std::string_view name) const;
    const std::vector<Signal>& signals() const { return signals_; }
    std::vector<Signal>& signals() { return signals_; }

private:
    bool explain_;
    std::vector<Signal> signals_;
};

// What the engine knows of one (uploader, destination) pair.
struct PairFacts {
    const ProcessRef* uploader = nullptr;
    std::string domain;  // normalized; empty when only the IP is known
    std::string path;    // the HTTP path, when one was seen
    Endpoint destination;
    bool tls = false;
    bool first_seen = false;  // the first process ever to reach this destination
    std::uint64_t bytes_out = 0, bytes_in = 0;
    bool ssh = false;        // an SSH session (port 22 or an ssh client): its handshake is overhead
    std::string other_name;  // SNI and Host disagreed: the name that did not count
    // The uploader's lineage to this destination over all its connections and processes.
    std::uint64_t lineage_bytes_out = 0;
    std::uint64_t lineage_flows = 0;

    std::string destination_name() const { return domain.empty() ? destination.ip : domain; }
};

// The name a reader knows: "python3" rather than the executable's "python3.11", and the tool an
// interpreter runs ("aws" for `python3 /usr/bin/aws s3 cp ...`).
std::string display_name(const ProcessRef& process);

// --- destination --------------------------------------------------------------------------
// `service`: rules.service_for(domain, path), nullptr when none (or no domain). Returns the
// destination's category, nullptr when unknown.
const Category* destination_signal(const Rules& rules, const Service* service, const PairFacts& pair, SignalList& out);
std::string destination_label(const Category* category);

// --- sensitive data in the lineage -----------------------------------------------------------
// The lineage's sensitive reads split into data (what can have left) and own use (a consumer
// reading its credential for itself), with the bytes that carried them to the uploader.
struct DataInLineage {
    struct FileUse {
        const LineageSource* source = nullptr;
        std::uint64_t bytes = 0;
    };
    std::map<std::string, FileUse> data_files;      // sensitive path -> strongest source
    std::map<std::string, std::uint64_t> carriers;  // sensitive bytes read, per sensitive file
    std::set<std::string> own_use;                  // "ssh read ~/.ssh/id_rsa"
    bool transformer = false;                       // an archiver/encoder is in the lineage
    const LineageSource* top = nullptr;             // the heaviest class among the data files
    std::set<std::string> classes;

    bool has_data() const { return top != nullptr; }
    std::uint64_t payload() const;  // the sensitive bytes that can have reached the uploader
};
DataInLineage data_in_lineage(const Rules& rules, const LineageView& view, const ProcessRef& uploader);
// The process with the values of its identity options removed (ssh -i KEY, -o IdentityFile=KEY,
// --identity KEY): a file named only there is handed to authenticate with.
ProcessRef without_identity_options(const ProcessRef& process);
// sensitive-read and sensitive-extra-class.
void sensitive_read_signals(const Rules& rules, const DataInLineage& data, SignalList& out);
// credential-use: a tool reading its own credential.
void credential_use_signal(const Rules& rules, const DataInLineage& data, SignalList& out);

// --- volume and shape ----------------------------------------------------------------------
struct Shape {
    bool upload_shaped = false;
    bool download_shaped = false;
    bool bulk = false;
};
Shape shape_of(const Rules& rules, const PairFacts& pair);
// What a client sends besides the data: a TLS or SSH handshake, an HTTP request head, or nothing
// on a raw stream. Per connection.
std::uint64_t protocol_overhead(const Rules& rules, const PairFacts& pair);
constexpr std::uint64_t ssh_overhead_bytes = 4096;  // version, KEXINIT, key exchange, auth, channel
// data-volume or data-volume-partial: what was sent, past each connection's overhead, covers the
// sensitive bytes, on this connection or summed over the lineage's connections to the destination
// (trickles). What was received never offsets it. Returns whether it covers.
bool volume_signal(const Rules& rules, const PairFacts& pair, const DataInLineage& data, const Shape& shape,
                   SignalList& out);
// upload-shaped, download-shaped (not when the data is covered: download padding does not cancel
// an upload), bulk-upload.
void shape_signals(const Rules& rules, const PairFacts& pair, const Shape& shape, bool covered, SignalList& out);

// --- the command line ------------------------------------------------------------------------
// The uploader's own analysis, else the first of its ancestors' (nearest first) that uploads
// (git push runs ssh).
CommandAnalysis effective_command(const CommandAnalysis& own, const std::vector<const CommandAnalysis*>& ancestors);
// upload-command or download-command.
void command_signal(const Rules& rules, const CommandAnalysis& cmd, const ProcessRef& uploader, SignalList& out);

// --- who uploads -------------------------------------------------------------------------------
// renamed-binary, unusual-executable-path, no-tty, in-container, first-seen-destination.
void uploader_signals(const Rules& rules, const CommandAnalysis& cmd, const PairFacts& pair, SignalList& out);

// --- allowlists (lower the score, never blind) -------------------------------------------------
void allowlist_signals(const Rules& rules, const PairFacts& pair, SignalList& out);

// --- the gate ------------------------------------------------------------------------------
// The score held under the threshold unless data is involved and something says it left.
struct Gate {
    int score = 0;
    bool gated = false;
};
Gate gate(const Rules& rules, int total, bool has_data, bool left);
// Did data leave? An upload command, an upload shape, a bulk volume, or bytes out covering enough
// sensitive data.
bool data_left(const Rules& rules, const CommandAnalysis& cmd, const Shape& shape, bool covered,
               const DataInLineage& data, const Category* category);

// Did anything leave besides the protocol's own bytes (a TLS handshake, a request head)? An
// upload command whose connection has only shaken hands has sent nothing yet.
bool data_moved(const Rules& rules, const PairFacts& pair);

// --- the one-line reason -------------------------------------------------------------------------
std::string alert_reason(const CommandAnalysis& cmd, const PairFacts& pair, const Category* category,
                         const DataInLineage& data);

std::string human_bytes(std::uint64_t bytes);

}  // namespace exfilwatch::detect
