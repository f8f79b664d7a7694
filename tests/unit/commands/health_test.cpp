// Tests userspace/commands/health.cpp: the heartbeat file and the probe that reads it.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "commands/commands.hpp"

using namespace exfilwatch::commands;
namespace fs = std::filesystem;

TEST_CASE("a fresh heartbeat passes the probe, a stale or missing one fails it")
{
    fs::path file = fs::temp_directory_path() / ("ew-health-" + std::to_string(getpid()));
    fs::remove(file);
    CHECK(health(file.string(), 30) == 1);  // missing

    touch_health_file(file.string());
    CHECK(health(file.string(), 30) == 0);

    fs::last_write_time(file, fs::file_time_type::clock::now() - std::chrono::seconds(120));
    CHECK(health(file.string(), 30) == 1);  // two minutes old
    touch_health_file(file.string());
    CHECK(health(file.string(), 30) == 0);
    fs::remove(file);
}

TEST_CASE("the heartbeat file is never left writable by others")
{
    fs::path file = fs::temp_directory_path() / ("ew-health-mode-" + std::to_string(getpid()));
    std::ofstream(file) << "";
    ::chmod(file.c_str(), 0666);
    touch_health_file(file.string());
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    fs::remove(file);
}
