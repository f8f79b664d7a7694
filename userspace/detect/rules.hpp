// detect: the rules as data. rules/default.yaml (embedded as builtin_rules_yaml) or a user file is
// parsed and validated here into Rules: web-service catalog, sensitive file classes, upload tools,
// signal weights, thresholds and allowlists. Errors carry a 1-based line and column.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "detect/match.hpp"

namespace exfilwatch {
extern const std::string_view builtin_rules_yaml;
}

namespace exfilwatch::detect {

struct RulesError {
    std::string source;
    int line = 0;    // 1-based; 0 when unknown
    int column = 0;  // 1-based; 0 when unknown
    std::string message;
    std::string to_string() const;  // "source:line:column: message"
};

struct Category {
    std::string name;             // "paste"
    std::string label;            // "paste site"
    std::string technique_id;     // "T1567"
    std::string subtechnique_id;  // "T1567.003" or empty
    int weight = 0;
    bool small_uploads = false;  // a sensitive file's worth of bytes out is an upload, however small
    // A credential in an authentication header authenticates here only when its file names this
    // service for it (a host, or a word of its setting's name: SLACK_TOKEN, [pushover]); one it
    // names nothing for is data (a request bin takes any header, and authenticates no one).
    bool named_credentials = false;
};

struct Service {
    DomainPattern domain;
    std::string category;
    std::vector<std::string> path_prefixes;  // empty: any path
};

struct SensitiveClass {
    std::string name;
    std::string description;
    int weight = 0;
    std::vector<PathGlob> paths;
    std::vector<PathGlob> exclude;
    std::vector<std::string> consumers;  // process-name globs that read these files for themselves
};

struct ArgRule {
    std::vector<std::string> flags;   // "-T", "--upload-file"
    std::vector<std::string> values;  // globs on the flag's value; empty: any value
};

struct SubcommandRule {
    std::vector<std::string> words;       // consecutive positional args: "s3", "cp" (empty: any command line)
    std::vector<std::string> to;          // the destination starts with one of these ("s3://");
                                          // "<remote>" means an rclone-style `name:path`, "<ssh>" an
                                          // scp/rsync-style `[user@]host:path`
    int dest = 0;                         // 1-based positional after the words holding the destination;
                                          // 0: the last one
    std::vector<std::string> dest_flags;  // the destination is this option's value (restic -r)
};

struct InlineCodeRule {
    std::vector<std::string> flags;                  // "-c", "-e"
    std::vector<std::vector<std::string>> patterns;  // any list whose substrings all appear
};

struct UploadTool {
    std::string name;
    std::vector<std::string> names;            // executable name globs (never argv[0])
    std::vector<std::string> signature_flags;  // flags only this tool has (finds renamed copies)
    std::vector<ArgRule> upload_args;
    std::vector<ArgRule> download_args;
    std::vector<SubcommandRule> upload_subcommands;
    std::optional<InlineCodeRule> inline_code;
    bool always = false;        // any use moves data out (nc, socat)
    std::optional<int> weight;  // overrides signals.upload-command
    // The tool's grammar, so positional arguments are found wherever options stand.
    std::vector<std::string> value_flags;       // options that take a value (`--config FILE`)
    std::vector<std::string> credential_flags;  // the value authenticates the tool (ssh -i KEY,
                                                // rclone --config F): naming it is use, not data
    std::vector<std::string> argument_files;    // the value is a file of more arguments (curl -K,
                                                // wget --config): the command line is not all there is
    int destination_arg = 0;                    // 1-based positional that names the destination when no upload rule
                                                // does (git-remote-https REMOTE URL)
};

// The organisation's own storage: an upload by a declared tool to a declared destination scores
// under the threshold (signal own-storage). A destination is matched twice: the flow's domain
// must match `domain`, and the destination argument of the tool's command line must start with
// `path` (a bucket, an organisation, a directory) or name the rclone/restic `remote`.
struct OwnDestination {
    DomainPattern domain;
    std::string path;                // "own-backups", "our-org/" (no leading '/')
    std::string remote;              // "b2" for `b2:bucket/dir`
    std::vector<std::string> tools;  // upload tool names; empty: OwnStorage::tools
    std::string text;                // as written in the rules, for evidence
};

struct OwnStorage {
    std::vector<std::string> tools;  // upload tool names (upload_tools[].name) trusted with own storage
    std::vector<OwnDestination> destinations;
};

struct SignalWeights {
    int sensitive_extra_class = 5;  // per further class, at most 2
    int credential_use = 3;         // a tool reading its own credentials
    int data_volume = 20;           // bytes out cover the sensitive bytes read
    int data_volume_partial = 10;   // covers a compressed/encoded share of them
    int upload_shaped = 10;
    int download_shaped = -15;
    int bulk_upload = 15;
    int upload_command = 15;
    int download_command = -10;
    int renamed_binary = 15;
    int unusual_executable_path = 10;
    int no_tty = 3;
    int in_container = 5;
    int first_seen_destination = 5;
    int unknown_destination = 0;
    int own_storage = -40;
    int content_match = 40;  // a sensitive file's fingerprint found in plaintext sent (not as authentication)
    int recurring =
        -20;  // the same upload job ran on an earlier day (run --state-dir)  // a declared tool uploads to a declared destination (also capped under the threshold)
};

// The defaults for a rules file that leaves a setting out: the built-in rules' values
// (rules/default.yaml; tests/unit/detect/rules_file_test.cpp holds them equal).
struct Settings {
    int alert_threshold = 60;
    int realert_step = 10;
    std::uint64_t window_ns = 600ULL * 1'000'000'000ULL;
    std::size_t max_processes = 65536;
    std::size_t max_pairs = 16384;
    std::size_t max_flows = 65536;
    std::size_t max_staging_files = 16384;
    std::size_t max_destinations = 65536;
    std::size_t max_reads_per_process = 64;
    std::size_t max_recurring_jobs = 4096;  // jobs kept in the --state-dir memory
    std::uint64_t tls_overhead_bytes = 512;
    std::uint64_t http_overhead_bytes = 128;
    std::uint64_t min_upload_bytes = 1024;
    double upload_ratio = 1.5;
    double download_ratio = 4.0;
    std::uint64_t min_download_bytes = 16384;
    std::uint64_t bulk_upload_bytes = 50ULL << 20;
    bool require_data = true;
    std::vector<PathGlob> unusual_executable_dirs;
    std::vector<std::string> transformers;  // name globs of archivers/encoders (partial coverage)
    // Files the system rewrites at runtime (/etc/hosts, /etc/resolv.conf, caches): a write to one
    // does not make it a staging file that joins its writer's lineage to later readers. Read by
    // lineage (Rules::never_staging()).
    std::vector<PathGlob> never_staging;
};

struct AllowEntry {
    std::vector<std::string> names;          // processes: name globs
    std::vector<DomainPattern> domains;      // destinations
    std::vector<std::uint32_t> uids;         // users
    std::vector<std::string> container_ids;  // containers: id prefixes ("*" any container)
    int adjust = 0;                          // negative: lowers the score
    std::string reason;
};

struct Allowlists {
    std::vector<AllowEntry> processes, destinations, users, containers;
};

// The sensitive classes' globs by anchor (PathGlob::anchor), numbered in the order classify()
// tries them: a path is tested only against the globs whose anchor is one of its segments and
// those without one. Built by load_rules(); a Rules whose classes were changed after it (the
// glob count differs) is classified by trying every glob.
struct PathIndex {
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    static constexpr std::size_t max_globs = 1024;
    std::size_t globs = 0;  // globs indexed; 0: not built
    std::unordered_map<std::string, std::vector<std::uint16_t>, Hash, std::equal_to<>> by_anchor;
    std::vector<std::uint16_t> unanchored;
    std::vector<std::pair<std::uint16_t, std::uint16_t>> glob_at;  // ordinal -> (class, glob)
};

struct Rules {
    std::string source;
    std::string name = "exfiltration-over-web-service";
    std::map<std::string, Category> categories;
    std::vector<Service> services;
    std::vector<SensitiveClass> sensitive;
    std::vector<UploadTool> tools;
    SignalWeights signals;
    Settings settings;
    Allowlists allow;
    OwnStorage own_storage;

    // The most specific service for a normalized domain; path empty when unknown.
    const Service* service_for(std::string_view domain, std::string_view path) const;
    // The class of a path, nullptr when not sensitive; `display` gets the `~/` form.
    const SensitiveClass* classify(std::string_view path, std::string* display = nullptr) const;
    const Category* category(std::string_view name) const;
    // True when a write to `path` must not make it a staging file (settings.never_staging).
    bool never_staging(std::string_view path) const;

    PathIndex path_index;
    void index_paths();  // (re)builds path_index from `sensitive`
};

using RulesResult = std::variant<Rules, RulesError>;

RulesResult load_rules(std::string_view yaml, std::string_view source_name);

}  // namespace exfilwatch::detect
