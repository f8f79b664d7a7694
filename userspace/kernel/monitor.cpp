// kernel: loading, attaching and draining the BPF side (see monitor.hpp).
#include "kernel/monitor.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "enrich/proc_sources.hpp"
#include "exfilwatch_bpf.skel.h"
#include "kernel/capabilities.hpp"
#include "kernel/tracefs_uprobe.hpp"
#include "util/clock.hpp"
#include "util/kernel_version.hpp"

namespace exfilwatch::kernel {
using namespace exfilwatch::wire;
namespace {

constexpr const char* tracefs = "/sys/kernel/tracing";

bool g_verbose = false;

int print_libbpf(enum libbpf_print_level level, const char* format, va_list args)
{
    if (!g_verbose && level != LIBBPF_WARN) return 0;
    if (!g_verbose) return 0;  // warnings too: our own one-line errors say what matters
    return vfprintf(stderr, format, args);
}

std::uint64_t clock_gettime_salt()
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_nsec) * 0x9e3779b97f4a7c15ull ^ static_cast<std::uint64_t>(::getpid());
}

bool exists(const std::string& path)
{
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

// Mounts tracefs where syscall tracepoints need it; true when it is usable.
bool ensure_tracefs(std::string& reason)
{
    if (exists(fmt::format("{}/events", tracefs))) return true;
    if (::mount("tracefs", tracefs, "tracefs", 0, nullptr) == 0) return true;
    if (exists("/sys/kernel/debug/tracing/events")) return true;
    reason = fmt::format("tracefs not mounted at {} and mounting it failed: {} "
                         "(mount -t tracefs tracefs {})",
                         tracefs, std::strerror(errno), tracefs);
    return false;
}

// The cgroup v2 root: where the network hooks attach so that they see every process.
std::string find_cgroup2_root()
{
    std::ifstream mounts("/proc/self/mounts");
    std::string device, dir, type, rest;
    while (mounts >> device >> dir >> type && std::getline(mounts, rest)) {
        if (type == "cgroup2") return dir;
    }
    return {};
}

// The minimum kernel, probed before anything is opened: the release (6.2), and the kfunc the
// programs call, bpf_rdonly_cast, in the kernel's BTF (a distribution kernel may number itself
// differently from what it carries). Empty when this kernel can load us, else the one line.
std::string kernel_too_old(const btf* vmlinux)
{
    const auto& min = util::minimum_kernel;
    const std::string needs =
        fmt::format("exfilwatch needs Linux {}.{} or later (bpf_rdonly_cast {}.{}, bpf_loop 5.17)", min.major,
                    min.minor, min.major, min.minor);
    struct utsname uts {};
    if (::uname(&uts) == 0) {
        auto version = util::parse_kernel_release(uts.release);
        if (version && *version < min) return fmt::format("kernel {} is too old: {}", uts.release, needs);
    }
    if (!vmlinux) return {};  // the BTF check that follows says what is missing
    if (btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) <= 0)
        return fmt::format("kernel {} has no bpf_rdonly_cast kfunc: {}", uts.release, needs);
    return {};
}

std::string_view section_of(const bpf_program* prog)
{
    return bpf_program__section_name(prog);
}

// Why the syscall tracepoint `event` (sys_exit_openat) cannot be had here, or empty when it can.
std::string syscall_tracepoint_missing(std::string_view event, bool have_tracefs, const std::string& tracefs_reason)
{
    if (!have_tracefs) return tracefs_reason;
    if (!exists(fmt::format("{}/events/syscalls/{}", tracefs, event)) &&
        !exists(fmt::format("/sys/kernel/debug/tracing/events/syscalls/{}", event)))
        return "no such syscall tracepoint on this kernel";
    return {};
}

// Syscall tracepoints that on_open_path_exit (bpf/file.bpf.c) serves besides its own section,
// sys_exit_openat: one program for the four path opens, so the verifier walks its body once.
constexpr std::array<std::string_view, 3> open_path_extra_events{"sys_exit_openat2", "sys_exit_open", "sys_exit_creat"};

}  // namespace

