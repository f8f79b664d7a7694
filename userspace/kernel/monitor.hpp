// kernel: owns the BPF side. Checks privileges and BTF, opens the skeleton, configures it,
// loads, attaches every hook it can (reporting the rest as degraded), and drains the ring buffer
// into a batch of records. Also reads the kernel's counters and per-file read maps.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hook_status.hpp"
#include "kernel/counters.hpp"
#include "records.h"

struct exfilwatch_bpf;
struct bpf_link;
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

// The records drained from the ring buffer, packed back to back.
struct RecordBatch {
    std::vector<std::byte> bytes;
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // (offset, size)
    void clear()
    {
        bytes.clear();
        spans.clear();
    }
};

class Monitor {
public:
    // Loads and attaches; nullopt plus `error` when nothing useful can run.
    static std::unique_ptr<Monitor> start(const MonitorOptions& options, StartError& error);
    ~Monitor();
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;

    const std::vector<HookStatus>& hooks() const { return hooks_; }

    // True when the last poll held records back for the next one (stamped after its cut-off):
    // a final drain polls until this is false.
    bool holding() const { return !held_.spans.empty(); }

    // Waits up to `timeout_ms` for a wakeup, then drains both ring buffers (decision records and
    // captures) into `batch`, merged in kernel time order. Returns the number of records, or a
    // negative errno.
    int poll(RecordBatch& batch, int timeout_ms);

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
    // Cumulative bytes of a (process, object, direction) pair in the object_io map (kind and
    // direction: EW_OBJ_*, EW_IO_*); `take` deletes it.
    std::optional<std::uint64_t> object_bytes(std::uint32_t pid, std::uint8_t kind, std::uint8_t direction,
                                              std::uint64_t object_id, bool take) const;

private:
    Monitor() = default;
    std::vector<std::uint64_t> sum_percpu(int map_fd, std::uint32_t entries) const;
    static int on_record(void* ctx, void* data, std::size_t size);

    exfilwatch_bpf* skel_ = nullptr;
    std::vector<bpf_link*> links_;
    ring_buffer* ring_ = nullptr;
    int cgroup_fd_ = -1;
    std::vector<HookStatus> hooks_;
    RecordBatch* filling_ = nullptr;
    RecordBatch held_;  // records stamped after the last drain's cut-off, for the next poll
    int ncpus_ = 1;
};

}  // namespace exfilwatch::kernel
