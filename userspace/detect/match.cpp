// detect: path globs and domain suffix patterns used by the rules (see match.hpp).
#include "detect/match.hpp"

#include <algorithm>
#include <cctype>

#include "util/text.hpp"

namespace exfilwatch::detect {
namespace {

// Matches one `[...]` class at pattern[p] against c; sets `end` past the class. False on a
// malformed class (never reached after validation).
bool class_matches(std::string_view pattern, std::size_t p, char c, std::size_t& end, bool& ok)
{
    ok = false;
    std::size_t i = p + 1;
    bool negate = false;
    if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
        negate = true;
        ++i;
    }
    bool matched = false;
    bool first = true;
    while (i < pattern.size() && (first || pattern[i] != ']')) {
        first = false;
        char lo = pattern[i];
        if (lo == '\\' && i + 1 < pattern.size()) lo = pattern[++i];
        char hi = lo;
        if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
            hi = pattern[i + 2];
            if (hi == '\\' && i + 3 < pattern.size()) {
                hi = pattern[i + 3];
                ++i;
            }
            i += 2;
        }
        if (static_cast<unsigned char>(c) >= static_cast<unsigned char>(lo) &&
            static_cast<unsigned char>(c) <= static_cast<unsigned char>(hi))
            matched = true;
        ++i;
    }
    if (i >= pattern.size()) return false;
    ok = true;
    end = i + 1;
    return matched != negate;
}

bool match_from(std::string_view pattern, std::size_t p, std::string_view text, std::size_t t, int depth)
{
    if (depth > 64) return false;  // bounded recursion on pathological patterns
    while (p < pattern.size()) {
        char pc = pattern[p];
        if (pc == '*') {
            while (p < pattern.size() && pattern[p] == '*') ++p;
            if (p == pattern.size()) return true;
            for (std::size_t k = t; k <= text.size(); ++k)
                if (match_from(pattern, p, text, k, depth + 1)) return true;
            return false;
        }
        if (t >= text.size()) return false;
        if (pc == '?') {
            ++p;
            ++t;
        } else if (pc == '[') {
            std::size_t end = 0;
            bool ok = false;
            bool m = class_matches(pattern, p, text[t], end, ok);
            if (!ok) {
                if (text[t] != '[') return false;  // literal '[' in an unvalidated pattern
                ++p;
                ++t;
                continue;
            }
            if (!m) return false;
            p = end;
            ++t;
        } else {
            if (pc == '\\' && p + 1 < pattern.size()) pc = pattern[++p];
            if (pc != text[t]) return false;
            ++p;
            ++t;
        }
    }
    return t == text.size();
}

bool match_segments(const std::vector<std::string>& pat, std::size_t p, std::span<const std::string_view> segs,
                    std::size_t s)
{
    while (p < pat.size()) {
        if (pat[p] == "**") {
            for (std::size_t k = s; k <= segs.size(); ++k)
                if (match_segments(pat, p + 1, segs, k)) return true;
            return false;
        }
        if (s >= segs.size() || !glob_match_segment(pat[p], segs[s])) return false;
        ++p;
        ++s;
    }
    return s == segs.size();
}

}  // namespace

bool glob_match_segment(std::string_view pattern, std::string_view text)
{
    return match_from(pattern, 0, text, 0, 0);
}

std::string glob_segment_error(std::string_view pattern)
{
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '\\') {
            if (i + 1 == pattern.size()) return "dangling '\\' at the end of the pattern";
            ++i;
        } else if (pattern[i] == '[') {
            std::size_t end = 0;
            bool ok = false;
            class_matches(pattern, i, 'a', end, ok);
            if (!ok) return "unclosed '[' character class";
            i = end - 1;
        } else if (pattern[i] == ']') {
            return "unmatched ']'";
        }
    }
    return {};
}

std::optional<PathGlob> PathGlob::compile(std::string_view pattern, std::string& error)
{
    PathGlob glob;
    glob.pattern_ = std::string(pattern);
    if (pattern.empty()) {
        error = "empty path glob";
        return std::nullopt;
    }
    std::string_view rest;
    if (pattern.substr(0, 2) == "~/") {
        glob.home_ = true;
        rest = pattern.substr(2);
        glob.segments_ = {"", "**"};
    } else if (pattern.front() == '/') {
        rest = pattern.substr(1);
        glob.segments_ = {""};
    } else if (pattern.substr(0, 3) == "**/") {
        rest = pattern.substr(3);
        glob.segments_ = {"", "**"};
    } else {
        error = "path glob must start with '/', '~/' or '**/'";
        return std::nullopt;
    }
    if (rest.empty()) {
        error = "path glob names no file";
        return std::nullopt;
    }
    bool tail_has_globstar = false;
    for (auto seg : util::split(rest, '/')) {
        if (seg.empty()) {
            error = "empty path segment ('//' or a trailing '/'); write 'dir/**' for a whole directory";
            return std::nullopt;
        }
        if (seg.find('~') == 0) {
            error = "'~' is only allowed as the first character ('~/...')";
            return std::nullopt;
        }
        if (seg.find("**") != std::string::npos && seg != "**") {
            error = "'**' must be a whole path segment";
            return std::nullopt;
        }
        if (seg != "**") {
            if (auto e = glob_segment_error(seg); !e.empty()) {
                error = e;
                return std::nullopt;
            }
        } else {
            tail_has_globstar = true;
        }
        glob.segments_.emplace_back(seg);
    }
    if (glob.home_ && !tail_has_globstar) glob.home_tail_ = glob.segments_.size() - 2;
    if (const std::string_view last = glob.segments_.back(); last != "**") {
        constexpr std::string_view wild = "*?[]\\";
        const auto first = last.find_first_of(wild);
        glob.last_checked_ = true;
        glob.last_literal_ = first == std::string_view::npos;
        glob.last_head_ = std::string(last.substr(0, first));
        if (auto star = last.rfind('*'); !glob.last_literal_ && star != std::string_view::npos &&
                                         last.find_first_of(wild, star + 1) == std::string_view::npos)
            glob.last_tail_ = std::string(last.substr(star + 1));
    }
    return glob;
}

