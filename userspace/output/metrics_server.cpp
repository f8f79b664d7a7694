// output: /metrics, /healthz and /readyz over civetweb (the server prometheus-cpp's own exposer
// is built on), with its limits set explicitly: worker threads, queue, request size, timeouts.
#include "output/metrics_server.hpp"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string_view>

#include <civetweb.h>
#include <fmt/format.h>

#include "output/prometheus.hpp"

namespace exfilwatch::output {
namespace {

std::int64_t steady_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Capabilities are per thread, and these threads start before the monitor gives up its own
// (so that /readyz can answer before attach): each server thread drops every capability
// for itself at once. Serving HTTP needs none.
void* drop_thread_capabilities(const mg_context*, int)
{
    for (int cap = 0; cap <= 63; ++cap) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);  // EINVAL past the last
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    syscall(SYS_capset, &header, data);
    return nullptr;
}

// civetweb's own log (bind errors, bad requests) is not ours to print; the last message says why
// a start failed.
thread_local std::string last_server_message;
int keep_message(const mg_connection*, const char* message)
{
    last_server_message = message ? message : "";
    return 1;  // handled: civetweb prints nothing
}

}  // namespace

bool parse_listen_address(const std::string& text, std::uint16_t& port)
{
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= text.size()) return false;
    std::string host = text.substr(0, colon);
    const std::string digits = text.substr(colon + 1);
    if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
    const unsigned long value = std::stoul(digits);
    if (value > 65535) return false;
    unsigned char buf[16];
    bool ok = false;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        ok = inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) == 1;
    else
        ok = inet_pton(AF_INET, host.c_str(), buf) == 1;
    if (ok) port = static_cast<std::uint16_t>(value);
    return ok;
}

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& listen, std::string& error,
                                                    MetricsServerOptions options)
{
    std::uint16_t port = 0;
    if (!parse_listen_address(listen, port)) {
        error = fmt::format("--listen {}: expected ADDR:PORT with a numeric IPv4 or [IPv6] address", listen);
        return nullptr;
    }
    mg_init_library(0);
    std::unique_ptr<MetricsServer> server(new MetricsServer());
    server->options_ = options;
    const std::string threads = std::to_string(options.threads);
    const std::string queue = std::to_string(options.queue);
    const std::string backlog = std::to_string(options.backlog);
    const std::string request_size = std::to_string(options.max_request_bytes);
    const std::string timeout = std::to_string(options.request_timeout_ms);
    // No document_root: nothing but the handler below is ever served.
    const char* civet_options[] = {"listening_ports",
                                   listen.c_str(),
                                   "num_threads",
                                   threads.c_str(),
                                   "connection_queue",
                                   queue.c_str(),
                                   "listen_backlog",
                                   backlog.c_str(),
                                   "max_request_size",
                                   request_size.c_str(),
                                   "request_timeout_ms",
                                   timeout.c_str(),
                                   "enable_keep_alive",
                                   "no",
                                   "decode_url",
                                   "yes",
                                   nullptr};
    mg_callbacks callbacks{};
    callbacks.init_thread = drop_thread_capabilities;
    callbacks.log_message = keep_message;
    last_server_message.clear();
    server->context_ = mg_start(&callbacks, server.get(), civet_options);
    if (!server->context_) {
        error = fmt::format("--listen {}: cannot serve: {}", listen,
                            last_server_message.empty() ? "the server did not start" : last_server_message);
        while (!error.empty() && (error.back() == '\n' || error.back() == '\r')) error.pop_back();
        return nullptr;
    }
    mg_set_request_handler(server->context_, "/", &MetricsServer::handle, server.get());
    mg_server_port ports[4] = {};
    if (mg_get_server_ports(server->context_, 4, ports) > 0) server->port_ = static_cast<std::uint16_t>(ports[0].port);
    return server;
}

MetricsServer::~MetricsServer()
{
    if (context_) mg_stop(context_);  // joins its threads
}

void MetricsServer::publish(std::vector<std::pair<std::string, std::uint64_t>> counters)
{
    std::lock_guard lock(mutex_);
    counters_.swap(counters);
}  // the old snapshot is freed after the lock is released

void MetricsServer::heartbeat()
{
    last_beat_ns_.store(steady_ns(), std::memory_order_relaxed);
}

void MetricsServer::set_ready(bool ready)
{
    ready_.store(ready, std::memory_order_relaxed);
}

void MetricsServer::respond(mg_connection* conn, int status, const char* content_type, const std::string& body)
{
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Content-Type", content_type, -1);
    mg_response_header_add(conn, "Content-Length", std::to_string(body.size()).c_str(), -1);
    mg_response_header_add(conn, "Cache-Control", "no-store", -1);
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    if (status == 405) mg_response_header_add(conn, "Allow", "GET", -1);
    mg_response_header_send(conn);
    if (!body.empty()) mg_write(conn, body.data(), body.size());
}

int MetricsServer::handle(mg_connection* conn, void* data)
{
    auto* self = static_cast<MetricsServer*>(data);
    const mg_request_info* request = mg_get_request_info(conn);
    const std::string_view uri = request && request->local_uri ? request->local_uri : "";
    const std::string_view method = request && request->request_method ? request->request_method : "";
    constexpr const char* text = "text/plain; charset=utf-8";
    if (uri != "/metrics" && uri != "/healthz" && uri != "/readyz") {
        self->respond(conn, 404, text, "not found: /metrics, /healthz and /readyz only\n");
        return 404;
    }
    if (method != "GET") {
        self->respond(conn, 405, text, "method not allowed: GET only\n");
        return 405;
    }
    if (uri == "/metrics") {
        std::vector<std::pair<std::string, std::uint64_t>> counters;
        {
            std::lock_guard lock(self->mutex_);
            counters = self->counters_;
        }
        self->respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                      prometheus_text(counters, EXFILWATCH_VERSION));
        return 200;
    }
    if (uri == "/healthz") {
        const std::int64_t beat = self->last_beat_ns_.load(std::memory_order_relaxed);
        if (beat == 0) {
            self->respond(conn, 503, text, "starting: the ring-buffer loop has not run yet\n");
            return 503;
        }
        const double age_s = static_cast<double>(steady_ns() - beat) / 1e9;
        if (age_s * 1000 > static_cast<double>(self->options_.stale_after_ms)) {
            self->respond(conn, 503, text,
                          fmt::format("unhealthy: the ring-buffer loop last ran {:.1f} s ago\n", age_s));
            return 503;
        }
        self->respond(conn, 200, text, fmt::format("ok: the ring-buffer loop ran {:.3f} s ago\n", age_s));
        return 200;
    }
    if (!self->ready_.load(std::memory_order_relaxed)) {
        self->respond(conn, 503, text, "not ready: hooks not attached or /proc not scanned yet\n");
        return 503;
    }
    self->respond(conn, 200, text, "ready: hooks attached, /proc scanned\n");
    return 200;
}

}  // namespace exfilwatch::output
