// enrich: the HTTP/1.x request-head parser. Names the destination of a cleartext request or a
// proxy CONNECT (Host, target host:port) without ever keeping header or query values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace exfilwatch::enrich {

inline constexpr std::size_t max_http_head_bytes = std::size_t{16} * 1024;  // request line + headers + blank line
inline constexpr std::size_t max_http_headers = 100;
inline constexpr std::size_t max_http_method_bytes = 24;

// Privacy decision: the query string and fragment are dropped whole, never kept in any field.
// Even its keys can carry data (`/?c2VjcmV0`), so only its length survives (query_bytes).
// Header values other than Host are skipped unread; userinfo in an absolute URI is dropped.
struct HttpRequestHead {
    std::string method;           // e.g. "GET", "CONNECT"
    std::string path;             // origin-form path without '?' and what follows; "*" for OPTIONS *; empty for CONNECT
    std::size_t query_bytes = 0;  // length of the dropped query string (after '?'), 0 if none
    std::string version;          // "HTTP/1.1" or "HTTP/1.0"
    std::string host;             // lowercased host: CONNECT target, else absolute-URI host, else Host header
    std::uint16_t port = 0;       // explicit port that goes with `host`; 0 when none was given
    bool has_host_header = false;
    bool is_connect = false;
    bool absolute_form = false;  // proxy request "GET http://host/path HTTP/1.1"
    std::size_t header_count = 0;
    std::size_t head_bytes = 0;  // bytes up to and including the blank line

    // "host:port" for CONNECT ("[v6]:port" for IPv6 literals), else empty.
    std::string connect_target() const;
};

enum class HttpStatus {
    ok,
    incomplete,  // a valid prefix of a request head: no blank line yet
    not_http,    // does not start like an HTTP/1 request line
    malformed,   // starts like one but breaks the grammar or the limits
};

struct HttpResult {
    HttpStatus status = HttpStatus::malformed;
    HttpRequestHead head;  // meaningful only when status == ok
    std::string error;

    bool ok() const { return status == HttpStatus::ok; }
};

// Parses the request head at the start of a stream. Lines end with CRLF (a bare LF is accepted
// as servers do); bytes after the blank line (the body, a pipelined request) are ignored. Pure.
HttpResult parse_http_request_head(std::span<const std::byte> stream);

const char* to_string(HttpStatus status);

// An authority as a Host header (or, with `port_required`, a CONNECT target) gives it:
// `host[:port]` or `[v6]:port`; host lowercased, port 0 when none. False when it is not one.
// HTTP/2's :authority is read with it (enrich/http2), so both name a flow alike.
bool parse_host_port(std::string_view authority, bool port_required, std::string& host, std::uint16_t& port);
// Sets head.path to `target` without its query and fragment (their length: head.query_bytes).
void set_request_path(std::string_view target, HttpRequestHead& head);

}  // namespace exfilwatch::enrich
