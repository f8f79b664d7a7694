// output: a streaming JSON writer into a std::string, for the NDJSON hot path (no DOM, no
// allocation beyond the caller's buffer). Output is always valid JSON and valid UTF-8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace exfilwatch::output {

// Appends JSON text to `out`. Commas are placed automatically; the caller is responsible for
// balancing begin/end and for putting a key before every value inside an object.
//
// Strings are arbitrary bytes (argv and paths are not UTF-8 by contract): well-formed UTF-8
// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF) passes through unchanged, and
// every byte that is not part of a well-formed sequence becomes U+FFFD (one U+FFFD per byte).
// Control characters are escaped (\n, \t, \u0001, ...), as are '"' and '\', and U+2028/U+2029
// (line and paragraph separators: JavaScript and many log line splitters break lines on them).
//
// Limits (off by default) bound a record: a string longer than `max_string_bytes` once escaped is
// cut at a character boundary (never inside an escape or a UTF-8 sequence) and ends with
// `truncation_marker`; loops over arrays ask `items_allowed()`. Either sets truncated().
struct JsonLimits {
    std::size_t max_string_bytes = SIZE_MAX;  // escaped bytes, without the quotes
    std::size_t max_items = SIZE_MAX;         // items per array that honours it
};

inline constexpr std::string_view truncation_marker = "...[truncated]";

class JsonWriter {
public:
    explicit JsonWriter(std::string& out) : out_(out) {}

    void begin_object();
    void end_object();
    void begin_array();
    void end_array();
    void key(std::string_view name);

    void string(std::string_view value);
    void integer(std::int64_t value);
    void uinteger(std::uint64_t value);
    void boolean(bool value);
    void null();
    // A time as an RFC 3339 string (see append_rfc3339).
    void timestamp(std::uint64_t time_ns);
    // Appends an already-serialized JSON value (the caller guarantees it is valid JSON).
    void raw(std::string_view json);

    // key + value shorthands.
    void field(std::string_view name, std::string_view value) { key(name), string(value); }
    void field(std::string_view name, const char* value) { key(name), string(value); }
    void field(std::string_view name, const std::string& value) { key(name), string(value); }
    void field(std::string_view name, bool value) { key(name), boolean(value); }
    void field(std::string_view name, std::int64_t value) { key(name), integer(value); }
    void field(std::string_view name, std::int32_t value) { key(name), integer(value); }
    void field(std::string_view name, std::uint64_t value) { key(name), uinteger(value); }
    void field(std::string_view name, std::uint32_t value) { key(name), uinteger(value); }
    void field(std::string_view name, std::uint16_t value) { key(name), uinteger(value); }
    void object(std::string_view name) { key(name), begin_object(); }
    void array(std::string_view name) { key(name), begin_array(); }

    std::string& buffer() { return out_; }

    void set_limits(const JsonLimits& limits) { limits_ = limits; }
    const JsonLimits& limits() const { return limits_; }
    bool limited() const { return limits_.max_string_bytes != SIZE_MAX || limits_.max_items != SIZE_MAX; }
    // True when an array of `count` items may be written whole; else the caller writes
    // limits().max_items of them (and the record is marked truncated).
    bool items_allowed(std::size_t count)
    {
        if (count <= limits_.max_items) return true;
        truncated_ = true;
        return false;
    }
    bool truncated() const { return truncated_; }

private:
    void separate()
    {
        if (need_comma_) out_.push_back(',');
        need_comma_ = true;
    }

    std::string& out_;
    bool need_comma_ = false;  // a value was written at this level: the next one needs a ','
    JsonLimits limits_;
    bool truncated_ = false;
};

// Appends `value` as a JSON string literal (with quotes), with the rules described above.
void append_json_string(std::string& out, std::string_view value);
// The same, cut to at most `max_bytes` escaped bytes plus truncation_marker when longer. Returns
// whether it was cut.
bool append_json_string(std::string& out, std::string_view value, std::size_t max_bytes);

// Length of the well-formed multi-byte UTF-8 sequence at s[0..n) (RFC 3629), or 0 when none
// starts there (also 0 for ASCII bytes: callers handle those first). Requires n >= 1.
std::size_t utf8_sequence_length(const unsigned char* s, std::size_t n);

// `value` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD: what a
// string looks like after a JSON round trip through this writer.
std::string sanitize_utf8(std::string_view value);

// Appends `time` (nanoseconds since the UNIX epoch) as RFC 3339 UTC with nanoseconds,
// e.g. 2026-11-29T02:49:11.123456789Z.
void append_rfc3339(std::string& out, std::uint64_t time_ns);

// Parses what append_rfc3339 writes (also accepts fewer fraction digits, or none, and a
// "+00:00" offset). Returns false on anything else.
bool parse_rfc3339(std::string_view text, std::uint64_t& time_ns);

}  // namespace exfilwatch::output
