// detect: recurring upload jobs (see recurring.hpp).
#include "detect/recurring.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace exfilwatch::detect {
namespace {

constexpr std::string_view header = "exfilwatch-jobs v1";

bool clean(std::string_view s)
{
    return !s.empty() && s.find_first_of("\t\n\r") == std::string_view::npos;
}

}  // namespace

int JobMemory::magnitude_of(std::uint64_t bytes)
{
    int m = 0;
    while (bytes >= 10) {
        bytes /= 10;
        ++m;
    }
    return m;
}

const JobRecord* JobMemory::earlier(std::string_view executable, std::string_view destination, std::uint64_t bytes,
                                    std::uint32_t day) const
{
    int m = magnitude_of(bytes);
    for (const auto& j : jobs_)
        if (j.first_day < day && j.executable == executable && j.destination == destination &&
            std::abs(j.magnitude - m) <= 1)
            return &j;
    return nullptr;
}

void JobMemory::note(std::string_view executable, std::string_view destination, std::uint64_t bytes, std::uint32_t day)
{
    if (!clean(executable) || !clean(destination) || max_jobs_ == 0) return;
    int m = magnitude_of(bytes);
    for (auto& j : jobs_) {
        if (j.executable != executable || j.destination != destination || j.magnitude != m) continue;
        if (day > j.last_day) {
            j.last_day = day;
            ++j.days;
            changed_ = true;
        }
        return;
    }
    if (jobs_.size() >= max_jobs_) {
        // Full: forget the job seen least recently.
        auto oldest = std::min_element(jobs_.begin(), jobs_.end(),
                                       [](const JobRecord& a, const JobRecord& b) { return a.last_day < b.last_day; });
        jobs_.erase(oldest);
        ++evicted_;
    }
    jobs_.push_back(JobRecord{std::string(executable), std::string(destination), m, day, day, 1});
    changed_ = true;
}

std::string JobMemory::serialize() const
{
    std::string out = fmt::format("{}\n", header);
    for (const auto& j : jobs_)
        out += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\n", j.first_day, j.last_day, j.days, j.magnitude, j.executable,
                           j.destination);
    return out;
}

JobMemory JobMemory::parse(std::string_view text, std::size_t max_jobs, std::size_t& bad_lines)
{
    JobMemory memory(max_jobs);
    bad_lines = 0;
    bool first = true;
    while (!text.empty()) {
        auto end = text.find('\n');
        auto line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (first) {
            first = false;
            if (line != header) {
                ++bad_lines;
                return memory;  // not ours: start empty rather than guess
            }
            continue;
        }
        if (line.empty()) continue;
        std::string_view fields[6];
        std::size_t n = 0;
        while (n < 6) {
            auto tab = n < 5 ? line.find('\t') : std::string_view::npos;
            fields[n++] = line.substr(0, tab);
            if (tab == std::string_view::npos) break;
            line.remove_prefix(tab + 1);
        }
        JobRecord j;
        auto number = [](std::string_view s, auto& v) {
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            return ec == std::errc() && p == s.data() + s.size();
        };
        if (n != 6 || !number(fields[0], j.first_day) || !number(fields[1], j.last_day) || !number(fields[2], j.days) ||
            !number(fields[3], j.magnitude) || !clean(fields[4]) || !clean(fields[5]) || j.first_day > j.last_day ||
            memory.jobs_.size() >= max_jobs) {
            ++bad_lines;
            continue;
        }
        j.executable = std::string(fields[4]);
        j.destination = std::string(fields[5]);
        memory.jobs_.push_back(std::move(j));
    }
    return memory;
}

}  // namespace exfilwatch::detect
