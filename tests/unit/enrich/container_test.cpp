// Tests for enrich/container: cgroup paths as real runtimes write them, each with its source,
// and lookalikes that must not be taken for containers.
#include "enrich/container.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "records.h"

using exfilwatch::enrich::ContainerIdentity;
using exfilwatch::enrich::parse_cgroup_path;
using exfilwatch::enrich::parse_proc_cgroup;

namespace {

// IDs copied from the sources cited next to each case.
constexpr const char* docker_id = "cbc4ed35e306246508a7f74734d1d241fc9133fbd8d675b4cf9626c1ac9f9eb3";
constexpr const char* centos_id = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d";
constexpr const char* k8s_id = "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376";
constexpr const char* pod_uid = "74c13223-5a00-11e9-b385-42010a80018d";
constexpr const char* pod_uid_underscored = "74c13223_5a00_11e9_b385_42010a80018d";

ContainerIdentity identity(std::string id, std::string runtime, std::string pod = {}, std::string qos = {})
{
    return ContainerIdentity{std::move(id), std::move(runtime), std::move(pod), std::move(qos)};
}

std::string cat(std::initializer_list<std::string> parts)
{
    std::string out;
    for (const auto& p : parts) {
        out += p;
    }
    return out;
}

}  // namespace

TEST_CASE("docker, cgroupfs driver")
{
    // Captured on this project's Debian 12 VM: docker.io 20.10, cgroup v1 + unified hierarchy.
    CHECK(parse_cgroup_path(cat({"/docker/", docker_id})) == identity(docker_id, "docker"));
    // Docker's runtime-metrics documentation: /sys/fs/cgroup/memory/docker/<longid>/.
    CHECK(parse_cgroup_path(cat({"/sys/fs/cgroup/memory/docker/", docker_id, "/"})) == identity(docker_id, "docker"));
    // neuvector share/system/cgroup_test.go (TestDockerIDDebian): old Debian docker with the
    // container cgroup directly under the root; no runtime hint in the path.
    CHECK(parse_cgroup_path("/4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970") ==
          identity("4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970", "unknown"));
}

TEST_CASE("docker, systemd driver")
{
    // neuvector cgroup_test.go (TestDockerIDCentOS): CentOS 7 docker with native.cgroupdriver=systemd.
    CHECK(parse_cgroup_path(cat({"/system.slice/docker-", centos_id, ".scope"})) == identity(centos_id, "docker"));
    // Same container seen from cgroup v2 (Fedora/Debian 12 default): 0::/system.slice/docker-<id>.scope
    CHECK(parse_proc_cgroup(cat({"0::/system.slice/docker-", centos_id, ".scope\n"})) == identity(centos_id, "docker"));
}

TEST_CASE("kubernetes, containerd with cgroupfs driver")
{
    // Qard/container-info test/fixtures/result.js (GKE, cgroup v1): besteffort pod.
    CHECK(parse_cgroup_path(cat({"/kubepods/besteffort/pod", pod_uid, "/", k8s_id})) ==
          identity(k8s_id, "cri", pod_uid, "besteffort"));
    CHECK(parse_cgroup_path(cat({"/kubepods/burstable/pod", pod_uid, "/", k8s_id})) ==
          identity(k8s_id, "cri", pod_uid, "burstable"));
    // K3s notes (CJLove/rt-operator notes/cgroupv1_notes.md): guaranteed pods sit directly
    // under kubepods, with no QoS level.
    CHECK(parse_cgroup_path(cat({"/kubepods/pod", pod_uid, "/", k8s_id})) ==
          identity(k8s_id, "cri", pod_uid, "guaranteed"));
}

TEST_CASE("kubernetes, systemd driver: containerd, CRI-O, dockershim")
{
    // kubelet cgroup_manager_linux.go: systemd slice names escape '-' in the pod UID as '_';
    // containerd's CRI plugin names the scope cri-containerd-<id>.scope.
    const std::string slices =
        cat({"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod", pod_uid_underscored, ".slice/"});
    CHECK(parse_cgroup_path(cat({slices, "cri-containerd-", k8s_id, ".scope"})) ==
          identity(k8s_id, "containerd", pod_uid, "burstable"));
    // cri-o internal/config/cgmgr/systemd.go: crio-<id>.scope (OpenShift, cgroup v2).
    CHECK(parse_proc_cgroup(cat({"0::", slices, "crio-", k8s_id, ".scope\n"})) ==
          identity(k8s_id, "cri-o", pod_uid, "burstable"));
    // crun on cgroup v2 puts the payload in a `container` child of the scope.
    CHECK(parse_cgroup_path(cat({slices, "crio-", k8s_id, ".scope/container"})) ==
          identity(k8s_id, "cri-o", pod_uid, "burstable"));
    // rt-operator notes: Kubernetes 1.23 with dockershim, guaranteed pod: kubepods-pod<uid>.slice.
    CHECK(parse_cgroup_path(cat({"/kubepods.slice/kubepods-pod", pod_uid_underscored, ".slice/docker-", k8s_id,
                                 ".scope"})) == identity(k8s_id, "docker", pod_uid, "guaranteed"));
    CHECK(parse_cgroup_path(cat({"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod",
                                 pod_uid_underscored, ".slice/cri-containerd-", k8s_id, ".scope"})) ==
          identity(k8s_id, "containerd", pod_uid, "besteffort"));
}

