// Tests userspace/enrich/file_tracker.cpp against a fake counter map.
#include <doctest/doctest.h>

#include <sys/sysmacros.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "enrich/file_tracker.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;

namespace {

struct FakeKernel {
    std::map<FileKey, FileCounters> counters;
    std::vector<FileKey> moved;  // the file_changed queue
    std::uint64_t fetches = 0;
    std::uint64_t batch_passes = 0;
    // The kernel counting a read or write of `key`: its counters, and a notice in the queue.
    void move(const FileKey& key, const FileCounters& now)
    {
        counters[key] = now;
        moved.push_back(key);
    }
    FileCounterSource source()
    {
        FileCounterSource s;
        s.fetch = [this](const FileKey& key, bool take) -> std::optional<FileCounters> {
            ++fetches;
            auto it = counters.find(key);
            if (it == counters.end()) return std::nullopt;
            auto value = it->second;
            if (take) counters.erase(it);
            return value;
        };
        s.fd_path = [](std::uint32_t, std::int32_t fd) { return fd == 5 ? std::string("/from/proc") : std::string(); };
        s.moved = [this] { return std::exchange(moved, {}); };
        s.take_all = [this](std::uint32_t pid) {
            ++batch_passes;
            std::vector<std::pair<FileKey, FileCounters>> out;
            for (auto it = counters.begin(); it != counters.end();) {
                if (it->first.pid != pid) {
                    ++it;
                    continue;
                }
                out.emplace_back(*it);
                it = counters.erase(it);
            }
            std::reverse(out.begin(), out.end());  // the map's order is not the tracker's
            return out;
        };
        return s;
    }
};

decode::FileOpen open_record(std::uint32_t pid, std::string name, std::string base, std::uint64_t ino,
                             std::int32_t fd = 3)
{
    decode::FileOpen open;
    open.header.pid = pid;
    open.fd = fd;
    open.requested_path = std::move(name);
    open.base_directory = std::move(base);
    open.inode = ino;
    open.device = (8u << 20) | 1;
    return open;
}

ProcessRef proc(std::uint32_t pid)
{
    ProcessRef ref;
    ref.pid = pid;
    return ref;
}

}  // namespace

TEST_CASE("the kernel's name of the opened file wins over the string the process passed")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source());
    auto record = open_record(7, "/tmp/link-to-key", "", 42);
    record.resolved_path = "/home/u/.ssh/id_rsa";
    auto event = tracker.on_open(10, proc(7), record);
    CHECK(event.path == "/home/u/.ssh/id_rsa");
    CHECK(event.requested_path == "/tmp/link-to-key");
    kernel.counters[FileKey{7, 42, (8u << 20) | 1}] = FileCounters{100, 0, false};
    auto summaries = tracker.on_exit(20, proc(7));
    REQUIRE(summaries.size() == 1);
    CHECK(summaries[0].path == "/home/u/.ssh/id_rsa");
    // A walk cut short does not pass its first kept directory off as the root.
    auto deep = open_record(7, "/a/b/c", "", 43);
    deep.resolved_path = "/proc/d0/.ssh/id_rsa";
    deep.truncated = true;
    CHECK(tracker.on_open(30, proc(7), deep).path == "/[truncated]/proc/d0/.ssh/id_rsa");
}

TEST_CASE("open resolves the path; exit reports exact bytes and forgets the pair")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source());
    auto event = tracker.on_open(10, proc(7), open_record(7, "tmp/ew-f", "/", 42));
    CHECK(event.path == "/tmp/ew-f");
    CHECK(event.requested_path == "tmp/ew-f");
    CHECK(event.error == 0);
    kernel.counters[FileKey{7, 42, (8u << 20) | 1}] = FileCounters{12345, 0, false};
    auto summaries = tracker.on_exit(20, proc(7));
    REQUIRE(summaries.size() == 1);
    CHECK(summaries[0].path == "/tmp/ew-f");
    CHECK(summaries[0].bytes_read == 12345);
    CHECK(summaries[0].device == makedev(8, 1));
    CHECK(tracker.stats().tracked_pairs == 0);
    CHECK(kernel.counters.empty());
}

