// detect: command-line analysis against the upload_tools rules (see command.hpp).
#include "detect/command.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "redact/redact.hpp"

namespace exfilwatch::detect {
namespace {

bool is_interpreter(std::string_view name)
{
    static constexpr std::string_view interpreters[] = {"python", "pypy", "perl", "ruby", "node", "php",
                                                        "bash",   "sh",   "dash", "zsh",  "pwsh"};
    return std::any_of(std::begin(interpreters), std::end(interpreters),
                       [&](std::string_view p) { return name.substr(0, p.size()) == p; });
}

// First argument after the program (and after an interpreter's script, when there is one).
std::size_t first_arg(const ProcessRef& p)
{
    if (p.args.size() >= 2 && is_interpreter(p.name) && !p.args[1].empty() && p.args[1][0] != '-') return 2;
    return 1;
}

struct FlagHit {
    std::string flag;
    std::string value;
    bool has_value = false;
    std::size_t value_index = 0;  // the argument holding the value (the option's own when attached)
};

bool listed(const std::vector<std::string>& list, std::string_view f)
{
    return std::find(list.begin(), list.end(), f) != list.end();
}

// A command line read with a tool's grammar: options (with the values of those that take one)
// and positional arguments, wherever they stand; `--` ends the options.
struct ParsedArgs {
    std::vector<FlagHit> options;
    std::vector<std::string_view> positional;
};

bool takes_value(const UploadTool* tool, std::string_view f)
{
    if (!tool) return false;
    if (listed(tool->value_flags, f) || listed(tool->credential_flags, f) || listed(tool->argument_files, f))
        return true;
    if (std::any_of(tool->upload_args.begin(), tool->upload_args.end(),
                    [&](const auto& r) { return listed(r.flags, f); }))
        return true;
    return std::any_of(tool->upload_subcommands.begin(), tool->upload_subcommands.end(),
                       [&](const auto& r) { return listed(r.dest_flags, f); });
}

ParsedArgs parse_args(const UploadTool* tool, const std::vector<std::string>& args, std::size_t from)
{
    ParsedArgs out;
    bool options_done = false;
    for (std::size_t i = from; i < args.size(); ++i) {
        const auto& a = args[i];
        if (options_done || a.size() < 2 || a[0] != '-') {
            out.positional.push_back(a);
            continue;
        }
        if (a == "--") {
            options_done = true;
            continue;
        }
        if (a[1] == '-') {
            auto eq = a.find('=');
            auto name = a.substr(0, eq);
            if (eq != std::string::npos) out.options.push_back({name, a.substr(eq + 1), true, i});
            else if (takes_value(tool, name) && i + 1 < args.size()) {
                out.options.push_back({name, args[i + 1], true, i + 1});
                ++i;
            } else
                out.options.push_back({name, {}, false, i});
            continue;
        }
        // A cluster of short flags: the first one that takes a value takes the rest of the word,
        // or the next word.
        for (std::size_t j = 1; j < a.size(); ++j) {
            if (!std::isalnum(static_cast<unsigned char>(a[j]))) break;
            std::string f{'-', a[j]};
            if (!takes_value(tool, f)) {
                out.options.push_back({f, {}, false, i});
                continue;
            }
            if (j + 1 < a.size()) out.options.push_back({f, a.substr(j + 1), true, i});
            else if (i + 1 < args.size()) {
                out.options.push_back({f, args[i + 1], true, i + 1});
                ++i;
            } else
                out.options.push_back({f, {}, false, i});
            break;
        }
    }
    return out;
}

// Uses of any of `flags`. Without a tool's grammar a flag is taken to have the next word as its
// value (the safe reading for an unknown program copied under another name).
std::vector<FlagHit> find_flags(const ParsedArgs& parsed, const std::vector<std::string>& args,
                                const std::vector<std::string>& flags)
{
    std::vector<FlagHit> hits;
    for (const auto& o : parsed.options) {
        if (!listed(flags, o.flag)) continue;
        if (!o.has_value && o.value_index + 1 < args.size()) {
            hits.push_back({o.flag, args[o.value_index + 1], true, o.value_index + 1});
            continue;
        }
        hits.push_back(o);
    }
    return hits;
}

bool arg_rule_hit(const ArgRule& rule, const ParsedArgs& parsed, const std::vector<std::string>& args,
                  std::string& evidence)
{
    for (const auto& hit : find_flags(parsed, args, rule.flags)) {
        if (!rule.values.empty()) {
            if (!hit.has_value) continue;
            if (std::none_of(rule.values.begin(), rule.values.end(),
                             [&](const std::string& g) { return name_matches(g, hit.value); }))
                continue;
        }
        evidence = hit.has_value ? fmt::format("{} {}", hit.flag, redact_option_value(hit.flag, hit.value)) : hit.flag;
        return true;
    }
    return false;
}

bool is_remote(std::string_view arg)
{
    auto colon = arg.find(':');
    if (colon == std::string_view::npos || colon == 0 || arg.find('/') < colon) return false;
    return std::all_of(arg.begin(), arg.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ' ';
    });
}

// scp/rsync remote: `[user@]host:path`, `[v6]:path`, rsync's `host::module`; not a URL.
bool is_ssh_remote(std::string_view arg)
{
    if (arg.empty()) return false;
    if (arg.find("://") != std::string_view::npos)
        return arg.substr(0, 8) == "rsync://" || arg.substr(0, 6) == "ssh://";
    auto colon = arg.front() == '[' ? arg.find("]:") : arg.find(':');
    if (colon == std::string_view::npos || colon == 0 || arg.find('/') < colon) return false;
    return std::all_of(arg.begin(), arg.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '@' ||
               c == '[' || c == ']' || c == ':';
    });
}