bool PathGlob::matches(std::string_view path) const
{
    if (path.empty() || path.front() != '/') return false;
    return matches_parts(PathParts(path).view());
}

PathParts::PathParts(std::string_view path)
{
    std::size_t start = 0;
    while (true) {
        const auto pos = path.find('/', start);
        const auto piece = path.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
        if (spill_.empty() && size_ < inline_.size()) {
            inline_[size_++] = piece;
        } else {
            if (spill_.empty()) spill_.assign(inline_.begin(), inline_.end());
            spill_.push_back(piece);
        }
        if (pos == std::string_view::npos) return;
        start = pos + 1;
    }
}

bool PathGlob::matches_parts(std::span<const std::string_view> parts) const
{
    if (last_checked_) {
        const std::string_view last = parts.back();
        if (last_literal_ ? last != last_head_ : !last.starts_with(last_head_) || !last.ends_with(last_tail_))
            return false;
    }
    return match_segments(segments_, 0, parts, 0);
}

std::string_view PathGlob::anchor() const
{
    std::string_view best;
    for (const auto& seg : segments_)
        if (seg.size() > best.size() && seg != "**" && seg.find_first_of("*?[]\\") == std::string::npos) best = seg;
    return best;
}

std::string PathGlob::display(std::string_view path) const
{
    if (!home_ || home_tail_ == 0) return std::string(path);
    std::size_t pos = path.size();
    for (std::size_t n = 0; n < home_tail_; ++n) {
        if (pos == 0) return std::string(path);
        pos = path.rfind('/', pos - 1);
        if (pos == std::string_view::npos) return std::string(path);
    }
    return "~" + std::string(path.substr(pos));
}

std::string normalize_domain(std::string_view host)
{
    std::string out;
    if (!host.empty() && host.front() == '[') {
        auto close = host.find(']');
        host = host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
    } else if (std::count(host.begin(), host.end(), ':') == 1) {
        host = host.substr(0, host.find(':'));
    }
    out.reserve(host.size());
    for (char c : host) out.push_back(util::ascii_lower(c));
    while (!out.empty() && out.back() == '.') out.pop_back();
    return out;
}

std::optional<DomainPattern> DomainPattern::compile(std::string_view pattern, std::string& error)
{
    DomainPattern dp;
    dp.pattern_ = normalize_domain(pattern);
    if (dp.pattern_.empty()) {
        error = "empty domain";
        return std::nullopt;
    }
    for (char c : dp.pattern_) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '*' || c == '_')) {
            error = "domain may hold only letters, digits, '-', '_', '.' and '*'";
            return std::nullopt;
        }
    }
    for (auto label : util::split(dp.pattern_, '.')) dp.labels_.emplace_back(label);
    for (auto& label : dp.labels_) {
        if (label.empty()) {
            error = "empty label in domain (leading or doubled '.')";
            return std::nullopt;
        }
    }
    return dp;
}

bool DomainPattern::matches(std::string_view domain) const
{
    // Label by label from the right, without splitting the name (this runs for every catalog
    // entry on every scoring): the last labels_.size() labels must all be non-empty and match.
    std::size_t stop = domain.size();
    bool first_label_reached = false;
    for (std::size_t i = labels_.size(); i-- > 0;) {
        if (first_label_reached) return false;  // fewer labels than the pattern
        std::size_t dot = stop == 0 ? std::string_view::npos : domain.rfind('.', stop - 1);
        std::size_t start = dot == std::string_view::npos ? 0 : dot + 1;
        if (dot == std::string_view::npos) first_label_reached = true;
        std::string_view label = domain.substr(start, stop - start);
        if (label.empty() || !glob_match_segment(labels_[i], label)) return false;
        stop = dot == std::string_view::npos ? 0 : dot;
    }
    return true;
}

}  // namespace exfilwatch::detect