TEST_CASE("failed open carries the errno and tracks nothing")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source());
    auto event = tracker.on_open(10, proc(7), open_record(7, "/nope", "", 0, -2));
    CHECK(event.error == 2);
    CHECK(event.path == "/nope");
    CHECK(tracker.stats().tracked_pairs == 0);
}

TEST_CASE("a child reading an inherited fd is named from the parent's open")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source());
    tracker.on_open(10, proc(7), open_record(7, "/secret", "", 42));
    decode::FileFirstRead read;
    read.header.pid = 8;
    read.fd = 3;
    read.inode = 42;
    read.device = (8u << 20) | 1;
    tracker.on_first_read(proc(8), read);
    kernel.counters[FileKey{8, 42, (8u << 20) | 1}] = FileCounters{100, 0, false};
    auto summaries = tracker.on_exit(20, proc(8));
    REQUIRE(summaries.size() == 1);
    CHECK(summaries[0].path == "/secret");
    CHECK(summaries[0].bytes_read == 100);
}

TEST_CASE("files are known by (device, inode): inode 1 on device 31 is not inode 2 on device 0")
{
    // Keyed by inode * 31 + device, both were 62: the second file's read took the first's path.
    FakeKernel kernel;
    FileTracker tracker(kernel.source());
    auto open = open_record(7, "/home/u/.ssh/id_rsa", "", 1);
    open.device = 31;
    tracker.on_open(10, proc(7), open);
    decode::FileFirstRead read;
    read.header.pid = 8;
    read.fd = 3;  // not resolvable through /proc in the fake
    read.inode = 2;
    read.device = 0;
    tracker.on_first_read(proc(8), read);
    kernel.counters[FileKey{8, 2, 0}] = FileCounters{100, 0, false};
    auto summaries = tracker.on_exit(20, proc(8));
    REQUIRE(summaries.size() == 1);
    CHECK(summaries[0].path == "[unknown]");

    // The same inode on another device is another file too.
    decode::FileFirstRead other = read;
    other.header.pid = 9;
    other.inode = 1;
    other.device = 32;
    tracker.on_first_read(proc(9), other);
    kernel.counters[FileKey{9, 1, 32}] = FileCounters{5, 0, false};
    summaries = tracker.on_exit(30, proc(9));
    REQUIRE(summaries.size() == 1);
    CHECK(summaries[0].path == "[unknown]");
}

TEST_CASE("unknown inode falls back to /proc/<pid>/fd; evicted counters are counted")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source());
    decode::FileFirstRead read;
    read.fd = 5;
    read.inode = 9;
    tracker.on_first_read(proc(8), read);
    CHECK(tracker.on_exit(20, proc(8)).empty());  // counters gone from the kernel map
    CHECK(tracker.stats().evicted_pairs == 1);
}

TEST_CASE("refresh reports growth only")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source());
    tracker.on_open(10, proc(7), open_record(7, "/big", "", 1));
    FileKey key{7, 1, (8u << 20) | 1};
    kernel.move(key, FileCounters{10, 0, false});
    ProcessRef p = proc(7);
    auto live = [&p](std::uint32_t) -> const ProcessRef* { return &p; };
    CHECK(tracker.refresh(11, live).size() == 1);
    CHECK(tracker.refresh(12, live).empty());
    kernel.move(key, FileCounters{20, 0, false});
    auto again = tracker.refresh(13, live);
    REQUIRE(again.size() == 1);
    CHECK(again[0].bytes_read == 20);
}

