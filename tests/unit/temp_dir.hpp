// Test helper: a directory of its own under the system temp dir, named after the test and the
// process, empty at the start and removed at the end.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace exfilwatch::test {

struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name)
        : path(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid())))
    {
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

}  // namespace exfilwatch::test
