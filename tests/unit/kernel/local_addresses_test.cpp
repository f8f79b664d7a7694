// Tests userspace/kernel/local_addresses.cpp: the host's addresses as the BPF side's map keys.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "kernel/local_addresses.hpp"

using namespace exfilwatch::kernel;

namespace {

// A getifaddrs list built by hand: each entry an interface's address (or none).
struct FakeList {
    std::deque<sockaddr_storage> addresses;
    std::deque<ifaddrs> entries;

    void add(const char* text)
    {
        auto& storage = addresses.emplace_back();
        std::memset(&storage, 0, sizeof(storage));
        if (std::string(text).find(':') == std::string::npos) {
            auto* in = reinterpret_cast<sockaddr_in*>(&storage);
            in->sin_family = AF_INET;
            REQUIRE(inet_pton(AF_INET, text, &in->sin_addr) == 1);
        } else {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
            in6->sin6_family = AF_INET6;
            REQUIRE(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1);
        }
        link(reinterpret_cast<sockaddr*>(&storage));
    }
    void link(sockaddr* address)
    {
        auto& e = entries.emplace_back();
        std::memset(&e, 0, sizeof(e));
        e.ifa_addr = address;
        if (entries.size() > 1) entries[entries.size() - 2].ifa_next = &e;
    }
    const ifaddrs* head() const { return entries.empty() ? nullptr : &entries.front(); }
};

std::string text(const HostAddress& a)
{
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, a.data(), buf, sizeof(buf));
    return buf;
}

}  // namespace

TEST_CASE("IPv4 addresses are keyed in their IPv6-mapped form, IPv6 ones as they are")
{
    FakeList list;
    list.add("192.0.2.2");
    list.add("fd00::5");
    list.add("127.0.0.1");
    auto got = host_addresses(list.head(), 16);
    REQUIRE(got.size() == 3);
    std::vector<std::string> names;
    for (const auto& a : got) names.push_back(text(a));
    CHECK(names == std::vector<std::string>{"::ffff:127.0.0.1", "::ffff:192.0.2.2", "fd00::5"});
}

TEST_CASE("entries without an IP address are passed over, duplicates kept once, the list bounded")
{
    FakeList list;
    list.link(nullptr);  // an interface with no address
    sockaddr packet{};
    packet.sa_family = AF_PACKET;
    list.link(&packet);
    list.add("172.17.0.1");
    list.add("172.17.0.1");  // on two interfaces
    list.add("10.0.0.9");
    list.add("10.0.0.3");
    CHECK(host_addresses(list.head(), 16).size() == 3);
    auto bounded = host_addresses(list.head(), 2);
    REQUIRE(bounded.size() == 2);
    CHECK(text(bounded[0]) == "::ffff:10.0.0.3");
    CHECK(text(bounded[1]) == "::ffff:10.0.0.9");
    CHECK(host_addresses(nullptr, 16).empty());
}
