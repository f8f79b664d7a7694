// Tests for output/prometheus.cpp and output/metrics_server.cpp: metric names and types, the text
// format, and the HTTP endpoint's answers and limits (over real sockets on loopback).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "output/metrics_server.hpp"
#include "output/prometheus.hpp"

using namespace exfilwatch::output;

namespace {

// One request over a fresh connection; the whole answer (the server closes after it).
std::string http(std::uint16_t port, const std::string& request)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::size_t sent = 0;
    while (sent < request.size()) {
        auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;  // the server may close on an oversized request before reading it all
        sent += static_cast<std::size_t>(n);
    }
    std::string answer;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) continue;
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        answer.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return answer;
}

std::string get(std::uint16_t port, const std::string& path)
{
    return http(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

int status_of(const std::string& answer)
{
    if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer.size() < 12) return 0;
    return std::stoi(answer.substr(9, 3));
}

std::string body_of(const std::string& answer)
{
    auto at = answer.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : answer.substr(at + 4);
}

}  // namespace

TEST_CASE("metric record names map to Prometheus names, types and base units")
{
    auto drops = prometheus_sample("kernel.drops.ringbuf_full");
    CHECK(drops.family == "exfilwatch_kernel_drops_total");
    CHECK(drops.label_name == "reason");
    CHECK(drops.label_value == "ringbuf_full");
    CHECK_FALSE(drops.gauge);
    auto exec = prometheus_sample("kernel.records.exec");
    CHECK(exec.family == "exfilwatch_kernel_records_total");
    CHECK(exec.label_name == "kind");
    CHECK(exec.label_value == "exec");
    CHECK(prometheus_sample("kernel.stats.file_read_bytes").family == "exfilwatch_kernel_file_read_bytes_total");
    auto by_kind = prometheus_sample("kernel.drops_by_kind.flow_data.capture_rate");
    CHECK(by_kind.family == "exfilwatch_kernel_drops_by_kind_total");
    CHECK(by_kind.kind == "flow_data");
    CHECK(by_kind.label_name == "reason");
    CHECK(by_kind.label_value == "capture_rate");
    auto read = prometheus_sample("ringbuf.records_read");
    CHECK(read.family == "exfilwatch_ringbuf_records_read_total");
    CHECK(read.label_name.empty());
    auto lag = prometheus_sample("ringbuf.lag_max_us");
    CHECK(lag.family == "exfilwatch_ringbuf_lag_max_seconds");
    CHECK(lag.gauge);
    CHECK(lag.scale == doctest::Approx(1e-6));
    CHECK(prometheus_sample("processes.live").gauge);
    CHECK(prometheus_sample("processes.live").family == "exfilwatch_processes_live");
    CHECK(prometheus_sample("flows.http2_sessions").gauge);  // a level, not a running total
    CHECK(prometheus_sample("flows.http2_evicted").family == "exfilwatch_flows_http2_evicted_total");
    CHECK(prometheus_sample("output.alerts").family == "exfilwatch_output_alerts_total");
    CHECK(prometheus_sample("rules.reload_errors").family == "exfilwatch_rules_reload_errors_total");
    // A counter added later by another stage needs no table entry: it is a counter by default.
    CHECK(prometheus_sample("taint.evicted").family == "exfilwatch_taint_evicted_total");
}

TEST_CASE("the text format: one family per name, labels, HELP and TYPE lines")
{
    const auto text = prometheus_text({{"kernel.drops.ringbuf_full", 3},
                                       {"kernel.drops.args_read", 0},
                                       {"ringbuf.records_read", 1234},
                                       {"ringbuf.lag_max_us", 2500},
                                       {"processes.live", 310}},
                                      "0.1.0");
    CHECK(text.find("# TYPE exfilwatch_kernel_drops_total counter\n") != std::string::npos);
    CHECK(text.find("exfilwatch_kernel_drops_total{reason=\"ringbuf_full\"} 3\n") != std::string::npos);
    CHECK(text.find("exfilwatch_kernel_drops_total{reason=\"args_read\"} 0\n") != std::string::npos);
    CHECK(text.find("# TYPE exfilwatch_kernel_drops_total") == text.rfind("# TYPE exfilwatch_kernel_drops_total"));
    CHECK(text.find("exfilwatch_ringbuf_records_read_total 1234\n") != std::string::npos);
    CHECK(text.find("# TYPE exfilwatch_ringbuf_lag_max_seconds gauge\n") != std::string::npos);
    CHECK(text.find("exfilwatch_ringbuf_lag_max_seconds 0.0025\n") != std::string::npos);
    CHECK(text.find("exfilwatch_processes_live 310\n") != std::string::npos);
    CHECK(text.find("exfilwatch_build_info{version=\"0.1.0\"} 1\n") != std::string::npos);
    CHECK(text.find("# HELP exfilwatch_kernel_drops_total") != std::string::npos);
}

