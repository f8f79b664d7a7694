// output: the bounded, never-stalling NDJSON sink (see sink.hpp for the contract).
#include "output/sink.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace exfilwatch::output {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

NdjsonSink::NdjsonSink(int fd, SinkOptions options, bool owns_fd)
    : fd_(fd), owns_fd_(owns_fd), options_(options), last_flush_(steady_clock::now())
{
    buffer_.reserve(std::min<std::size_t>(options_.buffer_limit, 1u << 20));
    struct stat st {};
    if (fstat(fd_, &st) != 0) {
        fail(fmt::format("output is not usable: {}", std::strerror(errno)));
        return;
    }
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
        mode_ = Mode::file;
    } else if (S_ISSOCK(st.st_mode)) {
        mode_ = Mode::socket;  // send(MSG_DONTWAIT) never blocks, whatever the fd's flags
    } else if (int flags = fcntl(fd_, F_GETFL); flags >= 0 && (flags & O_NONBLOCK)) {
        mode_ = Mode::nonblocking;
    } else {
        // A private open file description of the same pipe or tty, so that O_NONBLOCK does not
        // change the shell's (or a sibling's) view of the shared descriptor.
        auto path = fmt::format("/proc/self/fd/{}", fd_);
        reopened_fd_ = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        mode_ = reopened_fd_ >= 0 ? Mode::nonblocking : Mode::small_chunks;
    }
}

std::unique_ptr<NdjsonSink> NdjsonSink::open_file(const std::string& path, SinkOptions options)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot open output {}: {}", path, std::strerror(errno)));
    return std::make_unique<NdjsonSink>(fd, options, true);
}

NdjsonSink::~NdjsonSink()
{
    close(std::chrono::seconds(2));
    if (reopened_fd_ >= 0) ::close(reopened_fd_);
    if (owns_fd_) ::close(fd_);
}

bool NdjsonSink::write_line(std::string_view line)
{
    if (broken_ || closed_) {
        ++dropped_lines_;
        return false;
    }
    const std::size_t need = line.size() + 1;
    if (buffered_bytes() + need > options_.buffer_limit) {
        // Wait for a stalled reader once, not once per line: a flood behind a paused reader
        // would otherwise hold the ring-buffer consumer full_wait per line.
        drain(stalled_ ? milliseconds(0) : options_.full_wait);
        if (buffered_bytes() + need > options_.buffer_limit || broken_) {
            stalled_ = true;
            ++dropped_lines_;
            return false;
        }
    }
    stalled_ = false;
    if (head_ && buffer_.size() + need > buffer_.capacity()) compact();
    buffer_.append(line);
    buffer_.push_back('\n');
    ++accepted_lines_;

    bool due = buffered_bytes() >= options_.flush_threshold;
    // The clock is read every 64 lines: cheap at a million lines a second, timely at a few.
    if (!due && ++lines_since_clock_ >= 64) {
        lines_since_clock_ = 0;
        due = steady_clock::now() - last_flush_ >= options_.flush_interval;
    }
    if (due) drain(milliseconds(0));
    return true;
}

void NdjsonSink::flush(milliseconds wait)
{
    if (!broken_) drain(wait);
}

void NdjsonSink::close(milliseconds wait)
{
    if (closed_) return;
    if (!broken_) drain(wait);
    if (buffered_bytes()) {
        // A line cut by the reader's stall stays counted as dropped, never half-counted.
        const auto rest = std::string_view(buffer_).substr(head_);
        const auto cut = static_cast<std::uint64_t>(std::count(rest.begin(), rest.end(), '\n'));
        dropped_lines_ += cut;
        accepted_lines_ -= cut;
        buffer_.clear();
        head_ = 0;
    }
    closed_ = true;
}

std::uint64_t NdjsonSink::written_lines() const
{
    // Counted when asked, not on the hot path: accepted lines minus those still (even partly) buffered.
    const auto rest = std::string_view(buffer_).substr(head_);
    return accepted_lines_ - static_cast<std::uint64_t>(std::count(rest.begin(), rest.end(), '\n'));
}

void NdjsonSink::fail(std::string message)
{
    broken_ = true;
    error_ = std::move(message);
}

void NdjsonSink::compact()
{
    buffer_.erase(0, head_);
    head_ = 0;
}

bool NdjsonSink::drain(milliseconds wait)
{
    last_flush_ = steady_clock::now();
    const auto deadline = last_flush_ + wait;
    const int out_fd = reopened_fd_ >= 0 ? reopened_fd_ : fd_;
    while (buffered_bytes() && !broken_) {
        if (mode_ != Mode::file) {
            auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
            pollfd pfd{out_fd, POLLOUT, 0};
            int n = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
            if (n < 0) {
                if (errno == EINTR) continue;
                fail(fmt::format("waiting for the output failed: {}", std::strerror(errno)));
                break;
            }
            if (n == 0) break;  // the reader is slow: keep the bytes for later
            if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
                fail(pfd.revents & POLLNVAL ? "output descriptor is closed" : "output closed by the reader");
                break;
            }
        }
        std::size_t size = buffered_bytes();
        // A blocking pipe or tty accepts PIPE_BUF bytes without blocking once poll says POLLOUT.
        if (mode_ == Mode::small_chunks) size = std::min<std::size_t>(size, PIPE_BUF);
        const char* data = buffer_.data() + head_;
        ssize_t written = mode_ == Mode::socket ? ::send(out_fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL)
                                                : ::write(out_fd, data, size);
        if (written < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                if (mode_ == Mode::file) continue;
                if (steady_clock::now() >= deadline) break;
                continue;
            }
            fail(fmt::format("writing the output failed: {}", std::strerror(errno)));
            break;
        }
        head_ += static_cast<std::size_t>(written);
    }
    if (head_ == buffer_.size()) {
        buffer_.clear();
        head_ = 0;
    } else if (head_ > buffer_.size() / 2) {
        compact();
    }
    return buffered_bytes() == 0;
}

}  // namespace exfilwatch::output