TEST_CASE("CRI-O with cgroupfs and its conmon scope")
{
    // cri-o internal/config/cgmgr/cgroupfs.go: <parent>/crio-<id>; conmon gets crio-conmon-<id>.
    CHECK(parse_cgroup_path(cat({"/kubepods/besteffort/pod", pod_uid, "/crio-", k8s_id})) ==
          identity(k8s_id, "cri-o", pod_uid, "besteffort"));
    CHECK_FALSE(parse_cgroup_path(cat({"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod",
                                       pod_uid_underscored, ".slice/crio-conmon-", k8s_id, ".scope"})));
    CHECK_FALSE(parse_cgroup_path(cat({"/kubepods/besteffort/pod", pod_uid, "/crio-conmon-", k8s_id})));
}

TEST_CASE("podman: rootful, rootless, cgroupfs, conmon excluded")
{
    // podman on Fedora (cgroup v2, systemd): /machine.slice/libpod-<id>.scope and its conmon.
    CHECK(parse_cgroup_path(cat({"/machine.slice/libpod-", docker_id, ".scope"})) == identity(docker_id, "podman"));
    CHECK(parse_cgroup_path(cat({"/machine.slice/libpod-", docker_id, ".scope/container"})) ==
          identity(docker_id, "podman"));
    CHECK_FALSE(parse_cgroup_path(cat({"/machine.slice/libpod-conmon-", docker_id, ".scope"})));
    // Rootless podman lives under the user's systemd instance (podman docs, cgroups v2 rootless).
    CHECK(parse_cgroup_path(cat({"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-", docker_id,
                                 ".scope"})) == identity(docker_id, "podman"));
    // podman --cgroup-manager=cgroupfs on cgroup v1: /libpod_parent/libpod-<id>.
    CHECK(parse_cgroup_path(cat({"/libpod_parent/libpod-", docker_id})) == identity(docker_id, "podman"));
    CHECK(parse_cgroup_path(cat({"/libpod_parent/", docker_id})) == identity(docker_id, "podman"));
    // podman pods are not Kubernetes pods: no pod UID.
    CHECK(parse_cgroup_path(cat({"/machine.slice/machine-libpod_pod_", centos_id, ".slice/libpod-", docker_id,
                                 ".scope"})) == identity(docker_id, "podman"));
}

TEST_CASE("standalone containerd (nerdctl)")
{
    // nerdctl: systemd driver nerdctl-<id>.scope; cgroupfs driver /<namespace>/<id> (runtime unknown).
    CHECK(parse_cgroup_path(cat({"/system.slice/nerdctl-", docker_id, ".scope"})) == identity(docker_id, "containerd"));
    CHECK(parse_cgroup_path(cat({"/default/", docker_id})) == identity(docker_id, "unknown"));
}

TEST_CASE("nested runtimes: the innermost container wins")
{
    // kind: each node is a docker container; pods run inside it (cgroup v1, cgroupns=host).
    const std::string node = centos_id;
    CHECK(parse_cgroup_path(cat({"/docker/", node, "/kubepods/besteffort/pod", pod_uid, "/", k8s_id})) ==
          identity(k8s_id, "cri", pod_uid, "besteffort"));
    // kind on cgroup v2 names the kubelet root `kubelet.slice`, so slices read kubelet-kubepods-*.
    CHECK(parse_cgroup_path(cat({"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                                 "kubelet-kubepods-besteffort-pod",
                                 pod_uid_underscored, ".slice/cri-containerd-", k8s_id, ".scope"})) ==
          identity(k8s_id, "containerd", pod_uid, "besteffort"));
    // A process in the kind node itself (containerd) belongs to the node container.
    CHECK(parse_cgroup_path(cat({"/docker/", node, "/system.slice/containerd.service"})) == identity(node, "docker"));
    // docker-in-docker with the host cgroup namespace.
    CHECK(parse_cgroup_path(cat({"/docker/", node, "/docker/", docker_id})) == identity(docker_id, "docker"));
    // A pod of the outer level does not leak into a nested container that has none.
    CHECK(parse_cgroup_path(cat({"/kubepods/burstable/pod", pod_uid, "/", k8s_id, "/docker/", docker_id})) ==
          identity(docker_id, "docker"));
    // systemd running inside a docker container creates its own sub-tree.
    CHECK(parse_cgroup_path(cat({"/system.slice/docker-", docker_id, ".scope/system.slice/nginx.service"})) ==
          identity(docker_id, "docker"));
}

