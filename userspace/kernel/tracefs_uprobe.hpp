// kernel: uprobes created through tracefs (uprobe_events) rather than the uprobe PMU. Since
// Linux 6.16 (ba677dbe77af, "perf: Revert to requiring CAP_SYS_ADMIN for uprobes", also in the
// stable trees) perf_uprobe_event_init() refuses the PMU to anyone without CAP_SYS_ADMIN, so
// CAP_PERFMON alone gets EACCES. A probe defined in tracefs is gated by tracefs itself (root's
// write access to uprobe_events) and is then opened as an ordinary tracepoint, which CAP_PERFMON
// allows; libbpf 1.1 takes that path only on kernels without the PMU, so it is done here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace exfilwatch::kernel {

// The file offset of a defined function symbol (STT_FUNC; an IFUNC's is its resolver) of a 64-bit
// little-endian ELF file, looked up in .symtab then .dynsym and mapped through the PT_LOAD
// segment that holds it: what a uprobe is placed at. nullopt when the file is not such an ELF
// file, or has no such symbol.
std::optional<std::uint64_t> elf_function_offset(const std::string& path, std::string_view function);

// A uprobe (or uretprobe) event in tracefs's `exfilwatch` group, removed again when destroyed.
class TracefsUprobe {
public:
    // Defines exfilwatch/<name> at path:offset in <tracefs>/uprobe_events and reads its id.
    // On failure `error` says why (errno's text and what failed).
    static std::optional<TracefsUprobe> create(const std::string& tracefs, const std::string& name,
                                               const std::string& path, std::uint64_t offset, bool retprobe,
                                               std::string& error);
    TracefsUprobe(TracefsUprobe&& other) noexcept;
    TracefsUprobe& operator=(TracefsUprobe&&) = delete;
    TracefsUprobe(const TracefsUprobe&) = delete;
    TracefsUprobe& operator=(const TracefsUprobe&) = delete;
    ~TracefsUprobe();  // the event can only go once no perf event holds it open

    std::uint64_t id() const { return id_; }  // the tracepoint id for perf_event_open
    const std::string& name() const { return name_; }

private:
    TracefsUprobe(std::string tracefs, std::string name, std::uint64_t id)
        : tracefs_(std::move(tracefs)), name_(std::move(name)), id_(id)
    {
    }
    std::string tracefs_;
    std::string name_;  // empty once moved from
    std::uint64_t id_ = 0;
};

// Removes the exfilwatch/ew_<pid>_N definitions in <tracefs>/uprobe_events of monitors that are
// gone (killed before they could remove their own): their pid runs no more. One still open by a
// live monitor's perf event could not go anyway (the kernel refuses: EBUSY). Returns how many.
std::size_t remove_stale_uprobes(const std::string& tracefs);

// perf_event_open of tracepoint `id` on every process (pid -1, cpu 0, as libbpf opens probes):
// an fd, or -errno.
int open_tracepoint_event(std::uint64_t id);

}  // namespace exfilwatch::kernel