TEST_CASE("listen addresses: numeric IPv4 or [IPv6] and a port")
{
    std::uint16_t port = 0;
    CHECK(parse_listen_address("127.0.0.1:9464", port));
    CHECK(port == 9464);
    CHECK(parse_listen_address("[::1]:0", port));
    CHECK(port == 0);
    CHECK(parse_listen_address("0.0.0.0:65535", port));
    for (const char* bad : {"9464", ":9464", "localhost:9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                            "::1:9464", "127.0.0.1:94x", "[::1]9464", ""})
        CHECK_MESSAGE(!parse_listen_address(bad, port), bad);
}

TEST_CASE("the endpoint: /metrics, /healthz and /readyz; 404, 405 and bounded requests otherwise")
{
    std::string error;
    MetricsServerOptions options;
    options.stale_after_ms = 300;
    // Port 0: the kernel picks one, port() says which.
    auto server = MetricsServer::start("127.0.0.1:0", error, options);
    REQUIRE_MESSAGE(server, error);
    const auto port = server->port();
    REQUIRE(port != 0);

    // Before the first heartbeat and before attach: neither healthy nor ready.
    CHECK(status_of(get(port, "/healthz")) == 503);
    auto not_ready = get(port, "/readyz");
    CHECK(status_of(not_ready) == 503);
    CHECK(body_of(not_ready).find("not ready") != std::string::npos);

    server->publish({{"ringbuf.records_read", 42}, {"kernel.drops.ringbuf_full", 7}});
    server->heartbeat();
    server->set_ready(true);
    auto metrics = get(port, "/metrics");
    CHECK(status_of(metrics) == 200);
    CHECK(metrics.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    CHECK(body_of(metrics).find("exfilwatch_ringbuf_records_read_total 42\n") != std::string::npos);
    CHECK(body_of(metrics).find("exfilwatch_kernel_drops_total{reason=\"ringbuf_full\"} 7\n") != std::string::npos);
    CHECK(status_of(get(port, "/healthz")) == 200);
    CHECK(status_of(get(port, "/readyz")) == 200);

    // A loop that stopped running is unhealthy within stale_after_ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto stale = get(port, "/healthz");
    CHECK(status_of(stale) == 503);
    CHECK(body_of(stale).find("last ran") != std::string::npos);
    server->heartbeat();
    CHECK(status_of(get(port, "/healthz")) == 200);

    // Only these three paths, only GET.
    for (const char* path : {"/", "/metrics/", "/metricsx", "/debug", "/healthz/../etc/passwd", "/index.html"})
        CHECK_MESSAGE(status_of(get(port, path)) == 404, path);
    CHECK(status_of(get(port, "/readyz/../metrics")) == 200);  // normalized to /metrics: still read-only
    for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "OPTIONS"}) {
        auto answer = http(port, std::string(method) +
                                     " /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        CHECK_MESSAGE(status_of(answer) == 405, method);
        if (std::string(method) != "HEAD") CHECK(answer.find("Allow: GET") != std::string::npos);
    }
    // Malformed and oversized requests get an error, never metrics.
    auto garbage = http(port, "\x16\x03\x01\x02\x00garbage\r\n\r\n");
    CHECK(garbage.find("exfilwatch_") == std::string::npos);
    CHECK(status_of(garbage) != 200);
    auto huge = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
    CHECK(huge.find("exfilwatch_") == std::string::npos);
    CHECK(status_of(huge) != 200);
    // And it still serves afterwards.
    CHECK(status_of(get(port, "/metrics")) == 200);

    // The port is taken: a second server cannot start, and says why.
    std::string taken;
    auto second = MetricsServer::start("127.0.0.1:" + std::to_string(port), taken);
    CHECK_FALSE(second);
    CHECK(taken.find("cannot serve") != std::string::npos);
    CHECK_FALSE(MetricsServer::start("localhost:1", taken));
}
