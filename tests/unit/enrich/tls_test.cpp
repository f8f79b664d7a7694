// Tests for enrich/tls: ClientHellos captured from real clients on loopback (tests/data/tls/
// README), RFC 8448's example, and hellos built here to probe reassembly, order and GREASE.
#include "enrich/tls.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

using exfilwatch::enrich::ClientHelloResult;
using exfilwatch::enrich::is_grease;
using exfilwatch::enrich::looks_like_tls;
using exfilwatch::enrich::parse_client_hello;
using exfilwatch::enrich::TlsStatus;

namespace {

using Bytes = std::vector<std::byte>;

Bytes load_tls(const std::string& name)
{
    std::ifstream in(std::string(EXFILWATCH_SOURCE_DIR) + "/tests/data/tls/" + name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing test vector " << name);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Bytes out(raw.size());
    std::transform(raw.begin(), raw.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
    return out;
}

void put8(Bytes& b, unsigned v)
{
    b.push_back(static_cast<std::byte>(v & 0xff));
}
void put16(Bytes& b, unsigned v)
{
    put8(b, v >> 8);
    put8(b, v);
}
void put24(Bytes& b, unsigned v)
{
    put8(b, v >> 16);
    put16(b, v & 0xffff);
}
void append(Bytes& b, const Bytes& more)
{
    b.insert(b.end(), more.begin(), more.end());
}
void append(Bytes& b, const std::string& s)
{
    for (char c : s) put8(b, static_cast<unsigned char>(c));
}

Bytes vec8(const Bytes& body)
{
    Bytes b;
    put8(b, static_cast<unsigned>(body.size()));
    append(b, body);
    return b;
}
Bytes vec16(const Bytes& body)
{
    Bytes b;
    put16(b, static_cast<unsigned>(body.size()));
    append(b, body);
    return b;
}

Bytes extension(unsigned type, const Bytes& body)
{
    Bytes b;
    put16(b, type);
    append(b, vec16(body));
    return b;
}

Bytes filler(std::size_t n, unsigned seed)
{
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 31 + seed) & 0xff);
    return b;
}

Bytes sni_extension(const std::string& host)
{
    Bytes name;
    put8(name, 0);
    Bytes h;
    append(h, host);
    append(name, vec16(h));
    return extension(0, vec16(name));
}

Bytes alpn_extension(const std::vector<std::string>& protocols)
{
    Bytes list;
    for (const auto& p : protocols) {
        Bytes one;
        append(one, p);
        append(list, vec8(one));
    }
    return extension(16, vec16(list));
}

Bytes versions_extension(const std::vector<unsigned>& versions)
{
    Bytes list;
    for (unsigned v : versions) put16(list, v);
    return extension(43, vec8(list));
}

// key_share with a GREASE entry, an X25519MLKEM768-sized (1216-byte) entry and an X25519 one.
Bytes pq_key_share_extension()
{
    Bytes shares;
    put16(shares, 0x2a2a);
    append(shares, vec16(Bytes{std::byte{0}}));
    put16(shares, 0x11ec);
    append(shares, vec16(filler(1216, 7)));
    put16(shares, 0x001d);
    append(shares, vec16(filler(32, 9)));
    return extension(51, vec16(shares));
}

// A ClientHello handshake message (type 1) with the given extensions, in the given order.
Bytes handshake(const std::vector<Bytes>& extensions, unsigned legacy_version = 0x0303)
{
    Bytes body;
    put16(body, legacy_version);
    append(body, filler(32, 1));        // random
    append(body, vec8(filler(32, 2)));  // legacy_session_id
    Bytes suites;
    for (unsigned s : {0x5a5au, 0x1301u, 0x1302u, 0x1303u, 0xc02bu, 0xc02fu}) put16(suites, s);
    append(body, vec16(suites));
    append(body, vec8(Bytes{std::byte{0}}));
    Bytes exts;
    for (const auto& e : extensions) append(exts, e);
    append(body, vec16(exts));
    Bytes msg;
    put8(msg, 1);
    put24(msg, static_cast<unsigned>(body.size()));
    append(msg, body);
    return msg;
}

// Wraps a handshake message into TLS records, cutting it at the given handshake offsets.
Bytes records(const Bytes& hs, std::vector<std::size_t> cuts = {})
{
    cuts.push_back(hs.size());
    Bytes out;
    std::size_t from = 0;
    for (std::size_t cut : cuts) {
        put8(out, 22);
        put16(out, 0x0301);
        put16(out, static_cast<unsigned>(cut - from));
        out.insert(out.end(), hs.begin() + static_cast<std::ptrdiff_t>(from),
                   hs.begin() + static_cast<std::ptrdiff_t>(cut));
        from = cut;
    }
    return out;
}

// The extensions of a Chrome-like post-quantum hello: key_share (1216-byte entry) before SNI.
std::vector<Bytes> pq_extensions(const std::string& host)
{
    return {
        extension(0x0a0a, {}),
        versions_extension({0xdada, 0x0304, 0x0303}),
        extension(10, Bytes{std::byte{0}, std::byte{6}, std::byte{0x11}, std::byte{0xec}, std::byte{0}, std::byte{0x1d},
                            std::byte{0}, std::byte{0x17}}),
        pq_key_share_extension(),
        alpn_extension({"h2", "http/1.1"}),
        sni_extension(host),
        extension(21, Bytes(300)),  // padding
        extension(0x1a1a, Bytes{std::byte{0}}),
    };
}

struct Capture {
    const char* file;
    const char* server_name;
    std::vector<std::string> alpn;
    std::uint16_t version;
};

const std::vector<Capture>& captures()
{
    static const std::vector<Capture> all{
        {"openssl_s_client.bin", "pastebin.com", {}, 0x0304},
        {"openssl_s_client_alpn.bin", "pastebin.com", {"h2", "http/1.1"}, 0x0304},
        {"openssl_tls12.bin", "api.github.com", {}, 0x0303},
        {"curl.bin", "pastebin.com", {"h2", "http/1.1"}, 0x0304},
        {"curl_http11.bin", "pastebin.com", {"http/1.1"}, 0x0304},
        {"python_ssl.bin", "transfer.sh", {"http/1.1"}, 0x0304},
        {"pq_client_hello.bin", "pastebin.com", {"h2", "http/1.1"}, 0x0304},
        {"pq_client_hello_two_records.bin", "gist.github.com", {"h2", "http/1.1"}, 0x0304},
        {"rfc8448_client_hello.bin", "server", {}, 0x0304},
    };
    return all;
}

}  // namespace

