// `exfilwatch rules check|dump`: a rules file validated as `run` would load it, the built-in rules.
#include <fmt/format.h>

#include "commands/commands.hpp"
#include "detect/rules.hpp"
#include "detect/rules_file.hpp"

namespace exfilwatch::commands {

int rules_check(const std::string& file)
{
    std::string text;
    try {
        text = detect::read_rules_file(file);
    } catch (const std::exception& e) {
        fmt::print(stderr, "exfilwatch: {}\n", e.what());
        return 1;
    }
    auto result = detect::load_rules(text, file);
    if (auto* error = std::get_if<detect::RulesError>(&result)) {
        fmt::print(stderr, "{}\n", error->to_string());
        return 1;
    }
    fmt::print("{}: ok\n", file);
    return 0;
}

int rules_dump()
{
    fmt::print("{}", builtin_rules_yaml);
    return 0;
}

}  // namespace exfilwatch::commands
