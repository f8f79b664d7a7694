// replay: the strict single-line JSON parser (RFC 8259 grammar, bounded depth).
#include "replay/json_document.hpp"

#include <cstring>

#include <fmt/format.h>

#include "output/json.hpp"

namespace exfilwatch::replay {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// True when none of the 8 bytes at p is '"', '\\', a control byte or non-ASCII (SWAR).
inline bool plain_word(const char* p)
{
    constexpr std::uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    auto has_zero = [&](std::uint64_t v) { return (v - ones) & ~v & high; };
    const std::uint64_t below_space = (x - ones * 0x20) & ~x & high;
    return !(below_space | has_zero(x ^ (ones * '"')) | has_zero(x ^ (ones * '\\')) | (x & high));
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_utf8(std::string& out, std::uint32_t cp)
{
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

}  // namespace

bool JsonDocument::fail(const char* what)
{
    error_ = fmt::format("{} at byte {}", what, p_ - begin_ + 1);
    return false;
}

void JsonDocument::skip_ws()
{
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) ++p_;
}

bool JsonDocument::parse(std::string_view line)
{
    nodes_.clear();
    scratch_.clear();
    // Decoded text is never longer than its source (U+FFFD for one byte is 3 bytes, hence the 3x).
    if (scratch_.capacity() < line.size() * 3) scratch_.reserve(line.size() * 3);
    error_.clear();
    begin_ = p_ = line.data();
    end_ = line.data() + line.size();
    nodes_.emplace_back();
    skip_ws();
    if (!parse_value(0, 0)) return false;
    skip_ws();
    if (p_ != end_) return fail("trailing characters after the JSON value");
    return true;
}

bool JsonDocument::literal(std::string_view word)
{
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0)
        return fail("invalid literal");
    p_ += word.size();
    return true;
}

