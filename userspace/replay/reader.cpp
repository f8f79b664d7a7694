// replay: the line reader with its limits and error reporting; ecs::Decoder decodes each line.
#include "replay/reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>


namespace exfilwatch::replay {

ReplayReader::ReplayReader(int fd, ErrorFn on_error, std::size_t max_line)
    : fd_(fd), on_error_(std::move(on_error)), max_line_(max_line)
{
    // ecs::Decoder::padding bytes stay after the last byte read, so every line is decoded in place.
    buffer_.resize(std::max<std::size_t>(max_line_ + 1, 1u << 16) + (1u << 16) + ecs::Decoder::padding);
}

std::unique_ptr<ReplayReader> ReplayReader::open(const std::string& path, ErrorFn on_error, std::size_t max_line)
{
    if (path == "-") return std::make_unique<ReplayReader>(STDIN_FILENO, std::move(on_error), max_line);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    auto reader = std::make_unique<ReplayReader>(fd, std::move(on_error), max_line);
    reader->owns_fd_ = true;
    return reader;
}

ReplayReader::~ReplayReader()
{
    if (owns_fd_) ::close(fd_);
}

bool ReplayReader::fill()
{
    if (eof_) return false;
    if (begin_ > 0) {
        std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    while (true) {
        ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - ecs::Decoder::padding - end_);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            io_error_ = fmt::format("reading the input failed: {}", std::strerror(errno));
            eof_ = true;
            return false;
        }
        if (n == 0) {
            eof_ = true;
            return false;
        }
        end_ += static_cast<std::size_t>(n);
        return true;
    }
}

bool ReplayReader::next_line(std::string_view& line)
{
    while (true) {
        const char* start = buffer_.data() + begin_;
        const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
        if (nl) {
            const auto size = static_cast<std::size_t>(nl - start);
            begin_ += size + 1;
            if (skipping_) {  // the tail of an oversized line, already reported
                skipping_ = false;
                continue;
            }
            ++stats_.lines;
            if (size > max_line_) {
                ++stats_.errors;
                if (on_error_) on_error_(stats_.lines, fmt::format("line longer than {} bytes, skipped", max_line_));
                continue;
            }
            line = std::string_view(start, size);
            return true;
        }
        if (end_ - begin_ > max_line_) {
            // No newline within the limit: report once, then drop bytes up to the next '\n'.
            if (!skipping_) {
                ++stats_.lines;
                ++stats_.errors;
                if (on_error_) on_error_(stats_.lines, fmt::format("line longer than {} bytes, skipped", max_line_));
                skipping_ = true;
            }
            begin_ = end_ = 0;
        }
        if (!fill()) {
            if (end_ > begin_ && !skipping_) {  // a last line without '\n'
                ++stats_.lines;
                line = std::string_view(buffer_.data() + begin_, end_ - begin_);
                begin_ = end_;
                return true;
            }
            return false;
        }
    }
}

const Event* ReplayReader::next()
{
    std::string_view line;
    const Event* event = nullptr;
    while (next_line(line)) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        switch (decoder_.decode_padded(line, event, error_text_)) {
        case ecs::LineKind::event: ++stats_.events; return event;
        case ecs::LineKind::ignored: ++stats_.ignored; break;
        case ecs::LineKind::error:
            ++stats_.errors;
            if (on_error_) on_error_(stats_.lines, error_text_);
            break;
        }
    }
    return nullptr;
}

bool ReplayReader::next(Event& out)
{
    const Event* event = next();
    if (event) out = *event;
    return event != nullptr;
}

void ReplayStats::report(util::Counters& out) const
{
    out.emplace_back("replay.lines", lines);
    out.emplace_back("replay.events", events);
    out.emplace_back("replay.ignored", ignored);
    out.emplace_back("replay.errors", errors);
}

}  // namespace exfilwatch::replay
