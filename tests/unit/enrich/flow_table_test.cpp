// Tests userspace/enrich/flow_table.cpp: socket inode and adoption carried from the flow start
// to every summary, the kernel's TCP counters as a floor of the packet-level counts, bounded
// memory (the flow seen least recently is evicted first, in O(1)) and how a flow is named when
// its client sent no SNI, Host or DNS query (the hosts file, then the command line); a ClientHello
// over 16 KiB reassembled from the kernel's record-sized copies, and the TLS tunnelled through a
// CONNECT proxy naming the flow; a QUIC client Initial (RFC 9001 A.2) naming a UDP flow; HTTP/2
// requests (TLS plaintext, cleartext with prior knowledge) named by :authority, their sessions
// bounded and freed with their flow.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string_view>

#include "enrich/flow_table.hpp"
#include "enrich/http2_frames.hpp"

using namespace exfilwatch;
using namespace exfilwatch::enrich;

namespace {

decode::Tuple tuple(std::uint16_t dport = 9009)
{
    decode::Tuple t;
    t.family = decode::Family::ipv4;
    t.protocol = decode::Protocol::tcp;
    t.saddr = {127, 0, 0, 1};
    t.daddr = {127, 0, 0, 1};
    t.sport = 40000;
    t.dport = dport;
    return t;
}

decode::FlowStart start(std::uint64_t cookie)
{
    decode::FlowStart s;
    s.cookie = cookie;
    s.tuple = tuple();
    return s;
}

ProcessRef process_with(std::vector<std::string> args)
{
    ProcessRef p;
    p.pid = 4242;
    p.entity_id = "e4242";
    p.name = args.front();
    p.args = std::move(args);
    return p;
}

const std::string hosts_text = "127.0.0.1 localhost\n127.0.0.1 paste.rs abc.ngrok-free.app\n";

decode::FlowCounters counters(std::uint64_t out, std::uint64_t acked, bool final)
{
    decode::FlowCounters c;
    c.cookie = 7;
    c.tuple = tuple();
    c.bytes_out = out;
    c.bytes_in = 3;
    c.tcp_bytes_acked = acked;
    c.tcp_bytes_received = 3;
    c.final = final;
    return c;
}

const FlowSummaryEvent& summary(const std::vector<Event>& out)
{
    REQUIRE(!out.empty());
    REQUIRE(std::holds_alternative<FlowSummaryEvent>(out.back()));
    return std::get<FlowSummaryEvent>(out.back());
}

using Bytes = std::vector<std::byte>;

void put(Bytes& b, std::size_t value, int width)
{
    for (int i = width - 1; i >= 0; --i) b.push_back(static_cast<std::byte>((value >> (8 * i)) & 0xff));
}

void put(Bytes& b, std::string_view text)
{
    for (char c : text) b.push_back(static_cast<std::byte>(c));
}

// A ClientHello whose padding extension (`padding` bytes) comes before server_name, cut into
// TLS records of at most 16 KiB as a client sends one that is bigger than a record.
Bytes big_client_hello(std::string_view host, std::size_t padding)
{
    Bytes exts;
    put(exts, 21, 2);
    put(exts, padding, 2);
    exts.resize(exts.size() + padding);
    put(exts, 0, 2);
    put(exts, host.size() + 5, 2);
    put(exts, host.size() + 3, 2);
    put(exts, 0, 1);
    put(exts, host.size(), 2);
    put(exts, host);
    Bytes body;
    put(body, 0x0303, 2);
    body.resize(body.size() + 32);  // random
    put(body, 0, 1);                // session id
    put(body, 2, 2);
    put(body, 0x1301, 2);
    put(body, 1, 1);
    put(body, 0, 1);  // compression: null
    put(body, exts.size(), 2);
    body.insert(body.end(), exts.begin(), exts.end());
    Bytes hs;
    put(hs, 1, 1);
    put(hs, body.size(), 3);
    hs.insert(hs.end(), body.begin(), body.end());
    Bytes stream;
    for (std::size_t from = 0; from < hs.size(); from += 16384) {
        std::size_t n = std::min<std::size_t>(16384, hs.size() - from);
        put(stream, 22, 1);
        put(stream, 0x0301, 2);
        put(stream, n, 2);
        stream.insert(stream.end(), hs.begin() + static_cast<std::ptrdiff_t>(from),
                      hs.begin() + static_cast<std::ptrdiff_t>(from + n));
    }
    return stream;
}

// Feeds `stream` from stream offset `at` as the kernel copies it: records of at most
// EW_CAPTURE_MAX bytes.
void feed(FlowTable& table, const ProcessRef& owner, const Bytes& stream, std::uint32_t at, std::vector<Event>& out)
{
    for (std::size_t from = 0; from < stream.size(); from += EW_CAPTURE_MAX) {
        decode::FlowData data;
        data.cookie = 7;
        data.tuple = tuple(443);
        data.offset = at + static_cast<std::uint32_t>(from);
        std::size_t n = std::min<std::size_t>(EW_CAPTURE_MAX, stream.size() - from);
        data.data.assign(stream.begin() + static_cast<std::ptrdiff_t>(from),
                         stream.begin() + static_cast<std::ptrdiff_t>(from + n));
        table.on_data(1, owner, data, out);
    }
}

template <typename T>
std::vector<T> all_of(const std::vector<Event>& out)
{
    std::vector<T> found;
    for (const auto& e : out)
        if (const auto* x = std::get_if<T>(&e)) found.push_back(*x);
    return found;
}

}  // namespace

