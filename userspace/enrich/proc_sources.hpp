// enrich: the live /proc adapters behind the pure tables: the start-up scan of running
// processes, an open fd's path, and the hosts file a process resolves names with. The tables
// take these as callbacks, so tests give them fakes (or a fake /proc root).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "enrich/process_table.hpp"

namespace exfilwatch::enrich {

// The first 8 hex digits of the boot id (<proc_root>/sys/kernel/random/boot_id without dashes):
// the prefix of every entity id, so ids never repeat across reboots. "" when unreadable.
std::string read_boot_id(std::string_view proc_root);

// Adds every process already running under `proc_root` (except `self`) to `table`, so a process
// older than the monitor keeps its command line and ancestry; returns how many. Processes that
// vanish mid-scan are skipped. `/proc` counts start times from boot: `monotonic_to_wall_ns` is
// added to each.
std::size_t scan_proc(ProcessTable& table, std::string_view proc_root, std::uint32_t self,
                      std::int64_t monotonic_to_wall_ns);

// The path an open fd of a live process points to (readlink <proc_root>/<pid>/fd/<fd>); empty
// when the process or the fd is gone.
std::string fd_path(std::string_view proc_root, std::uint32_t pid, std::int32_t fd);

// The parent of `pid` under `proc_root` (the PPid line of its status), 0 when it is gone.
std::uint32_t parent_pid(std::string_view proc_root, std::uint32_t pid);

// The roots the host's files are seen through, nearest the host first: pid 1's
// (<proc_root>/1/root), the roots of `self`'s ancestors (a container's runtime shim lives in the
// host's mount namespace), and last "" (the monitor's own view). A monitor in a container with
// the host's PID namespace (the DaemonSet) reaches the host's files through the first that the
// kernel lets it open: pid 1's root needs ptrace access, which some hosts refuse even to root.
std::vector<std::string> host_roots(std::string_view proc_root, std::uint32_t self);

// A regular file some process held open when the monitor started: (device in the kernel's
// encoding, inode) and the path its fd names.
struct OpenFile {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::string path;
    std::uint32_t pid = 0;  // a process that holds it open
};

// Calls `found` for every regular file open in a process under `proc_root` (except `self`),
// reading at most `max_fds` fd links; returns how many were found. A process that opened a file
// before the start and reads it after may exit before its first read is handled: its name then
// comes from here, not from its gone fd table.
std::size_t scan_open_files(std::string_view proc_root, std::uint32_t self, std::size_t max_fds,
                            const std::function<void(const OpenFile&)>& found);

// The hosts file a process resolves names with: /etc/hosts under its root, so a container's own
// file or one bind-mounted in its mount namespace. Read once per mount namespace and refresh
// period; at most `max_namespaces` are kept (the cache starts over past it). A process's
// namespace is looked up once per refresh period too (a /proc readlink per connection cost more
// than the rest of a connection's enrichment), remembered by pid and start time so a reused pid
// is looked up afresh; at most `max_processes` are remembered.
class HostsFiles {
public:
    using Clock = std::function<std::uint64_t()>;  // nanoseconds, monotonic
    explicit HostsFiles(std::string proc_root = "/proc", Clock clock = {}, std::uint64_t refresh_ns = 60'000'000'000ULL,
                        std::size_t max_namespaces = 4096, std::size_t max_processes = 65536);

    // The text of `pid`'s hosts file (at most hosts_file_max bytes), "" when unknown. A
    // `start_time` of 0 (unknown) asks /proc every time.
    std::string operator()(std::uint32_t pid, std::uint64_t start_time = 0);
    std::size_t cached() const { return cache_.size(); }
    std::size_t namespace_lookups() const { return namespace_lookups_; }
    std::size_t cached_bytes() const;  // the cached names and texts, as allocated

private:
    struct Entry {
        std::string text;
        std::uint64_t read_at = 0;
    };
    std::string proc_root_;
    Clock clock_;
    std::uint64_t refresh_ns_;
    std::string text_of(const std::string& ns, std::uint32_t pid, std::uint64_t now);
    struct Known {
        std::uint64_t start_time = 0;
        std::string ns;
        std::uint64_t looked_up_at = 0;
    };
    std::size_t max_namespaces_;
    std::size_t max_processes_;
    std::unordered_map<std::string, Entry> cache_;
    std::unordered_map<std::uint32_t, Known> namespace_of_;
    std::size_t namespace_lookups_ = 0;
};

}  // namespace exfilwatch::enrich
