// Small text helpers the stages share (one definition each). ASCII only: names, hosts, flags;
// never the locale.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace exfilwatch::util {

constexpr char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string to_lower(std::string_view s)
{
    std::string out(s);
    for (auto& c : out) c = ascii_lower(c);
    return out;
}

// The last component of a path ("/usr/bin/curl" -> "curl"; a path ending in '/' gives "").
inline std::string base_name(std::string_view path)
{
    auto slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// The pieces of `text` between `sep`s, empty ones included ("/a//b" -> "", "a", "", "b").
inline std::vector<std::string_view> split(std::string_view text, char sep)
{
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        auto pos = text.find(sep, start);
        if (pos == std::string_view::npos) {
            out.push_back(text.substr(start));
            return out;
        }
        out.push_back(text.substr(start, pos - start));
        start = pos + 1;
    }
}

}  // namespace exfilwatch::util