TEST_CASE("tls: ClientHellos captured from real clients parse to their SNI, ALPN and version")
{
    for (const auto& c : captures()) {
        CAPTURE(c.file);
        const Bytes bytes = load_tls(c.file);
        const auto r = parse_client_hello(bytes);
        REQUIRE_MESSAGE(r.ok(), r.error);
        CHECK(r.hello.server_name == c.server_name);
        CHECK(r.hello.alpn == c.alpn);
        CHECK(r.hello.version == c.version);
        CHECK(r.hello.legacy_version == 0x0303);
        CHECK(r.hello.consumed == bytes.size());
        CHECK(looks_like_tls(bytes));
    }
}

TEST_CASE("tls: RFC 8448 simple 1-RTT ClientHello")
{
    const auto r = parse_client_hello(load_tls("rfc8448_client_hello.bin"));
    REQUIRE(r.ok());
    CHECK(r.hello.record_version == 0x0301);
    CHECK(r.hello.cipher_suites == std::vector<std::uint16_t>{0x1301, 0x1303, 0x1302});
    // server_name, renegotiation_info, supported_groups, session_ticket, key_share,
    // supported_versions, signature_algorithms, psk_key_exchange_modes, record_size_limit
    CHECK(r.hello.extensions == std::vector<std::uint16_t>{0, 0xff01, 10, 35, 51, 43, 13, 45, 28});
}

