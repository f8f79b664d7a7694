// enrich: the flow table. One entry per socket (by cookie) from its first packet to its close:
// who owns it, the 4-tuple, the reassembled head of the outbound stream (parsed as a TLS
// ClientHello or an HTTP request head; on UDP, the ClientHello of QUIC's Initials), DNS answers
// received on it, and its byte counters.
// A client that speaks HTTP/2 (its TLS plaintext, or a cleartext stream with prior knowledge) has
// its frames read by an Http2ClientStream of its own (bounded: the least recently used goes first,
// counted), whose requests' :authority names the flow as an HTTP/1 Host does.
// A flow is named by SNI first (through a proxy: the tunnelled ClientHello's), then the HTTP Host
// (or CONNECT target, or an absolute URI's host), then the DNS cache, then
// the hosts file its owner resolves with (HostsSource), then the host its command line aims at
// the flow's port (nc HOST PORT) when the process is already gone.
// Byte counts are the packet-level ones, or the kernel's TCP counters when those are higher
// (except for an adopted flow, whose kernel counters include what it sent before the monitor).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "decode/decoder.hpp"
#include "enrich/dns_cache.hpp"
#include "enrich/http.hpp"
#include "enrich/http2.hpp"
#include "enrich/quic.hpp"
#include "events.hpp"
#include "util/bounded.hpp"
#include "util/counters.hpp"

namespace exfilwatch::enrich {

struct FlowTableStats {
    std::uint64_t live = 0;
    std::uint64_t evicted = 0;
    std::uint64_t tls_parsed = 0;
    std::uint64_t http_parsed = 0;
    std::uint64_t dns_parsed = 0;
    std::uint64_t parse_errors = 0;
    std::uint64_t dns_cache = 0;
    std::uint64_t http2_sessions = 0;        // HTTP/2 connections whose frames are being read
    std::uint64_t http2_evicted = 0;         // sessions dropped for the bound: their later requests go unnamed
    void report(util::Counters& out) const;  // as metric counters
};

// The text of the hosts file process `pid` resolves names with ("" when unknown); the run loop
// reads /proc/<pid>/root/etc/hosts, tests pass a fixed text.
using HostsSource = std::function<std::string(const ProcessRef& owner)>;

class FlowTable {
public:
    explicit FlowTable(std::size_t max_flows = 65536, HostsSource hosts = {}, std::size_t max_http2 = 1024)
        : max_flows_(max_flows), max_http2_(std::max<std::size_t>(max_http2, 1)), hosts_(std::move(hosts))
    {
    }

    void on_start(TimeNs time, const ProcessRef& owner, const decode::FlowStart& start, std::vector<Event>& out);
    // Returns the segment's HTTP/2 frames decoded when the stream speaks HTTP/2 (for the scan).
    std::optional<DecodedFrames> on_data(TimeNs time, const ProcessRef& owner, const decode::FlowData& data,
                                         std::vector<Event>& out);
    void on_counters(TimeNs time, const ProcessRef& owner, const decode::FlowCounters& counters,
                     std::vector<Event>& out);

    // A TLS library's write of plaintext on flow `cookie` (uprobes), at `offset` in the connection's
    // plaintext, `write_size` bytes of which `data` is the head: a request head in it (HTTP/1, or
    // HTTP/2 HEADERS) names the flow by its Host or :authority beside the SNI, so that SNI and Host
    // can be told apart (domain fronting). One HttpRequestEvent per Host the flow did not have
    // before. Returns the write's HTTP/2 frames decoded when the connection speaks HTTP/2.
    std::optional<DecodedFrames> on_tls_plaintext(TimeNs time, std::uint64_t cookie, std::uint64_t offset,
                                                  std::uint64_t write_size, std::span<const std::byte> data,
                                                  std::vector<Event>& out);

