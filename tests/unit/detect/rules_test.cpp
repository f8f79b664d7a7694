// Tests detect/rules.cpp and detect/match.cpp: the built-in rules load, domains and paths classify
// as documented, and bad files fail with the exact line and column.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "detect/rules.hpp"
#include "util/text.hpp"

using namespace exfilwatch;
using namespace exfilwatch::detect;

namespace {

Rules load_ok(std::string_view yaml)
{
    auto r = load_rules(yaml, "test.yaml");
    if (auto* e = std::get_if<RulesError>(&r)) FAIL(e->to_string());
    return std::get<Rules>(std::move(r));
}

RulesError load_err(std::string_view yaml)
{
    auto r = load_rules(yaml, "test.yaml");
    REQUIRE(std::holds_alternative<RulesError>(r));
    return std::get<RulesError>(r);
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    REQUIRE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Smallest valid file; tests splice errors into it at known lines.
const std::string minimal = R"(version: 1
categories:
  paste: {label: paste site, technique: T1567, subtechnique: T1567.003, weight: 25}
services:
  paste: [pastebin.com]
sensitive_files:
  ssh-key: {weight: 35, paths: ["~/.ssh/id_*"], exclude: ["**/*.pub"]}
upload_tools:
  - {name: curl, names: [curl], upload_args: [{flags: [-T]}]}
)";

}  // namespace

TEST_CASE("the built-in rules load and hold every category")
{
    auto rules = load_ok(builtin_rules_yaml);
    for (auto [cat, sub] : {std::pair{"code-repository", "T1567.001"},
                            {"cloud-storage", "T1567.002"},
                            {"paste", "T1567.003"},
                            {"webhook", "T1567.004"},
                            {"tunnel", ""}}) {
        const auto* c = rules.category(cat);
        REQUIRE(c != nullptr);
        CHECK(c->technique_id == "T1567");
        CHECK(c->subtechnique_id == sub);
    }
    // A request bin or paste API takes any header: there a credential is use only where named.
    CHECK(rules.category("webhook")->named_credentials);
    CHECK(rules.category("paste")->named_credentials);
    CHECK_FALSE(rules.category("code-repository")->named_credentials);
    CHECK_FALSE(rules.category("tunnel")->named_credentials);
    CHECK(rules.settings.alert_threshold == 60);
    CHECK(rules.services.size() > 100);
    CHECK(rules.sensitive.size() >= 10);
}

TEST_CASE("the rules file in the tree is the embedded one")
{
    CHECK(read_file(EXFILWATCH_SOURCE_DIR "/rules/default.yaml") == builtin_rules_yaml);
}

TEST_CASE("domains match as suffixes on label boundaries")
{
    auto rules = load_ok(builtin_rules_yaml);
    auto cat = [&](std::string_view d, std::string_view path = {}) {
        const auto* s = rules.service_for(normalize_domain(d), path);
        return s ? s->category : std::string("none");
    };
    CHECK(cat("abc123.ngrok-free.app") == "tunnel");
    CHECK(cat("ngrok-free.app") == "tunnel");
    CHECK(cat("evilgithub.com") == "none");
    CHECK(cat("github.com.evil.net") == "none");
    CHECK(cat("GitHub.COM.") == "code-repository");
    CHECK(cat("gist.githubusercontent.com") == "code-repository");
    CHECK(cat("paste.rs:8443") == "paste");
    CHECK(cat("hooks.slack.com") == "webhook");
    CHECK(cat("slack.com") == "none");
    CHECK(cat("content.dropboxapi.com") == "cloud-storage");
    CHECK(cat("s3.amazonaws.com") == "cloud-storage");
    CHECK(cat("bucket.s3.eu-west-1.amazonaws.com") == "cloud-storage");
    CHECK(cat("s3-us-west-2.amazonaws.com") == "cloud-storage");
    CHECK(cat("ec2.eu-west-1.amazonaws.com") == "none");
    CHECK(cat("chat.googleapis.com") == "webhook");  // more specific than googleapis entries
    CHECK(cat("storage.googleapis.com") == "cloud-storage");
    CHECK(cat("discord.com", "/api/webhooks/1/x") == "webhook");
    CHECK(cat("discord.com", "/channels/1") == "none");
    CHECK(cat("discord.com") == "webhook");  // path unknown (TLS): counts
    CHECK(cat("") == "none");
}

