// util: a clock's reading in nanoseconds (CLOCK_MONOTONIC for intervals and kernel timestamps,
// CLOCK_REALTIME for wall time). Header-only: every stage reads the clock the same way.
#pragma once

#include <time.h>

#include <cstdint>

namespace exfilwatch::util {

inline std::uint64_t clock_ns(clockid_t clock)
{
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace exfilwatch::util
