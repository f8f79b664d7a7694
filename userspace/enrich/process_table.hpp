// enrich: the process table. Built from exec/fork/exit records and a /proc scan at start, it
// turns a pid at a moment into the ProcessRef every event carries (image, argv, ancestry,
// container). Bounded: exited processes linger briefly for late events, then are evicted.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "events.hpp"
#include "util/counters.hpp"

namespace exfilwatch::enrich {

// What the table needs from the live system; replaced in tests.
struct ProcSource {
    // Reads /proc/<pid> into a ProcessRef (pid, ppid, pgid, sid, uid, executable, args, tty,
    // start_time, container); nullopt when the process is gone or unreadable.
    std::function<std::optional<ProcessRef>(std::uint32_t pid)> read;
    // Container identity (id, pod uid; empty strings for a host process) of a process that was
    // alive a moment ago, via /proc/<pid>/cgroup; nullopt when the process is already gone.
    std::function<std::optional<std::pair<std::string, std::string>>(std::uint32_t pid)> container_of;
    // The host pid of the process that is `pid` in the pid namespace with inode number `pid_ns`;
    // nullopt when none is (gone, or no such namespace).
    std::function<std::optional<std::uint32_t>(std::uint64_t pid_ns, std::uint32_t pid)> host_pid;
};

struct ProcessTableStats {
    std::uint64_t live = 0;
    std::uint64_t exited = 0;
    std::uint64_t evicted = 0;               // exited entries dropped past the cap
    std::uint64_t unknown_lookups = 0;       // events of processes never seen (read from /proc)
    void report(util::Counters& out) const;  // as metric counters
};

class ProcessTable {
public:
    ProcessTable(std::string boot_id, ProcSource source, std::size_t max_exited = 16384,
                 TimeNs exited_linger_ns = 30'000'000'000ULL);

    // Builds the entity id: unique across pid reuse (and across boots by the boot id).
    std::string entity_id(std::uint32_t pid, std::uint64_t start_ns) const;

    // Inserts a process found by the start-up /proc scan.
    void add_existing(ProcessRef process);

    const ProcessRef& on_exec(TimeNs time, ProcessRef image);
    const ProcessRef& on_fork(TimeNs time, std::uint32_t pid, std::uint32_t ppid, std::uint32_t uid,
                              std::uint64_t start_ns, std::uint64_t cgroup_id, std::string_view comm);
    // Marks the process exited; returns its last view (for the exit record).
    ProcessRef on_exit(TimeNs time, std::uint32_t pid, std::uint64_t start_ns);

    // The process as known now; reads /proc for a pid never seen, else a minimal stand-in.
    const ProcessRef& lookup(std::uint32_t pid);
    bool contains(std::uint32_t pid) const { return processes_.contains(pid); }
    // The host pid of `pid` as the pid namespace `pid_ns` numbers it (0: the host's own).
    std::optional<std::uint32_t> host_pid(std::uint64_t pid_ns, std::uint32_t pid) const
    {
        if (!pid_ns) return pid;
        return source_.host_pid ? source_.host_pid(pid_ns, pid) : std::nullopt;
    }

    // Drops exited entries older than the linger time, and the oldest past the cap.
    void expire(TimeNs now);

    ProcessTableStats stats() const;

private:
    struct Entry {
        ProcessRef ref;
        bool exited = false;
        TimeNs exit_time = 0;
    };
    void fill_container(ProcessRef& ref, std::uint32_t pid);

    std::string boot_id_;
    ProcSource source_;
    std::size_t max_exited_;
    TimeNs exited_linger_ns_;
    std::unordered_map<std::uint32_t, Entry> processes_;
    std::deque<std::pair<std::uint32_t, std::string>> exit_order_;  // (pid, entity id)
    std::unordered_map<std::uint64_t, std::pair<std::string, std::string>> container_by_cgroup_;
    std::uint64_t evicted_ = 0;
    std::uint64_t unknown_lookups_ = 0;
    std::uint64_t exited_count_ = 0;
};

// Reads one /proc/<pid> into a ProcessRef (no entity id): the live ProcSource::read.
std::optional<ProcessRef> read_proc_process(std::string_view proc_root, std::uint32_t pid);

// Container id and pod uid from /proc/<pid>/cgroup (empty for a host process), nullopt when the
// process is gone: the live ProcSource::container_of.
std::optional<std::pair<std::string, std::string>> read_proc_container(std::string_view proc_root, std::uint32_t pid);

// The live ProcSource::host_pid: the /proc/<n> whose ns/pid is `pid_ns` and whose status NSpid
// ends with `pid` (a scan of /proc: for the rare event that names a process by a container's pid).
std::optional<std::uint32_t> read_proc_host_pid(std::string_view proc_root, std::uint64_t pid_ns, std::uint32_t pid);

}  // namespace exfilwatch::enrich
