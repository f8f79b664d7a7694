// enrich: the QUIC Initial decryptor (see quic.hpp).
#include "enrich/quic.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string_view>

namespace exfilwatch::enrich {
namespace {

using Bytes = std::vector<std::byte>;
using Span = std::span<const std::byte>;

constexpr std::size_t key_bytes = 16;  // AEAD_AES_128_GCM, the Initial packets' cipher
constexpr std::size_t iv_bytes = 12;
constexpr std::size_t tag_bytes = 16;
constexpr std::size_t sample_bytes = 16;
constexpr std::size_t sha256_bytes = 32;
constexpr std::size_t max_packet_number_bytes = 4;
constexpr std::size_t record_payload = 16384;

// RFC 9001 section 5.2 and RFC 9369 section 3.3.1.
constexpr std::array<std::uint8_t, 20> salt_v1 = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                                  0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
constexpr std::array<std::uint8_t, 20> salt_v2 = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                                  0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};

const unsigned char* raw(Span s)
{
    return reinterpret_cast<const unsigned char*>(s.data());
}

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

std::array<std::uint8_t, sha256_bytes> hmac_sha256(Span key, Span data)
{
    std::array<std::uint8_t, sha256_bytes> out{};
    unsigned int n = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), raw(data), data.size(), out.data(), &n);
    return out;
}

// HKDF-Expand-Label (RFC 8446 section 7.1) with an empty context, for outputs of one block.
Bytes expand_label(Span secret, std::string_view label, std::size_t length)
{
    Bytes info;
    info.push_back(static_cast<std::byte>(length >> 8));
    info.push_back(static_cast<std::byte>(length & 0xff));
    const std::string full = "tls13 " + std::string(label);
    info.push_back(static_cast<std::byte>(full.size()));
    for (char c : full) info.push_back(static_cast<std::byte>(c));
    info.push_back(std::byte{0});  // context
    info.push_back(std::byte{1});  // HKDF-Expand's block counter
    auto block = hmac_sha256(secret, info);
    Bytes out(length);
    std::transform(block.begin(), block.begin() + static_cast<std::ptrdiff_t>(length), out.begin(),
                   [](std::uint8_t b) { return static_cast<std::byte>(b); });
    return out;
}

struct Keys {
    Bytes key, iv, hp;
};

Keys client_initial_keys(std::uint32_t version, Span dcid)
{
    const bool v2 = version == quic_v2;
    const auto& salt = v2 ? salt_v2 : salt_v1;
    auto initial = hmac_sha256(std::as_bytes(std::span(salt)), dcid);  // HKDF-Extract
    auto client = expand_label(std::as_bytes(std::span(initial)), "client in", sha256_bytes);
    return Keys{expand_label(client, v2 ? "quicv2 key" : "quic key", key_bytes),
                expand_label(client, v2 ? "quicv2 iv" : "quic iv", iv_bytes),
                expand_label(client, v2 ? "quicv2 hp" : "quic hp", key_bytes)};
}

std::optional<std::array<std::uint8_t, sample_bytes>> header_mask(Span hp, Span sample)
{
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    std::array<std::uint8_t, sample_bytes + sample_bytes> out{};
    int n = 0;
    if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ecb(), nullptr, raw(hp), nullptr) != 1) return std::nullopt;
    EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
    if (EVP_EncryptUpdate(ctx.get(), out.data(), &n, raw(sample), static_cast<int>(sample.size())) != 1 ||
        n != static_cast<int>(sample_bytes))
        return std::nullopt;
    std::array<std::uint8_t, sample_bytes> mask{};
    std::copy_n(out.begin(), sample_bytes, mask.begin());
    return mask;
}

std::optional<Bytes> open_payload(const Keys& keys, std::uint64_t packet_number, Span aad, Span sealed)
{
    if (sealed.size() < tag_bytes) return std::nullopt;
    std::array<std::uint8_t, iv_bytes> nonce{};
    for (std::size_t i = 0; i < iv_bytes; ++i) nonce[i] = static_cast<std::uint8_t>(keys.iv[i]);
    for (std::size_t i = 0; i < 8; ++i) nonce[iv_bytes - 1 - i] ^= static_cast<std::uint8_t>(packet_number >> (8 * i));
    auto cipher = sealed.first(sealed.size() - tag_bytes);
    auto tag = sealed.last(tag_bytes);
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    Bytes plain(cipher.size());
    int n = 0;
    if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, raw(keys.key), nonce.data()) != 1 ||
        EVP_DecryptUpdate(ctx.get(), nullptr, &n, raw(aad), static_cast<int>(aad.size())) != 1 ||
        EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &n, raw(cipher),
                          static_cast<int>(cipher.size())) != 1)
        return std::nullopt;
    std::array<std::uint8_t, tag_bytes> expected{};
    std::transform(tag.begin(), tag.end(), expected.begin(), [](std::byte b) { return static_cast<std::uint8_t>(b); });
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_bytes), expected.data()) != 1)
        return std::nullopt;
    int final_n = 0;
    if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + n, &final_n) != 1)
        return std::nullopt;  // the tag did not verify
    return plain;
}

