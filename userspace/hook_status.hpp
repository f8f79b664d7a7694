// Shared vocabulary: one hook's attach result, as kernel/ finds it at start and the
// monitor-started record reports it (attached and degraded hooks).
#pragma once

#include <string>

namespace exfilwatch {

struct HookStatus {
    std::string name;  // the program's section ("tp/syscalls/sys_exit_openat")
    bool attached = false;
    std::string reason;  // why it is degraded (empty when attached)
};

}  // namespace exfilwatch
