// enrich: the flow table (see flow_table.hpp).
#include "enrich/flow_table.hpp"

#include <algorithm>

#include "enrich/dns.hpp"
#include "enrich/hosts.hpp"
#include "enrich/http.hpp"
#include "enrich/quic.hpp"
#include "enrich/tls.hpp"
#include "redact/redact.hpp"

namespace exfilwatch::enrich {
namespace {

constexpr std::size_t head_limit = decode::capture_stream_max;
constexpr std::size_t hello_limit = decode::capture_hello_max;
constexpr std::size_t http_head_limit = decode::capture_head_max;
constexpr std::size_t quic_datagrams_max = EW_QUIC_INITIALS_MAX;  // the kernel copies no more

Endpoint endpoint(decode::Family family, const std::array<std::uint8_t, 16>& addr, std::uint16_t port)
{
    return Endpoint{decode::format_ip(family, addr), port};
}

// Places `data` at stream `offset` in `buffer` when it extends the contiguous prefix.
void append_at(std::vector<std::byte>& buffer, std::uint32_t offset, const std::vector<std::byte>& data,
               std::size_t limit)
{
    if (offset > buffer.size()) return;  // a gap: a segment went missing; the head stays short
    std::size_t skip = buffer.size() - offset;
    if (skip >= data.size()) return;  // retransmission of what we have
    std::size_t room = limit > buffer.size() ? limit - buffer.size() : 0;
    std::size_t take = std::min(data.size() - skip, room);
    buffer.insert(buffer.end(), data.begin() + static_cast<std::ptrdiff_t>(skip),
                  data.begin() + static_cast<std::ptrdiff_t>(skip + take));
}

}  // namespace

FlowTable::Flow& FlowTable::flow_for(TimeNs time, const ProcessRef& owner, std::uint64_t cookie,
                                     const decode::Tuple& tuple)
{
    auto [it, inserted] = flows_.try_emplace(cookie);
    Flow& flow = it->second;
    if (inserted) {
        flow.owner = owner;
        flow.transport = tuple.protocol == decode::Protocol::udp ? Transport::udp : Transport::tcp;
        flow.ipv6 = tuple.family == decode::Family::ipv6;
        flow.source = endpoint(tuple.family, tuple.saddr, tuple.sport);
        flow.destination = endpoint(tuple.family, tuple.daddr, tuple.dport);
        recency_.push_front(cookie);
        flow.recency = recency_.begin();
        if (flows_.size() > max_flows_ && recency_.back() != cookie) {
            // Evict the flow idle the longest; a later record for it starts it afresh.
            const std::uint64_t oldest = recency_.back();
            recency_.pop_back();
            flows_.erase(oldest);
            http2_.erase(oldest);
            ++stats_.evicted;
        }
    } else {
        recency_.splice(recency_.begin(), recency_, flow.recency);
    }
    flow.last_seen = time;
    return flow;
}

void FlowTable::name_from_lookups(Flow& flow) const
{
    if (!flow.domain.empty()) return;  // SNI and HTTP Host come first
    flow.domain = dns_.lookup(flow.destination.ip, flow.owner.pid);
    if (!flow.domain.empty()) {
        flow.domain_source = "dns";
        return;
    }
    // The hosts file and the command line give the same answer at every summary: ask them once.
    if (flow.destination.ip.empty() || flow.local_names_tried) return;
    flow.local_names_tried = true;
    if (hosts_) {
        flow.domain = hosts_name(hosts_(flow.owner), flow.destination.ip, flow.owner.args);
        if (!flow.domain.empty()) {
            flow.domain_source = "hosts";
            return;
        }
    }
    // The process is gone (or its hosts file does not name the address): its command line names
    // the host it aimed at this port.
    flow.domain = argv_name(flow.owner.args, flow.destination.port);
    if (!flow.domain.empty()) flow.domain_source = "argv";
}

void FlowTable::on_start(TimeNs time, const ProcessRef& owner, const decode::FlowStart& start, std::vector<Event>& out)
{
    Flow& flow = flow_for(time, owner, start.cookie, start.tuple);
    flow.socket_inode = start.socket_inode;
    flow.adopted = !start.owner_known;
    name_from_lookups(flow);
    ConnectEvent event;
    event.time = time;
    event.process = flow.owner;
    event.flow.socket_cookie = start.cookie;
    event.transport = flow.transport;
    event.ipv6 = flow.ipv6;
    event.source = flow.source;
    event.destination = flow.destination;
    event.destination_domain = flow.domain;
    event.socket_inode = flow.socket_inode;
    event.adopted = flow.adopted;
    out.emplace_back(std::move(event));
}

std::optional<DecodedFrames> FlowTable::on_data(TimeNs time, const ProcessRef& owner, const decode::FlowData& data,
                                                std::vector<Event>& out)
{
    Flow& flow = flow_for(time, owner, data.cookie, data.tuple);
    if (data.inbound) {
        if (data.datagram) {
            parse_dns(time, data.cookie, flow, data.data, out);
        } else {
            append_at(flow.dns_stream, data.offset, data.data, http_head_limit);
            // DNS over TCP: a 2-byte length, then the message.
            if (flow.dns_stream.size() >= 2) {
                std::size_t length =
                    (static_cast<std::size_t>(flow.dns_stream[0]) << 8) | static_cast<std::size_t>(flow.dns_stream[1]);
                if (flow.dns_stream.size() >= 2 + length) {
                    parse_dns(time, data.cookie, flow, std::span(flow.dns_stream).subspan(2, length), out);
                    flow.dns_stream.clear();
                    flow.dns_stream.shrink_to_fit();
                }
            }
        }
        return std::nullopt;
    }
    if (flow.head_state == Head::http2)
        return feed_http2(time, data.cookie, flow, data.offset, data.data.size(), data.data, out);
    if (flow.head_state != Head::pending) return std::nullopt;
    if (data.datagram) {
        parse_quic(time, data.cookie, flow, data.data, out);
        return std::nullopt;
    }
    append_at(flow.head, data.offset, data.data, head_limit);
    if (!flow.tunnel_offset && looks_like_http2(flow.head)) {
        // Cleartext HTTP/2 with prior knowledge: from the whole preface on, its frames are read.
        if (flow.head.size() < http2_preface_bytes) return std::nullopt;
        flow.head_state = Head::http2;
        std::vector<std::byte> head;
        head.swap(flow.head);
        return feed_http2(time, data.cookie, flow, 0, head.size(), head, out);
    }
    parse_head(time, data.cookie, flow, out);
    return std::nullopt;
}

void FlowTable::parse_head(TimeNs time, std::uint64_t cookie, Flow& flow, std::vector<Event>& out)
{
    std::span<const std::byte> head(flow.head);
    auto finish = [&flow](Head state) {
        flow.head_state = state;
        flow.head.clear();
        flow.head.shrink_to_fit();  // the payload is never kept past its parse
    };
    if (flow.tunnel_offset) {
        // A proxy tunnel: the client's TLS through it names the flow (the kernel copies the
        // ClientHello that follows the CONNECT head). Anything else in it is not parsed.
        if (head.size() <= flow.tunnel_offset) return;
        auto inner = head.subspan(flow.tunnel_offset);
        if (!looks_like_tls(inner)) return finish(Head::http);
        bool capped = inner.size() >= hello_limit || head.size() >= head_limit;
        if (!parse_tls(time, cookie, flow, inner, capped, out)) return;
        return finish(flow.head_state);
    }
    if (looks_like_tls(head)) {
        if (!parse_tls(time, cookie, flow, head, head.size() >= hello_limit, out)) return;
        return finish(flow.head_state);
    }
    auto result = parse_http_request_head(head);
    // The kernel captures at most decode::capture_head_max bytes of a plain stream: a longer head
    // stays incomplete, and what was parsed of it (method, path, Host) is used as it is.
    bool capped = head.size() >= http_head_limit;
    if (result.status == HttpStatus::incomplete && !capped) return;
    if (result.status != HttpStatus::ok && result.status != HttpStatus::incomplete) return finish(Head::other);
    ++stats_.http_parsed;
    const auto& request = result.head;
    out.emplace_back(request_event(time, cookie, flow, request));
    if (result.status == HttpStatus::ok && request.is_connect && request.head_bytes > 0) {
        flow.tunnel_offset = request.head_bytes;  // keep reassembling: the tunnel's head follows
        return parse_head(time, cookie, flow, out);
    }
    finish(Head::http);
}

void FlowTable::parse_quic(TimeNs time, std::uint64_t cookie, Flow& flow, std::span<const std::byte> datagram,
                           std::vector<Event>& out)
{
    auto result = parse_quic_initials(datagram, flow.quic_dcid);
    if (result.status == QuicStatus::undecryptable && !flow.quic_dcid.empty())
        result = parse_quic_initials(datagram);  // a new connection on the same socket
    ++flow.quic_datagrams;
    const bool last = flow.quic_datagrams >= quic_datagrams_max;
    if (result.status != QuicStatus::ok) {
        ++stats_.parse_errors;
        if (last) flow.head_state = Head::other;
        return;
    }
    if (flow.quic_dcid.empty()) flow.quic_dcid = result.packets.front().dcid;
    if (!flow.quic) flow.quic.emplace(hello_limit);
    for (const auto& packet : result.packets)
        for (const auto& frame : packet.crypto) flow.quic->add(frame);
    const auto records = flow.quic->records();
    if (records.empty() && !last) return;
    if (!parse_tls(time, cookie, flow, records, last, out)) return;
    flow.quic.reset();  // the handshake bytes are never kept past their parse
}

bool FlowTable::parse_tls(TimeNs time, std::uint64_t cookie, Flow& flow, std::span<const std::byte> stream, bool capped,
                          std::vector<Event>& out)
{
    auto result = parse_client_hello(stream);
    if (result.status == TlsStatus::incomplete && !capped) return false;
    if (result.status != TlsStatus::ok) {
        ++stats_.parse_errors;
        flow.head_state = Head::other;
        return true;
    }
    ++stats_.tls_parsed;
    TlsClientHelloEvent event;
    event.time = time;
    event.process = flow.owner;
    event.flow.socket_cookie = cookie;
    event.destination = flow.destination;
    event.server_name = result.hello.server_name;
    event.alpn = result.hello.alpn;
    event.version = result.hello.version;
    if (!event.server_name.empty()) {
        flow.domain = event.server_name;
        flow.domain_source = "sni";
    }
    out.emplace_back(std::move(event));
    flow.head_state = Head::tls;
    return true;
}

void FlowTable::parse_dns(TimeNs time, std::uint64_t cookie, Flow& flow, std::span<const std::byte> message,
                          std::vector<Event>& out)
{
    auto result = parse_dns_message(message);
    std::optional<DnsResolution> answer;
    if (result.status == DnsStatus::ok && result.message.response) answer = resolve_first_question(result.message);
    if (!answer) {
        ++stats_.parse_errors;
        return;
    }
    ++stats_.dns_parsed;
    DnsAnswerEvent event;
    event.time = time;
    event.process = flow.owner;
    event.flow.socket_cookie = cookie;
    event.question = answer->question;
    event.cnames = answer->cnames;
    event.resolved_ips = answer->resolved_ips;
    for (const auto& ip : event.resolved_ips) dns_.add(ip, event.question, flow.owner.pid, time);
    out.emplace_back(std::move(event));
}

void FlowTable::on_counters(TimeNs time, const ProcessRef& owner, const decode::FlowCounters& counters,
                            std::vector<Event>& out)
{
    Flow& flow = flow_for(time, owner, counters.cookie, counters.tuple);
    name_from_lookups(flow);
    FlowSummaryEvent event;
    event.time = time;
    event.process = flow.owner;
    event.flow.socket_cookie = counters.cookie;
    event.transport = flow.transport;
    event.source = flow.source;
    event.destination = flow.destination;
    event.destination_domain = flow.domain;
    event.domain_source = flow.domain_source;
    event.bytes_out = counters.bytes_out;
    event.bytes_in = counters.bytes_in;
    event.final = counters.final;
    event.socket_inode = flow.socket_inode;
    event.adopted = flow.adopted;
    event.tcp_bytes_acked = counters.tcp_bytes_acked;
    event.tcp_bytes_received = counters.tcp_bytes_received;
    if (!flow.adopted) {
        // A send path the packet hooks missed must still count: the kernel's count wins. It
        // counts sequence space, where the SYN and the FIN take one byte each.
        std::uint64_t acked = counters.tcp_bytes_acked > 2 ? counters.tcp_bytes_acked - 2 : 0;
        std::uint64_t received = counters.tcp_bytes_received > 1 ? counters.tcp_bytes_received - 1 : 0;
        event.bytes_out = std::max(event.bytes_out, acked);
        event.bytes_in = std::max(event.bytes_in, received);
    }
    out.emplace_back(std::move(event));
    if (counters.final) drop_flow(counters.cookie);
}

void FlowTable::drop_flow(std::uint64_t cookie)
{
    auto it = flows_.find(cookie);
    if (it == flows_.end()) return;
    recency_.erase(it->second.recency);
    flows_.erase(it);
    http2_.erase(cookie);  // its inflater and dynamic table go with it
}

FlowTableStats FlowTable::stats() const
{
    FlowTableStats out = stats_;
    out.live = flows_.size();
    out.dns_cache = dns_.size();
    out.http2_sessions = http2_.size();
    return out;
}

void FlowTableStats::report(util::Counters& out) const
{
    out.emplace_back("flows.live", live);
    out.emplace_back("flows.evicted", evicted);
    out.emplace_back("flows.tls_parsed", tls_parsed);
    out.emplace_back("flows.http_parsed", http_parsed);
    out.emplace_back("flows.dns_parsed", dns_parsed);
    out.emplace_back("flows.parse_errors", parse_errors);
    out.emplace_back("dns.cache_size", dns_cache);
    out.emplace_back("flows.http2_sessions", http2_sessions);
    out.emplace_back("flows.http2_evicted", http2_evicted);
}

std::optional<DecodedFrames> FlowTable::on_tls_plaintext(TimeNs time, std::uint64_t cookie, std::uint64_t offset,
                                                         std::uint64_t write_size, std::span<const std::byte> data,
                                                         std::vector<Event>& out)
{
    auto it = flows_.find(cookie);
    if (it == flows_.end() || it->second.transport != Transport::tcp) return std::nullopt;
    auto& flow = it->second;
    if (auto frames =
            feed_http2(time, cookie, flow, offset, std::max<std::uint64_t>(write_size, data.size()), data, out))
        return frames;
    // The write holds the head of what was sent (at most decode's plaintext bound): a longer
    // request head is incomplete, and what was parsed of it is used, as for a plain stream.
    auto result = parse_http_request_head(data);
    if (result.status != HttpStatus::ok && result.status != HttpStatus::incomplete) return std::nullopt;
    name_by_request(time, cookie, flow, result.head, out);
    return std::nullopt;
}

void FlowTable::name_by_request(TimeNs time, std::uint64_t cookie, Flow& flow, const HttpRequestHead& request,
                                std::vector<Event>& out)
{
    if (request.host.empty() || request.host == flow.plaintext_host || request.is_connect) return;
    ++stats_.http_parsed;
    flow.plaintext_host = request.host;
    out.emplace_back(request_event(time, cookie, flow, request));
}

std::optional<DecodedFrames> FlowTable::feed_http2(TimeNs time, std::uint64_t cookie, Flow& flow, std::uint64_t offset,
                                                   std::uint64_t size, std::span<const std::byte> data,
                                                   std::vector<Event>& out)
{
    auto* session = http2_.find(cookie);
    if (!session) {
        if (offset != 0 || !looks_like_http2(data)) return std::nullopt;
        session = &http2_.touch(cookie);
        if (http2_.size() > max_http2_) {
            http2_.pop_oldest();  // the session idle the longest; this one is the newest
            ++stats_.http2_evicted;
        }
    } else {
        http2_.touch(cookie);
    }
    if (offset + size <= session->next) return DecodedFrames{};  // seen already (a retransmission)
    if (offset > session->next) {
        session->stream.skip(offset - session->next);  // writes went unseen (a bound, a lost record)
    } else if (offset < session->next) {
        const auto seen = session->next - offset;  // the start of a segment overlaps what was fed
        data = data.subspan(static_cast<std::size_t>(std::min<std::uint64_t>(seen, data.size())));
        size -= seen;
        offset = session->next;
    }
    Http2Output result;
    session->stream.feed(data, result);
    if (size > data.size()) session->stream.skip(size - data.size());  // the write's tail past the capture
    session->next = offset + size;
    for (const auto& request : result.requests) name_by_request(time, cookie, flow, request.head, out);
    if (session->stream.status() != Http2Status::ok) {
        // Broken or out of step (writes past the capture's bound): its later frames cannot be
        // read; the scan sees the raw bytes. Only a broken stream is a parse error.
        if (session->stream.status() == Http2Status::malformed) ++stats_.parse_errors;
        http2_.erase(cookie);
        return std::nullopt;
    }
    return std::move(result.frames);
}

HttpRequestEvent FlowTable::request_event(TimeNs time, std::uint64_t cookie, Flow& flow, const HttpRequestHead& request)
{
    HttpRequestEvent event;
    event.time = time;
    event.process = flow.owner;
    event.flow.socket_cookie = cookie;
    event.destination = flow.destination;
    event.method = request.method;
    event.host = request.host;
    // A webhook's or bot's token in the path (hooks.slack.com/services/T/B/TOKEN) is no evidence.
    event.path = redact::redact_url_path(request.host, request.path);
    if (request.is_connect) event.connect_target = request.connect_target();
    if (!event.host.empty() && flow.domain_source != "sni") {  // no SNI (an IP in the URL): the Host names it
        flow.domain = event.host;
        flow.domain_source = "http";
    }
    return event;
}

std::uint64_t FlowTable::newest_tcp_flow(std::uint32_t pid) const
{
    for (auto cookie : recency_) {
        auto it = flows_.find(cookie);
        if (it != flows_.end() && it->second.owner.pid == pid && it->second.transport == Transport::tcp) return cookie;
    }
    return 0;
}

}  // namespace exfilwatch::enrich
