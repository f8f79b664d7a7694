// replay: ECS telemetry records -> typed events (the inverse of output/ecs.cpp), and the line
// reader with its limits and error reporting.
#include "replay/reader.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "output/actions.hpp"
#include "output/ecs.hpp"
#include "output/json.hpp"

namespace exfilwatch::replay {
namespace {

using Type = JsonNode::Type;

// Typed field access with the first error remembered. A missing optional field resets the
// output to its default, since the caller's Event storage is reused from line to line.
class Extract {
public:
    Extract(const JsonDocument& doc, std::string& error) : doc_(doc), error_(error) {}

    bool ok() const { return error_.empty(); }

    bool fail(std::string_view path, std::string_view what)
    {
        if (error_.empty()) error_ = fmt::format("{} {}", path, what);
        return false;
    }

    // `path` is the full dotted name for messages; the member looked up is its last part.
    const JsonNode* member(const JsonNode* parent, std::string_view path, bool required)
    {
        const JsonNode* node = parent ? doc_.get(*parent, leaf(path)) : nullptr;
        if (!node && required) fail(path, "is missing");
        return node;
    }

    const JsonNode* object(const JsonNode* parent, std::string_view path, bool required = false)
    {
        const JsonNode* node = member(parent, path, required);
        if (node && node->type != Type::object) {
            fail(path, "is not an object");
            return nullptr;
        }
        return node;
    }

    template <typename T>
    bool integer(const JsonNode* parent, std::string_view path, T& out, bool required = false)
    {
        out = T{};
        const JsonNode* node = member(parent, path, required);
        if (!node) return !required;
        if (node->type != Type::number) return fail(path, "is not a number");
        return to_integer(node->text, path, out);
    }

    // An integer that ECS types as a keyword ("1000"); a JSON number is accepted too.
    template <typename T>
    bool keyword_integer(const JsonNode* parent, std::string_view path, T& out, bool required = false)
    {
        out = T{};
        const JsonNode* node = member(parent, path, required);
        if (!node) return !required;
        if (node->type != Type::number && node->type != Type::string) return fail(path, "is not a number");
        return to_integer(node->text, path, out);
    }

    bool string(const JsonNode* parent, std::string_view path, std::string& out, bool required = false)
    {
        const JsonNode* node = member(parent, path, required);
        if (!node) {
            out.clear();
            return !required;
        }
        if (node->type != Type::string) return fail(path, "is not a string");
        out.assign(node->text);
        return true;
    }

    bool boolean(const JsonNode* parent, std::string_view path, bool& out, bool required = false)
    {
        out = false;
        const JsonNode* node = member(parent, path, required);
        if (!node) return !required;
        if (node->type != Type::boolean) return fail(path, "is not a boolean");
        out = node->boolean;
        return true;
    }

    bool strings(const JsonNode* parent, std::string_view path, std::vector<std::string>& out)
    {
        const JsonNode* node = member(parent, path, false);
        std::size_t n = 0;
        if (node) {
            if (node->type != Type::array) return fail(path, "is not an array");
            for (const JsonNode* item = doc_.child(*node); item; item = doc_.next(*item)) {
                if (item->type != Type::string) return fail(path, "has an item that is not a string");
                if (n < out.size()) out[n].assign(item->text);
                else
                    out.emplace_back(item->text);
                ++n;
            }
        }
        out.resize(n);
        return true;
    }

    bool time(const JsonNode* parent, std::string_view path, TimeNs& out, bool required = false)
    {
        out = 0;
        const JsonNode* node = member(parent, path, required);
        if (!node) return !required;
        if (node->type != Type::string || !output::parse_rfc3339(node->text, out))
            return fail(path, "is not an RFC 3339 UTC time");
        return true;
    }

    const JsonDocument& doc() const { return doc_; }

private:
    static std::string_view leaf(std::string_view path)
    {
        auto dot = path.rfind('.');
        return dot == std::string_view::npos ? path : path.substr(dot + 1);
    }

