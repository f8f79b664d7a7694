// The back half shared by run and replay (see pipeline.hpp).
#include "commands/pipeline.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/sensitive_seed.hpp"
#include "detect/engine.hpp"
#include "detect/rules.hpp"
#include "detect/rules_file.hpp"
#include "enrich/proc_sources.hpp"
#include "output/ecs.hpp"
#include "output/sink.hpp"
#include "redact/redact.hpp"
#include "util/bounded.hpp"

namespace exfilwatch::commands {

struct Pipeline::State {
    PipelineOptions options;
    std::vector<std::string> selected;  // event.action names to emit as telemetry
    std::unique_ptr<output::NdjsonSink> sink;
    std::unique_ptr<detect::Engine> engine;
    int min_score = 0;
    std::uint64_t alerts = 0;
    std::uint64_t suppressed_alerts = 0;
    std::uint64_t blind_spots = 0;
    std::uint64_t telemetry = 0;
    std::uint64_t telemetry_shed = 0;
    bool shedding = false;
    std::uint64_t rule_reloads = 0;
    std::uint64_t rule_reload_errors = 0;
    output::EcsEncoder encoder;               // telemetry and alerts: a reused buffer, cached argv redaction
    std::unique_ptr<detect::JobMemory> jobs;  // recurring upload jobs (--state-dir)
    std::string jobs_path;

