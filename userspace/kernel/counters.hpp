// kernel: the metric names of the BPF programs' counters, generated from records.h's tables
// (EW_RECORD_KINDS, EW_DROP_REASONS, EW_STATS), so a kind, reason or counter added there is
// reported without a second list. Indexed by value; a retired value has no name (nullptr).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "records.h"

namespace exfilwatch::kernel {

inline constexpr auto record_kind_names = [] {
    std::array<const char*, wire::EW_REC_LIMIT> names{};
    names[wire::EW_REC_NONE] = "state";  // a drop of state (a socket's storage), not of a record
#define EW_X(name, value, metric) names[value] = metric;
    EW_RECORD_KINDS(EW_X)
#undef EW_X
    return names;
}();

inline constexpr auto drop_reason_names = [] {
    std::array<const char*, wire::EW_DROP_LIMIT> names{};
#define EW_X(name, value, metric) names[value] = metric;
    EW_DROP_REASONS(EW_X)
#undef EW_X
    return names;
}();

inline constexpr auto stat_names = [] {
    std::array<const char*, wire::EW_STAT_LIMIT> names{};
#define EW_X(name, value, metric) names[value] = metric;
    EW_STATS(EW_X)
#undef EW_X
    return names;
}();

// The per-CPU maps summed: records offered per kind, drops per (kind, reason), other stats.
struct KernelCounters {
    std::array<std::uint64_t, wire::EW_REC_LIMIT> records{};
    std::array<std::uint64_t, std::size_t{wire::EW_REC_LIMIT} * std::size_t{wire::EW_DROP_LIMIT}> drops{};
    std::array<std::uint64_t, wire::EW_STAT_LIMIT> stats{};
};

// Drops for `reason`, summed over every record kind.
inline std::uint64_t drops_for(const KernelCounters& c, std::size_t reason)
{
    std::uint64_t total = 0;
    for (std::size_t kind = 0; kind < wire::EW_REC_LIMIT; ++kind) total += c.drops[kind * wire::EW_DROP_LIMIT + reason];
    return total;
}

// Appends the named metrics: kernel.records.<kind> for every kind, kernel.drops.<reason> (all
// kinds) for every reason, kernel.drops_by_kind.<kind>.<reason> for the non-zero pairs, and
// kernel.stats.<name>.
inline void append_metrics(const KernelCounters& c, std::vector<std::pair<std::string, std::uint64_t>>& out)
{
    for (std::size_t kind = 1; kind < c.records.size(); ++kind)
        if (record_kind_names[kind])
            out.emplace_back(std::string("kernel.records.") + record_kind_names[kind], c.records[kind]);
    for (std::size_t reason = 0; reason < drop_reason_names.size(); ++reason) {
        if (!drop_reason_names[reason]) continue;
        out.emplace_back(std::string("kernel.drops.") + drop_reason_names[reason], drops_for(c, reason));
    }
    for (std::size_t kind = 0; kind < record_kind_names.size(); ++kind) {
        for (std::size_t reason = 0; reason < drop_reason_names.size(); ++reason) {
            std::uint64_t n = c.drops[kind * wire::EW_DROP_LIMIT + reason];
            if (n == 0 || !record_kind_names[kind] || !drop_reason_names[reason]) continue;
            out.emplace_back(
                std::string("kernel.drops_by_kind.") + record_kind_names[kind] + "." + drop_reason_names[reason], n);
        }
    }
    for (std::size_t stat = 0; stat < stat_names.size(); ++stat)
        if (stat_names[stat]) out.emplace_back(std::string("kernel.stats.") + stat_names[stat], c.stats[stat]);
}

}  // namespace exfilwatch::kernel
