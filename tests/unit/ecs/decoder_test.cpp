// Tests for ecs/decoder: the writer's records decode to the same Event (with ill-formed UTF-8
// repaired and args redacted, as the writer does), and encode -> decode -> encode is byte-identical
// for every sample record; bytes that are not UTF-8 survive replay exactly as written; malformed
// records are errors that name the field.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "../ecs/round_trip.hpp"
#include "../output/ecs_samples.hpp"
#include "ecs/decoder.hpp"
#include "output/ecs.hpp"

using namespace exfilwatch;
using round_trip::expected_after_round_trip;
using round_trip::same;

namespace {

// Every telemetry sample of ecs_samples.hpp, the record cut to the line bound and defaults.
std::vector<Event> sample_events()
{
    auto events = samples::events();
    events.emplace_back(ExecEvent{samples::t0, samples::oversized_process()});
    for (Event e :
         {Event{ExecEvent{}}, Event{ForkEvent{}}, Event{ExitEvent{}}, Event{FileOpenEvent{}}, Event{FileSummaryEvent{}},
          Event{ConnectEvent{}}, Event{TlsClientHelloEvent{}}, Event{DnsAnswerEvent{}}, Event{HttpRequestEvent{}},
          Event{FlowSummaryEvent{}}, Event{ObjectIoEvent{}}, Event{ContentScanEvent{}}})
        events.push_back(e);
    return events;
}

// The same JSON with every object's members in reverse order (a shipper may reorder keys).
std::string reversed(simdjson::dom::element element)
{
    if (element.is_object()) {
        std::vector<std::string> members;
        for (auto [key, value] : simdjson::dom::object(element))
            members.push_back("\"" + std::string(key) + "\":" + reversed(value));
        std::string out = "{";
        for (auto it = members.rbegin(); it != members.rend(); ++it) out += (out.size() > 1 ? "," : "") + *it;
        return out + "}";
    }
    if (element.is_array()) {
        std::string out = "[";
        for (auto item : simdjson::dom::array(element)) out += (out.size() > 1 ? "," : "") + reversed(item);
        return out + "]";
    }
    return simdjson::minify(element);
}

}  // namespace

TEST_CASE("every Event alternative decodes to what was encoded")
{
    auto events = samples::events();
    std::vector<bool> seen(std::variant_size_v<Event>);
    ecs::Decoder decoder;
    Event parsed;
    std::string error;
    for (const auto& original : events) {
        seen[original.index()] = true;
        const auto line = output::to_ndjson_line(original);
        CAPTURE(line);
        REQUIRE(decoder.decode(line, parsed, error) == ecs::LineKind::event);
        CHECK(error.empty());
        CHECK(same(parsed, expected_after_round_trip(original)));
    }
    for (std::size_t i = 0; i < seen.size(); ++i) CHECK_MESSAGE(seen[i], "no sample for alternative ", i);
}

TEST_CASE("encode -> decode -> encode is byte-identical for every sample record")
{
    ecs::Decoder decoder;
    output::EcsEncoder encoder;  // the hot path's encoder (cached argv) must agree too
    Event parsed;
    std::string error;
    for (const auto& original : sample_events()) {
        const auto line = output::to_ndjson_line(original);
        CAPTURE(line);
        REQUIRE(decoder.decode(line, parsed, error) == ecs::LineKind::event);
        if (line.find("\"truncated\":true") != std::string::npos) {
            // A record cut to the line bound reads back as its shortened self, which fits and so is
            // written without the flag (and with its cut strings): the fixed point starts there.
            const auto shortened = output::to_ndjson_line(parsed);
            REQUIRE(decoder.decode(shortened, parsed, error) == ecs::LineKind::event);
            CHECK(output::to_ndjson_line(parsed) == shortened);
            continue;
        }
        CHECK(output::to_ndjson_line(parsed) == line);
        CHECK(encoder.line(parsed) == line);
    }
}

