// ecs: the decoder of ecs/fields.hpp's maps. simdjson's on-demand API walks each map in the order
// the encoder wrote it, so every lookup is a short forward scan; values the map does not name are
// skipped unparsed. simdjson rejects ill-formed UTF-8: such a line is repaired first, each bad
// byte to U+FFFD (what the writer does with the same bytes), then parsed.
#include "ecs/decoder.hpp"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <limits>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "ecs/fields.hpp"
#include "output/actions.hpp"
#include "output/ecs.hpp"
#include "output/json.hpp"

namespace exfilwatch::ecs {
namespace {

namespace od = simdjson::ondemand;
static_assert(Decoder::padding >= simdjson::SIMDJSON_PADDING);

template <typename T>
T& reuse(Event& out)
{
    if (!std::holds_alternative<T>(out)) out.emplace<T>();
    return std::get<T>(out);
}

// Reads the fields a map names from one object level at a time; the first error is kept and
// ends the walk. A missing object reads as one with no member, so its required fields still say
// that they are missing.
class DecodeOp {
public:
    DecodeOp(od::object root, std::string& error) : object_(root), error_(error) {}

    template <typename Body>
    void object(std::string_view name, Body&& body)
    {
        if (!ok()) return;
        const od::object parent = object_;
        const bool parent_present = present_;
        path_[depth_++] = name;
        if (present_) {
            od::value value;
            if (lookup(name, value)) {
                if (value.get_object().get(object_) != simdjson::SUCCESS) fail("is not an object");
            } else {
                present_ = false;
            }
        }
        body();
        --depth_;
        object_ = parent;
        present_ = parent_present;
    }

    template <typename M, typename Codec>
    void field(std::string_view name, M& member, const Codec& codec, Presence presence = Presence::always,
               std::int64_t missing = 0)
    {
        if (!ok()) return;
        path_[depth_++] = name;
        od::value value;
        if (lookup(name, value)) {
            read(value, member, codec);
        } else if (ok()) {
            if (presence == Presence::required) fail("is missing");
            else if (presence != Presence::optional_keep)
                reset(member, missing);
        }
        --depth_;
    }

    // Derived values: written by the encoder only.
    void text(std::string_view, std::string_view) {}
    void flag(std::string_view, bool) {}
    void number(std::string_view, std::uint64_t) {}
    void instant(std::string_view, TimeNs) {}
    void texts(std::string_view, std::initializer_list<std::string_view>) {}
    void created(TimeNs) {}
    void context(std::string_view, ContextField) {}

    void argv(std::vector<std::string>& args) { field("args", args, Texts{}); }

    // dns.answers: the CNAME chain, in order (A and AAAA answers repeat dns.resolved_ip).
    void dns_answers(std::string_view name, const std::string&, std::vector<std::string>& cnames,
                     const std::vector<std::string>&)
    {
        if (!ok()) return;
        path_[depth_++] = name;
        std::size_t n = 0;
        od::value value;
        od::array items;
        if (lookup(name, value)) {
            if (value.get_array().get(items) != simdjson::SUCCESS) fail("is not an array");
            for (auto item : items) {
                if (!ok()) break;
                od::object answer;
                if (item.get_object().get(answer) != simdjson::SUCCESS) {
                    fail("has an item that is not an object");
                    break;
                }
                std::string_view type;
                if (answer.find_field("type").get_string().get(type) != simdjson::SUCCESS || type != "CNAME") continue;
                std::string_view data;
                if (answer.find_field("data").get_string().get(data) != simdjson::SUCCESS) {
                    fail("has a CNAME item without a data string");
                    break;
                }
                if (n < cnames.size()) cnames[n].assign(data);
                else
                    cnames.emplace_back(data);
                ++n;
            }
        }
        cnames.resize(n);
        --depth_;
    }

    // An array of objects: each item read by body(op, item) with this op moved into it; at most
    // max_items are kept (the writer never writes more).
    template <typename V, typename Body>
    void items(std::string_view name, V& values, Body&& body)
    {
        if (!ok()) return;
        path_[depth_++] = name;
        std::size_t n = 0;
        od::value value;
        od::array array;
        if (lookup(name, value)) {
            if (value.get_array().get(array) != simdjson::SUCCESS) fail("is not an array");
            const od::object parent = object_;
            for (auto item : array) {
                if (!ok() || n == max_items) break;
                if (item.get_object().get(object_) != simdjson::SUCCESS) {
                    fail("has an item that is not an object");
                    break;
                }
                if (n == values.size()) values.emplace_back();
                values[n] = typename V::value_type{};
                body(*this, values[n]);
                ++n;
            }
            object_ = parent;
        }
        values.resize(n);
        --depth_;
    }

