// libFuzzer target for enrich/container: any bytes as a cgroup path and as a /proc/<pid>/cgroup
// file; a result must always be a well-formed identity.
#include "enrich/container.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

bool is_lower_hex_id(std::string_view id)
{
    if (id.size() != 64) {
        return false;
    }
    for (char c : id) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

void check(const std::optional<exfilwatch::enrich::ContainerIdentity>& identity)
{
    if (!identity) {
        return;
    }
    if (!is_lower_hex_id(identity->container_id) || identity->runtime.empty()) {
        std::abort();
    }
    const auto uid_size = identity->pod_uid.size();
    if (uid_size != 0 && uid_size != 32 && uid_size != 36) {
        std::abort();
    }
    if ((uid_size == 0) != identity->qos.empty()) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check(exfilwatch::enrich::parse_cgroup_path(text));
    check(exfilwatch::enrich::parse_proc_cgroup(text));
    return 0;
}