TEST_CASE("refresh looks at the pairs that moved, however many are tracked")
{
    ProcessRef p = proc(7);
    auto live = [&p](std::uint32_t) -> const ProcessRef* { return &p; };
    const TimeNs second = 1'000'000'000;
    // The same reader among 10 and among 20,000 idle pairs costs the same fetches.
    for (std::uint64_t idle : {10U, 20000U}) {
        FakeKernel kernel;
        FileTracker tracker(kernel.source(), FileTracker::default_max_pairs, second);
        for (std::uint64_t ino = 1; ino <= idle; ++ino) {
            tracker.on_open(10, p, open_record(7, "/idle", "", ino));
            kernel.counters[FileKey{7, ino, (8u << 20) | 1}] = FileCounters{1, 0, false};
        }
        tracker.on_open(10, p, open_record(7, "/busy", "", 0));
        const FileKey busy{7, 0, (8u << 20) | 1};
        kernel.move(busy, FileCounters{100, 0, false});
        CAPTURE(idle);
        auto first = tracker.refresh(1 * second, live);
        REQUIRE(first.size() == 1);
        CHECK(first[0].path == "/busy");
        // Read on within the kernel's quiet second (no new notice): the next refresh still looks.
        kernel.counters[busy].bytes_read = 150;
        auto quiet = tracker.refresh(2 * second, live);
        REQUIRE(quiet.size() == 1);
        CHECK(quiet[0].bytes_read == 150);
        // Past it, a pair with no notice is not looked at.
        CHECK(tracker.refresh(3 * second, live).empty());
        CHECK(tracker.refresh(4 * second, live).empty());
        CHECK(tracker.refresh_fetches() == 2);
        CHECK(kernel.fetches == 2);
    }
}

TEST_CASE("a notice that comes before the pair's open record is kept until the record arrives")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source());
    ProcessRef p = proc(7);
    auto live = [&p](std::uint32_t) -> const ProcessRef* { return &p; };
    const FileKey key{7, 42, (8u << 20) | 1};
    kernel.move(key, FileCounters{64, 0, false});  // the queue is read before the ring caught up
    CHECK(tracker.refresh(1'000'000'000, live).empty());
    tracker.on_open(10, p, open_record(7, "/late", "", 42));
    auto late = tracker.refresh(2'000'000'000, live);
    REQUIRE(late.size() == 1);
    CHECK(late[0].path == "/late");
    CHECK(late[0].bytes_read == 64);
}

TEST_CASE("past its cap the tracker evicts the pair tracked the longest, not the lowest pid")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source(), 2);
    tracker.on_open(10, proc(900), open_record(900, "/first", "", 1));  // high pid, oldest
    tracker.on_open(11, proc(5), open_record(5, "/second", "", 2));     // low pid (pid reuse)
    tracker.on_open(12, proc(6), open_record(6, "/third", "", 3));
    CHECK(tracker.stats().evicted_pairs == 1);
    CHECK(tracker.stats().tracked_pairs == 2);
    kernel.counters[FileKey{5, 2, (8u << 20) | 1}] = FileCounters{7, 0, false};
    kernel.counters[FileKey{900, 1, (8u << 20) | 1}] = FileCounters{9, 0, false};
    auto kept = tracker.on_exit(20, proc(5));
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].path == "/second");
    CHECK(tracker.on_exit(21, proc(900)).empty());  // evicted: nothing tracked for it any more
    CHECK(tracker.stats().tracked_pairs == 1);
    tracker.on_open(22, proc(7), open_record(7, "/fourth", "", 4));  // room again after the exits
    CHECK(tracker.stats().evicted_pairs == 1);
}

TEST_CASE("write times: a write through an inherited fd is a pair, its last write is reported when it moves")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source());
    tracker.on_open(10, proc(7), open_record(7, "/tmp/out", "", 42));  // the shell's `> /tmp/out`
    decode::FileFirstRead write;
    write.header.pid = 8;
    write.fd = 1;
    write.write = true;
    write.inode = 42;
    write.device = (8u << 20) | 1;
    tracker.on_first_read(proc(8), write);
    const FileKey key{8, 42, (8u << 20) | 1};
    kernel.counters[key] = FileCounters{0, 0, true, 1000};
    auto live = [](std::uint32_t pid) -> const ProcessRef* {
        static ProcessRef p = proc(8);
        return pid == 8 ? &p : nullptr;
    };
    auto first = tracker.refresh(2000, live);
    REQUIRE(first.size() == 1);
    CHECK(first[0].path == "/tmp/out");
    CHECK(first[0].opened_for_write);
    CHECK(first[0].last_write == 1000);
    CHECK(tracker.refresh(3000, live).empty());        // nothing moved
    kernel.move(key, FileCounters{0, 0, true, 2500});  // written again: no byte count moved, the time did
    auto again = tracker.refresh(4000, live);
    REQUIRE(again.size() == 1);
    CHECK(again[0].last_write == 2500);
    // A shared writable mapping has no write time: it can be as late as the summary.
    kernel.counters[key].last_write = write_untimed;
    auto exit = tracker.on_exit(5000, proc(8));
    REQUIRE(exit.size() == 1);
    CHECK(exit[0].last_write == 5000);
}