TEST_CASE("storage reuse between lines leaves nothing behind")
{
    ecs::Decoder decoder;
    Event parsed;
    std::string error;
    const auto events = samples::events();
    const auto& full = events[17];  // flow summary with every field
    const auto& sparse = events[18];
    for (const auto& e : {full, sparse, full, events[23], events[24], events[0]}) {
        REQUIRE(decoder.decode(output::to_ndjson_line(e), parsed, error) == ecs::LineKind::event);
        CHECK(same(parsed, expected_after_round_trip(e)));
    }
    for (const auto& e : sample_events()) {
        if (e.index() == 0 && std::get<ExecEvent>(e).process.args_truncated) continue;  // the cut one
        CAPTURE(e.index());
        REQUIRE(decoder.decode(output::to_ndjson_line(e), parsed, error) == ecs::LineKind::event);
        CHECK(same(parsed, expected_after_round_trip(e)));
    }
    // Into the decoder's own event of each kind: every kind after every other, twice.
    for (int round = 0; round < 2; ++round) {
        for (const auto& e : sample_events()) {
            if (e.index() == 0 && std::get<ExecEvent>(e).process.args_truncated) continue;
            CAPTURE(e.index());
            auto line = output::to_ndjson_line(e);
            const auto size = line.size();
            line.resize(size + ecs::Decoder::padding, ' ');
            const Event* decoded = nullptr;
            REQUIRE(decoder.decode_padded(std::string_view(line.data(), size), decoded, error) == ecs::LineKind::event);
            REQUIRE(decoded != nullptr);
            CHECK(same(*decoded, expected_after_round_trip(e)));
        }
    }
}

