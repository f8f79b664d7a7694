// Tests userspace/enrich/flow_table.cpp: socket inode and adoption carried from the flow start
// to every summary, the kernel's TCP counters as a floor of the packet-level counts, bounded
// memory (the flow seen least recently is evicted first, in O(1)) and how a flow is named when
// its client sent no SNI, Host or DNS query (the hosts file, then the command line).
#include <doctest/doctest.h>

#include "enrich/flow_table.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;

namespace {

decode::Tuple tuple(std::uint16_t dport = 9009)
{
    decode::Tuple t;
    t.family = decode::Family::ipv4;
    t.protocol = decode::Protocol::tcp;
    t.saddr = {127, 0, 0, 1};
    t.daddr = {127, 0, 0, 1};
    t.sport = 40000;
    t.dport = dport;
    return t;
}

decode::FlowStart start(std::uint64_t cookie)
{
    decode::FlowStart s;
    s.cookie = cookie;
    s.tuple = tuple();
    return s;
}

ProcessRef process_with(std::vector<std::string> args)
{
    ProcessRef p;
    p.pid = 4242;
    p.entity_id = "e4242";
    p.name = args.front();
    p.args = std::move(args);
    return p;
}

const std::string hosts_text = "127.0.0.1 localhost\n127.0.0.1 paste.rs abc.ngrok-free.app\n";

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

TEST_CASE("flow table: a raw stream is named by the hosts file name on its command line")
{
    std::vector<std::uint32_t> asked;
    FlowTable flows(16, [&](std::uint32_t pid) {
        asked.push_back(pid);
        return hosts_text;
    });
    std::vector<Event> out;
    auto nc = process_with({"ncat", "--send-only", "abc.ngrok-free.app", "9009"});
    flows.on_start(1, nc, decode::FlowStart{{}, 7, tuple(9009), true}, out);
    REQUIRE(out.size() == 1);
    const auto& connect = std::get<ConnectEvent>(out[0]);
    CHECK(connect.destination_domain == "abc.ngrok-free.app");
    CHECK(asked == std::vector<std::uint32_t>{4242});

    decode::FlowCounters end;
    end.cookie = 7;
    end.tuple = tuple(9009);
    end.bytes_out = 411;
    end.final = true;
    flows.on_counters(2, nc, end, out);
    REQUIRE(out.size() == 2);
    const auto& summary = std::get<FlowSummaryEvent>(out[1]);
    CHECK(summary.destination_domain == "abc.ngrok-free.app");
    CHECK(summary.domain_source == "hosts");
    CHECK(asked.size() == 1);  // named once, at connect
}

TEST_CASE("flow table: a process gone before its hosts file was read is named by its command line")
{
    std::vector<Event> out;
    FlowTable gone(16, [](std::uint32_t) { return std::string(); });
    gone.on_start(1, process_with({"ncat", "paste.rs", "9009"}), decode::FlowStart{{}, 8, tuple(9009), true}, out);
    CHECK(std::get<ConnectEvent>(out.back()).destination_domain == "paste.rs");
    decode::FlowCounters end;
    end.cookie = 8;
    end.tuple = tuple(9009);
    end.final = true;
    gone.on_counters(2, process_with({"ncat", "paste.rs", "9009"}), end, out);
    CHECK(std::get<FlowSummaryEvent>(out.back()).domain_source == "argv");

    // Another port than the command line's, and a hosts file for another address: unnamed.
    FlowTable other(16, [](std::uint32_t) { return std::string("10.0.0.9 paste.rs\n"); });
    other.on_start(1, process_with({"ncat", "paste.rs", "9010"}), decode::FlowStart{{}, 9, tuple(9009), true}, out);
    CHECK(std::get<ConnectEvent>(out.back()).destination_domain.empty());
}
