// output: metric record counters -> Prometheus families (prometheus-cpp's data model and its
// TextSerializer, so escaping and the format's details are the library's).
#include "output/prometheus.hpp"

#include <algorithm>
#include <map>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace exfilwatch::output {
namespace {

// Counters of the metric record that are levels, not running totals.
constexpr std::string_view gauges[] = {"processes.live",     "files.tracked_pairs", "flows.live",
                                       "dns.cache_size",     "detect.processes",    "detect.flows",
                                       "ringbuf.lag_max_us", "flows.http2_sessions"};

// Families whose last name part is a reason or a kind, not a name of its own.
struct LabelledFamily {
    std::string_view prefix;
    std::string_view family;
    std::string_view label;
};
constexpr LabelledFamily labelled[] = {
    {"kernel.drops.", "exfilwatch_kernel_drops_total", "reason"},
    {"kernel.records.", "exfilwatch_kernel_records_total", "kind"},
};

// Prometheus metric names allow [a-zA-Z0-9_:]; the dotted names use [a-z0-9_.].
std::string metric_name(std::string_view dotted)
{
    std::string name = "exfilwatch_";
    for (char c : dotted) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        name.push_back(ok ? c : '_');
    }
    return name;
}

bool ends_with(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

PrometheusSample prometheus_sample(std::string_view dotted)
{
    PrometheusSample sample;
    // Bytes read from files are not a record kind: a family of their own.
    if (dotted == "kernel.stats.file_read_bytes") {
        sample.family = "exfilwatch_kernel_file_read_bytes_total";
        return sample;
    }
    // Drops by record kind and reason: one family, both as labels.
    constexpr std::string_view by_kind = "kernel.drops_by_kind.";
    if (dotted.substr(0, by_kind.size()) == by_kind) {
        auto rest = dotted.substr(by_kind.size());
        auto dot = rest.find('.');
        if (dot != std::string_view::npos && dot > 0 && dot + 1 < rest.size()) {
            sample.family = "exfilwatch_kernel_drops_by_kind_total";
            sample.kind = rest.substr(0, dot);
            sample.label_name = "reason";
            sample.label_value = rest.substr(dot + 1);
            return sample;
        }
    }
    for (const auto& l : labelled) {
        if (dotted.substr(0, l.prefix.size()) == l.prefix && dotted.size() > l.prefix.size()) {
            sample.family = l.family;
            sample.label_name = l.label;
            sample.label_value = dotted.substr(l.prefix.size());
            return sample;
        }
    }
    sample.gauge = std::find(std::begin(gauges), std::end(gauges), dotted) != std::end(gauges);
    std::string name = metric_name(dotted);
    if (ends_with(name, "_us")) {  // base units: seconds
        name.resize(name.size() - 3);
        name += "_seconds";
        sample.scale = 1e-6;
    }
    if (!sample.gauge) name += "_total";
    sample.family = std::move(name);
    return sample;
}

std::string prometheus_text(const std::vector<std::pair<std::string, std::uint64_t>>& counters,
                            std::string_view version)
{
    std::map<std::string, prometheus::MetricFamily> families;
    for (const auto& [dotted, value] : counters) {
        auto sample = prometheus_sample(dotted);
        auto& family = families[sample.family];
        if (family.name.empty()) {
            family.name = sample.family;
            family.type = sample.gauge ? prometheus::MetricType::Gauge : prometheus::MetricType::Counter;
            family.help = sample.label_name.empty() ? "exfilwatch.stats." + dotted + " of the metric record"
                                                    : "exfilwatch.stats." + dotted.substr(0, dotted.rfind('.')) + ".<" +
                                                          sample.label_name + "> of the metric record";
        }
        prometheus::ClientMetric metric;
        if (!sample.kind.empty()) metric.label.push_back({"kind", sample.kind});
        if (!sample.label_name.empty()) metric.label.push_back({sample.label_name, sample.label_value});
        const double v = static_cast<double>(value) * sample.scale;
        if (sample.gauge) metric.gauge.value = v;
        else
            metric.counter.value = v;
        family.metric.push_back(std::move(metric));
    }
    prometheus::MetricFamily info;
    info.name = "exfilwatch_build_info";
    info.help = "the running exfilwatch (always 1)";
    info.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric one;
    one.label.push_back({"version", std::string(version)});
    one.gauge.value = 1;
    info.metric.push_back(std::move(one));
    families.emplace(info.name, std::move(info));

    std::vector<prometheus::MetricFamily> sorted;
    sorted.reserve(families.size());
    for (auto& [name, family] : families) sorted.push_back(std::move(family));
    return prometheus::TextSerializer().Serialize(sorted);
}

}  // namespace exfilwatch::output
