// Tests userspace/enrich/socket_owners.cpp against a fake /proc tree of fd symlinks.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "enrich/socket_owners.hpp"
#include "temp_dir.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;
namespace fs = std::filesystem;

namespace {

struct FakeProc {
    test::TempDir dir{"ew-proc"};
    fs::path root = dir.path;
    void fd(std::uint32_t pid, int fd, const std::string& target)
    {
        fs::path dir = root / std::to_string(pid) / "fd";
        fs::create_directories(dir);
        fs::create_symlink(target, dir / std::to_string(fd));
    }
};

}  // namespace

TEST_CASE("socket link targets")
{
    CHECK(parse_socket_link("socket:[4242]") == 4242);
    CHECK(parse_socket_link("socket:[18446744073709551615]") == 18446744073709551615ULL);
    CHECK(parse_socket_link("socket:[]") == 0);
    CHECK(parse_socket_link("socket:[12x]") == 0);
    CHECK(parse_socket_link("socket:[99999999999999999999]") == 0);  // overflows
    CHECK(parse_socket_link("pipe:[4242]") == 0);
    CHECK(parse_socket_link("/tmp/socket:[4242]") == 0);
}

TEST_CASE("an inode is found in the fd table that holds it, skipping the monitor's own")
{
    FakeProc proc;
    proc.fd(100, 0, "/dev/null");
    proc.fd(100, 3, "socket:[555]");
    proc.fd(200, 7, "socket:[777]");
    proc.fd(300, 4, "socket:[888]");  // the monitor itself
    fs::create_directories(proc.root / "self");
    SocketOwners owners(proc.root.string(), 300);
    CHECK(owners.find(555, 1'000) == 100);
    CHECK(owners.find(777, 1'001) == 200);
    CHECK(owners.find(888, 1'002) == 0);
    CHECK(owners.find(0, 1'003) == 0);
    auto stats = owners.stats();
    CHECK(stats.found == 2);
    CHECK(stats.not_found == 1);  // inode 0 is not a lookup
    CHECK(stats.cached == 2);
}

TEST_CASE("a miss rescans only after the rescan interval")
{
    FakeProc proc;
    proc.fd(100, 3, "socket:[1]");
    SocketOwners owners(proc.root.string(), 0, 1u << 20, 1'000);
    CHECK(owners.find(1, 10'000) == 100);
    CHECK(owners.stats().scans == 1);
    proc.fd(101, 3, "socket:[2]");       // a socket that appears after the scan
    CHECK(owners.find(2, 10'500) == 0);  // within the interval: answered from the cache
    CHECK(owners.stats().scans == 1);
    CHECK(owners.find(2, 11'000) == 101);
    CHECK(owners.stats().scans == 2);
    CHECK(owners.find(1, 11'001) == 100);  // a hit never rescans
    CHECK(owners.stats().scans == 2);
}

TEST_CASE("a socket closed after the start-up scan keeps its owner")
{
    FakeProc proc;
    proc.fd(100, 3, "socket:[1]");
    SocketOwners owners(proc.root.string(), 0, 1u << 20, 1'000);
    owners.scan(5'000);
    fs::remove_all(proc.root / "100");
    proc.fd(101, 3, "socket:[2]");
    CHECK(owners.find(2, 10'000) == 101);  // a miss rescans, and the rescan adds
    CHECK(owners.find(1, 10'001) == 100);
    CHECK(owners.stats().scans == 2);
}

TEST_CASE("a scan reads at most max_fds links")
{
    FakeProc proc;
    for (int fd = 0; fd < 10; ++fd) proc.fd(100, fd, "socket:[" + std::to_string(1000 + fd) + "]");
    SocketOwners owners(proc.root.string(), 0, 4);
    owners.find(1000, 1);
    CHECK(owners.stats().cached == 4);
}