    template <typename T>
    bool to_integer(std::string_view text, std::string_view path, T& out)
    {
        T value{};
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc::result_out_of_range) return fail(path, "is out of range");
        if (ec != std::errc() || end != text.data() + text.size()) return fail(path, "is not an integer");
        out = value;
        return true;
    }

    const JsonDocument& doc_;
    std::string& error_;
};

template <typename T>
T& reuse(Event& out)
{
    if (!std::holds_alternative<T>(out)) out.emplace<T>();
    return std::get<T>(out);
}

void read_process(Extract& x, const JsonNode& root, ProcessRef& p)
{
    const JsonNode* proc = x.object(&root, "process", true);
    x.integer(proc, "process.pid", p.pid, true);
    x.string(proc, "process.entity_id", p.entity_id);
    x.string(proc, "process.name", p.name);
    x.string(proc, "process.executable", p.executable);
    x.strings(proc, "process.args", p.args);
    const JsonNode* parent = x.object(proc, "process.parent");
    x.integer(parent, "process.parent.pid", p.ppid);
    x.string(parent, "process.parent.entity_id", p.parent_entity_id);
    x.integer(x.object(proc, "process.group_leader"), "process.group_leader.pid", p.pgid);
    x.integer(x.object(proc, "process.session_leader"), "process.session_leader.pid", p.sid);
    x.keyword_integer(x.object(proc, "process.user"), "process.user.id", p.uid);
    x.time(proc, "process.start", p.start_time);
    const JsonNode* ext = x.object(x.object(&root, "exfilwatch"), "exfilwatch.process");
    x.boolean(ext, "exfilwatch.process.args_truncated", p.args_truncated);
    x.boolean(ext, "exfilwatch.process.has_tty", p.has_tty);
    x.keyword_integer(ext, "exfilwatch.process.cgroup_id", p.cgroup_id);
    x.keyword_integer(ext, "exfilwatch.process.stdin_pipe", p.stdin_pipe);
    x.keyword_integer(ext, "exfilwatch.process.stdout_pipe", p.stdout_pipe);
    std::string stdout_kind;
    x.string(ext, "exfilwatch.process.stdout", stdout_kind);
    p.stdout_kind = stdout_kind == "pipe"    ? StdoutKind::pipe
                    : stdout_kind == "file"  ? StdoutKind::file
                    : stdout_kind == "other" ? StdoutKind::other
                                             : StdoutKind::unknown;
    x.string(x.object(&root, "container"), "container.id", p.container_id);
    const JsonNode* resource = x.object(x.object(&root, "orchestrator"), "orchestrator.resource");
    x.string(resource, "orchestrator.resource.id", p.pod_uid);
}

// `is_source` only picks the field names used in error messages.
void read_endpoint(Extract& x, const JsonNode* node, bool is_source, Endpoint& ep)
{
    x.string(node, is_source ? "source.ip" : "destination.ip", ep.ip);
    x.integer(node, is_source ? "source.port" : "destination.port", ep.port);
}

void read_flow(Extract& x, const JsonNode& root, FlowKey& flow)
{
    const JsonNode* f = x.object(x.object(&root, "exfilwatch"), "exfilwatch.flow", true);
    x.keyword_integer(f, "exfilwatch.flow.cookie", flow.socket_cookie, true);
}

bool read_transport(Extract& x, const JsonNode& root, Transport& out)
{
    std::string transport;
    x.string(x.object(&root, "network"), "network.transport", transport);
    if (transport.empty() || transport == "tcp") out = Transport::tcp;
    else if (transport == "udp")
        out = Transport::udp;
    else
        return x.fail("network.transport", "is neither tcp nor udp");
    return true;
}

void read_file(Extract& x, const JsonNode& root, std::string& path, std::uint64_t& inode, std::uint64_t& device)
{
    const JsonNode* file = x.object(&root, "file", true);
    x.string(file, "file.path", path, true);
    x.keyword_integer(file, "file.inode", inode);
    x.keyword_integer(file, "file.device", device);
}

const JsonNode* extension(Extract& x, const JsonNode& root, std::string_view path)
{
    return x.object(x.object(&root, "exfilwatch"), path);
}

void read_event(Extract& x, const JsonNode& root, std::string_view action, Event& out)
{
    TimeNs time = 0;
    x.time(&root, "@timestamp", time, true);

    if (action == output::actions::exec) {
        auto& e = reuse<ExecEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
    } else if (action == output::actions::fork) {
        auto& e = reuse<ForkEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
    } else if (action == output::actions::exit) {
        auto& e = reuse<ExitEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
        x.integer(x.object(&root, "process"), "process.exit_code", e.exit_code, true);
    } else if (action == output::actions::file_open) {
        auto& e = reuse<FileOpenEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
        read_file(x, root, e.path, e.inode, e.device);
        const JsonNode* f = extension(x, root, "exfilwatch.file");
        x.string(f, "exfilwatch.file.requested_path", e.requested_path);
        x.integer(f, "exfilwatch.file.flags", e.flags);
        if (x.member(f, "exfilwatch.file.fd", false)) x.integer(f, "exfilwatch.file.fd", e.fd);
        else
            e.fd = -1;
        x.integer(f, "exfilwatch.file.errno", e.error);
        if (!e.error) {
            std::string name;
            x.string(f, "exfilwatch.file.error", name);
            if (!name.empty() && !(e.error = output::errno_from_name(name)))
                x.fail("exfilwatch.file.error", "is not a known errno name");
        }
    } else if (action == output::actions::file_summary) {
        auto& e = reuse<FileSummaryEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
        read_file(x, root, e.path, e.inode, e.device);
        const JsonNode* f = extension(x, root, "exfilwatch.file");
        x.integer(f, "exfilwatch.file.bytes_read", e.bytes_read);
        x.integer(f, "exfilwatch.file.bytes_mapped", e.bytes_mapped);
        x.boolean(f, "exfilwatch.file.opened_for_write", e.opened_for_write);
        x.time(f, "exfilwatch.file.last_write", e.last_write);
    } else if (action == output::actions::connect) {
        auto& e = reuse<ConnectEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
        read_flow(x, root, e.flow);
        read_transport(x, root, e.transport);
        std::string type;
        x.string(x.object(&root, "network"), "network.type", type);
        read_endpoint(x, x.object(&root, "source"), true, e.source);
        const JsonNode* dst = x.object(&root, "destination");
        read_endpoint(x, dst, false, e.destination);
        x.string(dst, "destination.domain", e.destination_domain);
        e.ipv6 = type.empty() ? e.destination.ip.find(':') != std::string::npos : type == "ipv6";
        const JsonNode* flow = extension(x, root, "exfilwatch.flow");
        x.keyword_integer(flow, "exfilwatch.flow.socket_inode", e.socket_inode);
        x.boolean(flow, "exfilwatch.flow.adopted", e.adopted);
    } else if (action == output::actions::tls_client_hello) {
        auto& e = reuse<TlsClientHelloEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
        read_flow(x, root, e.flow);
        read_endpoint(x, x.object(&root, "destination"), false, e.destination);
        const JsonNode* tls = x.object(&root, "tls");
        x.string(x.object(tls, "tls.client"), "tls.client.server_name", e.server_name);
        const JsonNode* ext = extension(x, root, "exfilwatch.tls");
        x.strings(ext, "exfilwatch.tls.alpn", e.alpn);
        x.integer(ext, "exfilwatch.tls.version_code", e.version);
    } else if (action == output::actions::dns_answer) {
        auto& e = reuse<DnsAnswerEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
        read_flow(x, root, e.flow);
        const JsonNode* dns = x.object(&root, "dns", true);
        x.string(x.object(dns, "dns.question", true), "dns.question.name", e.question, true);
        x.strings(dns, "dns.resolved_ip", e.resolved_ips);
        std::size_t n = 0;
        if (const JsonNode* answers = x.member(dns, "dns.answers", false)) {
            if (answers->type != Type::array) x.fail("dns.answers", "is not an array");
            for (const JsonNode* a = x.doc().child(*answers); a && x.ok(); a = x.doc().next(*a)) {
                if (a->type != Type::object) {
                    x.fail("dns.answers", "has an item that is not an object");
                    break;
                }
                const JsonNode* type = x.doc().get(*a, "type");
                if (!type || type->type != Type::string || type->text != "CNAME") continue;
                if (n >= e.cnames.size()) e.cnames.emplace_back();
                x.string(a, "dns.answers.data", e.cnames[n], true);
                ++n;
            }
        }
        e.cnames.resize(n);
    } else if (action == output::actions::http_request) {
        auto& e = reuse<HttpRequestEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
        read_flow(x, root, e.flow);
        read_endpoint(x, x.object(&root, "destination"), false, e.destination);
        x.string(x.object(x.object(&root, "http", true), "http.request", true), "http.request.method", e.method, true);
        const JsonNode* url = x.object(&root, "url");
        x.string(url, "url.domain", e.host);
        x.string(url, "url.path", e.path);
        x.string(extension(x, root, "exfilwatch.http"), "exfilwatch.http.connect_target", e.connect_target);
    } else if (action == output::actions::flow_summary) {
        auto& e = reuse<FlowSummaryEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
        read_flow(x, root, e.flow);
        read_transport(x, root, e.transport);
        const JsonNode* src = x.object(&root, "source");
        read_endpoint(x, src, true, e.source);
        x.integer(src, "source.bytes", e.bytes_out);
        const JsonNode* dst = x.object(&root, "destination");
        read_endpoint(x, dst, false, e.destination);
        x.string(dst, "destination.domain", e.destination_domain);
        x.integer(dst, "destination.bytes", e.bytes_in);
        const JsonNode* flow = extension(x, root, "exfilwatch.flow");
        x.boolean(flow, "exfilwatch.flow.final", e.final);
        x.string(flow, "exfilwatch.flow.domain_source", e.domain_source);
        x.keyword_integer(flow, "exfilwatch.flow.socket_inode", e.socket_inode);
        x.boolean(flow, "exfilwatch.flow.adopted", e.adopted);
        x.integer(flow, "exfilwatch.flow.tcp_bytes_acked", e.tcp_bytes_acked);
        x.integer(flow, "exfilwatch.flow.tcp_bytes_received", e.tcp_bytes_received);
    } else if (action == "object-io") {
        auto& e = reuse<ObjectIoEvent>(out);
        e.time = time;
        read_process(x, root, e.process);
        const JsonNode* o = x.object(x.object(&root, "exfilwatch", true), "exfilwatch.object", true);
        std::string name;
        x.string(o, "exfilwatch.object.kind", name, true);
        if (auto kind = output::object_kind_from_name(name)) e.object = *kind;
        else
            x.fail("exfilwatch.object.kind", "is not a known object kind");
        x.keyword_integer(o, "exfilwatch.object.id", e.object_id, true);
        x.keyword_integer(o, "exfilwatch.object.device", e.device);
        std::string direction;
        x.string(o, "exfilwatch.object.direction", direction, true);
        if (direction == "write") e.direction = IoDirection::write;
        else if (direction == "read")
            e.direction = IoDirection::read;
        else
            x.fail("exfilwatch.object.direction", "is neither read nor write");
        x.integer(o, "exfilwatch.object.fd", e.fd, true);
        x.integer(o, "exfilwatch.object.bytes", e.bytes, true);
    } else {
        x.fail("event.action", fmt::format("\"{}\" is not a telemetry action", output::sanitize_utf8(action)));
    }
}

}  // namespace

