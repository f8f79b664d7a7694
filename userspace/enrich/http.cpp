// enrich: HTTP/1.x request-head parser (RFC 9112). Reads line by line within a size cap; keeps
// the method, path (query dropped), version and the destination host:port, nothing else.
#include "enrich/http.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "util/bytes.hpp"

namespace exfilwatch::enrich {
namespace {

HttpResult fail(HttpStatus status, std::string error)
{
    HttpResult result;
    result.status = status;
    result.error = std::move(error);
    return result;
}

bool is_method_char(char c)
{
    return (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

// RFC 9110 tchar.
bool is_token_char(char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// reg-name and IPv4 characters (RFC 3986 unreserved, pct-encoded, sub-delims).
bool is_reg_name_char(char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("-._~%!$&'()*+,;=").find(c) != std::string_view::npos;
}

bool is_ip_literal_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.' ||
           c == 'v' || c == 'V' || c == '%' || c == '-' || c == '_' || c == '~';
}

std::string lowercase(std::string_view s)
{
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && lowercase(a) == lowercase(b);
}

std::string_view trim_ows(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// `host[:port]` or `[v6]:port`; sets host (lowercased, brackets kept) and port (0 if none).
bool parse_authority(std::string_view authority, bool port_required, std::string& host, std::uint16_t& port)
{
    std::string_view host_part;
    std::string_view port_part;
    bool has_port = false;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos || close < 2) {
            return false;
        }
        host_part = authority.substr(0, close + 1);
        for (char c : authority.substr(1, close - 1)) {
            if (!is_ip_literal_char(c)) {
                return false;
            }
        }
        auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            has_port = true;
            port_part = rest.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        host_part = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            has_port = true;
            port_part = authority.substr(colon + 1);
        }
        if (host_part.empty()) {
            return false;
        }
        for (char c : host_part) {
            if (!is_reg_name_char(c)) {
                return false;
            }
        }
    }
    port = 0;
    if (port_required && (!has_port || port_part.empty())) {
        return false;
    }
    if (!port_part.empty()) {
        if (port_part.size() > 5) {
            return false;
        }
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
        if (ec != std::errc() || end != port_part.data() + port_part.size() || value == 0 || value > 65535) {
            return false;
        }
        port = static_cast<std::uint16_t>(value);
    }
    host = lowercase(host_part);
    return true;
}

// Path without query and fragment; counts the query bytes.
void split_path(std::string_view target, HttpRequestHead& head)
{
    const auto fragment = target.find('#');
    if (fragment != std::string_view::npos) {
        target = target.substr(0, fragment);
    }
    const auto query = target.find('?');
    if (query != std::string_view::npos) {
        head.query_bytes = target.size() - query - 1;
        target = target.substr(0, query);
    }
    head.path = target;
}

std::string parse_target(std::string_view target, HttpRequestHead& head)
{
    for (char c : target) {
        if (c <= 0x20 || c >= 0x7f) {
            return "request target holds a control, space or non-ASCII byte";
        }
    }
    if (head.method == "CONNECT") {
        head.is_connect = true;
        if (!parse_authority(target, true, head.host, head.port)) {
            return "CONNECT target is not host:port";
        }
        return {};
    }
    if (target == "*") {
        if (head.method != "OPTIONS") {
            return "asterisk target outside OPTIONS";
        }
        head.path = "*";
        return {};
    }
    if (target.starts_with('/')) {
        split_path(target, head);
        return {};
    }
    const auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) {
        return "request target is neither a path, an absolute URI, an authority nor '*'";
    }
    for (char c : target.substr(0, scheme_end)) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
              c == '.')) {
            return "bad URI scheme";
        }
    }
    auto rest = target.substr(scheme_end + 3);
    const auto authority_end = rest.find_first_of("/?#");
    auto authority = rest.substr(0, authority_end);
    // Credentials in the URI (user:pass@) are dropped here and never stored.
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        authority = authority.substr(at + 1);
    }
    if (!parse_authority(authority, false, head.host, head.port)) {
        return "bad authority in the absolute URI";
    }
    head.absolute_form = true;
    split_path(authority_end == std::string_view::npos ? std::string_view("/") : rest.substr(authority_end), head);
    if (head.path.empty()) {
        head.path = "/";
    }
    return {};
}

