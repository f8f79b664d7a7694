// Test helper: builds synthetic event timelines (what enrich would emit for a shell session) and
// feeds them to a detect::Engine, collecting alerts.
#pragma once

#include <fcntl.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "detect/engine.hpp"
#include "detect/rules.hpp"

namespace exfilwatch::detect::test {

inline Rules builtin()
{
    auto r = load_rules(builtin_rules_yaml, "builtin");
    if (auto* e = std::get_if<RulesError>(&r)) throw std::runtime_error(e->to_string());
    return std::get<Rules>(std::move(r));
}

inline const std::string home = "/tmp/ew-test.Ab12/home";  // an unusual $HOME

// A fake ed25519 private key: small enough (under min_upload_bytes) that only its content seen
// leaving can say it left.
inline const std::string fake_ed25519_key = "-----BEGIN OPENSSH PRIVATE KEY-----\n"
                                            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
                                            "QyNTUxOQAAACDtUVo0CqmwYqG2yDhTmOTe8Vg0yG2rJ1wCCZtq3t+vgQAAAJgm7xZqJu8W\n"
                                            "-----END OPENSSH PRIVATE KEY-----\n";

struct Timeline {
    Engine engine{builtin()};
    TimeNs t = 1'700'000'000'000'000'000ULL;
    std::vector<Alert> alerts;
    std::uint32_t next_pid = 4000;
    std::uint64_t next_cookie = 1;
    std::uint64_t next_inode = 9000;
    ProcessRef shell;

    Timeline() { shell = start_shell(); }
    explicit Timeline(Rules rules) : engine(std::move(rules)) { shell = start_shell(); }

    void feed(const Event& e)
    {
        for (auto& a : engine.process(e)) alerts.push_back(std::move(a));
    }
    void step(TimeNs ms = 1) { t += ms * 1'000'000ULL; }

    ProcessRef start_shell()
    {
        ProcessRef p;
        p.pid = next_pid++;
        p.entity_id = "shell-" + std::to_string(p.pid);
        p.ppid = 1;
        p.parent_entity_id = "init";
        p.pgid = p.pid;
        p.sid = p.pid;
        p.uid = 1000;
        p.executable = "/usr/bin/bash";
        p.name = "bash";
        p.args = {"bash"};
        p.start_time = t;
        feed(ExecEvent{t, p});
        step();
        return p;
    }

    // fork + exec of a child of `parent` in the parent's process group (a non-interactive shell).
    ProcessRef spawn(const ProcessRef& parent, std::vector<std::string> args, std::string exe = {},
                     std::uint32_t pid = 0, std::uint64_t stdin_pipe = 0, std::uint64_t stdout_pipe = 0,
                     StdoutKind stdout_kind = StdoutKind::unknown)
    {
        ProcessRef p;
        p.pid = pid ? pid : next_pid++;
        p.entity_id = "e" + std::to_string(p.pid) + "-" + std::to_string(t);
        p.ppid = parent.pid;
        p.parent_entity_id = parent.entity_id;
        p.pgid = parent.pgid;
        p.sid = parent.sid;
        p.uid = parent.uid;
        p.start_time = t;
        ProcessRef forked = parent;
        forked.pid = p.pid;
        forked.entity_id = p.entity_id;
        forked.ppid = parent.pid;
        forked.parent_entity_id = parent.entity_id;
        forked.start_time = t;
        feed(ForkEvent{t, forked});
        step();
        if (exe.empty()) exe = "/usr/bin/" + args.front();
        p.executable = exe;
        p.name = exe.substr(exe.rfind('/') + 1);
        p.args = std::move(args);
        p.stdin_pipe = stdin_pipe;
        p.stdout_pipe = stdout_pipe;
        p.stdout_kind = stdout_pipe ? StdoutKind::pipe : stdout_kind;
        feed(ExecEvent{t, p});
        step();
        return p;
    }

