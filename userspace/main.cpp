// exfilwatch CLI: parses flags and hands them to a subcommand. No pipeline logic lives here.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "output/metrics_server.hpp"

namespace {

// An unknown --events kind is a usage error, found while parsing (exit 2), not once running.
const CLI::Validator event_kinds(exfilwatch::commands::check_event_selection, "KIND[,KIND...]", "event kinds");

// `exfilwatch [run] [flags]`: run is the default subcommand.
std::vector<std::string> with_default_subcommand(int argc, char** argv)
{
    std::vector<std::string> args(argv, argv + argc);
    static constexpr std::string_view known[] = {"run", "replay", "rules", "health", "--version", "-V", "--help", "-h"};
    bool explicit_command = false;
    if (args.size() > 1) {
        for (auto name : known) explicit_command = explicit_command || args[1] == name;
    }
    if (!explicit_command) args.insert(args.begin() + 1, "run");
    return args;
}

}  // namespace

namespace {

int cli_main(int argc, char** argv)
{
    using namespace exfilwatch::commands;
    CLI::App app{"exfilwatch: catches data exfiltration over web services (MITRE ATT&CK T1567) with eBPF.\n"
                 "Streams NDJSON with ECS field names: alerts, state and metric records, and telemetry on request."};
    app.set_version_flag("--version,-V", fmt::format("exfilwatch {}", EXFILWATCH_VERSION));
    app.require_subcommand(1);

    RunOptions run_options;
    auto* run_cmd = app.add_subcommand(
        "run", "monitor this host (the default subcommand; needs root, or CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN; "
               "keeps only CAP_SYS_PTRACE once attached)");
    run_cmd->add_option("--rules", run_options.rules_file, "rules file (YAML) instead of the built-in rules")
        ->check(CLI::ExistingFile);
    run_cmd
        ->add_option(
            "--events", run_options.events,
            "also emit telemetry: comma-separated exec,fork,exit,file,connect,tls,dns,http,flow,io (pipe, "
            "FIFO, UNIX and loopback socket I/O),content (scans of plaintext sent and of command lines that carry a "
            "secret) or all")
        ->check(event_kinds);
    run_cmd
        ->add_option("--min-score", run_options.min_score,
                     "emit alerts at or above this risk score (default: the rules' alert threshold)")
        ->check(CLI::Range(0, 100));
    run_cmd->add_option("--duration", run_options.duration_s, "stop after this many seconds (0: until SIGINT/SIGTERM)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    run_cmd
        ->add_option("--stats-interval", run_options.stats_interval_s,
                     "seconds between metric records (0: only at stop)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    run_cmd->add_option("--output", run_options.output_file, "write NDJSON to this file instead of stdout");
    run_cmd->add_flag("--verbose,-v", run_options.verbose, "show libbpf's own log (verifier output) on stderr");
    run_cmd->add_option("--state-dir", run_options.state_dir,
                        "keep recurring upload jobs here across restarts (created 0700; a job seen on an earlier day "
                        "scores the recurring signal)");
    run_cmd->add_option("--health-file", run_options.health_file,
                        "touch this file every second while running (for a liveness probe)");
    run_cmd
        ->add_option(
            "--ring-buffer-size", run_options.ring_buffer_bytes,
            "bytes of each kernel-to-userspace ring buffer (records, captures; a power of two, at least 4096); "
            "records that find it full are dropped and counted (kernel.drops.ringbuf_full)")
        ->check(CLI::Validator(
            [](const std::string& text) -> std::string {
                unsigned long long bytes = std::strtoull(text.c_str(), nullptr, 10);
                if (bytes < 4096 || bytes > (1ULL << 30) || (bytes & (bytes - 1)))
                    return "must be a power of two from 4096 to 1073741824";
                return {};
            },
            "POW2", "power of two"))
        ->capture_default_str();

    run_cmd
        ->add_option("--listen", run_options.listen,
                     "serve /metrics (Prometheus), /healthz and /readyz on ADDR:PORT, e.g. 127.0.0.1:9464 or "
                     "[::1]:9464 (off unless given; read-only, GET only)")
        ->check(CLI::Validator(
            [](const std::string& text) -> std::string {
                std::uint16_t port = 0;
                return exfilwatch::output::parse_listen_address(text, port)
                           ? std::string()
                           : "must be ADDR:PORT with a numeric IPv4 address or a [bracketed] IPv6 address";
            },
            "ADDR:PORT", "listen address"));

    ReplayOptions replay_options;
    auto* replay_cmd = app.add_subcommand("replay", "run the detection engine over recorded telemetry (no privileges)");
    replay_cmd->add_option("input", replay_options.input, "NDJSON from `exfilwatch run --events all`, or - for stdin")
        ->required();
    replay_cmd->add_option("--rules", replay_options.rules_file, "rules file (YAML) instead of the built-in rules")
        ->check(CLI::ExistingFile);
    replay_cmd->add_option("--min-score", replay_options.min_score, "emit alerts at or above this risk score")
        ->check(CLI::Range(0, 100));
    replay_cmd->add_option("--events", replay_options.events, "also re-emit the telemetry read (same list as run)")
        ->check(event_kinds);
    replay_cmd->add_option("--output", replay_options.output_file, "write NDJSON to this file instead of stdout");
    replay_cmd->add_option("--state-dir", replay_options.state_dir,
                           "learn and use recurring upload jobs in this directory (off unless given)");

    std::string check_file;
    auto* rules_cmd = app.add_subcommand("rules", "inspect rules");
    rules_cmd->require_subcommand(1);
    auto* check_cmd = rules_cmd->add_subcommand("check", "validate a rules file; errors carry line and column");
    check_cmd->add_option("file", check_file, "the rules file")->required();
    auto* dump_cmd = rules_cmd->add_subcommand("dump", "print the built-in rules");

    std::string health_file;
    double health_max_age = 30;
    auto* health_cmd = app.add_subcommand("health", "liveness probe: succeed when a --health-file is fresh");
    health_cmd->add_option("--file", health_file, "the file given to run --health-file")->required();
    health_cmd->add_option("--max-age", health_max_age, "seconds")->capture_default_str();

    try {
        auto args = with_default_subcommand(argc, argv);
        std::vector<const char*> raw;
        raw.reserve(args.size());
        for (const auto& arg : args) raw.push_back(arg.c_str());
        app.parse(static_cast<int>(raw.size()), raw.data());
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // A usage error: one line and exit 2, like other Unix tools, never a run with half the flags.
        std::string message = e.what();
        std::replace(message.begin(), message.end(), '\n', ' ');
        fmt::print(stderr, "exfilwatch: {} (see exfilwatch --help)\n", message);
        return 2;
    }

    try {
        if (*run_cmd) return run(run_options);
        if (*replay_cmd) return replay(replay_options);
        if (*check_cmd) return rules_check(check_file);
        if (*dump_cmd) return rules_dump();
        if (*health_cmd) return health(health_file, health_max_age);
    } catch (const std::exception& e) {
        fmt::print(stderr, "exfilwatch: {}\n", e.what());
        return 1;
    }
    return 0;
}

}  // namespace

// Nothing escapes main: an exception from setting up the command line is one line and exit 1.
int main(int argc, char** argv)
{
    try {
        return cli_main(argc, argv);
    } catch (const std::exception& e) {
        std::fputs("exfilwatch: ", stderr);
        std::fputs(e.what(), stderr);
        std::fputs("\n", stderr);
    } catch (...) {
        std::fputs("exfilwatch: unexpected error\n", stderr);
    }
    return 1;
}
