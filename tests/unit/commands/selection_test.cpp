// Tests userspace/commands/selection.cpp: the --events list.
#include <doctest/doctest.h>

#include <stdexcept>

#include "commands/commands.hpp"

using namespace exfilwatch::commands;

TEST_CASE("--events names map to event.action names")
{
    using V = std::vector<std::string>;
    CHECK(parse_event_selection("").empty());
    CHECK(parse_event_selection("exec,file") == V{"exec", "file-open", "file-summary"});
    CHECK(parse_event_selection("tls,,dns") == V{"tls-client-hello", "dns-answer"});
    CHECK(parse_event_selection("all").size() == 12);
    CHECK(parse_event_selection("io") == V{"object-io"});
    CHECK(parse_event_selection("content") == V{"content-scan"});
}

TEST_CASE("an unknown --events kind names itself")
{
    CHECK_THROWS_WITH_AS(parse_event_selection("exec,bogus"), doctest::Contains("'bogus'"), std::invalid_argument);
}

TEST_CASE("the --events flag check passes what parses and names what does not")
{
    CHECK(check_event_selection("exec,file,all").empty());
    CHECK(check_event_selection("").empty());
    auto message = check_event_selection("exec,bogus");
    CHECK(message.find("unknown kind 'bogus'") != std::string::npos);
    CHECK(message.rfind("--events", 0) == std::string::npos);  // CLI11 names the flag itself
}
