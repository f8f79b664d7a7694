// ecs: the decoder of ecs/fields.hpp's maps. Each map is compiled once into a tree of nodes (a
// member's offset in its record, how to read and reset it), and a line is read in one forward
// pass in document order: each key is matched against the node the writer's order puts next, so a
// record costs one comparison a key, whatever order its fields come in. simdjson rejects
// ill-formed UTF-8: such a line is repaired first, each bad byte to U+FFFD (what the writer does
// with the same bytes), then parsed.
#include "ecs/decoder.hpp"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <limits>
#include <memory>
#include <stdexcept>
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

// On-demand reads only what it is asked for, so what a map does not read is walked here: every
// object's keys and separators, every array's item, every string's escapes and end, so that a
// malformed line is an error wherever it is malformed. Numbers, booleans and null are checked
// where the map reads them, by the field's name.
simdjson::error_code well_formed(od::value value, std::size_t depth)
{
    if (depth > Decoder::max_depth) return simdjson::DEPTH_ERROR;
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
    case od::json_type::string: {
        std::string_view text;
        return value.get_string().get(text);
    }
    default: return simdjson::SUCCESS;
    }
}

simdjson::error_code well_formed(od::document& doc)
{
    od::value root;
    auto status = doc.get_value().get(root);
    if (status == simdjson::SCALAR_DOCUMENT_AS_VALUE) return simdjson::INCORRECT_TYPE;  // not an object
    SIMDJSON_TRY(status);
    return well_formed(root, 0);
}

class Reader;
using ReadFn = void (*)(Reader&, od::value&, void* member, const void* codec);
using ResetFn = void (*)(void* member, std::int64_t missing);

enum class NodeKind : std::uint8_t {
    skip,         // derived by the encoder: validated, not read
    field,        // a member through its codec
    object,       // a nested object: `children`
    items,        // an array of objects, each item's members `children`
    dns_answers,  // dns.answers: the CNAME chain into a vector of strings
};

// One key of one object level of a compiled map.
struct Node {
    std::string_view name;
    NodeKind kind = NodeKind::skip;
    std::ptrdiff_t offset = 0;  // of the member in its record (items: in its item)
    ReadFn read = nullptr;
    ResetFn reset = nullptr;
    const void* codec = nullptr;  // a Names<N> constant of fields.hpp, else null
    Presence presence = Presence::always;
    std::int64_t missing = 0;
    int shadowed_by = -1;                                  // a later node of this level sets the same member: it wins
    void* (*item)(void* vector, std::size_t n) = nullptr;  // items: item n, reset (appended when n == size)
    void (*resize)(void* vector, std::size_t n) = nullptr;
    std::vector<Node> children;
};

// A raw key (its bytes up to the closing quote) is `name`; names are at most the padding long, so
// this reads no further than the padded line. A loop, not memcmp: names are a few bytes and the
// call cost more than the comparison (callgrind).
inline bool key_is(od::raw_json_string key, std::string_view name)
{
    const char* raw = key.raw();
    if (raw[name.size()] != '"') return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (raw[i] != name[i]) return false;
    return true;
}

// A level holds at most this many keys (a bit each in the walk's mask of keys seen).
constexpr std::size_t max_level_keys = 64;

// A field in a map's JSON that decodes into `member` by `Codec`.
template <typename M, typename Codec>
void read_member(Reader& reader, od::value& value, void* member, const void* codec);

template <typename M>
void reset_member(void* member, std::int64_t missing)
{
    auto& m = *static_cast<M*>(member);
    if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::vector<std::string>>) m.clear();
    else if constexpr (std::is_integral_v<M> && !std::is_same_v<M, bool>)
        m = static_cast<M>(missing);
    else
        m = M{};
}

template <typename V>
void* vector_item(void* vector, std::size_t n)
{
    auto& values = *static_cast<V*>(vector);
    if (n == values.size()) values.emplace_back();
    values[n] = typename V::value_type{};
    return &values[n];
}

template <typename V>
void vector_resize(void* vector, std::size_t n)
{
    static_cast<V*>(vector)->resize(n);
}

// Compiles a map (the op interface of fields.hpp) into nodes: it runs the map once over a
// prototype record and keeps each member's offset from the prototype's address.
class SchemaOp {
public:
    SchemaOp(const void* base, std::vector<Node>& level) : base_(static_cast<const char*>(base)), level_(&level) {}