bool destination_matches(const std::vector<std::string>& to, std::string_view dest)
{
    return std::any_of(to.begin(), to.end(), [&](const std::string& prefix) {
        if (prefix == "<remote>") return is_remote(dest);
        if (prefix == "<ssh>") return is_ssh_remote(dest);
        return dest.substr(0, prefix.size()) == prefix;
    });
}

// The first run of `words` among the positional arguments; npos when absent.
std::size_t find_words(const std::vector<std::string_view>& positional, const std::vector<std::string>& words)
{
    if (words.empty()) return 0;
    for (std::size_t i = 0; i + words.size() <= positional.size(); ++i)
        if (std::equal(words.begin(), words.end(), positional.begin() + static_cast<std::ptrdiff_t>(i))) return i;
    return std::string_view::npos;
}

bool subcommand_hit(const SubcommandRule& rule, const ParsedArgs& parsed, std::string& evidence,
                    std::string& destination)
{
    auto at = find_words(parsed.positional, rule.words);
    if (at == std::string_view::npos) return false;
    std::string words;
    for (const auto& word : rule.words) words += (words.empty() ? "" : " ") + word;
    std::string_view dest;
    bool have = false;
    for (const auto& o : parsed.options)
        if (listed(rule.dest_flags, o.flag) && o.has_value) {
            dest = o.value;
            have = true;
        }
    auto after = at + rule.words.size();
    if (!have && rule.dest_flags.empty() && after < parsed.positional.size()) {
        auto rest = parsed.positional.size() - after;
        if (rule.dest == 0) {
            dest = parsed.positional.back();
            have = true;
        } else if (static_cast<std::size_t>(rule.dest) <= rest) {
            dest = parsed.positional[after + static_cast<std::size_t>(rule.dest) - 1];
            have = true;
        }
    }
    if (!rule.to.empty() && (!have || !destination_matches(rule.to, dest))) return false;
    if (have) destination = std::string(dest);
    evidence = rule.to.empty() || words.empty() ? (words.empty() ? std::string(dest) : words)
                                                : fmt::format("{} ... {}", words, dest);
    if (words.empty() && !have) evidence = "upload";
    return true;
}