TEST_CASE("tls: the python pq_client_hello tool's output has key_share before server_name")
{
    const auto r = parse_client_hello(load_tls("pq_client_hello.bin"));
    REQUIRE(r.ok());
    const auto& ext = r.hello.extensions;
    const auto key_share = std::find(ext.begin(), ext.end(), 51);
    const auto sni = std::find(ext.begin(), ext.end(), 0);
    REQUIRE(key_share != ext.end());
    REQUIRE(sni != ext.end());
    CHECK(key_share < sni);
    CHECK(is_grease(ext.front()));
    CHECK(load_tls("pq_client_hello.bin").size() == 1900);
}

TEST_CASE("tls: every proper prefix of a real hello is incomplete, with a sound byte count")
{
    for (const auto& c : captures()) {
        CAPTURE(c.file);
        const Bytes bytes = load_tls(c.file);
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            const auto r = parse_client_hello(std::span(bytes).first(n));
            CAPTURE(n);
            REQUIRE(r.status == TlsStatus::incomplete);
            CHECK(r.needed > n);
            CHECK(r.needed <= bytes.size());
        }
        // Once the record header and handshake header are in, the count is exact for these.
        CHECK(parse_client_hello(std::span(bytes).first(9)).needed == bytes.size());
    }
}

TEST_CASE("tls: a hello split across two, three and many records reassembles")
{
    const Bytes capture = load_tls("curl.bin");
    const Bytes hs(capture.begin() + 5, capture.end());
    for (std::size_t cut = 1; cut < hs.size(); ++cut) {
        const auto r = parse_client_hello(records(hs, {cut}));
        CAPTURE(cut);
        REQUIRE_MESSAGE(r.ok(), r.error);
        CHECK(r.hello.server_name == "pastebin.com");
        CHECK(r.hello.alpn == std::vector<std::string>{"h2", "http/1.1"});
    }
    const auto three = parse_client_hello(records(hs, {2, 100}));
    REQUIRE(three.ok());
    CHECK(three.hello.server_name == "pastebin.com");
    std::vector<std::size_t> every_byte;
    for (std::size_t i = 1; i < hs.size(); ++i) every_byte.push_back(i);
    const Bytes one_byte_records = records(hs, every_byte);
    const auto many = parse_client_hello(one_byte_records);
    REQUIRE(many.ok());
    CHECK(many.hello.consumed == one_byte_records.size());
    CHECK(many.hello.server_name == "pastebin.com");

    // Two-record prefixes: the count includes the second record header once the length is known.
    const Bytes split = records(hs, {100});
    CHECK(parse_client_hello(std::span(split).first(50)).needed == split.size());
    CHECK(parse_client_hello(std::span(split).first(105)).needed == split.size());
    CHECK(parse_client_hello(std::span(split).first(107)).needed == split.size());
}

TEST_CASE("tls: a hello over 16 KiB (padding before server_name) over three records parses to its SNI")
{
    // A 40 KB padding extension pushes server_name past the first two 16 KiB records.
    const auto hs = handshake({extension(21, Bytes(40000)), sni_extension("paste.rs")});
    REQUIRE(hs.size() > 32768);
    const auto stream = records(hs, {16384, 32768});
    const auto r = parse_client_hello(stream);
    REQUIRE(r.status == TlsStatus::ok);
    CHECK(r.hello.server_name == "paste.rs");
    CHECK(r.hello.consumed == stream.size());
    // Any prefix short of the last record is incomplete, never an error.
    for (std::size_t n : {std::size_t{16389}, std::size_t{32778}, stream.size() - 1}) {
        CHECK(parse_client_hello(std::span(stream).first(n)).status == TlsStatus::incomplete);
    }
}

TEST_CASE("tls: bytes after the hello are ignored and consumed stops at its last record")
{
    Bytes stream = records(handshake({sni_extension("example.org")}));
    const std::size_t hello_bytes = stream.size();
    append(stream, Bytes{std::byte{0x14}, std::byte{3}, std::byte{3}, std::byte{0}, std::byte{1}, std::byte{1}});
    const auto r = parse_client_hello(stream);
    REQUIRE(r.ok());
    CHECK(r.hello.consumed == hello_bytes);
    CHECK(r.hello.server_name == "example.org");
}

