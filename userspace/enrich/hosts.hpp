// enrich: naming a flow from the hosts file its process resolved with (pure). A client given a
// name that /etc/hosts maps (a private hosts file in a mount namespace, a container's hosts file)
// sends no DNS query; when it sends no SNI or Host either (nc, socat, a raw socket), the hosts
// file and its command line are what name the destination.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exfilwatch::enrich {

inline constexpr std::size_t hosts_file_max = std::size_t{64} * 1024;  // bytes of a hosts file considered

// The name `hosts_text` (an /etc/hosts file) gives `ip`: one that also appears in `args` (the
// process's argv) first, else the first name on the first line for `ip` that is not a loopback
// alias (localhost, ip6-localhost ...). Empty when the file does not name `ip`. IPv4 and IPv6 are
// compared as addresses (::1 equals 0:0:0:0:0:0:0:1); names come back lower-case.
std::string hosts_name(std::string_view hosts_text, std::string_view ip, const std::vector<std::string>& args);

// The host a command line aims at `port`, when its process is gone before its hosts file could be
// read: `nc HOST PORT`, `HOST:PORT` (socat's `TCP:HOST:PORT` too), `scheme://HOST[:PORT]` (80 and
// 443 by scheme), `user@HOST` with port 22. A host is a DNS name with a dot and an alphabetic
// top label; the first one whose port matches wins, lower-cased. Empty when none does.
std::string argv_name(const std::vector<std::string>& args, std::uint16_t port);

}  // namespace exfilwatch::enrich
