// Tests userspace/commands/pipeline.cpp: the records the shared back half writes (monitor-started
// with the hooks kernel/ reported, metrics, monitor-stopped) to an output file.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands/pipeline.hpp"
#include "replay/reader.hpp"

using namespace exfilwatch;
using namespace exfilwatch::commands;
namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> read_records(const fs::path& file)
{
    std::vector<nlohmann::json> records;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
    return records;
}

}  // namespace

TEST_CASE("monitor-started lists the hooks as kernel/ reported them, attached and degraded")
{
    fs::path out = fs::temp_directory_path() / ("ew-pipeline-" + std::to_string(getpid()) + ".ndjson");
    {
        Pipeline pipeline(PipelineOptions{"", "exec", -1, out.string()});
        std::vector<HookStatus> hooks = {{"tp/syscalls/sys_exit_openat", true, ""},
                                         {"cgroup_skb/egress", false, "no cgroup v2 mount"}};
        pipeline.started(1'000'000'000, hooks, 42, {"cap_sys_ptrace"});
        pipeline.stopped(2'000'000'000, "duration");
        pipeline.flush(true);
    }
    auto records = read_records(out);
    fs::remove(out);
    REQUIRE(records.size() == 2);
    const auto& started = records[0];
    CHECK(started["event"]["action"] == "monitor-started");
    CHECK(started["exfilwatch"]["mode"] == "run");
    CHECK(started["exfilwatch"]["hooks"]["attached"] == nlohmann::json::array({"tp/syscalls/sys_exit_openat"}));
    REQUIRE(started["exfilwatch"]["hooks"]["degraded"].size() == 1);
    CHECK(started["exfilwatch"]["hooks"]["degraded"][0]["name"] == "cgroup_skb/egress");
    CHECK(started["exfilwatch"]["hooks"]["degraded"][0]["reason"] == "no cgroup v2 mount");
    CHECK(started["exfilwatch"]["processes_scanned"] == 42);
    CHECK(records[1]["event"]["action"] == "monitor-stopped");
}

TEST_CASE("a metric record carries the counters each stage named, then the pipeline's own")
{
    fs::path out = fs::temp_directory_path() / ("ew-pipeline-m-" + std::to_string(getpid()) + ".ndjson");
    {
        Pipeline pipeline(PipelineOptions{"", "", -1, out.string()});
        util::Counters counters;
        replay::ReplayStats{7, 5, 1, 1}.report(counters);
        pipeline.metrics(3'000'000'000, counters);
        pipeline.flush(true);
    }
    auto records = read_records(out);
    fs::remove(out);
    REQUIRE(records.size() == 1);
    std::string text = records[0].dump();
    for (const char* name : {"replay.lines", "replay.errors", "detect.events", "detect.evicted_flows", "output.alerts",
                             "output.dropped_lines", "rules.reloads"}) {
        CAPTURE(name);
        CHECK(text.find(std::string("\"") + name + "\"") != std::string::npos);
    }
    CHECK(text.find("\"replay.lines\":7") != std::string::npos);
}

TEST_CASE("under load telemetry output is shed and counted, alerts are not")
{
    fs::path out = fs::temp_directory_path() / ("ew-pipeline-s-" + std::to_string(getpid()) + ".ndjson");
    {
        Pipeline pipeline(PipelineOptions{"", "exec", -1, out.string()});
        ExecEvent exec;
        exec.time = 1;
        exec.process.pid = 42;
        exec.process.args = {"/bin/true"};
        pipeline.on_event(Event{exec});  // written
        pipeline.shed_telemetry(true);
        pipeline.on_event(Event{exec});  // shed
        pipeline.on_event(Event{exec});
        pipeline.shed_telemetry(false);
        pipeline.metrics(2, {});
        pipeline.flush(true);
    }
    auto records = read_records(out);
    fs::remove(out);
    REQUIRE(records.size() == 2);
    CHECK(records[0]["event"]["action"] == "exec");
    std::string text = records[1].dump();
    CHECK(text.find("\"output.telemetry\":1") != std::string::npos);
    CHECK(text.find("\"output.telemetry_shed\":2") != std::string::npos);
}