TEST_CASE("tls: a 1216-byte post-quantum key_share before server_name, any extension order")
{
    const Bytes hs = handshake(pq_extensions("pastebin.com"));
    const Bytes stream = records(hs);
    CHECK(stream.size() > 1500);
    const auto r = parse_client_hello(stream);
    REQUIRE_MESSAGE(r.ok(), r.error);
    CHECK(r.hello.server_name == "pastebin.com");
    CHECK(r.hello.alpn == std::vector<std::string>{"h2", "http/1.1"});
    CHECK(r.hello.version == 0x0304);  // 0xdada is GREASE, not a higher version

    // Split right inside the big key share, as a 1.5 KB segment boundary would.
    const auto split = parse_client_hello(records(hs, {1400}));
    REQUIRE(split.ok());
    CHECK(split.hello.server_name == "pastebin.com");

    std::mt19937 rng(12345);
    auto exts = pq_extensions("files.example.net");
    for (int i = 0; i < 50; ++i) {
        std::shuffle(exts.begin(), exts.end(), rng);
        const auto shuffled = parse_client_hello(records(handshake(exts)));
        REQUIRE(shuffled.ok());
        CHECK(shuffled.hello.server_name == "files.example.net");
        CHECK(shuffled.hello.version == 0x0304);
        CHECK(shuffled.hello.alpn.size() == 2);
    }
}

TEST_CASE("tls: GREASE values never count as the highest version")
{
    CHECK(is_grease(0x0a0a));
    CHECK(is_grease(0xfafa));
    CHECK_FALSE(is_grease(0x0a1a));
    CHECK_FALSE(is_grease(0x0304));
    auto version_of = [](std::vector<unsigned> versions) {
        const auto r = parse_client_hello(records(handshake({versions_extension(versions)})));
        REQUIRE(r.ok());
        return r.hello.version;
    };
    CHECK(version_of({0x7a7a, 0x0303}) == 0x0303);
    CHECK(version_of({0x0302, 0x0304, 0xfafa, 0x0303}) == 0x0304);
    CHECK(version_of({0x8a8a}) == 0x0303);          // only GREASE: fall back to legacy_version
    CHECK(version_of({0x7f1c, 0x0303}) == 0x0303);  // a draft number is not a TLS 3.x version
    const auto no_ext = parse_client_hello(records(handshake({sni_extension("a.b")}, 0x0301)));
    REQUIRE(no_ext.ok());
    CHECK(no_ext.hello.version == 0x0301);
}

TEST_CASE("tls: names are lowercased and the first host_name wins")
{
    const auto r = parse_client_hello(records(handshake({sni_extension("PasteBin.COM")})));
    REQUIRE(r.ok());
    CHECK(r.hello.server_name == "pastebin.com");
    const auto none = parse_client_hello(records(handshake({alpn_extension({"h2"})})));
    REQUIRE(none.ok());
    CHECK(none.hello.server_name.empty());
    CHECK(none.hello.alpn == std::vector<std::string>{"h2"});
}

TEST_CASE("tls: streams that are not a ClientHello say not_tls")
{
    auto status_of = [](const std::string& text) {
        Bytes b;
        append(b, text);
        return parse_client_hello(b).status;
    };
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == TlsStatus::not_tls);
    CHECK(status_of("SSH-2.0-OpenSSH_9.2\r\n") == TlsStatus::not_tls);
    CHECK(status_of(std::string("\x16\x02", 2)) == TlsStatus::not_tls);                  // SSLv2-ish major
    CHECK(status_of(std::string("\x16\x03\x05", 3)) == TlsStatus::not_tls);              // version 3.5
    CHECK(status_of(std::string("\x16\x03\x01\x00\x00", 5)) == TlsStatus::not_tls);      // empty record
    CHECK(status_of(std::string("\x16\x03\x01\x40\x01", 5)) == TlsStatus::not_tls);      // > 2^14
    CHECK(status_of(std::string("\x16\x03\x03\x00\x30\x02", 6)) == TlsStatus::not_tls);  // ServerHello
    CHECK(status_of(std::string("\x17\x03\x03\x00\x30", 5)) == TlsStatus::not_tls);      // application data
    CHECK(parse_client_hello(Bytes{}).status == TlsStatus::incomplete);
    CHECK(parse_client_hello(Bytes{}).needed == 5);

    CHECK_FALSE(looks_like_tls(Bytes{}));
    CHECK(looks_like_tls(Bytes{std::byte{0x16}}));
    CHECK(looks_like_tls(Bytes{std::byte{0x16}, std::byte{3}, std::byte{1}}));
    CHECK_FALSE(looks_like_tls(Bytes{std::byte{'G'}, std::byte{'E'}}));
}