TEST_CASE("sensitive paths classify under any home, with exclusions")
{
    auto rules = load_ok(builtin_rules_yaml);
    auto cls = [&](std::string_view p) {
        const auto* c = rules.classify(p);
        return c ? c->name : std::string("none");
    };
    CHECK(cls("/root/.ssh/id_rsa") == "ssh-key");
    CHECK(cls("/home/alice/.ssh/id_ed25519") == "ssh-key");
    CHECK(cls("/tmp/tmp.X1/home/.ssh/id_ecdsa") == "ssh-key");
    CHECK(cls("/home/alice/.ssh/id_ed25519.pub") == "none");
    CHECK(cls("/home/alice/.ssh/known_hosts") == "none");
    CHECK(cls("/etc/ssh/ssh_host_ed25519_key") == "ssh-key");
    CHECK(cls("/etc/ssh/ssh_host_ed25519_key.pub") == "none");
    CHECK(cls("/home/bob/.aws/credentials") == "cloud-credentials");
    CHECK(cls("/home/bob/.kube/config") == "kube-config");
    CHECK(cls("/var/run/secrets/kubernetes.io/serviceaccount/token") == "kube-config");
    CHECK(cls("/root/.docker/config.json") == "container-registry-credentials");
    CHECK(cls("/home/bob/.netrc") == "dev-tokens");
    CHECK(cls("/home/bob/.git-credentials") == "dev-tokens");
    CHECK(cls("/etc/shadow") == "system-secrets");
    CHECK(cls("/etc/shadowx") == "none");
    CHECK(cls("/home/bob/.bash_history") == "shell-history");
    CHECK(cls("/home/bob/.mozilla/firefox/abc.default/logins.json") == "browser-credentials");
    CHECK(cls("/home/bob/.config/google-chrome/Default/Login Data") == "browser-credentials");
    CHECK(cls("/home/bob/.gnupg/private-keys-v1.d/AB12.key") == "keyrings-wallets");
    CHECK(cls("/home/bob/Documents/plans/q3.odt") == "documents");
    CHECK(cls("/etc/os-release") == "none");
    CHECK(cls("relative/.ssh/id_rsa") == "none");
    std::string display;
    REQUIRE(rules.classify("/tmp/tmp.X1/home/.ssh/id_ecdsa", &display) != nullptr);
    CHECK(display == "~/.ssh/id_ecdsa");
    REQUIRE(rules.classify("/etc/shadow", &display) != nullptr);
    CHECK(display == "/etc/shadow");
}

