// Fuzz target for replay/: arbitrary bytes as NDJSON lines. Never crashes, and every line that
// parses into an Event is a fixed point: writing it and parsing it again gives the same record
// (records not cut to the 16 KiB line bound).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "output/ecs.hpp"
#include "replay/reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static exfilwatch::replay::TelemetryParser parser;
    static exfilwatch::replay::TelemetryParser again;
    std::string_view input(reinterpret_cast<const char*>(data), size);
    exfilwatch::Event event;
    exfilwatch::Event reparsed;
    std::string error;
    while (!input.empty()) {
        auto nl = input.find('\n');
        auto line = input.substr(0, nl);
        input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
        if (parser.parse(line, event, error) != exfilwatch::replay::LineKind::event) continue;
        const std::string written = exfilwatch::output::to_ndjson_line(event);
        if (again.parse(written, reparsed, error) != exfilwatch::replay::LineKind::event) std::abort();
        // A record cut to the line bound (exfilwatch.truncated) reads back as its shortened self,
        // which fits and so is written without the flag: the fixed point starts after the cut.
        if (written.ends_with(",\"truncated\":true}}")) continue;
        if (exfilwatch::output::to_ndjson_line(reparsed) != written) std::abort();
    }
    return 0;
}
