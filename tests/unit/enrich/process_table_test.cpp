// Tests userspace/enrich/process_table.cpp: identity across exec and pid reuse, ancestry, the
// /proc fallback for processes never seen, and bounded memory.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "enrich/process_table.hpp"
#include "util/text.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;

namespace {

ProcSource fake_source(int& reads)
{
    ProcSource source;
    source.read = [&reads](std::uint32_t pid) -> std::optional<ProcessRef> {
        ++reads;
        if (pid != 500) return std::nullopt;
        ProcessRef ref;
        ref.pid = 500;
        ref.ppid = 1;
        ref.executable = "/usr/sbin/sshd";
        ref.name = "sshd";
        ref.args = {"sshd", "-D"};
        ref.start_time = 111;
        return ref;
    };
    source.container_of = [](std::uint32_t) {
        return std::optional<std::pair<std::string, std::string>>(std::pair<std::string, std::string>{});
    };
    return source;
}

ProcessRef image(std::uint32_t pid, std::uint32_t ppid, std::string exe, std::uint64_t start)
{
    ProcessRef ref;
    ref.pid = pid;
    ref.ppid = ppid;
    ref.executable = exe;
    ref.name = util::base_name(exe);
    ref.args = {exe};
    ref.start_time = start;
    return ref;
}

}  // namespace

TEST_CASE("fork then exec keeps the entity id and links the parent")
{
    int reads = 0;
    ProcessTable table("boot", fake_source(reads));
    table.add_existing(image(100, 1, "/bin/bash", 10));
    const auto& child = table.on_fork(1, 200, 100, 0, 20, 0, "bash");
    auto child_id = child.entity_id;
    CHECK(child.executable == "/bin/bash");  // inherits the image until exec
    CHECK(child.parent_entity_id == table.lookup(100).entity_id);
    const auto& execd = table.on_exec(2, image(200, 100, "/usr/bin/curl", 20));
    CHECK(execd.entity_id == child_id);
    CHECK(execd.name == "curl");
    CHECK(execd.parent_entity_id == table.lookup(100).entity_id);
    CHECK(reads == 0);
}

TEST_CASE("pid reuse gives a new entity id")
{
    int reads = 0;
    ProcessTable table("boot", fake_source(reads));
    table.add_existing(image(1, 0, "/sbin/init", 1));
    auto first = table.on_fork(1, 300, 1, 0, 1000, 0, "init").entity_id;
    table.on_exit(2, 300, 1000);
    auto second = table.on_fork(3, 300, 1, 0, 5000, 0, "init").entity_id;
    CHECK(first != second);
}

TEST_CASE("unknown pid is read from /proc once, then cached")
{
    int reads = 0;
    ProcessTable table("boot", fake_source(reads));
    CHECK(table.lookup(500).name == "sshd");
    CHECK(table.lookup(500).args.size() == 2);
    CHECK(reads == 1);
    CHECK(table.lookup(501).pid == 501);  // gone: a stand-in with the pid
    CHECK(table.stats().unknown_lookups == 2);
}

TEST_CASE("container identity: kept from exec, asked of /proc per cgroup, a gone process not cached")
{
    const std::string id(64, 'a');
    std::vector<std::uint32_t> asked;
    ProcSource source;
    source.read = [](std::uint32_t) -> std::optional<ProcessRef> { return std::nullopt; };
    source.container_of = [&](std::uint32_t pid) -> std::optional<std::pair<std::string, std::string>> {
        asked.push_back(pid);
        if (pid == 300) return std::nullopt;  // exited before its exec record was read
        return std::pair<std::string, std::string>{id, ""};
    };
    ProcessTable table("boot", source);

    auto from_kernel = image(200, 1, "/bin/busybox", 5);
    from_kernel.cgroup_id = 7;
    from_kernel.container_id = std::string(64, 'b');  // the exec record's cgroup path named it
    CHECK(table.on_exec(1, from_kernel).container_id == std::string(64, 'b'));
    CHECK(asked.empty());

    auto gone = image(300, 1, "/bin/wget", 6);
    gone.cgroup_id = 9;
    CHECK(table.on_exec(2, gone).container_id.empty());
    auto alive = image(301, 1, "/bin/wget", 7);
    alive.cgroup_id = 9;
    CHECK(table.on_exec(3, alive).container_id == id);  // asked again: nothing was cached for 9
    auto sibling = image(302, 1, "/bin/wget", 8);
    sibling.cgroup_id = 9;
    CHECK(table.on_exec(4, sibling).container_id == id);  // now cached
    CHECK(asked == std::vector<std::uint32_t>{300, 301});
}

