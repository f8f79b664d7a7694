// Tests userspace/util/files.hpp: pseudo-files and write opens.
#include <doctest/doctest.h>

#include <fcntl.h>

#include "util/files.hpp"

using namespace exfilwatch::util;

TEST_CASE("pseudo-files are /proc, /sys and /dev, not look-alike names")
{
    CHECK(is_pseudo_file("/proc/self/environ"));
    CHECK(is_pseudo_file("/dev/null"));
    CHECK(is_pseudo_file("/sys/kernel/notes"));
    CHECK_FALSE(is_pseudo_file("/devices.txt"));
    CHECK_FALSE(is_pseudo_file("/home/u/proc/x"));
    CHECK_FALSE(is_pseudo_file(""));
}

TEST_CASE("an open is for writing with write access, O_CREAT or O_TRUNC")
{
    CHECK_FALSE(opens_for_write(O_RDONLY));
    CHECK_FALSE(opens_for_write(O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    CHECK(opens_for_write(O_WRONLY));
    CHECK(opens_for_write(O_RDWR));
    CHECK(opens_for_write(O_RDONLY | O_CREAT));
    CHECK(opens_for_write(O_RDONLY | O_TRUNC));
}