bool inline_hit(const InlineCodeRule& rule, const ParsedArgs& parsed, const std::vector<std::string>& args,
                std::string& evidence)
{
    for (const auto& hit : find_flags(parsed, args, rule.flags)) {
        if (!hit.has_value) continue;
        auto code = util::to_lower(hit.value);
        for (const auto& pattern : rule.patterns) {
            if (std::all_of(pattern.begin(), pattern.end(),
                            [&](const std::string& s) { return code.find(util::to_lower(s)) != std::string::npos; })) {
                std::string joined;
                for (const auto& s : pattern) joined += (joined.empty() ? "" : " + ") + s;
                evidence = fmt::format("{} code with {}", hit.flag, joined);
                return true;
            }
        }
    }
    return false;
}

bool has_signature(const UploadTool& tool, const std::vector<std::string>& args)
{
    for (std::size_t i = 1; i < args.size(); ++i) {
        std::string_view a = args[i];
        auto name = a.substr(0, a.find('='));
        if (std::find(tool.signature_flags.begin(), tool.signature_flags.end(), name) != tool.signature_flags.end())
            return true;
    }
    return false;
}

}  // namespace

bool is_multi_call(std::string_view name)
{
    return name == "busybox" || name == "toybox";
}

std::vector<std::string> process_names(const ProcessRef& p)
{
    std::vector<std::string> names;
    auto add = [&](std::string n) {
        if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
    };
    auto exe = p.executable.empty() ? p.name : base_name(p.executable);
    add(exe);
    if (is_multi_call(exe) && !p.args.empty()) add(base_name(p.args[0]));
    if (first_arg(p) == 2) add(base_name(p.args[1]));
    return names;
}

bool any_name_matches(const std::vector<std::string>& globs, const ProcessRef& process)
{
    auto names = process_names(process);
    for (const auto& g : globs)
        for (const auto& n : names)
            if (name_matches(g, n)) return true;
    return false;
}

namespace {

bool argument_names(std::string_view a, std::string_view path)
{
    auto matches = [&](std::string_view c) {
        while (c.substr(0, 2) == "./") c.remove_prefix(2);
        if (c.size() < 2) return false;
        while (c.size() > 1 && c.back() == '/') c.remove_suffix(1);
        if (c == path) return true;
        // A directory on the command line names everything under it (rclone copy ~/.aws remote:).
        if (path.size() > c.size() && path.substr(0, c.size()) == c && path[c.size()] == '/') return true;
        if (c.substr(0, 2) == "~/") c.remove_prefix(1);
        else if (c.front() == '/')
            return false;
        if (c.front() != '/' && path.size() > c.size() && path[path.size() - c.size() - 1] != '/') return false;
        return path.size() >= c.size() && path.substr(path.size() - c.size()) == c;
    };
    if (matches(a)) return true;
    for (char sep : {'@', '=', '<'}) {
        auto pos = a.find(sep);
        if (pos != std::string_view::npos && matches(a.substr(pos + 1))) return true;
    }
    return a.find(path) != std::string_view::npos;  // inside inline code or a quoted list
}

// The tool whose grammar reads this command line: the one its executable is, else the one its
// upload flags say it is.
const UploadTool* grammar_of(const Rules& rules, const ProcessRef& process)
{
    const UploadTool* by_signature = nullptr;
    for (const auto& tool : rules.tools) {
        if (any_name_matches(tool.names, process)) return &tool;
        if (!by_signature && std::any_of(process.args.begin() + std::min<std::size_t>(1, process.args.size()),
                                         process.args.end(), [&](const std::string& a) {
                                             return listed(tool.signature_flags,
                                                           std::string_view(a).substr(0, a.find('=')));
                                         }))
            by_signature = &tool;
    }
    return by_signature;
}

}  // namespace

bool names_file(const ProcessRef& process, std::string_view path)
{
    if (path.empty()) return false;
    for (std::size_t i = 1; i < process.args.size(); ++i)
        if (argument_names(process.args[i], path)) return true;
    return false;
}