// A cursor over bytes with RFC 9000 variable-length integers; every read is bounds-checked.
class Reader {
public:
    explicit Reader(Span bytes) : bytes_(bytes) {}
    std::size_t pos() const { return pos_; }
    std::size_t left() const { return bytes_.size() - pos_; }
    std::optional<std::uint64_t> uint(std::size_t n)
    {
        if (left() < n) return std::nullopt;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(bytes_[pos_ + i]);
        pos_ += n;
        return v;
    }
    std::optional<std::uint64_t> varint()
    {
        if (left() < 1) return std::nullopt;
        std::size_t n = std::size_t{1} << (static_cast<std::uint8_t>(bytes_[pos_]) >> 6);
        auto v = uint(n);
        if (!v) return std::nullopt;
        return *v & ((std::uint64_t{1} << (8 * n - 2)) - 1);  // the length bits are not the value
    }
    std::optional<Span> take(std::uint64_t n)
    {
        if (n > left()) return std::nullopt;
        auto out = bytes_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return out;
    }

private:
    Span bytes_;
    std::size_t pos_ = 0;
};

bool known_version(std::uint32_t version)
{
    return version == quic_v1 || version == quic_v2;
}

unsigned initial_type(std::uint32_t version)
{
    return version == quic_v2 ? 1 : 0;
}

unsigned retry_type(std::uint32_t version)
{
    return version == quic_v2 ? 0 : 3;
}

// What a datagram gave: a failure, unless an earlier coalesced Initial decrypted (kept, ok).
QuicResult fail(QuicResult result, QuicStatus status, std::string error)
{
    if (result.packets.empty()) {
        result.status = status;
        result.error = std::move(error);
    } else {
        result.status = QuicStatus::ok;
    }
    return result;
}

}  // namespace

bool parse_quic_frames(Span plain, std::vector<QuicCryptoFrame>& crypto)
{
    Reader r(plain);
    while (r.left() > 0) {
        auto type = r.varint();
        if (!type) return false;
        switch (*type) {
        case 0x00:  // PADDING
        case 0x01:  // PING
            break;
        case 0x02:  // ACK
        case 0x03: {
            auto largest = r.varint(), delay = r.varint(), ranges = r.varint(), first = r.varint();
            if (!largest || !delay || !ranges || !first || *ranges > plain.size()) return false;
            for (std::uint64_t i = 0; i < *ranges; ++i)
                if (!r.varint() || !r.varint()) return false;
            if (*type == 0x03)
                for (int i = 0; i < 3; ++i)
                    if (!r.varint()) return false;
            break;
        }
        case 0x06: {  // CRYPTO
            auto offset = r.varint(), length = r.varint();
            if (!offset || !length) return false;
            auto data = r.take(*length);
            if (!data) return false;
            crypto.push_back(QuicCryptoFrame{*offset, Bytes(data->begin(), data->end())});
            break;
        }
        case 0x1c: {  // CONNECTION_CLOSE
            auto code = r.varint(), frame = r.varint(), reason = r.varint();
            if (!code || !frame || !reason || !r.take(*reason)) return false;
            break;
        }
        default: return false;
        }
    }
    return true;
}

bool looks_like_quic_initial(Span datagram)
{
    if (datagram.size() < 5) return false;
    auto first = static_cast<std::uint8_t>(datagram[0]);
    std::uint32_t version = 0;
    for (std::size_t i = 1; i < 5; ++i) version = (version << 8) | static_cast<std::uint8_t>(datagram[i]);
    return (first & 0xc0) == 0xc0 && known_version(version) && ((first >> 4) & 0x03) == initial_type(version);
}

