// enrich: decoded records -> events (see enricher.hpp).
#include "enrich/enricher.hpp"

#include <type_traits>

#include <fmt/format.h>

#include "enrich/container.hpp"
#include "util/text.hpp"

namespace exfilwatch::enrich {

Enricher::Enricher(ProcessTable& processes, FileTracker& files, FlowTable& flows, std::int64_t monotonic_to_wall_ns,
                   SocketOwners* sockets, ObjectTracker* objects)
    : processes_(processes), files_(files), flows_(flows), offset_(monotonic_to_wall_ns), sockets_(sockets),
      objects_(objects ? *objects : own_objects_)
{
}

namespace {

std::int32_t exit_code_of(std::int32_t wait_status)
{
    int signal = wait_status & 0x7f;
    if (signal != 0) return 128 + signal;
    return (wait_status >> 8) & 0xff;
}

}  // namespace

void Enricher::on_record(const decode::Record& record, std::vector<Event>& out)
{
    decoded_.reset();
    std::visit(
        [&](const auto& r) {
            using T = std::decay_t<decltype(r)>;
            TimeNs time = wall(r.header.time_ns);
            if constexpr (std::is_same_v<T, decode::Exec>) {
                ProcessRef image;
                image.pid = r.header.pid;
                image.ppid = r.ppid;
                image.pgid = r.pgid;
                image.sid = r.sid;
                image.uid = r.uid;
                image.executable = r.executable;
                image.name = util::base_name(r.executable);
                if (image.name.empty() || image.executable == "/") image.name = r.comm;
                image.args = r.args;
                image.args_truncated = r.args_truncated;
                image.has_tty = r.tty;
                image.cgroup_id = r.cgroup_id;
                // The kernel's view of the cgroup at exec: still right when the process (and its
                // container) is gone before this record is read. No match here (a host
                // process, or a cgroup v1 host where the v2 path is "/") falls back to
                // the parent and to /proc in the process table.
                if (auto identity = parse_cgroup_path(r.cgroup_path)) {
                    image.container_id = std::move(identity->container_id);
                    image.pod_uid = std::move(identity->pod_uid);
                }
                image.start_time = wall(r.start_ns);
                image.stdin_pipe = r.stdin_pipe;
                image.stdout_pipe = r.stdout_pipe;
                image.stdout_kind = r.stdout_kind;
                out.emplace_back(ExecEvent{time, processes_.on_exec(time, std::move(image))});
            } else if constexpr (std::is_same_v<T, decode::Fork>) {
                out.emplace_back(ForkEvent{time, processes_.on_fork(time, r.header.pid, r.ppid, r.uid, wall(r.start_ns),
                                                                    r.cgroup_id, r.comm)});
            } else if constexpr (std::is_same_v<T, decode::Exit>) {
                ProcessRef process = processes_.on_exit(time, r.header.pid, wall(r.start_ns));
                for (auto& summary : files_.on_exit(time, process)) out.emplace_back(std::move(summary));
                for (auto& io : objects_.on_exit(time, process)) {
                    name_memory_peer(io);
                    out.emplace_back(std::move(io));
                }
                out.emplace_back(ExitEvent{time, std::move(process), exit_code_of(r.wait_status)});
            } else if constexpr (std::is_same_v<T, decode::FileOpen>) {
                out.push_back(files_.on_open(time, processes_.lookup(r.header.pid), r));
            } else if constexpr (std::is_same_v<T, decode::FileFirstRead>) {
                files_.on_first_read(processes_.lookup(r.header.pid), r);
            } else if constexpr (std::is_same_v<T, decode::FlowStart>) {
                std::uint32_t pid = r.header.pid;
                if (!r.owner_known && sockets_) pid = sockets_->find(r.socket_inode, time);
                flows_.on_start(time, processes_.lookup(pid), r, out);
            } else if constexpr (std::is_same_v<T, decode::FlowData>) {
                decoded_ = flows_.on_data(time, processes_.lookup(r.header.pid), r, out);
            } else if constexpr (std::is_same_v<T, decode::FlowCounters>) {
                flows_.on_counters(time, processes_.lookup(r.header.pid), r, out);
            } else if constexpr (std::is_same_v<T, decode::ObjectIo>) {
                auto io = objects_.on_record(time, processes_.lookup(r.header.pid), r);
                name_memory_peer(io);
                out.push_back(std::move(io));
            } else if constexpr (std::is_same_v<T, decode::TlsPlaintext>) {
                decoded_ = flows_.on_tls_plaintext(time, tls_cookie(r), r.offset, r.write_size, r.data, out);
            }
        },
        record);
}

void Enricher::name_memory_peer(ObjectIoEvent& io)
{
    if (!is_process_object(io.object)) return;
    const auto host = processes_.host_pid(io.device, static_cast<std::uint32_t>(io.object_id));
    io.device = 0;
    if (!host) return;
    const auto& peer = processes_.lookup(*host);
    io.object_id = *host;
    io.peer_pid = *host;
    io.peer_entity_id = peer.entity_id;
}

std::optional<PlaintextWrite> Enricher::plaintext(const decode::Record& record)
{
    if (const auto* tls = std::get_if<decode::TlsPlaintext>(&record)) {
        PlaintextWrite write;
        write.time = wall(tls->header.time_ns);
        write.process = processes_.lookup(tls->header.pid);
        write.source = tls->library == decode::TlsLibrary::openssl ? "openssl" : "gnutls";
        write.object = tls->object;
        write.offset = tls->offset;
        write.write_size = tls->write_size;
        write.data = tls->data;
        write.flow.socket_cookie = tls_cookie(*tls);
        write.http2 = std::move(decoded_);
        decoded_.reset();
        return write;
    }
    const auto* data = std::get_if<decode::FlowData>(&record);
    if (!data || data->inbound || data->datagram || data->data.empty() ||
        std::to_integer<unsigned char>(data->data.front()) == 0x16)  // a TLS record: not plaintext
        return std::nullopt;
    PlaintextWrite write;
    write.time = wall(data->header.time_ns);
    write.process = processes_.lookup(data->header.pid);
    write.flow.socket_cookie = data->cookie;
    write.source = "http";
    write.offset = data->offset;
    write.write_size = data->data.size();
    write.data = data->data;
    write.http2 = std::move(decoded_);
    decoded_.reset();
    return write;
}

std::uint64_t Enricher::tls_cookie(const decode::TlsPlaintext& tls)
{
    auto key = fmt::format("{}/{}", tls.header.pid, tls.object);
    if (tls.cookie) {
        tls_sockets_.touch(key) = tls.cookie;
        if (tls_sockets_.size() > 16384) tls_sockets_.pop_oldest();
        return tls.cookie;
    }
    if (const auto* known = tls_sockets_.find(key)) return *known;
    return flows_.newest_tcp_flow(tls.header.pid);
}

void Enricher::tick(TimeNs now, std::vector<Event>& out)
{
    auto live = [this](std::uint32_t pid) -> const ProcessRef* {
        return processes_.contains(pid) ? &processes_.lookup(pid) : nullptr;
    };
    for (auto& summary : files_.refresh(now, live)) out.emplace_back(std::move(summary));
    processes_.expire(now);
}

}  // namespace exfilwatch::enrich
