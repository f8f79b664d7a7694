// enrich: who holds a socket, from the /proc/<pid>/fd links "socket:[inode]". Needed for sockets
// older than the monitor, which no process claimed at connect/sendmsg: one scan of every fd
// table fills a cache of inode -> pid. `run` scans once at start-up, when every such socket
// exists, so one closed before its first records are read still has its owner; later misses
// rescan, rate-limited, each stopping after a bounded number of fds. Scans add to the cache,
// which is emptied when it outgrows that bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "events.hpp"
#include "util/counters.hpp"

namespace exfilwatch::enrich {

struct SocketOwnersStats {
    std::uint64_t scans = 0;
    std::uint64_t found = 0;
    std::uint64_t not_found = 0;
    std::uint64_t cached = 0;                // sockets in the cache after the last scan
    void report(util::Counters& out) const;  // as metric counters
};

class SocketOwners {
public:
    // `self_pid`'s own fds are skipped. At most `max_fds` fd links are read per scan, and a miss
    // rescans only when the last scan is older than `min_rescan_ns` (times are the caller's).
    explicit SocketOwners(std::string proc_root = "/proc", std::uint32_t self_pid = 0, std::size_t max_fds = 1u << 20,
                          TimeNs min_rescan_ns = 200'000'000ULL);

    // The pid of a process holding (or that held) the socket with this inode; 0 when none was found.
    std::uint32_t find(std::uint64_t inode, TimeNs now);
    // Scans now (start-up), whatever the rate limit.
    void scan(TimeNs now);

    SocketOwnersStats stats() const;

private:
    std::string proc_root_;
    std::uint32_t self_pid_;
    std::size_t max_fds_;
    TimeNs min_rescan_ns_;
    TimeNs last_scan_ = 0;
    bool scanned_ = false;
    std::unordered_map<std::uint64_t, std::uint32_t> owners_;
    SocketOwnersStats stats_;
};

// The inode of a /proc/<pid>/fd link target "socket:[N]", or 0 for any other target.
std::uint64_t parse_socket_link(std::string_view target);

}  // namespace exfilwatch::enrich
