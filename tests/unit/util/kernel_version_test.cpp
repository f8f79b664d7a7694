#include <doctest/doctest.h>

#include "util/kernel_version.hpp"

using exfilwatch::util::KernelVersion;
using exfilwatch::util::minimum_kernel;
using exfilwatch::util::parse_kernel_release;

TEST_CASE("kernel release strings parse to major.minor")
{
    CHECK(parse_kernel_release("6.18.44-fc-v1045") == KernelVersion{6, 18});
    CHECK(parse_kernel_release("6.2.0") == KernelVersion{6, 2});
    CHECK(parse_kernel_release("5.15.0-91-generic") == KernelVersion{5, 15});
    CHECK(parse_kernel_release("6.10") == KernelVersion{6, 10});
    CHECK_FALSE(parse_kernel_release("").has_value());
    CHECK_FALSE(parse_kernel_release("6").has_value());
    CHECK_FALSE(parse_kernel_release("6.").has_value());
    CHECK_FALSE(parse_kernel_release("linux-6.2").has_value());
}

TEST_CASE("the minimum kernel is 6.2 and compares by minor numerically")
{
    CHECK(minimum_kernel == KernelVersion{6, 2});
    CHECK(*parse_kernel_release("6.1.90") < minimum_kernel);
    CHECK(*parse_kernel_release("5.17.0") < minimum_kernel);
    CHECK_FALSE(*parse_kernel_release("6.2.1") < minimum_kernel);
    CHECK_FALSE(*parse_kernel_release("6.10.3") < minimum_kernel);  // 10 > 2, not "1" < "2"
}
