// output: the metric record's counters in the Prometheus text exposition format (version 0.0.4),
// for `run --listen`'s /metrics. Pure: counters in, text out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exfilwatch::output {

// Where one dotted counter of the metric record ("kernel.drops.ringbuf_full") goes:
// exfilwatch_<subsystem>_<name>, `_total` on counters, a reason/kind label for the families
// counted by reason, gauges in base units (ringbuf.lag_max_us -> exfilwatch_ringbuf_lag_max_seconds).
struct PrometheusSample {
    std::string family;       // "exfilwatch_kernel_drops_total"
    std::string label_name;   // "reason", or empty
    std::string label_value;  // "ringbuf_full"
    std::string kind;         // kernel.drops_by_kind.<kind>.<reason>: the record kind label, else empty
    bool gauge = false;
    double scale = 1.0;  // multiplies the counter's value (microseconds -> seconds)
};

PrometheusSample prometheus_sample(std::string_view dotted_name);

// Every counter as a sample of its family, families sorted by name, plus
// exfilwatch_build_info{version="..."} 1.
std::string prometheus_text(const std::vector<std::pair<std::string, std::uint64_t>>& counters,
                            std::string_view version);

}  // namespace exfilwatch::output