TEST_CASE("static pods carry a 32-hex pod UID")
{
    // kubelet config/common.go: static pod UIDs are an md5 hash of the manifest, 32 hex digits.
    CHECK(parse_cgroup_path(cat({"/kubepods/burstable/pod2a8f8e0b3cfc6f1d2c0c4a4f8e56c3ad/", k8s_id})) ==
          identity(k8s_id, "cri", "2a8f8e0b3cfc6f1d2c0c4a4f8e56c3ad", "burstable"));
}

TEST_CASE("not containers: hosts, users, sessions, lookalikes")
{
    for (const std::string_view path : {
             "/",
             "",
             "/init.scope",
             "/system.slice/sshd.service",
             "/system.slice/docker.service",
             "/system.slice/containerd.service",
             "/user.slice/user-1000.slice/session-3.scope",
             "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-1234.scope",
             "/user.slice/user-0.slice/session-c1.scope",
             // this VM's own memory cgroup: a 32-hex job id, not a container
             "/process_api/4961a2928d56b555d2113d660bac92d3",
             // systemd-run transient units carry 32 hex digits
             "/system.slice/run-r3c4b0b5f3a1e4b6e8f0e9b1e2b3c4d5e.scope",
             "/machine.slice/machine-qemu\\x2d1\\x2dvm.scope",
             "/kubepods/besteffort/pod74c13223-5a00-11e9-b385-42010a80018d",
             "/kubepods.slice/kubepods-burstable.slice",
             "/docker",
             "/docker/",
         }) {
        CAPTURE(path);
        CHECK_FALSE(parse_cgroup_path(path));
    }
    const std::string id(docker_id);
    for (const std::string& path : std::vector<std::string>{
             "/docker/" + id.substr(0, 63),                                               // one digit short
             "/docker/" + id + "0",                                                       // one too many
             "/docker/" + std::string(id).replace(10, 1, "g"),                            // not hex
             "/docker/CBC4ED35E306246508A7F74734D1D241FC9133FBD8D675B4CF9626C1AC9F9EB3",  // runtimes write lowercase
             "/system.slice/docker-" + id + ".service",                                   // not a scope
             "/system.slice/docker-" + id.substr(0, 12) + ".scope",                       // short ID
             "/system.slice/podman-" + id + ".scope",
             "/machine.slice/libpod-conmon-" + id + ".scope",
         }) {
        CAPTURE(path);
        CHECK_FALSE(parse_cgroup_path(path));
    }
}

TEST_CASE("pod UIDs that are malformed are not reported")
{
    // A container without a well-formed pod UID keeps its ID but gets no pod.
    CHECK(parse_cgroup_path(cat({"/kubepods/besteffort/podnot-a-uid/", k8s_id})) == identity(k8s_id, "unknown"));
    CHECK(parse_cgroup_path(cat({"/kubepods/besteffort/pod74c13223_5a00_11e9_b385_42010a80018d/", k8s_id})) ==
          identity(k8s_id, "unknown"));
    CHECK(parse_cgroup_path(cat({"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod", pod_uid,
                                 ".slice/cri-containerd-", k8s_id, ".scope"})) == identity(k8s_id, "containerd"));
    // pod<uid> outside a kubepods tree is not a Kubernetes pod.
    CHECK(parse_cgroup_path(cat({"/pod", pod_uid, "/", k8s_id})) == identity(k8s_id, "unknown"));
}

TEST_CASE("path tolerance: slashes, deleted cgroups, relative paths")
{
    CHECK(parse_cgroup_path(cat({"//docker//", docker_id, "//"})) == identity(docker_id, "docker"));
    // cgroup v2 appends " (deleted)" once the cgroup is gone (kernel/cgroup/cgroup.c proc_cgroup_show).
    CHECK(parse_cgroup_path(cat({"/docker/", docker_id, " (deleted)"})) == identity(docker_id, "docker"));
    CHECK(parse_cgroup_path(cat({"docker/", docker_id})) == identity(docker_id, "docker"));
    CHECK_FALSE(parse_cgroup_path(std::string(5000, '/') + "docker/" + docker_id));
}