    void write(std::string_view line) const { sink->write_line(line); }
    // Redaction by content: argv holding a fingerprinted secret (redact_secret_args), memoised
    // by the argv's hash while the fingerprints stay the same.
    util::LruMap<std::uint64_t, std::pair<std::uint64_t, bool>> secret_args;
    bool holds_secret(const std::vector<std::string>& args);
    bool redact_content(ProcessRef& process);
    // Redaction by content of the names a process chose (paths, host and domain names, its
    // executable's path): whichever holds a fingerprinted token goes (a path's segment, a name's
    // label: curl https://$TOKEN.paste.rs/, cp key /tmp/$TOKEN).
    bool names_hold_secret(const Event& event) const;
    void redact_names(Event& event) const;
    void redact_names(Alert& alert) const;
    void save_jobs();
};

namespace {

constexpr const char* jobs_file_name = "recurring-jobs.tsv";

std::unique_ptr<detect::JobMemory> open_job_memory(const std::string& dir, std::size_t max_jobs, std::string& path)
{
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw std::runtime_error(fmt::format("cannot create state directory {}: {}", dir, std::strerror(errno)));
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw std::runtime_error(fmt::format("state directory {} is not a directory", dir));
    path = fmt::format("{}/{}", dir, jobs_file_name);
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::make_unique<detect::JobMemory>(max_jobs);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t bad = 0;
    auto memory = std::make_unique<detect::JobMemory>(detect::JobMemory::parse(text, max_jobs, bad));
    if (bad) fmt::print(stderr, "exfilwatch: {}: skipped {} unreadable line{}\n", path, bad, bad > 1 ? "s" : "");
    return memory;
}

std::uint64_t args_hash(const std::vector<std::string>& args)
{
    std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64, each argument ended by a 0
    for (const auto& a : args) {
        for (unsigned char c : a) h = (h ^ c) * 0x100000001b3ULL;
        h = (h ^ 0) * 0x100000001b3ULL;
    }
    return h;
}

}  // namespace

bool Pipeline::State::holds_secret(const std::vector<std::string>& args)
{
    const auto& index = engine->fingerprints();
    if (index.files() == 0 || args.empty()) return false;
    bool inserted = false;
    auto& memo = secret_args.touch(args_hash(args), &inserted);
    if (secret_args.size() > 4096) secret_args.pop_oldest();
    if (inserted || memo.first != index.generation()) {
        bool found = std::any_of(args.begin(), args.end(),
                                 [&](const std::string& a) { return a.size() >= 16 && index.contains_secret(a); });
        memo = {index.generation(), found};
    }
    return memo.second;
}

bool Pipeline::State::redact_content(ProcessRef& process)
{
    if (!holds_secret(process.args)) return false;
    const auto& index = engine->fingerprints();
    return redact::redact_secret_args(process.args, [&](std::string_view a) { return index.contains_secret(a); });
}

namespace {

enum class NameKind : std::uint8_t { path, domain };

// Each name an event carries that a process chose, with its kind: `f(name, kind)`.
template <typename E, typename F>
void for_each_name(E& event, const F& f)
{
    std::visit(
        [&](auto& e) {
            using T = std::decay_t<decltype(e)>;
            f(e.process.executable, NameKind::path);
            if constexpr (std::is_same_v<T, FileOpenEvent>) {
                f(e.path, NameKind::path);
                f(e.requested_path, NameKind::path);
            } else if constexpr (std::is_same_v<T, FileSummaryEvent>) {
                f(e.path, NameKind::path);
            } else if constexpr (std::is_same_v<T, ConnectEvent> || std::is_same_v<T, FlowSummaryEvent>) {
                f(e.destination_domain, NameKind::domain);
            } else if constexpr (std::is_same_v<T, TlsClientHelloEvent>) {
                f(e.server_name, NameKind::domain);
            } else if constexpr (std::is_same_v<T, DnsAnswerEvent>) {
                f(e.question, NameKind::domain);
                for (auto& cname : e.cnames) f(cname, NameKind::domain);
            } else if constexpr (std::is_same_v<T, HttpRequestEvent>) {
                f(e.host, NameKind::domain);
                f(e.path, NameKind::path);
                f(e.connect_target, NameKind::domain);
            }
        },
        event);
}

// Redacts one name in place; returns whether it held a secret.
bool redact_name(std::string& name, NameKind kind, const detect::FingerprintIndex& index)
{
    const auto contains = [&](std::string_view s) { return index.contains_secret(s); };
    return kind == NameKind::path ? redact::redact_secret_path(name, contains)
                                  : redact::redact_secret_domain(name, contains);
}

}  // namespace

bool Pipeline::State::names_hold_secret(const Event& event) const
{
    const auto& index = engine->fingerprints();
    if (index.files() == 0) return false;
    bool found = false;
    for_each_name(event, [&](const std::string& name, NameKind) {
        found = found || (name.size() >= 16 && index.contains_secret(name));
    });
    return found;
}

void Pipeline::State::redact_names(Event& event) const
{
    const auto& index = engine->fingerprints();
    for_each_name(event, [&](std::string& name, NameKind kind) { redact_name(name, kind, index); });
}

// An alert's names, and the reason that repeats them (then whole, should a secret remain).
void Pipeline::State::redact_names(Alert& alert) const
{
    const auto& index = engine->fingerprints();
    if (index.files() == 0) return;
    std::vector<std::pair<std::string, std::string>> renamed;  // what the reason may repeat
    auto redact = [&](std::string& name, NameKind kind) {
        std::string before = name;
        if (redact_name(name, kind, index)) renamed.emplace_back(std::move(before), name);
    };
    redact(alert.destination_domain, NameKind::domain);
    redact(alert.process.executable, NameKind::path);
    for (auto& member : alert.chain) redact(member.executable, NameKind::path);
    for (auto& file : alert.files) redact(file.path, NameKind::path);
    if (alert.reason.size() < 16 || !index.contains_secret(alert.reason)) return;
    for (const auto& [before, after] : renamed)
        for (auto at = alert.reason.find(before); at != std::string::npos;
             at = alert.reason.find(before, at + after.size()))
            alert.reason.replace(at, before.size(), after);
    if (index.contains_secret(alert.reason)) alert.reason = std::string(redact::redacted_marker);
}

// Written whole to a temporary file and renamed, so a crash leaves the old or the new memory.
void Pipeline::State::save_jobs()
{
    if (!jobs || !jobs->changed()) return;
    auto tmp = jobs_path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fmt::print(stderr, "exfilwatch: cannot write {}: {}\n", tmp, std::strerror(errno));
        return;
    }
    auto text = jobs->serialize();
    std::size_t done = 0;
    while (done < text.size()) {
        auto n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    bool ok = done == text.size() && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), jobs_path.c_str()) != 0) {
        fmt::print(stderr, "exfilwatch: cannot write {}: {}\n", jobs_path, std::strerror(errno));
        ::unlink(tmp.c_str());
        return;
    }
    jobs->saved();
}

Pipeline::Pipeline(const PipelineOptions& options) : state_(std::make_unique<State>())
{
    state_->options = options;
    state_->selected = parse_event_selection(options.events);
    auto rules = detect::load_rules_file(options.rules_file, options.require_trusted_rules);
    state_->min_score = options.min_score >= 0 ? options.min_score : rules.settings.alert_threshold;
    std::size_t max_jobs = rules.settings.max_recurring_jobs;
    state_->engine = std::make_unique<detect::Engine>(std::move(rules));
    if (!options.state_dir.empty()) {
        state_->jobs = open_job_memory(options.state_dir, max_jobs, state_->jobs_path);
        state_->engine->set_job_memory(state_->jobs.get());
    }
    // host.*, agent.*, rule.ruleset, and event.created: when this monitor wrote the record.
    auto context = output::Context::local(options.rules_file.empty() ? "built-in" : options.rules_file);
    context.clock = [] {
        return static_cast<TimeNs>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
    };
    state_->encoder = output::EcsEncoder(std::move(context));
    state_->sink = options.output_file.empty() ? std::make_unique<output::NdjsonSink>(STDOUT_FILENO)
                                               : output::NdjsonSink::open_file(options.output_file);
}

