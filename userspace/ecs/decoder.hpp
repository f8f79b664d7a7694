// ecs: one NDJSON record back into a typed Event, read with the field maps of ecs/fields.hpp (the
// inverse of output/ecs.cpp's encoder), parsed with simdjson's on-demand API. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "events.hpp"

namespace exfilwatch::ecs {

enum class LineKind : std::uint8_t {
    event,    // an `event.kind: event` line, parsed into the Event
    ignored,  // a valid alert, metric or state record, or a blank line
    error,    // malformed: see the error text
};

// Keeps its parser and buffers between lines (one per thread).
class Decoder {
public:
    // simdjson reads up to this many bytes past a line's end (never changes them).
    static constexpr std::size_t padding = 64;
    static constexpr std::size_t max_depth = 64;

    Decoder();
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    // `out` is overwritten only for LineKind::event (its storage is reused when it already holds
    // the same alternative). Strings come back as the writer wrote them: a byte that is not part of
    // well-formed UTF-8 in the input is U+FFFD (the writer already wrote those bytes so), and
    // process.args are the redacted ones.
    LineKind decode(std::string_view line, Event& out, std::string& error);
    // The same for a line followed by at least `padding` readable bytes (no copy).
    LineKind decode_padded(std::string_view line, Event& out, std::string& error);
    // The same into the decoder's own event of that kind (valid until the next call): no event
    // storage changes hands, so nothing is allocated once each kind was seen.
    LineKind decode_padded(std::string_view line, const Event*& out, std::string& error);

private:
    template <typename Target>
    LineKind decode_into(std::string_view line, Target&& target, std::string& error);

    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace exfilwatch::ecs
