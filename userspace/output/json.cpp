// output: the streaming JSON writer, string escaping with UTF-8 repair, and RFC 3339 time.
#include "output/json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace exfilwatch::output {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// 1 for bytes that leave the copy fast path: controls, '"', '\\', and every non-ASCII byte.
constexpr std::array<std::uint8_t, 256> special = [] {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = 1;
    t['"'] = 1;
    t['\\'] = 1;
    for (int c = 0x80; c < 0x100; ++c) t[c] = 1;
    return t;
}();

}  // namespace

// Unicode table 3-7 (well-formed byte sequences).
std::size_t utf8_sequence_length(const unsigned char* s, std::size_t n)
{
    auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        return i < n && s[i] >= lo && s[i] <= hi;
    };
    const unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // no UTF-16 surrogates
    if (c == 0xF0) return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

namespace {

// True when none of the 8 bytes needs escaping or UTF-8 checking (exact, branch-free SWAR test:
// a control byte, '"', '\\', or a byte >= 0x80).
inline bool plain_word(const unsigned char* p)
{
    constexpr std::uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    auto has_zero = [&](std::uint64_t v) { return (v - ones) & ~v & high; };
    const std::uint64_t below_space = (x - ones * 0x20) & ~x & high;
    return !(below_space | has_zero(x ^ (ones * '"')) | has_zero(x ^ (ones * '\\')) | (x & high));
}

// Shared by the JSON escaper and sanitize_utf8: copies runs of plain bytes, hands each special
// byte to `on_ascii_special`, and repairs non-ASCII bytes.
template <bool escape>
void append_text(std::string& out, std::string_view value)
{
    const auto* s = reinterpret_cast<const unsigned char*>(value.data());
    const std::size_t n = value.size();
    std::size_t i = 0;
    while (i < n) {
        std::size_t run = i;
        if constexpr (escape) {
            while (run + 8 <= n && plain_word(s + run)) run += 8;
            while (run < n && !special[s[run]]) ++run;
        } else {
            while (run < n && s[run] < 0x80) ++run;
        }
        out.append(value.data() + i, run - i);
        i = run;
        if (i >= n) break;
        const unsigned char c = s[i];
        if (c >= 0x80) {
            if (std::size_t len = utf8_sequence_length(s + i, n - i)) {
                // U+2028 / U+2029 (E2 80 A8 / A9) end a line for JavaScript and some log shippers.
                if (escape && len == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
                    out.append(s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
                    i += len;
                    continue;
                }
                out.append(value.data() + i, len);
                i += len;
            } else {
                out.append(replacement);
                ++i;
            }
            continue;
        }
        ++i;
        switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        case '\b': out.append("\\b"); break;
        case '\f': out.append("\\f"); break;
        default: {
            static constexpr char hex[] = "0123456789abcdef";
            const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            out.append(esc, sizeof esc);
        }
        }
    }
}

template <typename T>
void append_number(std::string& out, T value)
{
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    (void)ec;  // 24 bytes hold any 64-bit integer
    out.append(buf, static_cast<std::size_t>(end - buf));
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, UTC).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d)
{
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void put_digits(char* p, std::uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; --i) {
        p[i] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
}

}  // namespace

void append_json_string(std::string& out, std::string_view value)
{
    out.push_back('"');
    append_text<true>(out, value);
    out.push_back('"');
}

bool append_json_string(std::string& out, std::string_view value, std::size_t max_bytes)
{
    out.push_back('"');
    const std::size_t start = out.size();
    append_text<true>(out, value);
    bool cut = out.size() - start > max_bytes;
    if (cut) {
        // Walk the escaped text token by token (an escape, a UTF-8 sequence, an ASCII byte) and
        // stop before the first one that would pass the limit.
        std::size_t pos = start, end = start;
        const std::size_t limit = start + max_bytes;
        while (pos < out.size()) {
            const auto c = static_cast<unsigned char>(out[pos]);
            std::size_t len = 1;
            if (c == '\\') len = out[pos + 1] == 'u' ? 6 : 2;
            else if (c >= 0xF0)
                len = 4;
            else if (c >= 0xE0)
                len = 3;
            else if (c >= 0xC0)
                len = 2;
            if (pos + len > limit) break;
            pos += len;
            end = pos;
        }
        out.resize(end);
        out.append(truncation_marker);
    }
    out.push_back('"');
    return cut;
}

std::string sanitize_utf8(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    append_text<false>(out, value);
    return out;
}

void JsonWriter::begin_object()
{
    separate();
    out_.push_back('{');
    need_comma_ = false;
}

void JsonWriter::end_object()
{
    out_.push_back('}');
    need_comma_ = true;
}

void JsonWriter::begin_array()
{
    separate();
    out_.push_back('[');
    need_comma_ = false;
}

void JsonWriter::end_array()
{
    out_.push_back(']');
    need_comma_ = true;
}

