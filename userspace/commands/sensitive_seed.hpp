// commands: the start-up seed of sensitive files. The rules' sensitive paths are expanded in
// each home of /etc/passwd and stat'ed, so the engine knows those files by (device, inode) before
// any read (a hard link or a rename made before the monitor started still classifies).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "detect/rules.hpp"

namespace exfilwatch::commands {

struct SeedFile {
    std::string path;
    std::uint64_t device = 0;  // st_dev, the encoding FileOpenEvent carries
    std::uint64_t inode = 0;
};

// At most `cap` files; patterns with "**" are expanded one level deep.
std::vector<SeedFile> find_sensitive_files(const detect::Rules& rules, const std::string& passwd_path, std::size_t cap);

}  // namespace exfilwatch::commands
