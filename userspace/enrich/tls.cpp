// enrich: TLS ClientHello parser (RFC 8446 section 4.1.2, RFC 6066 SNI, RFC 7301 ALPN). Strict
// about the grammar, lenient about order: extensions may come in any order, records may split
// the handshake anywhere.
#include "enrich/tls.hpp"

#include <algorithm>

#include "util/bytes.hpp"

namespace exfilwatch::enrich {
namespace {

using util::ByteReader;

constexpr std::uint8_t content_handshake = 22;
constexpr std::uint8_t handshake_client_hello = 1;
constexpr std::size_t record_header_bytes = 5;
constexpr std::size_t handshake_header_bytes = 4;
constexpr std::size_t max_record_payload = 16384;  // 2^14, RFC 8446 section 5.1
constexpr std::size_t max_host_name_bytes = 255;

constexpr std::uint16_t ext_server_name = 0;
constexpr std::uint16_t ext_alpn = 16;
constexpr std::uint16_t ext_supported_versions = 43;

ClientHelloResult fail(TlsStatus status, std::string error)
{
    ClientHelloResult result;
    result.status = status;
    result.error = std::move(error);
    return result;
}

ClientHelloResult incomplete(std::size_t needed)
{
    ClientHelloResult result;
    result.status = TlsStatus::incomplete;
    result.needed = needed;
    return result;
}

bool record_version_ok(std::uint8_t major, std::uint8_t minor)
{
    return major == 3 && minor <= 4;
}

// The handshake length from the first 4 handshake bytes, when present.
std::size_t handshake_total(std::span<const std::byte> handshake)
{
    return handshake_header_bytes + ((static_cast<std::size_t>(util::byte_at(handshake, 1)) << 16) |
                                     (static_cast<std::size_t>(util::byte_at(handshake, 2)) << 8) |
                                     util::byte_at(handshake, 3));
}

std::string parse_server_name(std::span<const std::byte> data, ClientHello& hello)
{
    ByteReader r(data);
    const std::size_t list_bytes = r.u16();
    if (!r.ok() || list_bytes != r.remaining() || list_bytes == 0) {
        return "server_name list length does not match the extension";
    }
    while (!r.empty()) {
        const std::uint8_t name_type = r.u8();
        const auto name = r.bytes(r.u16());
        if (!r.ok()) {
            return "server_name entry overruns the list";
        }
        if (name_type != 0 || !hello.server_name.empty()) {
            continue;  // only the first host_name names the server
        }
        if (name.empty() || name.size() > max_host_name_bytes) {
            return "server_name host_name is empty or longer than 255 bytes";
        }
        std::string host;
        host.reserve(name.size());
        for (std::byte b : name) {
            auto c = static_cast<unsigned char>(b);
            if (c <= 0x20 || c >= 0x7f) {
                return "server_name host_name holds a control, space or non-ASCII byte";
            }
            host.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
        }
        hello.server_name = std::move(host);
    }
    return {};
}

std::string parse_alpn(std::span<const std::byte> data, ClientHello& hello)
{
    ByteReader r(data);
    const std::size_t list_bytes = r.u16();
    if (!r.ok() || list_bytes != r.remaining() || list_bytes < 2) {
        return "ALPN list length does not match the extension";
    }
    while (!r.empty()) {
        const std::size_t length = r.u8();
        const auto name = r.bytes(length);
        if (!r.ok() || length == 0) {
            return "ALPN protocol name is empty or overruns the list";
        }
        hello.alpn.emplace_back(util::as_chars(name));
    }
    return {};
}

std::string parse_supported_versions(std::span<const std::byte> data, ClientHello& hello)
{
    ByteReader r(data);
    const std::size_t list_bytes = r.u8();
    if (!r.ok() || list_bytes != r.remaining() || list_bytes < 2 || list_bytes % 2 != 0) {
        return "supported_versions list length is invalid";
    }
    std::uint16_t best = 0;
    while (!r.empty()) {
        const std::uint16_t v = r.u16();
        // Only TLS versions (3.x) count: GREASE and unknown families are never "the highest".
        if (!is_grease(v) && (v >> 8) == 3) {
            best = std::max(best, v);
        }
    }
    if (best != 0) {
        hello.version = best;
    }
    return {};
}

ClientHelloResult parse_body(std::span<const std::byte> body, ClientHello hello)
{
    ByteReader r(body);
    hello.legacy_version = r.u16();
    r.skip(32);  // random
    const std::size_t session_id_bytes = r.u8();
    r.skip(session_id_bytes);
    if (!r.ok() || session_id_bytes > 32 || (hello.legacy_version >> 8) != 3) {
        return fail(TlsStatus::malformed, "bad legacy_version, random or session_id");
    }
    const std::size_t suites_bytes = r.u16();
    auto suites = r.bytes(suites_bytes);
    if (!r.ok() || suites_bytes < 2 || suites_bytes % 2 != 0) {
        return fail(TlsStatus::malformed, "bad cipher_suites vector");
    }
    hello.cipher_suites.reserve(suites_bytes / 2);
    for (std::size_t i = 0; i < suites_bytes; i += 2) {
        hello.cipher_suites.push_back(util::be16_at(suites, i));
    }
    const std::size_t compression_bytes = r.u8();
    r.skip(compression_bytes);
    if (!r.ok() || compression_bytes == 0) {
        return fail(TlsStatus::malformed, "bad compression_methods vector");
    }
    hello.version = hello.legacy_version;
    if (r.empty()) {
        return ClientHelloResult{TlsStatus::ok, std::move(hello), 0, {}};  // pre-TLS 1.2 hello without extensions
    }
    const std::size_t extensions_bytes = r.u16();
    if (!r.ok() || extensions_bytes != r.remaining()) {
        return fail(TlsStatus::malformed, "extensions length does not match the ClientHello");
    }
    while (!r.empty()) {
        const std::uint16_t type = r.u16();
        const auto data = r.bytes(r.u16());
        if (!r.ok()) {
            return fail(TlsStatus::malformed, "extension overruns the extensions block");
        }
        hello.extensions.push_back(type);
        std::string error;
        switch (type) {
        case ext_server_name: error = parse_server_name(data, hello); break;
        case ext_alpn: error = parse_alpn(data, hello); break;
        case ext_supported_versions: error = parse_supported_versions(data, hello); break;
        default: break;
        }
        if (!error.empty()) {
            return fail(TlsStatus::malformed, std::move(error));
        }
    }
    auto types = hello.extensions;
    std::sort(types.begin(), types.end());
    if (std::adjacent_find(types.begin(), types.end()) != types.end()) {
        return fail(TlsStatus::malformed, "the same extension type appears twice");
    }
    return ClientHelloResult{TlsStatus::ok, std::move(hello), 0, {}};
}

}  // namespace

bool looks_like_tls(std::span<const std::byte> s)
{
    if (s.empty() || util::byte_at(s, 0) != content_handshake) {
        return false;
    }
    if (s.size() >= 3 && !record_version_ok(util::byte_at(s, 1), util::byte_at(s, 2))) {
        return false;
    }
    if (s.size() == 2 && util::byte_at(s, 1) != 3) {
        return false;
    }
    if (s.size() >= 5) {
        const std::size_t length = util::be16_at(s, 3);
        if (length == 0 || length > max_record_payload) {
            return false;
        }
    }
    return s.size() < 6 || util::byte_at(s, 5) == handshake_client_hello;
}

ClientHelloResult parse_client_hello(std::span<const std::byte> stream)
{
    if (stream.empty()) {
        return incomplete(record_header_bytes);
    }
    if (!looks_like_tls(stream)) {
        return fail(TlsStatus::not_tls, "not a TLS handshake record with a ClientHello");
    }
    ClientHello hello;
    std::vector<std::byte> handshake;
    std::size_t pos = 0;
    // Every pass consumes a whole record of at least 6 bytes, so this ends.
    while (true) {
        std::size_t total = 0;  // whole handshake message size once its header is in
        if (handshake.size() >= handshake_header_bytes) {
            total = handshake_total(handshake);
            if (total - handshake_header_bytes > max_client_hello_bytes) {
                return fail(TlsStatus::malformed, "ClientHello longer than the accepted maximum");
            }
            if (handshake.size() >= total) {
                break;
            }
        }
        if (stream.size() - pos < record_header_bytes) {
            const std::size_t more = total != 0 ? total - handshake.size() : 1;
            return incomplete(pos + record_header_bytes + more);
        }
        ByteReader header(stream.subspan(pos, record_header_bytes));
        const std::uint8_t type = header.u8();
        const std::uint8_t major = header.u8();
        const std::uint8_t minor = header.u8();
        const std::size_t length = header.u16();
        if (pos == 0) {
            hello.record_version = static_cast<std::uint16_t>((major << 8) | minor);
        }
        if (type != content_handshake) {
            return fail(TlsStatus::malformed, "a non-handshake record interrupts the ClientHello");
        }
        if (!record_version_ok(major, minor) || length == 0 || length > max_record_payload) {
            return fail(TlsStatus::malformed, "bad record header inside the ClientHello");
        }
        const std::size_t available = std::min(length, stream.size() - pos - record_header_bytes);
        const auto payload = stream.subspan(pos + record_header_bytes, available);
        const std::size_t before = handshake.size();
        handshake.insert(handshake.end(), payload.begin(), payload.end());
        if (before == 0 && !handshake.empty() && util::byte_at(handshake, 0) != handshake_client_hello) {
            return fail(TlsStatus::not_tls, "handshake message is not a ClientHello");
        }
        if (available < length) {
            // A partial record: say how much at least is missing, counting a further record
            // header when the handshake header says the message continues past this record.
            std::size_t needed = pos + record_header_bytes + length;
            if (handshake.size() >= handshake_header_bytes) {
                total = handshake_total(handshake);
                if (total - handshake_header_bytes > max_client_hello_bytes) {
                    return fail(TlsStatus::malformed, "ClientHello longer than the accepted maximum");
                }
                if (total > before + length) {
                    needed += record_header_bytes + (total - before - length);
                }
            }
            return incomplete(needed);
        }
        pos += record_header_bytes + length;
    }
    hello.consumed = pos;
    const std::size_t total = handshake_total(handshake);
    return parse_body(
        std::span<const std::byte>(handshake).subspan(handshake_header_bytes, total - handshake_header_bytes),
        std::move(hello));
}

const char* to_string(TlsStatus status)
{
    switch (status) {
    case TlsStatus::ok: return "ok";
    case TlsStatus::incomplete: return "incomplete";
    case TlsStatus::not_tls: return "not_tls";
    case TlsStatus::malformed: return "malformed";
    }
    return "unknown";
}

}  // namespace exfilwatch::enrich
