// Tests userspace/commands/drain.cpp against a fake ring buffer: records keep being drained while
// nobody takes them, come out in bounded slices and in order, a full queue drops and counts.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "commands/drain.hpp"

using namespace exfilwatch;
using namespace exfilwatch::commands;

namespace {

// Each poll yields `per_poll` 8-byte records numbered from 0.
struct FakeRing {
    std::atomic<std::uint64_t> next{0};
    std::atomic<int> polls{0};
    std::size_t per_poll = 10;
    int fail_after = -1;
    int poll(kernel::RecordBatch& batch, int)
    {
        if (fail_after >= 0 && polls >= fail_after) return -EIO;
        ++polls;
        for (std::size_t i = 0; i < per_poll; ++i) {
            std::uint64_t n = next++;
            batch.spans.emplace_back(batch.bytes.size(), sizeof(n));
            auto* p = reinterpret_cast<const std::byte*>(&n);
            batch.bytes.insert(batch.bytes.end(), p, p + sizeof(n));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return static_cast<int>(per_poll);
    }
};

std::uint64_t number(const kernel::RecordBatch& batch, std::size_t i)
{
    std::uint64_t n = 0;
    std::memcpy(&n, batch.bytes.data() + batch.spans[i].first, sizeof(n));
    return n;
}

std::uint64_t counter(const RecordDrain& drain, const std::string& name)
{
    util::Counters counters;
    drain.report(counters);
    for (const auto& [key, value] : counters)
        if (key == name) return value;
    FAIL("no counter " << name);
    return 0;
}

}  // namespace

TEST_CASE("the ring keeps being drained while the decisions are busy; records come out in order, in slices")
{
    FakeRing ring;
    RecordDrain drain([&ring](kernel::RecordBatch& b, int t) { return ring.poll(b, t); }, 1u << 20);
    drain.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a slow decision: nothing taken
    CHECK(ring.polls > 5);
    CHECK(drain.queued_records() > 50);
    kernel::RecordBatch batch;
    CHECK(drain.take(batch, 7, 0) == 7);
    CHECK(batch.spans.size() == 7);
    drain.stop();
    while (drain.take(batch, 1000, 0) > 0) {}
    REQUIRE(batch.spans.size() == ring.next);
    for (std::size_t i = 0; i < batch.spans.size(); ++i) CHECK(number(batch, i) == i);
    CHECK(drain.queued_records() == 0);
    CHECK(counter(drain, "ringbuf.queue_dropped_records") == 0);
}

TEST_CASE("a full queue drops what it cannot hold and counts it; a failed poll is reported")
{
    FakeRing ring;
    ring.per_poll = 100;  // 800 bytes a poll
    RecordDrain drain([&ring](kernel::RecordBatch& b, int t) { return ring.poll(b, t); }, 2000);
    drain.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    drain.stop();
    CHECK(drain.queued_records() == 200);
    CHECK(counter(drain, "ringbuf.queue_dropped_records") == ring.next - 200);
    CHECK(counter(drain, "ringbuf.queue_max_bytes") == 1600);

    FakeRing broken;
    broken.fail_after = 2;
    RecordDrain failing([&broken](kernel::RecordBatch& b, int t) { return broken.poll(b, t); }, 1u << 20);
    failing.start();
    kernel::RecordBatch batch;
    for (int i = 0; i < 50 && failing.error() == 0; ++i) failing.take(batch, 100, 20);
    CHECK(failing.error() == -EIO);
    failing.stop();
}
