// replay: the line framing of NDJSON telemetry (the `--events all` output of a live run): lines,
// their limits and error reporting. Each line is decoded by ecs::Decoder, so that
// `exfilwatch replay` feeds detection exactly what live enrichment produced.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ecs/decoder.hpp"
#include "events.hpp"
#include "util/counters.hpp"

namespace exfilwatch::replay {

struct ReplayStats {
    std::uint64_t lines = 0;
    std::uint64_t events = 0;
    std::uint64_t ignored = 0;               // alert, metric, state and blank lines
    std::uint64_t errors = 0;                // malformed or oversized lines (reported and skipped)
    void report(util::Counters& out) const;  // as metric counters
};

// Reads NDJSON from a file descriptor, line by line, and yields the telemetry events. Malformed
// and oversized lines go to the error callback with their 1-based line number and are skipped.
class ReplayReader {
public:
    using ErrorFn = std::function<void(std::uint64_t line, std::string_view message)>;
    static constexpr std::size_t default_max_line = 1u << 20;

    // Reads `fd` (not closed by the reader).
    ReplayReader(int fd, ErrorFn on_error, std::size_t max_line = default_max_line);
    // Opens FILE, or stdin for "-". Throws std::runtime_error("cannot open FILE: reason").
    static std::unique_ptr<ReplayReader> open(const std::string& path, ErrorFn on_error,
                                              std::size_t max_line = default_max_line);
    ~ReplayReader();

    ReplayReader(const ReplayReader&) = delete;
    ReplayReader& operator=(const ReplayReader&) = delete;

    // The next telemetry event, valid until the next call; nullptr at the end of the input or on a
    // read error (see io_error()).
    const Event* next();
    // The same, copied into `out`; false at the end.
    bool next(Event& out);

    const ReplayStats& stats() const { return stats_; }
    const std::string& io_error() const { return io_error_; }

private:
    // The next complete line (without '\n'); false at end of input.
    bool next_line(std::string_view& line);
    bool fill();

    int fd_;
    bool owns_fd_ = false;
    ErrorFn on_error_;
    std::size_t max_line_;
    std::string buffer_;
    std::size_t begin_ = 0;  // start of unconsumed bytes
    std::size_t end_ = 0;    // end of valid bytes
    bool eof_ = false;
    bool skipping_ = false;  // inside an oversized line: drop bytes up to the next '\n'
    std::string io_error_;
    ReplayStats stats_;
    ecs::Decoder decoder_;
    std::string error_text_;
};

}  // namespace exfilwatch::replay
