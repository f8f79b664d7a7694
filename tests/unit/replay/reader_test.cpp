// Tests for replay/: write_event then parse gives the same Event for every alternative (with
// ill-formed UTF-8 repaired and args redacted, as the writer does); bad lines are reported with
// their line number and skipped; the JSON parser is strict.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "../output/ecs_samples.hpp"
#include "output/ecs.hpp"
#include "output/json.hpp"
#include "redact/redact.hpp"
#include "replay/reader.hpp"

using namespace exfilwatch;
using output::sanitize_utf8;

namespace {

auto fields(const ProcessRef& p)
{
    return std::tie(p.pid, p.entity_id, p.ppid, p.parent_entity_id, p.pgid, p.sid, p.uid, p.executable, p.name, p.args,
                    p.args_truncated, p.has_tty, p.cgroup_id, p.container_id, p.pod_uid, p.start_time);
}
auto fields(const Endpoint& e)
{
    return std::tie(e.ip, e.port);
}
auto fields(const ExecEvent& e)
{
    return std::tuple_cat(std::tie(e.time), fields(e.process));
}
auto fields(const ForkEvent& e)
{
    return std::tuple_cat(std::tie(e.time), fields(e.process));
}
auto fields(const ExitEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.exit_code), fields(e.process));
}
auto fields(const FileOpenEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.path, e.requested_path, e.fd, e.flags, e.inode, e.device, e.error),
                          fields(e.process));
}
auto fields(const FileSummaryEvent& e)
{
    return std::tuple_cat(
        std::tie(e.time, e.path, e.inode, e.device, e.bytes_read, e.bytes_mapped, e.opened_for_write, e.last_write),
        fields(e.process));
}
auto fields(const ConnectEvent& e)
{
    return std::tuple_cat(
        std::tie(e.time, e.flow.socket_cookie, e.transport, e.ipv6, e.destination_domain, e.socket_inode, e.adopted),
        fields(e.source), fields(e.destination), fields(e.process));
}
auto fields(const TlsClientHelloEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.flow.socket_cookie, e.server_name, e.alpn, e.version),
                          fields(e.destination), fields(e.process));
}
auto fields(const DnsAnswerEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.flow.socket_cookie, e.question, e.cnames, e.resolved_ips),
                          fields(e.process));
}
auto fields(const HttpRequestEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.flow.socket_cookie, e.method, e.host, e.path, e.connect_target),
                          fields(e.destination), fields(e.process));
}
auto fields(const FlowSummaryEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.flow.socket_cookie, e.transport, e.destination_domain, e.domain_source,
                                   e.bytes_out, e.bytes_in, e.final, e.socket_inode, e.adopted, e.tcp_bytes_acked,
                                   e.tcp_bytes_received),
                          fields(e.source), fields(e.destination), fields(e.process));
}

auto fields(const ObjectIoEvent& e)
{
    return std::tuple_cat(std::tie(e.time, e.object, e.object_id, e.device, e.direction, e.fd, e.bytes),
                          fields(e.process));
}

bool same(const Event& a, const Event& b)
{
    if (a.index() != b.index()) return false;
    return std::visit([&](const auto& x) { return fields(x) == fields(std::get<std::decay_t<decltype(x)>>(b)); }, a);
}

void repair(std::string& s)
{
    s = sanitize_utf8(s);
}
void repair(std::vector<std::string>& v)
{
    for (auto& s : v) repair(s);
}

// What the reader must give back for `e`: the writer's repairs and redaction applied.
Event expected_after_round_trip(Event e)
{
    std::visit(
        [](auto& x) {
            auto& p = x.process;
            p.args = redact::redact_args(p.args);
            for (auto* s : {&p.entity_id, &p.parent_entity_id, &p.executable, &p.name, &p.container_id, &p.pod_uid})
                repair(*s);
            repair(p.args);
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, FileOpenEvent>) {
                repair(x.path);
                repair(x.requested_path);
            } else if constexpr (std::is_same_v<T, FileSummaryEvent>) {
                repair(x.path);
            } else if constexpr (std::is_same_v<T, TlsClientHelloEvent>) {
                repair(x.server_name);
                repair(x.alpn);
            } else if constexpr (std::is_same_v<T, DnsAnswerEvent>) {
                repair(x.question);
                repair(x.cnames);
                repair(x.resolved_ips);
            } else if constexpr (std::is_same_v<T, HttpRequestEvent>) {
                repair(x.method);
                repair(x.host);
                repair(x.path);
                repair(x.connect_target);
            } else if constexpr (std::is_same_v<T, FlowSummaryEvent>) {
                repair(x.destination_domain);
            }
        },
        e);
    return e;
}

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

