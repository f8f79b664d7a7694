// enrich: the TLS ClientHello parser. Reads the first bytes a client sent on a TCP stream
// (one or more handshake records) and returns what names the destination: SNI, ALPN, version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace exfilwatch::enrich {

// Largest ClientHello handshake message accepted (real ones are 0.2-2 KB; this leaves room for
// large PSK identities and post-quantum key shares while bounding reassembly).
inline constexpr std::size_t max_client_hello_bytes = std::size_t{64} * 1024;

struct ClientHello {
    std::string server_name;                   // first SNI host_name, ASCII-lowercased; empty if none
    std::vector<std::string> alpn;             // offered ALPN protocols, in the client's order
    std::uint16_t version = 0;                 // highest offered (supported_versions, else legacy_version)
    std::uint16_t legacy_version = 0;          // ClientHello.legacy_version (0x0303 for TLS 1.3)
    std::uint16_t record_version = 0;          // version field of the first record header
    std::vector<std::uint16_t> cipher_suites;  // in order, GREASE included (fingerprinting)
    std::vector<std::uint16_t> extensions;     // extension types in order, GREASE included
    std::size_t consumed = 0;                  // stream bytes up to the end of the record that ends the hello
};

enum class TlsStatus {
    ok,
    incomplete,  // a valid prefix: wait for more bytes (see `needed`)
    not_tls,     // not a TLS handshake record carrying a ClientHello
    malformed,   // starts like a ClientHello but breaks the TLS grammar
};

struct ClientHelloResult {
    TlsStatus status = TlsStatus::malformed;
    ClientHello hello;       // meaningful only when status == ok
    std::size_t needed = 0;  // incomplete: total stream bytes needed at least (0 if unknown)
    std::string error;       // not_tls / malformed: what was wrong, for logs and tests

    bool ok() const { return status == TlsStatus::ok; }
};

// Parses the ClientHello at the start of a TCP stream, reassembling it across several TLS
// records. Bytes after the record that completes the ClientHello are ignored. Pure.
ClientHelloResult parse_client_hello(std::span<const std::byte> stream);

// True when the bytes present (at least one) are consistent with the start of a TLS record
// carrying a ClientHello: content type 22, version 3.x, a sane length, handshake type 1.
bool looks_like_tls(std::span<const std::byte> stream);

// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa.
constexpr bool is_grease(std::uint16_t value)
{
    return (value & 0x0f0f) == 0x0a0a && (value >> 8) == (value & 0xff);
}

const char* to_string(TlsStatus status);

}  // namespace exfilwatch::enrich