TEST_CASE("a file open before the start is named from the start-up scan once its reader is gone")
{
    FakeKernel kernel;
    FileTracker tracker(kernel.source(), 64);
    const std::uint64_t device = (8u << 20) | 1;
    tracker.on_open_at_start(device, 77, "/home/u/.ssh/id_rsa");
    // Opens of other files fill and clear the path cache; the scan's entries stay.
    for (std::uint64_t i = 0; i < 200; ++i) tracker.on_open(1, proc(3), open_record(3, "f", "/tmp", 1000 + i));
    decode::FileFirstRead read;
    read.fd = 6;  // fd_path knows nothing of it: the process has exited
    read.inode = 77;
    read.device = device;
    tracker.on_first_read(proc(9), read);
    kernel.counters[FileKey{9, 77, device}] = FileCounters{411, 0, false, 0};
    auto out = tracker.on_exit(20, proc(9));
    REQUIRE(out.size() == 1);
    CHECK(out[0].path == "/home/u/.ssh/id_rsa");
    CHECK(out[0].bytes_read == 411);
}

TEST_CASE("an exit with many pairs takes them in one pass: the same summaries, no fetch per pair")
{
    CHECK_FALSE(FileTracker::takes_all(FileTracker::take_all_min_pairs - 1, FileTracker::take_all_min_pairs - 1));
    CHECK_FALSE(FileTracker::takes_all(2000, 60000));  // a pass over a full map costs more than 2000 fetches
    CHECK(FileTracker::takes_all(16384, 16400));
    for (const std::size_t files : {FileTracker::take_all_min_pairs - 1, FileTracker::take_all_min_pairs * 4}) {
        FakeKernel kernel;
        FileTracker tracker(kernel.source());
        tracker.on_open(1, proc(3), open_record(3, "/home/u/other", "", 999'999));  // another process's pair
        kernel.counters[FileKey{3, 999'999, (8u << 20) | 1}] = FileCounters{7, 0, false};
        for (std::uint64_t i = 0; i < files; ++i) {
            tracker.on_open(10, proc(7), open_record(7, "/srv/tree/f" + std::to_string(i), "", 1000 + i));
            // The last file's counters were evicted from the kernel's map: counted, no summary.
            if (i + 1 < files) kernel.counters[FileKey{7, 1000 + i, (8u << 20) | 1}] = FileCounters{100 + i, 0, false};
        }
        auto summaries = tracker.on_exit(20, proc(7));
        const bool batched = files >= FileTracker::take_all_min_pairs;
        CHECK(kernel.batch_passes == (batched ? 1 : 0));
        CHECK(kernel.fetches == (batched ? 0 : files));
        CHECK(tracker.batch_takes() == (batched ? 1 : 0));
        REQUIRE(summaries.size() == files - 1);
        for (std::size_t i = 0; i < summaries.size(); ++i) {
            CHECK(summaries[i].path == "/srv/tree/f" + std::to_string(i));
            CHECK(summaries[i].bytes_read == 100 + i);
        }
        CHECK(tracker.stats().evicted_pairs == 1);
        CHECK(tracker.stats().tracked_pairs == 1);                             // only pid 3's
        CHECK(kernel.counters.contains(FileKey{3, 999'999, (8u << 20) | 1}));  // not taken
    }
}