    bool ok() const { return error_.empty(); }

    // An error about member `name` of the current object.
    bool fail_at(std::string_view name, std::string_view what)
    {
        path_[depth_++] = name;
        fail(what);
        --depth_;
        return false;
    }

    bool fail(std::string_view what)
    {
        if (!error_.empty()) return false;
        for (std::size_t i = 0; i < depth_; ++i) {
            if (i) error_.push_back('.');
            error_.append(path_[i]);
        }
        error_.push_back(' ');
        error_.append(what);
        return false;
    }

private:
    static constexpr std::size_t max_depth = 8;
    static constexpr std::size_t max_items = 64;

    // The member `name` of the current object; false when absent (or on a malformed line).
    bool lookup(std::string_view name, od::value& value)
    {
        if (!present_) return false;
        auto found = object_.find_field_unordered(name);
        if (found.error() == simdjson::NO_SUCH_FIELD) return false;
        if (found.error() != simdjson::SUCCESS) {
            fail(fmt::format("is not valid JSON ({})", simdjson::error_message(found.error())));
            return false;
        }
        value = found.value_unsafe();
        return true;
    }

    template <typename M>
    static void reset(M& member, std::int64_t missing)
    {
        if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::vector<std::string>>) member.clear();
        else if constexpr (std::is_integral_v<M> && !std::is_same_v<M, bool>)
            member = static_cast<M>(missing);
        else
            member = M{};
    }

    template <typename M>
    bool in_range(std::uint64_t magnitude, bool negative, M& member)
    {
        if (negative) {
            if constexpr (std::is_signed_v<M>) {
                const auto value = static_cast<std::int64_t>(magnitude);
                if (value >= std::numeric_limits<M>::min()) {
                    member = static_cast<M>(value);
                    return true;
                }
            }
            return fail("is out of range");
        }
        if (magnitude > static_cast<std::uint64_t>(std::numeric_limits<M>::max())) return fail("is out of range");
        member = static_cast<M>(magnitude);
        return true;
    }

    // A JSON integer into M: floats are not integers; out of M's range is an error.
    template <typename M>
    bool read_number(od::value& value, M& member)
    {
        od::number_type type{};
        if (value.get_number_type().get(type) != simdjson::SUCCESS) return fail("is not a valid number");
        if (type == od::number_type::floating_point_number) return fail("is not an integer");
        if (type == od::number_type::unsigned_integer) {
            std::uint64_t u = 0;
            if (value.get_uint64().get(u) != simdjson::SUCCESS) return fail("is out of range");
            return in_range(u, false, member);
        }
        std::int64_t i = 0;
        if (value.get_int64().get(i) != simdjson::SUCCESS) return fail("is not a valid number");
        if (i < 0) {
            if constexpr (std::is_signed_v<M>) return in_range(static_cast<std::uint64_t>(i), true, member);
            return fail("is out of range");
        }
        return in_range(static_cast<std::uint64_t>(i), false, member);
    }

    bool json_type(od::value& value, od::json_type& type)
    {
        if (value.type().get(type) == simdjson::SUCCESS) return true;
        return fail("is not valid JSON");
    }

    template <typename M>
    void read(od::value& value, M& member, Integer)
    {
        od::json_type type{};
        if (!json_type(value, type)) return;
        if (type != od::json_type::number) fail("is not a number");
        else
            read_number(value, member);
    }