    template <typename Body>
    void object(std::string_view name, Body&& body)
    {
        Node& node = add(name, NodeKind::object);
        std::vector<Node>* parent = level_;
        level_ = &node.children;
        body();
        level_ = parent;
    }

    template <typename M, typename Codec>
    void field(std::string_view name, M& member, const Codec& codec, Presence presence = Presence::always,
               std::int64_t missing = 0)
    {
        Node& node = add(name, NodeKind::field);
        node.offset = offset(member);
        node.read = &read_member<M, Codec>;
        node.reset = &reset_member<M>;
        // Codec tags are empty; a Names<N> is one of fields.hpp's constants, so its address stays.
        if constexpr (!std::is_empty_v<Codec>) node.codec = &codec;
        node.presence = presence;
        node.missing = missing;
    }

    void text(std::string_view name, std::string_view) { add(name, NodeKind::skip); }
    void flag(std::string_view name, bool) { add(name, NodeKind::skip); }
    void number(std::string_view name, std::uint64_t) { add(name, NodeKind::skip); }
    void instant(std::string_view name, TimeNs) { add(name, NodeKind::skip); }
    void texts(std::string_view name, std::initializer_list<std::string_view>) { add(name, NodeKind::skip); }
    void created(TimeNs) { add("created", NodeKind::skip); }
    void context(std::string_view name, ContextField) { add(name, NodeKind::skip); }

    void argv(std::vector<std::string>& args)
    {
        field("args", args, Texts{});
        add("args_count", NodeKind::skip);
        add("command_line", NodeKind::skip);
    }

    void dns_answers(std::string_view name, const std::string&, std::vector<std::string>& cnames,
                     const std::vector<std::string>&)
    {
        Node& node = add(name, NodeKind::dns_answers);
        node.offset = offset(cnames);
    }

    template <typename V, typename Body>
    void items(std::string_view name, V& values, Body&& body)
    {
        Node& node = add(name, NodeKind::items);
        node.offset = offset(values);
        node.item = &vector_item<V>;
        node.resize = &vector_resize<V>;
        typename V::value_type prototype{};
        SchemaOp item(&prototype, node.children);
        body(item, prototype);
        finish(node.children);
    }

    // Links the members two nodes of one level set (the later one wins, as when read in order).
    static void finish(std::vector<Node>& level)
    {
        if (level.size() > max_level_keys) throw std::logic_error("ecs: a map level has more than 64 keys");
        for (std::size_t i = 0; i < level.size(); ++i) {
            if (level[i].kind != NodeKind::field) continue;
            for (std::size_t j = i + 1; j < level.size(); ++j) {
                if (level[j].kind == NodeKind::field && level[j].offset == level[i].offset) {
                    level[i].shadowed_by = static_cast<int>(j);
                    break;
                }
            }
        }
    }

private:
    Node& add(std::string_view name, NodeKind kind)
    {
        if (name.size() > simdjson::SIMDJSON_PADDING) throw std::logic_error("ecs: a key longer than the padding");
        for (auto& node : *level_)
            if (node.name == name && node.kind == kind && kind == NodeKind::object) return node;  // opened again
        auto& node = level_->emplace_back();
        node.name = name;
        node.kind = kind;
        return node;
    }

    template <typename M>
    std::ptrdiff_t offset(const M& member) const
    {
        return reinterpret_cast<const char*>(std::addressof(member)) - base_;
    }

    const char* base_;
    std::vector<Node>* level_;
};

void finish_tree(std::vector<Node>& level)
{
    SchemaOp::finish(level);
    for (auto& node : level)
        if (node.kind == NodeKind::object) finish_tree(node.children);
}

template <std::size_t I>
std::vector<Node> compile()
{
    using E = std::variant_alternative_t<I, Event>;
    std::vector<Node> root;
    E prototype{};
    SchemaOp op(&prototype, root);
    fields(op, prototype);
    finish_tree(root);
    return root;
}

constexpr std::size_t kinds = std::variant_size_v<Event>;

// Every record kind's map, compiled at first use.
const std::array<std::vector<Node>, kinds>& schemas()
{
    static const auto compiled = []<std::size_t... I>(std::index_sequence<I...>)
    {
        return std::array<std::vector<Node>, kinds>{compile<I>()...};
    }
    (std::make_index_sequence<kinds>());
    return compiled;
}

template <std::size_t I>
void* alternative(Event& event)
{
    return &reuse<std::variant_alternative_t<I, Event>>(event);
}

