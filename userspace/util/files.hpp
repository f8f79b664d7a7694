// What the stages agree on about files: which paths are pseudo-files, and which open flags mean
// the file was opened for writing (the kernel side, bpf/file.bpf.c ew_is_write, says the same).
#pragma once

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>

namespace exfilwatch::util {

// Kernel state and devices, not files' data: reading them never makes a file sensitive.
inline constexpr std::array<std::string_view, 3> pseudo_file_prefixes = {"/proc/", "/sys/", "/dev/"};

inline bool is_pseudo_file(std::string_view path)
{
    return std::any_of(pseudo_file_prefixes.begin(), pseudo_file_prefixes.end(),
                       [path](std::string_view prefix) { return path.substr(0, prefix.size()) == prefix; });
}

// Write access (O_WRONLY, O_RDWR, or the invalid access mode 3), O_CREAT or O_TRUNC.
constexpr bool opens_for_write(std::uint32_t flags)
{
    return (flags & O_ACCMODE) != 0 || (flags & (O_CREAT | O_TRUNC)) != 0;
}

}  // namespace exfilwatch::util