TEST_CASE("a claimed flow: socket inode on connect and summaries, the kernel count as a floor")
{
    FlowTable table;
    ProcessRef owner;
    owner.pid = 42;
    std::vector<Event> out;
    decode::FlowStart start{{}, 7, tuple(), true, 31337};
    table.on_start(1, owner, start, out);
    REQUIRE(std::holds_alternative<ConnectEvent>(out.back()));
    const auto& connect = std::get<ConnectEvent>(out.back());
    CHECK(connect.socket_inode == 31337);
    CHECK_FALSE(connect.adopted);
    CHECK(connect.process.pid == 42);

    table.on_counters(2, owner, counters(100, 0, false), out);
    CHECK(summary(out).bytes_out == 100);
    CHECK(summary(out).socket_inode == 31337);
    CHECK_FALSE(summary(out).final);

    // a send path the packet hooks did not see: the kernel acknowledged more than we counted
    table.on_counters(3, owner, counters(100, 5002, true), out);
    CHECK(summary(out).bytes_out == 5000);  // less the SYN and the FIN
    CHECK(summary(out).bytes_in == 3);      // ours: 3; the kernel's 3 less the FIN: 2
    CHECK(summary(out).tcp_bytes_acked == 5002);
    CHECK(summary(out).tcp_bytes_received == 3);
    CHECK(summary(out).final);
    CHECK(table.stats().live == 0);
}

TEST_CASE("an adopted flow keeps the counts since adoption, not the kernel's whole history")
{
    FlowTable table;
    ProcessRef owner;
    owner.pid = 43;
    std::vector<Event> out;
    decode::FlowStart start{{}, 7, tuple(), false, 99};
    table.on_start(1, owner, start, out);
    CHECK(std::get<ConnectEvent>(out.back()).adopted);
    ProcessRef nobody;  // later records of an adopted socket carry no pid
    table.on_counters(2, nobody, counters(100, 1'000'100, true), out);
    CHECK(summary(out).bytes_out == 100);
    CHECK(summary(out).tcp_bytes_acked == 1'000'100);
    CHECK(summary(out).adopted);
    CHECK(summary(out).process.pid == 43);
    CHECK(summary(out).socket_inode == 99);
}

TEST_CASE("past its cap the flow table evicts the flow seen least recently")
{
    FlowTable table(2);
    ProcessRef owner;
    owner.pid = 42;
    std::vector<Event> out;
    table.on_start(1, owner, start(1), out);
    table.on_start(2, owner, start(2), out);
    table.on_start(3, owner, start(1), out);  // flow 1 seen again: flow 2 is now the oldest
    CHECK(table.stats().evicted == 0);
    table.on_start(4, owner, start(3), out);
    CHECK(table.stats().evicted == 1);
    CHECK(table.stats().live == 2);
    table.on_start(5, owner, start(1), out);  // still there: no eviction
    CHECK(table.stats().evicted == 1);
    table.on_start(6, owner, start(2), out);  // evicted before: starts afresh, evicts flow 3
    CHECK(table.stats().evicted == 2);
    CHECK(table.stats().live == 2);
}

