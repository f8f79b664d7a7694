// detect: loads and validates rules YAML into Rules. Every error names the 1-based line and
// column of the offending node: unknown keys, wrong types, bad globs, missing sections.
#include "detect/rules.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <bitset>
#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "util/text.hpp"

namespace exfilwatch::detect {
namespace {

struct LoadError {
    YAML::Mark mark;
    std::string message;
};

[[noreturn]] void fail(const YAML::Node& node, std::string message)
{
    throw LoadError{node.Mark(), std::move(message)};
}

const char* type_name(const YAML::Node& node)
{
    switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "null";
    default: return "nothing";
    }
}

void expect_map(const YAML::Node& node, std::string_view what)
{
    if (!node.IsMap()) fail(node, fmt::format("{} must be a map, found {}", what, type_name(node)));
}

void expect_seq(const YAML::Node& node, std::string_view what)
{
    if (!node.IsSequence()) fail(node, fmt::format("{} must be a list, found {}", what, type_name(node)));
}

std::string scalar(const YAML::Node& node, std::string_view what)
{
    if (!node.IsScalar()) fail(node, fmt::format("{} must be a string, found {}", what, type_name(node)));
    return node.Scalar();
}

std::string nonempty(const YAML::Node& node, std::string_view what)
{
    auto s = scalar(node, what);
    if (s.empty()) fail(node, fmt::format("{} must not be empty", what));
    return s;
}

long long integer(const YAML::Node& node, std::string_view what, long long lo, long long hi)
{
    auto s = scalar(node, what);
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size())
        fail(node, fmt::format("{} must be an integer, found '{}'", what, s));
    if (v < lo || v > hi) fail(node, fmt::format("{} must be between {} and {}, found {}", what, lo, hi, v));
    return v;
}

double real(const YAML::Node& node, std::string_view what, double lo, double hi)
{
    auto s = scalar(node, what);
    double v = 0;
    try {
        std::size_t used = 0;
        v = std::stod(s, &used);
        if (used != s.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
        fail(node, fmt::format("{} must be a number, found '{}'", what, s));
    }
    if (!std::isfinite(v) || v < lo || v > hi)
        fail(node, fmt::format("{} must be between {} and {}, found {}", what, lo, hi, s));
    return v;
}

bool boolean(const YAML::Node& node, std::string_view what)
{
    auto s = scalar(node, what);
    if (s == "true") return true;
    if (s == "false") return false;
    fail(node, fmt::format("{} must be true or false, found '{}'", what, s));
}

std::vector<std::string> string_list(const YAML::Node& node, std::string_view what)
{
    expect_seq(node, what);
    std::vector<std::string> out;
    for (const auto& item : node) out.push_back(nonempty(item, fmt::format("an item of {}", what)));
    return out;
}

std::vector<std::string> name_globs(const YAML::Node& node, std::string_view what)
{
    auto names = string_list(node, what);
    std::size_t i = 0;
    for (const auto& item : node) {
        if (auto e = glob_segment_error(names[i]); !e.empty())
            fail(item, fmt::format("bad name glob '{}' in {}: {}", names[i], what, e));
        ++i;
    }
    return names;
}

std::vector<PathGlob> path_globs(const YAML::Node& node, std::string_view what)
{
    expect_seq(node, what);
    std::vector<PathGlob> out;
    for (const auto& item : node) {
        auto text = nonempty(item, fmt::format("an item of {}", what));
        std::string error;
        auto glob = PathGlob::compile(text, error);
        if (!glob) fail(item, fmt::format("bad path glob '{}': {}", text, error));
        out.push_back(std::move(*glob));
    }
    return out;
}

DomainPattern domain(const YAML::Node& node, std::string_view what)
{
    auto text = nonempty(node, what);
    std::string error;
    auto pattern = DomainPattern::compile(text, error);
    if (!pattern) fail(node, fmt::format("bad domain '{}': {}", text, error));
    return std::move(*pattern);
}

// Unknown keys are errors (a typo must not silently disable a rule); required keys must exist.
void check_keys(const YAML::Node& map, std::string_view what, std::initializer_list<std::string_view> allowed,
                std::initializer_list<std::string_view> required = {})
{
    expect_map(map, what);
    for (auto it = map.begin(); it != map.end(); ++it) {
        if (!it->first.IsScalar()) fail(it->first, fmt::format("keys of {} must be strings", what));
        auto key = it->first.Scalar();
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
            std::string list;
            for (auto a : allowed) list += fmt::format("{}{}", list.empty() ? "" : ", ", a);
            fail(it->first, fmt::format("unknown key '{}' in {} (expected one of: {})", key, what, list));
        }
    }
    for (auto key : required)
        if (!map[std::string(key)]) fail(map, fmt::format("{} is missing the required key '{}'", what, key));
}

