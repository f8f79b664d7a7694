// The back half shared by run and replay (see pipeline.hpp).
#include "commands/pipeline.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "detect/engine.hpp"
#include "detect/rules.hpp"
#include "detect/rules_file.hpp"
#include "output/ecs.hpp"
#include "output/sink.hpp"

namespace exfilwatch::commands {

struct Pipeline::State {
    PipelineOptions options;
    std::vector<std::string> selected;  // event.action names to emit as telemetry
    std::unique_ptr<output::NdjsonSink> sink;
    std::unique_ptr<detect::Engine> engine;
    int min_score = 0;
    std::uint64_t alerts = 0;
    std::uint64_t suppressed_alerts = 0;
    std::uint64_t telemetry = 0;
    std::uint64_t telemetry_shed = 0;
    bool shedding = false;
    std::uint64_t rule_reloads = 0;
    std::uint64_t rule_reload_errors = 0;
    output::EcsEncoder encoder;  // telemetry and alerts: a reused buffer, cached argv redaction

    void write(std::string_view line) { sink->write_line(line); }
};

Pipeline::Pipeline(const PipelineOptions& options) : state_(std::make_unique<State>())
{
    state_->options = options;
    state_->selected = parse_event_selection(options.events);
    auto rules = detect::load_rules_file(options.rules_file, options.require_trusted_rules);
    state_->min_score = options.min_score >= 0 ? options.min_score : rules.settings.alert_threshold;
    state_->engine = std::make_unique<detect::Engine>(std::move(rules));
    state_->sink = options.output_file.empty() ? std::make_unique<output::NdjsonSink>(STDOUT_FILENO)
                                               : output::NdjsonSink::open_file(options.output_file);
}

Pipeline::~Pipeline() = default;

void Pipeline::started(TimeNs time, const std::vector<HookStatus>& hooks, std::size_t processes_scanned,
                       const std::vector<std::string>& capabilities)
{
    output::MonitorState state;
    state.time = time;
    state.action = output::StateAction::started;
    state.version = EXFILWATCH_VERSION;
    state.hooks = hooks;
    state.rules_source = state_->options.rules_file.empty() ? "built-in" : state_->options.rules_file;
    state.events = state_->options.events;
    state.mode = hooks.empty() ? "replay" : "run";
    state.processes_scanned = processes_scanned;
    state.capabilities = capabilities;
    state_->write(output::to_ndjson_line(state));
    flush(false);
}

bool Pipeline::reload_rules(TimeNs time, std::string& error)
{
    try {
        auto rules = detect::load_rules_file(state_->options.rules_file, state_->options.require_trusted_rules);
        if (state_->options.min_score < 0) state_->min_score = rules.settings.alert_threshold;
        state_->engine->replace_rules(std::move(rules));
    } catch (const std::exception& e) {
        error = e.what();
        ++state_->rule_reload_errors;
        return false;
    }
    ++state_->rule_reloads;
    output::MonitorState state;
    state.time = time;
    state.action = output::StateAction::rules_reloaded;
    state.version = EXFILWATCH_VERSION;
    state.mode = "run";
    state.rules_source = state_->options.rules_file.empty() ? "built-in" : state_->options.rules_file;
    state_->write(output::to_ndjson_line(state));
    return true;
}

void Pipeline::on_event(const Event& event)
{
    auto action = output::event_action(event);
    if (std::find(state_->selected.begin(), state_->selected.end(), action) != state_->selected.end()) {
        if (state_->shedding) {
            ++state_->telemetry_shed;
        } else {
            state_->write(state_->encoder.line(event));
            ++state_->telemetry;
        }
    }
    for (const auto& alert : state_->engine->process(event)) {
        if (alert.risk_score < state_->min_score) {
            ++state_->suppressed_alerts;
            continue;
        }
        state_->write(state_->encoder.line(alert));
        ++state_->alerts;
    }
}

void Pipeline::shed_telemetry(bool shed)
{
    state_->shedding = shed;
}

void Pipeline::metrics(TimeNs time, util::Counters counters)
{
    state_->engine->stats().report(counters);
    counters.emplace_back("output.alerts", state_->alerts);
    counters.emplace_back("output.alerts_below_min_score", state_->suppressed_alerts);
    counters.emplace_back("output.telemetry", state_->telemetry);
    counters.emplace_back("output.telemetry_shed", state_->telemetry_shed);
    counters.emplace_back("output.dropped_lines", state_->sink->dropped_lines());
    counters.emplace_back("rules.reloads", state_->rule_reloads);
    counters.emplace_back("rules.reload_errors", state_->rule_reload_errors);
    state_->write(output::to_ndjson_line(output::Metrics{time, std::move(counters)}));
}

void Pipeline::stopped(TimeNs time, const std::string& reason)
{
    output::MonitorState state;
    state.time = time;
    state.action = output::StateAction::stopped;
    state.version = EXFILWATCH_VERSION;
    state.rules_source = state_->options.rules_file.empty() ? "built-in" : state_->options.rules_file;
    state.events = state_->options.events;
    state.reason = reason;
    state_->write(output::to_ndjson_line(state));
}

void Pipeline::flush(bool final)
{
    if (final)
        state_->sink->close(std::chrono::seconds(2));
    else
        state_->sink->flush();
}

bool Pipeline::output_broken() const
{
    return state_->sink->broken();
}

std::uint64_t Pipeline::alerts() const
{
    return state_->alerts;
}

std::uint64_t Pipeline::dropped_lines() const
{
    return state_->sink->dropped_lines();
}

}  // namespace exfilwatch::commands
