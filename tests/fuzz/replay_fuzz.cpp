// Fuzz target for the ECS decoder (ecs/, what replay reads with): arbitrary bytes as NDJSON
// lines. Never crashes, and every line that parses into an Event is a fixed point: writing it and
// parsing it again gives the same record (records not cut to the 16 KiB line bound).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ecs/decoder.hpp"
#include "output/ecs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static exfilwatch::ecs::Decoder parser;
    static exfilwatch::ecs::Decoder again;
    std::string_view input(reinterpret_cast<const char*>(data), size);
    exfilwatch::Event event;
    exfilwatch::Event reparsed;
    std::string error;
    while (!input.empty()) {
        auto nl = input.find('\n');
        auto line = input.substr(0, nl);
        input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
        if (parser.decode(line, event, error) != exfilwatch::ecs::LineKind::event) continue;
        const std::string written = exfilwatch::output::to_ndjson_line(event);
        if (again.decode(written, reparsed, error) != exfilwatch::ecs::LineKind::event) std::abort();
        // A record cut to the line bound (exfilwatch.truncated) reads back as its shortened self,
        // which fits and so is written without the flag: the fixed point starts after the cut.
        if (written.ends_with(",\"truncated\":true}}")) continue;
        if (exfilwatch::output::to_ndjson_line(reparsed) != written) std::abort();
    }
    return 0;
}