    void open_read(const ProcessRef& p, const std::string& path, std::uint64_t inode = 0)
    {
        FileOpenEvent e{t, p, path, path, 3, O_RDONLY, inode ? inode : next_inode++, 2049, 0};
        feed(e);
        step();
    }
    void summary(const ProcessRef& p, const std::string& path, std::uint64_t bytes, std::uint64_t inode = 0,
                 bool for_write = false)
    {
        FileSummaryEvent e{t, p, path, inode, 2049, bytes, 0, for_write};
        feed(e);
        step();
    }
    // A summary saying the process wrote to the file, last now (the kernel's last write time).
    void wrote(const ProcessRef& p, const std::string& path, std::uint64_t inode)
    {
        FileSummaryEvent e{t, p, path, inode, 2049, 0, 0, true, t};
        feed(e);
        step();
    }
    void read(const ProcessRef& p, const std::string& path, std::uint64_t bytes, std::uint64_t inode = 0)
    {
        open_read(p, path, inode);
        summary(p, path, bytes, inode);
    }
    void open_write(const ProcessRef& p, const std::string& path, std::uint64_t inode, bool truncate = true)
    {
        FileOpenEvent e{t,     p,    path,
                        path,  4,    static_cast<std::uint32_t>(O_WRONLY | O_CREAT | (truncate ? O_TRUNC : O_APPEND)),
                        inode, 2049, 0};
        feed(e);
        step();
    }
    // A fork that does not exec (a subshell): a copy of its parent.
    ProcessRef fork(const ProcessRef& parent)
    {
        ProcessRef p = parent;
        p.pid = next_pid++;
        p.entity_id = "f" + std::to_string(p.pid) + "-" + std::to_string(t);
        p.ppid = parent.pid;
        p.parent_entity_id = parent.entity_id;
        p.start_time = t;
        feed(ForkEvent{t, p});
        step();
        return p;
    }
    // Data moved through a channel (pipe, FIFO, UNIX or loopback socket); `bytes` cumulative.
    void object_io(const ProcessRef& p, ObjectKind kind, std::uint64_t id, IoDirection dir, std::uint64_t bytes)
    {
        ObjectIoEvent e;
        e.time = t;
        e.process = p;
        e.object = kind;
        e.object_id = id;
        e.device = kind == ObjectKind::fifo ? 0x2a : 0;
        e.direction = dir;
        e.fd = 5;
        e.bytes = bytes;
        for (auto& a : engine.process(e)) alerts.push_back(std::move(a));
        step();
    }
    // `p` copied `bytes` (cumulative) out of (read) or into (write) the memory of `peer` (or read
    // its environment: ObjectKind::process_environ).
    void memory_io(const ProcessRef& p, const ProcessRef& peer, IoDirection dir, std::uint64_t bytes,
                   ObjectKind kind = ObjectKind::process_memory)
    {
        ObjectIoEvent e;
        e.time = t;
        e.process = p;
        e.object = kind;
        e.object_id = peer.pid;
        e.direction = dir;
        e.bytes = bytes;
        e.peer_pid = peer.pid;
        e.peer_entity_id = peer.entity_id;
        for (auto& a : engine.process(e)) alerts.push_back(std::move(a));
        step();
    }
    // `p` maps the object `inode` shared (on the files' device 2049): a read, and a write too
    // when `writable`, as the kernel reports a shared mapping.
    void map_shared(const ProcessRef& p, std::uint64_t inode, bool writable, std::uint64_t bytes = 4096)
    {
        for (auto dir : {IoDirection::read, IoDirection::write}) {
            if (dir == IoDirection::write && !writable) break;
            ObjectIoEvent e;
            e.time = t;
            e.process = p;
            e.object = ObjectKind::shared_memory;
            e.object_id = inode;
            e.device = 2049;
            e.direction = dir;
            e.bytes = bytes;
            for (auto& a : engine.process(e)) alerts.push_back(std::move(a));
            step();
        }
    }
    // The scan of `p`'s arguments at its exec found bytes of the sensitive file `path` in one.
    void argv_scan(const ProcessRef& p, const std::string& path)
    {
        ContentScanEvent e;
        e.time = t;
        e.process = p;
        e.source = "argv";
        e.complete = true;
        ContentMatch m;
        m.path = path;
        m.encoding = "raw";
        m.location = "argument";
        e.matches.push_back(m);
        feed(e);
        step();
    }
    // A process in a session of its own (setsid, a daemon): no parent the shell knows.
    ProcessRef start_session(std::vector<std::string> args)
    {
        ProcessRef p;
        p.pid = next_pid++;
        p.entity_id = "s" + std::to_string(p.pid) + "-" + std::to_string(t);
        p.ppid = 1;
        p.parent_entity_id = "init";
        p.pgid = p.pid;
        p.sid = p.pid;
        p.uid = 1000;
        p.executable = "/usr/bin/" + args.front();
        p.name = args.front();
        p.args = std::move(args);
        p.start_time = t;
        p.stdout_kind = StdoutKind::other;
        feed(ExecEvent{t, p});
        step();
        return p;
    }
    void exit(const ProcessRef& p)
    {
        feed(ExitEvent{t, p, 0});
        step();
    }

