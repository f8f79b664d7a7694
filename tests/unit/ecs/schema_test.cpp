// schemas/ against the codec's field maps (ecs::describe()): every field a telemetry map can write
// is declared for its record kind in schemas/event.schema.json with the same JSON type, every
// field the schema requires of a kind is in that kind's map, and every field the schema declares
// for telemetry is written by some map. So the maps, the schemas and replay cannot drift apart.
// nlohmann reads the schemas: an independent parser.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ecs/fields.hpp"

using nlohmann::json;
using namespace exfilwatch;

namespace {

// A subschema and the file its relative $refs resolve in.
struct Node {
    const json* schema;
    std::string file;
};

class Schemas {
public:
    const json& file(const std::string& name)
    {
        auto it = files_.find(name);
        if (it != files_.end()) return it->second;
        std::ifstream in(std::string(EXFILWATCH_SOURCE_DIR) + "/schemas/" + name);
        REQUIRE_MESSAGE(in.good(), "cannot read schemas/", name);
        return files_.emplace(name, json::parse(in)).first->second;
    }

    // The subschemas that apply to `node` for a telemetry record of `action`: itself, its $ref,
    // allOf items, and the `then` of each if/then whose `if` holds for it (event.kind "event",
    // event.action `action`).
    void applicable(const Node& node, std::string_view action, std::vector<Node>& out)
    {
        const json& s = *node.schema;
        if (!s.is_object()) return;
        out.push_back(node);
        if (s.contains("$ref")) applicable(resolve(node, s["$ref"].get<std::string>()), action, out);
        if (s.contains("allOf"))
            for (const auto& item : s["allOf"]) applicable({&item, node.file}, action, out);
        if (s.contains("if") && s.contains("then") && matches(s["if"], action))
            applicable({&s["then"], node.file}, action, out);
    }

    // The schemas of member `name` of the objects in `nodes`.
    std::vector<Node> member(const std::vector<Node>& nodes, const std::string& name, std::string_view action)
    {
        std::vector<Node> out;
        for (const auto& n : nodes) {
            std::vector<Node> all;
            applicable(n, action, all);
            for (const auto& a : all)
                if (a.schema->contains("properties") && (*a.schema)["properties"].contains(name))
                    out.push_back({&(*a.schema)["properties"][name], a.file});
        }
        return out;
    }

    // The JSON types the schemas in `nodes` allow ("type", "const", "enum"); empty when none says.
    std::set<std::string> types(const std::vector<Node>& nodes, std::string_view action)
    {
        std::set<std::string> out;
        for (const auto& n : nodes) {
            std::vector<Node> all;
            applicable(n, action, all);
            for (const auto& a : all) {
                const json& s = *a.schema;
                if (s.contains("type")) {
                    if (s["type"].is_string()) out.insert(s["type"].get<std::string>());
                    else
                        for (const auto& t : s["type"]) out.insert(t.get<std::string>());
                }
                if (s.contains("const")) out.insert(type_of(s["const"]));
                if (s.contains("enum"))
                    for (const auto& v : s["enum"]) out.insert(type_of(v));
            }
        }
        return out;
    }

    std::vector<Node> items(const std::vector<Node>& nodes, std::string_view action)
    {
        std::vector<Node> out;
        for (const auto& n : nodes) {
            std::vector<Node> all;
            applicable(n, action, all);
            for (const auto& a : all)
                if (a.schema->contains("items")) out.push_back({&(*a.schema)["items"], a.file});
        }
        return out;
    }

    // The dotted paths of every member the schemas in `nodes` declare, recursively.
    void leaves(const std::vector<Node>& nodes, std::string_view action, const std::string& prefix,
                std::set<std::string>& out, int depth = 0)
    {
        std::set<std::string> names;
        for (const auto& n : nodes) {
            std::vector<Node> all;
            applicable(n, action, all);
            for (const auto& a : all)
                if (a.schema->contains("properties"))
                    for (const auto& [name, _] : (*a.schema)["properties"].items()) names.insert(name);
        }
        for (const auto& name : names) {
            const auto path = prefix.empty() ? name : prefix + "." + name;
            auto sub = member(nodes, name, action);
            const auto t = types(sub, action);
            if (t.contains("object") && depth < 8) leaves(sub, action, path, out, depth + 1);
            else
                out.insert(path);
        }
    }

    // The paths the schemas in `nodes` require, recursively through required objects.
    void required(const std::vector<Node>& nodes, std::string_view action, const std::string& prefix,
                  std::set<std::string>& out)
    {
        std::set<std::string> names;
        for (const auto& n : nodes) {
            std::vector<Node> all;
            applicable(n, action, all);
            for (const auto& a : all)
                if (a.schema->contains("required"))
                    for (const auto& name : (*a.schema)["required"]) names.insert(name.get<std::string>());
        }
        for (const auto& name : names) {
            const auto path = prefix.empty() ? name : prefix + "." + name;
            auto sub = member(nodes, name, action);
            if (types(sub, action).contains("object")) required(sub, action, path, out);
            else
                out.insert(path);
        }
    }

private:
    static bool matches(const json& when, std::string_view action)
    {
        const json* event = &when;
        for (const char* key : {"properties", "event", "properties"}) {
            if (!event->is_object() || !event->contains(key)) return true;
            event = &(*event)[key];
        }
        for (const auto& [name, value] :
             {std::pair<const char*, std::string_view>{"kind", "event"}, {"action", action}})
            if (event->contains(name) && (*event)[name].contains("const") && (*event)[name]["const"] != value)
                return false;
        return true;
    }