// The record of kind I inside an Event (emplaced when it holds another kind).
constexpr auto alternatives = []<std::size_t... I>(std::index_sequence<I...>)
{
    return std::array<void* (*)(Event&), kinds>{&alternative<I>...};
}
(std::make_index_sequence<kinds>());

// Reads one line's objects by a compiled map; the first error is kept and ends the walk. A
// missing object reads as one with no member, so its required fields still say that they are
// missing.
class Reader {
public:
    explicit Reader(std::string& error) : error_(error) {}

    bool ok() const { return error_.empty(); }

    // The members of `object` into the record at `base`, by `level`.
    void walk(od::object object, const std::vector<Node>& level, char* base)
    {
        std::uint64_t seen = 0;
        std::size_t next = 0;  // the node the writer's order puts next
        const std::size_t n = level.size();
        for (auto field : object) {
            od::raw_json_string key;
            if (field.key().get(key) != simdjson::SUCCESS) {
                invalid();
                return;
            }
            std::size_t i = next, tried = 0;
            for (; tried < n; ++tried, i = i + 1 == n ? 0 : i + 1)
                if (key_is(key, level[i].name)) break;
            od::value value;
            if (field.value().get(value) != simdjson::SUCCESS) {
                invalid();
                return;
            }
            // An unknown key, a repeated one (the first wins) or one a later key overrides.
            const bool read = tried < n && !(seen >> i & 1);
            if (read) {
                seen |= std::uint64_t{1} << i;
                next = i + 1 == n ? 0 : i + 1;
            }
            if (!read || level[i].kind == NodeKind::skip ||
                (level[i].shadowed_by >= 0 && (seen >> level[i].shadowed_by & 1))) {
                if (well_formed(value, depth_ + 1) != simdjson::SUCCESS) {
                    invalid();
                    return;
                }
                continue;
            }
            path_[depth_++] = level[i].name;
            read_node(level[i], value, base);
            --depth_;
            if (!ok()) return;
        }
        if (seen == (n == max_level_keys ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1)) return;
        for (std::size_t i = 0; i < n && ok(); ++i)
            if (!(seen >> i & 1)) absent(level[i], seen, base);
    }

    // A malformed line: the caller says where.
    void invalid() { fail("is not valid JSON"); }

