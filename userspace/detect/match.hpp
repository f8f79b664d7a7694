// detect: the two matchers the rules are written in. Path globs (`*`, `?`, `[a-z]`, `**` for any
// number of directories, a leading `~/` for "under any home directory") and domain suffixes
// matched on label boundaries (`*` in a label matches one label).
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace exfilwatch::detect {

class PathGlob {
public:
    // Returns nullopt and sets `error` when the pattern is malformed.
    static std::optional<PathGlob> compile(std::string_view pattern, std::string& error);

    bool matches(std::string_view path) const;
    // The same for an absolute path already split at '/' (PathParts, or util::split): a caller
    // testing one path against many globs splits it once.
    bool matches_parts(std::span<const std::string_view> parts) const;
    // The path as a reader would write it: `~/.ssh/id_rsa` for a home pattern, else the path.
    std::string display(std::string_view path) const;
    const std::string& pattern() const { return pattern_; }
    // Its longest segment without wildcards ("" when it has none): a path can only match when
    // one of its segments equals it, so an index of globs by this segment skips the others.
    std::string_view anchor() const;

private:
    std::string pattern_;
    std::vector<std::string> segments_;  // "**" matches any number of segments
    bool home_ = false;
    std::size_t home_tail_ = 0;  // segments after "~/" when they hold no "**"
    // What the last segment's text must start and end with (its literal head, and the literal
    // tail after its last '*'), or equal when it is all literal: most paths fail here at once.
    std::string last_head_, last_tail_;
    bool last_literal_ = false;
    bool last_checked_ = false;  // false when the last segment is "**"
};

// A path split at '/' as util::split does, held on the stack when it has at most 64 pieces (one
// allocation less for every path classified).
class PathParts {
public:
    explicit PathParts(std::string_view path);
    std::span<const std::string_view> view() const
    {
        return spill_.empty() ? std::span<const std::string_view>(inline_.data(), size_)
                              : std::span<const std::string_view>(spill_);
    }

private:
    std::array<std::string_view, 64> inline_;
    std::size_t size_ = 0;
    std::vector<std::string_view> spill_;
};

// One segment (no '/'): `*`, `?`, `[...]` (with `!`/`^` negation and ranges), `\` escapes.
bool glob_match_segment(std::string_view pattern, std::string_view text);
// Validates a segment pattern; returns an error message or empty.
std::string glob_segment_error(std::string_view pattern);
// Whole-name glob for process names (no '/' semantics): same syntax as a segment.
inline bool name_matches(std::string_view pattern, std::string_view name)
{
    return glob_match_segment(pattern, name);
}

// Lowercases, strips a trailing dot and a `:port`, and brackets of an IPv6 literal.
std::string normalize_domain(std::string_view host);

// A domain pattern: labels, `*` alone or inside a label matches within one label.
class DomainPattern {
public:
    static std::optional<DomainPattern> compile(std::string_view pattern, std::string& error);
    // Suffix match on a label boundary; `domain` must be normalized.
    bool matches(std::string_view domain) const;
    std::size_t label_count() const { return labels_.size(); }
    const std::string& pattern() const { return pattern_; }

private:
    std::string pattern_;
    std::vector<std::string> labels_;
};

}  // namespace exfilwatch::detect
