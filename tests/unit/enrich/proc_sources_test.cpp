// Tests userspace/enrich/proc_sources.cpp: the hosts-file cache, the boot id and the host's roots
// against a fake /proc tree, the open-file scan against a fake fd table, fd_path and the start-up
// scan against this process's own /proc.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "enrich/hosts.hpp"
#include "enrich/proc_sources.hpp"
#include "temp_dir.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;
namespace fs = std::filesystem;

namespace {

struct FakeProc {
    test::TempDir dir{"ew-procsrc"};
    fs::path root = dir.path;
    // pid's mount namespace link and the hosts file under its root.
    void process(std::uint32_t pid, const std::string& mnt_ns, const std::string& hosts)
    {
        fs::path dir = root / std::to_string(pid);
        fs::create_directories(dir / "ns");
        fs::create_directories(dir / "root/etc");
        fs::remove(dir / "ns/mnt");
        fs::create_symlink(mnt_ns, dir / "ns/mnt");
        std::ofstream(dir / "root/etc/hosts", std::ios::trunc) << hosts;
    }
};

}  // namespace

TEST_CASE("hosts files are read once per mount namespace until the refresh period passes")
{
    FakeProc proc;
    proc.process(10, "mnt:[4026531841]", "10.0.0.1 a.example\n");
    proc.process(11, "mnt:[4026531841]", "10.0.0.2 b.example\n");  // same namespace: same file
    proc.process(20, "mnt:[4026532000]", "10.9.9.9 c.example\n");
    std::uint64_t now = 1'000;
    HostsFiles hosts(
        proc.root.string(), [&now] { return now; }, 60'000);

    CHECK(hosts(10) == "10.0.0.1 a.example\n");
    CHECK(hosts(11) == "10.0.0.1 a.example\n");  // cached for the namespace
    CHECK(hosts(20) == "10.9.9.9 c.example\n");
    CHECK(hosts.cached() == 2);

    proc.process(10, "mnt:[4026531841]", "10.0.0.3 d.example\n");
    CHECK(hosts(10) == "10.0.0.1 a.example\n");  // within the period
    now += 60'000;
    CHECK(hosts(10) == "10.0.0.3 d.example\n");  // refreshed
    CHECK(hosts(99).empty());                    // no such process
}

TEST_CASE("a process's namespace is looked up once per refresh period, afresh for a reused pid")
{
    FakeProc proc;
    proc.process(10, "mnt:[4026531841]", "10.0.0.1 a.example\n");
    proc.process(20, "mnt:[4026532000]", "10.9.9.9 c.example\n");
    std::uint64_t now = 1'000;
    HostsFiles hosts(
        proc.root.string(), [&now] { return now; }, 60'000);
    for (int connection = 0; connection < 100; ++connection) CHECK(hosts(10, 555) == "10.0.0.1 a.example\n");
    CHECK(hosts.namespace_lookups() == 1);

    // Pid 10 reused by a process of another namespace: its start time differs.
    proc.process(10, "mnt:[4026532000]", "10.9.9.9 c.example\n");
    CHECK(hosts(10, 777) == "10.9.9.9 c.example\n");
    CHECK(hosts.namespace_lookups() == 2);
    CHECK(hosts(10, 0) == "10.9.9.9 c.example\n");  // start time unknown: asked every time
    CHECK(hosts.namespace_lookups() == 3);

    // Gone after its namespace was learnt: the namespace's text is not emptied for the others.
    fs::remove_all(proc.root / "10");
    now += 60'000;
    CHECK(hosts(10, 777).empty());
    CHECK(hosts(20, 888) == "10.9.9.9 c.example\n");
}

TEST_CASE("a process whose namespace is remembered keeps its namespace's text when it is gone at a refresh")
{
    FakeProc proc;
    proc.process(10, "mnt:[4026531841]", "10.0.0.1 a.example\n");
    std::uint64_t now = 1'000;
    HostsFiles hosts(
        proc.root.string(), [&now] { return now; }, 60'000, 4096, 4);
    CHECK(hosts(10, 5) == "10.0.0.1 a.example\n");
    now += 30'000;
    proc.process(11, "mnt:[4026531841]", "10.0.0.1 a.example\n");
    CHECK(hosts(11, 6) == "10.0.0.1 a.example\n");
    fs::remove_all(proc.root / "10" / "root");  // exiting: its links are still there, its root not
    now += 40'000;  // the text and pid 10's namespace are due for a refresh; its hosts file cannot be read
    CHECK(hosts(10, 5) == "10.0.0.1 a.example\n");
    CHECK(hosts(11, 6) == "10.0.0.1 a.example\n");
    for (std::uint32_t pid = 100; pid < 110; ++pid) proc.process(pid, "mnt:[4026531841]", "x");
    for (std::uint32_t pid = 100; pid < 110; ++pid) hosts(pid, pid);  // past the process bound: starts over
    CHECK(hosts.namespace_lookups() == 13);
}

TEST_CASE("the hosts-file cache starts over past its namespace bound and reads at most hosts_file_max")
{
    FakeProc proc;
    proc.process(1, "mnt:[1]", std::string(hosts_file_max + 100, '#'));
    proc.process(2, "mnt:[2]", "x");
    proc.process(3, "mnt:[3]", "y");
    HostsFiles hosts(
        proc.root.string(), [] { return std::uint64_t{0}; }, 60'000, 2);
    CHECK(hosts(1).size() == hosts_file_max);
    CHECK(hosts(2) == "x");
    CHECK(hosts.cached() == 2);
    CHECK(hosts(3) == "y");
    CHECK(hosts.cached() == 1);
}

TEST_CASE("a cached hosts file costs its own size, not the read's buffer")
{
    FakeProc proc;
    const std::string text = "127.0.0.1 localhost\n10.0.0.1 registry.internal\n";
    constexpr std::uint32_t namespaces = 100;
    for (std::uint32_t pid = 1; pid <= namespaces; ++pid)
        proc.process(pid, "mnt:[" + std::to_string(4026530000 + pid) + "]", text);
    HostsFiles hosts(proc.root.string(), [] { return std::uint64_t{0}; });
    for (std::uint32_t pid = 1; pid <= namespaces; ++pid) CHECK(hosts(pid) == text);
    CHECK(hosts.cached() == namespaces);
    // A namespace's name and text, with the allocator's rounding: far under hosts_file_max each.
    CHECK(hosts.cached_bytes() <= namespaces * (text.size() + 64));
    CHECK(hosts.cached_bytes() >= namespaces * text.size());
}

TEST_CASE("the boot id is its first 8 hex digits without dashes")
{
    FakeProc proc;
    fs::create_directories(proc.root / "sys/kernel/random");
    std::ofstream(proc.root / "sys/kernel/random/boot_id") << "0a1b2c3d-4e5f-6789-abcd-ef0123456789\n";
    CHECK(read_boot_id(proc.root.string()) == "0a1b2c3d");
    CHECK(read_boot_id((proc.root / "missing").string()).empty());
}

TEST_CASE("the host's roots are pid 1's, then the ancestors' nearest first, then the monitor's own view")
{
    FakeProc proc;
    auto status = [&](std::uint32_t pid, std::uint32_t ppid) {
        fs::create_directories(proc.root / std::to_string(pid));
        std::ofstream(proc.root / std::to_string(pid) / "status")
            << "Name:\tx\nPid:\t" << pid << "\nPPid:\t" << ppid << "\n";
    };
    status(40, 30);  // the monitor
    status(30, 20);  // its runtime shim
    status(20, 1);
    const auto root = proc.root.string();
    CHECK(parent_pid(root, 40) == 30);
    CHECK(parent_pid(root, 99) == 0);  // gone
    CHECK(host_roots(root, 40) == std::vector<std::string>{root + "/1/root", root + "/30/root", root + "/20/root", ""});
    CHECK(host_roots(root, 99) == std::vector<std::string>{root + "/1/root", ""});
    status(50, 51);  // a parent loop (pid reuse mid-walk) ends at the bound
    status(51, 50);
    CHECK(host_roots(root, 50).size() == 18);
}

TEST_CASE("fd_path names an open fd of a live process, and nothing for a closed one")
{
    fs::path file = fs::temp_directory_path() / ("ew-fdpath-" + std::to_string(getpid()));
    std::ofstream(file) << "x";
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    auto self = static_cast<std::uint32_t>(getpid());
    CHECK(fd_path("/proc", self, fd) == fs::canonical(file).string());
    ::close(fd);
    CHECK(fd_path("/proc", self, fd).empty());
    fs::remove(file);
}

TEST_CASE("the start-up scan adds running processes but not the monitor itself")
{
    ProcessTable table("boot", ProcSource{});
    auto self = static_cast<std::uint32_t>(getpid());
    auto parent = static_cast<std::uint32_t>(getppid());
    auto found = scan_proc(table, "/proc", self, 0);
    CHECK(found >= 1);
    CHECK(table.contains(parent));
    CHECK_FALSE(table.contains(self));
    CHECK(scan_proc(table, "/nonexistent-proc", self, 0) == 0);
}

TEST_CASE("the start-up scan of open files finds a regular file held open, with the kernel's device encoding")
{
    FakeProc fake;
    fs::path file = fake.root / "held.txt";
    std::ofstream(file) << "x";
    fs::path pipe_like = fake.root / "dir";
    fs::create_directories(pipe_like);
    fs::create_directories(fake.root / "42/fd");
    fs::create_symlink(file, fake.root / "42/fd/3");
    fs::create_symlink(pipe_like, fake.root / "42/fd/4");  // not a regular file
    fs::create_directories(fake.root / "7/fd");
    fs::create_symlink(file, fake.root / "7/fd/3");  // the monitor's own: skipped
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    std::vector<OpenFile> found;
    auto n = scan_open_files(fake.root.string(), 7, 100, [&](const OpenFile& f) { found.push_back(f); });
    REQUIRE(n == 1);
    REQUIRE(found.size() == 1);
    CHECK(found[0].path == file.string());
    CHECK(found[0].inode == st.st_ino);
    CHECK(found[0].device == ((std::uint64_t{major(st.st_dev)} << 20) | minor(st.st_dev)));
    CHECK(scan_open_files(fake.root.string(), 7, 0, [&](const OpenFile&) { FAIL("no fd may be read"); }) == 0);
}
