// Tests for enrich/http2: a real curl's first flight (tests/data/http2/README), RFC 7541's
// appendix C header blocks (literal and Huffman, the second request reusing the dynamic table),
// frames split across inputs, CONTINUATION, padding and priority, bytes skipped, and bad input.
#include "enrich/http2.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "enrich/http2_frames.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;
using namespace exfilwatch::test;

namespace {

struct Fed {
    Http2Status status = Http2Status::ok;
    Http2Output out;
};

Fed feed_all(const Bytes& stream)
{
    Http2ClientStream parser;
    Fed fed;
    fed.status = parser.feed(stream, fed.out);
    return fed;
}

Fed feed_bytewise(const Bytes& stream)
{
    Http2ClientStream parser;
    Fed fed;
    for (auto b : stream) fed.status = parser.feed(std::span(&b, 1), fed.out);
    return fed;
}

std::string body_of(const Http2Output& out)
{
    return std::string(reinterpret_cast<const char*>(out.frames.body.data()), out.frames.body.size());
}

std::string field(const Http2Output& out, std::string_view name)
{
    for (const auto& f : out.frames.fields)
        if (f.name == name) return f.value;
    return "(none)";
}

// Every string a request kept: no header value but the authority's may be in it.
std::string kept(const Http2Request& r)
{
    std::string all = r.head.method + r.head.host + r.head.path + r.head.version;
    for (const auto& name : r.header_names) all += name;
    return all;
}

const std::vector<std::pair<std::string, std::string>> upload = {{":method", "POST"},
                                                                 {":scheme", "https"},
                                                                 {":authority", "PasteBin.com:8443"},
                                                                 {":path", "/api?k=SECRETQUERY"},
                                                                 {"x-trace", "SECRET-TRACE-0123456789"},
                                                                 {"authorization", "Bearer SECRETTOKEN"}};

}  // namespace

TEST_CASE("http2: curl's first flight over cleartext: the request named, its values only for the scan")
{
    std::ifstream in(std::string(EXFILWATCH_SOURCE_DIR) + "/tests/data/http2/curl_h2c_post.bin", std::ios::binary);
    REQUIRE(in.good());
    const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto stream = text(raw);
    CHECK(looks_like_http2(stream));
    for (const auto& fed : {feed_all(stream), feed_bytewise(stream)}) {
        REQUIRE(fed.status == Http2Status::ok);
        REQUIRE(fed.out.requests.size() == 1);
        const auto& r = fed.out.requests[0];
        CHECK(r.stream_id == 1);
        CHECK(r.head.method == "POST");
        CHECK(r.head.host == "paste.example");  // lowercased, the port split off
        CHECK(r.head.port == 61998);
        CHECK(r.head.path == "/upload/file.txt");
        CHECK(r.head.query_bytes == std::string_view("id=SECRETQUERY").size());
        CHECK(r.head.version == "HTTP/2");
        CHECK(r.header_names == std::vector<std::string>{"user-agent", "accept", "x-trace", "authorization",
                                                         "content-length", "content-type"});
        CHECK(kept(r).find("SECRET") == std::string::npos);
        // The scan gets the decoded values (Huffman undone) and the DATA payload.
        CHECK(field(fed.out, "x-trace") == "SECRETTRACE-0123456789abcdef");
        CHECK(field(fed.out, "authorization") == "Bearer SECRETBEARER-0123456789abcdef");
        CHECK(body_of(fed.out) == "hello from the body, twice over: 0123456789\n");
    }
}