TEST_CASE("bytes that are not UTF-8 survive replay exactly as the writer wrote them")
{
    ecs::Decoder decoder;
    Event parsed;
    std::string error;
    // The writer turns every byte outside well-formed UTF-8 into U+FFFD (README: one per byte), in
    // argv, names and paths; the decoder gives that text back unchanged, so replay sees what a
    // reader of the live output sees and re-encoding is the same line.
    ProcessRef p = samples::odd_process();
    p.args = {"cat", "/home/u/\xFF\xFEkey", "caf\xC3\xA9", "\xE2\x82", "\xF0\x9F\x98\x80", "\xC0\xAF"};
    const FileOpenEvent open{samples::t0, p, "/home/u/\xFF\xFEkey", "\xFF\xFEkey", 3, 0, 7, 2049, 0};
    const auto line = output::to_ndjson_line(Event{open});
    REQUIRE(line.find("\xEF\xBF\xBD\xEF\xBF\xBDkey") != std::string::npos);
    REQUIRE(decoder.decode(line, parsed, error) == ecs::LineKind::event);
    const auto& got = std::get<FileOpenEvent>(parsed);
    CHECK(got.path == "/home/u/\xEF\xBF\xBD\xEF\xBF\xBDkey");
    CHECK(got.requested_path == "\xEF\xBF\xBD\xEF\xBF\xBDkey");
    CHECK(got.process.executable == "/tmp/\xEF\xBF\xBD\xEF\xBF\xBD\x01tool");
    CHECK(got.process.name == "t\xEF\xBF\xBDol");
    REQUIRE(got.process.args.size() == 6);
    CHECK(got.process.args[1] == "/home/u/\xEF\xBF\xBD\xEF\xBF\xBDkey");
    CHECK(got.process.args[2] == "caf\xC3\xA9");
    CHECK(got.process.args[3] == "\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(got.process.args[4] == "\xF0\x9F\x98\x80");
    CHECK(got.process.args[5] == "\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(output::to_ndjson_line(parsed) == line);

    // Input that did not come from the writer may hold raw ill-formed bytes, which simdjson
    // rejects: they are repaired the way the writer repairs them (one U+FFFD per byte).
    auto raw = line;
    const auto at = raw.find("\xEF\xBF\xBD\xEF\xBF\xBDkey");
    raw.replace(at, 6, "\xFF\xFE");
    REQUIRE(decoder.decode(raw, parsed, error) == ecs::LineKind::event);
    CHECK(std::get<FileOpenEvent>(parsed).path == "/home/u/\xEF\xBF\xBD\xEF\xBF\xBDkey");
    CHECK(output::to_ndjson_line(parsed) == line);

    // JSON escapes decode: \u00e9, a surrogate pair, \/ and the control characters the writer escapes.
    auto escaped = line;
    const auto name = escaped.find("\"name\":\"t");
    REQUIRE(name != std::string::npos);
    const auto end = escaped.find('"', name + 8);
    escaped.replace(name, end - name + 1, R"("name":"caf\u00e9 \ud83d\ude00 \/ \n\u0001")");
    REQUIRE(decoder.decode(escaped, parsed, error) == ecs::LineKind::event);
    CHECK(std::get<FileOpenEvent>(parsed).process.name == "caf\xC3\xA9 \xF0\x9F\x98\x80 / \n\x01");
}

TEST_CASE("members in any order, unknown and repeated keys: the same record")
{
    ecs::Decoder decoder;
    Event parsed;
    std::string error;
    simdjson::dom::parser dom;
    for (const auto& original : sample_events()) {
        const auto line = output::to_ndjson_line(original);
        if (line.ends_with(",\"truncated\":true}}")) continue;  // cut: reads back as its shorter self
        const auto backwards = reversed(dom.parse(line));
        CAPTURE(backwards);
        REQUIRE(backwards != line);
        REQUIRE(decoder.decode(backwards, parsed, error) == ecs::LineKind::event);
        CHECK(same(parsed, expected_after_round_trip(original)));
        CHECK(output::to_ndjson_line(parsed) == line);
    }

    auto edit = [](std::string s, const std::string& needle, const std::string& with) {
        auto pos = s.find(needle);
        REQUIRE(pos != std::string::npos);
        return s.replace(pos, needle.size(), with);
    };
    const auto exec = output::to_ndjson_line(samples::events()[0]);
    // Keys the map does not name, at every level, are skipped (and validated).
    auto extra = edit(edit(exec, "\"process\":{", "\"x\":{\"a\":[1,{\"b\":\"\\u00e9\"}]},\"process\":{\"y\":null,"),
                      "\"user\":{", "\"user\":{\"z\":[],");
    REQUIRE(decoder.decode(extra, parsed, error) == ecs::LineKind::event);
    CHECK(output::to_ndjson_line(parsed) == exec);
    CHECK(decoder.decode(edit(extra, "\"y\":null", "\"y\":[\"\\q\"]"), parsed, error) == ecs::LineKind::error);
    CHECK(error.find("not valid JSON") != std::string::npos);
    // A repeated key: the first one counts, as it always did.
    REQUIRE(decoder.decode(edit(exec, "\"pid\":4242,", "\"pid\":4242,\"pid\":7,"), parsed, error) ==
            ecs::LineKind::event);
    CHECK(std::get<ExecEvent>(parsed).process.pid == 4242);

    // errno by number wins over its name, in either order; a later record without them resets it.
    const auto denied = output::to_ndjson_line(samples::events()[6]);
    REQUIRE(denied.find("\"error\":\"EACCES\",\"errno\":13") != std::string::npos);
    REQUIRE(decoder.decode(edit(denied, "\"error\":\"EACCES\",\"errno\":13", "\"errno\":13,\"error\":\"ENOENT\""),
                           parsed, error) == ecs::LineKind::event);
    CHECK(std::get<FileOpenEvent>(parsed).error == 13);
    REQUIRE(decoder.decode(edit(denied, "\"error\":\"EACCES\",\"errno\":13", "\"error\":\"ENOENT\""), parsed, error) ==
            ecs::LineKind::event);
    CHECK(std::get<FileOpenEvent>(parsed).error == 2);
    const std::string padding(ecs::Decoder::padding, ' ');
    for (auto line : {denied, edit(denied, ",\"error\":\"EACCES\",\"errno\":13", "")}) {
        const std::size_t size = line.size();
        line += padding;
        const Event* decoded = nullptr;
        REQUIRE(decoder.decode_padded(std::string_view(line.data(), size), decoded, error) == ecs::LineKind::event);
        CHECK(std::get<FileOpenEvent>(*decoded).error == (size == denied.size() ? 13 : 0));
    }
}

TEST_CASE("alert, metric and state lines are ignored; blank lines too")
{
    ecs::Decoder decoder;
    Event parsed;
    std::string error;
    CHECK(decoder.decode(output::to_ndjson_line(samples::alert()), parsed, error) == ecs::LineKind::ignored);
    CHECK(decoder.decode(output::to_ndjson_line(samples::blind_spot()), parsed, error) == ecs::LineKind::ignored);
    CHECK(decoder.decode(output::to_ndjson_line(samples::started()), parsed, error) == ecs::LineKind::ignored);
    CHECK(decoder.decode(output::to_ndjson_line(samples::metrics()), parsed, error) == ecs::LineKind::ignored);
    CHECK(decoder.decode("   ", parsed, error) == ecs::LineKind::ignored);
    CHECK(decoder.decode("", parsed, error) == ecs::LineKind::ignored);
}

TEST_CASE("malformed records are errors with a message naming the field")
{
    ecs::Decoder decoder;
    Event parsed;
    std::string error;
    const auto exec = output::to_ndjson_line(samples::events()[0]);
    const auto open = output::to_ndjson_line(samples::events()[5]);
    const auto io = output::to_ndjson_line(samples::events()[19]);
    struct Case {
        std::string line;
        std::string message;
    };
    auto edit = [](std::string s, const std::string& needle, const std::string& with = "") {
        auto pos = s.find(needle);
        REQUIRE(pos != std::string::npos);
        return s.replace(pos, needle.size(), with);
    };
    const Case cases[] = {
        {"{", "not valid JSON"},
        {"[1,2]", "not a JSON object"},
        {"\"text\"", "not a JSON object"},
        {"{\"a\":1} x", "not valid JSON"},
        {"{\"a\":\"unterminated}", "not valid JSON"},
        {"{\"event\":{\"kind\":\"event\"}}", "event.action is missing"},
        {"{\"event\":{\"kind\":\"bogus\",\"action\":\"exec\"}}",
         "event.kind is not one of alert, event, metric, state"},
        {"{\"event\":{\"kind\":7}}", "event.kind is not a string"},
        {"{\"event\":[]}", "event is not an object"},
        {"{\"process\":{}}", "event.kind is missing"},
        {"{\"@timestamp\":\"2026-11-29T02:49:11Z\",\"event\":{\"kind\":\"event\",\"action\":\"teleport\"}}",
         "not a telemetry action"},
        {edit(exec, "\"pid\":4242,"), "process.pid is missing"},
        {edit(exec, "\"process\":{", "\"proc\":{"), "process.pid is missing"},
        {edit(exec, "\"pid\":4242", "\"pid\":-1"), "process.pid is out of range"},
        {edit(exec, "\"pid\":4242", "\"pid\":4294967296"), "process.pid is out of range"},
        {edit(exec, "\"pid\":4242", "\"pid\":18446744073709551616"), "process.pid is"},
        {edit(exec, "\"pid\":4242", "\"pid\":4.5"), "process.pid is not an integer"},
        {edit(exec, "\"pid\":4242", "\"pid\":\"4242\""), "process.pid is not a number"},
        {edit(exec, "\"pid\":4242", "\"pid\":tru"), "process.pid is not"},
        {edit(exec, "\"pid\":4242", "\"pid\":01"), "process.pid is not"},
        {edit(exec, "\"id\":\"1000\"", "\"id\":\"10x\""), "process.user.id is not an integer"},
        {edit(exec, "\"id\":\"1000\"", "\"id\":\"4294967296\""), "process.user.id is out of range"},
        {edit(exec, "\"has_tty\":true", "\"has_tty\":1"), "exfilwatch.process.has_tty is not a boolean"},
        {edit(exec, "\"@timestamp\":\"2026-11-29T02:49:11.123456789Z\",", ""), "@timestamp is missing"},
        {edit(exec, "2026-11-29T02:49:11.123456789Z", "yesterday"), "@timestamp is not an RFC 3339"},
        {edit(exec, "\"args\":[", "\"args\":[1,"), "process.args has an item that is not a string"},
        // Not JSON at all (an object of strings closed by `]`): the structure is walked first.
        {edit(exec, "\"args\":[", "\"args\":{\"a\":"), "not valid JSON"},
        {edit(exec, "\"args\":[", "\"args\":{},\"x\":["), "process.args is not an array"},
        {edit(exec, "\"executable\":\"/usr/bin/curl\"", "\"executable\":null"), "process.executable is not a string"},
        {edit(open, "\"path\":\"/home/alice/.ssh/id_ed25519\",", ""), "file.path is missing"},
        {edit(io, "\"kind\":\"pipe\"", "\"kind\":\"tube\""),
         "exfilwatch.object.kind is not one of pipe, fifo, unix_socket, loopback_socket"},
        {edit(io, "\"direction\":\"write\",", ""), "exfilwatch.object.direction is missing"},
        {edit(edit(output::to_ndjson_line(samples::events()[6]), "\"errno\":13", "\"errno\":0"), "\"error\":\"EACCES\"",
              "\"error\":\"ENOTHING\""),
         "exfilwatch.file.error is not a known errno name"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.line);
        CHECK(decoder.decode(c.line, parsed, error) == ecs::LineKind::error);
        CHECK_MESSAGE(error.find(c.message) != std::string::npos, error);
    }
}

TEST_CASE("fallbacks: u64 ids as strings or numbers, errno by name, fd and network.type defaults")
{
    ecs::Decoder decoder;
    Event parsed;
    std::string error;
    // Records of older versions carried the cookie and the cgroup id as JSON numbers.
    auto connect = output::to_ndjson_line(samples::events()[9]);
    auto at = connect.find("\"cookie\":\"77\"");
    REQUIRE(at != std::string::npos);
    connect.replace(at, 13, "\"cookie\":77");
    REQUIRE(decoder.decode(connect, parsed, error) == ecs::LineKind::event);
    CHECK(std::get<ConnectEvent>(parsed).flow.socket_cookie == 77);
    auto big = output::to_ndjson_line(samples::events()[10]);
    CHECK(big.find("\"cookie\":\"18446744073709551615\"") != std::string::npos);
    REQUIRE(decoder.decode(big, parsed, error) == ecs::LineKind::event);
    CHECK(std::get<ConnectEvent>(parsed).flow.socket_cookie == 18446744073709551615ULL);
    CHECK(std::get<ConnectEvent>(parsed).ipv6);

    // errno by its name only; a missing fd is -1.
    auto denied = output::to_ndjson_line(samples::events()[6]);
    at = denied.find(",\"errno\":13");
    REQUIRE(at != std::string::npos);
    denied.erase(at, 11);
    at = denied.find("\"fd\":-1,");
    REQUIRE(at != std::string::npos);
    denied.erase(at, 8);
    REQUIRE(decoder.decode(denied, parsed, error) == ecs::LineKind::event);
    CHECK(std::get<FileOpenEvent>(parsed).error == 13);
    CHECK(std::get<FileOpenEvent>(parsed).fd == -1);
}

TEST_CASE("a record cut to the line bound reads back")
{
    ecs::Decoder decoder;
    Event parsed;
    std::string error;
    const auto line = output::to_ndjson_line(Event{ExecEvent{samples::t0, samples::oversized_process()}});
    REQUIRE(line.size() <= output::max_line_bytes);
    REQUIRE(line.find("\"truncated\":true") != std::string::npos);
    REQUIRE(decoder.decode(line, parsed, error) == ecs::LineKind::event);
    const auto& exec = std::get<ExecEvent>(parsed);
    CHECK(exec.process.pid == samples::oversized_process().pid);
    CHECK(exec.process.args.size() == samples::oversized_process().args.size());
    CHECK(exec.process.args_truncated);
    CHECK(exec.process.cgroup_id == samples::oversized_process().cgroup_id);
}
