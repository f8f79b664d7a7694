// replay: a small, fast, strict JSON parser for one NDJSON line into a flat node arena that is
// reused from line to line (no allocation per line once warm). Strings are views into the line,
// or into a scratch buffer when they held escapes or ill-formed UTF-8 (repaired to U+FFFD).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exfilwatch::replay {

struct JsonNode {
    enum class Type : std::uint8_t { null, boolean, number, string, array, object };
    Type type = Type::null;
    bool boolean = false;
    std::uint32_t first_child = 0;   // 0: none (the root, index 0, is never a child)
    std::uint32_t next_sibling = 0;  // 0: last
    std::string_view key;            // member name inside an object
    std::string_view text;           // string value, or the number as written
};

class JsonDocument {
public:
    static constexpr int max_depth = 64;

    // Parses `line` (one complete JSON value, surrounding whitespace allowed). On failure returns
    // false and error() says what and at which byte. The views stay valid until the next parse and
    // as long as `line`'s bytes do.
    bool parse(std::string_view line);
    const std::string& error() const { return error_; }

    const JsonNode& root() const { return nodes_[0]; }
    // Member `key` of an object node (first match), or nullptr.
    const JsonNode* get(const JsonNode& object, std::string_view key) const;
    // Walks a member path: get(root(), {"process", "parent", "pid"}).
    const JsonNode* find(std::initializer_list<std::string_view> path) const;
    const JsonNode* child(const JsonNode& node) const { return node.first_child ? &nodes_[node.first_child] : nullptr; }
    const JsonNode* next(const JsonNode& node) const
    {
        return node.next_sibling ? &nodes_[node.next_sibling] : nullptr;
    }

private:
    bool fail(const char* what);
    void skip_ws();
    bool parse_value(std::uint32_t index, int depth);
    bool parse_string(std::string_view& out);
    bool parse_number(std::string_view& out);
    bool literal(std::string_view word);

    std::vector<JsonNode> nodes_;
    std::string scratch_;  // decoded strings; capacity reserved per line so views stay stable
    const char* begin_ = nullptr;
    const char* p_ = nullptr;
    const char* end_ = nullptr;
    std::string error_;
};

}  // namespace exfilwatch::replay