TEST_CASE("http2: RFC 7541 C.3 and C.4: literal and Huffman blocks, the second request from the dynamic table")
{
    // Two requests on one connection (streams 1 and 3); the second's :authority is index 62.
    for (const auto& [first, second] :
         {std::pair{hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
                    hex("8286 84be 5808 6e6f 2d63 6163 6865")},
          std::pair{hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"), hex("8286 84be 5886 a8eb 1064 9cbf")}}) {
        const auto stream = cat({preface(), frame(headers, end_headers | end_stream, 1, first),
                                 frame(headers, end_headers | end_stream, 3, second)});
        const auto fed = feed_all(stream);
        REQUIRE(fed.status == Http2Status::ok);
        REQUIRE(fed.out.requests.size() == 2);
        for (const auto& r : fed.out.requests) {
            CHECK(r.head.method == "GET");
            CHECK(r.head.host == "www.example.com");
            CHECK(r.head.port == 0);
            CHECK(r.head.path == "/");
        }
        CHECK(fed.out.requests[1].stream_id == 3);
        CHECK(fed.out.requests[0].header_names.empty());
        CHECK(fed.out.requests[1].header_names == std::vector<std::string>{"cache-control"});
        CHECK(field(fed.out, "cache-control") == "no-cache");
    }
}

TEST_CASE("http2: a header block over HEADERS and CONTINUATION, split at every byte")
{
    const auto block = deflate(upload);
    const auto half = static_cast<std::ptrdiff_t>(block.size() / 2);
    const auto stream = cat({preface(), frame(headers, 0, 1, Bytes(block.begin(), block.begin() + half)),
                             frame(continuation, 0, 1, {}),  // an empty fragment is allowed
                             frame(continuation, end_headers, 1, Bytes(block.begin() + half, block.end())),
                             frame(data, 0, 1, text("first half of a SECRET-")),
                             frame(data, end_stream, 1, text("TRACE-0123456789 body"))});
    for (const auto& fed : {feed_all(stream), feed_bytewise(stream)}) {
        REQUIRE(fed.status == Http2Status::ok);
        REQUIRE(fed.out.requests.size() == 1);
        const auto& r = fed.out.requests[0];
        CHECK(r.head.host == "pastebin.com");
        CHECK(r.head.port == 8443);
        CHECK(r.head.path == "/api");
        CHECK(r.header_names == std::vector<std::string>{"x-trace", "authorization"});
        CHECK(kept(r).find("SECRET") == std::string::npos);
        CHECK(field(fed.out, ":path") == "/api?k=SECRETQUERY");  // for the scan's request line only
        // Two DATA frames' payloads end to end: a token split between them is whole for the scan.
        CHECK(body_of(fed.out) == "first half of a SECRET-TRACE-0123456789 body");
    }
}

TEST_CASE("http2: padding and priority are stripped from HEADERS and DATA")
{
    const auto block = deflate(upload);
    Bytes padded_headers = hex("03 80000003 10");  // pad length 3, exclusive dependency on 3, weight 16
    padded_headers.insert(padded_headers.end(), block.begin(), block.end());
    padded_headers.insert(padded_headers.end(), 3, std::byte{0});
    const auto stream = cat({preface(), frame(headers, end_headers | padded | priority, 1, padded_headers),
                             frame(data, padded | end_stream, 1, cat({hex("05"), text("payload"), Bytes(5)})),
                             frame(data, padded, 1, hex("00"))});  // padded, no data, no padding
    for (const auto& fed : {feed_all(stream), feed_bytewise(stream)}) {
        REQUIRE(fed.status == Http2Status::ok);
        REQUIRE(fed.out.requests.size() == 1);
        CHECK(fed.out.requests[0].head.host == "pastebin.com");
        CHECK(body_of(fed.out) == "payload");
    }
}

TEST_CASE("http2: trailers name no request; a Host field names one without :authority")
{
    const auto stream =
        cat({preface(),
             frame(headers, end_headers, 1,
                   deflate({{":method", "PUT"}, {":scheme", "https"}, {":path", "/f"}, {"host", "Rentry.CO"}})),
             frame(headers, end_headers | end_stream, 1, deflate({{"x-checksum", "abc"}}))});
    const auto fed = feed_all(stream);
    REQUIRE(fed.status == Http2Status::ok);
    REQUIRE(fed.out.requests.size() == 1);
    CHECK(fed.out.requests[0].head.host == "rentry.co");
    CHECK(fed.out.requests[0].head.method == "PUT");
}

TEST_CASE("http2: bytes skipped in a DATA payload keep the stream in step; in a header block they lose it")
{
    const auto request = frame(headers, end_headers, 1, deflate(upload));
    const auto body = frame(data, 0, 1, text("0123456789abcdefghij"));
    Http2ClientStream parser;
    Http2Output out;
    REQUIRE(parser.feed(cat({preface(), request}), out) == Http2Status::ok);
    // The body frame's header and 5 bytes seen, 15 missed (a write's tail past the capture).
    REQUIRE(parser.feed(Bytes(body.begin(), body.begin() + 14), out) == Http2Status::ok);
    REQUIRE(parser.skip(15) == Http2Status::ok);
    REQUIRE(parser.feed(frame(headers, end_headers, 3, deflate(upload)), out) == Http2Status::ok);
    CHECK(out.requests.size() == 2);
    CHECK(body_of(out) == "01234");

    const auto block = frame(headers, end_headers, 5, deflate(upload));
    REQUIRE(parser.feed(Bytes(block.begin(), block.begin() + 12), out) == Http2Status::ok);
    CHECK(parser.skip(4) == Http2Status::lost);
    CHECK(!parser.error().empty());
    CHECK(parser.feed(request, out) == Http2Status::lost);  // stays lost
    CHECK(out.requests.size() == 2);
}

TEST_CASE("http2: bad input gives a clear status and stops the parse")
{
    struct Case {
        const char* what;
        Bytes stream;
        Http2Status status;
        std::string_view error;
    };
    const auto block = deflate(upload);
    const std::vector<Case> cases = {
        {"HTTP/1", text("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Http2Status::not_http2, "preface"},
        {"a broken preface", text("PRI * HTTP/2.0\r\n\r\nXX"), Http2Status::not_http2, "preface"},
        {"HEADERS on stream 0", cat({preface(), frame(headers, end_headers, 0, block)}), Http2Status::malformed,
         "stream 0"},
        {"DATA on stream 0", cat({preface(), frame(data, 0, 0, text("x"))}), Http2Status::malformed, "stream 0"},
        {"CONTINUATION alone", cat({preface(), frame(continuation, end_headers, 1, block)}), Http2Status::malformed,
         "CONTINUATION"},
        {"a block interrupted", cat({preface(), frame(headers, 0, 1, block), frame(data, 0, 1, text("x"))}),
         Http2Status::malformed, "interrupted"},
        {"a CONTINUATION of another stream",
         cat({preface(), frame(headers, 0, 1, block), frame(continuation, end_headers, 3, {})}), Http2Status::malformed,
         "interrupted"},
        {"padding past the frame", cat({preface(), frame(data, padded, 1, hex("09 6162"))}), Http2Status::malformed,
         "padding"},
        {"a frame shorter than its priority", cat({preface(), frame(headers, priority, 1, hex("0000"))}),
         Http2Status::malformed, "priority"},
        {"HPACK index 0", cat({preface(), frame(headers, end_headers, 1, hex("80"))}), Http2Status::malformed, "HPACK"},
        {"HPACK index past the tables", cat({preface(), frame(headers, end_headers, 1, hex("ff 80 01"))}),
         Http2Status::malformed, "HPACK"},
        {"a block cut by END_HEADERS", cat({preface(), frame(headers, end_headers, 1, hex("41 8c f1e3"))}),
         Http2Status::malformed, "HPACK"},
        {"PUSH_PROMISE from a client", cat({preface(), frame(0x5, end_headers, 1, hex("00000002"))}),
         Http2Status::malformed, "PUSH_PROMISE"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        Http2ClientStream parser;
        Http2Output out;
        CHECK(parser.feed(c.stream, out) == c.status);
        CHECK(parser.status() == c.status);
        CHECK(parser.error().find(c.error) != std::string::npos);
        CHECK(out.requests.empty());
        CHECK(parser.feed(cat({frame(headers, end_headers, 7, block)}), out) == c.status);
        CHECK(out.requests.empty());
    }
}

TEST_CASE("http2: the values handed to the scan are bounded per input, and the cut is told")
{
    // 300 fields of 200 bytes, the same literal indexed once and referenced 299 times (1 byte each).
    std::vector<std::pair<std::string, std::string>> fields = {
        {":method", "POST"}, {":scheme", "https"}, {":authority", "a.example"}, {":path", "/"}};
    for (int i = 0; i < 300; ++i) fields.emplace_back("x-big", std::string(200, 'v'));
    const auto fed = feed_all(cat({preface(), frame(headers, end_headers, 1, deflate(fields))}));
    REQUIRE(fed.status == Http2Status::ok);
    REQUIRE(fed.out.requests.size() == 1);
    CHECK(fed.out.requests[0].head.header_count == 304);
    CHECK(fed.out.requests[0].header_names == std::vector<std::string>{"x-big"});
    CHECK(fed.out.frames.fields.size() <= max_http2_scan_fields);
    CHECK(fed.out.frames.truncated);
}
