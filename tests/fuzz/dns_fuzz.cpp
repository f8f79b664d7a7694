// libFuzzer target for enrich/dns: any bytes as a UDP message and as a DNS-over-TCP stream,
// then the CNAME-chain convenience on whatever parsed.
#include "enrich/dns.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace {

void check(const exfilwatch::enrich::DnsResult& r, std::size_t size)
{
    using exfilwatch::enrich::DnsStatus;
    if (r.status == DnsStatus::incomplete && r.needed <= size) std::abort();
    if (r.status == DnsStatus::malformed && r.error.empty()) std::abort();
    if (!r.ok()) return;
    if (r.consumed > size) std::abort();
    for (const auto& q : r.message.questions) {
        // Escaping can at most quadruple the 255-byte wire form.
        if (q.name.empty() || q.name.size() > 4 * 255) std::abort();
    }
    if (auto res = exfilwatch::enrich::resolve_first_question(r.message)) {
        if (res->cnames.size() > r.message.answers.size()) std::abort();
        if (res->resolved_ips.size() > r.message.answers.size()) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto bytes = std::as_bytes(std::span(data, size));
    check(exfilwatch::enrich::parse_dns_message(bytes), size);
    check(exfilwatch::enrich::parse_dns_tcp(bytes), size);
    return 0;
}