TEST_CASE("path globs")
{
    std::string err;
    auto g = PathGlob::compile("/a/**/b[0-9]?.txt", err);
    REQUIRE(g);
    CHECK(g->matches("/a/b12.txt"));
    CHECK(g->matches("/a/x/y/b3z.txt"));
    CHECK_FALSE(g->matches("/a/x/bq1.txt"));
    CHECK_FALSE(g->matches("/a/b1.txt"));
    auto neg = PathGlob::compile("/x/[!a]*", err);
    REQUIRE(neg);
    CHECK(neg->matches("/x/bcd"));
    CHECK_FALSE(neg->matches("/x/abc"));
    // The quick test of the last segment (its literal head and tail) never changes an answer.
    struct Case {
        const char* glob;
        const char* path;
        bool match;
    };
    for (const Case& c : std::initializer_list<Case>{{"/a/x*y", "/a/xy", true},
                                                     {"/a/x*y", "/a/xqqy", true},
                                                     {"/a/x*y", "/a/qy", false},
                                                     {"/a/x*y", "/a/xq", false},
                                                     {"/a/ab*ba", "/a/aba", false},
                                                     {"/a/\\*z", "/a/*z", true},
                                                     {"/a/\\*z", "/a/qz", false},
                                                     {"/a/[*]x", "/a/*x", true},
                                                     {"/a/[*]x", "/a/qx", false},
                                                     {"/a/*[0-9]", "/a/k9", true},
                                                     {"/a/*[0-9]", "/a/k", false},
                                                     {"/a/b", "/a/b", true},
                                                     {"/a/b", "/a/bb", false},
                                                     {"/a/b", "/a/b/", false},
                                                     {"/a/**", "/a/b/", true},
                                                     {"**/.env", "/srv/app/.env", true},
                                                     {"**/.env", "/srv/app/.envrc", false},
                                                     {"~/.ssh/id_*", "/home/u/.ssh/id_ed25519", true},
                                                     {"~/.ssh/id_*", "/home/u/.ssh/known_hosts", false}}) {
        // (Members, not structured bindings: clang 14 refuses to capture those in CAPTURE's lambda.)
        const std::string_view glob = c.glob;
        const std::string_view path = c.path;
        CAPTURE(glob);
        CAPTURE(path);
        auto compiled = PathGlob::compile(glob, err);
        REQUIRE(compiled);
        CHECK(compiled->matches(path) == c.match);
        CHECK(compiled->matches_parts(util::split(path, '/')) == c.match);
    }
    for (auto bad : {"", "relative", "/a/[bc", "/a//b", "/a/b**", "/a/~/b", "/a/b]", "~/"}) {
        CAPTURE(bad);
        std::string e;
        CHECK_FALSE(PathGlob::compile(bad, e));
        CHECK_FALSE(e.empty());
    }
}

TEST_CASE("a minimal file loads with defaults")
{
    auto r = load_ok(minimal);
    CHECK(r.settings.alert_threshold == 60);
    CHECK(r.services.size() == 1);
    CHECK(r.tools.size() == 1);
}

TEST_CASE("errors carry the exact line and column")
{
    SUBCASE("unknown top-level key")
    {
        auto e = load_err(minimal + "colour: blue\n");
        CHECK(e.line == 10);
        CHECK(e.column == 1);
        CHECK(e.message.find("unknown key 'colour'") != std::string::npos);
        CHECK(e.to_string().rfind("test.yaml:10:1: ", 0) == 0);
    }
    SUBCASE("wrong type for a weight")
    {
        std::string y = minimal;
        y.replace(y.find("weight: 25"), 10, "weight: lots");
        auto e = load_err(y);
        CHECK(e.line == 3);
        CHECK(e.column == 81);
        CHECK(e.message.find("must be an integer") != std::string::npos);
    }
    SUBCASE("bad glob")
    {
        std::string y = minimal;
        y.replace(y.find("\"~/.ssh/id_*\""), 13, "\"~/.ssh/id_[\"");
        auto e = load_err(y);
        CHECK(e.line == 7);
        CHECK(e.column == 33);
        CHECK(e.message.find("unclosed '['") != std::string::npos);
    }
    SUBCASE("missing required section")
    {
        std::string y = minimal.substr(0, minimal.find("upload_tools:"));
        auto e = load_err(y);
        CHECK(e.line == 1);
        CHECK(e.column == 1);
        CHECK(e.message.find("'upload_tools'") != std::string::npos);
    }
    SUBCASE("service in an undefined category")
    {
        std::string y = minimal;
        y.replace(y.find("  paste: [pastebin.com]"), 23, "  pastes: [pastebin.com]");
        auto e = load_err(y);
        CHECK(e.line == 5);
        CHECK(e.column == 3);
    }
    SUBCASE("unknown key inside a nested map")
    {
        auto e = load_err(minimal + "settings:\n  alert_threshold: 60\n  window: 5\n");
        CHECK(e.line == 12);
        CHECK(e.column == 3);
        CHECK(e.message.find("unknown key 'window'") != std::string::npos);
    }
    SUBCASE("threshold out of range")
    {
        auto e = load_err(minimal + "settings:\n  alert_threshold: 101\n");
        CHECK(e.line == 11);
        CHECK(e.column == 20);
    }
    SUBCASE("syntax error")
    {
        auto e = load_err("version: 1\ncategories: [a, b\n");
        CHECK(e.line >= 2);
        CHECK(e.column >= 1);
    }
    SUBCASE("bad domain")
    {
        std::string y = minimal;
        y.replace(y.find("[pastebin.com]"), 14, "[paste bin.com]");
        auto e = load_err(y);
        CHECK(e.line == 5);
        CHECK(e.column == 11);
    }
    SUBCASE("allowlists can only lower")
    {
        auto e = load_err(minimal + "allowlists:\n  processes:\n    - {names: [x], adjust: 10}\n");
        CHECK(e.line == 12);
        CHECK(e.column == 28);
    }
    SUBCASE("tool without any upload rule")
    {
        auto e = load_err(minimal + "  - {name: x, names: [x]}\n");
        CHECK(e.line == 10);
        CHECK(e.column == 5);
    }
    SUBCASE("empty file")
    {
        auto e = load_err("");
        CHECK(e.message.find("empty") != std::string::npos);
    }
    SUBCASE("not a map")
    {
        auto e = load_err("- a\n- b\n");
        CHECK(e.line == 1);
        CHECK(e.message.find("must be a map") != std::string::npos);
    }
}

