// kernel: bounded drains of the two rings merged by time (see ring_merge.hpp).
#include "kernel/ring_merge.hpp"

#include <algorithm>
#include <cstring>

#include "records.h"

namespace exfilwatch::kernel {
namespace {

void append_span(RecordBatch& to, const RecordBatch& from, std::pair<std::size_t, std::size_t> span)
{
    const auto* start = from.bytes.data() + span.first;
    to.spans.emplace_back(to.bytes.size(), span.second);
    to.bytes.insert(to.bytes.end(), start, start + span.second);
}

}  // namespace

std::uint64_t RingMerge::record_time(const RecordBatch& batch, std::pair<std::size_t, std::size_t> span)
{
    std::uint64_t time = 0;
    if (span.second >= offsetof(wire::ew_header, time_ns) + sizeof(time))
        std::memcpy(&time, batch.bytes.data() + span.first + offsetof(wire::ew_header, time_ns), sizeof(time));
    return time;
}

void RingMerge::begin(RecordBatch& batch)
{
    batch_ = &batch;
    first_ = batch.spans.size();
    // Held records are older than anything the rings hold now; the sort in finish() puts them
    // among what this drain reads from the other ring.
    for (auto span : held_.spans) append_span(batch, held_, span);
    held_.clear();
    for (std::size_t ring = 0; ring < ring_count; ++ring) {
        if (!reading_[ring]) continue;  // keeps its cut and its last time: its unread records are later
        cut_[ring] = false;
        records_[ring] = 0;
        bytes_[ring] = 0;
    }
}

bool RingMerge::add(std::size_t ring, std::span<const std::byte> record)
{
    if (!batch_) return false;
    batch_->spans.emplace_back(batch_->bytes.size(), record.size());
    batch_->bytes.insert(batch_->bytes.end(), record.begin(), record.end());
    last_ns_[ring] = record_time(*batch_, batch_->spans.back());
    records_[ring] += 1;
    bytes_[ring] += record.size();
    if (records_[ring] >= budget_.records || bytes_[ring] >= budget_.bytes) cut_[ring] = true;
    return !cut_[ring];
}

std::size_t RingMerge::finish(std::uint64_t cutoff)
{
    if (!batch_) return 0;
    RecordBatch& batch = *batch_;
    batch_ = nullptr;
    // What is certainly complete: up to the drain's start, and no later than the last record of
    // a ring that still holds unread ones (the ring's next records are stamped after it).
    std::uint64_t bound = cutoff;
    std::size_t limiting = ring_count;
    for (std::size_t ring = 0; ring < ring_count; ++ring) {
        if (cut_[ring] && last_ns_[ring] < bound) {
            bound = last_ns_[ring];
            limiting = ring;
        }
    }
    // The two rings are each in time order but drained one after the other: merge them by the
    // kernel's timestamp, so that a flow's captured head (captures) sits between its start and
    // its end (events). A record stamped after the bound may have a ring-mate stamped before it
    // still unread in the other ring: it waits for the next drain. (A record stamped before the
    // cut-off but committed after the drain arrives one drain late: a window of the few
    // instructions between bpf_ktime_get_ns and the ring commit.)
    auto first = batch.spans.begin() + static_cast<std::ptrdiff_t>(first_);
    std::stable_sort(first, batch.spans.end(),
                     [&batch](auto a, auto b) { return record_time(batch, a) < record_time(batch, b); });
    auto keep = std::partition_point(first, batch.spans.end(),
                                     [&batch, bound](auto span) { return record_time(batch, span) <= bound; });
    for (auto it = keep; it != batch.spans.end(); ++it) append_span(held_, batch, *it);
    batch.spans.erase(keep, batch.spans.end());
    // A ring read ahead of the other by a budget's worth of held records waits for it.
    for (std::size_t ring = 0; ring < ring_count; ++ring)
        reading_[ring] = limiting == ring_count || held_.spans.size() < budget_.records || ring == limiting;
    return batch.spans.size() - first_;
}

}  // namespace exfilwatch::kernel
