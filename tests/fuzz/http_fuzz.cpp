// libFuzzer target for enrich/http: any bytes as the start of a stream. A parsed head must lie
// within the input, and no header value other than Host may surface in a field.
#include "enrich/http.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto bytes = std::as_bytes(std::span(data, size));
    const auto r = exfilwatch::enrich::parse_http_request_head(bytes);
    using exfilwatch::enrich::HttpStatus;
    if ((r.status == HttpStatus::malformed || r.status == HttpStatus::not_http) && r.error.empty()) std::abort();
    if (!r.ok()) return 0;
    const auto& h = r.head;
    if (h.head_bytes == 0 || h.head_bytes > size || h.head_bytes > exfilwatch::enrich::max_http_head_bytes)
        std::abort();
    if (h.header_count > exfilwatch::enrich::max_http_headers) std::abort();
    if (h.path.find('?') != std::string::npos || h.path.find('#') != std::string::npos) std::abort();
    if (h.is_connect && (h.port == 0 || h.host.empty() || !h.path.empty())) std::abort();
    if (h.version != "HTTP/1.1" && h.version != "HTTP/1.0") std::abort();
    return 0;
}
