// `exfilwatch run`: the live pipeline. Kernel -> decode -> enrich -> detect -> NDJSON, with the
// lifecycle of DESIGN.md: load and attach, then scan /proc, then say monitor-started; on stop,
// drain the ring buffer, flush summaries, print the final metrics and monitor-stopped.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/drain.hpp"
#include "commands/pipeline.hpp"
#include "decode/decoder.hpp"
#include "enrich/enricher.hpp"
#include "enrich/file_tracker.hpp"
#include "enrich/flow_table.hpp"
#include "enrich/proc_sources.hpp"
#include "enrich/process_table.hpp"
#include "enrich/socket_owners.hpp"
#include "kernel/capabilities.hpp"
#include "kernel/monitor.hpp"
#include "output/metrics_server.hpp"
#include "util/clock.hpp"
#include "util/files.hpp"

namespace exfilwatch::commands {
namespace {

// Records waiting between the drain thread and the decisions: what is beyond is dropped and counted.
constexpr std::size_t drain_queue_bytes = 256u << 20;
// Records decided per loop turn, and the backlog past which telemetry output is shed.
constexpr std::size_t records_per_turn = 8192;
constexpr std::size_t shed_telemetry_above = 65536;
// The stop: what is queued or still in the rings is decided for at most this long, in slices this
// big (the deadline is checked between them), so that a stop takes under a second under any load.
constexpr std::uint64_t final_drain_ns = 300'000'000ULL;
constexpr std::size_t final_drain_slice = 1024;

// The only mutable globals: set by signal handlers, read by the loop. Two flags, so that a
// SIGHUP arriving after a SIGTERM cannot turn the stop into a reload.
volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_reload_requested = 0;

void on_signal(int signal)
{
    if (signal == SIGHUP) g_reload_requested = 1;
    else
        g_stop_signal = signal;
}

void install_signal_handlers()
{
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGHUP, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a closed stdout is an EPIPE the sink handles, not a death
}

using util::clock_ns;

// What the run loop still needs once everything is attached: CAP_SYS_PTRACE names the executable
// and open files (/proc/<pid>/exe, fd/) of other users' processes; CAP_BPF only where the kernel
// refuses map reads without it. Everything else is given up for good.
std::vector<std::string> drop_to_run_capabilities(const kernel::Monitor& monitor)
{
    auto result = kernel::drop_capabilities(std::uint64_t{1} << kernel::cap_sys_ptrace,
                                            [&monitor] { return monitor.map_reads_refused(); });
    if (!result.error.empty()) throw std::runtime_error(fmt::format("cannot drop capabilities: {}", result.error));
    std::vector<std::string> names;
    auto text = kernel::capability_names(result.kept);
    for (std::size_t start = 0; start < text.size();) {
        auto comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        names.push_back(text.substr(start, comma - start));
        start = comma + 1;
    }
    return names;
}

}  // namespace

// NOLINTNEXTLINE(readability-function-cognitive-complexity): one pass over a grammar or a loop; split is debt (see the closing note of issue 16)
int run(const RunOptions& options)
{
    Pipeline pipeline(PipelineOptions{options.rules_file, options.events, options.min_score, options.output_file, true,
                                      options.state_dir});
    install_signal_handlers();
    // --listen: up before attach, so /readyz can say "not yet" while the programs load.
    std::unique_ptr<output::MetricsServer> server;
    if (!options.listen.empty()) {
        std::string listen_error;
        server = output::MetricsServer::start(options.listen, listen_error);
        if (!server) {
            fmt::print(stderr, "exfilwatch: {}\n", listen_error);
            return 2;
        }
    }

    const std::uint32_t self = static_cast<std::uint32_t>(getpid());
    kernel::MonitorOptions kernel_options;
    kernel_options.verbose = options.verbose;
    kernel_options.self_pid = self;
    kernel_options.ring_buffer_bytes = options.ring_buffer_bytes;
    // Opens that are counted but not reported: shared libraries, locale and font data, and
    // pseudo-files. Reads of these never make a file sensitive. Not all of /dev: /dev/shm is a
    // tmpfs where data is staged like in /tmp (12 slots: "/usr/lib" and "/lib" cover lib64 too).
    kernel_options.ignore_prefixes = {"/usr/lib",     "/lib",      "/usr/share/", "/usr/local/lib/",
                                      "/etc/ld.so.",  "/proc/",    "/sys/",       "/dev/null",
                                      "/dev/urandom", "/dev/zero", "/dev/pts/",   "/dev/tty"};
    kernel::StartError error;
    auto monitor = kernel::Monitor::start(kernel_options, error);
    if (!monitor) {
        fmt::print(stderr, "exfilwatch: {}\n", error.message);
        return 2;
    }

    const std::int64_t offset =
        static_cast<std::int64_t>(clock_ns(CLOCK_REALTIME)) - static_cast<std::int64_t>(clock_ns(CLOCK_MONOTONIC));
    enrich::ProcessTable processes(
        enrich::read_boot_id("/proc"),
        enrich::ProcSource{
            [](std::uint32_t pid) { return enrich::read_proc_process("/proc", pid); },
            [](std::uint32_t pid) { return enrich::read_proc_container("/proc", pid); },
            [](std::uint64_t pid_ns, std::uint32_t pid) { return enrich::read_proc_host_pid("/proc", pid_ns, pid); }});
    auto to_user = [offset](const kernel::Monitor::FileCounters& c) {
        TimeNs last_write = c.last_write_ns == ~std::uint64_t{0} ? enrich::write_untimed
                            : c.last_write_ns ? static_cast<TimeNs>(static_cast<std::int64_t>(c.last_write_ns) + offset)
                                              : 0;
        return enrich::FileCounters{c.bytes_read, c.bytes_mapped, c.opened_for_write, last_write};
    };
    enrich::FileTracker files(
        enrich::FileCounterSource{
            [&monitor, to_user](const enrich::FileKey& key, bool take) -> std::optional<enrich::FileCounters> {
                auto c = monitor->file_counters(key.pid, key.device, key.inode, take);
                if (!c) return std::nullopt;
                return to_user(*c);
            },
            [](std::uint32_t pid, std::int32_t fd) { return enrich::fd_path("/proc", pid, fd); },
            [&monitor] {
                std::vector<enrich::FileKey> moved;
                for (const auto& pair : monitor->moved_files()) moved.push_back({pair.pid, pair.inode, pair.device});
                return moved;
            },
            [&monitor, to_user](std::uint32_t pid) {
                std::vector<std::pair<enrich::FileKey, enrich::FileCounters>> taken;
                for (const auto& [pair, c] : monitor->take_process_files(pid))
                    taken.emplace_back(enrich::FileKey{pair.pid, pair.inode, pair.device}, to_user(c));
                return taken;
            }},
        enrich::FileTracker::default_max_pairs, kernel_options.flow_update_ns);
    enrich::HostsFiles hosts_files;
    enrich::FlowTable flows(
        65536, [&hosts_files](const ProcessRef& owner) { return hosts_files(owner.pid, owner.start_time); });
    enrich::SocketOwners sockets("/proc", self);
    enrich::ObjectTracker objects(enrich::ObjectCounterSource{[&monitor](const enrich::ObjectPairKey& key, bool take) {
        return monitor->object_bytes(key.pid, key.kind, key.direction, key.object_id, take);
    }});
    enrich::Enricher enricher(processes, files, flows, offset, &sockets, &objects);
    std::size_t scanned = enrich::scan_proc(processes, "/proc", self, offset);
    // Files already open: a first read through such an fd is named even if its reader is gone,
    // and a sensitive one's fingerprints are built now (the content reader is set first).
    pipeline.read_sensitive_content();
    enrich::scan_open_files("/proc", self, 131072, [&files, &pipeline](const enrich::OpenFile& f) {
        files.on_open_at_start(f.device, f.inode, f.path);
        pipeline.fingerprint_open_file(f.pid, f.path, enrich::user_device(f.device), f.inode);
    });
    sockets.scan(clock_ns(CLOCK_REALTIME));        // owners of the sockets older than the monitor
    pipeline.seed_sensitive_files("/etc/passwd");  // sensitive files known by inode from the start
    const auto capabilities = drop_to_run_capabilities(*monitor);
    // Started after the capabilities are dropped: a thread keeps the credentials it starts with.
    RecordDrain drain([&monitor](kernel::RecordBatch& b, int timeout_ms) { return monitor->poll(b, timeout_ms); },
                      drain_queue_bytes);
    drain.start();

    auto now = [] { return clock_ns(CLOCK_REALTIME); };
    pipeline.started(now(), monitor->hooks(), scanned, capabilities);

    std::uint64_t decode_errors = 0;
    // Userspace lag: how old a record is (since the kernel wrote it) when it is decoded; the
    // maximum is reported per metric record, then starts over.
    std::uint64_t records_read = 0;
    std::uint64_t lag_max_ns = 0;
    // What the stop's bounded final drain could not reach (0 until then).
    std::uint64_t stop_unprocessed_records = 0;
    std::uint64_t stop_unread_bytes = 0;
    // `for_record`: a metric record starts the lag maximum over; a /metrics snapshot does not.
    auto collect_metrics = [&](util::Counters& counters, bool for_record = true) {
        counters.emplace_back("decode.errors", decode_errors);
        counters.emplace_back("ringbuf.records_read", records_read);
        counters.emplace_back("ringbuf.lag_max_us", lag_max_ns / 1000);
        counters.emplace_back("ringbuf.stop_unprocessed_records", stop_unprocessed_records);
        counters.emplace_back("ringbuf.stop_unread_bytes", stop_unread_bytes);
        if (for_record) lag_max_ns = 0;
        kernel::append_metrics(monitor->counters(), counters);
        processes.stats().report(counters);
        files.stats().report(counters);
        auto ob = objects.stats();
        counters.emplace_back("objects.tracked_pairs", ob.tracked_pairs);
        counters.emplace_back("objects.evicted_pairs", ob.evicted_pairs);
        flows.stats().report(counters);
        sockets.stats().report(counters);
        drain.report(counters);
    };

    kernel::RecordBatch batch;
    std::vector<Event> events;
    // Decodes, enriches and decides records [from, to) of the batch, one at a time.
    auto decide = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
            auto [off, size] = batch.spans[i];
            auto decoded = decode::decode_record(std::span(batch.bytes).subspan(off, size));
            if (auto* error = std::get_if<decode::DecodeError>(&decoded)) {
                ++decode_errors;
                if (options.verbose) fmt::print(stderr, "exfilwatch: dropped a record: {}\n", error->reason);
                continue;
            }
            const auto& record = std::get<decode::Record>(decoded);
            std::uint64_t written = std::visit([](const auto& r) { return r.header.time_ns; }, record);
            std::uint64_t read = clock_ns(CLOCK_MONOTONIC);
            if (read > written) lag_max_ns = std::max(lag_max_ns, read - written);
            ++records_read;
            enricher.on_record(record, events);
            // Decided record by record (the pipeline never reads the enricher's tables): a turn's
            // events held until its end were 8192 process copies, megabytes of capacity kept for good.
            for (auto& event : events) pipeline.on_event(event);
            events.clear();
            if (auto plaintext = enricher.plaintext(record)) pipeline.on_plaintext(*plaintext);
        }
    };
    auto process_batch = [&] {
        decide(0, batch.spans.size());
        batch.clear();
    };

    // Periodic enrichment (summaries of long-running readers, table expiry) into the pipeline.
    auto tick = [&](std::uint64_t t) {
        enricher.tick(t, events);
        for (auto& event : events) pipeline.on_event(event);
        events.clear();
    };

    // The /metrics snapshot: the metric record's counters, from now on once a second.
    auto publish_metrics = [&] {
        std::vector<std::pair<std::string, std::uint64_t>> counters;
        collect_metrics(counters, false);
        pipeline.append_counters(counters);
        server->publish(std::move(counters));
    };
    if (server) {
        publish_metrics();
        server->set_ready(true);  // hooks attached, /proc scanned, monitor-started written
    }

    const std::uint64_t started = now();
    const std::uint64_t deadline =
        options.duration_s > 0 ? started + static_cast<std::uint64_t>(options.duration_s * 1e9) : 0;
    const std::uint64_t stats_every = static_cast<std::uint64_t>(options.stats_interval_s * 1e9);
    std::uint64_t next_stats = stats_every ? started + stats_every : 0;
    std::uint64_t next_tick = started + 1'000'000'000ULL;
    std::uint64_t ringbuf_drops_seen = 0;
    std::uint64_t datagram_drops_seen = 0;
    std::uint64_t vma_drops_seen = 0;
    std::uint64_t flows_evicted_seen = 0;
    std::uint64_t http2_evicted_seen = 0;
    // What a counter lost since the last tick goes to the engine, which says it as a blind spot.
    auto report_loss = [&pipeline](std::uint64_t t, std::string_view cause, std::uint64_t total, std::uint64_t& seen) {
        if (total > seen) pipeline.note_loss(t, cause, total - seen);
        seen = std::max(seen, total);
    };
    std::string stop_reason = "duration";
    int exit_code = 0;

    while (true) {
        if (g_stop_signal) {
            stop_reason = g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM";
            break;
        }
        if (g_reload_requested) {
            g_reload_requested = 0;
            std::string error;
            if (!pipeline.reload_rules(now(), error))
                fmt::print(stderr, "exfilwatch: SIGHUP: keeping the current rules: {}\n", error);
        }
        if (deadline && now() >= deadline) break;
        if (pipeline.output_broken()) {
            stop_reason = "output closed";
            break;
        }
        if (int err = drain.error()) {
            fmt::print(stderr, "exfilwatch: reading the ring buffer failed: {}\n", std::strerror(-err));
            stop_reason = "ring buffer error";
            exit_code = 1;
            break;
        }
        // A bounded slice per turn, so signals, the heartbeat and metrics come round under any load.
        drain.take(batch, records_per_turn, 100);
        pipeline.shed_telemetry(drain.queued_records() > shed_telemetry_above);
        process_batch();
        if (server) server->heartbeat();
        std::uint64_t t = now();
        if (t >= next_tick) {
            // Lost while a lineage holds sensitive data is a blind spot: records the kernel could
            // not queue, datagram reads over its new-pair rate (data whose channel is not known),
            // shared mappings whose lookup never got the address space's lock,
            // and flows or HTTP/2 sessions the enricher's bounds dropped (later bytes unnamed).
            const auto flow_stats = flows.stats();
            const auto kernel_counters = monitor->counters();
            report_loss(t, "ringbuf_full", kernel::drops_for(kernel_counters, wire::EW_DROP_RINGBUF_FULL),
                        ringbuf_drops_seen);
            report_loss(t, "datagram_rate", kernel::drops_for(kernel_counters, wire::EW_DROP_DATAGRAM_RATE),
                        datagram_drops_seen);
            report_loss(t, "vma_busy", kernel::drops_for(kernel_counters, wire::EW_DROP_VMA_BUSY), vma_drops_seen);
            report_loss(t, "flows_evicted", flow_stats.evicted, flows_evicted_seen);
            report_loss(t, "http2_evicted", flow_stats.http2_evicted, http2_evicted_seen);
            tick(t);
            monitor->refresh_local_addresses();  // an address that came since is local from now on
            next_tick = t + 1'000'000'000ULL;
            if (!options.health_file.empty()) touch_health_file(options.health_file);
            if (server) publish_metrics();
        }
        if (next_stats && t >= next_stats) {
            util::Counters counters;
            collect_metrics(counters);
            pipeline.metrics(t, counters);
            next_stats = t + stats_every;
        }
        pipeline.flush(false);
    }

    if (server) server->set_ready(false);
    // Stop the kernel side first: what the rings hold is then all there is to drain, and the
    // detach (slow: grace periods) goes on while it is drained.
    monitor->detach();
    // Drain what the queue and the kernel still hold, in small slices and for a bounded time, so
    // that the whole stop takes under a second whatever the load (each poll is a bounded drain;
    // records the two rings hold back for ordering come out too). What that time cannot reach is
    // counted: records read but not decided, and bytes the kernel wrote that were never read.
    // Then report what live processes read so far.
    drain.stop();
    const std::uint64_t drain_until = now() + final_drain_ns;
    auto decide_until = [&](std::uint64_t until) {
        std::size_t done = 0;
        while (done < batch.spans.size() && now() < until) {
            std::size_t to = std::min(done + final_drain_slice, batch.spans.size());
            decide(done, to);
            done = to;
        }
        stop_unprocessed_records += batch.spans.size() - done;
        batch.clear();
    };
    while (now() < drain_until && drain.take(batch, final_drain_slice, 0) > 0) decide_until(drain_until);
    while (now() < drain_until && (monitor->poll(batch, 0) > 0 || monitor->pending())) decide_until(drain_until);
    decide_until(drain_until);
    stop_unprocessed_records += drain.queued_records() + monitor->held_records();
    stop_unread_bytes = monitor->unread_bytes();
    tick(now());

    util::Counters counters;
    collect_metrics(counters);
    pipeline.metrics(now(), counters);
    pipeline.stopped(now(), stop_reason);
    pipeline.flush(true);
    if (pipeline.output_broken()) {
        // The stream is gone, so the final metric record could not say it: stderr does.
        fmt::print(stderr, "exfilwatch: output closed; stopped after dropping {} records\n", pipeline.dropped_lines());
    }
    return exit_code;
}

}  // namespace exfilwatch::commands
