// enrich: HTTP/2 client-stream parser (RFC 9113 framing, RFC 7541 HPACK through libnghttp2).
// A byte-at-a-time state machine over frames: only a frame header or a frame's pad length and
// priority are buffered (at most 24 bytes); payloads pass through as they come, so a frame split
// across writes costs nothing and a header block is inflated as its fragments arrive.
#include "enrich/http2.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include <nghttp2/nghttp2.h>

namespace exfilwatch::enrich {
namespace {

constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::size_t frame_header_bytes = 9;

// RFC 9113 section 6: the frame types and flags a client stream is read for.
constexpr std::uint8_t frame_data = 0x0;
constexpr std::uint8_t frame_headers = 0x1;
constexpr std::uint8_t frame_push_promise = 0x5;
constexpr std::uint8_t frame_continuation = 0x9;
constexpr std::uint8_t flag_end_headers = 0x4;
constexpr std::uint8_t flag_padded = 0x8;
constexpr std::uint8_t flag_priority = 0x20;

std::string lowercase(std::string s)
{
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

}  // namespace

bool looks_like_http2(std::span<const std::byte> bytes)
{
    const auto n = std::min(bytes.size(), preface.size());
    return n > 0 && std::memcmp(bytes.data(), preface.data(), n) == 0;
}

void Http2ClientStream::InflaterDeleter::operator()(nghttp2_hd_inflater* inflater) const
{
    nghttp2_hd_inflate_del(inflater);
}

Http2ClientStream::Http2ClientStream()
{
    nghttp2_hd_inflater* inflater = nullptr;
    if (nghttp2_hd_inflate_new(&inflater) != 0) {
        fail(Http2Status::malformed, "cannot allocate an HPACK inflater");
        return;
    }
    inflater_.reset(inflater);
    // The server's SETTINGS_HEADER_TABLE_SIZE is not seen (inbound plaintext is not captured):
    // accept any table a client may be allowed, up to a bound.
    nghttp2_hd_inflate_change_table_size(inflater, max_http2_table_bytes);
}

Http2Status Http2ClientStream::fail(Http2Status status, std::string error)
{
    status_ = status;
    error_ = std::move(error);
    inflater_.reset();  // its dynamic table is of no use any more
    return status_;
}

Http2Status Http2ClientStream::feed(std::span<const std::byte> bytes, Http2Output& out)
{
    const auto* in = reinterpret_cast<const std::uint8_t*>(bytes.data());
    std::size_t left = bytes.size();
    while (left > 0 && status_ == Http2Status::ok) {
        switch (phase_) {
        case Phase::preface: {
            const std::size_t take = std::min(left, preface.size() - have_);
            if (std::memcmp(in, preface.data() + have_, take) != 0)
                return fail(Http2Status::not_http2, "no HTTP/2 client connection preface");
            have_ += take;
            in += take;
            left -= take;
            if (have_ == preface.size()) {
                have_ = 0;
                phase_ = Phase::frame_header;
            }
            break;
        }
        case Phase::frame_header:
        case Phase::prefix: {
            const std::size_t need = phase_ == Phase::frame_header ? frame_header_bytes : prefix_;
            const std::size_t take = std::min(left, need - have_);
            std::memcpy(buffer_ + have_, in, take);
            have_ += take;
            in += take;
            left -= take;
            if (have_ < need) break;
            have_ = 0;
            if (phase_ == Phase::frame_header) {
                begin_frame();
            } else {
                after_prefix();
            }
            if (status_ == Http2Status::ok && phase_ == Phase::payload && remaining_ == 0) payload_done(out);
            break;
        }
        case Phase::payload: {
            const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(left, remaining_));
            if (type_ == frame_data) {
                const auto* from = reinterpret_cast<const std::byte*>(in);
                out.frames.body.insert(out.frames.body.end(), from, from + take);
            } else if (type_ == frame_headers || type_ == frame_continuation) {
                if (!inflate({in, take}, false, out)) return status_;
            }
            in += take;
            left -= take;
            remaining_ -= take;
            if (remaining_ == 0) payload_done(out);
            break;
        }
        case Phase::padding: {
            const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(left, remaining_));
            in += take;
            left -= take;
            remaining_ -= take;
            if (remaining_ == 0) phase_ = Phase::frame_header;
            break;
        }
        }
    }
    return status_;
}

Http2Status Http2ClientStream::skip(std::uint64_t count)
{
    Http2Output unused;
    while (count > 0 && status_ == Http2Status::ok) {
        if (phase_ == Phase::padding ||
            (phase_ == Phase::payload && type_ != frame_headers && type_ != frame_continuation)) {
            const auto take = std::min(count, remaining_);
            remaining_ -= take;
            count -= take;
            if (remaining_ > 0) continue;
            if (phase_ == Phase::padding) {
                phase_ = Phase::frame_header;
            } else {
                payload_done(unused);
            }
            continue;
        }
        return fail(Http2Status::lost, "bytes went unseen inside a frame header or a header block");
    }
    return status_;
}

