// Tests userspace/kernel/ring_merge.cpp with fake rings: bounded drains of two rings give every
// record once, in kernel time order, whatever the budget and however far one ring runs ahead of
// the other; what is held back stays bounded.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <vector>

#include "kernel/ring_merge.hpp"
#include "records.h"

using namespace exfilwatch;
using namespace exfilwatch::kernel;

namespace {

// A ring: records (a header with their time) in the order the kernel wrote them.
struct FakeRing {
    std::deque<std::vector<std::byte>> records;
    void write(std::uint64_t time_ns, std::size_t size = sizeof(wire::ew_header))
    {
        std::vector<std::byte> record(size);
        wire::ew_header header{};
        header.time_ns = time_ns;
        std::memcpy(record.data(), &header, sizeof(header));
        records.push_back(std::move(record));
    }
    // What libbpf does: hands records over until the callback says stop (that record is taken).
    void consume(RingMerge& merge, std::size_t ring)
    {
        while (!records.empty()) {
            auto record = std::move(records.front());
            records.pop_front();
            if (!merge.add(ring, record)) break;
        }
    }
};

// One drain of both rings; the times of the records it gives, in order.
std::vector<std::uint64_t> drain(RingMerge& merge, std::array<FakeRing, ring_count>& rings, std::uint64_t cutoff)
{
    RecordBatch batch;
    merge.begin(batch);
    for (std::size_t ring = 0; ring < ring_count; ++ring)
        if (merge.reading(ring)) rings[ring].consume(merge, ring);
    std::size_t n = merge.finish(cutoff);
    REQUIRE(n == batch.spans.size());
    std::vector<std::uint64_t> times;
    for (auto span : batch.spans) times.push_back(RingMerge::record_time(batch, span));
    return times;
}

// Drains until nothing is pending; checks each drain is bounded and the whole is in order.
std::vector<std::uint64_t> drain_all(RingMerge& merge, std::array<FakeRing, ring_count>& rings, std::uint64_t cutoff,
                                     std::size_t per_drain_max, std::size_t held_max)
{
    std::vector<std::uint64_t> all;
    for (int drains = 0; drains < 100000; ++drains) {
        auto got = drain(merge, rings, cutoff);
        CHECK(got.size() <= per_drain_max);
        CHECK(merge.held() <= held_max);
        all.insert(all.end(), got.begin(), got.end());
        bool empty = rings[0].records.empty() && rings[1].records.empty();
        if (empty && !merge.cut_short() && merge.held() == 0) break;
        if (empty && !merge.cut_short() && got.empty()) break;  // only records past the cutoff are left
    }
    return all;
}

}  // namespace

TEST_CASE("two rings drained whole come out merged by time; records stamped after the cut-off wait")
{
    RingMerge merge(RingMerge::Budget{100, 1u << 20});
    std::array<FakeRing, ring_count> rings;
    for (std::uint64_t t : {10, 30, 50, 70}) rings[0].write(t);
    for (std::uint64_t t : {20, 40, 60}) rings[1].write(t);
    auto first = drain(merge, rings, 55);
    CHECK(first == std::vector<std::uint64_t>{10, 20, 30, 40, 50});
    CHECK(merge.held() == 2);
    CHECK_FALSE(merge.cut_short());
    rings[1].write(65);
    auto second = drain(merge, rings, 100);
    CHECK(second == std::vector<std::uint64_t>{60, 65, 70});
    CHECK(merge.held() == 0);
}

TEST_CASE("a drain stops each ring at its budget, and holds what the other gave past the cut ring's last record")
{
    RingMerge merge(RingMerge::Budget{4, 1u << 20});
    std::array<FakeRing, ring_count> rings;
    for (std::uint64_t t = 1; t <= 20; ++t) rings[0].write(t);  // a storm of decision records
    for (std::uint64_t t : {2, 9, 15}) rings[1].write(t);       // a few captures
    auto first = drain(merge, rings, 1000);
    // ring 0 is cut after 4 records (1..4): the capture stamped 9 and 15 must wait for 5..8 etc.
    CHECK(first == std::vector<std::uint64_t>{1, 2, 2, 3, 4});
    CHECK(merge.cut_short());
    CHECK(rings[0].records.size() == 16);
    CHECK(merge.held() == 2);
    auto rest = drain_all(merge, rings, 1000, 8, 8);
    std::vector<std::uint64_t> all = first;
    all.insert(all.end(), rest.begin(), rest.end());
    CHECK(all.size() == 23);
    CHECK(std::is_sorted(all.begin(), all.end()));
}

TEST_CASE("a byte budget cuts a ring of large records")
{
    RingMerge merge(RingMerge::Budget{1000, 4096});
    std::array<FakeRing, ring_count> rings;
    for (std::uint64_t t = 1; t <= 10; ++t) rings[1].write(t, 1024);  // 1 KiB captures
    auto first = drain(merge, rings, 1000);
    CHECK(first.size() == 4);
    CHECK(merge.cut_short());
}

TEST_CASE("one ring far ahead of the other: every record once, in order, each drain and the held records bounded")
{
    const std::size_t budget = 16;
    RingMerge merge(RingMerge::Budget{budget, 1u << 20});
    std::array<FakeRing, ring_count> rings;
    // Ring 1 spans the same time in a few records as ring 0 in many: each drain of ring 1 runs
    // far ahead of ring 0's, so its records pile up held until ring 0 catches up.
    for (std::uint64_t t = 0; t < 5000; ++t) rings[0].write(t * 10);
    for (std::uint64_t t = 0; t < 500; ++t) rings[1].write(t * 100 + 5);
    auto all = drain_all(merge, rings, ~0ull, 2 * budget + 3 * budget, 3 * budget);
    CHECK(all.size() == 5500);
    CHECK(std::is_sorted(all.begin(), all.end()));
    CHECK(merge.held() == 0);
    CHECK_FALSE(merge.cut_short());
}

TEST_CASE("records written between drains are merged with those held")
{
    RingMerge merge(RingMerge::Budget{3, 1u << 20});
    std::array<FakeRing, ring_count> rings;
    std::vector<std::uint64_t> all;
    std::uint64_t t = 0;
    for (int round = 0; round < 200; ++round) {
        // Both rings keep being written, at different rates, while they are drained.
        for (int i = 0; i < 4; ++i) rings[0].write(++t);
        if (round % 3 == 0) rings[1].write(++t);
        auto got = drain(merge, rings, t);
        CHECK(merge.held() <= 9);
        all.insert(all.end(), got.begin(), got.end());
    }
    auto rest = drain_all(merge, rings, ~0ull, 100, 100);
    all.insert(all.end(), rest.begin(), rest.end());
    CHECK(all.size() == t);
    CHECK(std::is_sorted(all.begin(), all.end()));
}
