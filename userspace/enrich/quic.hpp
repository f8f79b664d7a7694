// enrich: the QUIC Initial decryptor. A client's Initial packets (RFC 9000 section 17.2.2) are
// protected with keys anyone can derive from the Destination Connection ID of its first Initial
// (RFC 9001 section 5.2; QUIC v2, RFC 9369, with its own salt and labels): removing the header
// protection (AES-128-ECB) and the packet protection (AES-128-GCM) yields the CRYPTO frames that
// carry the TLS ClientHello, so a flow on UDP is named by its SNI like one on TCP. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace exfilwatch::enrich {

inline constexpr std::uint32_t quic_v1 = 0x00000001;
inline constexpr std::uint32_t quic_v2 = 0x6b3343cf;
inline constexpr std::size_t max_quic_cid_bytes = 20;  // RFC 9000 section 17.2 (version 1)

struct QuicCryptoFrame {
    std::uint64_t offset = 0;  // in the Initial crypto stream
    std::vector<std::byte> data;
};

struct QuicInitial {
    std::uint32_t version = 0;
    std::vector<std::byte> dcid;  // this packet's Destination Connection ID
    std::uint64_t packet_number = 0;
    std::vector<QuicCryptoFrame> crypto;
};

enum class QuicStatus {
    ok,             // at least one client Initial decrypted
    not_quic,       // no long-header Initial of a known version
    malformed,      // starts like one but breaks the header or frame grammar
    undecryptable,  // the AEAD tag does not verify under the Initial keys
};

struct QuicResult {
    QuicStatus status = QuicStatus::not_quic;
    std::vector<QuicInitial> packets;  // the Initials of the datagram, in order
    std::string error;
};

// The client Initial packets of one UDP datagram (coalesced packets of other types are
// skipped). Keys come from `first_dcid`, the DCID of the connection's first Initial, when given
// (a client keeps those keys after the server picks a new ID), else from each packet's own.
QuicResult parse_quic_initials(std::span<const std::byte> datagram, std::span<const std::byte> first_dcid = {});

// The frames of a decrypted client Initial (RFC 9000 section 12.4: PADDING, PING, ACK, CRYPTO,
// CONNECTION_CLOSE), appending its CRYPTO frames to `crypto`; false on any other frame type or a
// frame cut short.
bool parse_quic_frames(std::span<const std::byte> plain, std::vector<QuicCryptoFrame>& crypto);

// True when the datagram starts like a client Initial of QUIC v1 or v2 (long header, fixed
// bit, Initial type for its version); the first 5 bytes are enough.
bool looks_like_quic_initial(std::span<const std::byte> datagram);

// The Initial crypto stream, reassembled from frames in any order into the TLS handshake bytes
// from offset 0, bounded at `max_bytes`. `records()` wraps the contiguous prefix into TLS
// handshake records, the form parse_client_hello reads.
class QuicCryptoStream {
public:
    explicit QuicCryptoStream(std::size_t max_bytes) : max_bytes_(max_bytes) {}
    // False when the frame lies past the bound (the stream stays short).
    bool add(const QuicCryptoFrame& frame);
    std::size_t contiguous() const { return contiguous_; }
    std::vector<std::byte> records() const;

private:
    std::size_t max_bytes_;
    std::vector<std::byte> bytes_;
    std::vector<bool> have_;
    std::size_t contiguous_ = 0;
};

const char* to_string(QuicStatus status);

}  // namespace exfilwatch::enrich
