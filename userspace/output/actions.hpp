// output: the event.action of every telemetry record, named once. The ECS writer emits them, the
// replay reader reads them back and `--events` selects by them.
#pragma once

#include <array>
#include <string_view>
#include <variant>

#include "events.hpp"

namespace exfilwatch::output::actions {

inline constexpr std::string_view exec = "exec";
inline constexpr std::string_view fork = "fork";
inline constexpr std::string_view exit = "exit";
inline constexpr std::string_view file_open = "file-open";
inline constexpr std::string_view file_summary = "file-summary";
inline constexpr std::string_view connect = "connect";
inline constexpr std::string_view tls_client_hello = "tls-client-hello";
inline constexpr std::string_view dns_answer = "dns-answer";
inline constexpr std::string_view http_request = "http-request";
inline constexpr std::string_view flow_summary = "flow-summary";
inline constexpr std::string_view object_io = "object-io";
inline constexpr std::string_view content_scan = "content-scan";

// In the order of the Event variant's alternatives.
inline constexpr std::array<std::string_view, 12> by_event_index = {
    exec,       fork,         exit,         file_open, file_summary, connect, tls_client_hello,
    dns_answer, http_request, flow_summary, object_io, content_scan};
static_assert(by_event_index.size() == std::variant_size_v<Event>);

}  // namespace exfilwatch::output::actions