std::unique_ptr<Monitor> Monitor::start(const MonitorOptions& options, StartError& error)
{
    g_verbose = options.verbose;
    libbpf_set_print(print_libbpf);

    if (auto missing = missing_capabilities(); !missing.empty()) {
        error.message = fmt::format("not enough privilege to load BPF: missing {} (run as root, or grant "
                                    "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN; see README, Privileges)",
                                    missing);
        return nullptr;
    }
    if (!exists("/sys/kernel/btf/vmlinux")) {
        error.message = "kernel BTF not found at /sys/kernel/btf/vmlinux: exfilwatch needs a kernel "
                        "built with CONFIG_DEBUG_INFO_BTF=y";
        return nullptr;
    }
    // The kernel's BTF, parsed once for the version probe and the hook decisions, and freed before
    // the load: libbpf parses its own copy for CO-RE, and holding both (about 6 MiB each on 6.18)
    // while the programs load and the rings are mapped was the monitor's start-up peak.
    std::unique_ptr<btf, decltype(&btf__free)> kernel_btf(btf__load_vmlinux_btf(), &btf__free);
    if (auto old = kernel_too_old(kernel_btf.get()); !old.empty()) {
        error.message = old;
        return nullptr;
    }

    std::unique_ptr<Monitor> monitor(new Monitor());
    monitor->ncpus_ = libbpf_num_possible_cpus();
    auto* skel = exfilwatch_bpf__open();
    if (!skel) {
        error.message = fmt::format("cannot open the BPF object: {}", std::strerror(errno));
        return nullptr;
    }
    monitor->skel_ = skel;

    for (bpf_map* ring : {skel->maps.events, skel->maps.captures}) {
        if (int err = bpf_map__set_max_entries(ring, options.ring_buffer_bytes)) {
            error.message = fmt::format("cannot size the ring buffers to {} bytes: {}", options.ring_buffer_bytes,
                                        std::strerror(-err));
            return nullptr;
        }
    }
    skel->rodata->cfg_self_tgid = options.self_pid;
    skel->rodata->cfg_flow_update_ns = options.flow_update_ns;
    // Object ids built from kernel addresses are hashed with a secret of this run.
    std::uint64_t salt = 0;
    if (::getrandom(&salt, sizeof(salt), 0) != sizeof(salt)) salt = clock_gettime_salt();
    skel->rodata->cfg_object_salt = salt;
    std::size_t slot = 0;
    for (const auto& prefix : options.ignore_prefixes) {
        if (slot >= std::size(skel->rodata->cfg_ignore_prefixes)) break;
        auto& dst = skel->rodata->cfg_ignore_prefixes[slot++];
        std::strncpy(dst, prefix.c_str(), sizeof(dst) - 1);
    }

    // Decide before load which hooks this kernel can have; a missing one degrades, not fails.
    std::string tracefs_reason;
    bool have_tracefs = ensure_tracefs(tracefs_reason);
    std::string cgroup_root = find_cgroup2_root();
    // A BTF tracepoint exists when the kernel's BTF has its btf_trace_<name> typedef (io_uring's
    // are absent on kernels built without io_uring).
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel->obj)
    {
        std::string_view section = section_of(prog);
        HookStatus status{std::string(section), false, {}};
        if (section.starts_with("tp/syscalls/")) {
            auto event = section.substr(std::string_view("tp/syscalls/").size());
            status.reason = syscall_tracepoint_missing(event, have_tracefs, tracefs_reason);
        } else if (section.starts_with("tp_btf/")) {
            auto event = section.substr(std::string_view("tp_btf/").size());
            if (kernel_btf && btf__find_by_name_kind(kernel_btf.get(), fmt::format("btf_trace_{}", event).c_str(),
                                                     BTF_KIND_TYPEDEF) < 0)
                status.reason = "no such BTF tracepoint on this kernel";
        } else if (section.starts_with("cgroup") && cgroup_root.empty()) {
            status.reason = "no cgroup v2 hierarchy mounted";
        }
        if (!status.reason.empty()) bpf_program__set_autoload(prog, false);
        monitor->hooks_.push_back(std::move(status));
    }

    kernel_btf.reset();
    if (int err = exfilwatch_bpf__load(skel)) {
        error.message = fmt::format("the kernel refused the BPF programs: {} (run with --verbose for the "
                                    "verifier log)",
                                    std::strerror(-err));
        if (-err == EPERM) error.message += "; EPERM usually means missing CAP_BPF/CAP_SYS_ADMIN or kernel lockdown";
        return nullptr;
    }

    // Known before the first datagram is seen; the run loop keeps it current.
    if (int n = monitor->refresh_local_addresses(); n < 0 && options.verbose)
        fmt::print(stderr, "exfilwatch: the host's addresses are not known: {}\n", std::strerror(-n));
    if (!cgroup_root.empty()) monitor->cgroup_fd_ = ::open(cgroup_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    std::size_t index = 0;
    bpf_object__for_each_program(prog, skel->obj)
    {
        auto& status = monitor->hooks_[index++];
        if (!status.reason.empty()) continue;
        bpf_link* link = nullptr;
        if (section_of(prog) == "uprobe" || section_of(prog) == "uretprobe") continue;  // attach_tls_probes
        if (section_of(prog).starts_with("cgroup")) link = bpf_program__attach_cgroup(prog, monitor->cgroup_fd_);
        else
            link = bpf_program__attach(prog);
        if (!link) {
            status.reason = fmt::format("attach failed: {}", std::strerror(errno));
            continue;
        }
        status.attached = true;
        monitor->links_.push_back(link);
    }

    // The shared open program's other tracepoints, each its own hook, listed after its section's.
    bpf_program* open_path = skel->progs.on_open_path_exit;
    auto owner = std::find_if(monitor->hooks_.begin(), monitor->hooks_.end(),
                              [&](const HookStatus& h) { return h.name == section_of(open_path); });
    std::vector<HookStatus> extra_hooks;
    for (auto event : open_path_extra_events) {
        HookStatus status{fmt::format("tp/syscalls/{}", event), false,
                          syscall_tracepoint_missing(event, have_tracefs, tracefs_reason)};
        if (status.reason.empty() && owner != monitor->hooks_.end() && !owner->attached)
            status.reason = fmt::format("its program on_open_path_exit is not attached: {}", owner->reason);
        if (status.reason.empty()) {
            bpf_link* link = bpf_program__attach_tracepoint(open_path, "syscalls", std::string(event).c_str());
            if (link) {
                status.attached = true;
                monitor->links_.push_back(link);
            } else {
                status.reason = fmt::format("attach failed: {}", std::strerror(errno));
            }
        }
        extra_hooks.push_back(std::move(status));
    }
    if (owner != monitor->hooks_.end()) ++owner;
    monitor->hooks_.insert(owner, extra_hooks.begin(), extra_hooks.end());

    std::erase_if(monitor->hooks_, [](const HookStatus& h) { return h.name == "uprobe" || h.name == "uretprobe"; });
    monitor->attach_tls_probes();

    // Decision records and captures, each with a ring_buffer of its own, waited on together.
    monitor->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    const std::array<bpf_map*, ring_count> ring_maps{skel->maps.events, skel->maps.captures};
    for (std::size_t ring = 0; ring < ring_count; ++ring) {
        monitor->ring_contexts_[ring] = RingContext{monitor.get(), ring};
        monitor->rings_[ring] = ring_buffer__new(bpf_map__fd(ring_maps[ring]), &Monitor::on_record,
                                                 &monitor->ring_contexts_[ring], nullptr);
        epoll_event wake{};
        wake.events = EPOLLIN;
        if (!monitor->rings_[ring] || monitor->epoll_fd_ < 0 ||
            ::epoll_ctl(monitor->epoll_fd_, EPOLL_CTL_ADD, ring_buffer__epoll_fd(monitor->rings_[ring]), &wake) != 0) {
            error.message = fmt::format("cannot set up the ring buffers: {}", std::strerror(errno));
            return nullptr;
        }
    }
    bool any = false;
    for (const auto& hook : monitor->hooks_) any = any || hook.attached;
    if (!any) {
        error.message = "no BPF hook could be attached (run with --verbose for details)";
        return nullptr;
    }
    return monitor;
}

