// kernel: owns the BPF side. Checks privileges and BTF, opens the skeleton, configures it,
// loads, attaches every hook it can (reporting the rest as degraded), and drains the ring buffer
// into a batch of records. Also reads the kernel's counters and per-file read maps.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "enrich/file_tracker.hpp"
#include "hook_status.hpp"
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

    // Waits up to `timeout_ms` for a wakeup, then drains everything pending into `batch`.
    // Returns the number of records, or a negative errno.
    int poll(RecordBatch& batch, int timeout_ms);

    // Per-CPU counters summed: drops by reason and program statistics.
    std::vector<std::uint64_t> drops() const;
    std::vector<std::uint64_t> counters() const;

    // True when reading the maps by fd fails with EPERM in the current credentials (asked after
    // dropping CAP_BPF from the effective set; kernels before 6.5 with unprivileged BPF disabled).
    bool map_reads_refused() const;

    // Per (process, file) read counters; `take` deletes them.
    std::optional<enrich::FileCounters> file_counters(const enrich::FileKey& key, bool take) const;

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
    int ncpus_ = 1;
};

}  // namespace exfilwatch::kernel
