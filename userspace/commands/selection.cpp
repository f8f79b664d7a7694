// --events parsing: the telemetry kinds a user can ask for, by their short names.
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "commands/commands.hpp"

namespace exfilwatch::commands {

std::vector<std::string> parse_event_selection(const std::string& list)
{
    static const std::pair<const char*, std::vector<std::string>> kinds[] = {
        {"exec", {"exec"}},
        {"fork", {"fork"}},
        {"exit", {"exit"}},
        {"file", {"file-open", "file-summary"}},
        {"connect", {"connect"}},
        {"tls", {"tls-client-hello"}},
        {"dns", {"dns-answer"}},
        {"http", {"http-request"}},
        {"flow", {"flow-summary"}},
        {"io", {"object-io"}},
    };
    std::vector<std::string> actions;
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        bool known = false;
        for (const auto& [name, names] : kinds) {
            if (item != "all" && item != name) continue;
            actions.insert(actions.end(), names.begin(), names.end());
            known = true;
        }
        if (!known)
            throw std::invalid_argument(fmt::format(
                "--events: unknown kind '{}' (expected exec, fork, exit, file, connect, tls, dns, http, flow, io or all)", item));
    }
    return actions;
}

}  // namespace exfilwatch::commands