    static std::string type_of(const json& v)
    {
        if (v.is_string()) return "string";
        if (v.is_boolean()) return "boolean";
        if (v.is_number_integer()) return "integer";
        if (v.is_number()) return "number";
        if (v.is_array()) return "array";
        if (v.is_object()) return "object";
        return "null";
    }

    Node resolve(const Node& from, const std::string& ref)
    {
        const auto hash = ref.find('#');
        const std::string name = hash == 0 ? from.file : ref.substr(0, hash);
        const json& doc = file(name);
        const std::string pointer = hash == std::string::npos ? "" : ref.substr(hash + 1);
        return {&doc.at(json::json_pointer(pointer)), name};
    }

    std::map<std::string, json> files_;
};

std::vector<std::string> split(const std::string& path)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    // "@timestamp" and ECS names hold no dots of their own.
    for (std::size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1)
        out.push_back(path.substr(start, dot - start));
    out.push_back(path.substr(start));
    return out;
}

std::string schema_type(ecs::JsonType t)
{
    switch (t) {
    case ecs::JsonType::string: return "string";
    case ecs::JsonType::integer: return "integer";
    case ecs::JsonType::boolean: return "boolean";
    case ecs::JsonType::strings:
    case ecs::JsonType::objects: return "array";
    }
    return "?";
}

}  // namespace

TEST_CASE("every field the codec writes is in the schema of its record kind, with its type")
{
    Schemas schemas;
    const std::vector<Node> root = {{&schemas.file("record.schema.json"), "record.schema.json"}};
    const auto fields = ecs::describe();
    REQUIRE(fields.size() > 200);
    std::set<std::string_view> actions;
    for (const auto& f : fields) {
        actions.insert(f.action);
        CAPTURE(f.action);
        CAPTURE(f.path);
        std::vector<Node> nodes = root;
        for (const auto& segment : split(f.path)) nodes = schemas.member(nodes, segment, f.action);
        REQUIRE_MESSAGE(!nodes.empty(), f.path, " (", f.action, ") is not in schemas/ for its kind");
        const auto allowed = schemas.types(nodes, f.action);
        REQUIRE_MESSAGE(!allowed.empty(), f.path, " has no type in the schema");
        const auto want = schema_type(f.type);
        CHECK_MESSAGE((allowed.contains(want) || (want == "integer" && allowed.contains("number"))), f.path,
                      " is written as ", want, ", the schema says ", *allowed.begin());
        if (f.type == ecs::JsonType::strings || f.type == ecs::JsonType::objects) {
            const auto items = schemas.items(nodes, f.action);
            REQUIRE_MESSAGE(!items.empty(), f.path, ": the schema does not type its items");
            const auto item_types = schemas.types(items, f.action);
            CHECK(item_types.contains(f.type == ecs::JsonType::strings ? "string" : "object"));
            for (const auto& item : f.items) {  // (no structured bindings: clang 14 cannot capture them)
                const auto member = schemas.member(items, item.first, f.action);
                REQUIRE_MESSAGE(!member.empty(), f.path, "[].", item.first, " is not in the schema");
                CHECK(schemas.types(member, f.action).contains(schema_type(item.second)));
            }
        }
    }
    CHECK(actions.size() == std::variant_size_v<Event>);
}

TEST_CASE("every field the schema requires of a record kind is in that kind's map")
{
    Schemas schemas;
    const std::vector<Node> root = {{&schemas.file("record.schema.json"), "record.schema.json"}};
    std::map<std::string_view, std::set<std::string>> written;
    for (const auto& f : ecs::describe()) written[f.action].insert(f.path);
    for (const auto& kind : written) {
        const std::string_view action = kind.first;
        std::set<std::string> required;
        schemas.required(root, action, "", required);
        CHECK(required.size() > 10);
        for (const auto& path : required) CHECK_MESSAGE(kind.second.contains(path), path, " is required of ", action);
    }
}

TEST_CASE("every telemetry field the schema declares is written by some map")
{
    Schemas schemas;
    const std::vector<Node> root = {{&schemas.file("record.schema.json"), "record.schema.json"}};
    std::set<std::string> written, declared;
    for (const auto& f : ecs::describe()) {
        written.insert(f.path);
        schemas.leaves(root, f.action, "", declared);
    }
    // Written around the maps: the flag of a record cut to the line bound (output/ecs.cpp).
    written.insert("exfilwatch.truncated");
    // Declared by definitions the telemetry schema shares with alerts (common.schema.json's
    // event_header and endpoint): what only an alert writes.
    for (const char* path : {"event.id", "event.reason", "source.domain"}) written.insert(path);
    for (const auto& path : declared) CHECK_MESSAGE(written.contains(path), path, " is declared but never written");
}