// NOLINTNEXTLINE(readability-function-cognitive-complexity): one pass over the long-header grammar
QuicResult parse_quic_initials(Span datagram, Span first_dcid)
{
    QuicResult result;
    std::size_t pos = 0;
    while (pos < datagram.size()) {
        Reader r(datagram.subspan(pos));
        auto first = r.uint(1);
        auto version = r.uint(4);
        if (!first || !version) return fail(std::move(result), QuicStatus::malformed, "header cut short");
        if ((*first & 0x80) == 0 || !known_version(static_cast<std::uint32_t>(*version)))
            break;  // a short-header packet (the rest of the datagram) or another version
        const auto ver = static_cast<std::uint32_t>(*version);
        const unsigned type = (*first >> 4) & 0x03;
        if (type == retry_type(ver)) break;  // a server's; it has no length field
        auto dcid_len = r.uint(1);
        if (!dcid_len || *dcid_len > max_quic_cid_bytes)
            return fail(std::move(result), QuicStatus::malformed, "connection ID too long");
        auto dcid = r.take(*dcid_len);
        auto scid_len = r.uint(1);
        if (!dcid || !scid_len || *scid_len > max_quic_cid_bytes || !r.take(*scid_len))
            return fail(std::move(result), QuicStatus::malformed, "connection IDs cut short");
        if (type == initial_type(ver)) {
            auto token_len = r.varint();
            if (!token_len || !r.take(*token_len))
                return fail(std::move(result), QuicStatus::malformed, "token cut short");
        }
        auto length = r.varint();
        if (!length || *length > r.left())
            return fail(std::move(result), QuicStatus::malformed, "length past the datagram");
        const std::size_t pn_offset = r.pos();
        const std::size_t packet_size = pn_offset + static_cast<std::size_t>(*length);
        const auto packet = datagram.subspan(pos, packet_size);
        pos += packet_size;
        if (type != initial_type(ver)) continue;  // 0-RTT or Handshake: not ours to read
        if (*length < max_packet_number_bytes + sample_bytes)
            return fail(std::move(result), QuicStatus::malformed, "packet too short to sample");

        const auto keys = client_initial_keys(ver, first_dcid.empty() ? *dcid : first_dcid);
        auto mask = header_mask(keys.hp, packet.subspan(pn_offset + max_packet_number_bytes, sample_bytes));
        if (!mask) return fail(std::move(result), QuicStatus::undecryptable, "header protection failed");
        Bytes header(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(pn_offset + max_packet_number_bytes));
        header[0] ^= static_cast<std::byte>((*mask)[0] & 0x0f);
        const std::size_t pn_len = (static_cast<std::uint8_t>(header[0]) & 0x03) + 1;
        std::uint64_t packet_number = 0;
        for (std::size_t i = 0; i < pn_len; ++i) {
            header[pn_offset + i] ^= static_cast<std::byte>((*mask)[1 + i]);
            packet_number = (packet_number << 8) | static_cast<std::uint8_t>(header[pn_offset + i]);
        }
        header.resize(pn_offset + pn_len);
        auto plain = open_payload(keys, packet_number, header, packet.subspan(pn_offset + pn_len));
        if (!plain) return fail(std::move(result), QuicStatus::undecryptable, "payload does not decrypt");
        QuicInitial initial;
        initial.version = ver;
        initial.dcid.assign(dcid->begin(), dcid->end());
        initial.packet_number = packet_number;
        if (!parse_quic_frames(*plain, initial.crypto))
            return fail(std::move(result), QuicStatus::malformed, "frame grammar");
        result.packets.push_back(std::move(initial));
    }
    if (result.packets.empty()) return fail(std::move(result), QuicStatus::not_quic, "no client Initial");
    result.status = QuicStatus::ok;
    return result;
}

bool QuicCryptoStream::add(const QuicCryptoFrame& frame)
{
    if (frame.offset > max_bytes_ || frame.data.size() > max_bytes_ - frame.offset) return false;
    const auto from = static_cast<std::size_t>(frame.offset);
    const std::size_t end = from + frame.data.size();
    if (end > bytes_.size()) {
        bytes_.resize(end);
        have_.resize(end, false);
    }
    std::copy(frame.data.begin(), frame.data.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(from));
    std::fill(have_.begin() + static_cast<std::ptrdiff_t>(from), have_.begin() + static_cast<std::ptrdiff_t>(end),
              true);
    while (contiguous_ < have_.size() && have_[contiguous_]) ++contiguous_;
    return true;
}

std::vector<std::byte> QuicCryptoStream::records() const
{
    Bytes out;
    for (std::size_t from = 0; from < contiguous_; from += record_payload) {
        const std::size_t n = std::min(record_payload, contiguous_ - from);
        out.push_back(std::byte{22});  // handshake
        out.push_back(std::byte{0x03});
        out.push_back(std::byte{0x01});
        out.push_back(static_cast<std::byte>(n >> 8));
        out.push_back(static_cast<std::byte>(n & 0xff));
        out.insert(out.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(from),
                   bytes_.begin() + static_cast<std::ptrdiff_t>(from + n));
    }
    return out;
}

const char* to_string(QuicStatus status)
{
    switch (status) {
    case QuicStatus::ok: return "ok";
    case QuicStatus::not_quic: return "not_quic";
    case QuicStatus::malformed: return "malformed";
    case QuicStatus::undecryptable: return "undecryptable";
    }
    return "unknown";
}

}  // namespace exfilwatch::enrich
