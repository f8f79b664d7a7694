// Tests for enrich/http: request heads captured from real curl, wget and python urllib on
// loopback (tests/data/http/README), plus limits, CONNECT and the never-store-values rule.
#include "enrich/http.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using exfilwatch::enrich::HttpRequestHead;
using exfilwatch::enrich::HttpStatus;
using exfilwatch::enrich::max_http_head_bytes;
using exfilwatch::enrich::max_http_headers;
using exfilwatch::enrich::parse_http_request_head;

namespace {

std::string load_http(const std::string& name)
{
    std::ifstream in(std::string(EXFILWATCH_SOURCE_DIR) + "/tests/data/http/" + name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing test vector " << name);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::span<const std::byte> bytes_of(const std::string& s)
{
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

auto parse(const std::string& s)
{
    return parse_http_request_head(bytes_of(s));
}

// Every string the parser kept, to prove no secret value ever lands in one.
std::string all_fields(const HttpRequestHead& h)
{
    return h.method + "|" + h.path + "|" + h.version + "|" + h.host + "|" + h.connect_target();
}

}  // namespace

TEST_CASE("http: curl's head gives method, path without query, Host and port; no values kept")
{
    const std::string head = load_http("curl_http.bin");
    const auto r = parse(head);
    REQUIRE_MESSAGE(r.ok(), r.error);
    CHECK(r.head.method == "GET");
    CHECK(r.head.path == "/api/api_post.php");
    CHECK(r.head.query_bytes == std::string("api_dev_key=SECRETKEY&api_option=paste").size());
    CHECK(r.head.version == "HTTP/1.1");
    CHECK(r.head.host == "pastebin.com");
    CHECK(r.head.port == 18455);
    CHECK(r.head.has_host_header);
    CHECK_FALSE(r.head.is_connect);
    CHECK(r.head.header_count == 4);
    CHECK(r.head.head_bytes == head.size());
    const auto fields = all_fields(r.head);
    CHECK(fields.find("SECRET") == std::string::npos);
    CHECK(fields.find("s3cr3t") == std::string::npos);
    CHECK(fields.find("api_dev_key") == std::string::npos);
}

TEST_CASE("http: wget direct and through a proxy (absolute-form)")
{
    const auto direct = parse(load_http("wget_http.bin"));
    REQUIRE(direct.ok());
    CHECK(direct.head.host == "127.0.0.1");
    CHECK(direct.head.port == 18456);
    CHECK(direct.head.path == "/upload/file.tar");
    CHECK(direct.head.header_count == 5);

    const auto proxied = parse(load_http("wget_proxy.bin"));
    REQUIRE(proxied.ok());
    CHECK(proxied.head.absolute_form);
    CHECK(proxied.head.host == "transfer.sh");
    CHECK(proxied.head.port == 0);
    CHECK(proxied.head.path == "/upload");
    CHECK(proxied.head.query_bytes == std::string("name=SECRETNAME").size());
    CHECK(all_fields(proxied.head).find("SECRET") == std::string::npos);
}

TEST_CASE("http: python urllib POST with a body after the head")
{
    const std::string stream = load_http("urllib.bin");
    const auto r = parse(stream);
    REQUIRE(r.ok());
    CHECK(r.head.method == "POST");
    CHECK(r.head.host == "hooks.slack.com");
    CHECK(r.head.path == "/hooks/abc");
    CHECK(r.head.header_count == 7);
    CHECK(r.head.head_bytes == stream.size() - std::string("payload=SECRETBODY").size());
    CHECK(all_fields(r.head).find("SECRET") == std::string::npos);
}

TEST_CASE("http: curl's CONNECT through a proxy names the tunnel's destination")
{
    const auto r = parse(load_http("curl_connect.bin"));
    REQUIRE(r.ok());
    CHECK(r.head.method == "CONNECT");
    CHECK(r.head.is_connect);
    CHECK(r.head.host == "example.com");
    CHECK(r.head.port == 443);
    CHECK(r.head.connect_target() == "example.com:443");
    CHECK(r.head.path.empty());

    const auto v6 = parse("CONNECT [2001:DB8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n");
    REQUIRE(v6.ok());
    CHECK(v6.head.host == "[2001:db8::1]");
    CHECK(v6.head.port == 8443);
    CHECK(v6.head.connect_target() == "[2001:db8::1]:8443");
    // The CONNECT target wins over a Host header that names something else.
    const auto lying = parse("CONNECT pastebin.com:443 HTTP/1.1\r\nHost: innocent.example\r\n\r\n");
    REQUIRE(lying.ok());
    CHECK(lying.head.host == "pastebin.com");

    CHECK(parse("CONNECT example.com HTTP/1.1\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("CONNECT example.com:0 HTTP/1.1\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("CONNECT example.com:65536 HTTP/1.1\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("CONNECT /path HTTP/1.1\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1\r\n\r\n").head.connect_target().empty());
}

TEST_CASE("http: every proper prefix of a real head is incomplete")
{
    for (const char* file : {"curl_http.bin", "wget_http.bin", "wget_proxy.bin", "urllib.bin", "curl_connect.bin"}) {
        CAPTURE(file);
        const std::string stream = load_http(file);
        const auto full = parse(stream);
        REQUIRE(full.ok());
        for (std::size_t n = 0; n < full.head.head_bytes; ++n) {
            CAPTURE(n);
            CHECK(parse(stream.substr(0, n)).status == HttpStatus::incomplete);
        }
    }
    // What is known so far is filled in while waiting for the blank line.
    const auto partial = parse("POST /x?a=1 HTTP/1.1\r\nHost: Files.Example:8080\r\nContent-");
    CHECK(partial.status == HttpStatus::incomplete);
    CHECK(partial.head.method == "POST");
    CHECK(partial.head.host == "files.example");
    CHECK(partial.head.port == 8080);
}

TEST_CASE("http: pipelined requests and trailing junk are left alone")
{
    const std::string first = "GET /one HTTP/1.1\r\nHost: a.example\r\n\r\n";
    const auto r = parse(first + "GET /two HTTP/1.1\r\nHost: b.example\r\n\r\n\x16\x03\x01 junk");
    REQUIRE(r.ok());
    CHECK(r.head.path == "/one");
    CHECK(r.head.host == "a.example");
    CHECK(r.head.head_bytes == first.size());
    // Leading blank lines (a previous request's stray CRLF) are skipped.
    const auto leading = parse("\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    REQUIRE(leading.ok());
    CHECK(leading.head.version == "HTTP/1.0");
    CHECK(leading.head.host.empty());
    CHECK_FALSE(leading.head.has_host_header);
}

TEST_CASE("http: what is not HTTP/1 says not_http, early")
{
    CHECK(parse(std::string("\x16\x03\x01\x02\x00\x01", 6)).status == HttpStatus::not_http);
    CHECK(parse("hello world\r\n\r\n").status == HttpStatus::not_http);
    CHECK(parse("SSH-2.0-OpenSSH_9.2\r\n").status == HttpStatus::not_http);
    CHECK(parse("G\x01").status == HttpStatus::not_http);
    CHECK(parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").status == HttpStatus::not_http);
    CHECK(parse("GET / RTSP/1.0\r\n\r\n").status == HttpStatus::not_http);
    CHECK(parse(std::string(40, 'A')).status == HttpStatus::not_http);
    CHECK(parse("").status == HttpStatus::incomplete);
    CHECK(parse("GE").status == HttpStatus::incomplete);
    CHECK(parse("\r\n").status == HttpStatus::incomplete);
}

TEST_CASE("http: grammar violations say malformed")
{
    CHECK(parse("GET / HTTP/1.2\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET /\r\n\r\n").status == HttpStatus::malformed);  // HTTP/0.9
    CHECK(parse("GET  / HTTP/1.1\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1 extra\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET /\x7f HTTP/1.1\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET * HTTP/1.1\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET relative HTTP/1.1\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse("GET / HTTP/1.1\r\nX-A: 1\r2\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse(std::string("GET / HTTP/1.1\r\nX-A: \0\r\n\r\n", 26)).status == HttpStatus::malformed);
    CHECK(parse("GET http://user:pw@/ HTTP/1.1\r\n\r\n").status == HttpStatus::malformed);
}

TEST_CASE("http: oversize heads and too many headers are malformed, not waited on")
{
    const std::string start = "POST /upload HTTP/1.1\r\nHost: a.example\r\nX-Big: ";
    const std::string big = start + std::string(max_http_head_bytes, 'a');
    CHECK(parse(big).status == HttpStatus::malformed);
    CHECK(parse(big + "\r\n\r\n").status == HttpStatus::malformed);
    CHECK(parse(start + std::string(1000, 'a')).status == HttpStatus::incomplete);
    CHECK(parse(std::string(max_http_head_bytes, '\n')).status == HttpStatus::malformed);

    std::string many = "GET / HTTP/1.1\r\n";
    for (std::size_t i = 0; i < max_http_headers; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    const auto at_limit = parse(many + "\r\n");
    REQUIRE(at_limit.ok());
    CHECK(at_limit.head.header_count == max_http_headers);
    CHECK(parse(many + "X-Last: v\r\n\r\n").status == HttpStatus::malformed);
}

TEST_CASE("http: Host is case-insensitive, trimmed, lowercased, port kept apart")
{
    const auto r =
        parse("PUT /f HTTP/1.1\r\nhOsT: \t Files.Example.COM:8443 \t\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n");
    REQUIRE(r.ok());
    CHECK(r.head.host == "files.example.com");
    CHECK(r.head.port == 8443);
    CHECK(all_fields(r.head).find("dXNlcjpwYXNz") == std::string::npos);

    const auto v6 = parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    REQUIRE(v6.ok());
    CHECK(v6.head.host == "[::1]");
    CHECK(v6.head.port == 8080);

    const auto lf_only = parse("GET /p?x=1#frag HTTP/1.1\nHost: lf.example\n\n");
    REQUIRE(lf_only.ok());
    CHECK(lf_only.head.host == "lf.example");
    CHECK(lf_only.head.path == "/p");
    CHECK(lf_only.head.query_bytes == 3);

    const auto empty_host = parse("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    REQUIRE(empty_host.ok());
    CHECK(empty_host.head.has_host_header);
    CHECK(empty_host.head.host.empty());

    const auto options = parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE(options.ok());
    CHECK(options.head.path == "*");
}

TEST_CASE("http: absolute URIs drop credentials, query and fragment")
{
    const auto r =
        parse("GET http://user:SECRETPW@Paste.Example:8080/p/q?token=SECRET#x HTTP/1.1\r\nHost: other\r\n\r\n");
    REQUIRE(r.ok());
    CHECK(r.head.host == "paste.example");
    CHECK(r.head.port == 8080);
    CHECK(r.head.path == "/p/q");
    CHECK(all_fields(r.head).find("SECRET") == std::string::npos);
    const auto bare = parse("GET https://example.org HTTP/1.1\r\n\r\n");
    REQUIRE(bare.ok());
    CHECK(bare.head.path == "/");
    CHECK(bare.head.host == "example.org");
}
