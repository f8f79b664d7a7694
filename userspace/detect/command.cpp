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
    for (std::string_view p : {"python", "pypy", "perl", "ruby", "node", "php", "bash", "sh", "dash", "zsh", "pwsh"})
        if (name.substr(0, p.size()) == p) return true;
    return false;
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
};

// Finds uses of any of `flags` in args; clustered short flags (`-sT file`, `-dvalue`) included.
std::vector<FlagHit> find_flags(const std::vector<std::string>& args, std::size_t from,
                                const std::vector<std::string>& flags)
{
    std::vector<FlagHit> hits;
    auto known = [&](std::string_view f) { return std::find(flags.begin(), flags.end(), f) != flags.end(); };
    for (std::size_t i = from; i < args.size(); ++i) {
        const auto& a = args[i];
        if (a.size() < 2 || a[0] != '-') continue;
        if (a[1] == '-') {
            auto eq = a.find('=');
            auto name = a.substr(0, eq);
            if (!known(name)) continue;
            if (eq != std::string::npos) hits.push_back({name, a.substr(eq + 1), true});
            else if (i + 1 < args.size()) hits.push_back({name, args[i + 1], true});
            else hits.push_back({name, {}, false});
            continue;
        }
        for (std::size_t j = 1; j < a.size(); ++j) {
            if (!std::isalnum(static_cast<unsigned char>(a[j]))) break;
            std::string f{'-', a[j]};
            if (!known(f)) continue;
            if (j + 1 < a.size()) hits.push_back({f, a.substr(j + 1), true});
            else if (i + 1 < args.size()) hits.push_back({f, args[i + 1], true});
            else hits.push_back({f, {}, false});
            break;
        }
    }
    return hits;
}

bool arg_rule_hit(const ArgRule& rule, const std::vector<std::string>& args, std::size_t from, std::string& evidence)
{
    for (const auto& hit : find_flags(args, from, rule.flags)) {
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

bool subcommand_hit(const SubcommandRule& rule, const std::vector<std::string>& args, std::size_t from,
                    std::string& evidence)
{
    std::vector<std::string_view> positional;
    for (std::size_t i = from; i < args.size(); ++i)
        if (!args[i].empty() && args[i][0] != '-') positional.push_back(args[i]);
    std::size_t w = 0, after = 0;
    for (std::size_t i = 0; i < positional.size() && w < rule.words.size(); ++i)
        if (positional[i] == rule.words[w]) {
            ++w;
            after = i + 1;
        }
    if (w < rule.words.size()) return false;
    std::string words;
    for (const auto& word : rule.words) words += (words.empty() ? "" : " ") + word;
    if (rule.to.empty()) {
        evidence = words;
        return true;
    }
    if (after >= positional.size()) return false;
    auto last = positional.back();
    for (const auto& prefix : rule.to) {
        bool ok = prefix == "<remote>" ? is_remote(last) : last.substr(0, prefix.size()) == prefix;
        if (ok) {
            evidence = fmt::format("{} ... {}", words, last);
            return true;
        }
    }
    return false;
}

bool inline_hit(const InlineCodeRule& rule, const std::vector<std::string>& args, std::size_t from,
                std::string& evidence)
{
    for (const auto& hit : find_flags(args, from, rule.flags)) {
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

std::vector<std::string> process_names(const ProcessRef& p)
{
    std::vector<std::string> names;
    auto add = [&](std::string n) {
        if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
    };
    add(p.name.empty() ? base_name(p.executable) : p.name);
    if (!p.args.empty()) add(base_name(p.args[0]));
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

bool names_file(const ProcessRef& process, std::string_view path)
{
    if (path.empty()) return false;
    auto matches = [&](std::string_view c) {
        while (c.substr(0, 2) == "./") c.remove_prefix(2);
        if (c.size() < 2) return false;
        while (c.size() > 1 && c.back() == '/') c.remove_suffix(1);
        if (c == path) return true;
        // A directory on the command line names everything under it (rclone copy ~/.aws remote:).
        if (path.size() > c.size() && path.substr(0, c.size()) == c && path[c.size()] == '/') return true;
        if (c.substr(0, 2) == "~/") c.remove_prefix(1);
        else if (c.front() == '/') return false;
        if (c.front() != '/' && path.size() > c.size() && path[path.size() - c.size() - 1] != '/') return false;
        return path.size() >= c.size() && path.substr(path.size() - c.size()) == c;
    };
    for (std::size_t i = 1; i < process.args.size(); ++i) {
        std::string_view a = process.args[i];
        if (matches(a)) return true;
        for (char sep : {'@', '=', '<'}) {
            auto pos = a.find(sep);
            if (pos != std::string_view::npos && matches(a.substr(pos + 1))) return true;
        }
        if (a.find(path) != std::string_view::npos) return true;  // inside inline code or a quoted list
    }
    return false;
}

CommandAnalysis analyze_command(const Rules& rules, const ProcessRef& process)
{
    CommandAnalysis result;
    const auto& args = process.args;
    auto from = first_arg(process);
    auto names = process_names(process);
    const std::string exe_name = names.empty() ? std::string() : names.front();
    for (const auto& tool : rules.tools) {
        bool by_name = any_name_matches(tool.names, process);
        bool by_signature = !by_name && has_signature(tool, args);
        if (!by_name && !by_signature) continue;
        // Renamed: known by its flags, or argv[0] claims the tool while the executable is another
        // file (busybox applets are the legitimate exception).
        bool exe_matches = std::any_of(tool.names.begin(), tool.names.end(),
                                       [&](const std::string& g) { return name_matches(g, exe_name); });
        bool renamed = by_signature ||
                       (!exe_matches && !process.executable.empty() && exe_name != "busybox" && exe_name != "toybox" &&
                        !is_interpreter(exe_name) && std::none_of(names.begin() + 1, names.end(), [&](auto& n) {
                            return n == exe_name;
                        }) && first_arg(process) == 1);
        if (!result.tool) {
            result.tool = &tool;
            result.renamed = renamed;
        }
        std::string evidence;
        bool up = tool.always && args.size() > from;
        if (up) evidence = "streams stdin to the network";
        for (const auto& r : tool.upload_args)
            if (!up && arg_rule_hit(r, args, from, evidence)) up = true;
        for (const auto& r : tool.upload_subcommands)
            if (!up && subcommand_hit(r, args, from, evidence)) up = true;
        if (!up && tool.inline_code && inline_hit(*tool.inline_code, args, from, evidence)) up = true;
        if (up && !result.upload) {
            result.tool = &tool;
            result.renamed = renamed;
            result.upload = true;
            result.upload_evidence = fmt::format("{}{} {}", tool.name, renamed ? " (renamed)" : "", redact_text(evidence));
            result.upload_weight = tool.weight.value_or(rules.signals.upload_command);
        }
        for (const auto& r : tool.download_args)
            if (arg_rule_hit(r, args, from, evidence)) result.download = true;
    }
    if (result.upload) result.download = false;
    return result;
}

}  // namespace exfilwatch::detect
