// Tests detect/content.cpp: secret tokens of a file, their encoded forms, the HTTP layout of a
// write, the scan of plaintext and the use-versus-leak verdict.
#include <doctest/doctest.h>

#include <string>
#include <utility>

#include <fmt/format.h>

#include "detect/content.hpp"
#include "util/text.hpp"

using namespace exfilwatch;
using namespace exfilwatch::detect;

namespace {

const std::string token = "gho_UnitTest0123456789abcdefABCDEF";
const std::string hosts_yml =
    "github.com:\n    oauth_token: " + token + "\n    user: ci-bot\n    git_protocol: https\n";

std::vector<std::byte> bytes(std::string_view text)
{
    const auto* p = reinterpret_cast<const std::byte*>(text.data());
    return {p, p + text.size()};
}

std::string b64(std::string_view in)  // whole, with padding (what `base64 -w0` prints)
{
    static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                     static_cast<unsigned char>(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += a[(v >> s) & 0x3f];
    }
    if (in.size() - i == 1) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += a[(v >> 18) & 0x3f];
        out += a[(v >> 12) & 0x3f];
        out += "==";
    } else if (in.size() - i == 2) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out += a[(v >> 18) & 0x3f];
        out += a[(v >> 12) & 0x3f];
        out += a[(v >> 6) & 0x3f];
        out += '=';
    }
    return out;
}

PlaintextWrite write_of(std::string_view text, std::uint64_t cookie = 7)
{
    PlaintextWrite w;
    w.flow.socket_cookie = cookie;
    w.source = "openssl";
    w.write_size = text.size();
    w.data = bytes(text);
    return w;
}

FingerprintIndex index_with_hosts_yml()
{
    FingerprintIndex index(8, {1, 2});
    index.add_file("/home/u/.config/gh/hosts.yml", 1, 42, hosts_yml);
    return index;
}

std::string status_post(std::string_view auth, std::string_view body)
{
    return fmt::format("POST /repos/o/r/statuses/0123abcd HTTP/1.1\r\nHost: api.github.com\r\n{}"
                       "User-Agent: curl/7.88.1\r\nContent-Length: {}\r\n\r\n{}",
                       auth, body.size(), body);
}

}  // namespace

namespace {

std::vector<std::string> secret_tokens(std::string_view text, std::size_t min_length = 16, std::size_t max_tokens = 256)
{
    std::vector<std::string> out;
    for (auto& t : file_tokens(text, min_length, max_tokens)) out.push_back(std::move(t.text));
    return out;
}

std::map<std::string, TokenFacts> token_facts(std::string_view text)
{
    std::map<std::string, TokenFacts> out;
    for (auto& t : file_tokens(text)) out.emplace(std::move(t.text), std::move(t.facts));
    return out;
}

}  // namespace

