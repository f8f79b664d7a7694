// enrich: data through pipes, FIFOs, UNIX and loopback sockets. Turns the kernel's object-io
// records into ObjectIoEvents with counts that stay cumulative when the kernel's LRU map evicted a
// pair (a second "first" record), and reports the bytes of each pair not yet reported when its
// process exits (the kernel sends updates only while a pair keeps moving data).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

#include "decode/decoder.hpp"
#include "events.hpp"

namespace exfilwatch::enrich {

struct ObjectPairKey {
    std::uint32_t pid = 0;
    std::uint8_t kind = 0;       // EW_OBJ_*
    std::uint8_t direction = 0;  // EW_IO_*
    std::uint64_t object_id = 0;
    auto operator<=>(const ObjectPairKey&) const =
        default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
};

// Where the kernel's counters live: the object_io map when live; a fake in tests; none in replay.
struct ObjectCounterSource {
    // The pair's cumulative bytes (deleting the entry when `take`), nullopt when absent (evicted).
    std::function<std::optional<std::uint64_t>(const ObjectPairKey& key, bool take)> fetch;
};

struct ObjectTrackerStats {
    std::uint64_t tracked_pairs = 0;
    std::uint64_t evicted_pairs = 0;  // by the kernel's LRU map or past this table's cap
};

class ObjectTracker {
public:
    explicit ObjectTracker(ObjectCounterSource source = {}, std::size_t max_pairs = 65536);

    ObjectIoEvent on_record(TimeNs time, const ProcessRef& process, const decode::ObjectIo& record);
    // Final counts of the process's pairs that grew since their last record, at its exit.
    std::vector<ObjectIoEvent> on_exit(TimeNs time, const ProcessRef& process);

    ObjectTrackerStats stats() const { return {size_, evicted_}; }

private:
    // A pair's key within its process.
    struct Channel {
        std::uint8_t kind = 0;
        std::uint8_t direction = 0;
        std::uint64_t object_id = 0;
        bool operator==(const Channel&) const = default;
        auto operator<=>(const Channel&) const =
            default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
    };
    struct ChannelHash {
        std::size_t operator()(const Channel& c) const
        {
            return std::hash<std::uint64_t>{}(c.object_id * 0x9e3779b97f4a7c15ULL ^ (c.kind << 8 | c.direction));
        }
    };
    struct Pair {
        std::uint64_t base = 0;      // bytes counted before the kernel restarted the pair
        std::uint64_t reported = 0;  // cumulative bytes of the last event
        std::uint64_t device = 0;
        std::int32_t fd = -1;
        std::list<ObjectPairKey>::iterator age;
    };

    ObjectCounterSource source_;
    std::size_t max_pairs_;
    // By process, then channel: hashed at both levels (an ordered map of every pair was a walk
    // of cache misses per record once a server held thousands of accepted sockets), and a
    // process's pairs are still one entry to take at its exit.
    std::unordered_map<std::uint32_t, std::unordered_map<Channel, Pair, ChannelHash>> pairs_;
    std::size_t size_ = 0;
    std::list<ObjectPairKey> by_age_;  // oldest first: the one dropped past the cap
    std::uint64_t evicted_ = 0;
};

}  // namespace exfilwatch::enrich