void load_settings(const YAML::Node& node, Settings& s)
{
    check_keys(node, "settings", {"alert_threshold",    "realert_step",        "window_seconds",
                                  "max_processes",      "max_pairs",           "max_flows",
                                  "max_staging_files",  "max_destinations",    "max_reads_per_process",
                                  "tls_overhead_bytes", "http_overhead_bytes", "min_upload_bytes",
                                  "upload_ratio",       "download_ratio",      "min_download_bytes",
                                  "bulk_upload_bytes",  "require_data",        "unusual_executable_dirs",
                                  "transformers",       "never_staging",       "max_recurring_jobs"},
               {"alert_threshold"});
    constexpr long long big = 1LL << 40;
    for (auto it = node.begin(); it != node.end(); ++it) {
        auto key = it->first.Scalar();
        const YAML::Node v = it->second;  // a copy: yaml-cpp iterators yield temporaries
        auto what = fmt::format("settings.{}", key);
        auto size = [&](long long lo) { return static_cast<std::size_t>(integer(v, what, lo, 1LL << 24)); };
        auto bytes = [&] { return static_cast<std::uint64_t>(integer(v, what, 0, big)); };
        if (key == "alert_threshold") s.alert_threshold = static_cast<int>(integer(v, what, 1, 100));
        else if (key == "realert_step")
            s.realert_step = static_cast<int>(integer(v, what, 1, 100));
        else if (key == "window_seconds")
            s.window_ns = static_cast<std::uint64_t>(integer(v, what, 1, 86400LL * 7)) * 1'000'000'000ULL;
        else if (key == "max_processes")
            s.max_processes = size(16);
        else if (key == "max_pairs")
            s.max_pairs = size(16);
        else if (key == "max_flows")
            s.max_flows = size(16);
        else if (key == "max_staging_files")
            s.max_staging_files = size(16);
        else if (key == "max_destinations")
            s.max_destinations = size(16);
        else if (key == "max_reads_per_process")
            s.max_reads_per_process = size(1);
        else if (key == "max_recurring_jobs")
            s.max_recurring_jobs = size(0);
        else if (key == "tls_overhead_bytes")
            s.tls_overhead_bytes = bytes();
        else if (key == "http_overhead_bytes")
            s.http_overhead_bytes = bytes();
        else if (key == "min_upload_bytes")
            s.min_upload_bytes = bytes();
        else if (key == "min_download_bytes")
            s.min_download_bytes = bytes();
        else if (key == "bulk_upload_bytes")
            s.bulk_upload_bytes = bytes();
        else if (key == "upload_ratio")
            s.upload_ratio = real(v, what, 0.0, 1e6);
        else if (key == "download_ratio")
            s.download_ratio = real(v, what, 0.0, 1e6);
        else if (key == "require_data")
            s.require_data = boolean(v, what);
        else if (key == "unusual_executable_dirs")
            s.unusual_executable_dirs = path_globs(v, what);
        else if (key == "transformers")
            s.transformers = name_globs(v, what);
        else if (key == "never_staging")
            s.never_staging = path_globs(v, what);
    }
}

