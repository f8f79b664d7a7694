// Tests userspace/enrich/flow_table.cpp (eviction): bounded memory (the flow seen least recently is evicted
// first, in O(1)) and the end of a flow.
#include <doctest/doctest.h>

#include "enrich/flow_table.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;

namespace {

decode::FlowStart start(std::uint64_t cookie)
{
    decode::FlowStart s;
    s.cookie = cookie;
    s.tuple.family = EW_AF_INET;
    s.tuple.protocol = EW_PROTO_TCP;
    s.tuple.saddr[0] = 10;
    s.tuple.daddr[0] = 127;
    s.tuple.daddr[3] = 1;
    s.tuple.sport = 40000;
    s.tuple.dport = 443;
    return s;
}

}  // namespace

TEST_CASE("past its cap the flow table evicts the flow seen least recently")
{
    FlowTable table(2);
    ProcessRef owner;
    owner.pid = 42;
    std::vector<Event> out;
    table.on_start(1, owner, start(1), out);
    table.on_start(2, owner, start(2), out);
    table.on_start(3, owner, start(1), out);  // flow 1 seen again: flow 2 is now the oldest
    CHECK(table.stats().evicted == 0);
    table.on_start(4, owner, start(3), out);
    CHECK(table.stats().evicted == 1);
    CHECK(table.stats().live == 2);
    table.on_start(5, owner, start(1), out);  // still there: no eviction
    CHECK(table.stats().evicted == 1);
    table.on_start(6, owner, start(2), out);  // evicted before: starts afresh, evicts flow 3
    CHECK(table.stats().evicted == 2);
    CHECK(table.stats().live == 2);
}

TEST_CASE("a final counter record ends the flow and frees its place")
{
    FlowTable table(2);
    ProcessRef owner;
    std::vector<Event> out;
    table.on_start(1, owner, start(1), out);
    table.on_start(2, owner, start(2), out);
    decode::FlowCounters end;
    end.cookie = 1;
    end.tuple = start(1).tuple;
    end.final = true;
    table.on_counters(3, owner, end, out);
    CHECK(table.stats().live == 1);
    table.on_start(4, owner, start(3), out);
    CHECK(table.stats().evicted == 0);
    CHECK(table.stats().live == 2);
    REQUIRE(!out.empty());
    CHECK(std::holds_alternative<ConnectEvent>(out.back()));
}