// What a sample callback returns to stop libbpf's consume of one ring once its budget is used up.
// libbpf 1.1 (ringbuf_process_ring) has already moved the consumer position past the sample
// when it calls back, and returns the negative value at once: the sample is ours (copied), and
// nothing after it is consumed.
constexpr int budget_used_up = -ENOSPC;

namespace {

// The host's copy of a shared library: the first of the usual directories that has it, seen
// through the host's roots (enrich::host_roots: pid 1's, else the monitor's ancestors', else its
// own). So a monitor in a container with the host's PID namespace (the DaemonSet) probes the
// host's library (pid 1's, or the container runtime's shim's) rather than its image's, which has
// none. A root out of reach (ptrace access: CAP_SYS_PTRACE) is passed over.
std::string find_library(const std::vector<std::string>& roots, std::string_view name)
{
    for (const auto& root : roots) {
        for (const char* dir :
             {"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib"}) {
            auto path = fmt::format("{}{}/{}", root, dir, name);
            if (exists(path)) return path;
        }
    }
    return {};
}

}  // namespace

// TLS plaintext: uprobes on the host's libssl.so.3 and libgnutls.so.30 (entry and return of each
// write call), the BPF cookie telling the programs which library and call it is. A process with
// its own copy of a library (a container image, a static build) is not seen: its writes are
// judged by volume, as before.
void Monitor::attach_tls_probes()
{
    struct Target {
        const char* library;
        const char* function;
        std::uint64_t cookie;  // library << 8 | call (net.bpf.c: EW_TLS_CALL_*)
    };
    static constexpr Target targets[] = {
        {"libssl.so.3", "SSL_write", EW_TLS_LIB_OPENSSL << 8 | 0},
        {"libssl.so.3", "SSL_write_ex", EW_TLS_LIB_OPENSSL << 8 | 1},
        {"libgnutls.so.30", "gnutls_record_send", EW_TLS_LIB_GNUTLS << 8 | 0},
    };
    const auto roots = enrich::host_roots("/proc", static_cast<std::uint32_t>(::getpid()));  // once for every library
    for (const auto& target : targets) {
        auto path = find_library(roots, target.library);
        for (bool ret : {false, true}) {
            HookStatus status{
                fmt::format("{}/{}:{}", ret ? "uretprobe" : "uprobe", target.library, target.function), false, {}};
            bpf_program* prog = ret ? skel_->progs.on_tls_write_ret : skel_->progs.on_tls_write;
            if (path.empty()) {
                status.reason = fmt::format("{} not found on this host", target.library);
            } else {
                LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = target.cookie, .retprobe = ret,
                            .func_name = target.function);
                bpf_link* link = bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), 0, &opts);
                // The uprobe PMU needs CAP_SYS_ADMIN since Linux 6.16 (tracefs_uprobe.hpp): under
                // CAP_PERFMON the probe is defined in tracefs instead.
                std::string reason = link ? std::string() : std::strerror(errno);
                if (!link && errno == EACCES)
                    link = attach_tracefs_uprobe(prog, path, target.function, ret, target.cookie, reason);
                if (link) {
                    status.attached = true;
                    links_.push_back(link);
                } else {
                    status.reason = fmt::format("attach failed: {}", reason);
                }
            }
            hooks_.push_back(std::move(status));
        }
    }
}