void load_signals(const YAML::Node& node, SignalWeights& w)
{
    const std::pair<std::string_view, int*> table[] = {
        {"sensitive-extra-class", &w.sensitive_extra_class},
        {"credential-use", &w.credential_use},
        {"data-volume", &w.data_volume},
        {"data-volume-partial", &w.data_volume_partial},
        {"upload-shaped", &w.upload_shaped},
        {"download-shaped", &w.download_shaped},
        {"bulk-upload", &w.bulk_upload},
        {"upload-command", &w.upload_command},
        {"download-command", &w.download_command},
        {"renamed-binary", &w.renamed_binary},
        {"unusual-executable-path", &w.unusual_executable_path},
        {"no-tty", &w.no_tty},
        {"in-container", &w.in_container},
        {"first-seen-destination", &w.first_seen_destination},
        {"unknown-destination", &w.unknown_destination},
        {"own-storage", &w.own_storage},
        {"recurring", &w.recurring},
        {"content-match", &w.content_match},
    };
    expect_map(node, "signals");
    for (auto it = node.begin(); it != node.end(); ++it) {
        auto key = scalar(it->first, "a signal name");
        const auto* found = std::find_if(std::begin(table), std::end(table), [&](auto& e) { return e.first == key; });
        if (found == std::end(table)) {
            std::string list;
            for (const auto& e : table) list += fmt::format("{}{}", list.empty() ? "" : ", ", e.first);
            fail(it->first, fmt::format("unknown signal '{}' (expected one of: {})", key, list));
        }
        *found->second = static_cast<int>(integer(it->second, fmt::format("signals.{}", key), -100, 100));
    }
}

void load_categories(const YAML::Node& node, Rules& rules)
{
    expect_map(node, "categories");
    if (node.size() == 0) fail(node, "categories must define at least one category");
    for (auto it = node.begin(); it != node.end(); ++it) {
        Category c;
        c.name = nonempty(it->first, "a category name");
        auto what = fmt::format("category '{}'", c.name);
        check_keys(it->second, what,
                   {"label", "technique", "subtechnique", "weight", "small_uploads", "named_credentials"},
                   {"technique", "weight"});
        const YAML::Node v = it->second;  // a copy: yaml-cpp iterators yield temporaries
        c.label = v["label"] ? nonempty(v["label"], what + ".label") : c.name;
        c.technique_id = nonempty(v["technique"], what + ".technique");
        if (c.technique_id.rfind('T', 0) != 0) fail(v["technique"], "technique must look like 'T1567'");
        if (v["subtechnique"]) {
            c.subtechnique_id = nonempty(v["subtechnique"], what + ".subtechnique");
            if (c.subtechnique_id.rfind(c.technique_id + ".", 0) != 0)
                fail(v["subtechnique"],
                     fmt::format("subtechnique '{}' is not under technique '{}'", c.subtechnique_id, c.technique_id));
        }
        c.weight = static_cast<int>(integer(v["weight"], what + ".weight", -100, 100));
        if (v["small_uploads"]) c.small_uploads = boolean(v["small_uploads"], what + ".small_uploads");
        if (v["named_credentials"]) c.named_credentials = boolean(v["named_credentials"], what + ".named_credentials");
        rules.categories[c.name] = std::move(c);
    }
}

void load_services(const YAML::Node& node, Rules& rules)
{
    expect_map(node, "services");
    for (auto it = node.begin(); it != node.end(); ++it) {
        auto category = nonempty(it->first, "a service category");
        if (!rules.categories.contains(category))
            fail(it->first, fmt::format("services: category '{}' is not defined under categories", category));
        auto what = fmt::format("services.{}", category);
        const YAML::Node list = it->second;
        expect_seq(list, what);
        for (const auto& item : list) {
            if (item.IsMap()) check_keys(item, what + " entry", {"domain", "paths"}, {"domain"});
            Service s{domain(item.IsMap() ? item["domain"] : item, what + " domain"), category, {}};
            if (item.IsMap()) {
                if (item["paths"]) {
                    s.path_prefixes = string_list(item["paths"], what + ".paths");
                    for (const auto& p : item["paths"])
                        if (p.Scalar().front() != '/') fail(p, "a service path must start with '/'");
                }
            }
            rules.services.push_back(std::move(s));
        }
    }
}

