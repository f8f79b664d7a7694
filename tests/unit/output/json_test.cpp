// Tests for output/json.cpp: escaping, UTF-8 repair (checked against nlohmann's strict parser),
// structure, and RFC 3339 time.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "output/json.hpp"

using namespace exfilwatch::output;

namespace {

const std::string fffd = "\xEF\xBF\xBD";

// The string as the writer encodes it, parsed back by nlohmann (throws on invalid JSON/UTF-8).
std::string round_trip(std::string_view raw)
{
    std::string out;
    append_json_string(out, raw);
    return nlohmann::json::parse(out).get<std::string>();
}

}  // namespace

TEST_CASE("every single byte gives valid JSON and the expected string")
{
    for (int b = 0; b < 256; ++b) {
        const std::string raw(1, static_cast<char>(b));
        std::string decoded;
        CAPTURE(b);
        REQUIRE_NOTHROW(decoded = round_trip(raw));
        if (b < 0x80) CHECK(decoded == raw);
        else
            CHECK(decoded == fffd);
    }
}

TEST_CASE("control characters, quotes and backslashes are escaped")
{
    std::string out;
    append_json_string(out, std::string_view("a\"b\\c\n\t\r\b\f\x01\x1f\x7f", 13));
    CHECK(out == R"("a\"b\\c\n\t\r\b\f\u0001\u001f)"
                 "\x7f\"");
    std::string nul;
    append_json_string(nul, std::string_view("x\0y", 3));
    CHECK(nul == R"("x\u0000y")");
    CHECK(round_trip(std::string_view("x\0y", 3)) == std::string("x\0y", 3));
}

TEST_CASE("well-formed UTF-8 passes through unchanged")
{
    const std::string samples[] = {"caf\xC3\xA9",      "\xE2\x82\xAC 5", "\xF0\x9F\x98\x80 emoji", "\xEF\xBF\xBF",
                                   "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF",   "\xEE\x80\x80",           "\xC2\x80"};
    for (const auto& s : samples) {
        CAPTURE(s);
        std::string out;
        append_json_string(out, s);
        CHECK(out == "\"" + s + "\"");
        CHECK(round_trip(s) == s);
        CHECK(sanitize_utf8(s) == s);
    }
}

TEST_CASE("ill-formed UTF-8 becomes one U+FFFD per byte")
{
    struct Case {
        std::string raw;
        std::string expected;
    };
    const Case cases[] = {
        {"\xC0\xAF", fffd + fffd},                        // overlong '/'
        {"\xC1\xBF", fffd + fffd},                        // overlong
        {"\xE0\x80\xAF", fffd + fffd + fffd},             // overlong 3-byte '/'
        {"\xF0\x80\x80\xAF", fffd + fffd + fffd + fffd},  // overlong 4-byte
        {"\xED\xA0\x80", fffd + fffd + fffd},             // UTF-16 surrogate D800
        {"\xED\xBF\xBF", fffd + fffd + fffd},             // surrogate DFFF
        {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},  // above U+10FFFF
        {"\xF5\x80\x80\x80", fffd + fffd + fffd + fffd},
        {"\xE2\x82", fffd + fffd},             // truncated at the end
        {"\xE2\x82x", fffd + fffd + "x"},      // truncated before ASCII
        {"\xF0\x9F\x98", fffd + fffd + fffd},  // truncated emoji
        {"\xF0\x9F\x98\x80\xF0\x9F", "\xF0\x9F\x98\x80" + fffd + fffd},
        {"\x80\x80", fffd + fffd},  // lone continuation bytes
        {"a\xFF"
         "b",
         "a" + fffd + "b"},
        {"\xC3\xA9\xC3", "\xC3\xA9" + fffd},
    };
    for (const auto& c : cases) {
        CAPTURE(c.raw);
        std::string decoded;
        REQUIRE_NOTHROW(decoded = round_trip(c.raw));
        CHECK(decoded == c.expected);
        CHECK(sanitize_utf8(c.raw) == c.expected);
    }
}

TEST_CASE("random byte strings always give valid JSON")
{
    std::uint32_t seed = 12345;
    for (int i = 0; i < 2000; ++i) {
        std::string raw;
        const int len = static_cast<int>(seed % 17);
        for (int j = 0; j < len; ++j) {
            seed = seed * 1664525u + 1013904223u;
            raw.push_back(static_cast<char>(seed >> 24));
        }
        seed = seed * 1664525u + 1013904223u;
        std::string decoded;
        REQUIRE_NOTHROW(decoded = round_trip(raw));
        CHECK(decoded == sanitize_utf8(raw));
    }
}

TEST_CASE("writer places commas and nests objects and arrays")
{
    std::string out;
    JsonWriter json(out);
    json.begin_object();
    json.field("a", std::uint64_t{18446744073709551615ULL});
    json.field("b", std::int64_t{-9223372036854775807LL - 1});
    json.field("c", true);
    json.key("d");
    json.null();
    json.array("e");
    json.begin_object();
    json.end_object();
    json.begin_array();
    json.end_array();
    json.string("x");
    json.integer(0);
    json.end_array();
    json.object("f");
    json.object("g");
    json.field("h", "i");
    json.end_object();
    json.end_object();
    json.key("j");
    json.raw("[1,2]");
    json.end_object();
    CHECK(
        out ==
        R"({"a":18446744073709551615,"b":-9223372036854775808,"c":true,"d":null,"e":[{},[],"x",0],"f":{"g":{"h":"i"}},"j":[1,2]})");
    auto parsed = nlohmann::json::parse(out);
    CHECK(parsed["a"].get<std::uint64_t>() == 18446744073709551615ULL);
    CHECK(parsed["f"]["g"]["h"] == "i");
}

