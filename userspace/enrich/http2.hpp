// enrich: the HTTP/2 client-stream parser. Walks what a client sends on one connection (the
// preface, then frames) and decodes its header blocks with libnghttp2's HPACK inflater, whose
// dynamic table lives as long as the connection. Of each request it keeps only what names it
// (:method, :authority, :path without its query, the names of the headers present); the header
// values and DATA payloads of each input go to the content scan (DecodedFrames), unkept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "enrich/http.hpp"
#include "events.hpp"

struct nghttp2_hd_inflater;

namespace exfilwatch::enrich {

inline constexpr std::size_t http2_preface_bytes = 24;       // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
inline constexpr std::size_t max_http2_table_bytes = 65536;  // the HPACK dynamic table a client may grow to
inline constexpr std::size_t max_http2_header_names = 64;    // kept per request
inline constexpr std::size_t max_http2_scan_fields = 256;    // handed to the scan per input
inline constexpr std::size_t max_http2_scan_field_bytes = std::size_t{64} * 1024;  // names and values, per input

// Whether `bytes` start with the client connection preface (or are all a prefix of it).
bool looks_like_http2(std::span<const std::byte> bytes);

struct Http2Request {
    std::uint32_t stream_id = 0;
    // method, host and port from :authority (a Host field without it), path without the query
    // (its length in query_bytes), version "HTTP/2", header_count; is_connect for CONNECT.
    HttpRequestHead head;
    std::vector<std::string> header_names;  // regular fields, lower case, in order, no repeats
};

enum class Http2Status {
    ok,
    not_http2,  // the stream does not start with the client preface
    malformed,  // a frame breaks RFC 9113's rules, or a header block does not decode (RFC 7541)
    lost,       // bytes went unseen where the parser cannot skip them (a frame header, a header block)
};

// What one input completed: the requests whose header blocks ended in it, and its fields and
// DATA payloads for the content scan.
struct Http2Output {
    std::vector<Http2Request> requests;
    DecodedFrames frames;
};

class Http2ClientStream {
public:
    Http2ClientStream();

    // The next bytes the client sent, from the preface on; appends to `out`. Once the status is
    // not ok it stays so and later input is ignored.
    Http2Status feed(std::span<const std::byte> bytes, Http2Output& out);
    // `count` bytes of the stream went unseen (a write's tail past the capture, a write lost).
    // A DATA payload or a skipped frame stays in step; a header block or a frame header lost
    // leaves the stream lost.
    Http2Status skip(std::uint64_t count);

    Http2Status status() const { return status_; }
    const std::string& error() const { return error_; }

private:
    enum class Phase : std::uint8_t { preface, frame_header, prefix, payload, padding };
    struct InflaterDeleter {
        void operator()(nghttp2_hd_inflater* inflater) const;
    };

    Http2Status fail(Http2Status status, std::string error);
    void begin_frame();
    void after_prefix();
    void start_payload();
    void payload_done(Http2Output& out);
    bool inflate(std::span<const std::uint8_t> fragment, bool final, Http2Output& out);
    void on_field(std::string name, std::string value, Http2Output& out);

    std::unique_ptr<nghttp2_hd_inflater, InflaterDeleter> inflater_;
    Http2Status status_ = Http2Status::ok;
    std::string error_;
    Phase phase_ = Phase::preface;
    std::uint8_t buffer_[http2_preface_bytes] = {};  // the preface, a frame header or a frame's prefix so far
    std::size_t have_ = 0;
    std::uint32_t length_ = 0;  // the frame's payload length
    std::uint8_t type_ = 0, flags_ = 0;
    std::uint32_t stream_ = 0;
    std::size_t prefix_ = 0;       // pad length and priority bytes before the frame's content
    std::uint64_t remaining_ = 0;  // bytes left in this phase
    std::uint32_t pad_ = 0;
    bool block_open_ = false;  // a header block began and its END_HEADERS has not come
    Http2Request block_;       // the request its fields make so far
    bool block_authority_ = false;
};

const char* to_string(Http2Status status);

}  // namespace exfilwatch::enrich