void load_sensitive(const YAML::Node& node, Rules& rules)
{
    expect_map(node, "sensitive_files");
    for (auto it = node.begin(); it != node.end(); ++it) {
        SensitiveClass c;
        c.name = nonempty(it->first, "a sensitive class name");
        auto what = fmt::format("sensitive class '{}'", c.name);
        const YAML::Node v = it->second;  // a copy: yaml-cpp iterators yield temporaries
        check_keys(v, what, {"description", "weight", "paths", "exclude", "consumers"}, {"weight", "paths"});
        if (v["description"]) c.description = scalar(v["description"], what + ".description");
        c.weight = static_cast<int>(integer(v["weight"], what + ".weight", 0, 100));
        c.paths = path_globs(v["paths"], what + ".paths");
        if (c.paths.empty()) fail(v["paths"], what + ".paths must hold at least one glob");
        if (v["exclude"]) c.exclude = path_globs(v["exclude"], what + ".exclude");
        if (v["consumers"]) c.consumers = name_globs(v["consumers"], what + ".consumers");
        rules.sensitive.push_back(std::move(c));
    }
}

void check_flag(const YAML::Node& node, const std::string& flag)
{
    bool is_short = flag.size() == 2 && flag[0] == '-' && flag[1] != '-';
    bool is_long = flag.size() > 2 && flag.rfind("--", 0) == 0 && flag.find('=') == std::string::npos;
    if (!is_short && !is_long) fail(node, fmt::format("flag '{}' must look like -x or --long", flag));
}

std::vector<std::string> flag_list(const YAML::Node& node, std::string_view what)
{
    auto flags = string_list(node, what);
    std::size_t i = 0;
    for (const auto& f : node) check_flag(f, flags[i++]);
    return flags;
}

std::vector<ArgRule> arg_rules(const YAML::Node& node, std::string_view what)
{
    expect_seq(node, what);
    std::vector<ArgRule> out;
    for (const auto& item : node) {
        check_keys(item, what, {"flags", "values"}, {"flags"});
        ArgRule r;
        r.flags = flag_list(item["flags"], fmt::format("{}.flags", what));
        if (item["values"]) r.values = name_globs(item["values"], fmt::format("{}.values", what));
        out.push_back(std::move(r));
    }
    return out;
}

// NOLINTNEXTLINE(readability-function-cognitive-complexity): one pass over a grammar or a loop; split is debt (see the closing note of issue 16)
void load_tools(const YAML::Node& node, Rules& rules)
{
    expect_seq(node, "upload_tools");
    for (const auto& item : node) {
        check_keys(item, "an upload tool",
                   {"name", "names", "signature_flags", "upload_args", "download_args", "upload_subcommands",
                    "inline_code", "always", "weight", "value_flags", "credential_flags", "argument_files",
                    "destination_arg"},
                   {"name", "names"});
        UploadTool t;
        t.name = nonempty(item["name"], "upload tool name");
        auto what = fmt::format("upload tool '{}'", t.name);
        t.names = name_globs(item["names"], what + ".names");
        if (item["signature_flags"])
            t.signature_flags = string_list(item["signature_flags"], what + ".signature_flags");
        if (item["upload_args"]) t.upload_args = arg_rules(item["upload_args"], what + ".upload_args");
        if (item["download_args"]) t.download_args = arg_rules(item["download_args"], what + ".download_args");
        if (item["upload_subcommands"]) {
            expect_seq(item["upload_subcommands"], what + ".upload_subcommands");
            for (const auto& sc : item["upload_subcommands"]) {
                check_keys(sc, what + " subcommand", {"words", "to", "dest", "dest_flags"}, {"words"});
                SubcommandRule r;
                r.words = string_list(sc["words"], what + " subcommand words");
                if (sc["to"]) r.to = string_list(sc["to"], what + " subcommand to");
                // No words: the rule is about the destination alone (scp SRC host:DST).
                if (r.words.empty() && r.to.empty())
                    fail(sc["words"], "subcommand words may be empty only with 'to' (where the data goes)");
                for (std::size_t i = 0; i < r.to.size(); ++i)
                    if (r.to[i].front() == '<' && r.to[i] != "<remote>" && r.to[i] != "<ssh>")
                        fail(sc["to"][i], fmt::format("unknown destination form '{}' (expected <remote>, <ssh> or a "
                                                      "prefix such as s3://)",
                                                      r.to[i]));
                if (sc["dest"]) r.dest = static_cast<int>(integer(sc["dest"], what + " subcommand dest", 1, 64));
                if (sc["dest_flags"]) r.dest_flags = flag_list(sc["dest_flags"], what + " subcommand dest_flags");
                t.upload_subcommands.push_back(std::move(r));
            }
        }
        if (item["inline_code"]) {
            const auto& ic = item["inline_code"];
            check_keys(ic, what + ".inline_code", {"flags", "patterns"}, {"flags", "patterns"});
            InlineCodeRule r;
            r.flags = string_list(ic["flags"], what + ".inline_code.flags");
            expect_seq(ic["patterns"], what + ".inline_code.patterns");
            for (const auto& p : ic["patterns"]) {
                r.patterns.push_back(string_list(p, what + ".inline_code pattern"));
                if (r.patterns.back().empty()) fail(p, "an inline_code pattern must hold at least one string");
            }
            t.inline_code = std::move(r);
        }
        if (item["always"]) t.always = boolean(item["always"], what + ".always");
        if (item["weight"]) t.weight = static_cast<int>(integer(item["weight"], what + ".weight", -100, 100));
        if (item["value_flags"]) t.value_flags = flag_list(item["value_flags"], what + ".value_flags");
        if (item["credential_flags"])
            t.credential_flags = flag_list(item["credential_flags"], what + ".credential_flags");
        if (item["argument_files"]) t.argument_files = flag_list(item["argument_files"], what + ".argument_files");
        if (item["destination_arg"])
            t.destination_arg = static_cast<int>(integer(item["destination_arg"], what + ".destination_arg", 1, 64));
        if (!t.always && t.upload_args.empty() && t.upload_subcommands.empty() && !t.inline_code)
            fail(item, fmt::format("{} says nothing about uploads: give upload_args, upload_subcommands, "
                                   "inline_code or always: true",
                                   what));
        rules.tools.push_back(std::move(t));
    }
}

