// Tests userspace/kernel/capabilities.cpp: the names of capability sets (what monitor-started
// reports as kept).
#include <doctest/doctest.h>

#include "kernel/capabilities.hpp"

using namespace exfilwatch::kernel;

TEST_CASE("capability sets are named by their bits, lowest first")
{
    CHECK(capability_names(0).empty());
    CHECK(capability_names(std::uint64_t{1} << cap_sys_ptrace) == "cap_sys_ptrace");
    CHECK(capability_names((std::uint64_t{1} << cap_bpf) | (std::uint64_t{1} << cap_net_admin)) ==
          "cap_net_admin,cap_bpf");
}
