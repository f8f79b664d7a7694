// output: the NDJSON sink. Buffers whole lines and writes them to stdout or a file without ever
// blocking the pipeline indefinitely: a slow reader costs dropped (counted) lines, not a stall.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace exfilwatch::output {

struct SinkOptions {
    std::size_t buffer_limit = 8u << 20;            // bytes held for a slow reader before lines are dropped
    std::size_t flush_threshold = 64u << 10;        // write as soon as this much is buffered
    std::chrono::milliseconds flush_interval{200};  // and at least this often while lines come in
    std::chrono::milliseconds full_wait{20};        // how long write_line waits when the buffer is full
};

// Writes to a pipe, terminal or socket go through poll() and non-blocking writes (a pipe or tty
// is reopened through /proc/self/fd so that O_NONBLOCK does not leak into the shared file
// description); regular files are written directly. The caller must ignore SIGPIPE
// (signal(SIGPIPE, SIG_IGN)): a closed reader then shows up as broken(), and the caller should
// stop and exit cleanly.
class NdjsonSink {
public:
    // Writes to `fd` (e.g. STDOUT_FILENO); closes it at destruction only when `owns_fd`.
    explicit NdjsonSink(int fd, SinkOptions options = {}, bool owns_fd = false);
    // Creates or truncates `path` (O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, mode 0640).
    // Throws std::runtime_error("cannot open output FILE: reason").
    static std::unique_ptr<NdjsonSink> open_file(const std::string& path, SinkOptions options = {});
    // Flushes with close(std::chrono::seconds(2)).
    ~NdjsonSink();

    NdjsonSink(const NdjsonSink&) = delete;
    NdjsonSink& operator=(const NdjsonSink&) = delete;

    // Queues one record (`line` without its '\n'). Returns false when the line was dropped:
    // the buffer stayed full for options.full_wait (waited once per stall: while the reader
    // accepts nothing, further lines are dropped at once), or the sink is broken.
    bool write_line(std::string_view line);
    // Writes what the reader accepts within `wait` (0: only what it accepts right now).
    void flush(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
    // Final flush: waits up to `wait` for the reader, then counts what is left as dropped lines.
    void close(std::chrono::milliseconds wait);

    bool broken() const { return broken_; }
    const std::string& error() const { return error_; }  // why it broke
    std::uint64_t dropped_lines() const { return dropped_lines_; }
    std::uint64_t written_lines() const;  // accepted lines handed to the fd in full
    std::size_t buffered_bytes() const { return buffer_.size() - head_; }

private:
    enum class Mode : std::uint8_t { file, nonblocking, socket, small_chunks };

    bool drain(std::chrono::milliseconds wait);  // true when the buffer is empty
    void fail(std::string message);
    void compact();

    int fd_;
    bool owns_fd_;
    int reopened_fd_ = -1;
    Mode mode_ = Mode::file;
    SinkOptions options_;
    std::string buffer_;
    std::size_t head_ = 0;  // bytes of buffer_ already written
    bool broken_ = false;
    bool closed_ = false;
    bool stalled_ = false;  // the last full-buffer wait ended with the buffer still full
    std::string error_;
    std::uint64_t dropped_lines_ = 0;
    std::uint64_t accepted_lines_ = 0;
    std::uint32_t lines_since_clock_ = 0;
    std::chrono::steady_clock::time_point last_flush_;
};

}  // namespace exfilwatch::output
