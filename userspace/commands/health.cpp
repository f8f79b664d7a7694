// `exfilwatch health`: the liveness probe, and the heartbeat `run` writes for it.
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "util/clock.hpp"

namespace exfilwatch::commands {

// Liveness: the loop proves it is alive by updating the file's modification time. The file is
// never left writable by others (a forged heartbeat would hide a dead monitor).
void touch_health_file(const std::string& path)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH))) ::fchmod(fd, st.st_mode & 0755);
    ::futimens(fd, nullptr);
    ::close(fd);
}

int health(const std::string& file, double max_age_s)
{
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
        fmt::print(stderr, "exfilwatch: health: {}: {}\n", file, std::strerror(errno));
        return 1;
    }
    const auto mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    const double age = static_cast<double>(static_cast<std::int64_t>(util::clock_ns(CLOCK_REALTIME)) - mtime_ns) / 1e9;
    if (age > max_age_s) {
        fmt::print(stderr, "exfilwatch: health: {} is {:.0f} s old (max {:.0f} s)\n", file, age, max_age_s);
        return 1;
    }
    return 0;
}

}  // namespace exfilwatch::commands