TEST_CASE("/proc/<pid>/cgroup files")
{
    // Captured on this project's VM: a docker.io 20.10 container on a hybrid v1 + v2 host.
    const std::string hybrid =
        cat({"9:name=systemd:/docker/", docker_id, "\n8:pids:/docker/", docker_id, "\n4:memory:/docker/", docker_id,
             "\n1:cpu:/docker/", docker_id, "\n0::/docker/", docker_id, "\n"});
    CHECK(parse_proc_cgroup(hybrid) == identity(docker_id, "docker"));

    // Host process on the same VM: only the memory controller has a (non-container) path.
    CHECK_FALSE(parse_proc_cgroup("9:name=systemd:/\n8:pids:/\n4:memory:/process_api/4961a2928d56b555d2113d660bac92d3\n"
                                  "1:cpu:/\n0::/\n"));

    // neuvector TestDockerIDCentOS-style v1 file: every line agrees.
    const std::string centos =
        cat({"10:devices:/system.slice/docker-", centos_id, ".scope\n2:cpuacct,cpu:/system.slice/docker-", centos_id,
             ".scope\n1:name=systemd:/system.slice/docker-", centos_id, ".scope\n"});
    CHECK(parse_proc_cgroup(centos) == identity(centos_id, "docker"));

    // The v2 line wins over v1 lines, wherever it is in the file.
    const std::string mixed = cat({"3:cpu:/docker/", centos_id, "\n0::/system.slice/docker-", docker_id, ".scope\n"});
    CHECK(parse_proc_cgroup(mixed) == identity(docker_id, "docker"));

    // Hybrid host where only v1 hierarchies were moved (the v2 line says "/"): first v1 line with an ID.
    const std::string v1_only = cat({"12:blkio:/\n11:memory:/kubepods/besteffort/pod", pod_uid, "/", k8s_id,
                                     "\n10:cpu:/docker/", docker_id, "\n0::/\n"});
    CHECK(parse_proc_cgroup(v1_only) == identity(k8s_id, "cri", pod_uid, "besteffort"));

    // Without a trailing newline, with CRLF garbage, and with ':' inside the path.
    CHECK(parse_proc_cgroup(cat({"0::/docker/", docker_id})) == identity(docker_id, "docker"));
    CHECK(parse_proc_cgroup(cat({"0::/odd:name/docker/", docker_id, "\n"})) == identity(docker_id, "docker"));
    CHECK_FALSE(parse_proc_cgroup(cat({"0::/docker/", docker_id, "\r\n"})));

    CHECK_FALSE(parse_proc_cgroup(""));
    CHECK_FALSE(parse_proc_cgroup("\n\n\n"));
    CHECK_FALSE(parse_proc_cgroup("garbage without colons\n"));
    CHECK_FALSE(parse_proc_cgroup(cat({"/docker/", docker_id, "\n"})));  // a bare path is not a cgroup line
    CHECK_FALSE(parse_proc_cgroup(std::string(70 * 1024, '\n') + "0::/docker/" + docker_id));
}

TEST_CASE("the innermost EW_CGROUP_DEPTH_MAX levels an exec record carries name the same container")
{
    // The kernel sends only the innermost levels of the cgroup v2 path (bpf/process.bpf.c).
    auto innermost = [](const std::string& path) {
        std::size_t cut = path.size();
        for (int level = 0; level < EW_CGROUP_DEPTH_MAX && cut != std::string::npos && cut > 0; ++level) {
            cut = path.rfind('/', cut - 1);
        }
        return cut == std::string::npos ? path : path.substr(cut);
    };
    const std::string node = centos_id;
    const std::vector<std::string> paths = {
        cat({"/docker/", node, "/kubepods/besteffort/pod", pod_uid, "/", k8s_id}),
        cat({"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod",
             pod_uid_underscored, ".slice/cri-containerd-", k8s_id, ".scope"}),
        cat({"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod", pod_uid_underscored,
             ".slice/cri-containerd-", k8s_id, ".scope"}),
        cat({"/docker/", node, "/system.slice/containerd.service"}),
        cat({"/docker/", docker_id}),
    };
    for (const auto& path : paths) {
        CAPTURE(path);
        const auto trimmed = innermost(path);
        REQUIRE(parse_cgroup_path(path));
        CHECK(parse_cgroup_path(trimmed) == parse_cgroup_path(path));
    }
    CHECK(innermost(paths[0]) == cat({"/kubepods/besteffort/pod", pod_uid, "/", k8s_id}));
}
