// enrich: the DNS answer cache (see dns_cache.hpp).
#include "enrich/dns_cache.hpp"

#include <algorithm>

namespace exfilwatch::enrich {

void DnsCache::add(const std::string& ip, const std::string& name, std::uint32_t pid, TimeNs time)
{
    auto [it, inserted] = by_ip_.try_emplace(ip);
    if (inserted) {
        order_.push_back(ip);
        if (by_ip_.size() > max_ips_) {
            by_ip_.erase(order_.front());
            order_.pop_front();
            ++evictions_;
            it = by_ip_.find(ip);
            if (it == by_ip_.end()) return;
        }
    }
    auto& names = it->second;
    auto same = std::find_if(names.begin(), names.end(), [&](const Name& n) { return n.name == name && n.pid == pid; });
    if (same != names.end()) {
        same->time = time;
        return;
    }
    if (names.size() >= names_per_ip) names.erase(names.begin());
    names.push_back(Name{name, pid, time});
}

std::string DnsCache::lookup(const std::string& ip, std::uint32_t pid) const
{
    auto it = by_ip_.find(ip);
    if (it == by_ip_.end() || it->second.empty()) return {};
    const Name* best = nullptr;
    for (const auto& n : it->second) {
        bool better = !best || (n.pid == pid && best->pid != pid) ||
                      ((n.pid == pid) == (best->pid == pid) && n.time >= best->time);
        if (better) best = &n;
    }
    return best->name;
}

}  // namespace exfilwatch::enrich