    bool fail(std::string_view what)
    {
        if (!error_.empty()) return false;
        for (std::size_t i = 0; i < depth_; ++i) {
            if (i) error_.push_back('.');
            error_.append(path_[i]);
        }
        if (depth_) error_.push_back(' ');
        error_.append(what);
        return false;
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

private:
    static constexpr std::size_t max_path = 8;
    static constexpr std::size_t max_items = 64;

    void read_node(const Node& node, od::value& value, char* base)
    {
        switch (node.kind) {
        case NodeKind::skip: break;
        case NodeKind::field: node.read(*this, value, base + node.offset, node.codec); break;
        case NodeKind::object: {
            od::object object;
            if (value.get_object().get(object) != simdjson::SUCCESS) fail("is not an object");
            else
                walk(object, node.children, base);
            break;
        }
        case NodeKind::items: read_items(node, value, base + node.offset); break;
        case NodeKind::dns_answers:
            read_dns_answers(value, *reinterpret_cast<std::vector<std::string>*>(base + node.offset));
            break;
        }
    }

    // A node whose key the object did not have (`seen`: the keys of its level that it had).
    void absent(const Node& node, std::uint64_t seen, char* base)
    {
        switch (node.kind) {
        case NodeKind::skip: break;
        case NodeKind::field:
            if (node.shadowed_by >= 0 && (seen >> node.shadowed_by & 1)) break;
            if (node.presence == Presence::required) {
                path_[depth_++] = node.name;
                fail("is missing");
                --depth_;
            } else if (node.presence != Presence::optional_keep) {
                node.reset(base + node.offset, node.missing);
            }
            break;
        case NodeKind::object:
            path_[depth_++] = node.name;
            for (const auto& child : node.children) {
                if (!ok()) break;
                absent(child, 0, base);
            }
            --depth_;
            break;
        case NodeKind::items: node.resize(base + node.offset, 0); break;
        case NodeKind::dns_answers: reinterpret_cast<std::vector<std::string>*>(base + node.offset)->clear(); break;
        }
    }

    // An array of objects: at most max_items are kept (the writer never writes more).
    void read_items(const Node& node, od::value& value, void* vector)
    {
        od::array array;
        if (value.get_array().get(array) != simdjson::SUCCESS) {
            fail("is not an array");
            return;
        }
        std::size_t n = 0;
        for (auto result : array) {
            od::value item;
            if (result.get(item) != simdjson::SUCCESS) {
                invalid();
                return;
            }
            if (n == max_items) {
                if (well_formed(item, depth_ + 1) != simdjson::SUCCESS) {
                    invalid();
                    return;
                }
                continue;
            }
            od::object object;
            if (item.get_object().get(object) != simdjson::SUCCESS) {
                fail("has an item that is not an object");
                return;
            }
            walk(object, node.children, static_cast<char*>(node.item(vector, n)));
            if (!ok()) return;
            ++n;
        }
        node.resize(vector, n);
    }

    // A string member of a dns.answers item; any other value is only validated.
    bool answer_text(od::value value, std::string_view& text, bool& is_string) const
    {
        od::json_type type{};
        if (value.type().get(type) != simdjson::SUCCESS) return false;
        is_string = type == od::json_type::string;
        if (is_string) return value.get_string().get(text) == simdjson::SUCCESS;
        return well_formed(value, depth_ + 2) == simdjson::SUCCESS;
    }

    // dns.answers: the CNAME chain, in order (A and AAAA answers repeat dns.resolved_ip).
    void read_dns_answers(od::value& value, std::vector<std::string>& cnames)
    {
        od::array items;
        if (value.get_array().get(items) != simdjson::SUCCESS) {
            fail("is not an array");
            return;
        }
        std::size_t n = 0;
        for (auto result : items) {
            od::value item;
            od::object answer;
            if (result.get(item) != simdjson::SUCCESS) {
                invalid();
                return;
            }
            if (item.get_object().get(answer) != simdjson::SUCCESS) {
                fail("has an item that is not an object");
                return;
            }
            std::string_view type, data;
            bool type_seen = false, data_seen = false, type_text = false, data_text = false;
            for (auto field : answer) {
                od::raw_json_string key;
                od::value member;
                if (field.key().get(key) != simdjson::SUCCESS || field.value().get(member) != simdjson::SUCCESS) {
                    invalid();
                    return;
                }
                bool ok = true;
                if (!type_seen && key_is(key, "type")) {
                    type_seen = true;
                    ok = answer_text(member, type, type_text);
                } else if (!data_seen && key_is(key, "data")) {
                    data_seen = true;
                    ok = answer_text(member, data, data_text);
                } else {
                    ok = well_formed(member, depth_ + 2) == simdjson::SUCCESS;
                }
                if (!ok) {
                    invalid();
                    return;
                }
            }
            if (!type_text || type != "CNAME") continue;
            if (!data_text) {
                fail("has a CNAME item without a data string");
                return;
            }
            if (n < cnames.size()) cnames[n].assign(data);
            else
                cnames.emplace_back(data);
            ++n;
        }
        cnames.resize(n);
    }

    std::string& error_;
    std::array<std::string_view, max_path> path_{};
    std::size_t depth_ = 0;
};

template <typename M, typename Codec>
void read_member(Reader& reader, od::value& value, void* member, const void* codec)
{
    if constexpr (std::is_empty_v<Codec>) reader.read(value, *static_cast<M*>(member), Codec{});
    else
        reader.read(value, *static_cast<M*>(member), *static_cast<const Codec*>(codec));
}

// event.kind and event.action: the first `event` member of the root, read forward (the root's
// members before it are skipped unread; the walk of the whole line validates them).
struct Head {
    std::string_view kind, action;
    bool has_action = false;
    bool action_text = false;  // a string (checked only for telemetry: other kinds need no action)
};

bool read_head(od::object root, Head& head, std::string& error)
{
    for (auto field : root) {
        od::raw_json_string key;
        if (field.key().get(key) != simdjson::SUCCESS) return false;
        if (!key_is(key, "event")) continue;
        od::object event;
        auto status = field.value().get_object().get(event);
        if (status == simdjson::INCORRECT_TYPE) {
            error = "event is not an object";
            return false;
        }
        if (status != simdjson::SUCCESS) return false;
        bool has_kind = false;
        for (auto member : event) {
            if (member.key().get(key) != simdjson::SUCCESS) return false;
            if (!has_kind && key_is(key, "kind")) {
                has_kind = true;
                status = member.value().get_string().get(head.kind);
                if (status == simdjson::INCORRECT_TYPE) {
                    error = "event.kind is not a string";
                    return false;
                }
            } else if (!head.has_action && key_is(key, "action")) {
                head.has_action = true;
                status = member.value().get_string().get(head.action);
                head.action_text = status == simdjson::SUCCESS;
                if (status == simdjson::INCORRECT_TYPE) status = simdjson::SUCCESS;
            } else {
                continue;
            }
            if (status != simdjson::SUCCESS) return false;
            if (has_kind && head.has_action) break;
        }
        if (!has_kind) error = "event.kind is missing";
        return has_kind;
    }
    error = "event.kind is missing";
    return false;
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
    const std::array<std::vector<Node>, kinds>& maps = schemas();

    // The padded line (repaired when its UTF-8 is ill-formed) as a simdjson document.
    simdjson::error_code iterate(std::string_view line, od::document& doc)
    {
        auto status = parser.iterate(simdjson::padded_string_view(line, line.size() + padding)).get(doc);
        if (status != simdjson::UTF8_ERROR) return status;
        repaired = output::sanitize_utf8(line);
        const std::size_t size = repaired.size();
        repaired.resize(size + padding, ' ');
        return parser.iterate(simdjson::padded_string_view(repaired.data(), size, size + padding)).get(doc);
    }

    // The error of a line whose fast read failed: malformed JSON first, wherever it is, then
    // what the read found (`error`, kept when the line is well-formed).
    void diagnose(std::string_view line, std::string& error)
    {
        od::document doc;
        auto status = iterate(line, doc);
        if (status == simdjson::SUCCESS) status = well_formed(doc);
        if (status == simdjson::SUCCESS) {
            doc.rewind();
            od::object root;
            status = doc.get_object().get(root);
        }
        if (status == simdjson::INCORRECT_TYPE) error = "not a JSON object";
        else if (status != simdjson::SUCCESS)
            error = fmt::format("not valid JSON: {}", simdjson::error_message(status));
        else if (error.empty())
            error = "not valid JSON";
    }
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
    auto& state = *state_;
    od::document doc;
    auto status = state.iterate(line, doc);
    if (status != simdjson::SUCCESS) {
        error = fmt::format("not valid JSON: {}", simdjson::error_message(status));
        return LineKind::error;
    }
    od::object root;
    Head head;
    if (doc.get_object().get(root) != simdjson::SUCCESS || !read_head(root, head, error)) {
        state.diagnose(line, error);
        return LineKind::error;
    }

    // Which map reads the line: decided before the walk, which reuses the parser's string buffer.
    enum class Kind : std::uint8_t { event, ignored, bad_kind, no_action, action_not_text, bad_action };
    Kind kind = Kind::bad_kind;
    std::size_t index = kinds;
    if (head.kind == "alert" || head.kind == "metric" || head.kind == "state") {
        kind = Kind::ignored;
    } else if (head.kind == "event") {
        if (!head.has_action) {
            kind = Kind::no_action;
        } else if (!head.action_text) {
            kind = Kind::action_not_text;
        } else {
            for (index = 0; index < kinds; ++index)
                if (head.action == output::actions::by_event_index[index]) break;
            kind = index < kinds ? Kind::event : Kind::bad_action;
        }
    }
    if (kind != Kind::event) {
        std::string action = kind == Kind::bad_action ? output::sanitize_utf8(head.action) : std::string();
        doc.rewind();
        status = well_formed(doc);
        if (status != simdjson::SUCCESS) {
            error = fmt::format("not valid JSON: {}", simdjson::error_message(status));
            return LineKind::error;
        }
        switch (kind) {
        case Kind::ignored: return LineKind::ignored;
        case Kind::bad_kind: error = "event.kind is not one of alert, event, metric, state"; break;
        case Kind::no_action: error = "event.action is missing"; break;
        case Kind::action_not_text: error = "event.action is not a string"; break;
        default: error = fmt::format("event.action \"{}\" is not a telemetry action", action); break;
        }
        return LineKind::error;
    }

    doc.rewind();
    if (doc.get_object().get(root) != simdjson::SUCCESS) {
        state.diagnose(line, error);
        return LineKind::error;
    }
    Reader reader(error);
    reader.walk(root, state.maps[index], static_cast<char*>(alternatives[index](target(index))));
    if (!error.empty()) {
        state.diagnose(line, error);
        return LineKind::error;
    }
    return LineKind::event;
}

}  // namespace exfilwatch::ecs
