// enrich: DNS message parser. Names are decoded with compression-loop protection: every pointer
// must point before the start of the label run that holds it, and jumps are counted.
#include "enrich/dns.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>

#include "util/bytes.hpp"

namespace exfilwatch::enrich {
namespace {

using util::byte_at;
using util::ByteReader;

constexpr std::size_t header_bytes = 12;
constexpr std::uint16_t class_in = 1;

DnsResult fail(std::string error)
{
    DnsResult result;
    result.status = DnsStatus::malformed;
    result.error = std::move(error);
    return result;
}

void append_label(std::string& name, std::span<const std::byte> label)
{
    if (!name.empty()) {
        name.push_back('.');
    }
    for (std::byte b : label) {
        const auto c = static_cast<unsigned char>(b);
        if (c >= 'A' && c <= 'Z') {
            name.push_back(static_cast<char>(c - 'A' + 'a'));
        } else if (c == '.' || c == '\\') {
            name.push_back('\\');
            name.push_back(static_cast<char>(c));
        } else if (c < 0x21 || c > 0x7e) {
            name.push_back('\\');
            name.push_back(static_cast<char>('0' + c / 100));
            name.push_back(static_cast<char>('0' + c / 10 % 10));
            name.push_back(static_cast<char>('0' + c % 10));
        } else {
            name.push_back(static_cast<char>(c));
        }
    }
}

// Reads the (possibly compressed) name at `start`. Its uncompressed head must lie before
// `limit`; `end` receives the offset just after the name as written at `start`.
std::string read_name(std::span<const std::byte> msg, std::size_t start, std::size_t limit, std::string& name,
                      std::size_t& end)
{
    name.clear();
    std::size_t pos = start;
    std::size_t run_start = start;  // first byte of the label run being read
    std::size_t region_end = limit;
    std::size_t wire_bytes = 1;  // the terminating root label
    std::size_t jumps = 0;
    bool jumped = false;
    while (true) {
        if (pos >= region_end) {
            return "name runs past the end of its section";
        }
        const std::uint8_t length = byte_at(msg, pos);
        if ((length & 0xc0) == 0xc0) {
            if (pos + 1 >= region_end) {
                return "compression pointer cut short";
            }
            const std::size_t target = (static_cast<std::size_t>(length & 0x3f) << 8) | byte_at(msg, pos + 1);
            if (!jumped) {
                end = pos + 2;
            }
            // Strictly decreasing targets cannot loop; the jump cap bounds the work further.
            if (target < header_bytes || target >= run_start) {
                return "compression pointer does not point backward into the message";
            }
            if (++jumps > max_dns_pointer_jumps) {
                return "too many compression pointers";
            }
            jumped = true;
            run_start = target;
            pos = target;
            region_end = msg.size();
            continue;
        }
        if ((length & 0xc0) != 0) {
            return "unsupported label type";
        }
        if (length == 0) {
            if (!jumped) {
                end = pos + 1;
            }
            break;
        }
        wire_bytes += 1 + length;
        if (wire_bytes > max_dns_name_bytes) {
            return "name longer than 255 bytes";
        }
        if (pos + 1 + length > region_end) {
            return "label runs past the end of its section";
        }
        append_label(name, msg.subspan(pos + 1, length));
        pos += 1 + length;
    }
    if (name.empty()) {
        name = ".";
    }
    return {};
}

std::string format_ip(int family, std::span<const std::byte> raw)
{
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (inet_ntop(family, raw.data(), text.data(), text.size()) == nullptr) {
        return {};
    }
    return text.data();
}

enum class Section { answer, authority, additional };

// One resource record at r.pos(); fills `record` and advances r.
std::string read_record(std::span<const std::byte> msg, ByteReader& r, Section section, DnsRecord& record,
                        DnsMessage& message)
{
    std::size_t end = 0;
    if (auto error = read_name(msg, r.pos(), msg.size(), record.name, end); !error.empty()) {
        return error;
    }
    ByteReader fixed(msg, end);
    record.type = fixed.u16();
    record.klass = fixed.u16();
    record.ttl = fixed.u32();
    const std::size_t rdata_bytes = fixed.u16();
    const std::size_t rdata_start = fixed.pos();
    const auto rdata = fixed.bytes(rdata_bytes);
    if (!fixed.ok()) {
        return "resource record runs past the end of the message";
    }
    r = fixed;
    record.data.clear();
    if (record.type == dns_type::opt) {
        if (section != Section::additional || record.name != "." || message.edns_udp_size) {
            return "OPT record outside the additional section, with a name, or twice";
        }
        message.edns_udp_size = record.klass;
        return {};
    }
    if (record.klass == class_in && record.type == dns_type::a) {
        if (rdata.size() != 4) {
            return "A record data is not 4 bytes";
        }
        record.data = format_ip(AF_INET, rdata);
    } else if (record.klass == class_in && record.type == dns_type::aaaa) {
        if (rdata.size() != 16) {
            return "AAAA record data is not 16 bytes";
        }
        record.data = format_ip(AF_INET6, rdata);
    } else if (record.type == dns_type::cname) {
        std::size_t name_end = 0;
        if (auto error = read_name(msg, rdata_start, rdata_start + rdata_bytes, record.data, name_end);
            !error.empty()) {
            return "CNAME data: " + error;
        }
        if (name_end != rdata_start + rdata_bytes) {
            return "CNAME data has bytes after the name";
        }
    }
    return {};
}

}  // namespace

DnsResult parse_dns_message(std::span<const std::byte> msg)
{
    if (msg.size() < header_bytes) {
        return fail("shorter than a DNS header");
    }
    DnsResult result;
    DnsMessage& m = result.message;
    ByteReader r(msg);
    m.id = r.u16();
    m.flags = r.u16();
    m.response = (m.flags & 0x8000) != 0;
    m.opcode = static_cast<std::uint8_t>((m.flags >> 11) & 0xf);
    m.truncated = (m.flags & 0x0200) != 0;
    m.rcode = static_cast<std::uint8_t>(m.flags & 0xf);
    const std::size_t question_count = r.u16();
    const std::size_t answer_count = r.u16();
    const std::size_t authority_count = r.u16();
    const std::size_t additional_count = r.u16();

    // Each entry consumes at least 5 (question) or 11 (record) bytes, so these loops are bounded
    // by the message size, whatever the counts claim.
    for (std::size_t i = 0; i < question_count; ++i) {
        DnsQuestion q;
        std::size_t end = 0;
        if (auto error = read_name(msg, r.pos(), msg.size(), q.name, end); !error.empty()) {
            return fail("question " + std::to_string(i) + ": " + error);
        }
        r = ByteReader(msg, end);
        q.type = r.u16();
        q.klass = r.u16();
        if (!r.ok()) {
            return fail("question runs past the end of the message");
        }
        m.questions.push_back(std::move(q));
    }
    const std::array<std::pair<Section, std::size_t>, 3> sections{{{Section::answer, answer_count},
                                                                   {Section::authority, authority_count},
                                                                   {Section::additional, additional_count}}};
    for (const auto& [section, count] : sections) {
        for (std::size_t i = 0; i < count; ++i) {
            DnsRecord record;
            if (auto error = read_record(msg, r, section, record, m); !error.empty()) {
                return fail(error);
            }
            if (section == Section::answer) {
                m.answers.push_back(std::move(record));
            }
        }
    }
    m.authority_count = authority_count;
    m.additional_count = additional_count;
    result.status = DnsStatus::ok;
    result.consumed = r.pos();
    return result;
}

DnsResult parse_dns_tcp(std::span<const std::byte> stream)
{
    if (stream.size() < 2) {
        DnsResult result;
        result.status = DnsStatus::incomplete;
        result.needed = 2;
        return result;
    }
    const std::size_t length = util::be16_at(stream, 0);
    if (length < header_bytes) {
        return fail("DNS-over-TCP length prefix smaller than a DNS header");
    }
    if (stream.size() < 2 + length) {
        DnsResult result;
        result.status = DnsStatus::incomplete;
        result.needed = 2 + length;
        return result;
    }
    DnsResult result = parse_dns_message(stream.subspan(2, length));
    if (result.ok()) {
        result.consumed = 2 + length;
    }
    return result;
}

std::optional<DnsResolution> resolve_first_question(const DnsMessage& message)
{
    if (!message.response || message.questions.empty()) {
        return std::nullopt;
    }
    DnsResolution out;
    out.question = message.questions.front().name;
    out.question_type = message.questions.front().type;
    auto on_chain = [&out](const std::string& name) {
        return name == out.question || std::find(out.cnames.begin(), out.cnames.end(), name) != out.cnames.end();
    };
    // Follow CNAMEs from the question; at most one step per answer, and never back onto the chain.
    std::string current = out.question;
    for (std::size_t step = 0; step < message.answers.size(); ++step) {
        auto next = std::find_if(message.answers.begin(), message.answers.end(),
                                 [&](const DnsRecord& rr) { return rr.type == dns_type::cname && rr.name == current; });
        if (next == message.answers.end() || on_chain(next->data)) {
            break;
        }
        out.cnames.push_back(next->data);
        current = next->data;
    }
    for (const auto& rr : message.answers) {
        if ((rr.type == dns_type::a || rr.type == dns_type::aaaa) && !rr.data.empty() && on_chain(rr.name) &&
            std::find(out.resolved_ips.begin(), out.resolved_ips.end(), rr.data) == out.resolved_ips.end()) {
            out.resolved_ips.push_back(rr.data);
        }
    }
    return out;
}

const char* to_string(DnsStatus status)
{
    switch (status) {
    case DnsStatus::ok: return "ok";
    case DnsStatus::incomplete: return "incomplete";
    case DnsStatus::malformed: return "malformed";
    }
    return "unknown";
}

}  // namespace exfilwatch::enrich
