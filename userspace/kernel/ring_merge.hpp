// kernel: the two ring buffers (decision records, captures) read in bounded drains and merged
// by kernel time. Each drain reads at most a budget of records and bytes from each ring, so a
// storm never makes one drain (and the stop that waits for it) take unbounded time. Pure: the
// Monitor feeds it the records libbpf hands over; unit-tested without BPF.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace exfilwatch::kernel {

// The records drained from the ring buffer, packed back to back.
struct RecordBatch {
    std::vector<std::byte> bytes;
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // (offset, size)
    void clear()
    {
        bytes.clear();
        spans.clear();
    }
};

inline constexpr std::size_t ring_count = 2;  // events, captures

// One drain: begin(), add() for each record read from a ring (the caller stops reading a ring
// when add() returns false), finish(). Each ring is in time order; a ring cut short by its
// budget still holds records stamped after the last one read, so whatever the other ring gave
// that is stamped later waits (held) for a drain that has read up to there. A ring whose
// records are held past a budget's worth is not read again until the other catches up, so what
// is held stays bounded (about two budgets).
class RingMerge {
public:
    struct Budget {
        std::size_t records = 8192;    // per ring per drain
        std::size_t bytes = 4u << 20;  // per ring per drain
    };
    explicit RingMerge(Budget budget) : budget_(budget) {}

    // Starts a drain into `batch`: the records held by the last drain come first.
    void begin(RecordBatch& batch);
    // Whether this drain reads `ring` (false: it is ahead of the other ring and held).
    bool reading(std::size_t ring) const { return reading_[ring]; }
    // One record of `ring`, copied into the batch; false once the ring's budget for this drain is
    // used up (the record is taken all the same: stop reading the ring after it).
    bool add(std::size_t ring, std::span<const std::byte> record);
    // Ends the drain: sorts what it holds by kernel time and keeps back what is stamped after
    // `cutoff` (the drain's start) or after the last record of a ring cut short. Returns the
    // number of records left in the batch by this drain.
    std::size_t finish(std::uint64_t cutoff);

    // A ring was cut short by its budget (records wait in the kernel: do not sleep before the
    // next drain).
    bool cut_short() const { return cut_[0] || cut_[1]; }
    // Records held back for the next drain.
    std::size_t held() const { return held_.spans.size(); }

    static std::uint64_t record_time(const RecordBatch& batch, std::pair<std::size_t, std::size_t> span);

private:
    Budget budget_;
    RecordBatch* batch_ = nullptr;
    std::size_t first_ = 0;  // the batch's first span of this drain
    RecordBatch held_;
    std::array<bool, ring_count> reading_{true, true};
    std::array<bool, ring_count> cut_{};
    std::array<std::uint64_t, ring_count> last_ns_{};  // of the last record read from each ring
    std::array<std::size_t, ring_count> records_{};    // read from each ring in this drain
    std::array<std::size_t, ring_count> bytes_{};
};

}  // namespace exfilwatch::kernel
