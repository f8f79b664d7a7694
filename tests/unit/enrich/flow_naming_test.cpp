// Tests enrich/flow_table.cpp: how a flow is named when its client sent no SNI, Host or DNS query
// (the hosts file, then the command line).
#include <doctest/doctest.h>

#include "enrich/flow_table.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;

namespace {

decode::Tuple loopback_tuple(std::uint16_t dport)
{
    decode::Tuple t;
    t.family = EW_AF_INET;
    t.protocol = EW_PROTO_TCP;
    t.saddr = {127, 0, 0, 1};
    t.daddr = {127, 0, 0, 1};
    t.sport = 40000;
    t.dport = dport;
    return t;
}

ProcessRef owner(std::vector<std::string> args)
{
    ProcessRef p;
    p.pid = 4242;
    p.entity_id = "e4242";
    p.name = args.front();
    p.args = std::move(args);
    return p;
}

const std::string hosts_text = "127.0.0.1 localhost\n127.0.0.1 paste.rs abc.ngrok-free.app\n";

}  // namespace

TEST_CASE("flow table: a raw stream is named by the hosts file name on its command line")
{
    std::vector<std::uint32_t> asked;
    FlowTable flows(16, [&](std::uint32_t pid) {
        asked.push_back(pid);
        return hosts_text;
    });
    std::vector<Event> out;
    auto nc = owner({"ncat", "--send-only", "abc.ngrok-free.app", "9009"});
    flows.on_start(1, nc, decode::FlowStart{{}, 7, loopback_tuple(9009), true}, out);
    REQUIRE(out.size() == 1);
    const auto& connect = std::get<ConnectEvent>(out[0]);
    CHECK(connect.destination_domain == "abc.ngrok-free.app");
    CHECK(asked == std::vector<std::uint32_t>{4242});

    decode::FlowCounters end;
    end.cookie = 7;
    end.tuple = loopback_tuple(9009);
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
    gone.on_start(1, owner({"ncat", "paste.rs", "9009"}), decode::FlowStart{{}, 8, loopback_tuple(9009), true}, out);
    CHECK(std::get<ConnectEvent>(out.back()).destination_domain == "paste.rs");
    decode::FlowCounters end;
    end.cookie = 8;
    end.tuple = loopback_tuple(9009);
    end.final = true;
    gone.on_counters(2, owner({"ncat", "paste.rs", "9009"}), end, out);
    CHECK(std::get<FlowSummaryEvent>(out.back()).domain_source == "argv");

    // Another port than the command line's, and a hosts file for another address: unnamed.
    FlowTable other(16, [](std::uint32_t) { return std::string("10.0.0.9 paste.rs\n"); });
    other.on_start(1, owner({"ncat", "paste.rs", "9010"}), decode::FlowStart{{}, 9, loopback_tuple(9009), true}, out);
    CHECK(std::get<ConnectEvent>(out.back()).destination_domain.empty());
}
