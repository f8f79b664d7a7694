// The counters of a metric record: each stage names its own ("files.tracked_pairs"), dotted,
// unique within a record, so the run loop only collects them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace exfilwatch::util {

using Counters = std::vector<std::pair<std::string, std::uint64_t>>;

}  // namespace exfilwatch::util