LineKind TelemetryParser::parse(std::string_view line, Event& out, std::string& error)
{
    error.clear();
    std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return LineKind::ignored;
    if (!doc_.parse(line)) {
        error = fmt::format("not valid JSON: {}", doc_.error());
        return LineKind::error;
    }
    const JsonNode& root = doc_.root();
    if (root.type != Type::object) {
        error = "not a JSON object";
        return LineKind::error;
    }
    Extract x(doc_, error);
    const JsonNode* event = x.object(&root, "event", true);
    std::string_view kind, action;
    if (const JsonNode* k = x.member(event, "event.kind", true); k && k->type == Type::string) kind = k->text;
    if (!x.ok()) return LineKind::error;
    if (kind == "alert" || kind == "metric" || kind == "state") return LineKind::ignored;
    if (kind != "event") {
        error = "event.kind is not one of alert, event, metric, state";
        return LineKind::error;
    }
    if (const JsonNode* a = x.member(event, "event.action", true); a && a->type == Type::string) action = a->text;
    if (!x.ok()) return LineKind::error;
    read_event(x, root, action, out);
    return x.ok() ? LineKind::event : LineKind::error;
}

ReplayReader::ReplayReader(int fd, ErrorFn on_error, std::size_t max_line)
    : fd_(fd), on_error_(std::move(on_error)), max_line_(max_line)
{
    buffer_.resize(std::max<std::size_t>(max_line_ + 1, 1u << 16) + (1u << 16));
}

