// kernel: the capabilities exfilwatch needs, checked before anything is loaded so that the
// user gets one clear line instead of a libbpf error.
#pragma once

#include <string>

namespace exfilwatch::kernel {

// Names of the needed capabilities the process lacks in its effective set, comma-separated;
// empty when everything is there.
std::string missing_capabilities();

}  // namespace exfilwatch::kernel
