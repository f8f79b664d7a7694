// --events parsing: the telemetry kinds a user can ask for, by their short names.
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "output/actions.hpp"

namespace exfilwatch::commands {

std::vector<std::string> parse_event_selection(const std::string& list)
{
    namespace a = output::actions;
    static const std::pair<const char*, std::vector<std::string_view>> kinds[] = {
        {"exec", {a::exec}},
        {"fork", {a::fork}},
        {"exit", {a::exit}},
        {"file", {a::file_open, a::file_summary}},
        {"connect", {a::connect}},
        {"tls", {a::tls_client_hello}},
        {"dns", {a::dns_answer}},
        {"http", {a::http_request}},
        {"flow", {a::flow_summary}},
        {"io", {a::object_io}},
        {"content", {a::content_scan}},
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
            throw std::invalid_argument(fmt::format("--events: unknown kind '{}' (expected exec, fork, exit, file, "
                                                    "connect, tls, dns, http, flow, io, content or all)",
                                                    item));
    }
    return actions;
}

std::string check_event_selection(const std::string& list)
{
    try {
        parse_event_selection(list);
    } catch (const std::invalid_argument& e) {
        std::string message = e.what();
        const std::string prefix = "--events: ";
        return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
    }
    return {};
}

}  // namespace exfilwatch::commands