bpf_link* Monitor::attach_tracefs_uprobe(bpf_program* prog, const std::string& path, const char* function,
                                         bool retprobe, std::uint64_t cookie, std::string& reason)
{
    auto offset = elf_function_offset(path, function);
    if (!offset) {
        reason = fmt::format("no function {} in {}", function, path);
        return nullptr;
    }
    const char* debugfs_tracing = "/sys/kernel/debug/tracing";
    const char* root =
        !exists(fmt::format("{}/uprobe_events", tracefs)) && exists(fmt::format("{}/uprobe_events", debugfs_tracing))
            ? debugfs_tracing
            : tracefs;
    if (tracefs_uprobes_.empty()) remove_stale_uprobes(root);  // a killed monitor's, once per start
    auto name = fmt::format("ew_{}_{}", ::getpid(), tracefs_uprobes_.size());
    std::string error;
    auto probe = TracefsUprobe::create(root, name, path, *offset, retprobe, error);
    if (!probe) {
        reason = fmt::format("the uprobe PMU needs CAP_SYS_ADMIN on this kernel, and tracefs: {} "
                             "(mount {} read-write, or add CAP_SYS_ADMIN)",
                             error, root);
        return nullptr;
    }
    int fd = open_tracepoint_event(probe->id());
    if (fd < 0) {
        reason = fmt::format("perf_event_open of tracefs uprobe exfilwatch/{}: {}", name, std::strerror(-fd));
        return nullptr;
    }
    LIBBPF_OPTS(bpf_perf_event_opts, opts, .bpf_cookie = cookie);
    bpf_link* link = bpf_program__attach_perf_event_opts(prog, fd, &opts);  // owns fd from here
    if (!link) {
        reason = fmt::format("attach to tracefs uprobe exfilwatch/{}: {}", name, std::strerror(errno));
        ::close(fd);
        return nullptr;
    }
    tracefs_uprobes_.push_back(std::move(*probe));
    return link;
}

