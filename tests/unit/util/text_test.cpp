// Tests userspace/util/text.hpp: the shared name helpers.
#include <doctest/doctest.h>

#include "util/text.hpp"

using namespace exfilwatch::util;

TEST_CASE("base_name is the last path component")
{
    CHECK(base_name("/usr/bin/curl") == "curl");
    CHECK(base_name("curl") == "curl");
    CHECK(base_name("./x/") == "");
    CHECK(base_name("") == "");
}

TEST_CASE("to_lower lowers ASCII only, whatever the locale")
{
    CHECK(to_lower("Paste.RS:443") == "paste.rs:443");
    CHECK(to_lower("caf\xC3\x89") == "caf\xC3\x89");  // UTF-8 bytes untouched
    CHECK(ascii_lower('Z') == 'z');
    CHECK(ascii_lower('[') == '[');
}

TEST_CASE("split keeps empty pieces, so callers can refuse them")
{
    using V = std::vector<std::string_view>;
    CHECK(split("/a//b", '/') == V{"", "a", "", "b"});
    CHECK(split("a.b.", '.') == V{"a", "b", ""});
    CHECK(split("", '/') == V{""});
}
