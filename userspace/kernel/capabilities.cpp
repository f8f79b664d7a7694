// kernel: capability check and drop, with the raw capget/capset syscalls (no libcap dependency).
#include "kernel/capabilities.hpp"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

namespace exfilwatch::kernel {
namespace {

struct CapSets {
    std::uint64_t effective = 0, permitted = 0, inheritable = 0;
};

bool get_caps(CapSets& out)
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0) return false;
    auto join = [](std::uint32_t low, std::uint32_t high) { return std::uint64_t{low} | std::uint64_t{high} << 32; };
    out.effective = join(data[0].effective, data[1].effective);
    out.permitted = join(data[0].permitted, data[1].permitted);
    out.inheritable = join(data[0].inheritable, data[1].inheritable);
    return true;
}

bool set_caps(const CapSets& sets)
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; ++i) {
        data[i].effective = static_cast<std::uint32_t>(sets.effective >> (32 * i));
        data[i].permitted = static_cast<std::uint32_t>(sets.permitted >> (32 * i));
        data[i].inheritable = static_cast<std::uint32_t>(sets.inheritable >> (32 * i));
    }
    return syscall(SYS_capset, &header, data) == 0;
}

constexpr std::uint64_t bit(int cap)
{
    return std::uint64_t{1} << cap;
}

int last_capability()
{
    std::ifstream in("/proc/sys/kernel/cap_last_cap");
    int last = 40;
    in >> last;
    return last > 63 ? 63 : last;
}

}  // namespace

std::string missing_capabilities()
{
    CapSets caps;
    if (!get_caps(caps)) return "(capget failed)";
    auto has = [&caps](int cap) { return (caps.effective & bit(cap)) != 0; };
    std::string missing;
    auto add = [&missing](const char* name) {
        missing += missing.empty() ? std::string(name) : fmt::format(", {}", name);
    };
    // CAP_SYS_ADMIN implies CAP_BPF and CAP_PERFMON; the cgroup socket programs need
    // CAP_NET_ADMIN in any case, or the whole object fails to load.
    if (!has(cap_sys_admin)) {
        if (!has(cap_bpf)) add("CAP_BPF");
        if (!has(cap_perfmon)) add("CAP_PERFMON");
    }
    if (!has(cap_net_admin)) add("CAP_NET_ADMIN");
    return missing;
}

std::string capability_names(std::uint64_t caps)
{
    static constexpr std::pair<int, const char*> known[] = {{0, "cap_chown"},
                                                            {1, "cap_dac_override"},
                                                            {2, "cap_dac_read_search"},
                                                            {3, "cap_fowner"},
                                                            {5, "cap_kill"},
                                                            {6, "cap_setgid"},
                                                            {7, "cap_setuid"},
                                                            {8, "cap_setpcap"},
                                                            {cap_net_admin, "cap_net_admin"},
                                                            {cap_sys_ptrace, "cap_sys_ptrace"},
                                                            {cap_sys_admin, "cap_sys_admin"},
                                                            {24, "cap_sys_resource"},
                                                            {cap_perfmon, "cap_perfmon"},
                                                            {cap_bpf, "cap_bpf"}};
    std::string out;
    for (int cap = 0; cap < 64; ++cap) {
        if (!(caps & bit(cap))) continue;
        std::string name = fmt::format("cap_{}", cap);
        for (auto [number, known_name] : known)
            if (number == cap) name = known_name;
        out += out.empty() ? name : "," + name;
    }
    return out;
}

DropResult drop_capabilities(std::uint64_t wanted, const std::function<bool()>& needs_cap_bpf)
{
    DropResult result;
    CapSets now;
    if (!get_caps(now)) {
        result.error = fmt::format("capget: {}", std::strerror(errno));
        return result;
    }
    std::uint64_t keep = wanted & now.permitted;
    // The bounding set and the securebits only matter across exec (which exfilwatch never does);
    // they are narrowed anyway, so that nothing started from a compromised monitor gets more.
    if (now.effective & bit(CAP_SETPCAP)) {
        for (int cap = 0; cap <= last_capability(); ++cap) {
            if (keep & bit(cap)) continue;
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
                result.error =
                    fmt::format("dropping capability {} from the bounding set: {}", cap, std::strerror(errno));
                return result;
            }
        }
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        result.error = fmt::format("setting no_new_privs: {}", std::strerror(errno));
        return result;
    }
    // Whether the run loop's map reads need CAP_BPF is asked of the kernel, with it out of the
    // effective set but still permitted, so that the answer can still be "keep it".
    if ((now.permitted & bit(cap_bpf)) && needs_cap_bpf) {
        if (!set_caps(CapSets{keep & ~bit(cap_bpf), now.permitted, 0})) {
            result.error = fmt::format("capset: {}", std::strerror(errno));
            return result;
        }
        if (needs_cap_bpf()) keep |= bit(cap_bpf);
    }
    if (!set_caps(CapSets{keep, keep, 0})) {
        result.error = fmt::format("capset: {}", std::strerror(errno));
        return result;
    }
    result.kept = keep;
    return result;
}

}  // namespace exfilwatch::kernel
