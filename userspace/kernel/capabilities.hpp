// kernel: the capabilities exfilwatch needs, checked before anything is loaded so that the
// user gets one clear line instead of a libbpf error, and given up once the hooks are attached.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace exfilwatch::kernel {

// Capability numbers used here (linux/capability.h).
constexpr int cap_net_admin = 12;
constexpr int cap_sys_ptrace = 19;
constexpr int cap_sys_admin = 21;
constexpr int cap_perfmon = 38;
constexpr int cap_bpf = 39;

// Names of the needed capabilities the process lacks in its effective set, comma-separated;
// empty when everything is there. Loading needs CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN, which
// implies both) and CAP_NET_ADMIN (the cgroup network programs).
std::string missing_capabilities();

// "cap_bpf,cap_sys_ptrace": the names of the bits set in `caps`.
std::string capability_names(std::uint64_t caps);

// Result of dropping capabilities after attach.
struct DropResult {
    std::uint64_t kept = 0;  // the permitted (= effective) set left
    std::string error;       // empty on success
};

// Leaves only `wanted` (intersected with what the process has) in the effective and permitted
// sets, clears the inheritable and ambient sets, drops every other capability from the bounding
// set when CAP_SETPCAP allows it, and sets no_new_privs. When `needs_cap_bpf()`, called with
// CAP_BPF already out of the effective set, returns true, CAP_BPF is kept as well (kernels before
// 6.5 refuse map reads by fd without it when unprivileged BPF is disabled).
DropResult drop_capabilities(std::uint64_t wanted, const std::function<bool()>& needs_cap_bpf);

}  // namespace exfilwatch::kernel
