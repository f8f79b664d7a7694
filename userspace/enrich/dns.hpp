// enrich: the DNS message parser (RFC 1035, EDNS0 RFC 6891). Turns a response seen on a socket
// into questions and answers so the DNS cache can map resolved IPs back to names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace exfilwatch::enrich {

inline constexpr std::size_t max_dns_name_bytes = 255;    // wire form, RFC 1035 section 3.1
inline constexpr std::size_t max_dns_pointer_jumps = 64;  // compression pointers followed per name

namespace dns_type {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t ns = 2;
inline constexpr std::uint16_t cname = 5;
inline constexpr std::uint16_t soa = 6;
inline constexpr std::uint16_t ptr = 12;
inline constexpr std::uint16_t mx = 15;
inline constexpr std::uint16_t txt = 16;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t opt = 41;
}  // namespace dns_type

// Names are in presentation form: labels joined by '.', no trailing dot, "." for the root,
// ASCII letters lowercased (DNS is case-insensitive and resolvers randomise case), and any byte
// outside '!'..'~' plus '.' and '\' inside a label escaped as \DDD or \. so that a label can
// never masquerade as several.
struct DnsQuestion {
    std::string name;
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
};

struct DnsRecord {
    std::string name;
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
    std::uint32_t ttl = 0;
    std::string data;  // A/AAAA (class IN): textual IP; CNAME: the target name; else empty
};

struct DnsMessage {
    std::uint16_t id = 0;
    std::uint16_t flags = 0;  // the raw 16-bit flags word
    bool response = false;    // QR
    std::uint8_t opcode = 0;
    bool truncated = false;  // TC
    std::uint8_t rcode = 0;  // header RCODE (low 4 bits; EDNS extended bits not merged)
    std::vector<DnsQuestion> questions;
    std::vector<DnsRecord> answers;
    std::size_t authority_count = 0;             // parsed and validated, not kept
    std::size_t additional_count = 0;            // parsed and validated (OPT included), not kept
    std::optional<std::uint16_t> edns_udp_size;  // from an OPT record, when present
};

enum class DnsStatus {
    ok,
    incomplete,  // TCP form only: fewer bytes than the length prefix announces
    malformed,
};

struct DnsResult {
    DnsStatus status = DnsStatus::malformed;
    DnsMessage message;        // meaningful only when status == ok
    std::size_t needed = 0;    // incomplete: total bytes needed (prefix included)
    std::size_t consumed = 0;  // TCP form: bytes of this message, prefix included
    std::string error;

    bool ok() const { return status == DnsStatus::ok; }
};

// One DNS message as carried in a UDP datagram. Trailing bytes after the last section are
// ignored. Pure: no I/O, bounded work.
DnsResult parse_dns_message(std::span<const std::byte> msg);

// The first message of a DNS-over-TCP stream: a 2-byte big-endian length, then the message.
DnsResult parse_dns_tcp(std::span<const std::byte> stream);

// What the first question resolved to: the CNAME chain in order and the A/AAAA addresses of
// any name on it.
struct DnsResolution {
    std::string question;
    std::uint16_t question_type = 0;
    std::vector<std::string> cnames;
    std::vector<std::string> resolved_ips;
};

// nullopt when the message is a query or has no question.
std::optional<DnsResolution> resolve_first_question(const DnsMessage& message);

const char* to_string(DnsStatus status);

}  // namespace exfilwatch::enrich
