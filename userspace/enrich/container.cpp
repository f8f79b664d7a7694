// Container identity from cgroup paths: recognises the cgroup shapes that Docker, containerd
// (CRI and standalone), CRI-O and podman create under the cgroupfs and systemd drivers.
#include "enrich/container.hpp"

#include <array>

namespace exfilwatch::enrich {
namespace {

constexpr std::size_t container_id_len = 64;

bool is_lower_hex(std::string_view s)
{
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return !s.empty();
}

bool is_container_id(std::string_view s)
{
    return s.size() == container_id_len && is_lower_hex(s);
}

bool strip_suffix(std::string_view& s, std::string_view suffix)
{
    if (!s.ends_with(suffix)) {
        return false;
    }
    s.remove_suffix(suffix.size());
    return true;
}

bool strip_prefix(std::string_view& s, std::string_view prefix)
{
    if (!s.starts_with(prefix)) {
        return false;
    }
    s.remove_prefix(prefix.size());
    return true;
}

// A pod UID as kubelet writes it: a UUID (dashes with cgroupfs, underscores in systemd slice
// names, where '-' separates the slice hierarchy) or the 32-hex hash kubelet gives static pods.
std::optional<std::string> normalise_pod_uid(std::string_view s, char separator)
{
    if (s.size() == 32 && is_lower_hex(s)) {
        return std::string(s);
    }
    if (s.size() != 36) {
        return std::nullopt;
    }
    std::string uid(s);
    for (std::size_t i = 0; i < uid.size(); ++i) {
        const bool separator_slot = i == 8 || i == 13 || i == 18 || i == 23;
        if (separator_slot) {
            if (uid[i] != separator) {
                return std::nullopt;
            }
            uid[i] = '-';
        } else if (!is_lower_hex(std::string_view(&uid[i], 1))) {
            return std::nullopt;
        }
    }
    return uid;
}

struct ContainerMatch {
    std::string_view id;
    std::string_view runtime;
};

// `<prefix><64hex>` with the systemd `.scope` suffix or none (cgroupfs drivers use the bare form).
struct PrefixedRuntime {
    std::string_view prefix;
    std::string_view runtime;
};

// Helper scopes such as `crio-conmon-<id>.scope` and `libpod-conmon-<id>.scope` hold the
// runtime's monitor process, not the container; their prefixes do not match below because
// "conmon-<id>" is not 64 hex.
constexpr std::array<PrefixedRuntime, 6> prefixed_runtimes{{
    {"docker-", "docker"},
    {"cri-containerd-", "containerd"},
    {"nerdctl-", "containerd"},
    {"crio-", "cri-o"},
    {"libpod-", "podman"},
    {"cri-dockerd-", "docker"},
}};

std::optional<ContainerMatch> match_container(std::string_view component, std::string_view parent, bool parent_is_pod)
{
    if (is_container_id(component)) {
        std::string_view runtime = "unknown";
        if (parent == "docker") {
            runtime = "docker";
        } else if (parent == "libpod_parent") {
            runtime = "podman";
        } else if (parent_is_pod) {
            runtime = "cri";
        }
        return ContainerMatch{component, runtime};
    }
    std::string_view name = component;
    strip_suffix(name, ".scope");
    for (const auto& candidate : prefixed_runtimes) {
        std::string_view rest = name;
        if (strip_prefix(rest, candidate.prefix) && is_container_id(rest)) {
            return ContainerMatch{rest, candidate.runtime};
        }
    }
    return std::nullopt;
}

struct PodMatch {
    std::string uid;
    std::string_view qos;  // empty when the component does not say
};

std::string_view qos_from_word(std::string_view word)
{
    if (word == "burstable") {
        return "burstable";
    }
    if (word == "besteffort") {
        return "besteffort";
    }
    return {};
}

// cgroupfs: `pod<uid>`; systemd: `kubepods[-<qos>]-pod<uid_underscored>.slice`, possibly under
// a kubelet cgroup root prefix (kind names them `kubelet-kubepods-...`).
std::optional<PodMatch> match_pod(std::string_view component)
{
    std::string_view name = component;
    if (strip_suffix(name, ".slice")) {
        const auto pod_pos = name.rfind("-pod");
        if (pod_pos == std::string_view::npos) {
            return std::nullopt;
        }
        std::string_view head = name.substr(0, pod_pos);
        auto uid = normalise_pod_uid(name.substr(pod_pos + 4), '_');
        if (!uid || head.find("kubepods") == std::string_view::npos) {
            return std::nullopt;
        }
        std::string_view qos;
        if (head.ends_with("-burstable")) {
            qos = "burstable";
        } else if (head.ends_with("-besteffort")) {
            qos = "besteffort";
        } else if (head.ends_with("kubepods")) {
            qos = "guaranteed";
        } else {
            return std::nullopt;
        }
        return PodMatch{std::move(*uid), qos};
    }
    if (!strip_prefix(name, "pod")) {
        return std::nullopt;
    }
    auto uid = normalise_pod_uid(name, '-');
    if (!uid) {
        return std::nullopt;
    }
    return PodMatch{std::move(*uid), {}};
}

// The QoS class a cgroupfs or systemd qos-level component names: `burstable`,
// `kubepods-besteffort.slice`, ...
std::string_view match_qos_component(std::string_view component)
{
    std::string_view name = component;
    if (strip_suffix(name, ".slice")) {
        const auto dash = name.rfind('-');
        if (dash == std::string_view::npos || name.substr(0, dash).find("kubepods") == std::string_view::npos) {
            return {};
        }
        return qos_from_word(name.substr(dash + 1));
    }
    return qos_from_word(name);
}

}  // namespace

std::optional<ContainerIdentity> parse_cgroup_path(std::string_view path)
{
    if (path.empty() || path.size() > max_cgroup_path_bytes) {
        return std::nullopt;
    }
    // cgroup v2 marks a process whose cgroup was removed with " (deleted)".
    strip_suffix(path, " (deleted)");

    std::optional<ContainerIdentity> found;
    bool in_kubepods = false;
    std::string_view qos_seen;
    std::optional<PodMatch> pod_seen;
    bool previous_is_pod = false;
    std::string_view previous;

    std::size_t pos = 0;
    while (pos <= path.size()) {
        auto end = path.find('/', pos);
        if (end == std::string_view::npos) {
            end = path.size();
        }
        const std::string_view component = path.substr(pos, end - pos);
        pos = end + 1;
        if (component.empty()) {
            continue;
        }

        bool is_pod = false;
        if (component.find("kubepods") != std::string_view::npos) {
            in_kubepods = true;
        }
        if (in_kubepods) {
            if (auto pod = match_pod(component)) {
                if (pod->qos.empty()) {
                    pod->qos = qos_seen.empty() ? std::string_view("guaranteed") : qos_seen;
                }
                pod_seen = std::move(pod);
                is_pod = true;
            } else if (auto qos = match_qos_component(component); !qos.empty()) {
                qos_seen = qos;
            }
        }
        if (!is_pod) {
            if (auto match = match_container(component, previous, previous_is_pod)) {
                ContainerIdentity identity{std::string(match->id), std::string(match->runtime), {}, {}};
                if (pod_seen) {
                    identity.pod_uid = pod_seen->uid;
                    identity.qos = std::string(pod_seen->qos);
                }
                found = std::move(identity);
                // A container nested in this one (docker-in-docker, a kind node) starts afresh.
                in_kubepods = false;
                qos_seen = {};
                pod_seen.reset();
            }
        }
        previous = component;
        previous_is_pod = is_pod;
    }
    return found;
}

std::optional<ContainerIdentity> parse_proc_cgroup(std::string_view file_contents)
{
    if (file_contents.size() > max_proc_cgroup_bytes) {
        return std::nullopt;
    }
    std::optional<ContainerIdentity> first_v1;
    std::size_t pos = 0;
    while (pos < file_contents.size()) {
        auto end = file_contents.find('\n', pos);
        if (end == std::string_view::npos) {
            end = file_contents.size();
        }
        const std::string_view line = file_contents.substr(pos, end - pos);
        pos = end + 1;

        // hierarchy-ID:controller-list:cgroup-path; the path itself may contain ':'.
        const auto first_colon = line.find(':');
        if (first_colon == std::string_view::npos) {
            continue;
        }
        const auto second_colon = line.find(':', first_colon + 1);
        if (second_colon == std::string_view::npos) {
            continue;
        }
        const std::string_view hierarchy = line.substr(0, first_colon);
        const std::string_view controllers = line.substr(first_colon + 1, second_colon - first_colon - 1);
        const bool is_v2 = hierarchy == "0" && controllers.empty();
        auto identity = parse_cgroup_path(line.substr(second_colon + 1));
        if (!identity) {
            continue;
        }
        if (is_v2) {
            return identity;
        }
        if (!first_v1) {
            first_v1 = std::move(identity);
        }
    }
    return first_v1;
}

}  // namespace exfilwatch::enrich
