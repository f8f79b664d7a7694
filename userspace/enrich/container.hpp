// Container identity from a cgroup path: which runtime (Docker, containerd/CRI, CRI-O, podman)
// put the process there, its 64-hex container ID and, under Kubernetes, the pod UID and QoS.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace exfilwatch::enrich {

struct ContainerIdentity {
    std::string container_id;  // 64 lowercase hex digits
    std::string runtime;       // docker, containerd, cri-o, podman, cri (bare ID under kubepods), unknown
    std::string pod_uid;       // Kubernetes pod UID with dashes; empty outside Kubernetes
    std::string qos;           // guaranteed, burstable, besteffort; empty outside Kubernetes

    bool operator==(const ContainerIdentity&) const = default;
};

// Longest cgroup path and /proc/<pid>/cgroup text looked at; longer input yields nullopt.
inline constexpr std::size_t max_cgroup_path_bytes = 4096;
inline constexpr std::size_t max_proc_cgroup_bytes = std::size_t{64} * 1024;

// One cgroup path (the third field of a /proc/<pid>/cgroup line, or a path under /sys/fs/cgroup).
// The innermost container wins for nested runtimes (docker-in-docker, kind nodes). Conmon and
// other runtime helper scopes are not containers. Pure: no I/O, no globals.
std::optional<ContainerIdentity> parse_cgroup_path(std::string_view path);

// The whole /proc/<pid>/cgroup text, cgroup v1 (one line per hierarchy), v2 (`0::/path`) or
// hybrid: the v2 line when it names a container, else the first v1 line that does.
std::optional<ContainerIdentity> parse_proc_cgroup(std::string_view file_contents);

}  // namespace exfilwatch::enrich
