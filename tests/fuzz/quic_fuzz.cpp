// libFuzzer target for enrich/quic: any bytes as a UDP datagram (header grammar, header and
// packet protection), and as the plaintext of an Initial (frame grammar) whose CRYPTO frames go
// through the bounded crypto stream and the ClientHello parser. Checks the results' invariants.
#include "enrich/quic.hpp"
#include "enrich/tls.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace exfilwatch::enrich;
    const auto bytes = std::as_bytes(std::span(data, size));
    const auto r = parse_quic_initials(bytes);
    if (r.status == QuicStatus::ok) {
        if (r.packets.empty() || !looks_like_quic_initial(bytes)) std::abort();
        for (const auto& p : r.packets) {
            if (p.dcid.size() > max_quic_cid_bytes) std::abort();
            for (const auto& f : p.crypto) {
                if (f.data.size() > size) std::abort();
            }
        }
    } else if (r.error.empty() || !r.packets.empty()) {
        std::abort();
    }

    std::vector<QuicCryptoFrame> frames;
    parse_quic_frames(bytes, frames);
    constexpr std::size_t bound = 4096;
    QuicCryptoStream stream(bound);
    std::size_t total = 0;
    for (const auto& f : frames) {
        total += f.data.size();
        stream.add(f);
    }
    if (total > size || stream.contiguous() > bound) std::abort();
    const auto records = stream.records();
    if (records.size() < stream.contiguous()) std::abort();
    parse_client_hello(records);
    return 0;
}
