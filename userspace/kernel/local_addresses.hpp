// kernel: the host's own addresses, as the BPF side knows them (the local_addresses map). A
// datagram a socket sends with sendto to one of them is routed through the loopback device and
// never leaves the host, as one to 127.0.0.1 does not; unlike a connected socket's, its route is
// not the socket's to read, so the kernel side looks the destination up here.
#pragma once

#include <ifaddrs.h>

#include <array>
#include <cstdint>
#include <vector>

namespace exfilwatch::kernel {

// An address in IPv6 form (an IPv4 one as ::ffff:a.b.c.d), in network order: the map's key.
using HostAddress = std::array<std::uint8_t, 16>;

// Every IPv4 and IPv6 address of `list` (getifaddrs's), sorted and without duplicates, at most
// `limit` of them (the lowest). Interfaces that are down keep their addresses: a datagram to one
// is still local.
std::vector<HostAddress> host_addresses(const ifaddrs* list, std::size_t limit);

}  // namespace exfilwatch::kernel
