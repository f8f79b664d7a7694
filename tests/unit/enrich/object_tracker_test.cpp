// Tests for enrich/object_tracker: cumulative counts across a kernel eviction, the unreported
// tail of a pair at process exit, and evictions counted.
#include <doctest/doctest.h>

#include <map>

#include "enrich/object_tracker.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;

namespace {

decode::ObjectIo io(std::uint32_t pid, std::uint64_t id, std::uint8_t direction, std::uint64_t bytes, bool first)
{
    decode::ObjectIo r;
    r.header.pid = pid;
    r.kind = EW_OBJ_PIPE;
    r.object_id = id;
    r.direction = direction;
    r.bytes = bytes;
    r.first = first;
    r.fd = 1;
    return r;
}

ProcessRef proc(std::uint32_t pid)
{
    ProcessRef p;
    p.pid = pid;
    return p;
}

// The kernel's object_io map: a fetch reads a pair's bytes, a take deletes it.
ObjectCounterSource counters_of(std::map<ObjectPairKey, std::uint64_t>& kernel)
{
    return ObjectCounterSource{[&kernel](const ObjectPairKey& key, bool take) -> std::optional<std::uint64_t> {
        auto it = kernel.find(key);
        if (it == kernel.end()) return std::nullopt;
        auto value = it->second;
        if (take) kernel.erase(it);
        return value;
    }};
}

}  // namespace

TEST_CASE("a pair's events are cumulative, also after the kernel evicted and restarted it")
{
    ObjectTracker tracker;
    auto first = tracker.on_record(1, proc(7), io(7, 42, EW_IO_WRITE, 100, true));
    CHECK(first.object == ObjectKind::pipe);
    CHECK(first.object_id == 42);
    CHECK(first.direction == IoDirection::write);
    CHECK(first.bytes == 100);
    CHECK(tracker.on_record(2, proc(7), io(7, 42, EW_IO_WRITE, 250, false)).bytes == 250);
    // Evicted in the kernel: a new first record counting from zero again.
    CHECK(tracker.on_record(3, proc(7), io(7, 42, EW_IO_WRITE, 10, true)).bytes == 260);
    CHECK(tracker.stats().evicted_pairs == 1);
    // The other direction of the same object is its own pair.
    CHECK(tracker.on_record(4, proc(7), io(7, 42, EW_IO_READ, 5, true)).bytes == 5);
    CHECK(tracker.stats().tracked_pairs == 2);
}

TEST_CASE("at exit the bytes the kernel counted after the last record are reported, and the pairs forgotten")
{
    std::map<ObjectPairKey, std::uint64_t> kernel;
    ObjectTracker tracker(counters_of(kernel));
    tracker.on_record(1, proc(7), io(7, 42, EW_IO_WRITE, 100, true));
    tracker.on_record(1, proc(7), io(7, 43, EW_IO_READ, 30, true));
    tracker.on_record(1, proc(8), io(8, 42, EW_IO_READ, 100, true));
    kernel[ObjectPairKey{7, EW_OBJ_PIPE, EW_IO_WRITE, 42}] = 900;  // grew after the first record
    kernel[ObjectPairKey{7, EW_OBJ_PIPE, EW_IO_READ, 43}] = 30;    // did not
    auto finals = tracker.on_exit(2, proc(7));
    REQUIRE(finals.size() == 1);
    CHECK(finals[0].object_id == 42);
    CHECK(finals[0].bytes == 900);
    CHECK(kernel.empty());
    CHECK(tracker.stats().tracked_pairs == 1);  // pid 8's pair stays
    // pid 8's pair is gone from the kernel (evicted): counted at its exit.
    CHECK(tracker.on_exit(3, proc(8)).empty());
    CHECK(tracker.stats().evicted_pairs == 1);
    CHECK(tracker.stats().tracked_pairs == 0);
}

TEST_CASE("past its cap the table drops the oldest pair and counts it")
{
    ObjectTracker tracker({}, 2);
    tracker.on_record(1, proc(1), io(1, 1, EW_IO_READ, 1, true));
    tracker.on_record(2, proc(2), io(2, 2, EW_IO_READ, 1, true));
    tracker.on_record(3, proc(3), io(3, 3, EW_IO_READ, 1, true));
    CHECK(tracker.stats().tracked_pairs == 2);
    CHECK(tracker.stats().evicted_pairs == 1);
}

TEST_CASE("a server's thousands of pairs: evicted oldest first across processes, the rest taken in order at exit")
{
    std::map<ObjectPairKey, std::uint64_t> kernel;
    ObjectTracker tracker(counters_of(kernel), 1000);
    tracker.on_record(1, proc(5), io(5, 1, EW_IO_WRITE, 10, true));  // the oldest: evicted first
    for (std::uint64_t socket = 3000; socket > 1000; --socket) {     // newest ids first
        tracker.on_record(2, proc(9), io(9, socket, EW_IO_READ, 1, true));
        kernel[ObjectPairKey{9, EW_OBJ_PIPE, EW_IO_READ, socket}] = 2;  // each grew after its record
    }
    CHECK(tracker.stats().tracked_pairs == 1000);
    CHECK(tracker.stats().evicted_pairs == 1001);
    CHECK(tracker.on_exit(3, proc(5)).empty());  // its pair was the first evicted
    auto finals = tracker.on_exit(4, proc(9));
    REQUIRE(finals.size() == 1000);
    for (std::size_t i = 0; i < finals.size(); ++i) CHECK(finals[i].object_id == 1001 + i);  // the kept, in order
    CHECK(tracker.stats().tracked_pairs == 0);
    // The table is usable after: no stale age entry of the pairs taken.
    tracker.on_record(5, proc(9), io(9, 7, EW_IO_READ, 1, true));
    CHECK(tracker.stats().tracked_pairs == 1);
}