// Returns (status ok) on a valid request line; not_http when it cannot be HTTP/1.
HttpResult parse_request_line(std::string_view line, HttpRequestHead& head)
{
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
        return fail(HttpStatus::malformed, "request line is not METHOD SP TARGET SP VERSION");
    }
    const auto version = line.substr(sp2 + 1);
    if (!version.starts_with("HTTP/")) {
        if (line.find(" HTTP/") != std::string_view::npos) {
            return fail(HttpStatus::malformed, "request line is not METHOD SP TARGET SP VERSION");
        }
        return fail(HttpStatus::not_http, "request line does not end in an HTTP version");
    }
    if (version == "HTTP/2.0") {
        return fail(HttpStatus::not_http, "HTTP/2 connection preface, not HTTP/1");
    }
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        return fail(HttpStatus::malformed, "unsupported HTTP version");
    }
    head.method = line.substr(0, sp1);
    head.version = version;
    const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (target.empty()) {
        return fail(HttpStatus::malformed, "empty request target");
    }
    if (auto error = parse_target(target, head); !error.empty()) {
        return fail(HttpStatus::malformed, std::move(error));
    }
    return HttpResult{HttpStatus::ok, {}, {}};
}

}  // namespace

std::string HttpRequestHead::connect_target() const
{
    if (!is_connect) {
        return {};
    }
    return host + ":" + std::to_string(port);
}

HttpResult parse_http_request_head(std::span<const std::byte> stream)
{
    const std::string_view text = util::as_chars(stream.first(std::min(stream.size(), max_http_head_bytes)));
    const bool capped = stream.size() >= max_http_head_bytes;
    std::size_t pos = 0;
    // RFC 9112 section 2.2: empty lines before the request line are ignored.
    while (pos < text.size() && (text[pos] == '\r' || text[pos] == '\n')) {
        ++pos;
    }
    // Decide "not HTTP" from the first bytes, before any line is complete.
    std::size_t method_end = pos;
    while (method_end < text.size() && is_method_char(text[method_end])) {
        if (method_end - pos >= max_http_method_bytes) {
            return fail(HttpStatus::not_http, "no HTTP method at the start");
        }
        ++method_end;
    }
    if (method_end < text.size() && (method_end == pos || text[method_end] != ' ')) {
        return fail(HttpStatus::not_http, "no HTTP method at the start");
    }

    HttpResult result;
    HttpRequestHead& head = result.head;
    result.status = HttpStatus::incomplete;
    bool request_line_done = false;
    while (true) {
        const auto newline = text.find('\n', pos);
        if (newline == std::string_view::npos) {
            if (capped) {
                return fail(HttpStatus::malformed, "request head larger than the limit");
            }
            return result;  // incomplete: head holds what was parsed so far
        }
        std::string_view line = text.substr(pos, newline - pos);
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        pos = newline + 1;
        if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
            return fail(HttpStatus::malformed, "bare CR or NUL inside a line");
        }
        if (!request_line_done) {
            auto line_result = parse_request_line(line, head);
            if (!line_result.ok()) {
                return line_result;
            }
            request_line_done = true;
            continue;
        }
        if (line.empty()) {
            head.head_bytes = pos;
            result.status = HttpStatus::ok;
            return result;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            return fail(HttpStatus::malformed, "obsolete header line folding");
        }
        if (++head.header_count > max_http_headers) {
            return fail(HttpStatus::malformed, "too many header fields");
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return fail(HttpStatus::malformed, "header line without a field name and colon");
        }
        const auto name = line.substr(0, colon);
        for (char c : name) {
            if (!is_token_char(c)) {
                return fail(HttpStatus::malformed, "bad character in a header field name");
            }
        }
        // Only Host is read; every other value (Authorization, Cookie, ...) is skipped unseen.
        if (!iequals(name, "host")) {
            continue;
        }
        if (head.has_host_header) {
            return fail(HttpStatus::malformed, "more than one Host header");
        }
        head.has_host_header = true;
        const auto value = trim_ows(line.substr(colon + 1));
        std::string host;
        std::uint16_t port = 0;
        if (!value.empty() && !parse_authority(value, false, host, port)) {
            return fail(HttpStatus::malformed, "bad Host header");
        }
        // The CONNECT target and an absolute URI name the destination; Host only otherwise.
        if (!head.is_connect && !head.absolute_form) {
            head.host = std::move(host);
            head.port = port;
        }
    }
}

bool parse_host_port(std::string_view authority, bool port_required, std::string& host, std::uint16_t& port)
{
    return parse_authority(authority, port_required, host, port);
}

void set_request_path(std::string_view target, HttpRequestHead& head)
{
    split_path(target, head);
}

const char* to_string(HttpStatus status)
{
    switch (status) {
    case HttpStatus::ok: return "ok";
    case HttpStatus::incomplete: return "incomplete";
    case HttpStatus::not_http: return "not_http";
    case HttpStatus::malformed: return "malformed";
    }
    return "unknown";
}

}  // namespace exfilwatch::enrich
