// detect: memory of recurring upload jobs. A job is an executable sending to a destination with
// an order of magnitude of bytes; one seen on an earlier day lowers a new upload's score (signal
// `recurring`). The destination is part of the key, so a known job never covers a new
// destination. Bounded; serialized as text by the caller (`run --state-dir`), so the engine stays
// a pure function of its events and this state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exfilwatch::detect {

struct JobRecord {
    std::string executable;
    std::string destination;
    int magnitude = 0;            // floor(log10(bytes out))
    std::uint32_t first_day = 0;  // days since the epoch (UTC) of the events' clock
    std::uint32_t last_day = 0;
    std::uint32_t days = 0;  // distinct days seen (counting each new last_day)
};

class JobMemory {
public:
    explicit JobMemory(std::size_t max_jobs = 4096) : max_jobs_(max_jobs) {}

    static std::uint32_t day_of(std::uint64_t time_ns)
    {
        return static_cast<std::uint32_t>(time_ns / 86'400'000'000'000ULL);
    }
    static int magnitude_of(std::uint64_t bytes);

    // The job seen on a day before `day` with the same executable and destination and a volume
    // within one order of magnitude; nullptr when none.
    const JobRecord* earlier(std::string_view executable, std::string_view destination, std::uint64_t bytes,
                             std::uint32_t day) const;
    void note(std::string_view executable, std::string_view destination, std::uint64_t bytes, std::uint32_t day);

    std::string serialize() const;
    // Lines it cannot read are skipped and counted in `bad_lines`.
    static JobMemory parse(std::string_view text, std::size_t max_jobs, std::size_t& bad_lines);

    const std::vector<JobRecord>& jobs() const { return jobs_; }
    std::uint64_t evicted() const { return evicted_; }
    bool changed() const { return changed_; }
    void saved() { changed_ = false; }

private:
    std::size_t max_jobs_;
    std::vector<JobRecord> jobs_;
    std::uint64_t evicted_ = 0;
    bool changed_ = false;
};

}  // namespace exfilwatch::detect
