// Tests userspace/enrich/flow_table.cpp: socket inode and adoption carried from the flow start
// to every summary, and the kernel's TCP counters as a floor of the packet-level counts.
#include <doctest/doctest.h>

#include "enrich/flow_table.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;

namespace {

decode::Tuple tuple()
{
    decode::Tuple t;
    t.family = EW_AF_INET;
    t.protocol = EW_PROTO_TCP;
    t.saddr = {127, 0, 0, 1};
    t.daddr = {127, 0, 0, 1};
    t.sport = 40000;
    t.dport = 9009;
    return t;
}

decode::FlowCounters counters(std::uint64_t out, std::uint64_t acked, bool final)
{
    decode::FlowCounters c;
    c.cookie = 7;
    c.tuple = tuple();
    c.bytes_out = out;
    c.bytes_in = 3;
    c.tcp_bytes_acked = acked;
    c.tcp_bytes_received = 3;
    c.final = final;
    return c;
}

const FlowSummaryEvent& summary(const std::vector<Event>& out)
{
    REQUIRE(!out.empty());
    REQUIRE(std::holds_alternative<FlowSummaryEvent>(out.back()));
    return std::get<FlowSummaryEvent>(out.back());
}

}  // namespace

TEST_CASE("a claimed flow: socket inode on connect and summaries, the kernel count as a floor")
{
    FlowTable table;
    ProcessRef owner;
    owner.pid = 42;
    std::vector<Event> out;
    decode::FlowStart start{{}, 7, tuple(), true, 31337};
    table.on_start(1, owner, start, out);
    REQUIRE(std::holds_alternative<ConnectEvent>(out.back()));
    const auto& connect = std::get<ConnectEvent>(out.back());
    CHECK(connect.socket_inode == 31337);
    CHECK_FALSE(connect.adopted);
    CHECK(connect.process.pid == 42);

    table.on_counters(2, owner, counters(100, 0, false), out);
    CHECK(summary(out).bytes_out == 100);
    CHECK(summary(out).socket_inode == 31337);
    CHECK_FALSE(summary(out).final);

    // a send path the packet hooks did not see: the kernel acknowledged more than we counted
    table.on_counters(3, owner, counters(100, 5002, true), out);
    CHECK(summary(out).bytes_out == 5000);  // less the SYN and the FIN
    CHECK(summary(out).bytes_in == 3);      // ours: 3; the kernel's 3 less the FIN: 2
    CHECK(summary(out).tcp_bytes_acked == 5002);
    CHECK(summary(out).tcp_bytes_received == 3);
    CHECK(summary(out).final);
    CHECK(table.stats().live == 0);
}

TEST_CASE("an adopted flow keeps the counts since adoption, not the kernel's whole history")
{
    FlowTable table;
    ProcessRef owner;
    owner.pid = 43;
    std::vector<Event> out;
    decode::FlowStart start{{}, 7, tuple(), false, 99};
    table.on_start(1, owner, start, out);
    CHECK(std::get<ConnectEvent>(out.back()).adopted);
    ProcessRef nobody;  // later records of an adopted socket carry no pid
    table.on_counters(2, nobody, counters(100, 1'000'100, true), out);
    CHECK(summary(out).bytes_out == 100);
    CHECK(summary(out).tcp_bytes_acked == 1'000'100);
    CHECK(summary(out).adopted);
    CHECK(summary(out).process.pid == 43);
    CHECK(summary(out).socket_inode == 99);
}