    // A keyword integer ("1000"); a JSON number is accepted too (records of older versions).
    template <typename M>
    void read(od::value& value, M& member, Keyword)
    {
        od::json_type type{};
        if (!json_type(value, type)) return;
        if (type == od::json_type::number) {
            read_number(value, member);
            return;
        }
        std::string_view text;
        if (type != od::json_type::string || value.get_string().get(text) != simdjson::SUCCESS) {
            fail("is not a number");
            return;
        }
        std::uint64_t magnitude = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), magnitude);
        if (ec == std::errc::result_out_of_range) fail("is out of range");
        else if (ec != std::errc() || end != text.data() + text.size() || text.empty())
            fail("is not an integer");
        else
            in_range(magnitude, false, member);
    }

    void read(od::value& value, std::string& member, Text)
    {
        std::string_view text;
        if (value.get_string().get(text) != simdjson::SUCCESS) fail("is not a string");
        else
            member.assign(text);
    }

    void read(od::value& value, std::string_view& member, Text)
    {
        if (value.get_string().get(member) != simdjson::SUCCESS) fail("is not a string");
    }

    void read(od::value& value, bool& member, Flag)
    {
        if (value.get_bool().get(member) != simdjson::SUCCESS) fail("is not a boolean");
    }

    void read(od::value& value, TimeNs& member, Time)
    {
        std::string_view text;
        if (value.get_string().get(text) != simdjson::SUCCESS || !output::parse_rfc3339(text, member))
            fail("is not an RFC 3339 UTC time");
    }

    void read(od::value& value, std::vector<std::string>& member, Texts)
    {
        od::array items;
        if (value.get_array().get(items) != simdjson::SUCCESS) {
            fail("is not an array");
            return;
        }
        std::size_t n = 0;
        for (auto item : items) {
            std::string_view text;
            if (item.get_string().get(text) != simdjson::SUCCESS) {
                fail("has an item that is not a string");
                return;
            }
            if (n < member.size()) member[n].assign(text);
            else
                member.emplace_back(text);
            ++n;
        }
        member.resize(n);
    }

    template <typename M, std::size_t N>
    void read(od::value& value, M& member, const Names<N>& codec)
    {
        std::string_view text;
        if (value.get_string().get(text) != simdjson::SUCCESS) {
            fail("is not a string");
            return;
        }
        for (std::size_t i = 0; i < N; ++i) {
            if (!codec.names[i].empty() && codec.names[i] == text) {
                member = static_cast<M>(i);
                return;
            }
        }
        std::string known;
        for (auto name : codec.names) {
            if (name.empty()) continue;
            if (!known.empty()) known.append(", ");
            known.append(name);
        }
        fail(fmt::format("is not one of {}", known));
    }

    void read(od::value& value, int& member, ErrnoName)
    {
        std::string_view text;
        if (value.get_string().get(text) != simdjson::SUCCESS) fail("is not a string");
        else if (!(member = output::errno_from_name(text)))
            fail("is not a known errno name");
    }

    od::object object_;
    bool present_ = true;
    std::string& error_;
    std::array<std::string_view, max_depth> path_{};
    std::size_t depth_ = 0;
};

// Decodes into the Event that `target(index)` gives (already holding that alternative, or
// emplaced here).
template <std::size_t I = 0, typename Target>
bool decode_action(std::string_view action, od::object root, Target&& target, std::string& error)
{
    if constexpr (I == std::variant_size_v<Event>) {
        return false;
    } else {
        if (action != output::actions::by_event_index[I])
            return decode_action<I + 1>(action, root, std::forward<Target>(target), error);
        auto& event = reuse<std::variant_alternative_t<I, Event>>(target(I));
        DecodeOp op(root, error);
        fields(op, event);
        return true;
    }
}

// On-demand reads only what it is asked for, and find_field_unordered's second pass over an
// object assumes the object was well-formed (simdjson 3.0 marks it unreachable: undefined
// behaviour on a malformed line, found by the replay fuzz target). So a line's structure is
// walked whole first: every object's keys and separators, every array's items; a malformed one
// is an error before any field is looked up.
simdjson::error_code well_formed(od::value value, std::size_t depth)
{
    if (depth > 64) return simdjson::DEPTH_ERROR;
    od::json_type type{};
    SIMDJSON_TRY(value.type().get(type));
    switch (type) {
    case od::json_type::object: {
        od::object object;
        SIMDJSON_TRY(value.get_object().get(object));
        for (auto field : object) {
            od::raw_json_string key;
            SIMDJSON_TRY(field.key().get(key));
            SIMDJSON_TRY(well_formed(field.value(), depth + 1));
        }
        return simdjson::SUCCESS;
    }
    case od::json_type::array: {
        od::array array;
        SIMDJSON_TRY(value.get_array().get(array));
        for (auto item : array) {
            od::value v;
            SIMDJSON_TRY(item.get(v));
            SIMDJSON_TRY(well_formed(v, depth + 1));
        }
        return simdjson::SUCCESS;
    }
    case od::json_type::string: {  // its escapes and its end
        std::string_view text;
        return value.get_string().get(text);
    }
    default:
        // A number, boolean or null is checked where the map reads it, by the field's name.
        return simdjson::SUCCESS;
    }
}