TEST_CASE("every Event alternative round-trips through the ECS writer")
{
    auto events = samples::events();
    std::vector<bool> seen(std::variant_size_v<Event>);
    replay::TelemetryParser parser;
    Event parsed;
    std::string error;
    for (const auto& original : events) {
        seen[original.index()] = true;
        const auto line = output::to_ndjson_line(original);
        CAPTURE(line);
        REQUIRE(parser.parse(line, parsed, error) == replay::LineKind::event);
        CHECK(error.empty());
        CHECK(same(parsed, expected_after_round_trip(original)));
        // And the record written from the parsed event is the same line.
        CHECK(output::to_ndjson_line(parsed) == line);
    }
    for (std::size_t i = 0; i < seen.size(); ++i) CHECK_MESSAGE(seen[i], "no sample for alternative ", i);
}

TEST_CASE("clean events come back identical, and storage reuse leaves nothing behind")
{
    replay::TelemetryParser parser;
    Event parsed;
    std::string error;
    auto full = samples::events()[17];  // flow summary with every field
    auto sparse = samples::events()[18];
    for (const auto& e : {full, sparse, full}) {
        REQUIRE(parser.parse(output::to_ndjson_line(e), parsed, error) == replay::LineKind::event);
        CHECK(same(parsed, expected_after_round_trip(e)));
    }
    // A default-constructed event of every alternative.
    for (Event e : {Event{ExecEvent{}}, Event{ForkEvent{}}, Event{ExitEvent{}}, Event{FileOpenEvent{}},
                    Event{FileSummaryEvent{}}, Event{ConnectEvent{}}, Event{TlsClientHelloEvent{}},
                    Event{DnsAnswerEvent{}}, Event{HttpRequestEvent{}}, Event{FlowSummaryEvent{}}}) {
        CAPTURE(e.index());
        REQUIRE(parser.parse(output::to_ndjson_line(e), parsed, error) == replay::LineKind::event);
        CHECK(same(parsed, e));
    }
}

TEST_CASE("alert, metric and state lines are ignored; blank lines too")
{
    replay::TelemetryParser parser;
    Event parsed;
    std::string error;
    CHECK(parser.parse(output::to_ndjson_line(samples::alert()), parsed, error) == replay::LineKind::ignored);
    CHECK(parser.parse(output::to_ndjson_line(samples::started()), parsed, error) == replay::LineKind::ignored);
    CHECK(parser.parse(output::to_ndjson_line(samples::metrics()), parsed, error) == replay::LineKind::ignored);
    CHECK(parser.parse("   ", parsed, error) == replay::LineKind::ignored);
}

TEST_CASE("malformed records are errors with a useful message")
{
    replay::TelemetryParser parser;
    Event parsed;
    std::string error;
    const auto exec = output::to_ndjson_line(samples::events()[0]);
    struct Case {
        std::string line;
        std::string message;
    };
    auto without = [&](const std::string& needle, const std::string& with = "") {
        auto s = exec;
        auto pos = s.find(needle);
        REQUIRE(pos != std::string::npos);
        return s.replace(pos, needle.size(), with);
    };
    const Case cases[] = {
        {"{", "not valid JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"a\":1} x", "trailing characters"},
        {"{\"a\":01}", "not valid JSON"},
        {"{\"a\":\"\x01\"}", "control character"},
        {"{\"a\":\"\\x\"}", "invalid escape"},
        {"{\"a\":tru}", "invalid literal"},
        {std::string(100, '[') + std::string(100, ']'), "nesting too deep"},
        {"{\"event\":{\"kind\":\"event\"}}", "event.action is missing"},
        {"{\"event\":{\"kind\":\"bogus\",\"action\":\"exec\"}}", "event.kind"},
        {"{\"@timestamp\":\"2026-11-29T02:49:11Z\",\"event\":{\"kind\":\"event\",\"action\":\"teleport\"}}",
         "not a telemetry action"},
        {without("\"pid\":4242,"), "process.pid is missing"},
        {without("\"pid\":4242", "\"pid\":-1"), "process.pid is not an integer"},
        {without("\"pid\":4242", "\"pid\":4294967296"), "process.pid is out of range"},
        {without("\"pid\":4242", "\"pid\":4.5"), "process.pid is not an integer"},
        {without("\"pid\":4242", "\"pid\":\"4242\""), "process.pid is not a number"},
        {without("\"@timestamp\":\"2026-11-29T02:49:11.123456789Z\",", ""), "@timestamp is missing"},
        {without("2026-11-29T02:49:11.123456789Z", "yesterday"), "@timestamp is not an RFC 3339"},
        {without("\"args\":[", "\"args\":[1,"), "process.args has an item that is not a string"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.line);
        CHECK(parser.parse(c.line, parsed, error) == replay::LineKind::error);
        CHECK_MESSAGE(error.find(c.message) != std::string::npos, error);
    }
}

