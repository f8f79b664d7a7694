// enrich: data through pipes, FIFOs and sockets (see object_tracker.hpp).
#include "enrich/object_tracker.hpp"

#include "enrich/file_tracker.hpp"

namespace exfilwatch::enrich {
namespace {

ObjectIoEvent event_of(TimeNs time, const ProcessRef& process, const ObjectPairKey& key, std::uint64_t device,
                       std::int32_t fd, std::uint64_t bytes)
{
    ObjectIoEvent event;
    event.time = time;
    event.process = process;
    event.object = static_cast<ObjectKind>(key.kind);
    event.object_id = key.object_id;
    // Memory: the caller's pid namespace (0: the host's), for the enricher to resolve the pid in.
    event.device = device && key.kind < EW_OBJ_MEMORY ? user_device(device) : device;
    event.direction = key.direction == EW_IO_WRITE ? IoDirection::write : IoDirection::read;
    event.fd = fd;
    event.bytes = bytes;
    return event;
}

}  // namespace

static_assert(static_cast<int>(ObjectKind::pipe) == EW_OBJ_PIPE && static_cast<int>(ObjectKind::fifo) == EW_OBJ_FIFO &&
              static_cast<int>(ObjectKind::unix_socket) == EW_OBJ_UNIX &&
              static_cast<int>(ObjectKind::loopback_socket) == EW_OBJ_LOOPBACK &&
              static_cast<int>(ObjectKind::process_memory) == EW_OBJ_MEMORY &&
              static_cast<int>(ObjectKind::process_environ) == EW_OBJ_ENVIRON);

ObjectTracker::ObjectTracker(ObjectCounterSource source, std::size_t max_pairs)
    : source_(std::move(source)), max_pairs_(max_pairs)
{
}

ObjectIoEvent ObjectTracker::on_record(TimeNs time, const ProcessRef& process, const decode::ObjectIo& record)
{
    ObjectPairKey key{process.pid, record.kind, record.direction, record.object_id};
    auto [it, inserted] = pairs_.try_emplace(key);
    Pair& pair = it->second;
    if (inserted) {
        by_age_.push_back(key);
        pair.age = std::prev(by_age_.end());
    } else if (record.first) {
        // The kernel evicted this pair and counts it again from zero: keep the total going.
        ++evicted_;
        pair.base = pair.reported;
    }
    pair.device = record.device;
    pair.fd = record.fd;
    pair.reported = pair.base + record.bytes;
    auto event = event_of(time, process, key, record.device, record.fd, pair.reported);
    if (pairs_.size() > max_pairs_ && by_age_.front() != key) {
        pairs_.erase(by_age_.front());
        by_age_.pop_front();
        ++evicted_;
    }
    return event;
}

std::vector<ObjectIoEvent> ObjectTracker::on_exit(TimeNs time, const ProcessRef& process)
{
    std::vector<ObjectIoEvent> out;
    auto first = pairs_.lower_bound(ObjectPairKey{process.pid, 0, 0, 0});
    auto last = pairs_.lower_bound(ObjectPairKey{process.pid + 1, 0, 0, 0});
    for (auto it = first; it != last; ++it) {
        auto& [key, pair] = *it;
        if (!source_.fetch) continue;
        auto bytes = source_.fetch(key, true);
        if (!bytes) {
            ++evicted_;
            continue;
        }
        if (pair.base + *bytes > pair.reported)
            out.push_back(event_of(time, process, key, pair.device, pair.fd, pair.base + *bytes));
    }
    for (auto it = first; it != last; ++it) by_age_.erase(it->second.age);
    pairs_.erase(first, last);
    return out;
}

}  // namespace exfilwatch::enrich
