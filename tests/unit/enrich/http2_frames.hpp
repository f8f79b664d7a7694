// Test helpers for HTTP/2 client streams: frames, the connection preface and header blocks coded
// by libnghttp2's deflater (Huffman where shorter, as real clients code them).
#pragma once

#include <doctest/doctest.h>
#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exfilwatch::test {

using Bytes = std::vector<std::byte>;

inline Bytes text(std::string_view s)
{
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    return Bytes(p, p + s.size());
}

inline Bytes hex(std::string_view digits)
{
    Bytes out;
    std::string pair;
    for (char c : digits) {
        if (c == ' ') continue;
        pair += c;
        if (pair.size() == 2) {
            out.push_back(static_cast<std::byte>(std::stoi(pair, nullptr, 16)));
            pair.clear();
        }
    }
    return out;
}

inline Bytes frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const Bytes& payload)
{
    Bytes out;
    const auto n = static_cast<std::uint32_t>(payload.size());
    for (int shift : {16, 8, 0}) out.push_back(static_cast<std::byte>((n >> shift) & 0xff));
    out.push_back(static_cast<std::byte>(type));
    out.push_back(static_cast<std::byte>(flags));
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<std::byte>((stream >> shift) & 0xff));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

inline Bytes cat(std::initializer_list<Bytes> parts)
{
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

inline constexpr std::uint8_t data = 0x0, headers = 0x1, settings = 0x4, continuation = 0x9;
inline constexpr std::uint8_t end_stream = 0x1, end_headers = 0x4, padded = 0x8, priority = 0x20;

inline Bytes preface()
{
    return cat({text("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(settings, 0, 0, hex("0003 00000064"))});
}

// A header block as nghttp2's deflater codes it (Huffman where shorter, as real clients do).
inline Bytes deflate(const std::vector<std::pair<std::string, std::string>>& fields)
{
    nghttp2_hd_deflater* deflater = nullptr;
    REQUIRE(nghttp2_hd_deflate_new(&deflater, 4096) == 0);
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : fields)
        nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                       reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                       NGHTTP2_NV_FLAG_NONE});
    std::vector<std::uint8_t> buffer(nghttp2_hd_deflate_bound(deflater, nva.data(), nva.size()));
    const auto n = nghttp2_hd_deflate_hd(deflater, buffer.data(), buffer.size(), nva.data(), nva.size());
    nghttp2_hd_deflate_del(deflater);
    REQUIRE(n > 0);
    const auto* p = reinterpret_cast<const std::byte*>(buffer.data());
    return Bytes(p, p + n);
}

}  // namespace exfilwatch::test