TEST_CASE("a final counter record ends the flow and frees its place")
{
    FlowTable table(2);
    ProcessRef owner;
    std::vector<Event> out;
    table.on_start(1, owner, start(1), out);
    table.on_start(2, owner, start(2), out);
    decode::FlowCounters end;
    end.cookie = 1;
    end.tuple = start(1).tuple;
    end.final = true;
    table.on_counters(3, owner, end, out);
    CHECK(table.stats().live == 1);
    table.on_start(4, owner, start(3), out);
    CHECK(table.stats().evicted == 0);
    CHECK(table.stats().live == 2);
    REQUIRE(!out.empty());
    CHECK(std::holds_alternative<ConnectEvent>(out.back()));
}

TEST_CASE("flow table: a raw stream is named by the hosts file name on its command line")
{
    std::vector<std::uint32_t> asked;
    FlowTable flows(16, [&](const ProcessRef& owner) {
        asked.push_back(owner.pid);
        return hosts_text;
    });
    std::vector<Event> out;
    auto nc = process_with({"ncat", "--send-only", "abc.ngrok-free.app", "9009"});
    flows.on_start(1, nc, decode::FlowStart{{}, 7, tuple(9009), true}, out);
    REQUIRE(out.size() == 1);
    const auto& connect = std::get<ConnectEvent>(out[0]);
    CHECK(connect.destination_domain == "abc.ngrok-free.app");
    CHECK(asked == std::vector<std::uint32_t>{4242});

    decode::FlowCounters end;
    end.cookie = 7;
    end.tuple = tuple(9009);
    end.bytes_out = 411;
    end.final = true;
    flows.on_counters(2, nc, end, out);
    REQUIRE(out.size() == 2);
    const auto& summary = std::get<FlowSummaryEvent>(out[1]);
    CHECK(summary.destination_domain == "abc.ngrok-free.app");
    CHECK(summary.domain_source == "hosts");
    CHECK(asked.size() == 1);  // named once, at connect
}

TEST_CASE("flow table: a process gone before its hosts file was read is named by its command line")
{
    std::vector<Event> out;
    FlowTable gone(16, [](const ProcessRef&) { return std::string(); });
    gone.on_start(1, process_with({"ncat", "paste.rs", "9009"}), decode::FlowStart{{}, 8, tuple(9009), true}, out);
    CHECK(std::get<ConnectEvent>(out.back()).destination_domain == "paste.rs");
    decode::FlowCounters end;
    end.cookie = 8;
    end.tuple = tuple(9009);
    end.final = true;
    gone.on_counters(2, process_with({"ncat", "paste.rs", "9009"}), end, out);
    CHECK(std::get<FlowSummaryEvent>(out.back()).domain_source == "argv");

    // Another port than the command line's, and a hosts file for another address: unnamed.
    FlowTable other(16, [](const ProcessRef&) { return std::string("10.0.0.9 paste.rs\n"); });
    other.on_start(1, process_with({"ncat", "paste.rs", "9010"}), decode::FlowStart{{}, 9, tuple(9009), true}, out);
    CHECK(std::get<ConnectEvent>(out.back()).destination_domain.empty());
}

TEST_CASE("flow table: a ClientHello over 16 KiB, sent over three records, yields its SNI")
{
    FlowTable table;
    ProcessRef owner = process_with({"python3", "big_hello.py"});
    std::vector<Event> out;
    const Bytes stream = big_client_hello("paste.rs", 40000);
    REQUIRE(stream.size() > 2 * 16389);
    REQUIRE(stream.size() <= EW_CAPTURE_HELLO_MAX);
    feed(table, owner, stream, 0, out);
    const auto hellos = all_of<TlsClientHelloEvent>(out);
    REQUIRE(hellos.size() == 1);
    CHECK(hellos[0].server_name == "paste.rs");
    table.on_counters(2, owner, counters(50000, 0, true), out);
    CHECK(summary(out).destination_domain == "paste.rs");
    CHECK(summary(out).domain_source == "sni");
    CHECK(table.stats().parse_errors == 0);
}