void JsonWriter::key(std::string_view name)
{
    // Keys are the codec's field names, plain ASCII: copied without the escaping loop (a key is
    // written for every member of every record). Appended in pieces, not through a stack buffer:
    // bytes stored one by one and read back at once stall the store forwarding (measured).
    if (std::none_of(name.begin(), name.end(), [](char c) { return special[static_cast<unsigned char>(c)] != 0; })) {
        if (need_comma_) out_.push_back(',');
        out_.push_back('"');
        out_.append(name);
        out_.append("\":", 2);
        need_comma_ = false;
        return;
    }
    separate();
    append_json_string(out_, name);
    out_.push_back(':');
    need_comma_ = false;
}

void JsonWriter::string(std::string_view value)
{
    separate();
    if (limits_.max_string_bytes == SIZE_MAX) append_json_string(out_, value);
    else if (append_json_string(out_, value, limits_.max_string_bytes))
        truncated_ = true;
}

void JsonWriter::integer(std::int64_t value)
{
    separate();
    append_number(out_, value);
}

void JsonWriter::uinteger(std::uint64_t value)
{
    separate();
    append_number(out_, value);
}

void JsonWriter::boolean(bool value)
{
    separate();
    out_.append(value ? "true" : "false");
}

void JsonWriter::null()
{
    separate();
    out_.append("null");
}

void JsonWriter::timestamp(std::uint64_t time_ns)
{
    separate();
    out_.push_back('"');
    append_rfc3339(out_, time_ns);
    out_.push_back('"');
}

void JsonWriter::raw(std::string_view json)
{
    separate();
    out_.append(json);
}

void append_rfc3339(std::string& out, std::uint64_t time_ns)
{
    const std::uint64_t secs = time_ns / 1'000'000'000ULL;
    const std::uint64_t nanos = time_ns % 1'000'000'000ULL;
    const auto days = static_cast<std::int64_t>(secs / 86400);
    const std::uint64_t sod = secs % 86400;
    std::int64_t y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    // "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"; uint64 nanoseconds end in year 2554, so 4 digits suffice.
    char buf[30];
    put_digits(buf, static_cast<std::uint64_t>(y), 4);
    buf[4] = '-';
    put_digits(buf + 5, m, 2);
    buf[7] = '-';
    put_digits(buf + 8, d, 2);
    buf[10] = 'T';
    put_digits(buf + 11, sod / 3600, 2);
    buf[13] = ':';
    put_digits(buf + 14, sod / 60 % 60, 2);
    buf[16] = ':';
    put_digits(buf + 17, sod % 60, 2);
    buf[19] = '.';
    put_digits(buf + 20, nanos, 9);
    buf[29] = 'Z';
    out.append(buf, sizeof buf);
}

bool parse_rfc3339(std::string_view t, std::uint64_t& time_ns)
{
    auto digits = [&](std::size_t pos, std::size_t width, unsigned& v) {
        if (pos + width > t.size()) return false;
        v = 0;
        for (std::size_t i = pos; i < pos + width; ++i) {
            if (t[i] < '0' || t[i] > '9') return false;
            v = v * 10 + static_cast<unsigned>(t[i] - '0');
        }
        return true;
    };
    unsigned y, mo, d, h, mi, s;
    if (t.size() < 20 || !digits(0, 4, y) || t[4] != '-' || !digits(5, 2, mo) || t[7] != '-' || !digits(8, 2, d) ||
        (t[10] != 'T' && t[10] != 't') || !digits(11, 2, h) || t[13] != ':' || !digits(14, 2, mi) || t[16] != ':' ||
        !digits(17, 2, s))
        return false;
    static constexpr unsigned month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] || h > 23 || mi > 59 || s > 59) return false;
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return false;
    std::size_t pos = 19;
    std::uint64_t nanos = 0;
    if (pos < t.size() && t[pos] == '.') {
        ++pos;
        std::size_t count = 0;
        while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
            if (count < 9) nanos = nanos * 10 + static_cast<unsigned>(t[pos] - '0');
            ++count, ++pos;
        }
        if (count == 0) return false;
        for (std::size_t i = count; i < 9; ++i) nanos *= 10;
    }
    std::string_view zone = t.substr(pos);
    if (zone != "Z" && zone != "z" && zone != "+00:00" && zone != "-00:00") return false;
    const std::int64_t days = days_from_civil(y, mo, d);
    const std::uint64_t secs = static_cast<std::uint64_t>(days) * 86400 + h * 3600ULL + mi * 60ULL + s;
    if (secs > 18'446'744'073ULL) return false;  // beyond uint64 nanoseconds
    const std::uint64_t whole = secs * 1'000'000'000ULL;
    if (whole > UINT64_MAX - nanos) return false;
    time_ns = whole + nanos;
    return true;
}

}  // namespace exfilwatch::output
