// kernel: capability check from /proc/self/status (no libcap dependency).
#include "kernel/capabilities.hpp"

#include <fstream>
#include <string>

namespace exfilwatch::kernel {

std::string missing_capabilities()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    unsigned long long effective = 0;
    while (std::getline(status, line)) {
        if (line.rfind("CapEff:", 0) == 0) effective = std::stoull(line.substr(7), nullptr, 16);
    }
    auto has = [effective](int bit) { return (effective & (1ULL << bit)) != 0; };
    constexpr int cap_sys_admin = 21, cap_perfmon = 38, cap_bpf = 39;
    // CAP_SYS_ADMIN alone is enough (and needed before 5.8); otherwise CAP_BPF + CAP_PERFMON.
    if (has(cap_sys_admin)) return {};
    std::string missing;
    if (!has(cap_bpf)) missing = "CAP_BPF";
    if (!has(cap_perfmon)) missing += missing.empty() ? "CAP_PERFMON" : ", CAP_PERFMON";
    return missing;
}

}  // namespace exfilwatch::kernel
