// libFuzzer target for detect/rules: any bytes as a rules file. Loading must return Rules or a
// RulesError with a sane position, never crash; loaded rules must survive the matchers.
#include "detect/rules.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto result = exfilwatch::detect::load_rules(text, "fuzz.yaml");
    if (auto* error = std::get_if<exfilwatch::detect::RulesError>(&result)) {
        if (error->message.empty() || error->line < 0 || error->column < 0) std::abort();
        return 0;
    }
    const auto& rules = std::get<exfilwatch::detect::Rules>(result);
    if (rules.settings.alert_threshold < 1 || rules.settings.alert_threshold > 100) std::abort();
    // Exercise the compiled patterns on inputs derived from the same bytes.
    std::string path = "/home/u/" + std::string(text.substr(0, 64));
    (void)rules.classify(path);
    (void)rules.service_for(exfilwatch::detect::normalize_domain(text.substr(0, 64)), "/api/webhooks/x");
    return 0;
}