int Monitor::on_record(void* ctx, void* data, size_t size)
{
    // Only copies: decoding happens after the drain, outside libbpf's callback.
    auto* ring = static_cast<RingContext*>(ctx);
    bool more = ring->monitor->merge_.add(ring->ring, std::span(static_cast<const std::byte*>(data), size));
    return more ? 0 : budget_used_up;
}

Monitor::~Monitor()
{
    for (auto* ring : rings_)
        if (ring) ring_buffer__free(ring);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    detach();
    for (auto& thread : detaching_) thread.join();
    tracefs_uprobes_.clear();  // no perf event holds them now
    if (skel_) exfilwatch_bpf__destroy(skel_);
    if (cgroup_fd_ >= 0) ::close(cgroup_fd_);
}

int Monitor::poll(RecordBatch& batch, int timeout_ms)
{
    // Wakeups are rare by design (BPF_RB_NO_WAKEUP), so a timeout is the normal way in. Wait
    // without consuming (not at all when the last drain left records in a ring), note the time,
    // then drain both rings, each up to its budget.
    if (!merge_.cut_short()) {
        epoll_event ready{};
        int n = epoll_wait(epoll_fd_, &ready, 1, timeout_ms);
        if (n < 0 && errno != EINTR) return -errno;
    }
    const std::uint64_t cutoff = util::clock_ns(CLOCK_MONOTONIC);
    merge_.begin(batch);
    for (std::size_t ring = 0; ring < ring_count; ++ring) {
        if (!merge_.reading(ring)) continue;
        int err = ring_buffer__consume(rings_[ring]);
        if (err < 0 && err != budget_used_up && err != -EINTR) {
            merge_.finish(cutoff);
            return err;
        }
    }
    return static_cast<int>(merge_.finish(cutoff));
}

std::uint64_t Monitor::unread_bytes() const
{
    // A ring's consumer position is on its first page, the producer's on the second; both can be
    // mapped read-only by anyone holding the map fd.
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::uint64_t unread = 0;
    for (bpf_map* map : {skel_->maps.events, skel_->maps.captures}) {
        void* pages = ::mmap(nullptr, 2 * page, PROT_READ, MAP_SHARED, bpf_map__fd(map), 0);
        if (pages == MAP_FAILED) continue;
        const auto* consumer = static_cast<const volatile std::uint64_t*>(pages);
        const auto* producer = static_cast<const volatile std::uint64_t*>(
            static_cast<const void*>(static_cast<const std::byte*>(pages) + page));
        if (*producer > *consumer) unread += *producer - *consumer;
        ::munmap(pages, 2 * page);
    }
    return unread;
}

void Monitor::detach()
{
    detaching_.reserve(detaching_.size() + links_.size());
    for (auto* link : links_) {
        try {
            detaching_.emplace_back([link] { bpf_link__destroy(link); });
        } catch (const std::system_error&) {
            bpf_link__destroy(link);  // no thread to be had: one at a time, here
        }
    }
    links_.clear();
}

std::vector<std::uint64_t> Monitor::sum_percpu(int map_fd, std::uint32_t entries) const
{
    std::vector<std::uint64_t> totals(entries, 0);
    std::vector<std::uint64_t> values(static_cast<std::size_t>(ncpus_));
    for (std::uint32_t key = 0; key < entries; ++key) {
        if (bpf_map_lookup_elem(map_fd, &key, values.data()) != 0) continue;
        for (auto v : values) totals[key] += v;
    }
    return totals;
}

KernelCounters Monitor::counters() const
{
    KernelCounters out;
    auto copy = [this](int fd, auto& into) {
        auto sums = sum_percpu(fd, static_cast<std::uint32_t>(into.size()));
        std::copy(sums.begin(), sums.end(), into.begin());
    };
    copy(bpf_map__fd(skel_->maps.records), out.records);
    copy(bpf_map__fd(skel_->maps.drops), out.drops);
    copy(bpf_map__fd(skel_->maps.stats), out.stats);
    return out;
}

bool Monitor::map_reads_refused() const
{
    std::vector<std::uint64_t> values(static_cast<std::size_t>(ncpus_));
    std::uint32_t key = 0;
    return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.drops), &key, values.data()) != 0 && errno == EPERM;
}

