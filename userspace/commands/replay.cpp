// `exfilwatch replay`: recorded telemetry through the same detection and output as `run`.
#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/pipeline.hpp"
#include "replay/reader.hpp"

namespace exfilwatch::commands {

int replay(const ReplayOptions& options)
{
    Pipeline pipeline(PipelineOptions{options.rules_file, options.events, options.min_score, options.output_file, false,
                                      options.state_dir});
    std::uint64_t errors = 0;
    auto reader = replay::ReplayReader::open(options.input, [&errors](std::uint64_t line, std::string_view message) {
        ++errors;
        fmt::print(stderr, "exfilwatch: {}: line {}: {}\n", "replay", line, message);
    });
    TimeNs last = 0;
    while (const Event* event = reader->next()) {
        last = std::visit([](const auto& e) { return e.time; }, *event);
        pipeline.on_event(*event);
        if (pipeline.output_broken()) break;
    }
    util::Counters counters;
    reader->stats().report(counters);
    pipeline.metrics(last, std::move(counters));
    pipeline.flush(true);
    if (!reader->io_error().empty()) {
        fmt::print(stderr, "exfilwatch: reading {} failed: {}\n", options.input, reader->io_error());
        return 1;
    }
    return 0;
}

}  // namespace exfilwatch::commands
