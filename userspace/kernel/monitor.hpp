// kernel: owns the BPF side. Checks privileges and BTF, opens the skeleton, configures it,
// loads, attaches every hook it can (reporting the rest as degraded), and drains the ring buffer
// into a batch of records. Also reads the kernel's counters and per-file read maps.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "hook_status.hpp"
#include "kernel/counters.hpp"
#include "kernel/local_addresses.hpp"
#include "kernel/ring_merge.hpp"
#include "kernel/tracefs_uprobe.hpp"
#include "records.h"

struct exfilwatch_bpf;
struct bpf_link;
struct bpf_program;
struct ring_buffer;

namespace exfilwatch::kernel {

struct MonitorOptions {
    bool verbose = false;
    std::uint32_t self_pid = 0;
    std::vector<std::string> ignore_prefixes;
    std::uint64_t flow_update_ns = 1'000'000'000ULL;
    std::uint32_t ring_buffer_bytes = 16u << 20;  // a power of two, at least a page
};

// A startup failure with the one line to show the user.
struct StartError {
    std::string message;
};

class Monitor {
public:
    // Loads and attaches; nullopt plus `error` when nothing useful can run.
    static std::unique_ptr<Monitor> start(const MonitorOptions& options, StartError& error);
    ~Monitor();
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;

    const std::vector<HookStatus>& hooks() const { return hooks_; }

    // True when the last poll left records for the next one: held back for the time order, or
    // unread in a ring it cut short. A final drain polls until this is false.
    bool pending() const { return merge_.held() > 0 || merge_.cut_short(); }
    // Records read from the rings and held back by the last poll (for the time order).
    std::size_t held_records() const { return merge_.held(); }
    // Bytes written by the kernel into the two rings and not read yet (record headers included).
    std::uint64_t unread_bytes() const;

    // Waits up to `timeout_ms` for a wakeup (not at all when the last poll left records unread),
    // then drains both ring buffers (decision records and captures) into `batch`, at most a
    // budget from each (RingMerge), merged in kernel time order. Returns the number of records,
    // or a negative errno.
    int poll(RecordBatch& batch, int timeout_ms);

    // Starts detaching every program and returns at once; the rings and maps stay readable, and
    // the destructor waits for the detach to end. Detaching a syscall tracepoint waits for RCU
    // grace periods under a kernel mutex (perf's tracepoint unregistration): about 40-80 ms a
    // link here, a second or more for all of them under load. So a stop starts it first, and
    // it runs while the last records are drained and decided. The links are destroyed
    // concurrently, one thread each (a few dozen), so that those that do not serialize in the
    // kernel (BTF tracepoints, uprobes, cgroup hooks) take one grace period together.
    void detach();

    // Per-CPU counters summed: records per kind, drops per (kind, reason), other statistics.
    KernelCounters counters() const;

    // True when reading the maps by fd fails with EPERM in the current credentials (asked after
    // dropping CAP_BPF from the effective set; kernels before 6.5 with unprivileged BPF disabled).
    bool map_reads_refused() const;

    // Per (process, file) read counters (the file_reads map); `take` deletes them.
    struct FileCounters {
        std::uint64_t bytes_read = 0;
        std::uint64_t bytes_mapped = 0;
        bool opened_for_write = false;
        std::uint64_t last_write_ns = 0;  // CLOCK_MONOTONIC; 0: none seen; ~0: a shared writable map
    };
    std::optional<FileCounters> file_counters(std::uint32_t pid, std::uint64_t device, std::uint64_t inode,
                                              bool take) const;
    // The (process, file) pairs whose counters moved since the last call (the file_changed
    // queue, emptied): one lookup each, however many pairs the map holds.
    struct FilePair {
        std::uint32_t pid = 0;
        std::uint64_t device = 0;
        std::uint64_t inode = 0;
    };
    std::vector<FilePair> moved_files() const;
    // Every pair of process `pid` in file_reads with its counters, deleted: one pass over the map
    // (BPF_MAP_LOOKUP_BATCH) and one BPF_MAP_DELETE_BATCH, for an exit with many pairs.
    std::vector<std::pair<FilePair, FileCounters>> take_process_files(std::uint32_t pid) const;
    // Cumulative bytes of a (process, object, direction) pair in the object_io map (kind and
    // direction: EW_OBJ_*, EW_IO_*); `take` deletes it.
    std::optional<std::uint64_t> object_bytes(std::uint32_t pid, std::uint8_t kind, std::uint8_t direction,
                                              std::uint64_t object_id, bool take) const;

    // Writes the host's own addresses (getifaddrs, now) into the local_addresses map, adding
    // those that came and deleting those that went since the last call: a datagram sent to one
    // with sendto is a loopback channel. Cheap when nothing changed (one netlink dump). Returns
    // how many the map holds, or a negative errno (the map keeps what it had).
    int refresh_local_addresses();

private:
    Monitor() = default;
    std::vector<std::uint64_t> sum_percpu(int map_fd, std::uint32_t entries) const;
    static int on_record(void* ctx, void* data, std::size_t size);
    void attach_tls_probes();
    bpf_link* attach_tracefs_uprobe(bpf_program* prog, const std::string& path, const char* function, bool retprobe,
                                    std::uint64_t cookie, std::string& reason);

    // libbpf's callback context for one ring.
    struct RingContext {
        Monitor* monitor = nullptr;
        std::size_t ring = 0;
    };

    exfilwatch_bpf* skel_ = nullptr;
    std::vector<bpf_link*> links_;
    std::vector<std::thread> detaching_;          // destroying links_ (detach())
    std::vector<TracefsUprobe> tracefs_uprobes_;  // removed once their links are gone
    // One ring_buffer per ring: libbpf 1.1's ring_buffer__consume stops at the first ring whose
    // callback returns a negative value, so a budget cut of the first would starve the second.
    std::array<ring_buffer*, ring_count> rings_{};
    std::array<RingContext, ring_count> ring_contexts_{};
    int epoll_fd_ = -1;  // both rings' epoll fds
    int cgroup_fd_ = -1;
    std::vector<HookStatus> hooks_;
    RingMerge merge_{RingMerge::Budget{}};
    int ncpus_ = 1;
    std::vector<HostAddress> local_addresses_;  // what the local_addresses map holds
};

}  // namespace exfilwatch::kernel