TEST_CASE("flow table: through a CONNECT proxy the tunnelled ClientHello names the flow")
{
    FlowTable table;
    ProcessRef owner = process_with({"curl", "-x", "http://127.0.0.1:3128", "https://pastebin.com/"});
    std::vector<Event> out;
    const std::string_view connect = "CONNECT pastebin.com:443 HTTP/1.1\r\nHost: pastebin.com:443\r\n"
                                     "Proxy-Connection: Keep-Alive\r\n\r\n";
    Bytes head;
    put(head, connect);
    feed(table, owner, head, 0, out);
    const auto requests = all_of<HttpRequestEvent>(out);
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].connect_target == "pastebin.com:443");
    CHECK(all_of<TlsClientHelloEvent>(out).empty());

    // A real client's hello (tests/data/tls), tunnelled after the proxy's 200.
    std::ifstream in(std::string(EXFILWATCH_SOURCE_DIR) + "/tests/data/tls/pq_client_hello.bin", std::ios::binary);
    REQUIRE(in.good());
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Bytes hello(raw.size());
    std::transform(raw.begin(), raw.end(), hello.begin(), [](char c) { return static_cast<std::byte>(c); });
    feed(table, owner, hello, static_cast<std::uint32_t>(connect.size()), out);
    const auto hellos = all_of<TlsClientHelloEvent>(out);
    REQUIRE(hellos.size() == 1);
    CHECK(hellos[0].server_name == "pastebin.com");
    table.on_counters(2, owner, counters(5000, 0, true), out);
    CHECK(summary(out).destination_domain == "pastebin.com");
    CHECK(summary(out).domain_source == "sni");
}

TEST_CASE("flow table: a request head in TLS plaintext names the flow's Host beside its SNI")
{
    FlowTable table;
    ProcessRef owner = process_with({"curl", "https://cdn.example.net/"});
    std::vector<Event> out;
    feed(table, owner, big_client_hello("cdn.example.net", 0), 0, out);
    REQUIRE(all_of<TlsClientHelloEvent>(out).size() == 1);
    auto plaintext = [](std::string_view text) {
        Bytes b;
        put(b, text);
        return b;
    };
    const auto fronted = plaintext("POST /api HTTP/1.1\r\nHost: pastebin.com\r\nContent-Length: 9000\r\n\r\nbody");
    table.on_tls_plaintext(2, 7, 0, fronted.size(), fronted, out);
    auto requests = all_of<HttpRequestEvent>(out);
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].host == "pastebin.com");
    CHECK(requests[0].method == "POST");
    CHECK(requests[0].path == "/api");
    CHECK(requests[0].flow.socket_cookie == 7);
    CHECK(requests[0].process.pid == owner.pid);

    table.on_tls_plaintext(3, 7, 9000, fronted.size(), fronted, out);                        // the same Host again
    table.on_tls_plaintext(3, 7, 9100, 28, plaintext("more of the body, no request"), out);  // a body write
    table.on_tls_plaintext(3, 8, 0, fronted.size(), fronted, out);                           // no such flow
    CHECK(all_of<HttpRequestEvent>(out).size() == 1);
    // A head cut by the plaintext bound still gives the Host it reached.
    table.on_tls_plaintext(4, 7, 9200, 20000, plaintext("GET /next HTTP/1.1\r\nHost: rentry.co\r\nX-Pad: aaaa"), out);
    requests = all_of<HttpRequestEvent>(out);
    REQUIRE(requests.size() == 2);
    CHECK(requests[1].host == "rentry.co");

    table.on_counters(5, owner, counters(5000, 0, true), out);
    CHECK(summary(out).destination_domain == "cdn.example.net");  // the SNI still names the flow
    CHECK(summary(out).domain_source == "sni");
}

TEST_CASE("flow table: a CONNECT tunnel that carries no TLS stays named by its target")
{
    FlowTable table;
    ProcessRef owner = process_with({"nc", "-X", "connect", "-x", "127.0.0.1:3128", "paste.rs", "80"});
    std::vector<Event> out;
    Bytes head;
    put(head, std::string_view("CONNECT paste.rs:80 HTTP/1.1\r\n\r\n"));
    feed(table, owner, head, 0, out);
    Bytes plain;
    put(plain, std::string_view("POST / HTTP/1.1\r\nHost: other.example\r\n\r\n"));
    feed(table, owner, plain, static_cast<std::uint32_t>(head.size()), out);
    CHECK(all_of<TlsClientHelloEvent>(out).empty());
    CHECK(all_of<HttpRequestEvent>(out).size() == 1);
    table.on_counters(2, owner, counters(100, 0, true), out);
    CHECK(summary(out).destination_domain == "paste.rs");
    CHECK(summary(out).domain_source == "http");
}