std::vector<AllowEntry> allow_entries(const YAML::Node& node, std::string_view what, std::string_view match_key)
{
    expect_seq(node, what);
    std::vector<AllowEntry> out;
    for (const auto& item : node) {
        check_keys(item, fmt::format("an entry of {}", what), {match_key, "adjust", "reason"}, {match_key, "adjust"});
        AllowEntry e;
        const auto& m = item[std::string(match_key)];
        auto mwhat = fmt::format("{}.{}", what, match_key);
        if (match_key == "names") {
            e.names = name_globs(m, mwhat);
        } else if (match_key == "domains") {
            expect_seq(m, mwhat);
            for (const auto& d : m) e.domains.push_back(domain(d, mwhat));
        } else if (match_key == "uids") {
            expect_seq(m, mwhat);
            for (const auto& u : m) e.uids.push_back(static_cast<std::uint32_t>(integer(u, mwhat, 0, 0xffffffffLL)));
        } else {
            e.container_ids = string_list(m, mwhat);
        }
        e.adjust = static_cast<int>(integer(item["adjust"], fmt::format("{}.adjust", what), -100, 0));
        if (item["reason"]) e.reason = scalar(item["reason"], fmt::format("{}.reason", what));
        out.push_back(std::move(e));
    }
    return out;
}