Pipeline::~Pipeline() = default;

std::size_t Pipeline::seed_sensitive_files(const std::string& passwd_path)
{
    auto& engine = *state_->engine;
    auto files = find_sensitive_files(engine.rules(), passwd_path, engine.rules().settings.max_staging_files);
    for (const auto& f : files) engine.seed_sensitive(f.path, f.device, f.inode);
    return files.size();
}

void Pipeline::started(TimeNs time, const std::vector<HookStatus>& hooks, std::size_t processes_scanned,
                       const std::vector<std::string>& capabilities)
{
    output::MonitorState state;
    state.time = time;
    state.action = output::StateAction::started;
    state.version = EXFILWATCH_VERSION;
    state.hooks = hooks;
    state.rules_source = state_->options.rules_file.empty() ? "built-in" : state_->options.rules_file;
    state.events = state_->options.events;
    state.mode = hooks.empty() ? "replay" : "run";
    state.processes_scanned = processes_scanned;
    state.capabilities = capabilities;
    state_->write(state_->encoder.line(state));
    flush(false);
}

bool Pipeline::reload_rules(TimeNs time, std::string& error)
{
    try {
        auto rules = detect::load_rules_file(state_->options.rules_file, state_->options.require_trusted_rules);
        if (state_->options.min_score < 0) state_->min_score = rules.settings.alert_threshold;
        state_->engine->replace_rules(std::move(rules));
    } catch (const std::exception& e) {
        error = e.what();
        ++state_->rule_reload_errors;
        return false;
    }
    ++state_->rule_reloads;
    output::MonitorState state;
    state.time = time;
    state.action = output::StateAction::rules_reloaded;
    state.version = EXFILWATCH_VERSION;
    state.mode = "run";
    state.rules_source = state_->options.rules_file.empty() ? "built-in" : state_->options.rules_file;
    state_->write(state_->encoder.line(state));
    return true;
}

// Blind spots the engine found (sensitive state evicted, work shed, records lost): counted here;
// their NDJSON record (event.action monitor-blind-spot) is the ECS encoder's
// (EcsEncoder::line(const BlindSpot&), from the output work), written here once that is merged.
void Pipeline::drain_blind_spots(bool all)
{
    // Blinding is as loud as an alert: an alert-kind monitor-blind-spot record, whatever
    // --min-score says (it is not scored).
    for (auto& spot : state_->engine->take_blind_spots(all)) {
        for (auto& process : spot.processes) state_->redact_content(process);  // their command lines, as an alert's
        state_->write(state_->encoder.line(spot));
        ++state_->blind_spots;
    }
}

void Pipeline::on_event(const Event& event)
{
    auto action = output::event_action(event);
    if (std::find(state_->selected.begin(), state_->selected.end(), action) != state_->selected.end()) {
        if (state_->shedding) {
            ++state_->telemetry_shed;
        } else if (std::visit([&](const auto& e) { return state_->holds_secret(e.process.args); }, event) ||
                   state_->names_hold_secret(event)) {
            Event copy = event;
            std::visit([&](auto& e) { state_->redact_content(e.process); }, copy);
            state_->redact_names(copy);
            state_->write(state_->encoder.line(copy));
            ++state_->telemetry;
        } else {
            state_->write(state_->encoder.line(event));
            ++state_->telemetry;
        }
    }
    for (auto& alert : state_->engine->process(event)) {
        if (alert.risk_score < state_->min_score) {
            ++state_->suppressed_alerts;
            continue;
        }
        state_->redact_content(alert.process);
        for (auto& member : alert.chain) state_->redact_content(member);
        state_->redact_names(alert);
        const auto& index = state_->engine->fingerprints();
        if (index.files() > 0)
            for (auto& signal : alert.signals)
                if (index.contains_secret(signal.evidence)) signal.evidence = std::string(redact::redacted_marker);
        state_->write(state_->encoder.line(alert));
        ++state_->alerts;
    }
    drain_blind_spots();
    // A command line that carries a secret: its scan (which file, encoding, role; no byte of it)
    // is telemetry like a plaintext write's, so replay, which has no fingerprints, reads it back.
    if (const auto* exec = std::get_if<ExecEvent>(&event); exec && state_->holds_secret(exec->process.args))
        on_event(Event{detect::scan_arguments(state_->engine->fingerprints(), exec->time, exec->process)});
}

void Pipeline::on_plaintext(const PlaintextWrite& write)
{
    on_event(Event{state_->engine->scan(write)});
}

