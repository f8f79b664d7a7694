// commands: the ring buffer drained on a thread of its own. Decisions and output run on the main
// loop and take records from a bounded queue, so a slow decision or a slow reader of the output
// never leaves the kernel's ring full; what the queue cannot hold is dropped here and counted.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "kernel/monitor.hpp"
#include "util/counters.hpp"

namespace exfilwatch::commands {

class RecordDrain {
public:
    // `poll` fills a batch as kernel::Monitor::poll does (records, or a negative errno).
    using PollFn = std::function<int(kernel::RecordBatch& batch, int timeout_ms)>;
    RecordDrain(PollFn poll, std::size_t max_queued_bytes);
    ~RecordDrain();
    RecordDrain(const RecordDrain&) = delete;
    RecordDrain& operator=(const RecordDrain&) = delete;

    // Starts the drain thread (it blocks the stop and reload signals: the main loop takes them).
    void start();
    // Stops and joins the thread; what is queued stays for take().
    void stop();

    // Appends at most `max_records` queued records to `out`, waiting up to `timeout_ms` for the
    // first; returns how many.
    std::size_t take(kernel::RecordBatch& out, std::size_t max_records, int timeout_ms);

    std::size_t queued_records() const;
    int error() const;  // the poll's negative errno once it failed (the thread stops), else 0
    void report(util::Counters& out) const;

private:
    void loop();

    PollFn poll_;
    std::size_t max_queued_bytes_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<kernel::RecordBatch> queue_;
    std::size_t front_taken_ = 0;  // records of queue_.front() already taken
    std::size_t queued_bytes_ = 0;
    std::size_t queued_records_ = 0;
    std::size_t queued_bytes_max_ = 0;
    std::uint64_t dropped_records_ = 0;
    int error_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace exfilwatch::commands