    FlowTableStats stats() const;
    // The cookie of the TCP flow owned by `pid` seen most recently (0: none).
    std::uint64_t newest_tcp_flow(std::uint32_t pid) const;

private:
    enum class Head { pending, tls, http, http2, other };
    struct Flow {
        ProcessRef owner;
        Transport transport = Transport::tcp;
        bool ipv6 = false;
        Endpoint source, destination;
        std::string domain;
        std::string domain_source;
        std::vector<std::byte> head;  // contiguous outbound bytes from stream offset 0
        Head head_state = Head::pending;
        std::size_t tunnel_offset = 0;         // after a CONNECT head: where the tunnelled stream starts
        std::vector<std::byte> quic_dcid;      // UDP: the DCID of the first QUIC Initial (its keys)
        std::optional<QuicCryptoStream> quic;  // UDP: the Initials' crypto stream so far
        std::size_t quic_datagrams = 0;
        std::vector<std::byte> dns_stream;  // inbound DNS-over-TCP bytes
        TimeNs last_seen = 0;
        std::uint64_t socket_inode = 0;
        bool local_names_tried = false;              // the hosts file and argv were asked (name_from_lookups)
        bool adopted = false;                        // older than the monitor: counted from its first packet seen
        std::string plaintext_host;                  // the last Host of a request head in its TLS plaintext
        std::list<std::uint64_t>::iterator recency;  // this flow's place in recency_
    };
    Flow& flow_for(TimeNs time, const ProcessRef& owner, std::uint64_t cookie, const decode::Tuple& tuple);
    // Names a flow still unnamed from the DNS answers its owner (or anyone) received, else from
    // its owner's hosts file (the name its command line gave, when the file maps it).
    void name_from_lookups(Flow& flow) const;
    void parse_head(TimeNs time, std::uint64_t cookie, Flow& flow, std::vector<Event>& out);
    // The http-request event of a request head; without an SNI its Host names the flow.
    static HttpRequestEvent request_event(TimeNs time, std::uint64_t cookie, Flow& flow,
                                          const HttpRequestHead& request);
    // A later request on a connection (TLS plaintext, HTTP/2): an http-request event when its
    // Host is one the flow did not have before.
    void name_by_request(TimeNs time, std::uint64_t cookie, Flow& flow, const HttpRequestHead& request,
                         std::vector<Event>& out);
    // The flow's HTTP/2 session (made when `data` starts the stream with the preface) fed the
    // bytes at `offset` (`size` sent, `data` their head); nullopt when it has none or it broke.
    std::optional<DecodedFrames> feed_http2(TimeNs time, std::uint64_t cookie, Flow& flow, std::uint64_t offset,
                                            std::uint64_t size, std::span<const std::byte> data,
                                            std::vector<Event>& out);
    void drop_flow(std::uint64_t cookie);
    // The ClientHello at the start of `stream` (the flow's head, or what its CONNECT tunnels):
    // false while more bytes can still complete it (`capped`: the kernel copies no more).
    // A client Initial datagram of QUIC (UDP): decrypted, its CRYPTO frames reassembled into
    // the ClientHello that names the flow.
    void parse_quic(TimeNs time, std::uint64_t cookie, Flow& flow, std::span<const std::byte> datagram,
                    std::vector<Event>& out);
    bool parse_tls(TimeNs time, std::uint64_t cookie, Flow& flow, std::span<const std::byte> stream, bool capped,
                   std::vector<Event>& out);
    void parse_dns(TimeNs time, std::uint64_t cookie, Flow& flow, std::span<const std::byte> message,
                   std::vector<Event>& out);

    struct Http2Session {
        Http2ClientStream stream;
        std::uint64_t next = 0;  // the stream offset its next input starts at
    };
    std::size_t max_flows_;
    std::size_t max_http2_;
    std::unordered_map<std::uint64_t, Flow> flows_;
    util::LruMap<std::uint64_t, Http2Session> http2_;  // by cookie
    HostsSource hosts_;
    std::list<std::uint64_t> recency_;  // cookies, most recently seen first: eviction is O(1)
    DnsCache dns_;
    FlowTableStats stats_;
};

}  // namespace exfilwatch::enrich
