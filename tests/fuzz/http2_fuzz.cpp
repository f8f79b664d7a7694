// libFuzzer target for enrich/http2: any bytes as a client stream, fed whole and again in pieces
// (the first byte picks the piece size; every third piece is skipped as unseen bytes). The two
// must agree while nothing is skipped; a request keeps no query, at most its bounded header
// names, all lower case; a failure always says why.
#include "enrich/http2.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace {

using namespace exfilwatch::enrich;

void check(const Http2ClientStream& parser, const Http2Output& out, std::size_t size)
{
    if (parser.status() != Http2Status::ok && parser.error().empty()) std::abort();
    if (out.frames.body.size() > size || out.frames.fields.size() > max_http2_scan_fields) std::abort();
    for (const auto& r : out.requests) {
        if (r.head.path.find('?') != std::string::npos || r.head.method.empty()) std::abort();
        if (r.header_names.size() > max_http2_header_names) std::abort();
        for (const auto& name : r.header_names)
            for (char c : name)
                if (c >= 'A' && c <= 'Z') std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto bytes = std::as_bytes(std::span(data, size));
    Http2ClientStream whole;
    Http2Output all;
    whole.feed(bytes, all);
    check(whole, all, size);

    if (size == 0) return 0;
    const std::size_t piece = 1 + std::to_integer<std::size_t>(bytes[0]) % 64;
    Http2ClientStream pieces;
    Http2Output parts;
    std::size_t n = 0;
    for (std::size_t at = 0; at < size; at += piece, ++n) {
        auto chunk = bytes.subspan(at, std::min(piece, size - at));
        if (n % 3 == 2 && std::to_integer<unsigned>(bytes[0]) >= 128) {
            pieces.skip(chunk.size());
        } else {
            pieces.feed(chunk, parts);
        }
    }
    check(pieces, parts, size);
    if (std::to_integer<unsigned>(bytes[0]) < 128) {
        // Pieces or whole, the same stream: the same verdict and the same requests.
        if (pieces.status() != whole.status() || parts.requests.size() != all.requests.size() ||
            parts.frames.body != all.frames.body)
            std::abort();
    }
    return 0;
}
