// output: the HTTP endpoint of `run --listen ADDR:PORT`: /metrics (Prometheus text format),
// /healthz and /readyz, served by civetweb from its own threads. The event loop never waits for
// it: it publishes a snapshot of its counters (a swap under a mutex) and a heartbeat (an atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

struct mg_context;
struct mg_connection;

namespace exfilwatch::output {

struct MetricsServerOptions {
    int threads = 2;                       // connections served at once
    int queue = 8;                         // accepted connections waiting for a thread
    int backlog = 16;                      // the kernel's listen queue
    std::size_t max_request_bytes = 4096;  // request line and headers; bodies are never read
    int request_timeout_ms = 5000;         // a client that stalls is dropped
    std::uint64_t stale_after_ms = 5000;   // /healthz fails when the loop has not run for this long
};

// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464" -> true, with the port; false for anything else
// (no port, port above 65535, a host name, an empty address).
bool parse_listen_address(const std::string& text, std::uint16_t& port);

class MetricsServer {
public:
    // Binds and starts serving; nullptr with `error` set when it cannot (address in use, bad
    // address). Until set_ready(true), /readyz answers 503; until the first heartbeat, /healthz too.
    static std::unique_ptr<MetricsServer> start(const std::string& listen, std::string& error,
                                                MetricsServerOptions options = {});
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // The counters of a metric record (same names), served on /metrics until the next publish.
    void publish(std::vector<std::pair<std::string, std::uint64_t>> counters);
    // The ring-buffer loop ran (now).
    void heartbeat();
    // Hooks attached and /proc scanned (true); stopping (false).
    void set_ready(bool ready);
    std::uint16_t port() const { return port_; }

private:
    MetricsServer() = default;
    static int handle(mg_connection* conn, void* data);
    void respond(mg_connection* conn, int status, const char* content_type, const std::string& body);

    MetricsServerOptions options_;
    mg_context* context_ = nullptr;
    std::uint16_t port_ = 0;
    std::mutex mutex_;
    std::vector<std::pair<std::string, std::uint64_t>> counters_;  // guarded by mutex_
    std::atomic<std::int64_t> last_beat_ns_{0};                    // steady clock; 0: never
    std::atomic<bool> ready_{false};
};

}  // namespace exfilwatch::output