simdjson::error_code well_formed(od::document& doc)
{
    od::value root;
    auto status = doc.get_value().get(root);
    if (status == simdjson::SCALAR_DOCUMENT_AS_VALUE) return simdjson::INCORRECT_TYPE;  // not an object
    SIMDJSON_TRY(status);
    SIMDJSON_TRY(well_formed(root, 0));
    doc.rewind();
    return simdjson::SUCCESS;
}

template <std::size_t... I>
std::array<Event, sizeof...(I)> one_of_each(std::index_sequence<I...>)
{
    return {Event(std::in_place_index<I>)...};
}

}  // namespace

struct Decoder::State {
    od::parser parser;
    // One event of each kind, decoded in place line after line: their strings keep their
    // buffers, so a line of another kind than the last one allocates nothing.
    std::array<Event, std::variant_size_v<Event>> slots =
        one_of_each(std::make_index_sequence<std::variant_size_v<Event>>());
    std::string padded;    // a copy of a line without padding of its own
    std::string repaired;  // a line with ill-formed UTF-8, repaired
};

Decoder::Decoder() : state_(std::make_unique<State>()) {}
Decoder::~Decoder() = default;

LineKind Decoder::decode(std::string_view line, Event& out, std::string& error)
{
    auto& padded = state_->padded;
    padded.reserve(line.size() + padding);
    padded.assign(line);
    const std::size_t size = padded.size();
    padded.resize(size + padding, ' ');
    return decode_padded(std::string_view(padded.data(), size), out, error);
}

LineKind Decoder::decode_padded(std::string_view line, Event& out, std::string& error)
{
    return decode_into(
        line, [&out](std::size_t) -> Event& { return out; }, error);
}

LineKind Decoder::decode_padded(std::string_view line, const Event*& out, std::string& error)
{
    return decode_into(
        line,
        [&](std::size_t index) -> Event& {
            out = &state_->slots[index];
            return state_->slots[index];
        },
        error);
}

template <typename Target>
LineKind Decoder::decode_into(std::string_view line, Target&& target, std::string& error)
{
    error.clear();
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return LineKind::ignored;
    od::document doc;
    auto status = state_->parser.iterate(simdjson::padded_string_view(line, line.size() + padding)).get(doc);
    if (status == simdjson::UTF8_ERROR) {
        auto& repaired = state_->repaired;
        repaired = output::sanitize_utf8(line);
        const std::size_t size = repaired.size();
        repaired.resize(size + padding, ' ');
        status = state_->parser.iterate(simdjson::padded_string_view(repaired.data(), size, size + padding)).get(doc);
    }
    if (status == simdjson::SUCCESS) status = well_formed(doc);
    od::object root;
    if (status == simdjson::SUCCESS) status = doc.get_object().get(root);
    if (status == simdjson::INCORRECT_TYPE) {
        error = "not a JSON object";
        return LineKind::error;
    }
    if (status != simdjson::SUCCESS) {
        error = fmt::format("not valid JSON: {}", simdjson::error_message(status));
        return LineKind::error;
    }

    std::string_view kind, action;
    {
        DecodeOp op(root, error);
        op.object("event", [&] {
            op.field("kind", kind, Text{}, Presence::required);
            if (op.ok() && (kind == "alert" || kind == "metric" || kind == "state")) return;
            if (op.ok() && kind != "event") op.fail_at("kind", "is not one of alert, event, metric, state");
            op.field("action", action, Text{}, Presence::required);
        });
    }
    if (!error.empty()) return LineKind::error;
    if (kind != "event") return LineKind::ignored;
    if (!decode_action(action, root, std::forward<Target>(target), error)) {
        error = fmt::format("event.action \"{}\" is not a telemetry action", output::sanitize_utf8(action));
        return LineKind::error;
    }
    return error.empty() ? LineKind::event : LineKind::error;
}

}  // namespace exfilwatch::ecs
