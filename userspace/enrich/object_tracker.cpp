// enrich: data through pipes, FIFOs and sockets (see object_tracker.hpp).
#include "enrich/object_tracker.hpp"

#include <algorithm>

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
    const bool process_object = key.kind == EW_OBJ_MEMORY || key.kind == EW_OBJ_ENVIRON || key.kind == EW_OBJ_CMDLINE;
    event.device = device && !process_object ? user_device(device) : device;
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
              static_cast<int>(ObjectKind::process_environ) == EW_OBJ_ENVIRON &&
              static_cast<int>(ObjectKind::shared_memory) == EW_OBJ_SHARED &&
              static_cast<int>(ObjectKind::process_cmdline) == EW_OBJ_CMDLINE);

ObjectTracker::ObjectTracker(ObjectCounterSource source, std::size_t max_pairs)
    : source_(std::move(source)), max_pairs_(max_pairs)
{
}

ObjectIoEvent ObjectTracker::on_record(TimeNs time, const ProcessRef& process, const decode::ObjectIo& record)
{
    ObjectPairKey key{process.pid, record.kind, record.direction, record.object_id};
    auto [it, inserted] = pairs_[process.pid].try_emplace(Channel{record.kind, record.direction, record.object_id});
    Pair& pair = it->second;
    if (inserted) {
        ++size_;
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
    if (size_ > max_pairs_ && by_age_.front() != key) {
        const auto oldest = by_age_.front();
        auto owner = pairs_.find(oldest.pid);
        owner->second.erase(Channel{oldest.kind, oldest.direction, oldest.object_id});
        if (owner->second.empty()) pairs_.erase(owner);
        by_age_.pop_front();
        --size_;
        ++evicted_;
    }
    return event;
}

std::vector<ObjectIoEvent> ObjectTracker::on_exit(TimeNs time, const ProcessRef& process)
{
    std::vector<ObjectIoEvent> out;
    auto owner = pairs_.find(process.pid);
    if (owner == pairs_.end()) return out;
    // In the order of the channels, as the events of one exit always came.
    std::vector<std::pair<Channel, const Pair*>> channels;
    channels.reserve(owner->second.size());
    for (const auto& [channel, pair] : owner->second) channels.emplace_back(channel, &pair);
    std::sort(channels.begin(), channels.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [channel, pair] : channels) {
        by_age_.erase(pair->age);
        if (!source_.fetch) continue;
        const ObjectPairKey key{process.pid, channel.kind, channel.direction, channel.object_id};
        auto bytes = source_.fetch(key, true);
        if (!bytes) {
            ++evicted_;
            continue;
        }
        if (pair->base + *bytes > pair->reported)
            out.push_back(event_of(time, process, key, pair->device, pair->fd, pair->base + *bytes));
    }
    size_ -= owner->second.size();
    pairs_.erase(owner);
    return out;
}

}  // namespace exfilwatch::enrich
