// util: the running kernel's version from its release string, and the minimum exfilwatch loads
// on. Header-only so that kernel/ (the probe at start) and the unit tests share it.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

namespace exfilwatch::util {

struct KernelVersion {
    int major = 0;
    int minor = 0;
    auto operator<=>(const KernelVersion&) const =
        default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
};

// Linux 6.2: bpf_rdonly_cast (file.bpf.c's fd -> struct file); every other kernel feature used
// is older (bpf_loop 5.17, BTF tracepoints and cgroup socket storage before that).
inline constexpr KernelVersion minimum_kernel{6, 2};

// "6.18.44-fc-v1045" -> {6, 18}; nullopt when the string does not start with N.M.
inline std::optional<KernelVersion> parse_kernel_release(std::string_view release)
{
    KernelVersion v;
    const char* end = release.data() + release.size();
    auto [p, ec] = std::from_chars(release.data(), end, v.major);
    if (ec != std::errc() || p == end || *p != '.') return std::nullopt;
    auto [q, ec2] = std::from_chars(p + 1, end, v.minor);
    if (ec2 != std::errc() || q == p + 1) return std::nullopt;
    return v;
}

}  // namespace exfilwatch::util
