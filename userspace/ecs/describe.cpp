// ecs: every field the telemetry maps can write, with its JSON type (for the schema check).
#include <variant>

#include "ecs/fields.hpp"

namespace exfilwatch::ecs {
namespace {

// Visits a map and records each field's dotted path; it writes nothing, so conditions on values
// do not hide a field.
class DescribeOp {
public:
    DescribeOp(std::string_view action, std::vector<FieldInfo>& out) : action_(action), out_(out) {}

    template <typename Body>
    void object(std::string_view name, Body&& body)
    {
        path_.emplace_back(name);
        body();
        path_.pop_back();
    }
    template <typename M, typename Codec>
    void field(std::string_view name, const M&, const Codec& codec, Presence = Presence::always, std::int64_t = 0)
    {
        add(name, json_type(codec));
    }
    void text(std::string_view name, std::string_view) { add(name, JsonType::string); }
    void flag(std::string_view name, bool) { add(name, JsonType::boolean); }
    void number(std::string_view name, std::uint64_t) { add(name, JsonType::integer); }
    void instant(std::string_view name, TimeNs) { add(name, JsonType::string); }
    void texts(std::string_view name, std::initializer_list<std::string_view>) { add(name, JsonType::strings); }
    void created(TimeNs) { add("created", JsonType::string); }
    void context(std::string_view name, ContextField) { add(name, JsonType::string); }
    void argv(const std::vector<std::string>&)
    {
        add("args", JsonType::strings);
        add("args_count", JsonType::integer);
        add("command_line", JsonType::string);
    }
    void dns_answers(std::string_view name, const std::string&, const std::vector<std::string>&,
                     const std::vector<std::string>&)
    {
        add(name, JsonType::objects);
        out_.back().items = {{"name", JsonType::string}, {"type", JsonType::string}, {"data", JsonType::string}};
    }

    template <typename V, typename Body>
    void items(std::string_view name, const V&, Body&& body)
    {
        add(name, JsonType::objects);
        std::vector<FieldInfo> members;
        DescribeOp item(action_, members);
        const typename V::value_type one{};
        body(item, one);
        for (auto& m : members) out_.back().items.emplace_back(std::move(m.path), m.type);
    }

private:
    void add(std::string_view name, JsonType type)
    {
        std::string path;
        for (const auto& p : path_) path.append(p).push_back('.');
        path.append(name);
        out_.push_back({action_, std::move(path), type, {}});
    }

    std::string_view action_;
    std::vector<FieldInfo>& out_;
    std::vector<std::string> path_;
};

}  // namespace

std::vector<FieldInfo> describe()
{
    std::vector<FieldInfo> out;
    for (std::size_t i = 0; i < std::variant_size_v<Event>; ++i) {
        Event event;
        [&]<std::size_t... I>(std::index_sequence<I...>)
        {
            ((i == I ? (void)event.emplace<I>() : (void)0), ...);
        }
        (std::make_index_sequence<std::variant_size_v<Event>>());
        std::visit(
            [&](const auto& e) {
                DescribeOp op(output::actions::by_event_index[i], out);
                fields(op, e);
            },
            event);
    }
    return out;
}

}  // namespace exfilwatch::ecs