// own_storage: {tools: [...], destinations: ["domain/path" | {domain, path, remote, tools}]}
void load_own_storage(const YAML::Node& node, Rules& rules)
{
    check_keys(node, "own_storage", {"tools", "destinations"}, {"destinations"});
    auto known_tool = [&](const YAML::Node& at, const std::string& name) {
        if (std::none_of(rules.tools.begin(), rules.tools.end(), [&](const UploadTool& t) { return t.name == name; }))
            fail(at, fmt::format("own_storage: tool '{}' is not an upload_tools name", name));
    };
    auto tool_names = [&](const YAML::Node& list, std::string_view what) {
        auto names = string_list(list, what);
        for (std::size_t i = 0; i < names.size(); ++i) known_tool(list[i], names[i]);
        return names;
    };
    if (node["tools"]) rules.own_storage.tools = tool_names(node["tools"], "own_storage.tools");
    const YAML::Node list = node["destinations"];
    expect_seq(list, "own_storage.destinations");
    for (const auto& item : list) {
        OwnDestination d;
        std::string host;
        if (item.IsMap()) {
            check_keys(item, "an own_storage destination", {"domain", "path", "remote", "tools"}, {"domain"});
            host = nonempty(item["domain"], "own_storage destination domain");
            if (item["path"]) d.path = nonempty(item["path"], "own_storage destination path");
            if (item["remote"]) d.remote = nonempty(item["remote"], "own_storage destination remote");
            if (item["tools"]) d.tools = tool_names(item["tools"], "own_storage destination tools");
        } else {
            auto text = nonempty(item, "an own_storage destination");
            auto slash = text.find('/');
            host = text.substr(0, slash);
            if (slash != std::string::npos) d.path = text.substr(slash + 1);
        }
        while (!d.path.empty() && d.path.front() == '/') d.path.erase(0, 1);
        if (!d.remote.empty() && d.remote.back() == ':') d.remote.pop_back();
        if (host.find("://") != std::string::npos || host.find(':') != std::string::npos)
            fail(item,
                 fmt::format("own_storage destination '{}': write a domain and a path ('s3.amazonaws.com/bucket'), "
                             "not a URL",
                             host));
        std::string error;
        auto pattern = DomainPattern::compile(host, error);
        if (!pattern) fail(item, fmt::format("own_storage destination: bad domain '{}': {}", host, error));
        d.domain = std::move(*pattern);
        // A domain alone would trust every bucket of a public provider, the attacker's too.
        if (d.path.empty() && d.remote.empty())
            fail(item, fmt::format("own_storage destination '{}' needs a bucket or path ('{}/bucket') or a remote",
                                   host, host));
        d.text = d.remote.empty() ? fmt::format("{}/{}", host, d.path)
                                  : fmt::format("{}: at {}{}", d.remote, host, d.path.empty() ? "" : "/" + d.path);
        if (d.tools.empty() && rules.own_storage.tools.empty())
            fail(item, "own_storage destination has no tools: give own_storage.tools or the destination's tools");
        rules.own_storage.destinations.push_back(std::move(d));
    }
}

void load_allowlists(const YAML::Node& node, Allowlists& a)
{
    check_keys(node, "allowlists", {"processes", "destinations", "users", "containers"});
    if (node["processes"]) a.processes = allow_entries(node["processes"], "allowlists.processes", "names");
    if (node["destinations"])
        a.destinations = allow_entries(node["destinations"], "allowlists.destinations", "domains");
    if (node["users"]) a.users = allow_entries(node["users"], "allowlists.users", "uids");
    if (node["containers"]) a.containers = allow_entries(node["containers"], "allowlists.containers", "ids");
}

Rules load(const YAML::Node& root)
{
    if (!root.IsDefined() || root.IsNull()) throw LoadError{root.Mark(), "the rules file is empty"};
    check_keys(root, "the rules file",
               {"version", "rule_name", "settings", "signals", "categories", "services", "sensitive_files",
                "upload_tools", "allowlists", "own_storage"},
               {"version", "categories", "services", "sensitive_files", "upload_tools"});
    if (integer(root["version"], "version", 0, 1000) != 1)
        fail(root["version"], "unsupported rules version (expected 1)");
    Rules rules;
    if (root["rule_name"]) rules.name = nonempty(root["rule_name"], "rule_name");
    if (root["settings"]) load_settings(root["settings"], rules.settings);
    if (root["signals"]) load_signals(root["signals"], rules.signals);
    load_categories(root["categories"], rules);
    load_services(root["services"], rules);
    load_sensitive(root["sensitive_files"], rules);
    load_tools(root["upload_tools"], rules);
    if (root["allowlists"]) load_allowlists(root["allowlists"], rules.allow);
    if (root["own_storage"]) load_own_storage(root["own_storage"], rules);
    return rules;
}

}  // namespace

std::string RulesError::to_string() const
{
    if (line > 0) return fmt::format("{}:{}:{}: {}", source, line, column, message);
    return fmt::format("{}: {}", source, message);
}

const Service* Rules::service_for(std::string_view domain, std::string_view path) const
{
    const Service* best = nullptr;
    for (const auto& s : services) {
        if (!s.domain.matches(domain)) continue;
        if (!path.empty() && !s.path_prefixes.empty() &&
            std::none_of(s.path_prefixes.begin(), s.path_prefixes.end(),
                         [&](const std::string& p) { return path.substr(0, p.size()) == p; }))
            continue;
        if (!best || s.domain.label_count() > best->domain.label_count()) best = &s;
    }
    return best;
}