// A sensitive file's content is read through the reader's root, so a container's file is its
// own; the reader has often exited by the time its read is handled (curl's upload takes
// milliseconds), so then through its parent's, group leader's and session leader's roots (its
// mount namespace, as a rule), then the host's (enrich::host_roots). A candidate whose file is
// not the one read (another inode) is passed over.
void Pipeline::read_sensitive_content()
{
    auto host_roots = enrich::host_roots("/proc", static_cast<std::uint32_t>(::getpid()));
    state_->engine->set_file_reader(
        [host_roots = std::move(host_roots)](const ProcessRef& reader, const std::string& path, std::uint64_t,
                                             std::uint64_t inode) -> std::optional<std::string> {
            constexpr std::size_t max_bytes = 64 << 10;
            auto open_same = [inode](const std::string& name) {
                int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                struct stat st {};
                if (fd >= 0 && (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_ino != inode)) {
                    ::close(fd);
                    fd = -1;
                }
                return fd;
            };
            int fd = -1;
            std::uint32_t tried[4] = {};
            std::size_t count = 0;
            for (std::uint32_t pid : {reader.pid, reader.ppid, reader.pgid, reader.sid}) {
                if (pid == 0 || std::find(tried, tried + count, pid) != tried + count) continue;
                tried[count++] = pid;
                if ((fd = open_same(fmt::format("/proc/{}/root{}", pid, path))) >= 0) break;
            }
            for (std::size_t i = 0; fd < 0 && i < host_roots.size(); ++i) fd = open_same(host_roots[i] + path);
            if (fd < 0) return std::nullopt;
            std::string content(max_bytes, '\0');
            std::size_t done = 0;
            while (done < max_bytes) {
                auto n = ::read(fd, content.data() + done, max_bytes - done);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                done += static_cast<std::size_t>(n);
            }
            ::close(fd);
            content.resize(done);
            if (content.empty()) return std::nullopt;
            return content;
        });
}

void Pipeline::fingerprint_open_file(std::uint32_t pid, const std::string& path, std::uint64_t device,
                                     std::uint64_t inode)
{
    state_->engine->fingerprint_open_file(pid, path, device, inode);
}

void Pipeline::note_loss(TimeNs time, std::string_view cause, std::uint64_t count)
{
    state_->engine->note_loss(time, cause, count);
    drain_blind_spots();
}

void Pipeline::shed_telemetry(bool shed)
{
    state_->shedding = shed;
}

void Pipeline::metrics(TimeNs time, util::Counters counters)
{
    append_counters(counters);
    if (state_->jobs) state_->save_jobs();
    state_->write(state_->encoder.line(output::Metrics{time, std::move(counters)}));
}

void Pipeline::append_counters(util::Counters& counters) const
{
    state_->engine->stats().report(counters);
    const auto taint = state_->engine->lineage().stats();
    counters.emplace_back("detect.taint.objects", taint.staged_files);
    counters.emplace_back("detect.taint.sources", taint.sources);
    counters.emplace_back("detect.taint.sensitive_inodes", taint.sensitive_inodes);
    counters.emplace_back("detect.taint.evicted", taint.evicted_taint);
    counters.emplace_back("detect.taint.propagation_truncated", taint.propagation_truncated);
    counters.emplace_back("output.alerts", state_->alerts);
    counters.emplace_back("output.blind_spots", state_->blind_spots);
    counters.emplace_back("output.alerts_below_min_score", state_->suppressed_alerts);
    counters.emplace_back("output.telemetry", state_->telemetry);
    counters.emplace_back("output.telemetry_shed", state_->telemetry_shed);
    counters.emplace_back("output.dropped_lines", state_->sink->dropped_lines());
    counters.emplace_back("rules.reloads", state_->rule_reloads);
    counters.emplace_back("rules.reload_errors", state_->rule_reload_errors);
    if (state_->jobs) {
        counters.emplace_back("detect.recurring_jobs", state_->jobs->jobs().size());
        counters.emplace_back("detect.evicted_recurring_jobs", state_->jobs->evicted());
    }
}

void Pipeline::stopped(TimeNs time, const std::string& reason)
{
    drain_blind_spots(true);  // what the last second held, before the last record
    output::MonitorState state;
    state.time = time;
    state.action = output::StateAction::stopped;
    state.version = EXFILWATCH_VERSION;
    state.rules_source = state_->options.rules_file.empty() ? "built-in" : state_->options.rules_file;
    state.events = state_->options.events;
    state.reason = reason;
    state_->write(state_->encoder.line(state));
}

void Pipeline::flush(bool final)
{
    if (final) drain_blind_spots(true);  // a replay's last second (a run's went before its stop)
    if (final) state_->save_jobs();
    if (final) state_->sink->close(std::chrono::seconds(2));
    else
        state_->sink->flush();
}

bool Pipeline::output_broken() const
{
    return state_->sink->broken();
}

std::uint64_t Pipeline::alerts() const
{
    return state_->alerts;
}

std::uint64_t Pipeline::dropped_lines() const
{
    return state_->sink->dropped_lines();
}

}  // namespace exfilwatch::commands