void Http2ClientStream::begin_frame()
{
    length_ = (std::uint32_t{buffer_[0]} << 16) | (std::uint32_t{buffer_[1]} << 8) | buffer_[2];
    type_ = buffer_[3];
    flags_ = buffer_[4];
    stream_ = ((std::uint32_t{buffer_[5]} << 24) | (std::uint32_t{buffer_[6]} << 16) |
               (std::uint32_t{buffer_[7]} << 8) | buffer_[8]) &
              0x7fffffffU;
    pad_ = 0;
    prefix_ = 0;
    // RFC 9113 section 6.10: a header block is one HEADERS frame and its CONTINUATIONs, with no
    // other frame between them.
    if (block_open_ && (type_ != frame_continuation || stream_ != block_.stream_id)) {
        fail(Http2Status::malformed, "a header block is interrupted by another frame");
        return;
    }
    switch (type_) {
    case frame_data:
        if (stream_ == 0) {
            fail(Http2Status::malformed, "DATA frame on stream 0");
            return;
        }
        if (flags_ & flag_padded) prefix_ = 1;
        break;
    case frame_headers:
        if (stream_ == 0) {
            fail(Http2Status::malformed, "HEADERS frame on stream 0");
            return;
        }
        prefix_ = ((flags_ & flag_padded) ? 1 : 0) + ((flags_ & flag_priority) ? 5 : 0);
        block_open_ = true;
        block_ = Http2Request{};
        block_.stream_id = stream_;
        block_.head.version = "HTTP/2";
        block_authority_ = false;
        break;
    case frame_continuation:
        if (!block_open_) {
            fail(Http2Status::malformed, "CONTINUATION frame without a HEADERS frame before it");
            return;
        }
        break;
    case frame_push_promise: fail(Http2Status::malformed, "PUSH_PROMISE frame from a client"); return;
    default: break;  // SETTINGS, WINDOW_UPDATE, PING, PRIORITY, RST_STREAM, GOAWAY, unknown: skipped
    }
    if (prefix_ > length_) {
        fail(Http2Status::malformed, "frame shorter than its pad length and priority fields");
        return;
    }
    remaining_ = length_ - prefix_;
    if (prefix_ > 0) {
        phase_ = Phase::prefix;
        return;
    }
    start_payload();
}

void Http2ClientStream::after_prefix()
{
    if (flags_ & flag_padded) pad_ = buffer_[0];
    if (pad_ > remaining_) {
        fail(Http2Status::malformed, "padding longer than the frame");
        return;
    }
    remaining_ -= pad_;
    start_payload();
}

void Http2ClientStream::start_payload()
{
    phase_ = Phase::payload;
}

void Http2ClientStream::payload_done(Http2Output& out)
{
    if ((type_ == frame_headers || type_ == frame_continuation) && (flags_ & flag_end_headers)) {
        if (!inflate({}, true, out)) return;
        block_open_ = false;
        if (!block_.head.method.empty()) out.requests.push_back(std::move(block_));  // no method: trailers
        block_ = Http2Request{};
    }
    if (pad_ > 0) {
        phase_ = Phase::padding;
        remaining_ = pad_;
        return;
    }
    phase_ = Phase::frame_header;
}

bool Http2ClientStream::inflate(std::span<const std::uint8_t> fragment, bool final, Http2Output& out)
{
    const std::uint8_t* in = fragment.data();
    std::size_t left = fragment.size();
    while (true) {
        nghttp2_nv nv{};
        int flags = 0;
        const auto used = nghttp2_hd_inflate_hd2(inflater_.get(), &nv, &flags, in, left, final ? 1 : 0);
        if (used < 0) {
            fail(Http2Status::malformed,
                 std::string("header block does not decode (HPACK): ") + nghttp2_strerror(static_cast<int>(used)));
            return false;
        }
        in += used;
        left -= static_cast<std::size_t>(used);
        if (flags & NGHTTP2_HD_INFLATE_EMIT)
            on_field(lowercase(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen)),
                     std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen), out);
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inflater_.get());
            return true;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) return true;
    }
}

void Http2ClientStream::on_field(std::string name, std::string value, Http2Output& out)
{
    auto& head = block_.head;
    ++head.header_count;
    if (name == ":method" && value.size() <= max_http_method_bytes) {
        head.method = value;
        head.is_connect = value == "CONNECT";
    } else if (name == ":authority" || (name == "host" && !block_authority_)) {
        std::string host;
        std::uint16_t port = 0;
        if (parse_host_port(value, head.is_connect, host, port)) {
            head.host = std::move(host);
            head.port = port;
            head.has_host_header = true;
            block_authority_ = name == ":authority";
        }
    } else if (name == ":path") {
        if (value.starts_with('/')) {
            set_request_path(value, head);
        } else if (value == "*") {
            head.path = "*";
        }
    }
    if (!name.starts_with(':') && block_.header_names.size() < max_http2_header_names &&
        std::find(block_.header_names.begin(), block_.header_names.end(), name) == block_.header_names.end())
        block_.header_names.push_back(name);
    // The values go to the scan only, bounded per input; past the bound they are decoded (the
    // dynamic table must follow) and dropped, and the scan is told.
    auto& frames = out.frames;
    std::size_t kept = 0;
    for (const auto& f : frames.fields) kept += f.name.size() + f.value.size();
    if (frames.fields.size() >= max_http2_scan_fields ||
        kept + name.size() + value.size() > max_http2_scan_field_bytes) {
        frames.truncated = true;
        return;
    }
    frames.fields.push_back({std::move(name), std::move(value)});
}

const char* to_string(Http2Status status)
{
    switch (status) {
    case Http2Status::ok: return "ok";
    case Http2Status::not_http2: return "not_http2";
    case Http2Status::malformed: return "malformed";
    case Http2Status::lost: return "lost";
    }
    return "unknown";
}

}  // namespace exfilwatch::enrich