bool names_file(const Rules& rules, const ProcessRef& process, std::string_view path)
{
    if (path.empty()) return false;
    const auto* tool = grammar_of(rules, process);
    if (!tool) return names_file(process, path);
    auto parsed = parse_args(tool, process.args, first_arg(process));
    std::vector<bool> credential(process.args.size(), false);
    for (const auto& o : parsed.options) {
        // Its arguments are partly in a file nobody here reads: it may name anything.
        if (listed(tool->argument_files, o.flag) && o.has_value) return true;
        if (listed(tool->credential_flags, o.flag) && o.has_value) credential[o.value_index] = true;
    }
    for (std::size_t i = 1; i < process.args.size(); ++i) {
        if (credential[i]) continue;
        const auto& a = process.args[i];
        // `--config=FILE` and `-iKEY` carry a credential value in the option's own word.
        bool attached =
            std::any_of(tool->credential_flags.begin(), tool->credential_flags.end(), [&](const std::string& f) {
                return a.size() > f.size() && a.rfind(f, 0) == 0 && (f.size() == 2 || a[f.size()] == '=');
            });
        if (!attached && argument_names(a, path)) return true;
    }
    return false;
}

bool tool_names_file_as_data(const Rules& rules, const ProcessRef& process, std::string_view path)
{
    return grammar_of(rules, process) != nullptr && names_file(rules, process, path);
}

DestinationParts parse_destination(std::string_view a)
{
    DestinationParts d;
    // restic and duplicity prefix a backend to a URL or host: `s3:https://host/b`, `rest:http://…`.
    for (std::string_view backend : {"s3:", "rest:", "swift:", "gs:", "azure:", "b2:", "sftp:", "rclone:"}) {
        if (a.substr(0, backend.size()) == backend && a.find("://") == backend.size() + 4) {
            a.remove_prefix(backend.size());
            break;
        }
    }
    auto scheme_end = a.find("://");
    if (scheme_end != std::string_view::npos) {
        d.scheme = util::to_lower(a.substr(0, scheme_end));
        auto rest = a.substr(scheme_end + 3);
        bool has_host = d.scheme != "s3" && d.scheme != "gs" && d.scheme != "az" && d.scheme != "b2";
        auto slash = rest.find('/');
        auto authority = rest.substr(0, slash);
        if (has_host) {
            if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
            d.host = normalize_domain(authority);
            rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        }
        d.path = std::string(rest.substr(0, rest.find_first_of("?#")));
    } else if (auto colon = a.find(':'); colon != std::string_view::npos && colon > 0 && a.find('/') > colon) {
        auto prefix = a.substr(0, colon);
        auto rest = a.substr(colon + 1);
        if (rest.substr(0, 1) == ":") rest.remove_prefix(1);  // rsync host::module
        if (prefix.find('@') != std::string_view::npos || prefix.find('.') != std::string_view::npos) {
            d.host =
                normalize_domain(prefix.substr(prefix.find('@') == std::string_view::npos ? 0 : prefix.find('@') + 1));
        } else {
            d.remote = std::string(prefix);
            // restic's `s3:host/bucket` names its host in the path's first segment.
            if (prefix == "s3" || prefix == "swift") {
                auto slash = rest.find('/');
                d.host = normalize_domain(rest.substr(0, slash));
                rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
                d.remote.clear();
            }
        }
        d.path = std::string(rest);
        // restic b2:bucket:path, borg repo::archive
        std::replace(d.path.begin(), d.path.end(), ':', '/');
    }
    while (!d.path.empty() && d.path.front() == '/') d.path.erase(0, 1);
    return d;
}