// NOLINTNEXTLINE(readability-function-cognitive-complexity): one pass over a grammar or a loop; split is debt (see the closing note of issue 16)
bool JsonDocument::parse_value(std::uint32_t index, int depth)
{
    if (p_ >= end_) return fail("unexpected end of line");
    switch (*p_) {
    case '{': {
        if (depth >= max_depth) return fail("nesting too deep");
        nodes_[index].type = JsonNode::Type::object;
        ++p_;
        skip_ws();
        if (p_ < end_ && *p_ == '}') {
            ++p_;
            return true;
        }
        std::uint32_t last = 0;
        while (true) {
            skip_ws();
            if (p_ >= end_ || *p_ != '"') return fail("expected a member name");
            std::string_view key;
            if (!parse_string(key)) return false;
            skip_ws();
            if (p_ >= end_ || *p_ != ':') return fail("expected ':'");
            ++p_;
            skip_ws();
            const auto child = static_cast<std::uint32_t>(nodes_.size());
            nodes_.emplace_back();
            nodes_[child].key = key;
            if (last) nodes_[last].next_sibling = child;
            else
                nodes_[index].first_child = child;
            last = child;
            if (!parse_value(child, depth + 1)) return false;
            skip_ws();
            if (p_ >= end_) return fail("unterminated object");
            if (*p_ == ',') {
                ++p_;
                continue;
            }
            if (*p_ == '}') {
                ++p_;
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }
    case '[': {
        if (depth >= max_depth) return fail("nesting too deep");
        nodes_[index].type = JsonNode::Type::array;
        ++p_;
        skip_ws();
        if (p_ < end_ && *p_ == ']') {
            ++p_;
            return true;
        }
        std::uint32_t last = 0;
        while (true) {
            skip_ws();
            const auto child = static_cast<std::uint32_t>(nodes_.size());
            nodes_.emplace_back();
            if (last) nodes_[last].next_sibling = child;
            else
                nodes_[index].first_child = child;
            last = child;
            if (!parse_value(child, depth + 1)) return false;
            skip_ws();
            if (p_ >= end_) return fail("unterminated array");
            if (*p_ == ',') {
                ++p_;
                continue;
            }
            if (*p_ == ']') {
                ++p_;
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }
    case '"': {
        std::string_view s;
        if (!parse_string(s)) return false;
        nodes_[index].type = JsonNode::Type::string;
        nodes_[index].text = s;
        return true;
    }
    case 't':
        nodes_[index].type = JsonNode::Type::boolean;
        nodes_[index].boolean = true;
        return literal("true");
    case 'f': nodes_[index].type = JsonNode::Type::boolean; return literal("false");
    case 'n': return literal("null");
    default: {
        std::string_view n;
        if (!parse_number(n)) return false;
        nodes_[index].type = JsonNode::Type::number;
        nodes_[index].text = n;
        return true;
    }
    }
}

bool JsonDocument::parse_number(std::string_view& out)
{
    const char* start = p_;
    auto digit = [&] { return p_ < end_ && *p_ >= '0' && *p_ <= '9'; };
    if (p_ < end_ && *p_ == '-') ++p_;
    if (!digit()) return fail("invalid value");
    if (*p_ == '0') {
        ++p_;
    } else {
        while (digit()) ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
        ++p_;
        if (!digit()) return fail("invalid number");
        while (digit()) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
        ++p_;
        if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
        if (!digit()) return fail("invalid number");
        while (digit()) ++p_;
    }
    out = std::string_view(start, static_cast<std::size_t>(p_ - start));
    return true;
}

// NOLINTNEXTLINE(readability-function-cognitive-complexity): one pass over a grammar or a loop; split is debt (see the closing note of issue 16)
bool JsonDocument::parse_string(std::string_view& out)
{
    ++p_;  // opening quote
    const char* start = p_;
    // Fast path: plain ASCII without escapes is returned as a view into the line.
    while (end_ - p_ >= 8 && plain_word(p_)) p_ += 8;
    while (p_ < end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"') {
            out = std::string_view(start, static_cast<std::size_t>(p_ - start));
            ++p_;
            return true;
        }
        if (c == '\\' || c < 0x20 || c >= 0x80) break;
        ++p_;
    }
    if (p_ >= end_) return fail("unterminated string");
    // Slow path: decode into scratch_ (reserved in parse(), so earlier views stay valid).
    const std::size_t offset = scratch_.size();
    scratch_.append(start, static_cast<std::size_t>(p_ - start));
    while (true) {
        if (p_ >= end_) return fail("unterminated string");
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"') {
            ++p_;
            break;
        }
        if (c < 0x20) return fail("control character in string");
        if (c >= 0x80) {
            if (std::size_t len = output::utf8_sequence_length(reinterpret_cast<const unsigned char*>(p_),
                                                               static_cast<std::size_t>(end_ - p_))) {
                scratch_.append(p_, len);
                p_ += len;
            } else {
                scratch_.append(replacement);
                ++p_;
            }
            continue;
        }
        if (c != '\\') {
            scratch_.push_back(static_cast<char>(c));
            ++p_;
            continue;
        }
        if (++p_ >= end_) return fail("unterminated escape");
        switch (*p_++) {
        case '"': scratch_.push_back('"'); break;
        case '\\': scratch_.push_back('\\'); break;
        case '/': scratch_.push_back('/'); break;
        case 'b': scratch_.push_back('\b'); break;
        case 'f': scratch_.push_back('\f'); break;
        case 'n': scratch_.push_back('\n'); break;
        case 'r': scratch_.push_back('\r'); break;
        case 't': scratch_.push_back('\t'); break;
        case 'u': {
            auto read_hex4 = [&](std::uint32_t& v) {
                if (end_ - p_ < 4) return false;
                v = 0;
                for (int i = 0; i < 4; ++i) {
                    int h = hex_value(p_[i]);
                    if (h < 0) return false;
                    v = v << 4 | static_cast<std::uint32_t>(h);
                }
                p_ += 4;
                return true;
            };
            std::uint32_t cp;
            if (!read_hex4(cp)) return fail("invalid \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                std::uint32_t low;
                if (end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
                    const char* save = p_;
                    p_ += 2;
                    if (read_hex4(low) && low >= 0xDC00 && low <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    } else {
                        p_ = save;  // not a low surrogate: it is decoded on its own
                        cp = 0xFFFD;
                    }
                } else {
                    cp = 0xFFFD;  // lone high surrogate
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;  // lone low surrogate
            }
            append_utf8(scratch_, cp);
            break;
        }
        default: return fail("invalid escape");
        }
    }
    out = std::string_view(scratch_.data() + offset, scratch_.size() - offset);
    return true;
}

const JsonNode* JsonDocument::get(const JsonNode& object, std::string_view key) const
{
    if (object.type != JsonNode::Type::object) return nullptr;
    for (std::uint32_t i = object.first_child; i; i = nodes_[i].next_sibling)
        if (nodes_[i].key == key) return &nodes_[i];
    return nullptr;
}

const JsonNode* JsonDocument::find(std::initializer_list<std::string_view> path) const
{
    const JsonNode* node = &nodes_[0];
    for (auto key : path) {
        node = get(*node, key);
        if (!node) return nullptr;
    }
    return node;
}

}  // namespace exfilwatch::replay
