// Tests for enrich/dns: responses captured from a real dnsmasq on loopback (tests/data/dns/
// README), RFC 1035's compression example, and hostile compression (loops, forward pointers).
#include "enrich/dns.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using exfilwatch::enrich::DnsStatus;
using exfilwatch::enrich::parse_dns_message;
using exfilwatch::enrich::parse_dns_tcp;
using exfilwatch::enrich::resolve_first_question;
namespace dns_type = exfilwatch::enrich::dns_type;

namespace {

using Bytes = std::vector<std::byte>;
using Strings = std::vector<std::string>;

Bytes load_dns(const std::string& name)
{
    std::ifstream in(std::string(EXFILWATCH_SOURCE_DIR) + "/tests/data/dns/" + name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing test vector " << name);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Bytes out(raw.size());
    std::transform(raw.begin(), raw.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
    return out;
}

// Little message builder: raw bytes in order, so offsets are easy to reason about.
struct Msg {
    Bytes b;
    Msg& u8(unsigned v)
    {
        b.push_back(static_cast<std::byte>(v & 0xff));
        return *this;
    }
    Msg& u16(unsigned v) { return u8(v >> 8).u8(v); }
    Msg& u32(unsigned v) { return u16(v >> 16).u16(v & 0xffff); }
    Msg& label(const std::string& s)
    {
        u8(static_cast<unsigned>(s.size()));
        for (char c : s) u8(static_cast<unsigned char>(c));
        return *this;
    }
    Msg& name(const std::string& dotted)
    {
        std::size_t from = 0;
        while (from < dotted.size()) {
            auto dot = dotted.find('.', from);
            if (dot == std::string::npos) dot = dotted.size();
            label(dotted.substr(from, dot - from));
            from = dot + 1;
        }
        return u8(0);
    }
    Msg& pointer(unsigned offset) { return u16(0xc000 | offset); }
    Msg& header(unsigned qd, unsigned an, unsigned ns = 0, unsigned ar = 0, unsigned flags = 0x8180)
    {
        return u16(0xbeef).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
    }
    Msg& question_tail(unsigned type = 1) { return u16(type).u16(1); }
    Msg& rr_tail(unsigned type, unsigned rdlength, unsigned klass = 1)
    {
        return u16(type).u16(klass).u32(300).u16(rdlength);
    }
    std::size_t size() const { return b.size(); }
};

}  // namespace

TEST_CASE("dns: dnsmasq A answer for pastebin.com")
{
    const auto r = parse_dns_message(load_dns("dns_a_pastebin.bin"));
    REQUIRE_MESSAGE(r.ok(), r.error);
    const auto& m = r.message;
    CHECK(m.id == 0x1111);
    CHECK(m.response);
    CHECK(m.flags == 0x8580);
    CHECK(m.rcode == 0);
    CHECK_FALSE(m.truncated);
    REQUIRE(m.questions.size() == 1);
    CHECK(m.questions[0].name == "pastebin.com");
    CHECK(m.questions[0].type == dns_type::a);
    CHECK(m.questions[0].klass == 1);
    REQUIRE(m.answers.size() == 1);
    CHECK(m.answers[0].name == "pastebin.com");
    CHECK(m.answers[0].type == dns_type::a);
    CHECK(m.answers[0].ttl == 0);
    CHECK(m.answers[0].data == "127.0.0.5");
    const auto res = resolve_first_question(m);
    REQUIRE(res);
    CHECK(res->question == "pastebin.com");
    CHECK(res->cnames.empty());
    CHECK(res->resolved_ips == Strings{"127.0.0.5"});
}

TEST_CASE("dns: dnsmasq AAAA, CNAME, EDNS and mixed-case answers")
{
    const auto v6 = parse_dns_message(load_dns("dns_aaaa_v6_example.bin"));
    REQUIRE(v6.ok());
    CHECK(v6.message.answers.at(0).type == dns_type::aaaa);
    CHECK(resolve_first_question(v6.message)->resolved_ips == Strings{"::1"});

    const auto cname = parse_dns_message(load_dns("dns_cname_www_pastebin.bin"));
    REQUIRE(cname.ok());
    CHECK(cname.message.answers.at(0).type == dns_type::cname);
    CHECK(cname.message.answers.at(0).name == "www.pastebin.com");
    CHECK(cname.message.answers.at(0).data == "pastebin.com");
    const auto chain = resolve_first_question(cname.message);
    CHECK(chain->question == "www.pastebin.com");
    CHECK(chain->cnames == Strings{"pastebin.com"});
    CHECK(chain->resolved_ips.empty());

    const auto edns = parse_dns_message(load_dns("dns_cname_edns.bin"));
    REQUIRE(edns.ok());
    CHECK(edns.message.additional_count == 1);
    REQUIRE(edns.message.edns_udp_size);
    CHECK(*edns.message.edns_udp_size == 1232);
    CHECK(edns.message.answers.size() == 1);

    const auto mixed = parse_dns_message(load_dns("dns_a_mixed_case.bin"));
    REQUIRE(mixed.ok());
    CHECK(mixed.message.questions.at(0).name == "pastebin.com");
    CHECK(resolve_first_question(mixed.message)->resolved_ips == Strings{"127.0.0.5"});

    const auto qtype_cname = parse_dns_message(load_dns("dns_qtype_cname.bin"));
    REQUIRE(qtype_cname.ok());
    CHECK(resolve_first_question(qtype_cname.message)->question_type == dns_type::cname);
}

TEST_CASE("dns: dnsmasq two-step CNAME chain with compressed targets")
{
    const auto a = parse_dns_message(load_dns("dns_cname_chain_a.bin"));
    REQUIRE_MESSAGE(a.ok(), a.error);
    const auto res = resolve_first_question(a.message);
    REQUIRE(res);
    CHECK(res->question == "edge.paste.example");
    CHECK(res->cnames == Strings{"cdn.paste.example", "paste.example"});
    CHECK(res->resolved_ips == Strings{"127.0.0.9"});

    const auto aaaa = parse_dns_message(load_dns("dns_cname_chain_aaaa.bin"));
    REQUIRE(aaaa.ok());
    const auto res6 = resolve_first_question(aaaa.message);
    CHECK(res6->cnames == Strings{"cdn.paste.example", "paste.example"});
    CHECK(res6->resolved_ips == Strings{"::9"});
}

TEST_CASE("dns: REFUSED response and a query")
{
    const auto refused = parse_dns_message(load_dns("dns_refused.bin"));
    REQUIRE(refused.ok());
    CHECK(refused.message.rcode == 5);
    CHECK(refused.message.answers.empty());
    const auto res = resolve_first_question(refused.message);
    REQUIRE(res);
    CHECK(res->question == "nothere.example");
    CHECK(res->resolved_ips.empty());

    const auto query = parse_dns_message(load_dns("dns_query_a.bin"));
    REQUIRE(query.ok());
    CHECK_FALSE(query.message.response);
    CHECK(query.message.id == 0x8888);
    CHECK_FALSE(resolve_first_question(query.message));
}

TEST_CASE("dns: DNS over TCP, whole and in pieces")
{
    const Bytes stream = load_dns("dns_tcp_cname.bin");
    const auto r = parse_dns_tcp(stream);
    REQUIRE_MESSAGE(r.ok(), r.error);
    CHECK(r.consumed == stream.size());
    CHECK(r.message.id == 0x7777);
    CHECK(resolve_first_question(r.message)->cnames == Strings{"pastebin.com"});
    for (std::size_t n = 0; n < stream.size(); ++n) {
        const auto part = parse_dns_tcp(std::span(stream).first(n));
        CAPTURE(n);
        CHECK(part.status == DnsStatus::incomplete);
        CHECK(part.needed == (n < 2 ? 2 : stream.size()));
    }
    Bytes two = stream;
    two.insert(two.end(), stream.begin(), stream.end());
    CHECK(parse_dns_tcp(two).consumed == stream.size());
    CHECK(parse_dns_tcp(Bytes{std::byte{0}, std::byte{3}, std::byte{1}, std::byte{2}, std::byte{3}}).status ==
          DnsStatus::malformed);
}

TEST_CASE("dns: every truncation of a real response is malformed")
{
    for (const char* file : {"dns_a_pastebin.bin", "dns_aaaa_v6_example.bin", "dns_cname_edns.bin",
                             "dns_cname_chain_a.bin", "dns_cname_chain_aaaa.bin", "dns_refused.bin"}) {
        CAPTURE(file);
        const Bytes full = load_dns(file);
        for (std::size_t n = 0; n < full.size(); ++n) {
            CAPTURE(n);
            const auto r = parse_dns_message(std::span(full).first(n));
            CHECK(r.status == DnsStatus::malformed);
            CHECK_FALSE(r.error.empty());
        }
    }
}

TEST_CASE("dns: RFC 1035 section 4.1.4 compression example")
{
    // F.ISI.ARPA at offset 20, FOO.F.ISI.ARPA with a pointer to 20, ARPA as a pointer to 26,
    // and the root, as in the RFC's figure (the RFC's offsets 20 and 26 are kept exactly).
    Msg m;
    m.header(5, 0, 0, 0, 0x0100);
    m.name("ab").question_tail();  // 12..19
    CHECK(m.size() == 20);
    m.label("F").label("ISI").label("ARPA").u8(0);  // 20..31; "ARPA" at 26
    m.question_tail();
    m.label("FOO").pointer(20).question_tail();
    m.pointer(26).question_tail();
    m.u8(0).question_tail();
    const auto r = parse_dns_message(m.b);
    REQUIRE_MESSAGE(r.ok(), r.error);
    REQUIRE(r.message.questions.size() == 5);
    CHECK(r.message.questions[1].name == "f.isi.arpa");
    CHECK(r.message.questions[2].name == "foo.f.isi.arpa");
    CHECK(r.message.questions[3].name == "arpa");
    CHECK(r.message.questions[4].name == ".");
}

TEST_CASE("dns: compression loops and stray pointers are malformed")
{
    auto status_of = [](const Msg& m) { return parse_dns_message(m.b).status; };
    {
        Msg self;  // a pointer to itself
        self.header(1, 0).pointer(12).question_tail();
        CHECK(status_of(self) == DnsStatus::malformed);
    }
    {
        Msg forward;  // a pointer forward to a valid name
        forward.header(2, 0).pointer(18).question_tail().name("a.example").question_tail();
        CHECK(status_of(forward) == DnsStatus::malformed);
    }
    {
        Msg into_header;
        into_header.header(1, 0).pointer(4).question_tail();
        CHECK(status_of(into_header) == DnsStatus::malformed);
    }
    {
        Msg out_of_range;
        out_of_range.header(1, 0).pointer(0x3fff).question_tail();
        CHECK(status_of(out_of_range) == DnsStatus::malformed);
    }
    {
        // Two names pointing at each other: 12 "a" -> 20, 20 "b" -> 12. The second pointer is
        // backward, but into the run that led to it.
        Msg mutual;
        mutual.header(2, 0).label("a").pointer(20).question_tail();  // 12..19
        mutual.label("b").pointer(12).question_tail();
        CHECK(status_of(mutual) == DnsStatus::malformed);
    }
    {
        // Backward pointer into the same name's own labels.
        Msg own;
        own.header(1, 0).label("a").label("b").pointer(14).question_tail();
        CHECK(status_of(own) == DnsStatus::malformed);
    }
    {
        Msg label_type;  // 0x40 extended label type
        label_type.header(1, 0).u8(0x41).u8('x').u8(0).question_tail();
        CHECK(status_of(label_type) == DnsStatus::malformed);
    }
}

TEST_CASE("dns: pointer chains are bounded")
{
    // Opaque rdata of an unknown type holds a root label then a chain of pointers, each to the
    // previous one; a CNAME then points at the chain's last link.
    auto build = [](unsigned links) {
        Msg m;
        m.header(1, 2).name("q.example").question_tail();  // 12..26 (name 12..22)
        const unsigned chain_bytes = 1 + 2 * links;
        m.pointer(12).rr_tail(0xff00, chain_bytes);
        const unsigned root = static_cast<unsigned>(m.size());
        m.u8(0);
        for (unsigned i = 0; i < links; ++i) m.pointer(i == 0 ? root : root + 1 + 2 * (i - 1));
        const unsigned last = root + 1 + 2 * (links - 1);
        m.pointer(12).rr_tail(dns_type::cname, 2).pointer(last);
        return m;
    };
    const auto ok = parse_dns_message(build(60).b);
    REQUIRE_MESSAGE(ok.ok(), ok.error);
    CHECK(ok.message.answers.at(1).data == ".");
    CHECK(parse_dns_message(build(70).b).status == DnsStatus::malformed);
}

TEST_CASE("dns: name length limit and label escaping")
{
    const std::string l63(63, 'a');
    {
        Msg at_limit;  // 3*64 + 62 + 1 = 255 bytes on the wire
        at_limit.header(1, 0).label(l63).label(l63).label(l63).label(std::string(61, 'b')).u8(0).question_tail();
        const auto r = parse_dns_message(at_limit.b);
        REQUIRE(r.ok());
        CHECK(r.message.questions[0].name.size() == 253);
    }
    {
        Msg over;
        over.header(1, 0).label(l63).label(l63).label(l63).label(std::string(62, 'b')).u8(0).question_tail();
        CHECK(parse_dns_message(over.b).status == DnsStatus::malformed);
    }
    {
        // Compression cannot be used to grow a name past 255 either.
        Msg via_pointer;
        via_pointer.header(2, 0).label(l63).label(l63).label(l63).u8(0).question_tail();
        via_pointer.label(std::string(62, 'c')).pointer(12).question_tail();
        CHECK(parse_dns_message(via_pointer.b).status == DnsStatus::malformed);
    }
    {
        Msg tricky;
        tricky.header(1, 0)
            .label("pastebin.com")
            .label("Evil\\X")
            .u8(0x06)
            .u8('a')
            .u8(0)
            .u8(0xff)
            .u8(' ')
            .u8('z')
            .u8('z');
        tricky.u8(0).question_tail();
        const auto r = parse_dns_message(tricky.b);
        REQUIRE_MESSAGE(r.ok(), r.error);
        CHECK(r.message.questions[0].name == "pastebin\\.com.evil\\\\x.a\\000\\255\\032zz");
    }
}

TEST_CASE("dns: record data checks")
{
    {
        Msg short_a;
        short_a.header(1, 1).name("x.example").question_tail().pointer(12).rr_tail(dns_type::a, 5);
        short_a.u32(0x7f000001).u8(0);
        CHECK(parse_dns_message(short_a.b).status == DnsStatus::malformed);
    }
    {
        Msg cname_junk;  // CNAME rdata longer than its name
        cname_junk.header(1, 1).name("x.example").question_tail().pointer(12).rr_tail(dns_type::cname, 4);
        cname_junk.pointer(12).u16(0);
        CHECK(parse_dns_message(cname_junk.b).status == DnsStatus::malformed);
    }
    {
        Msg cname_overrun;  // CNAME name running past its rdata
        cname_overrun.header(1, 1).name("x.example").question_tail().pointer(12).rr_tail(dns_type::cname, 3);
        cname_overrun.label("abc").u8(0);
        CHECK(parse_dns_message(cname_overrun.b).status == DnsStatus::malformed);
    }
    {
        Msg opt_in_answer;
        opt_in_answer.header(1, 1).name("x.example").question_tail().u8(0).rr_tail(dns_type::opt, 0, 1232);
        CHECK(parse_dns_message(opt_in_answer.b).status == DnsStatus::malformed);
    }
    {
        Msg chaos_a;  // an A record outside class IN is kept without data
        chaos_a.header(1, 1).name("x.example").question_tail().pointer(12).rr_tail(dns_type::a, 4, 3).u32(1);
        const auto r = parse_dns_message(chaos_a.b);
        REQUIRE(r.ok());
        CHECK(r.message.answers[0].data.empty());
        CHECK(resolve_first_question(r.message)->resolved_ips.empty());
    }
    CHECK(parse_dns_message(Bytes(11)).status == DnsStatus::malformed);
    Msg counts_lie;  // header claims 65535 answers
    counts_lie.header(0, 0xffff);
    CHECK(parse_dns_message(counts_lie.b).status == DnsStatus::malformed);
}

TEST_CASE("dns: a CNAME loop in the answers ends the chain")
{
    Msg m;
    m.header(1, 3).name("a.example").question_tail();  // name at 12
    m.pointer(12).rr_tail(dns_type::cname, 11).name("b.example");
    const unsigned b_at = 12 + 15 + 12;
    m.u16(0xc000 | b_at).rr_tail(dns_type::cname, 2).pointer(12);
    m.u16(0xc000 | b_at).rr_tail(dns_type::a, 4).u32(0x0a000001);
    const auto r = parse_dns_message(m.b);
    REQUIRE_MESSAGE(r.ok(), r.error);
    const auto res = resolve_first_question(r.message);
    CHECK(res->cnames == Strings{"b.example"});
    CHECK(res->resolved_ips == Strings{"10.0.0.1"});
}