TEST_CASE("tls: grammar violations say malformed")
{
    const Bytes good = handshake({sni_extension("a.example"), alpn_extension({"h2"})});
    REQUIRE(parse_client_hello(records(good)).ok());

    // A record of another type between the two halves.
    Bytes interrupted = records(Bytes(good.begin(), good.begin() + 20));
    append(interrupted,
           Bytes{std::byte{21}, std::byte{3}, std::byte{3}, std::byte{0}, std::byte{2}, std::byte{2}, std::byte{40}});
    CHECK(parse_client_hello(interrupted).status == TlsStatus::malformed);

    // An empty handshake record in the middle.
    Bytes empty_record = records(Bytes(good.begin(), good.begin() + 20));
    append(empty_record, Bytes{std::byte{22}, std::byte{3}, std::byte{1}, std::byte{0}, std::byte{0}});
    CHECK(parse_client_hello(empty_record).status == TlsStatus::malformed);

    auto status_of = [](const std::vector<Bytes>& exts) { return parse_client_hello(records(handshake(exts))).status; };
    CHECK(status_of({sni_extension("a.example"), sni_extension("b.example")}) == TlsStatus::malformed);
    CHECK(status_of({sni_extension(std::string("evil\0.com", 9))}) == TlsStatus::malformed);
    CHECK(status_of({sni_extension("has space.com")}) == TlsStatus::malformed);
    CHECK(status_of({sni_extension(std::string(256, 'a'))}) == TlsStatus::malformed);
    CHECK(status_of({sni_extension(std::string(255, 'a'))}) == TlsStatus::ok);
    CHECK(status_of({extension(0, Bytes{std::byte{0}, std::byte{9}, std::byte{0}})}) == TlsStatus::malformed);
    CHECK(status_of({extension(16, Bytes{std::byte{0}, std::byte{2}, std::byte{0}, std::byte{0}})}) ==
          TlsStatus::malformed);  // zero-length ALPN name
    CHECK(status_of({extension(43, Bytes{std::byte{3}, std::byte{3}, std::byte{4}, std::byte{3}})}) ==
          TlsStatus::malformed);  // odd supported_versions list

    // Extension length running past the extensions block.
    Bytes overrun = good;
    overrun[overrun.size() - 4] = std::byte{0x7f};
    CHECK(parse_client_hello(records(overrun)).status == TlsStatus::malformed);

    // Handshake length claims more than the maximum accepted.
    Bytes huge = good;
    huge[1] = std::byte{0x10};
    CHECK(parse_client_hello(records(huge)).status == TlsStatus::malformed);
}

TEST_CASE("tls: every single-byte corruption of a real hello is handled")
{
    const Bytes original = load_tls("curl.bin");
    std::size_t ok = 0;
    for (std::size_t i = 0; i < original.size(); ++i) {
        for (unsigned value : {0x00u, 0xffu, 0x80u}) {
            Bytes b = original;
            b[i] = static_cast<std::byte>(value);
            const auto r = parse_client_hello(b);
            if (r.ok()) {
                ++ok;
                CHECK(r.hello.server_name.size() <= 255);
            } else if (r.status == TlsStatus::incomplete) {
                CHECK(r.needed > b.size());
            } else {
                CHECK_FALSE(r.error.empty());
            }
        }
    }
    CHECK(ok > 0);  // corrupting key-share bytes or the random still parses
}