TEST_CASE("keys are escaped like strings")
{
    std::string out;
    JsonWriter json(out);
    json.begin_object();
    json.field(std::string_view("k\"\xff", 3), "v");
    json.end_object();
    auto parsed = nlohmann::json::parse(out);
    CHECK(parsed.contains("k\"" + fffd));
}

TEST_CASE("RFC 3339 with nanoseconds, and back")
{
    std::string out;
    append_rfc3339(out, 0);
    CHECK(out == "1970-01-01T00:00:00.000000000Z");
    out.clear();
    // 2026-11-29T02:49:11.123456789Z
    const std::uint64_t t = 1795920551ULL * 1'000'000'000ULL + 123456789ULL;
    append_rfc3339(out, t);
    CHECK(out == "2026-11-29T02:49:11.123456789Z");
    std::uint64_t back = 0;
    REQUIRE(parse_rfc3339(out, back));
    CHECK(back == t);

    out.clear();
    const std::uint64_t leap = 951782400ULL * 1'000'000'000ULL + 1;  // 2000-02-29T00:00:00.000000001Z
    append_rfc3339(out, leap);
    CHECK(out == "2000-02-29T00:00:00.000000001Z");
    REQUIRE(parse_rfc3339(out, back));
    CHECK(back == leap);

    out.clear();
    append_rfc3339(out, UINT64_MAX);
    CHECK(out == "2554-07-21T23:34:33.709551615Z");
    REQUIRE(parse_rfc3339(out, back));
    CHECK(back == UINT64_MAX);

    REQUIRE(parse_rfc3339("2026-11-29T02:49:11Z", back));
    CHECK(back == 1795920551ULL * 1'000'000'000ULL);
    REQUIRE(parse_rfc3339("2026-11-29T02:49:11.5+00:00", back));
    CHECK(back == 1795920551ULL * 1'000'000'000ULL + 500'000'000ULL);

    for (const char* bad : {"", "2026-11-29", "2026-11-29T02:49:11", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                            "2026-11-29T24:00:00Z", "2026-11-29T02:49:11.Z", "2026-11-29T02:49:11+01:00",
                            "1969-12-31T23:59:59Z", "2600-01-01T00:00:00Z", "2026-11-29 02:49:11Z"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_rfc3339(bad, back));
    }
}

TEST_CASE("U+2028 and U+2029 are escaped: line splitters break on them")
{
    std::string out;
    append_json_string(out, "a\xE2\x80\xA8"
                            "b\xE2\x80\xA9"
                            "c\xE2\x80\xAA");
    CHECK(out == "\"a\\u2028b\\u2029c\xE2\x80\xAA\"");  // U+202A is an ordinary character
    CHECK(round_trip("x\xE2\x80\xA8y") == "x\xE2\x80\xA8y");
    CHECK(sanitize_utf8("x\xE2\x80\xA8y") == "x\xE2\x80\xA8y");  // sanitizing only repairs
    CHECK(out.find("\xE2\x80\xA8") == std::string::npos);
}

TEST_CASE("a limited string is cut at a character boundary, never inside an escape or a UTF-8 sequence")
{
    // Every cut point of strings mixing 1- to 4-byte characters and 2- and 6-byte escapes.
    const std::string raw = std::string("ab\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\n\x01\"") + "\xE2\x80\xA8" + "tail";
    std::string whole;
    append_json_string(whole, raw);
    const std::size_t escaped = whole.size() - 2;
    for (std::size_t limit = 0; limit <= escaped + 1; ++limit) {
        CAPTURE(limit);
        std::string out;
        const bool cut = append_json_string(out, raw, limit);
        CHECK(cut == (limit < escaped));
        std::string decoded;
        REQUIRE_NOTHROW(decoded = nlohmann::json::parse(out).get<std::string>());  // strict UTF-8
        if (!cut) {
            CHECK(out == whole);
            continue;
        }
        CHECK(out.size() - 2 <= limit + truncation_marker.size());
        REQUIRE(decoded.size() >= truncation_marker.size());
        CHECK(decoded.substr(decoded.size() - truncation_marker.size()) == truncation_marker);
        const std::string kept = decoded.substr(0, decoded.size() - truncation_marker.size());
        CHECK(raw.compare(0, kept.size(), kept) == 0);  // a prefix of the original
    }
}

TEST_CASE("writer limits: strings and arrays, and the truncated flag")
{
    std::string out;
    JsonWriter json(out);
    json.set_limits({4, 2});
    json.begin_array();
    json.string("abc");
    CHECK_FALSE(json.truncated());
    CHECK(json.items_allowed(2));
    CHECK_FALSE(json.truncated());
    CHECK_FALSE(json.items_allowed(3));
    CHECK(json.truncated());
    json.string("abcdef");
    json.end_array();
    CHECK(out == std::string("[\"abc\",\"abcd") + std::string(truncation_marker) + "\"]");
}