std::unique_ptr<ReplayReader> ReplayReader::open(const std::string& path, ErrorFn on_error, std::size_t max_line)
{
    if (path == "-") return std::make_unique<ReplayReader>(STDIN_FILENO, std::move(on_error), max_line);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    auto reader = std::make_unique<ReplayReader>(fd, std::move(on_error), max_line);
    reader->owns_fd_ = true;
    return reader;
}

ReplayReader::~ReplayReader()
{
    if (owns_fd_) ::close(fd_);
}

bool ReplayReader::fill()
{
    if (eof_) return false;
    if (begin_ > 0) {
        std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    while (true) {
        ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            io_error_ = fmt::format("reading the input failed: {}", std::strerror(errno));
            eof_ = true;
            return false;
        }
        if (n == 0) {
            eof_ = true;
            return false;
        }
        end_ += static_cast<std::size_t>(n);
        return true;
    }
}

bool ReplayReader::next_line(std::string_view& line)
{
    while (true) {
        const char* start = buffer_.data() + begin_;
        const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
        if (nl) {
            const auto size = static_cast<std::size_t>(nl - start);
            begin_ += size + 1;
            if (skipping_) {  // the tail of an oversized line, already reported
                skipping_ = false;
                continue;
            }
            ++stats_.lines;
            if (size > max_line_) {
                ++stats_.errors;
                if (on_error_) on_error_(stats_.lines, fmt::format("line longer than {} bytes, skipped", max_line_));
                continue;
            }
            line = std::string_view(start, size);
            return true;
        }
        if (end_ - begin_ > max_line_) {
            // No newline within the limit: report once, then drop bytes up to the next '\n'.
            if (!skipping_) {
                ++stats_.lines;
                ++stats_.errors;
                if (on_error_) on_error_(stats_.lines, fmt::format("line longer than {} bytes, skipped", max_line_));
                skipping_ = true;
            }
            begin_ = end_ = 0;
        }
        if (!fill()) {
            if (end_ > begin_ && !skipping_) {  // a last line without '\n'
                ++stats_.lines;
                line = std::string_view(buffer_.data() + begin_, end_ - begin_);
                begin_ = end_;
                return true;
            }
            return false;
        }
    }
}

bool ReplayReader::next(Event& out)
{
    std::string_view line;
    while (next_line(line)) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        switch (parser_.parse(line, out, error_text_)) {
        case LineKind::event: ++stats_.events; return true;
        case LineKind::ignored: ++stats_.ignored; break;
        case LineKind::error:
            ++stats_.errors;
            if (on_error_) on_error_(stats_.lines, error_text_);
            break;
        }
    }
    return false;
}

void ReplayStats::report(util::Counters& out) const
{
    out.emplace_back("replay.lines", lines);
    out.emplace_back("replay.events", events);
    out.emplace_back("replay.ignored", ignored);
    out.emplace_back("replay.errors", errors);
}

}  // namespace exfilwatch::replay
