// Tests userspace/enrich/quic.cpp: RFC 9001 appendix A.2's client Initial (tests/data/quic/README)
// decrypts to its CRYPTO frame and the ClientHello inside names example.com; a flipped bit, a
// cut, another protocol and another version are refused; the crypto stream reassembles frames
// in any order within its bound.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

#include "enrich/quic.hpp"
#include "enrich/tls.hpp"

using namespace exfilwatch::enrich;

namespace {

using Bytes = std::vector<std::byte>;

Bytes load_quic(const std::string& name)
{
    std::ifstream in(std::string(EXFILWATCH_SOURCE_DIR) + "/tests/data/quic/" + name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing test vector " << name);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Bytes out(raw.size());
    std::transform(raw.begin(), raw.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
    return out;
}

Bytes bytes_of(std::initializer_list<unsigned> values)
{
    Bytes out;
    for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
    return out;
}

}  // namespace

TEST_CASE("quic: RFC 9001 A.2's client Initial decrypts and its ClientHello names example.com")
{
    const auto datagram = load_quic("rfc9001_client_initial.bin");
    REQUIRE(datagram.size() == 1200);
    CHECK(looks_like_quic_initial(datagram));
    const auto r = parse_quic_initials(datagram);
    REQUIRE_MESSAGE(r.status == QuicStatus::ok, r.error);
    REQUIRE(r.packets.size() == 1);
    const auto& p = r.packets[0];
    CHECK(p.version == quic_v1);
    CHECK(p.dcid == bytes_of({0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08}));
    CHECK(p.packet_number == 2);
    REQUIRE(p.crypto.size() == 1);
    CHECK(p.crypto[0].offset == 0);
    CHECK(p.crypto[0].data.size() == 241);  // the RFC's 0x40f1

    QuicCryptoStream stream(64 * 1024);
    REQUIRE(stream.add(p.crypto[0]));
    CHECK(stream.contiguous() == 241);
    const auto hello = parse_client_hello(stream.records());
    REQUIRE_MESSAGE(hello.status == TlsStatus::ok, hello.error);
    CHECK(hello.hello.server_name == "example.com");
    CHECK(hello.hello.version == 0x0304);

    // The same keys when given as the connection's first DCID.
    const auto again = parse_quic_initials(datagram, p.dcid);
    CHECK(again.status == QuicStatus::ok);
}

TEST_CASE("quic: a flipped bit anywhere in the protected payload fails the tag, never misparses")
{
    const auto datagram = load_quic("rfc9001_client_initial.bin");
    for (std::size_t at : {std::size_t{30}, std::size_t{300}, std::size_t{1199}}) {
        auto bad = datagram;
        bad[at] ^= std::byte{0x01};
        CHECK(parse_quic_initials(bad).status == QuicStatus::undecryptable);
    }
    // The wrong connection ID (keys from another DCID) fails the same way.
    CHECK(parse_quic_initials(datagram, bytes_of({1, 2, 3, 4, 5, 6, 7, 8})).status == QuicStatus::undecryptable);
}

TEST_CASE("quic: cut datagrams are malformed, other bytes are not QUIC")
{
    const auto datagram = load_quic("rfc9001_client_initial.bin");
    for (std::size_t n : {std::size_t{1}, std::size_t{6}, std::size_t{14}, std::size_t{17}, std::size_t{600}}) {
        const auto r = parse_quic_initials(std::span(datagram).first(n));
        CHECK_MESSAGE(r.status == QuicStatus::malformed, n);
    }
    // A TLS record, a DNS query, a short-header packet, version negotiation, an unknown version.
    CHECK(parse_quic_initials(bytes_of({0x16, 0x03, 0x01, 0x00, 0x10})).status == QuicStatus::not_quic);
    CHECK(parse_quic_initials(bytes_of({0x12, 0x34, 0x01, 0x00, 0x00, 0x01})).status == QuicStatus::not_quic);
    CHECK(parse_quic_initials(bytes_of({0x40, 0x01, 0x02, 0x03, 0x04, 0x05})).status == QuicStatus::not_quic);
    CHECK(parse_quic_initials(bytes_of({0xc0, 0x00, 0x00, 0x00, 0x00, 0x08})).status == QuicStatus::not_quic);
    auto other = datagram;
    other[4] = std::byte{0x02};  // version 0x00000002: not one this reads
    CHECK_FALSE(looks_like_quic_initial(other));
    CHECK(parse_quic_initials(other).status == QuicStatus::not_quic);
    // A connection ID longer than version 1 allows.
    auto long_cid = datagram;
    long_cid[5] = std::byte{21};
    CHECK(parse_quic_initials(long_cid).status == QuicStatus::malformed);
    CHECK(parse_quic_initials(Bytes{}).status == QuicStatus::not_quic);
}

TEST_CASE("quic: the crypto stream reassembles frames in any order, within its bound")
{
    Bytes hello(3000);
    for (std::size_t i = 0; i < hello.size(); ++i) hello[i] = static_cast<std::byte>(i * 7);
    auto frame = [&](std::size_t from, std::size_t n) {
        return QuicCryptoFrame{from, Bytes(hello.begin() + static_cast<std::ptrdiff_t>(from),
                                           hello.begin() + static_cast<std::ptrdiff_t>(from + n))};
    };
    QuicCryptoStream stream(4096);
    REQUIRE(stream.add(frame(2000, 1000)));
    CHECK(stream.contiguous() == 0);
    CHECK(stream.records().empty());
    REQUIRE(stream.add(frame(500, 1500)));
    CHECK(stream.contiguous() == 0);
    REQUIRE(stream.add(frame(0, 600)));  // overlaps what is there
    CHECK(stream.contiguous() == 3000);
    const auto records = stream.records();
    REQUIRE(records.size() == 3005);
    CHECK(records[0] == std::byte{22});
    CHECK(std::equal(hello.begin(), hello.end(), records.begin() + 5));
    // Past the bound: refused, and nothing is kept of it.
    CHECK(stream.add(frame(2500, 500)));  // ends at 3000: fits
    CHECK_FALSE(stream.add(QuicCryptoFrame{4000, Bytes(200)}));
    CHECK_FALSE(stream.add(QuicCryptoFrame{~std::uint64_t{0}, Bytes(1)}));
    CHECK(stream.contiguous() == 3000);
}

TEST_CASE("quic: a ClientHello over three Initials, frames out of order, reassembles to its SNI")
{
    QuicCryptoStream stream(64 * 1024);
    std::vector<std::byte> first_dcid;
    for (int i = 0; i < 3; ++i) {
        const auto r = parse_quic_initials(load_quic("split_v1-" + std::to_string(i) + ".bin"), first_dcid);
        REQUIRE_MESSAGE(r.status == QuicStatus::ok, r.error);
        if (first_dcid.empty()) first_dcid = r.packets.front().dcid;
        for (const auto& p : r.packets)
            for (const auto& f : p.crypto) REQUIRE(stream.add(f));
        const auto hello = parse_client_hello(stream.records());
        if (i < 2) {
            CHECK(hello.status != TlsStatus::ok);  // the name is in the last part
            continue;
        }
        REQUIRE_MESSAGE(hello.status == TlsStatus::ok, hello.error);
        CHECK(hello.hello.server_name == "paste.rs");
        CHECK(hello.hello.alpn == std::vector<std::string>{"h3"});
    }
}

TEST_CASE("quic: version 2 Initials decrypt with their own salt and labels")
{
    const auto datagram = load_quic("v2-0.bin");
    CHECK(looks_like_quic_initial(datagram));
    const auto r = parse_quic_initials(datagram);
    REQUIRE_MESSAGE(r.status == QuicStatus::ok, r.error);
    CHECK(r.packets[0].version == quic_v2);
    QuicCryptoStream stream(64 * 1024);
    for (const auto& f : r.packets[0].crypto) REQUIRE(stream.add(f));
    const auto hello = parse_client_hello(stream.records());
    REQUIRE(hello.status == TlsStatus::ok);
    CHECK(hello.hello.server_name == "paste.rs");
    // Read as version 1 (its type bits then say 0-RTT), it is no Initial at all.
    auto as_v1 = datagram;
    as_v1[4] = std::byte{0x01};
    as_v1[1] = as_v1[2] = as_v1[3] = std::byte{0};
    CHECK_FALSE(looks_like_quic_initial(as_v1));
}