TEST_CASE("flow table: a QUIC client Initial on UDP names the flow by its ClientHello's SNI")
{
    std::ifstream in(std::string(EXFILWATCH_SOURCE_DIR) + "/tests/data/quic/rfc9001_client_initial.bin",
                     std::ios::binary);
    REQUIRE(in.good());
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    FlowTable table;
    ProcessRef owner = process_with({"python3", "quic_initial.py"});
    std::vector<Event> out;
    decode::FlowData data;
    data.cookie = 7;
    data.tuple = tuple(443);
    data.tuple.protocol = decode::Protocol::udp;
    data.datagram = true;
    data.data.resize(raw.size());
    std::transform(raw.begin(), raw.end(), data.data.begin(), [](char c) { return static_cast<std::byte>(c); });
    table.on_data(1, owner, data, out);
    const auto hellos = all_of<TlsClientHelloEvent>(out);
    REQUIRE(hellos.size() == 1);
    CHECK(hellos[0].server_name == "example.com");
    auto end = counters(1200, 0, true);
    end.tuple.protocol = decode::Protocol::udp;
    table.on_counters(2, owner, end, out);
    CHECK(summary(out).destination_domain == "example.com");
    CHECK(summary(out).domain_source == "sni");
    CHECK(summary(out).transport == Transport::udp);

    // A datagram that does not decrypt is counted, and names nothing.
    FlowTable other;
    data.data[100] ^= std::byte{1};
    other.on_data(1, owner, data, out);
    CHECK(other.stats().parse_errors == 1);
}

namespace {

namespace h2 = exfilwatch::test;

decode::FlowStart start_to(std::uint64_t cookie, std::uint16_t dport)
{
    decode::FlowStart s;
    s.cookie = cookie;
    s.tuple = tuple(dport);
    return s;
}

h2::Bytes h2_request(std::uint32_t stream, const std::string& authority, const std::string& path = "/up")
{
    return h2::frame(h2::headers, h2::end_headers, stream,
                     h2::deflate({{":method", "POST"},
                                  {":scheme", "https"},
                                  {":authority", authority},
                                  {":path", path},
                                  {"authorization", "Bearer SECRET-0123456789abcdef"}}));
}

}  // namespace

TEST_CASE("flow table: HTTP/2 in TLS plaintext: :authority names the flow beside the SNI, split writes too")
{
    FlowTable table;
    ProcessRef owner = process_with({"curl", "https://cdn.example.net/"});
    std::vector<Event> out;
    table.on_start(1, owner, start_to(7, 443), out);
    feed(table, owner, big_client_hello("cdn.example.net", 0), 0, out);
    std::uint64_t offset = 0;
    auto write = [&](const h2::Bytes& bytes, std::uint64_t size = 0) {
        auto frames = table.on_tls_plaintext(2, 7, offset, size ? size : bytes.size(), bytes, out);
        offset += size ? size : bytes.size();
        return frames;
    };
    auto first = write(h2::preface());
    REQUIRE(first);  // decoded: no field, no body
    CHECK(first->fields.empty());
    CHECK(first->body.empty());
    CHECK(all_of<HttpRequestEvent>(out).empty());
    // A HEADERS frame split over two writes, its request named by the second.
    const auto request = h2_request(1, "PasteBin.com:443", "/api/post?token=SECRET");
    write(h2::Bytes(request.begin(), request.begin() + 11));
    CHECK(all_of<HttpRequestEvent>(out).empty());
    auto second = write(h2::Bytes(request.begin() + 11, request.end()));
    REQUIRE(second);
    auto requests = all_of<HttpRequestEvent>(out);
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].host == "pastebin.com");
    CHECK(requests[0].method == "POST");
    CHECK(requests[0].path == "/api/post");
    CHECK(requests[0].flow.socket_cookie == 7);
    // A body write longer than the capture: its tail is skipped, the next request still read.
    const auto body = h2::frame(h2::data, 0, 1, h2::Bytes(20000, std::byte{'a'}));
    auto body_frames = write(h2::Bytes(body.begin(), body.begin() + 16384), body.size());
    REQUIRE(body_frames);
    CHECK(body_frames->body.size() == 16384 - 9);
    write(h2_request(3, "pastebin.com"));  // the same name again: no new event
    write(h2_request(5, "rentry.co"));     // another one
    requests = all_of<HttpRequestEvent>(out);
    REQUIRE(requests.size() == 2);
    CHECK(requests[1].host == "rentry.co");
    CHECK(table.stats().http2_sessions == 1);
    table.on_counters(5, owner, counters(50000, 0, true), out);
    CHECK(summary(out).destination_domain == "cdn.example.net");  // the SNI still names the flow
    CHECK(table.stats().http2_sessions == 0);                     // freed with its flow
}