    struct FlowIds {
        std::uint64_t cookie;
        Endpoint dest;
    };
    FlowIds connect(const ProcessRef& p, const std::string& domain, bool tls = true, std::uint16_t port = 8443)
    {
        FlowIds f{next_cookie++, Endpoint{"127.0.0.1", port}};
        ConnectEvent c;
        c.time = t;
        c.process = p;
        c.flow.socket_cookie = f.cookie;
        c.source = {"127.0.0.1", 40000};
        c.destination = f.dest;
        feed(c);
        step();
        if (tls) {
            TlsClientHelloEvent h;
            h.time = t;
            h.process = p;
            h.flow.socket_cookie = f.cookie;
            h.destination = f.dest;
            h.server_name = domain;
            feed(h);
        } else {
            HttpRequestEvent h;
            h.time = t;
            h.process = p;
            h.flow.socket_cookie = f.cookie;
            h.destination = f.dest;
            h.method = "POST";
            h.host = domain + ":" + std::to_string(port);
            h.path = "/";
            feed(h);
        }
        step();
        return f;
    }
    void flow(const ProcessRef& p, const FlowIds& f, const std::string& domain, std::uint64_t out, std::uint64_t in,
              bool final)
    {
        FlowSummaryEvent s;
        s.time = t;
        s.process = p;
        s.flow.socket_cookie = f.cookie;
        s.source = {"127.0.0.1", 40000};
        s.destination = f.dest;
        s.destination_domain = domain;
        s.domain_source = "sni";
        s.bytes_out = out;
        s.bytes_in = in;
        s.final = final;
        feed(s);
        step();
    }
    // connect + TLS + a periodic and a final summary
    void transfer(const ProcessRef& p, const std::string& domain, std::uint64_t out, std::uint64_t in)
    {
        auto f = connect(p, domain);
        flow(p, f, domain, out / 2, in / 2, false);
        flow(p, f, domain, out, in, true);
    }

    // A 64-byte flow summary from p to the `index`-th address of 10.0.0.0/8 (port 9999) on
    // connection `cookie`: what floods of small connections are made of.
    void small_flow(const ProcessRef& p, std::uint64_t cookie, std::size_t index, Transport transport = Transport::tcp)
    {
        FlowSummaryEvent s;
        s.time = t;
        s.process = p;
        s.flow.socket_cookie = cookie;
        s.transport = transport;
        s.destination = {fmt::format("10.{}.{}.{}", (index >> 16) & 255, (index >> 8) & 255, index & 255), 9999};
        s.bytes_out = 64;
        feed(s);
        step();
    }
    // A TLS write of `text` by p on connection `cookie` (as the uprobes capture it), at `offset`
    // in the connection's plaintext, scanned and fed as the pipeline does.
    void plaintext(const ProcessRef& p, std::uint64_t cookie, const std::string& text, std::uint64_t offset = 0)
    {
        PlaintextWrite w;
        w.offset = offset;
        w.time = t;
        w.process = p;
        w.flow.socket_cookie = cookie;
        w.source = "openssl";
        w.object = 1;
        w.write_size = text.size();
        for (char c : text) w.data.push_back(static_cast<std::byte>(c));
        feed(Event{engine.scan(w)});
        step();
    }

    int max_score() const
    {
        int m = 0;
        for (const auto& a : alerts) m = std::max(m, a.risk_score);
        return m;
    }
    const Alert* find(const std::string& subtechnique) const
    {
        for (const auto& a : alerts)
            if (a.subtechnique_id == subtechnique) return &a;
        return nullptr;
    }
    bool has_signal(const Alert& a, const std::string& name) const
    {
        for (const auto& s : a.signals)
            if (s.name == name) return true;
        return false;
    }
};

}  // namespace exfilwatch::detect::test