TEST_CASE("the checked-in sample files")
{
    CHECK(std::holds_alternative<Rules>(
        load_rules(read_file(EXFILWATCH_SOURCE_DIR "/tests/data/rules/minimal.yaml"), "m")));
    auto bad = load_rules(read_file(EXFILWATCH_SOURCE_DIR "/tests/data/rules/bad_weight.yaml"), "b");
    REQUIRE(std::holds_alternative<RulesError>(bad));
    CHECK(std::get<RulesError>(bad).line == 4);
}

TEST_CASE("own_storage: declared destinations load, and mistakes fail at their line and column")
{
    auto r = load_ok(minimal + "own_storage:\n  tools: [curl]\n  destinations:\n"
                               "    - s3.amazonaws.com/own-backups\n"
                               "    - {domain: backblazeb2.com, remote: \"b2:\", path: nightly/}\n"
                               "    - {domain: github.com, path: /our-org/, tools: [curl]}\n");
    REQUIRE(r.own_storage.destinations.size() == 3);
    CHECK(r.own_storage.tools == std::vector<std::string>{"curl"});
    CHECK(r.own_storage.destinations[0].domain.matches("s3.amazonaws.com"));
    CHECK(r.own_storage.destinations[0].path == "own-backups");
    CHECK(r.own_storage.destinations[1].remote == "b2");
    CHECK(r.own_storage.destinations[1].path == "nightly/");
    CHECK(r.own_storage.destinations[2].path == "our-org/");
    SUBCASE("a domain alone would trust every bucket")
    {
        auto e = load_err(minimal + "own_storage:\n  tools: [curl]\n  destinations:\n    - s3.amazonaws.com\n");
        CHECK(e.line == 13);
        CHECK(e.column == 7);
        CHECK(e.message.find("needs a bucket or path") != std::string::npos);
    }
    SUBCASE("a tool that is not an upload tool")
    {
        auto e = load_err(minimal + "own_storage:\n  tools: [curl, rsnyc]\n  destinations: [a.com/x]\n");
        CHECK(e.line == 11);
        CHECK(e.column == 17);
        CHECK(e.message.find("tool 'rsnyc' is not an upload_tools name") != std::string::npos);
    }
    SUBCASE("a URL instead of domain/path")
    {
        auto e = load_err(minimal + "own_storage:\n  tools: [curl]\n  destinations: [\"s3://own-backups\"]\n");
        CHECK(e.line == 12);
        CHECK(e.column == 18);
        CHECK(e.message.find("not a URL") != std::string::npos);
    }
    SUBCASE("no tool trusted")
    {
        auto e = load_err(minimal + "own_storage:\n  destinations: [a.com/x]\n");
        CHECK(e.line == 11);
        CHECK(e.message.find("has no tools") != std::string::npos);
    }
    SUBCASE("unknown key")
    {
        auto e =
            load_err(minimal + "own_storage:\n  tools: [curl]\n  destinations:\n    - {domain: a.com, bucket: x}\n");
        CHECK(e.line == 13);
        CHECK(e.column == 23);
        CHECK(e.message.find("unknown key 'bucket'") != std::string::npos);
    }
}

