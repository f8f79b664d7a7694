#include "kernel/local_addresses.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace exfilwatch::kernel {

std::vector<HostAddress> host_addresses(const ifaddrs* list, std::size_t limit)
{
    std::vector<HostAddress> out;
    for (const ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr) continue;
        HostAddress a{};
        if (i->ifa_addr->sa_family == AF_INET) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
            a[10] = a[11] = 0xff;
            std::memcpy(a.data() + 12, &in->sin_addr, 4);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
        } else {
            continue;
        }
        out.push_back(a);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    if (out.size() > limit) out.resize(limit);
    return out;
}

}  // namespace exfilwatch::kernel
