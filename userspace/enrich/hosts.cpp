// enrich: naming a flow from the hosts file (see hosts.hpp).
#include "enrich/hosts.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <optional>

#include "util/text.hpp"

namespace exfilwatch::enrich {
namespace {

using Address = std::array<unsigned char, 16>;

std::optional<Address> parse_address(std::string_view text)
{
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buffer[INET6_ADDRSTRLEN] = {};
    std::memcpy(buffer, text.data(), text.size());
    Address out{};
    in_addr v4{};
    if (inet_pton(AF_INET, buffer, &v4) == 1) {  // as ::ffff:a.b.c.d, so both spellings compare
        out[10] = out[11] = 0xff;
        std::memcpy(out.data() + 12, &v4, 4);
        return out;
    }
    if (inet_pton(AF_INET6, buffer, out.data()) == 1) return out;
    return std::nullopt;
}

bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

bool host_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

bool loopback_alias(std::string_view name)
{
    return name == "localhost" || name.rfind("localhost.", 0) == 0 || name.rfind("ip6-", 0) == 0;
}

// Does `name` appear in argv as a whole host token (URL host, host:port, user@host, bare)?
bool named_in_args(std::string_view name, const std::vector<std::string>& args)
{
    for (std::size_t i = 1; i < args.size(); ++i) {
        std::string arg = util::to_lower(args[i]);
        for (std::size_t at = arg.find(name); at != std::string::npos; at = arg.find(name, at + 1)) {
            bool left = at == 0 || !host_char(arg[at - 1]);
            std::size_t end = at + name.size();
            bool right = end == arg.size() || !host_char(arg[end]) ||
                         (arg[end] == '.' && (end + 1 == arg.size() || !host_char(arg[end + 1])));
            if (left && right) return true;
        }
    }
    return false;
}

bool dns_name(std::string_view s)
{
    if (s.size() < 4 || s.size() > 253 || s.front() == '.' || s.back() == '.' || s.front() == '-') return false;
    auto dot = s.rfind('.');
    if (dot == std::string_view::npos) return false;
    auto top = s.substr(dot + 1);
    if (top.size() < 2 ||
        !std::all_of(top.begin(), top.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); }))
        return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
        if (c == '.' && s[i + 1] == '.') return false;
    }
    return true;
}

std::optional<std::uint16_t> port_number(std::string_view s)
{
    if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    unsigned value = 0;
    for (char c : s) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value == 0 || value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

}  // namespace

std::string argv_name(const std::vector<std::string>& args, std::uint16_t port)
{
    auto accept = [&](std::string_view host, std::optional<std::uint16_t> at) {
        return dns_name(host) && at && *at == port;
    };
    for (std::size_t i = 1; i < args.size(); ++i) {
        std::string_view a = args[i];
        // scheme://[user@]HOST[:PORT][/...]
        if (auto scheme_end = a.find("://"); scheme_end != std::string_view::npos) {
            auto scheme = util::to_lower(a.substr(0, scheme_end));
            auto rest = a.substr(scheme_end + 3);
            rest = rest.substr(0, rest.find_first_of("/?#"));
            if (auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
            auto colon = rest.find(':');
            auto host = rest.substr(0, colon);
            std::optional<std::uint16_t> p;
            if (colon != std::string_view::npos) p = port_number(rest.substr(colon + 1));
            else if (scheme == "https" || scheme == "wss")
                p = 443;
            else if (scheme == "http" || scheme == "ws")
                p = 80;
            if (accept(host, p)) return util::to_lower(host);
            continue;
        }
        // [PROTO:]HOST:PORT[,options] (host:port, socat's TCP:host:port)
        auto plain = a.substr(0, a.find(','));
        if (auto colon = plain.rfind(':'); colon != std::string_view::npos) {
            auto before = plain.substr(0, colon);
            auto host = before.substr(before.rfind(':') == std::string_view::npos ? 0 : before.rfind(':') + 1);
            if (auto at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
            if (accept(host, port_number(plain.substr(colon + 1)))) return util::to_lower(host);
            continue;
        }
        // user@HOST (ssh, scp): port 22
        if (auto at = a.rfind('@'); at != std::string_view::npos && accept(a.substr(at + 1), std::uint16_t{22}))
            return util::to_lower(a.substr(at + 1));
        // HOST PORT (nc, ncat, telnet)
        if (i + 1 < args.size() && accept(a, port_number(args[i + 1]))) return util::to_lower(a);
    }
    return {};
}

std::string hosts_name(std::string_view hosts_text, std::string_view ip, const std::vector<std::string>& args)
{
    auto wanted = parse_address(ip);
    if (!wanted) return {};
    hosts_text = hosts_text.substr(0, hosts_file_max);
    std::string fallback;
    std::size_t start = 0;
    while (start < hosts_text.size()) {
        auto newline = hosts_text.find('\n', start);
        auto line =
            hosts_text.substr(start, newline == std::string_view::npos ? std::string_view::npos : newline - start);
        start = newline == std::string_view::npos ? hosts_text.size() : newline + 1;
        line = line.substr(0, line.find('#'));
        std::vector<std::string_view> fields;
        std::size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && is_space(line[i])) ++i;
            std::size_t j = i;
            while (j < line.size() && !is_space(line[j])) ++j;
            if (j > i) fields.push_back(line.substr(i, j - i));
            i = j;
        }
        if (fields.size() < 2) continue;
        auto address = parse_address(fields[0]);
        if (!address || *address != *wanted) continue;
        for (std::size_t f = 1; f < fields.size(); ++f) {
            if (!std::all_of(fields[f].begin(), fields[f].end(), host_char) || fields[f].size() > 253) continue;
            std::string name = util::to_lower(fields[f]);
            if (named_in_args(name, args)) return name;
            if (fallback.empty() && !loopback_alias(name)) fallback = name;
        }
    }
    return fallback;
}

}  // namespace exfilwatch::enrich
