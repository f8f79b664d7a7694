// libFuzzer target for enrich/tls: any bytes as the start of a TCP stream. Checks the result's
// invariants (an incomplete answer asks for more than it got; an SNI is a bounded clean name).
#include "enrich/tls.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto bytes = std::as_bytes(std::span(data, size));
    const auto r = exfilwatch::enrich::parse_client_hello(bytes);
    using exfilwatch::enrich::TlsStatus;
    switch (r.status) {
    case TlsStatus::ok:
        if (r.hello.consumed > size || r.hello.server_name.size() > 255) std::abort();
        for (char c : r.hello.server_name) {
            if (c <= 0x20 || c >= 0x7f || (c >= 'A' && c <= 'Z')) std::abort();
        }
        for (const auto& p : r.hello.alpn) {
            if (p.empty() || p.size() > 255) std::abort();
        }
        if (!exfilwatch::enrich::looks_like_tls(bytes)) std::abort();
        break;
    case TlsStatus::incomplete:
        if (r.needed <= size) std::abort();
        break;
    case TlsStatus::not_tls:
    case TlsStatus::malformed:
        if (r.error.empty()) std::abort();
        break;
    }
    return 0;
}