const OwnDestination* own_destination(const Rules& rules, const CommandAnalysis& command, std::string_view flow_domain)
{
    if (command.destination.empty() || !command.destination_tool || command.renamed || flow_domain.empty())
        return nullptr;
    auto parts = parse_destination(command.destination);
    const auto& tool = command.destination_tool->name;
    for (const auto& d : rules.own_storage.destinations) {
        const auto& tools = d.tools.empty() ? rules.own_storage.tools : d.tools;
        if (!listed(tools, tool)) continue;
        if (!d.domain.matches(flow_domain)) continue;
        if (!parts.host.empty() && !d.domain.matches(parts.host)) continue;
        if (!d.remote.empty() && parts.remote != d.remote) continue;
        if (d.remote.empty() && !parts.remote.empty()) continue;  // a remote not declared as such
        if (!d.path.empty()) {
            std::string_view path = parts.path, want = d.path;
            if (path.size() < want.size() || path.substr(0, want.size()) != want) continue;
            bool at_boundary = want.back() == '/' || path.size() == want.size() || path[want.size()] == '/';
            if (!at_boundary) continue;
        }
        return &d;
    }
    return nullptr;
}

// NOLINTNEXTLINE(readability-function-cognitive-complexity): one pass over a grammar or a loop; split is debt (see the closing note of issue 16)
CommandAnalysis analyze_command(const Rules& rules, const ProcessRef& process)
{
    CommandAnalysis result;
    const auto& args = process.args;
    auto from = first_arg(process);
    auto names = process_names(process);
    const std::string exe_name = names.empty() ? std::string() : names.front();
    const std::string argv0 = args.empty() ? std::string() : base_name(args[0]);
    for (const auto& tool : rules.tools) {
        bool by_name = any_name_matches(tool.names, process);
        // argv[0] or the name the process was started under claims the tool while the executable
        // is another file: a copy or a disguise, read with the claimed tool's grammar.
        auto claims = [&](const std::string& n) {
            return !n.empty() && std::any_of(tool.names.begin(), tool.names.end(),
                                             [&](const std::string& g) { return name_matches(g, n); });
        };
        bool claimed = !by_name && !process.executable.empty() && !is_interpreter(exe_name) &&
                       !is_multi_call(exe_name) && first_arg(process) == 1 && (claims(argv0) || claims(process.name));
        bool by_signature = !by_name && !claimed && has_signature(tool, args);
        if (!by_name && !claimed && !by_signature) continue;
        bool renamed = claimed || by_signature;
        // What the executable is wins over what argv[0] claims (`exec -a ssh curl` is curl).
        if (!result.tool || (result.renamed && !renamed && !result.upload)) {
            result.tool = &tool;
            result.renamed = renamed;
            result.argument_files.clear();
            result.destination.clear();
            result.destination_tool = nullptr;
        }
        auto parsed = parse_args(&tool, args, from);
        std::string evidence, destination;
        bool up = tool.always && args.size() > from;
        if (up) evidence = "streams stdin to the network";
        for (const auto& r : tool.upload_args)
            if (!up && arg_rule_hit(r, parsed, args, evidence)) up = true;
        for (const auto& r : tool.upload_subcommands)
            if (!up && subcommand_hit(r, parsed, evidence, destination)) up = true;
        if (!up && tool.inline_code && inline_hit(*tool.inline_code, parsed, args, evidence)) up = true;
        if (destination.empty() && tool.destination_arg > 0 &&
            static_cast<std::size_t>(tool.destination_arg) <= parsed.positional.size())
            destination = std::string(parsed.positional[static_cast<std::size_t>(tool.destination_arg) - 1]);
        if (result.tool == &tool) {
            for (const auto& o : parsed.options)
                if (listed(tool.argument_files, o.flag) && o.has_value) result.argument_files.push_back(o.value);
            if (!destination.empty()) {
                result.destination = destination;
                result.destination_tool = &tool;
            }
        }
        if (up && !result.upload) {
            result.tool = &tool;
            result.renamed = renamed;
            result.upload = true;
            result.upload_evidence =
                fmt::format("{}{} {}", tool.name, renamed ? " (renamed)" : "", redact_text(evidence));
            result.upload_weight = tool.weight.value_or(rules.signals.upload_command);
            result.destination = destination;
            result.destination_tool = destination.empty() ? nullptr : &tool;
        }
        for (const auto& r : tool.download_args)
            if (arg_rule_hit(r, parsed, args, evidence)) result.download = true;
    }
    if (result.upload) result.download = false;
    return result;
}

}  // namespace exfilwatch::detect