void Rules::index_paths()
{
    path_index = PathIndex{};
    std::size_t n = 0;
    for (const auto& c : sensitive) n += c.paths.size();
    if (n == 0 || n > PathIndex::max_globs || sensitive.size() > PathIndex::max_globs) return;  // every glob tried
    std::uint16_t ordinal = 0;
    for (const auto& c : sensitive) {
        for (const auto& g : c.paths) {
            if (const auto anchor = g.anchor(); anchor.empty()) path_index.unanchored.push_back(ordinal);
            else
                path_index.by_anchor[std::string(anchor)].push_back(ordinal);
            path_index.glob_at.emplace_back(static_cast<std::uint16_t>(&c - sensitive.data()),
                                            static_cast<std::uint16_t>(&g - c.paths.data()));
            ++ordinal;
        }
    }
    path_index.globs = n;
}

const SensitiveClass* Rules::classify(std::string_view path, std::string* display) const
{
    if (path.empty() || path.front() != '/') return nullptr;  // no glob matches a relative path
    const PathParts split(path);
    const auto parts = split.view();
    enum class Tried { no, matched, excluded };  // excluded: the class's exclude holds, its other globs are not tried
    auto attempt = [&](const SensitiveClass& c, const PathGlob& g) {
        if (!g.matches_parts(parts)) return Tried::no;
        if (std::any_of(c.exclude.begin(), c.exclude.end(), [&](const PathGlob& x) { return x.matches_parts(parts); }))
            return Tried::excluded;
        if (display) *display = g.display(path);
        return Tried::matched;
    };
    std::size_t globs = 0;
    for (const auto& c : sensitive) globs += c.paths.size();
    if (path_index.globs == 0 || path_index.globs != globs) {
        for (const auto& c : sensitive) {
            for (const auto& g : c.paths) {
                const auto tried = attempt(c, g);
                if (tried == Tried::matched) return &c;
                if (tried == Tried::excluded) break;
            }
        }
        return nullptr;
    }
    std::bitset<PathIndex::max_globs> candidate;
    for (auto ordinal : path_index.unanchored) candidate.set(ordinal);
    for (auto part : parts)
        if (auto it = path_index.by_anchor.find(part); it != path_index.by_anchor.end())
            for (auto ordinal : it->second) candidate.set(ordinal);
    std::size_t excluded_class = sensitive.size();
    for (auto ordinal = candidate._Find_first(); ordinal < candidate.size(); ordinal = candidate._Find_next(ordinal)) {
        const auto [ci, gi] = path_index.glob_at[ordinal];
        if (ci == excluded_class) continue;
        const auto& c = sensitive[ci];
        const auto tried = attempt(c, c.paths[gi]);
        if (tried == Tried::matched) return &c;
        if (tried == Tried::excluded) excluded_class = ci;
    }
    return nullptr;
}

bool Rules::never_staging(std::string_view path) const
{
    if (path.empty() || path.front() != '/') return false;
    const PathParts split(path);
    const auto parts = split.view();
    return std::any_of(settings.never_staging.begin(), settings.never_staging.end(),
                       [&](const PathGlob& g) { return g.matches_parts(parts); });
}

const Category* Rules::category(std::string_view name) const
{
    auto it = categories.find(std::string(name));
    return it == categories.end() ? nullptr : &it->second;
}

RulesResult load_rules(std::string_view yaml, std::string_view source_name)
{
    auto error_at = [&](const YAML::Mark& mark, std::string message) {
        RulesError e;
        e.source = std::string(source_name);
        if (!mark.is_null()) {
            e.line = mark.line + 1;
            e.column = mark.column + 1;
        }
        e.message = std::move(message);
        return e;
    };
    try {
        auto root = YAML::Load(std::string(yaml));
        auto rules = load(root);
        rules.source = std::string(source_name);
        rules.index_paths();
        return rules;
    } catch (const LoadError& e) {
        return error_at(e.mark, e.message);
    } catch (const YAML::Exception& e) {
        return error_at(e.mark, e.msg);
    } catch (const std::exception& e) {
        return error_at(YAML::Mark::null_mark(), e.what());
    }
}

}  // namespace exfilwatch::detect
