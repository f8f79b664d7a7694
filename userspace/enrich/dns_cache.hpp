// enrich: IP -> names learned from DNS answers the monitored processes received. Bounded; a
// lookup prefers the name the asking process itself resolved, then the most recent one.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "events.hpp"

namespace exfilwatch::enrich {

class DnsCache {
public:
    explicit DnsCache(std::size_t max_ips = 65536) : max_ips_(max_ips) {}

    // Records that `pid` resolved `name` (through `cnames`, first to last) to `ip`.
    void add(const std::string& ip, const std::string& name, std::uint32_t pid, TimeNs time);
    // The best name for `ip` from the point of view of `pid`; empty when unknown.
    std::string lookup(const std::string& ip, std::uint32_t pid) const;

    std::size_t size() const { return by_ip_.size(); }
    std::uint64_t evictions() const { return evictions_; }

private:
    struct Name {
        std::string name;
        std::uint32_t pid = 0;
        TimeNs time = 0;
    };
    static constexpr std::size_t names_per_ip = 4;
    std::size_t max_ips_;
    std::unordered_map<std::string, std::vector<Name>> by_ip_;
    std::list<std::string> order_;  // insertion order of IPs, for eviction
    std::uint64_t evictions_ = 0;
};

}  // namespace exfilwatch::enrich