TEST_CASE("exited processes linger for late events, then expire; the cap evicts")
{
    int reads = 0;
    ProcessTable table("boot", fake_source(reads), 2, 1000);
    for (std::uint32_t pid = 10; pid < 15; ++pid) {
        table.on_fork(0, pid, 1, 0, pid, 0, "x");
        table.on_exit(100, pid, pid);
    }
    table.expire(200);  // within linger: only the cap applies
    CHECK(table.stats().exited == 2);
    CHECK(table.stats().evicted == 3);
    table.expire(5000);
    CHECK(table.stats().exited == 0);
}

TEST_CASE("read_proc_process reads this very process")
{
    auto self = read_proc_process("/proc", static_cast<std::uint32_t>(getpid()));
    REQUIRE(self.has_value());
    CHECK(self->pid == static_cast<std::uint32_t>(getpid()));
    CHECK(self->ppid == static_cast<std::uint32_t>(getppid()));
    CHECK(self->executable.find("unit_enrich") != std::string::npos);
    CHECK(!self->args.empty());
    CHECK(!read_proc_process("/proc", 0x7ffffff0).has_value());
}

TEST_CASE("read_proc_container: a container, a host process, a process gone")
{
    char root_template[] = "/tmp/ew-proc-XXXXXX";
    REQUIRE(mkdtemp(root_template) != nullptr);
    const std::filesystem::path root(root_template);
    const std::string id = "f20fa25f3ba3d9c4f847bfe4d6efec688eaf1fc92206fcea367e5067eed6e9b9";
    auto write = [&](const char* pid, const std::string& text) {
        std::filesystem::create_directories(root / pid);
        std::ofstream(root / pid / "cgroup") << text;
    };
    write("10", "4:memory:/docker/" + id + "\n0::/docker/" + id + "\n");
    write("11", "0::/user.slice/session-1.scope\n");
    write("12", "");  // what an exited process's file reads

    auto in_container = read_proc_container(root.string(), 10);
    REQUIRE(in_container.has_value());
    CHECK(in_container->first == id);
    auto host = read_proc_container(root.string(), 11);
    REQUIRE(host.has_value());
    CHECK(host->first.empty());
    CHECK_FALSE(read_proc_container(root.string(), 12).has_value());
    CHECK_FALSE(read_proc_container(root.string(), 13).has_value());
    CHECK(read_proc_container("/proc", static_cast<std::uint32_t>(getpid())).has_value());
    std::filesystem::remove_all(root);
}

TEST_CASE("read_proc_host_pid: a container's pid found by its namespace and NSpid; the host's own is itself")
{
    char root_template[] = "/tmp/ew-proc-XXXXXX";
    REQUIRE(mkdtemp(root_template) != nullptr);
    const std::filesystem::path root(root_template);
    auto process = [&](const char* pid, const char* ns, const std::string& nspid) {
        std::filesystem::create_directories(root / pid / "ns");
        std::filesystem::create_symlink(ns, root / pid / "ns" / "pid");
        std::ofstream(root / pid / "status")
            << "Name:\tpython3\nTgid:\t" << pid << "\nNSpid:\t" << nspid << "\nNSpgid:\t1\n";
    };
    process("4100", "pid:[4026531836]", "4100");     // the host's namespace
    process("4200", "pid:[4026532999]", "4200\t1");  // a container's init
    process("4201", "pid:[4026532999]", "4201\t7");
    process("4300", "pid:[4026533111]", "4300\t7");  // pid 7 of another container
    std::filesystem::create_directories(root / "self");

    CHECK(read_proc_host_pid(root.string(), 4026532999, 7) == std::optional<std::uint32_t>{4201});
    CHECK(read_proc_host_pid(root.string(), 4026533111, 7) == std::optional<std::uint32_t>{4300});
    CHECK(read_proc_host_pid(root.string(), 4026532999, 1) == std::optional<std::uint32_t>{4200});
    CHECK_FALSE(read_proc_host_pid(root.string(), 4026532999, 8).has_value());
    CHECK_FALSE(read_proc_host_pid(root.string(), 1, 7).has_value());
    CHECK_FALSE(read_proc_host_pid("/nonexistent-proc", 4026532999, 7).has_value());

    // Through the table: 0 is the host's namespace (no translation); no source, no answer.
    ProcessTable table("boot", ProcSource{});
    CHECK(table.host_pid(0, 4321) == std::optional<std::uint32_t>{4321});
    CHECK_FALSE(table.host_pid(4026532999, 7).has_value());
    std::filesystem::remove_all(root);
}