TEST_CASE("JSON strings: escapes, surrogate pairs, lone surrogates, raw ill-formed bytes")
{
    replay::JsonDocument doc;
    REQUIRE(doc.parse(
        R"({"a":"x\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00","b":"\ud800","c":"\udc00z","d":"\ud800\u0041"})"));
    CHECK(doc.find({"a"})->text == "x\"\\/\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    CHECK(doc.find({"b"})->text == "\xEF\xBF\xBD");
    CHECK(doc.find({"c"})->text == "\xEF\xBF\xBDz");
    CHECK(doc.find({"d"})->text == "\xEF\xBF\xBD"
                                   "A");
    REQUIRE(doc.parse("{\"k\xff\":\"v\xc0\xaf\"}"));
    CHECK(doc.root().first_child != 0);
    CHECK(doc.child(doc.root())->key == "k\xEF\xBF\xBD");
    CHECK(doc.child(doc.root())->text == "v\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK_FALSE(doc.parse("{\"a\":\"\\u12\"}"));
    CHECK_FALSE(doc.parse("\"unterminated"));
    CHECK_FALSE(doc.parse("{\"a\" 1}"));
    CHECK_FALSE(doc.parse("{\"a\":1,}"));
    CHECK_FALSE(doc.parse("[1,]"));
    CHECK_FALSE(doc.parse("-"));
    CHECK_FALSE(doc.parse("1."));
    CHECK_FALSE(doc.parse("1e"));
    CHECK_FALSE(doc.parse(""));
    REQUIRE(doc.parse(" {\"n\":-0.5e+3,\"t\":true,\"f\":false,\"z\":null,\"e\":{},\"a\":[]} "));
    CHECK(doc.find({"n"})->text == "-0.5e+3");
    CHECK(doc.find({"t"})->boolean);
    CHECK(doc.find({"z"})->type == replay::JsonNode::Type::null);
}

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

TEST_CASE("reader: a record cut to the line bound reads back, and u64 ids come as strings or numbers")
{
    replay::TelemetryParser parser;
    Event parsed;
    std::string error;
    const auto line = output::to_ndjson_line(Event{ExecEvent{samples::t0, samples::oversized_process()}});
    REQUIRE(line.size() <= output::max_line_bytes);
    REQUIRE(line.find("\"truncated\":true") != std::string::npos);
    REQUIRE(parser.parse(line, parsed, error) == replay::LineKind::event);
    const auto& exec = std::get<ExecEvent>(parsed);
    CHECK(exec.process.pid == samples::oversized_process().pid);
    CHECK(exec.process.args.size() == samples::oversized_process().args.size());
    CHECK(exec.process.args_truncated);
    CHECK(exec.process.cgroup_id == samples::oversized_process().cgroup_id);
    // Records of older versions carried the cookie and the cgroup id as JSON numbers.
    auto connect = output::to_ndjson_line(samples::events()[9]);
    auto at = connect.find("\"cookie\":\"77\"");
    REQUIRE(at != std::string::npos);
    connect.replace(at, 13, "\"cookie\":77");
    REQUIRE(parser.parse(connect, parsed, error) == replay::LineKind::event);
    CHECK(std::get<ConnectEvent>(parsed).flow.socket_cookie == 77);
    auto big = output::to_ndjson_line(samples::events()[10]);
    CHECK(big.find("\"cookie\":\"18446744073709551615\"") != std::string::npos);
    REQUIRE(parser.parse(big, parsed, error) == replay::LineKind::event);
    CHECK(std::get<ConnectEvent>(parsed).flow.socket_cookie == 18446744073709551615ULL);
}