TEST_CASE("upload tool grammar keys are validated")
{
    auto e = load_err(minimal + "  - {name: rclone, names: [rclone], value_flags: [config],\n"
                                "     upload_subcommands: [{words: [copy], to: [\"<remote>\"]}]}\n");
    CHECK(e.line == 10);
    CHECK(e.message.find("flag 'config' must look like -x or --long") != std::string::npos);
    auto f = load_err(minimal + "  - {name: scp, names: [scp], upload_subcommands: [{words: [], to: [\"<host>\"]}]}\n");
    CHECK(f.line == 10);
    CHECK(f.message.find("unknown destination form '<host>'") != std::string::npos);
    auto g = load_err(minimal + "  - {name: scp, names: [scp], upload_subcommands: [{words: []}]}\n");
    CHECK(g.message.find("may be empty only with 'to'") != std::string::npos);
}

TEST_CASE("never_staging: system files rewritten at runtime")
{
    auto rules = load_ok(builtin_rules_yaml);
    for (auto p : {"/etc/hosts", "/etc/resolv.conf", "/var/cache/apt/pkgcache.bin", "/home/u/.cache/pip/x",
                   "/root/.cache/x", "/etc/hostname"})
        CHECK_MESSAGE(rules.never_staging(p), p);
    for (auto p : {"/tmp/x", "/home/u/notes.txt", "/etc/ssh/sshd_config", "/var/tmp/k"})
        CHECK_FALSE_MESSAGE(rules.never_staging(p), p);
}

TEST_CASE("documents: office files in a source or build tree are not personal documents")
{
    auto rules = load_ok(builtin_rules_yaml);
    auto cls = [&](std::string_view p) {
        const auto* c = rules.classify(p);
        return c ? c->name : std::string();
    };
    CHECK(cls("/home/u/Documents/salaries.xlsx") == "documents");
    CHECK(cls("/home/u/Documents/src/plan.xlsx") == "documents");  // the Documents folder is documents
    CHECK(cls("/home/u/budget.xlsx") == "office-files");
    CHECK(cls("/home/u/Downloads/contract.docx") == "office-files");
    CHECK(cls("/home/u/work/app/tests/fixtures/sample.xlsx") == "");
    CHECK(cls("/home/u/src/openpyxl/tests/data/reader/basic.xlsx") == "");
    CHECK(cls("/build/libreoffice/sc/qa/unit/data/xlsx/chart.xlsx") == "");
    CHECK(cls("/home/u/proj/build/out/report.docx") == "");
    CHECK(cls("/home/u/proj/node_modules/xlsx/test_files/a.xlsx") == "");
    CHECK(cls("/usr/lib/python3/dist-packages/pptx/templates/default.pptx") == "");
    CHECK(cls("/home/u/.local/lib/python3.11/site-packages/docx/templates/default.docx") == "");
    CHECK(cls("/home/u/secrets.kdbx") == "keyrings-wallets");
    CHECK(cls("/home/u/src/keepassxc/tests/data/NewDatabase.kdbx") ==
          "keyrings-wallets");  // a password file is one anywhere
}