TEST_CASE("secret tokens: values, URL userinfo, PEM lines; not key names or paths")
{
    auto tokens = secret_tokens(hosts_yml);
    CHECK(tokens == std::vector<std::string>{token});
    auto aws = secret_tokens("[default]\naws_access_key_id = AKIAE2EUNITTEST7QX4Z\n"
                             "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYe2eUnitTest\n");
    CHECK(aws == std::vector<std::string>{"AKIAE2EUNITTEST7QX4Z", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYe2eUnitTest"});
    auto creds = secret_tokens("https://ci-bot:ghp_gitStore0123456789abcdef@github.com\n");
    CHECK(std::find(creds.begin(), creds.end(), "ghp_gitStore0123456789abcdef") != creds.end());
    auto pem = secret_tokens(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
        "-----END OPENSSH PRIVATE KEY-----\n");
    CHECK(std::find(pem.begin(), pem.end(), "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW") !=
          pem.end());
    CHECK(secret_tokens("ca_certs_file = /tmp/pytest-of-root/cert.pem\nregion = us-east-1\n").empty());
    // A host name is no secret (s3cmd's host_base), nor one with a port; a URL's token still is.
    CHECK(secret_tokens("host_base = s3.amazonaws.com\nhost_bucket = own-backups.s3.eu-west-1.amazonaws.com\n"
                        "proxy = proxy.corp.example:3128\n")
              .empty());
    CHECK(secret_tokens("db = postgres://app:e2eDbPassw0rd1234567890@db2.internal\n").size() >= 1);
    CHECK(secret_tokens(std::string(100000, 'a') + "1", 16, 4).size() <= 4);
}

TEST_CASE("token forms: raw, base64 at three alignments, hex, URL encoding")
{
    auto forms = token_forms("a+b/c=d0123456789xyz");
    auto has = [&](std::string_view enc, std::string_view text) {
        return std::any_of(forms.begin(), forms.end(),
                           [&](const TokenForm& f) { return f.encoding == enc && f.text == text; });
    };
    CHECK(has("raw", "a+b/c=d0123456789xyz"));
    CHECK(has("url", "a%2Bb%2Fc%3Dd0123456789xyz"));
    CHECK(has("hex", "612b622f633d643031323334353637383978797a"));
    CHECK(has("hex", "612B622F633D643031323334353637383978797A"));
    // Inside a larger base64 stream, whatever precedes the token.
    for (std::string prefix : {"", "x", "xy", "xyz0"}) {
        auto stream = b64(prefix + "a+b/c=d0123456789xyz" + "tail");
        bool found = std::any_of(forms.begin(), forms.end(), [&](const TokenForm& f) {
            return f.encoding == "base64" && stream.find(f.text) != std::string::npos;
        });
        CHECK_MESSAGE(found, "prefix of ", prefix.size());
    }
}

TEST_CASE("http layout: request line, headers by name, body; a write without a request line is body")
{
    auto text = status_post("Authorization: token abc\r\n", "{\"state\":\"success\"}");
    auto data = bytes(text);
    auto layout = http_layout(data);
    REQUIRE(layout.request);
    REQUIRE(layout.regions.size() >= 5);
    CHECK(layout.regions[0].kind == HttpRegion::Kind::request_line);
    CHECK(layout.regions[2].header == "authorization");
    CHECK(is_auth_header(layout.regions[2].header));
    CHECK_FALSE(is_auth_header("user-agent"));
    for (const auto* name : {"authorization", "proxy-authorization", "cookie", "x-api-key", "private-token",
                             "x-vault-token", "dd-api-key", "x-sentry-auth", "pinata_secret_api_key", "circle-token"})
        CHECK(is_auth_header(name));
    for (const auto* name : {"x-trace", "content-type", "x-request-id", "x-monkey", "host", "accept"})
        CHECK_FALSE(is_auth_header(name));
    CHECK(text.substr(layout.body_begin) == "{\"state\":\"success\"}");
    auto body = bytes("just a continuation of a body");
    auto cont = http_layout(body);
    CHECK_FALSE(cont.request);
    CHECK(cont.body_begin == 0);
    CHECK(http_layout({}).regions.empty());
    auto cut = bytes("GET / HTTP/1.1\r\nHost: a");  // a head cut by the end of the write
    CHECK(http_layout(cut).body_begin == cut.size());
}

TEST_CASE("opaque bytes: binary and base64 runs of 48+ count, JSON and a commit id do not")
{
    CHECK(opaque_bytes(bytes("{\"state\":\"success\",\"sha\":\"0123456789abcdef0123456789abcdef01234567\"}")) == 0);
    CHECK(opaque_bytes(bytes(std::string(64, 'Q'))) == 64);
    CHECK(opaque_bytes(bytes(std::string(47, 'Q'))) == 0);
    std::vector<std::byte> gz = {std::byte{0x1f}, std::byte{0x8b}, std::byte{0x08}, std::byte{0x00}};
    CHECK(opaque_bytes(gz) >= 3);
}

TEST_CASE("scan: a token in the Authorization header is located there; raw and base64 in the body are leaks")
{
    auto index = index_with_hosts_yml();
    CHECK(index.files() == 1);
    CHECK(index.has_file(1, 42));

    auto use = scan_plaintext(
        index,
        write_of(status_post("Authorization: token " + token + "\r\n", "{\"state\":\"success\",\"context\":\"ci\"}")),
        true);
    REQUIRE(use.matches.size() == 1);
    CHECK(use.matches[0].location == "auth-header");
    CHECK(use.matches[0].header == "authorization");
    CHECK(use.matches[0].encoding == "raw");
    CHECK(use.auth_headers == std::vector<std::string>{"authorization"});
    CHECK(use.complete);

    auto raw = scan_plaintext(index, write_of(status_post("", "{\"description\":\"" + token + "\"}")), true);
    REQUIRE(raw.matches.size() == 1);
    CHECK(raw.matches[0].location == "body");
    CHECK(raw.matches[0].path == "/home/u/.config/gh/hosts.yml");

    auto encoded = scan_plaintext(index, write_of(status_post("", b64(hosts_yml))), true);
    REQUIRE_FALSE(encoded.matches.empty());
    CHECK(encoded.matches[0].encoding == "base64");
    CHECK(encoded.matches[0].location == "body");

    auto url = scan_plaintext(index, write_of("GET /x?t=" + token + " HTTP/1.1\r\nHost: h\r\n\r\n"), true);
    REQUIRE(url.matches.size() == 1);
    CHECK(url.matches[0].location == "request-line");

    auto none = scan_plaintext(index, write_of(status_post("", "{\"state\":\"failure\"}")), true);
    CHECK(none.matches.empty());
    // A head cut short (the write's tail not captured) is not complete.
    auto w = write_of(status_post("", "{}"));
    w.write_size += 100;
    CHECK_FALSE(scan_plaintext(index, w, true).complete);
}

TEST_CASE("scan: an HTTP/2 write by its decoded frames: fields by name, DATA payloads end to end")
{
    auto index = index_with_hosts_yml();
    // The raw write (HPACK, framing) is binary; the decoded frames are what is scanned.
    auto h2 = [](std::vector<DecodedFrames::Field> fields, std::string_view body) {
        static constexpr char raw[] = "\0\0\x1f\x01\x04\0\0\0\x01\x83\x86 HPACK and frames, not scanned";
        auto w = write_of(std::string_view(raw, sizeof(raw) - 1));
        w.http2.emplace();
        w.http2->fields = std::move(fields);
        w.http2->body = bytes(body);
        return w;
    };
    const std::vector<DecodedFrames::Field> request = {
        {":method", "POST"}, {":authority", "api.github.com"}, {":path", "/repos/o/r/statuses/0123abcd"}};
    auto with = [&](DecodedFrames::Field f) {
        auto fields = request;
        fields.push_back(std::move(f));
        return fields;
    };

    auto use = scan_plaintext(index, h2(with({"authorization", "token " + token}), "{\"state\":\"success\"}"), true);
    REQUIRE(use.matches.size() == 1);
    CHECK(use.matches[0].location == "auth-header");
    CHECK(use.matches[0].header == "authorization");
    CHECK(use.auth_headers == std::vector<std::string>{"authorization"});
    CHECK(use.opaque_bytes == 0);  // the HPACK bytes are not body
    CHECK(use.body_bytes == std::string_view("{\"state\":\"success\"}").size());
    CHECK(use.complete);

    auto custom = scan_plaintext(index, h2(with({"x-trace", token}), ""), true);
    REQUIRE(custom.matches.size() == 1);
    CHECK(custom.matches[0].location == "header");
    CHECK(custom.matches[0].header == "x-trace");
    CHECK(custom.auth_headers.empty());

    auto query = scan_plaintext(index, h2({{":method", "GET"}, {":path", "/x?t=" + token}}, ""), true);
    REQUIRE(query.matches.size() == 1);
    CHECK(query.matches[0].location == "request-line");

    // Two DATA frames' payloads come end to end: a token split by the frames still matches.
    auto body = scan_plaintext(index, h2(request, "{\"d\":\"" + token + "\"}"), true);
    REQUIRE(body.matches.size() == 1);
    CHECK(body.matches[0].location == "body");

    // Two fields never join into a token: a line break ends each value.
    auto fields = with({"x-a", token.substr(0, 17)});
    fields.push_back({"x-b", token.substr(17)});
    CHECK(scan_plaintext(index, h2(fields, ""), true).matches.empty());

    auto cut = h2(with({"authorization", "token " + token}), "");
    cut.http2->truncated = true;
    CHECK_FALSE(scan_plaintext(index, cut, true).complete);  // fields past the bound were not seen
}

TEST_CASE("fingerprint index: bounded, oldest file first, refreshed by inode, keyed")
{
    FingerprintIndex index(2, {3, 4});
    index.add_file("/a", 1, 1, "k = aaaaaaaaaaaaaaaa1111\n");
    index.add_file("/b", 1, 2, "k = bbbbbbbbbbbbbbbb2222\n");
    index.add_file("/c", 1, 3, "k = cccccccccccccccc3333\n");
    CHECK(index.files() == 2);
    CHECK_FALSE(index.has_file(1, 1));
    CHECK(index.scan(bytes("x aaaaaaaaaaaaaaaa1111 y")).empty());
    CHECK(index.scan(bytes("x cccccccccccccccc3333 y")).size() == 1);
    index.add_file("/c", 1, 3, "k = dddddddddddddddd4444\n");  // rewritten
    CHECK(index.scan(bytes("x cccccccccccccccc3333 y")).empty());
    CHECK(index.scan(bytes("x dddddddddddddddd4444 y")).size() == 1);
    auto forms = index.forms();
    CHECK(forms > 0);
    CHECK(index.add_file("/e", 1, 5, "no secrets here\n") == 0);
}

TEST_CASE("verdict: use when the whole plaintext was seen and the secret only authenticated")
{
    auto index = index_with_hosts_yml();
    const std::string path = "/home/u/.config/gh/hosts.yml";
    auto post = status_post("Authorization: token " + token + "\r\n", "{\"state\":\"success\"}");
    ContentEvidence evidence;
    evidence.note("pair", scan_plaintext(index, write_of(post), true));
    const auto* facts = evidence.find("pair");
    REQUIRE(facts);
    CHECK(content_verdict(*facts, path, post.size() + 1500) == ContentVerdict::used);
    // More sent than the plaintext and one handshake account for: something was not seen.
    CHECK(content_verdict(*facts, path, post.size() + 100000) == ContentVerdict::unknown);

    ContentEvidence leak;
    leak.note("pair", scan_plaintext(index, write_of(status_post("", token)), true));
    CHECK(content_verdict(*leak.find("pair"), path, 2000) == ContentVerdict::leaked);
    CHECK(leak.find("pair")->leaked.at(path) == "raw in the body");

    ContentEvidence gap;
    gap.note("pair", scan_plaintext(index, write_of(post), false));
    CHECK(content_verdict(*gap.find("pair"), path, post.size()) == ContentVerdict::unknown);

    ContentEvidence opaque;
    std::string gz = "\x1f\x8b\x08";
    gz += std::string(40, '\x01');
    opaque.note("pair", scan_plaintext(index, write_of(status_post("", gz)), true));
    CHECK(content_verdict(*opaque.find("pair"), path, 1000) == ContentVerdict::unknown);

    // A secret seen nowhere proves no use: a part of the file cut mid-token (split, a trickle of
    // posts) holds no whole token; the volume signals decide.
    ContentEvidence part;
    part.note("pair", scan_plaintext(index, write_of(status_post("", token.substr(0, token.size() / 2))), true));
    CHECK(part.find("pair")->leaked.empty());
    CHECK(content_verdict(*part.find("pair"), path, 1000) == ContentVerdict::unknown);
}

namespace {

// Scans `parts` as consecutive writes of one connection, each continuing the last, with a tail
// carried between them as the engine does; returns every write's scan.
std::vector<ContentScanEvent> scan_writes(const FingerprintIndex& index, const std::vector<std::string>& parts,
                                          PlaintextTail& tail)
{
    std::vector<ContentScanEvent> scans;
    std::uint64_t offset = 0;
    for (const auto& part : parts) {
        auto w = write_of(part);
        w.offset = offset;
        offset += part.size();
        scans.push_back(scan_plaintext(index, w, true, &tail));
    }
    return scans;
}

std::size_t matches_of(const std::vector<ContentScanEvent>& scans)
{
    std::size_t n = 0;
    for (const auto& s : scans) n += s.matches.size();
    return n;
}

}  // namespace

TEST_CASE("scan across writes: a token cut by the boundary is matched once, where its start was")
{
    auto index = index_with_hosts_yml();
    CHECK(index.longest_form() > token.size());
    const auto post = status_post("", "{\"description\":\"" + token + "\"}");
    const auto cut = post.find(token) + 10;
    PlaintextTail tail;
    auto two = scan_writes(index, {post.substr(0, cut), post.substr(cut)}, tail);
    CHECK(two[0].matches.empty());
    REQUIRE(two[1].matches.size() == 1);
    CHECK(two[1].matches[0].location == "body");
    CHECK(two[1].matches[0].encoding == "raw");
    CHECK(two[1].offset == cut);  // the scan event is the write's own, as before
    CHECK(two[1].scanned == post.size() - cut);
    CHECK(tail.bytes.size() <= std::min(index.longest_form() - 1, PlaintextTail::max_bytes));
    // Without a tail (what the scan did before) neither write holds the token whole.
    CHECK(scan_plaintext(index, write_of(post.substr(cut)), true).matches.empty());

    // One byte per write: the tail is the last bytes of tail + write, so the token adds up.
    PlaintextTail bytewise;
    std::vector<std::string> bytes_of;
    for (char c : post) bytes_of.emplace_back(1, c);
    auto each = scan_writes(index, bytes_of, bytewise);
    CHECK(matches_of(each) == 1);
    CHECK(each[post.find(token) + token.size() - 1].matches.size() == 1);

    // The file's base64 cut in the middle of the token's base64 form.
    const auto encoded = status_post("", b64(hosts_yml));
    std::size_t at = std::string::npos;
    for (const auto& form : token_forms(token))
        if (form.encoding == "base64" && encoded.find(form.text) != std::string::npos)
            at = encoded.find(form.text) + form.text.size() / 2;
    REQUIRE(at != std::string::npos);
    PlaintextTail b64_tail;
    auto split = scan_writes(index, {encoded.substr(0, at), encoded.substr(at)}, b64_tail);
    CHECK(split[0].matches.empty());
    REQUIRE(split[1].matches.size() == 1);
    CHECK(split[1].matches[0].encoding == "base64");
}

TEST_CASE("scan across writes: a hit wholly in the previous write is not reported again")
{
    auto index = index_with_hosts_yml();
    PlaintextTail tail;
    auto scans = scan_writes(index, {status_post("", token), "{\"state\":\"success\"}"}, tail);
    CHECK(scans[0].matches.size() == 1);
    CHECK(scans[1].matches.empty());
}

TEST_CASE("scan across writes: a write after a gap, or after one not wholly captured, is not joined")
{
    auto index = index_with_hosts_yml();
    const auto post = status_post("", "{\"description\":\"" + token + "\"}");
    const auto cut = post.find(token) + 10;
    PlaintextTail tail;
    scan_plaintext(index, write_of(post.substr(0, cut)), true, &tail);
    CHECK_FALSE(tail.bytes.empty());
    auto after_gap = write_of(post.substr(cut));
    after_gap.offset = cut + 100;
    CHECK(scan_plaintext(index, after_gap, false, &tail).matches.empty());
    CHECK(tail.bytes.empty());  // continuity broke: the tail went with it

    PlaintextTail cut_short;
    auto first = write_of(post.substr(0, cut));
    first.write_size += 5;  // five bytes of it never captured
    scan_plaintext(index, first, true, &cut_short);
    CHECK(cut_short.bytes.empty());
}

TEST_CASE("scan across writes: a hit starting in the tail takes the location where the last write ended")
{
    auto index = index_with_hosts_yml();
    const auto post = status_post("Authorization: token " + token + "\r\n", "{\"state\":\"success\"}");
    const auto cut = post.find(token) + 5;
    PlaintextTail tail;
    auto scans = scan_writes(index, {post.substr(0, cut), post.substr(cut)}, tail);
    CHECK(tail.kind == HttpRegion::Kind::body);
    REQUIRE(scans[1].matches.size() == 1);
    CHECK(scans[1].matches[0].location == "auth-header");
    CHECK(scans[1].matches[0].header == "authorization");
    // The second write's own bytes stay as today: all body (it does not start with a request line).
    CHECK(scans[1].auth_headers.empty());
}

TEST_CASE("argument role: credentials handed over are auth-argument, anything else is data")
{
    auto role = [](std::string_view arg, std::string_view previous = {}, std::size_t at = std::string_view::npos) {
        if (at == std::string_view::npos) at = arg.find(token);
        REQUIRE(at != std::string_view::npos);
        auto r = argument_role(arg, previous, at);
        const char* kind = r.kind == ArgumentRole::credential ? "auth"
                           : r.kind == ArgumentRole::data     ? "data"
                                                              : "positional";
        return fmt::format("{} {}", kind, r.name);
    };
    // Use: an authentication header, URL userinfo, a credential query parameter, option or name.
    CHECK(role("Authorization: token " + token, "-H") == "auth authorization");
    CHECK(role("-HAuthorization: Bearer " + token) == "auth authorization");
    CHECK(role("http.extraHeader=Authorization: Basic " + token, "-c") == "auth authorization");
    CHECK(role("https://ci-bot:" + token + "@github.com/o/r.git") == "auth url-userinfo");
    CHECK(role("https://api.example.com/v1?access_token=" + token) == "auth access_token");
    CHECK(role("ci-bot:" + token, "-u") == "auth -u");
    CHECK(role(token, "--password") == "auth --password");
    CHECK(role(token, "--auth-token") == "auth --auth-token");
    CHECK(role(token, "--registry-token") == "auth ");  // too long to show
    CHECK(role("--token=" + token) == "auth --token");
    CHECK(role("AWS_SECRET_ACCESS_KEY=" + token) == "auth ");
    CHECK(role("AWS_ACCESS_KEY_ID=" + token) == "auth ");
    CHECK(role("-p" + token) == "auth -p");
    CHECK(role("db_pass=" + token, "-var") == "auth db_pass");
    CHECK(role("{\"client_secret\": \"" + token + "\"}", "-d") == "auth client_secret");
    CHECK(role("grant_type=client_credentials&client_secret=" + token, "-d") == "auth client_secret");
    const auto basic = "Authorization: Basic " + b64("ci-bot:" + token);  // the token's form inside the value
    CHECK(role(basic, "-H", basic.size() - 20) == "auth authorization");
    // Leak: a body, a field, a header that authenticates nothing.
    CHECK(role(token, "--body") == "data --body");
    CHECK(role("body=" + token, "-f") == "data -f");
    CHECK(role("files[k][content]=" + token, "-f") == "data -f");
    CHECK(role("X-Trace: " + token, "-H") == "data x-trace");
    CHECK(role("Authorization: " + token, "--body") == "data --body");  // data that looks like a header
    CHECK(role("{\"description\": \"" + token + "\"}", "-d") == "data -d");
    CHECK(role("{\"description\":\"" + token + "\"}", "-d") == "data -d");
    CHECK(role("--data=" + token) == "data --data");
    CHECK(role("note " + token) == "positional ");  // neither: `vault login TOKEN` authenticates
    CHECK(role("https://paste.example/?text=" + token) == "data text");
    CHECK(role("https://paste.example/" + token + "/raw") == "positional ");
    // A long name is not shown (no whole secret form fits in what is shown).
    CHECK(role("a_very_long_field_name_here=" + token, "-f") == "data -f");
    CHECK(role("a_very_long_field_name_here=" + token) == "data ");  // named, not shown
}

TEST_CASE("argument scan: a secret on the command line, by file, encoding and role; never its bytes")
{
    const auto index = index_with_hosts_yml();
    ProcessRef gh;
    gh.entity_id = "gh-1";
    gh.args = {"gh", "issue", "create", "--title", "x", "--body", token};
    auto scan = scan_arguments(index, 5, gh);
    CHECK(scan.source == "argv");
    CHECK(scan.complete);
    REQUIRE(scan.matches.size() == 1);
    CHECK(scan.matches[0].path == "/home/u/.config/gh/hosts.yml");
    CHECK(scan.matches[0].inode == 42);
    CHECK(scan.matches[0].encoding == "raw");
    CHECK(scan.matches[0].location == "argument");
    CHECK(scan.matches[0].header == "--body");

    ProcessRef curl;
    curl.args = {
        "curl", "-H", "Authorization: token " + token, "-H", "X-Trace: " + b64(hosts_yml), "https://api.github.com/"};
    scan = scan_arguments(index, 5, curl);
    REQUIRE(scan.matches.size() == 2);
    CHECK(scan.matches[0].location == "auth-argument");
    CHECK(scan.matches[1].location == "argument");
    CHECK(scan.matches[1].encoding == "base64");
    CHECK(scan.matches[1].header == "x-trace");
    CHECK(scan.matches[0].audience == "named");  // to api.github.com, which hosts.yml names
    CHECK(scan.matches[1].audience.empty());     // data: no audience judged
    // The credential handed over for a request to another site (a Go client's, unseen in TLS).
    ProcessRef away;
    away.args = {"gh", "api", "-H", "Authorization: token " + token, "https://hooks.slack.com/services/T/B/X"};
    CHECK(scan_arguments(index, 5, away).matches.at(0).audience == "foreign");
    away.args = {"curl",
                 "-x",
                 "http://proxy.example.org:3128",
                 "-H",
                 "Authorization: token " + token,
                 "https://api.github.com/x?to=me@example.org"};  // not the proxy, nor an address in the query
    CHECK(scan_arguments(index, 5, away).matches.at(0).audience == "named");
    away.args = {"gh", "api", "-H", "Authorization: token " + token, "repos/o/r/statuses/0123abcd"};
    CHECK(scan_arguments(index, 5, away).matches.at(0).audience.empty());  // no URL: no judgement

    ProcessRef store;  // a secret store's command is given the secret to keep: use
    store.args = {"gh", "secret", "set", "DEPLOY_TOKEN", "--body", token};
    scan = scan_arguments(index, 5, store);
    REQUIRE(scan.matches.size() == 1);
    CHECK(scan.matches[0].location == "auth-argument");
    CHECK(scan.matches[0].header == "secret-store");
    store.args = {"gh", "issue", "create", "--title", "secret", "--body", token};  // a title, not a subcommand
    CHECK(scan_arguments(index, 5, store).matches.at(0).location == "argument");

    ProcessRef plain;  // argv[0] is not scanned, nor arguments too short for a form
    plain.args = {token, "-v", "short"};
    CHECK(scan_arguments(index, 5, plain).matches.empty());
}

namespace {

const std::string aws_id = "AKIAE2EUNITTEST7QX4Z";
const std::string aws_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYe2eUnitTest";
const std::string aws_credentials =
    "[default]\naws_access_key_id = " + aws_id + "\naws_secret_access_key = " + aws_secret + "\n";

}  // namespace

namespace {

std::set<std::string> signing_tokens(std::string_view text)
{
    std::set<std::string> out;
    for (const auto& [token, facts] : token_facts(text))
        if (facts.signing) out.insert(token);
    return out;
}

}  // namespace

TEST_CASE("token facts: private key bodies and secret access keys sign; ids, bearer tokens do not")
{
    CHECK(signing_tokens(aws_credentials) == std::set<std::string>{aws_secret});
    CHECK(signing_tokens(hosts_yml).empty());
    const std::string pem_line = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
    CHECK(signing_tokens("-----BEGIN OPENSSH PRIVATE KEY-----\n" + pem_line +
                         "\n-----END OPENSSH PRIVATE KEY-----\n"
                         "after_the_key = notSigning0123456789\n") == std::set<std::string>{pem_line});
    // A service account: the private key, cut at its escapes, signs; its id travels (a JWT's kid).
    auto account =
        signing_tokens("{\n  \"private_key_id\": \"0123456789abcdef0123456789abcdef\",\n"
                       "  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n"
                       "-----END PRIVATE KEY-----\\n\",\n}\n");
    CHECK(account.contains("nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"));
    CHECK_FALSE(account.contains("0123456789abcdef0123456789abcdef"));
    // A bare secret_key may be a bearer token (Stripe's sk_live_...).
    CHECK(signing_tokens("STRIPE_SECRET_KEY=sk_live_0123456789abcdefABCD\n").empty());
    CHECK(signing_tokens("[drop]\nsecret_access_key = rcloneSecret0123456789abcdef\n").size() == 1);
}

TEST_CASE("token facts: the hosts a credential file names a token for")
{
    auto hosts = [](std::string_view text, const std::string& token) {
        auto facts = token_facts(text);
        return facts.contains(token) ? facts.at(token).hosts : std::vector<std::string>{"(no such token)"};
    };
    using Hosts = std::vector<std::string>;
    CHECK(hosts(hosts_yml, token) == Hosts{"github.com"});  // gh: the section's key
    CHECK(hosts("github.example.corp:\n    oauth_token: " + token + "\n", token) == Hosts{"github.example.corp"});
    CHECK(hosts("https://ci-bot:" + token + "@GitHub.com\n", token) == Hosts{"github.com"});  // git-credentials
    CHECK(hosts("//registry.npmjs.org/:_authToken=" + token + "\n", token) == Hosts{"registry.npmjs.org"});
    CHECK(hosts("machine api.heroku.com\n  login me@example.org\n  password " + token + "\nmachine git.heroku.com\n",
                token) == Hosts{"api.heroku.com"});
    CHECK(hosts("machine a.example.org login me password " + token + "\n", token) == Hosts{"a.example.org"});
    CHECK(hosts("{\n  \"auths\": {\n    \"ghcr.io\": {\n      \"auth\": \"" + token + "\"\n    }\n  }\n}\n", token) ==
          Hosts{"ghcr.io"});
    // No host named: no audience (AWS keys, a .env); a top-level key after a host's section ends it.
    CHECK(hosts(aws_credentials, aws_id).empty());
    CHECK(hosts("API_URL=https://api.example.com\nAPI_KEY=" + token + "\n", token).empty());
    CHECK(hosts("github.com:\n    user: me\nother:\n    oauth_token: " + token + "\n", token).empty());
    CHECK(hosts("version: 1.2\nkey: " + token + "\n", token).empty());  // 1.2 is no host
}

TEST_CASE("same site: a host's last two labels, three under a short second level of a country code")
{
    CHECK(same_site("github.com", "api.github.com"));
    CHECK(same_site("index.docker.io", "auth.docker.io"));
    CHECK(same_site("www.example.co.uk", "example.co.uk"));
    CHECK_FALSE(same_site("example.co.uk", "other.co.uk"));
    CHECK_FALSE(same_site("github.com", "githubusercontent.com"));
    CHECK_FALSE(same_site("github.com", "github.com.evil.example"));
    CHECK_FALSE(same_site("", "github.com"));
}

namespace {

// A pair whose only scan is `scan`: the verdict on `path`, and the evidence of a leak.
std::pair<ContentVerdict, std::string> verdict_of(const ContentScanEvent& scan, const std::string& path)
{
    ContentEvidence evidence;
    evidence.note("pair", scan);
    const auto* facts = evidence.find("pair");
    auto leaked = facts->leaked.find(path);
    return {content_verdict(*facts, path, 2000), leaked == facts->leaked.end() ? std::string() : leaked->second};
}

}  // namespace

TEST_CASE("verdict: a token sent in an authentication header to a site its file does not name left")
{
    auto index = index_with_hosts_yml();
    const std::string body = "{\"state\":\"success\"}";
    auto post_to = [&](std::string_view host) {
        return fmt::format("POST /x HTTP/1.1\r\nHost: {}\r\nAuthorization: token {}\r\nContent-Length: {}\r\n\r\n{}",
                           host, token, body.size(), body);
    };
    auto own = scan_plaintext(index, write_of(post_to("api.github.com:8443")), true);
    REQUIRE(own.matches.size() == 1);
    CHECK(own.matches[0].audience == "named");
    auto away = scan_plaintext(index, write_of(post_to("hooks.slack.com")), true);
    REQUIRE(away.matches.size() == 1);
    CHECK(away.matches[0].location == "auth-header");
    CHECK(away.matches[0].audience == "foreign");
    CHECK(verdict_of(away, "/home/u/.config/gh/hosts.yml") ==
          std::pair{ContentVerdict::leaked,
                    std::string("raw in the header authorization, to a site its file does not name it for")});
    // A proxy's credential authenticates to the proxy, whatever the request's Host.
    const auto proxied = fmt::format("CONNECT api.example.org:443 HTTP/1.1\r\nHost: api.example.org:443\r\n"
                                     "Proxy-Authorization: Basic {}\r\n\r\n",
                                     token);
    auto via = scan_plaintext(index, write_of(proxied), true);
    REQUIRE(via.matches.size() == 1);
    CHECK(via.matches[0].header == "proxy-authorization");
    CHECK(via.matches[0].audience.empty());
    // A write without a Host of its own goes where the connection's SNI says; none known: no verdict.
    const std::string headless = "POST /x HTTP/1.1\r\nAuthorization: token " + token + "\r\n\r\n";
    CHECK(scan_plaintext(index, write_of(headless), true, nullptr, "paste.example.org").matches.at(0).audience ==
          "foreign");
    CHECK(scan_plaintext(index, write_of(headless), true, nullptr, "github.com").matches.at(0).audience == "named");
    CHECK(scan_plaintext(index, write_of(headless), true).matches.at(0).audience.empty());
    // HTTP/2: by :authority.
    auto h2 = write_of("h2 frames");
    h2.http2.emplace();
    h2.http2->fields = {{":method", "POST"}, {":authority", "webhook.site"}, {"authorization", "Bearer " + token}};
    CHECK(scan_plaintext(index, h2, true).matches.at(0).audience == "foreign");
    h2.http2->fields[1].value = "api.github.com";
    CHECK(scan_plaintext(index, h2, true).matches.at(0).audience == "named");
}

TEST_CASE("verdict: a signing key in an authentication header left; the key id there (SigV4) is use")
{
    FingerprintIndex index(8, {1, 2});
    index.add_file("/home/u/.aws/credentials", 1, 7, aws_credentials);
    const std::string body = "{\"state\":\"success\"}";

    auto sent =
        scan_plaintext(index, write_of(status_post("Authorization: Bearer " + aws_secret + "\r\n", body)), true);
    REQUIRE(sent.matches.size() == 1);
    CHECK(sent.matches[0].location == "auth-header");
    CHECK(sent.matches[0].secret == "signing-key");
    CHECK(verdict_of(sent, "/home/u/.aws/credentials") ==
          std::pair{ContentVerdict::leaked,
                    std::string("raw in the header authorization, a signing key, which authentication never sends")});

    const std::string sigv4 = "Authorization: AWS4-HMAC-SHA256 Credential=" + aws_id +
                              "/20261204/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0a1b\r\n";
    auto signed_request = scan_plaintext(index, write_of(status_post(sigv4, body)), true);
    REQUIRE(signed_request.matches.size() == 1);
    CHECK(signed_request.matches[0].secret.empty());
    CHECK(verdict_of(signed_request, "/home/u/.aws/credentials").first == ContentVerdict::used);
}

TEST_CASE("argument scan: a signing key's matches say so, wherever it sits")
{
    FingerprintIndex index(8, {1, 2});
    index.add_file("/home/u/.aws/credentials", 1, 7, aws_credentials);
    ProcessRef gh;
    gh.args = {"gh", "api", "-H", "Authorization: token " + aws_secret, "repos/o/r/statuses/0123abcd"};
    auto scan = scan_arguments(index, 5, gh);
    REQUIRE(scan.matches.size() == 1);
    CHECK(scan.matches[0].location == "auth-argument");
    CHECK(scan.matches[0].header == "authorization");
    CHECK(scan.matches[0].secret == "signing-key");
    ProcessRef rclone;  // a credential option's value: the tool's to sign with
    rclone.args = {"rclone", "--s3-access-key-id", aws_id, "--s3-secret-access-key", aws_secret, "ls", "r:"};
    scan = scan_arguments(index, 5, rclone);
    REQUIRE(scan.matches.size() == 2);
    CHECK(scan.matches[0].secret.empty());
    CHECK(scan.matches[1].secret == "signing-key");
    CHECK(scan.matches[1].location == "auth-argument");
    CHECK(scan.matches[1].header.empty());  // an option name too long to show
}

namespace {

const std::string slack_secret = "e2eSlackHookSecret0123456789";
const std::string telegram_token = "123456789:AAE2eTelegramBotToken0123456789abcd";
const std::string api_token = "e2eApiToken0123456789abcdefABCDEF";
const std::string ntfy_token = "tk_e2entfytoken0123456789abcdefgh";
const std::string pushover_token = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const std::string pushover_user = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";
const std::string dotenv = "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T0E2E1234/B0E2E5678/" + slack_secret +
                           "\nexport TELEGRAM_BOT_TOKEN=" + telegram_token + "\nAPI_TOKEN=" + api_token +
                           "\nNTFY_TOKEN=" + ntfy_token + "\nPUSHOVER_TOKEN=" + pushover_token +
                           "\nPUSHOVER_USER=" + pushover_user + "\n";
const std::string dotenv_path = "/home/u/app/.env";

FingerprintIndex index_with_dotenv()
{
    FingerprintIndex index(8, {1, 2});
    REQUIRE(index.add_file(dotenv_path, 1, 9, dotenv) > 0);
    return index;
}

std::string request_to(std::string_view host, std::string_view target, std::string_view headers = {},
                       std::string_view body = {})
{
    return fmt::format("POST {} HTTP/1.1\r\nHost: {}\r\n{}Content-Length: {}\r\n\r\n{}", target, host, headers,
                       body.size(), body);
}

// The verdict on the .env of a pair whose only scan is of `request`, judged as by a category
// with named_credentials or not, and the evidence of its leak.
std::pair<ContentVerdict, std::string> dotenv_verdict(const std::string& request, bool named_only = false)
{
    auto index = index_with_dotenv();
    ContentEvidence evidence;
    evidence.note("pair", scan_plaintext(index, write_of(request), true));
    const auto* facts = evidence.find("pair");
    auto leaked = facts->leaked.find(dotenv_path);
    return {content_verdict(*facts, dotenv_path, 2000, named_only),
            leaked == facts->leaked.end() ? std::string() : leaked->second};
}

}  // namespace

TEST_CASE("file tokens: in order, each once; a URL's path parts are for its host; settings' words")
{
    auto tokens = file_tokens(dotenv + "API_KEY=" + api_token + "\n[pushover]\ntoken = sectionToken0123456789\n");
    auto find = [&](const std::string& text) -> const TokenFacts& {
        auto it = std::find_if(tokens.begin(), tokens.end(), [&](const FileToken& t) { return t.text == text; });
        REQUIRE(it != tokens.end());
        return it->facts;
    };
    REQUIRE(!tokens.empty());
    CHECK(tokens.front().text.starts_with("https://hooks.slack.com/services/"));  // the value, first
    CHECK(std::count_if(tokens.begin(), tokens.end(), [&](const FileToken& t) { return t.text == api_token; }) == 1);
    using Words = std::vector<std::string>;
    CHECK(find(slack_secret).hosts == Words{"hooks.slack.com"});
    CHECK(find(tokens.front().text).hosts == Words{"hooks.slack.com"});
    CHECK(find(telegram_token).hosts.empty());
    CHECK(find(telegram_token).words == Words{"telegram"});  // export, bot, token: common words
    CHECK(find(telegram_token).setting == "token");
    CHECK(find(api_token).words.empty());
    CHECK(find(pushover_user).words == Words{"pushover"});
    CHECK(find(pushover_user).setting == "user");
    CHECK(find("sectionToken0123456789").words == Words{"pushover"});  // an INI section's name
    CHECK(find("sectionToken0123456789").setting == "token");
    // A query's values too; a YAML section's name; a URL with no path says nothing more.
    auto query = file_tokens("notify:\n  url: https://ntfy.example.org/topic?auth=q0123456789abcdefghij\n");
    auto q =
        std::find_if(query.begin(), query.end(), [](const FileToken& t) { return t.text == "q0123456789abcdefghij"; });
    REQUIRE(q != query.end());
    CHECK(q->facts.hosts == Words{"ntfy.example.org"});
    CHECK(file_tokens("slack:\n  token: yamlSection0123456789\n").at(0).facts.words == Words{"slack"});
    CHECK(file_tokens(std::string(100000, 'a') + "1", 16, 4).size() <= 4);
}

TEST_CASE("word names site: the site's main label, with at most three letters added")
{
    CHECK(word_names_site("telegram", "api.telegram.org"));
    CHECK(word_names_site("ntfy", "NTFY.sh"));
    CHECK(word_names_site("discord", "discordapp.com"));
    CHECK(word_names_site("sentry", "o1.ingest.getsentry.com"));
    CHECK_FALSE(word_names_site("slack", "slack.exfil.example"));  // its site is exfil.example
    CHECK_FALSE(word_names_site("slack", "slackbotsexfil.com"));
    CHECK_FALSE(word_names_site("pushover", "webhook.site"));
    CHECK_FALSE(word_names_site("", "webhook.site"));
    CHECK_FALSE(word_names_site("ntfy", ""));
}

TEST_CASE("verdict: a webhook's token in its own URL's request line is use; elsewhere it left")
{
    const auto path = "/services/T0E2E1234/B0E2E5678/" + slack_secret;
    const std::string summary = "{\"text\":\"build 1234 passed\"}";
    auto scan = scan_plaintext(index_with_dotenv(), write_of(request_to("hooks.slack.com", path, {}, summary)), true);
    REQUIRE(scan.matches.size() == 1);
    CHECK(scan.matches[0].location == "request-line");
    CHECK(scan.matches[0].audience == "named");
    CHECK(dotenv_verdict(request_to("hooks.slack.com", path, {}, summary)).first == ContentVerdict::used);
    CHECK(dotenv_verdict(request_to("hooks.slack.com", path, {}, summary), true).first == ContentVerdict::used);
    CHECK(dotenv_verdict(request_to("webhook.site", path, {}, summary)) ==
          std::pair{ContentVerdict::leaked,
                    std::string("raw in the request-line, to a site its file does not name it for")});
    // A bot token in its API's path: the setting's word names the site.
    const auto bot = "/bot" + telegram_token + "/sendMessage";
    CHECK(dotenv_verdict(request_to("api.telegram.org", bot, {}, summary)).first == ContentVerdict::used);
    CHECK(dotenv_verdict(request_to("webhook.site", bot, {}, summary)) ==
          std::pair{ContentVerdict::leaked, std::string("raw in the request-line")});
    // A token named for nothing in a request line is data (a query to a request bin).
    CHECK(dotenv_verdict(request_to("hooks.slack.com", "/x?t=" + api_token)).first == ContentVerdict::leaked);
    // The token in the body of its own webhook's request: the body is data.
    CHECK(dotenv_verdict(request_to("hooks.slack.com", path, {}, "{\"text\":\"" + api_token + "\"}")).first ==
          ContentVerdict::leaked);
}

TEST_CASE("verdict: where credentials must be named, one named for nothing in a header left")
{
    const auto bearer = [](const std::string& t) { return "Authorization: Bearer " + t + "\r\n"; };
    const auto to_bin = request_to("webhook.site", "/0e2e", bearer(api_token), "x");
    CHECK(dotenv_verdict(to_bin).first == ContentVerdict::used);  // a tunnel's app, a code host's API
    CHECK(dotenv_verdict(to_bin, true) ==
          std::pair{ContentVerdict::leaked, std::string()});  // content_signals words this one
    ContentEvidence evidence;
    evidence.note("pair", scan_plaintext(index_with_dotenv(), write_of(to_bin), true));
    CHECK(evidence.find("pair")->unnamed.at(dotenv_path) == "raw in the header authorization");
    // NTFY_TOKEN to ntfy.sh: named by its setting's word.
    const auto to_ntfy = request_to("ntfy.sh", "/deploys", bearer(ntfy_token), "deploy done");
    CHECK(dotenv_verdict(to_ntfy, true).first == ContentVerdict::used);
    CHECK(dotenv_verdict(request_to("webhook.site", "/0e2e", bearer(ntfy_token), "x"), true).first ==
          ContentVerdict::leaked);
}

TEST_CASE("verdict: a credential field of a form, JSON or multipart body to its service is use")
{
    const auto form = "token=" + pushover_token + "&user=" + pushover_user + "&message=deploy+done";
    auto scan = scan_plaintext(index_with_dotenv(),
                               write_of(request_to("api.pushover.net", "/1/messages.json", {}, form)), true);
    REQUIRE(scan.matches.size() == 2);
    CHECK(scan.matches[0].location == "body");
    CHECK(scan.matches[0].header == "token");
    CHECK(scan.matches[1].header == "user");  // named as its setting, PUSHOVER_USER
    CHECK(scan.matches[1].audience == "named");
    CHECK(dotenv_verdict(request_to("api.pushover.net", "/1/messages.json", {}, form), true).first ==
          ContentVerdict::used);
    CHECK(dotenv_verdict(request_to("webhook.site", "/1/messages.json", {}, form)) ==
          std::pair{ContentVerdict::leaked,
                    std::string("raw in the body field token, to a site its file does not name it for")});
    const auto json = "{\"api_key\": \"" + pushover_token + "\", \"text\": \"deploy done\"}";
    CHECK(dotenv_verdict(request_to("api.pushover.net", "/1/messages.json", {}, json)).first == ContentVerdict::used);
    const auto multipart = "--b0\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n" + pushover_token +
                           "\r\n--b0\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\n" + pushover_user +
                           "\r\n--b0--\r\n";
    CHECK(dotenv_verdict(request_to("api.pushover.net", "/1/messages.json", {}, multipart)).first ==
          ContentVerdict::used);
    // Not a credential's field, a file's part, or more than the value: data.
    CHECK(dotenv_verdict(request_to("api.pushover.net", "/1/messages.json", {}, "message=" + pushover_token)).first ==
          ContentVerdict::leaked);
    const auto file_part = "--b0\r\nContent-Disposition: form-data; name=\"token\"; filename=\"t\"\r\n\r\n" +
                           pushover_token + "\r\n--b0--\r\n";
    CHECK(dotenv_verdict(request_to("api.pushover.net", "/1/messages.json", {}, file_part)).first ==
          ContentVerdict::leaked);
    CHECK(
        dotenv_verdict(request_to("api.pushover.net", "/1/messages.json", {}, "token=" + pushover_token + "x")).first ==
        ContentVerdict::leaked);
}

TEST_CASE("plaintext scan: a header's name that carries a secret is never shown")
{
    const auto index = index_with_hosts_yml();
    const auto named =
        fmt::format("POST /x HTTP/1.1\r\nHost: example.org\r\nX-{}: 1\r\nX-Api-{}-Key: 2\r\n\r\n", token, token);
    auto scan = scan_plaintext(index, write_of(named), true);
    REQUIRE(!scan.matches.empty());
    for (const auto& m : scan.matches) {
        CHECK(m.header == "[REDACTED]");
        CHECK(util::to_lower(m.header).find(util::to_lower(token)) == std::string::npos);
    }
    REQUIRE(scan.auth_headers.size() == 1);  // X-Api-...-Key is named for a credential
    CHECK(scan.auth_headers[0] == "[REDACTED]");
    // Ordinary names are shown as they are; a long one is not.
    const auto plain = fmt::format("POST /x HTTP/1.1\r\nHost: example.org\r\nX-Trace: {}\r\n{}: {}\r\n\r\n", token,
                                   std::string(60, 'h'), token);
    scan = scan_plaintext(index, write_of(plain), true);
    REQUIRE(scan.matches.size() == 2);
    CHECK(scan.matches[0].header == "x-trace");
    CHECK(scan.matches[1].header == "[REDACTED]");
}