std::optional<Monitor::FileCounters> Monitor::file_counters(std::uint32_t pid, std::uint64_t device,
                                                            std::uint64_t inode, bool take) const
{
    wire::ew_file_key raw{};
    raw.tgid = pid;
    raw.ino = inode;
    raw.dev = device;
    wire::ew_file_stats stats{};
    int fd = bpf_map__fd(skel_->maps.file_reads);
    int err = take ? bpf_map_lookup_and_delete_elem(fd, &raw, &stats) : bpf_map_lookup_elem(fd, &raw, &stats);
    if (err != 0) return std::nullopt;
    return FileCounters{stats.bytes_read, stats.bytes_mapped, stats.opened_for_write != 0, stats.last_write_ns};
}

std::vector<std::pair<Monitor::FilePair, Monitor::FileCounters>> Monitor::take_process_files(std::uint32_t pid) const
{
    std::vector<std::pair<FilePair, FileCounters>> out;
    const int fd = bpf_map__fd(skel_->maps.file_reads);
    constexpr std::uint32_t chunk = 4096;
    std::vector<wire::ew_file_key> keys(chunk), mine;
    std::vector<wire::ew_file_stats> values(chunk);
    std::uint64_t token = 0;
    bool first = true;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    for (;;) {
        std::uint32_t count = chunk;
        int err = bpf_map_lookup_batch(fd, first ? nullptr : &token, &token, keys.data(), values.data(), &count, &opts);
        first = false;
        if (err != 0 && errno != ENOENT) break;  // ENOENT: the last chunk
        for (std::uint32_t i = 0; i < count; ++i) {
            if (keys[i].tgid != pid) continue;
            mine.push_back(keys[i]);
            const auto& v = values[i];
            out.emplace_back(FilePair{pid, keys[i].dev, keys[i].ino},
                             FileCounters{v.bytes_read, v.bytes_mapped, v.opened_for_write != 0, v.last_write_ns});
        }
        if (err != 0) break;
    }
    if (!mine.empty()) {
        auto count = static_cast<std::uint32_t>(mine.size());
        bpf_map_delete_batch(fd, mine.data(), &count, &opts);
    }
    return out;
}

std::vector<Monitor::FilePair> Monitor::moved_files() const
{
    std::vector<FilePair> out;
    int fd = bpf_map__fd(skel_->maps.file_changed);
    wire::ew_file_key raw{};
    // A queue pops with a NULL key; bounded by its size, so pairs queued meanwhile wait a tick.
    for (std::uint32_t i = 0; i < bpf_map__max_entries(skel_->maps.file_changed); ++i) {
        if (bpf_map_lookup_and_delete_elem(fd, nullptr, &raw) != 0) break;
        out.push_back(FilePair{raw.tgid, raw.dev, raw.ino});
    }
    return out;
}

std::optional<std::uint64_t> Monitor::object_bytes(std::uint32_t pid, std::uint8_t kind, std::uint8_t direction,
                                                   std::uint64_t object_id, bool take) const
{
    wire::ew_object_key raw{};
    raw.object_id = object_id;
    raw.tgid = pid;
    raw.kind = kind;
    raw.direction = direction;
    wire::ew_object_stats stats{};
    int fd = bpf_map__fd(skel_->maps.object_io);
    int err = take ? bpf_map_lookup_and_delete_elem(fd, &raw, &stats) : bpf_map_lookup_elem(fd, &raw, &stats);
    if (err != 0) return std::nullopt;
    return stats.bytes;
}

int Monitor::refresh_local_addresses()
{
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return -errno;
    auto now = host_addresses(list, EW_LOCAL_ADDRESSES_MAX);
    ::freeifaddrs(list);
    if (now == local_addresses_) return static_cast<int>(now.size());
    const int fd = bpf_map__fd(skel_->maps.local_addresses);
    // Both lists are sorted: what went is deleted, what came is added.
    std::vector<HostAddress> gone, came;
    std::set_difference(local_addresses_.begin(), local_addresses_.end(), now.begin(), now.end(),
                        std::back_inserter(gone));
    std::set_difference(now.begin(), now.end(), local_addresses_.begin(), local_addresses_.end(),
                        std::back_inserter(came));
    for (const auto& a : gone) bpf_map_delete_elem(fd, a.data());
    const std::uint8_t one = 1;
    for (const auto& a : came)
        if (bpf_map_update_elem(fd, a.data(), &one, BPF_ANY) != 0) {
            int err = -errno;
            local_addresses_.clear();  // not known to hold what it has: all of it again next time
            return err;
        }
    local_addresses_ = std::move(now);
    return static_cast<int>(local_addresses_.size());
}

}  // namespace exfilwatch::kernel