TEST_CASE("the anchor index classifies every path as trying every glob does")
{
    const auto indexed = load_ok(builtin_rules_yaml);
    REQUIRE(indexed.path_index.globs > 0);
    auto full = indexed;
    full.path_index = PathIndex{};  // not built: every glob tried
    // A path for each glob (each wildcard filled, `**` as none and as two directories, `~/` as
    // two homes), the same one directory up and with a harmless name, and everyday paths.
    std::vector<std::string> paths = {"/",
                                      "/tmp/prof/tree/d000/f00.txt",
                                      "/usr/lib/x86_64-linux-gnu/libc.so.6",
                                      "/home/u/src/app/.env",
                                      "/home/u/src/app/.env.example",
                                      "/home/u/.ssh/id_ed25519.pub",
                                      "/home/u/Documents/report.xlsx",
                                      "/root/.aws/credentials.bak",
                                      "/etc/shadow",
                                      "/home/u/backup/db.kdbx"};
    for (const auto& c : indexed.sensitive) {
        for (const auto& g : c.paths) {
            for (const std::string globstar : {"", "a/b/"}) {
                for (const std::string home : {"/home/u/", "/root/"}) {
                    std::string p = g.pattern();
                    if (p.starts_with("~/")) p = home + p.substr(2);
                    else if (p.starts_with("**/"))
                        p = "/srv/x/" + p.substr(3);
                    std::string filled;
                    for (std::size_t i = 0; i < p.size(); ++i) {
                        if (p.compare(i, 3, "**/") == 0) {
                            filled += globstar;
                            i += 2;
                        } else if (p.compare(i, 2, "**") == 0) {
                            filled += "a/b";
                            ++i;
                        } else if (p[i] == '*' || p[i] == '?') {
                            filled += 'x';
                        } else if (p[i] == '[') {
                            filled += p[i + 1] == '!' || p[i + 1] == '^' ? '~' : p[i + 1];
                            i = p.find(']', i + 1);
                        } else if (p[i] == '\\' && i + 1 < p.size()) {
                            filled += p[++i];
                        } else {
                            filled += p[i];
                        }
                    }
                    paths.push_back(filled);
                    paths.push_back(filled.substr(0, filled.rfind('/')));
                    paths.push_back(filled.substr(0, filled.rfind('/') + 1) + "notes.txt");
                }
            }
        }
    }
    std::size_t sensitive = 0;
    for (const auto& p : paths) {
        std::string shown_indexed, shown_full;
        const auto* a = indexed.classify(p, &shown_indexed);
        const auto* b = full.classify(p, &shown_full);
        INFO(p);
        CHECK((a ? a->name : "") == (b ? b->name : ""));
        CHECK(shown_indexed == shown_full);
        sensitive += a != nullptr;
    }
    CHECK(sensitive > paths.size() / 4);  // the filled globs mostly classify: the comparison is not vacuous

    // Classes changed after loading: the stale index is not used.
    auto changed = indexed;
    std::erase_if(changed.sensitive, [](const SensitiveClass& c) { return c.name == "ssh-key"; });
    CHECK(changed.classify("/home/u/.ssh/id_rsa") == nullptr);
    CHECK(changed.classify("/home/u/.aws/credentials") != nullptr);
}

TEST_CASE("PathParts splits as util::split does, on the stack and past 64 pieces")
{
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += "/d" + std::to_string(i);
    for (const std::string& path :
         std::vector<std::string>{"/", "", "/a//b/", "/home/u/.ssh/id_rsa", "relative/x", deep, deep.substr(0, 190)}) {
        const PathParts parts(path);
        const auto expected = util::split(path, '/');
        REQUIRE(parts.view().size() == expected.size());
        CHECK(std::equal(expected.begin(), expected.end(), parts.view().begin()));
    }
    std::string error;
    auto glob = PathGlob::compile("/d0/**/d99", error);
    REQUIRE(glob);
    CHECK(glob->matches(deep));
    CHECK_FALSE(glob->matches(deep + "/x"));
}
