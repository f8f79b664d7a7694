// Tests for replay/: the line framing. Lines come back in order as events (decoded by ecs::Decoder,
// tested in tests/unit/ecs), bad and oversized lines are reported with their line number and
// skipped, across buffer refills.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "../ecs/round_trip.hpp"
#include "../output/ecs_samples.hpp"
#include "output/ecs.hpp"
#include "replay/reader.hpp"

using namespace exfilwatch;

using round_trip::expected_after_round_trip;
using round_trip::same;

namespace {

// Writes `text` to a pipe and reads it back through a ReplayReader.
struct Replayed {
    std::vector<Event> events;
    std::vector<std::pair<std::uint64_t, std::string>> errors;
    replay::ReplayStats stats;
};

Replayed replay_text(const std::string& text, std::size_t max_line = replay::ReplayReader::default_max_line)
{
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fflush(f);
    std::rewind(f);
    Replayed out;
    replay::ReplayReader reader(
        fileno(f), [&](std::uint64_t line, std::string_view msg) { out.errors.emplace_back(line, std::string(msg)); },
        max_line);
    Event e;
    while (reader.next(e)) out.events.push_back(e);
    out.stats = reader.stats();
    CHECK(reader.io_error().empty());
    std::fclose(f);
    return out;
}

}  // namespace

TEST_CASE("reader: events in order, bad and huge lines reported with line numbers and skipped")
{
    std::string text;
    auto events = samples::events();
    text += output::to_ndjson_line(samples::started()) + "\n";  // 1 ignored
    text += output::to_ndjson_line(events[0]) + "\n";           // 2 event
    text += "{not json\n";                                      // 3 error
    text += "\n";                                               // 4 blank
    text += "{\"x\":\"" + std::string(5000, 'a') + "\"}\n";     // 5 too long
    text += output::to_ndjson_line(events[9]) + "\r\n";         // 6 event (CRLF)
    text += output::to_ndjson_line(samples::alert()) + "\n";    // 7 ignored
    text += std::string(300000, 'b') + "\n";                    // 8 too long, spans refills
    text += output::to_ndjson_line(events[17]);                 // 9 event, no final newline
    auto r = replay_text(text, 4096);
    REQUIRE(r.events.size() == 3);
    CHECK(same(r.events[0], expected_after_round_trip(events[0])));
    CHECK(same(r.events[1], expected_after_round_trip(events[9])));
    CHECK(same(r.events[2], expected_after_round_trip(events[17])));
    for (const auto& [line, message] : r.errors) MESSAGE(line, ": ", message);
    REQUIRE(r.errors.size() == 3);
    CHECK(r.errors[0].first == 3);
    CHECK(r.errors[0].second.find("not valid JSON") != std::string::npos);
    CHECK(r.errors[1].first == 5);
    CHECK(r.errors[1].second.find("longer than 4096 bytes") != std::string::npos);
    CHECK(r.errors[2].first == 8);
    CHECK(r.stats.lines == 9);
    CHECK(r.stats.events == 3);
    CHECK(r.stats.errors == 3);
    CHECK(r.stats.ignored == 3);
}

TEST_CASE("reader: a huge last line without a newline is reported, and empty input is fine")
{
    auto r = replay_text(output::to_ndjson_line(samples::events()[2]) + "\n" + std::string(5000, '{'), 2048);
    CHECK(r.events.size() == 1);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].first == 2);
    auto empty = replay_text("");
    CHECK(empty.events.empty());
    CHECK(empty.errors.empty());
    CHECK(empty.stats.lines == 0);
}

TEST_CASE("reader: many lines across buffer refills")
{
    std::string text;
    auto events = samples::events();
    const int n = 20000;
    for (int i = 0; i < n; ++i)
        text += output::to_ndjson_line(events[static_cast<std::size_t>(i) % events.size()]) + "\n";
    auto r = replay_text(text);
    REQUIRE(r.events.size() == static_cast<std::size_t>(n));
    CHECK(r.errors.empty());
    for (int i = 0; i < n; i += 997)
        CHECK(same(r.events[static_cast<std::size_t>(i)],
                   expected_after_round_trip(events[static_cast<std::size_t>(i) % events.size()])));
}

TEST_CASE("open: missing file is a clear error")
{
    CHECK_THROWS_WITH_AS(replay::ReplayReader::open("/nonexistent/telemetry.ndjson", nullptr),
                         doctest::Contains("cannot open /nonexistent/telemetry.ndjson"), std::runtime_error);
}
