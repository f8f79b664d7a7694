// commands: the ring-buffer drain thread (see drain.hpp).
#include "commands/drain.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <utility>

namespace exfilwatch::commands {

RecordDrain::RecordDrain(PollFn poll, std::size_t max_queued_bytes)
    : poll_(std::move(poll)), max_queued_bytes_(max_queued_bytes)
{
}

RecordDrain::~RecordDrain()
{
    stop();
}

void RecordDrain::start()
{
    thread_ = std::thread([this] { loop(); });
}

void RecordDrain::stop()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
}

void RecordDrain::loop()
{
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
        }
        kernel::RecordBatch batch;
        int n = poll_(batch, 100);
        std::lock_guard lock(mutex_);
        if (n < 0) {
            error_ = n;
            ready_.notify_all();
            return;
        }
        if (batch.spans.empty()) continue;
        if (queued_bytes_ + batch.bytes.size() > max_queued_bytes_) {
            dropped_records_ += batch.spans.size();  // the main loop is that far behind
            continue;
        }
        queued_bytes_ += batch.bytes.size();
        queued_records_ += batch.spans.size();
        queued_bytes_max_ = std::max(queued_bytes_max_, queued_bytes_);
        queue_.push_back(std::move(batch));
        ready_.notify_all();
    }
}

std::size_t RecordDrain::take(kernel::RecordBatch& out, std::size_t max_records, int timeout_ms)
{
    std::unique_lock lock(mutex_);
    if (queue_.empty() && timeout_ms > 0)
        ready_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return !queue_.empty() || error_; });
    std::size_t taken = 0;
    while (taken < max_records && !queue_.empty()) {
        auto& front = queue_.front();
        while (taken < max_records && front_taken_ < front.spans.size()) {
            auto [offset, size] = front.spans[front_taken_++];
            out.spans.emplace_back(out.bytes.size(), size);
            out.bytes.insert(out.bytes.end(), front.bytes.begin() + static_cast<std::ptrdiff_t>(offset),
                             front.bytes.begin() + static_cast<std::ptrdiff_t>(offset + size));
            ++taken;
        }
        if (front_taken_ == front.spans.size()) {
            queued_bytes_ -= front.bytes.size();
            queue_.pop_front();
            front_taken_ = 0;
        }
    }
    queued_records_ -= taken;
    return taken;
}

std::size_t RecordDrain::queued_records() const
{
    std::lock_guard lock(mutex_);
    return queued_records_;
}

int RecordDrain::error() const
{
    std::lock_guard lock(mutex_);
    return error_;
}

void RecordDrain::report(util::Counters& out) const
{
    std::lock_guard lock(mutex_);
    out.emplace_back("ringbuf.queued_records", queued_records_);
    out.emplace_back("ringbuf.queue_max_bytes", queued_bytes_max_);
    out.emplace_back("ringbuf.queue_dropped_records", dropped_records_);
}

}  // namespace exfilwatch::commands