TEST_CASE("flow table: cleartext HTTP/2 with prior knowledge is named by :authority")
{
    FlowTable table;
    ProcessRef owner = process_with({"curl", "--http2-prior-knowledge", "http://paste.example/"});
    std::vector<Event> out;
    table.on_start(1, owner, start_to(7, 80), out);
    std::ifstream in(std::string(EXFILWATCH_SOURCE_DIR) + "/tests/data/http2/curl_h2c_post.bin", std::ios::binary);
    REQUIRE(in.good());
    const h2::Bytes stream =
        h2::text(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
    // Three segments: a part of the preface, the rest up to the middle, the rest.
    std::optional<DecodedFrames> last;
    for (const auto& segment : {std::pair<std::size_t, std::size_t>{0, 10}, {10, 120}, {120, stream.size()}}) {
        const auto from = segment.first, to = segment.second;
        decode::FlowData data;
        data.cookie = 7;
        data.tuple = tuple(80);
        data.offset = static_cast<std::uint32_t>(from);
        data.data.assign(stream.begin() + static_cast<std::ptrdiff_t>(from),
                         stream.begin() + static_cast<std::ptrdiff_t>(to));
        last = table.on_data(1, owner, data, out);
        if (from == 0) CHECK(!last);  // not yet a whole preface
    }
    REQUIRE(last);
    CHECK(!last->body.empty());
    const auto requests = all_of<HttpRequestEvent>(out);
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].host == "paste.example");
    CHECK(requests[0].path == "/upload/file.txt");
    table.on_counters(2, owner, counters(500, 0, true), out);
    CHECK(summary(out).destination_domain == "paste.example");
    CHECK(summary(out).domain_source == "http");
    CHECK(table.stats().parse_errors == 0);
}

TEST_CASE("flow table: HTTP/2 sessions are bounded: the least recent goes, counted; a broken one is dropped")
{
    FlowTable table(65536, {}, 2);
    ProcessRef owner = process_with({"curl", "https://x/"});
    std::vector<Event> out;
    for (std::uint64_t cookie : {11, 12, 13}) {
        table.on_start(1, owner, start_to(cookie, 443), out);
        table.on_tls_plaintext(2, cookie, 0, h2::preface().size(), h2::preface(), out);
    }
    CHECK(table.stats().http2_sessions == 2);
    CHECK(table.stats().http2_evicted == 1);
    const auto offset = h2::preface().size();
    const auto request = h2_request(1, "pastebin.com");
    CHECK(!table.on_tls_plaintext(3, 11, offset, request.size(), request, out));  // evicted: unread
    CHECK(table.on_tls_plaintext(3, 13, offset, request.size(), request, out));
    CHECK(all_of<HttpRequestEvent>(out).size() == 1);
    // A CONTINUATION with no HEADERS before it: the session is dropped, the error counted.
    const auto broken = h2::frame(h2::continuation, h2::end_headers, 1, {});
    CHECK(!table.on_tls_plaintext(4, 12, offset, broken.size(), broken, out));
    CHECK(table.stats().parse_errors == 1);
    CHECK(table.stats().http2_sessions == 1);
    // Writes unseen up to the middle of a header block (the connection's capture bound): the
    // session is out of step and dropped, which is no parse error.
    CHECK(!table.on_tls_plaintext(5, 13, offset + request.size() + 4, request.size(), request, out));
    CHECK(table.stats().parse_errors == 1);
    CHECK(table.stats().http2_sessions == 0);
}
