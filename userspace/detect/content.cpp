// detect: fingerprints of sensitive bytes and the scan of plaintext against them (content.hpp).
#include "detect/content.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "util/text.hpp"

namespace exfilwatch::detect {

namespace {

bool token_char(unsigned char c)
{
    return std::isalnum(c) != 0 || c == '+' || c == '/' || c == '=' || c == '_' || c == '-' || c == '.' || c == '~';
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '"' || s.front() == '\''))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '"' ||
                          s.back() == '\'' || s.back() == ',' || s.back() == ';'))
        s.remove_suffix(1);
    return s;
}

bool has_digit(std::string_view s)
{
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

std::string base64(std::string_view in, bool url)
{
    const char* alphabet = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                               : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i + 3 <= in.size(); i += 3) {  // whole groups only
        std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                          static_cast<unsigned char>(in[i + 2]);
        for (int shift = 18; shift >= 0; shift -= 6) out += alphabet[(v >> shift) & 0x3f];
    }
    return out;
}

std::uint64_t rotl(std::uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

// SipHash-2-4 (Aumasson and Bernstein): a keyed hash, so a fingerprint says nothing of its token
// without the run's key.
std::uint64_t siphash(const std::array<std::uint64_t, 2>& key, const unsigned char* in, std::size_t size)
{
    std::uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
    std::uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
    auto round = [&] {
        v0 += v1;
        v1 = rotl(v1, 13);
        v1 ^= v0;
        v0 = rotl(v0, 32);
        v2 += v3;
        v3 = rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotl(v1, 17);
        v1 ^= v2;
        v2 = rotl(v2, 32);
    };
    std::size_t whole = size - size % 8;
    for (std::size_t i = 0; i < whole; i += 8) {
        std::uint64_t m = 0;
        std::memcpy(&m, in + i, 8);
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
    std::uint64_t last = static_cast<std::uint64_t>(size) << 56;
    for (std::size_t i = 0; i < size % 8; ++i) last |= static_cast<std::uint64_t>(in[whole + i]) << (8 * i);
    v3 ^= last;
    round();
    round();
    v0 ^= last;
    v2 ^= 0xff;
    round();
    round();
    round();
    round();
    return v0 ^ v1 ^ v2 ^ v3;
}

const std::array<std::string_view, 5> encodings = {"raw", "base64", "base64url", "hex", "url"};

std::uint8_t encoding_index(std::string_view name)
{
    const auto* it = std::find(encodings.begin(), encodings.end(), name);
    return static_cast<std::uint8_t>(it - encodings.begin());
}

}  // namespace

namespace {

// A setting whose value is a key that signs (see token_facts): its name, squeezed of - _ . and
// lower case, names a secret access key, a private key, an account key or a client key's data;
// not a key's id (private_key_id travels as a JWT's kid). A bare "secret_key" is not enough: a
// Stripe secret key is sent as a bearer token.
bool signing_setting(std::string_view name)
{
    std::string squeezed;
    for (char c : trim(name))
        if (c != '-' && c != '_' && c != '.' && c != '"' && c != ' ') squeezed += static_cast<char>(std::tolower(c));
    static constexpr std::string_view signing[] = {"secretaccesskey", "privatekey", "accountkey", "clientkeydata"};
    return !squeezed.ends_with("id") && std::any_of(std::begin(signing), std::end(signing), [&](std::string_view w) {
        return squeezed.find(w) != std::string::npos;
    });
}

// A host name as a credential file writes one (`github.com`, `"ghcr.io"`, a URL's host, with or
// without a port), lower case; empty when `text` is not one (a label run with a dot, its last
// label letters: not an address, a key name or a version).
std::string host_of(std::string_view text)
{
    text = trim(text);
    if (auto scheme = text.find("://"); scheme != std::string_view::npos) text.remove_prefix(scheme + 3);
    if (text.starts_with("//")) text.remove_prefix(2);
    if (auto at = text.find('@'); at != std::string_view::npos) text.remove_prefix(at + 1);
    text = text.substr(0, std::min(text.find_first_of(":/"), text.size()));
    if (text.size() < 4 || text.size() > 253 || text.front() == '.' || text.front() == '-' || text.back() == '.')
        return {};
    auto last = text.rfind('.');
    if (last == std::string_view::npos || text.size() - last - 1 < 2) return {};
    for (std::size_t i = 0; i < text.size(); ++i) {
        unsigned char c = text[i];
        bool label = std::isalnum(c) != 0 || c == '-' || c == '.';
        if (!label || (i > last && std::isalpha(c) == 0)) return {};
    }
    return util::to_lower(text);
}

// What the lines so far say of the next: inside a private key's block, the host the section is
// keyed by, netrc's machine.
struct TokenContext {
    bool private_block = false;  // between a PEM or OpenSSH private key's BEGIN and END lines
    std::string section, machine;

    void enter(std::string_view line)
    {
        if (line.starts_with("-----BEGIN ") && line.find("PRIVATE KEY") != std::string_view::npos) private_block = true;
        if (line.starts_with("-----END ")) private_block = false;
        // netrc: "machine HOST" holds until the next machine (or default).
        if (const auto words = trim(line); words.starts_with("machine ")) {
            const auto rest = trim(words.substr(8));
            machine = host_of(rest.substr(0, rest.find_first_of(" \t")));
        } else if (words.starts_with("default")) {
            machine.clear();
        }
    }
    // A section keyed by a host (nothing, or an object's brace, after it) starts; a line at the
    // start of another top-level key ends it.
    void key_line(std::string_view line, std::string_view key, std::string_view value)
    {
        if (auto keyed = host_of(key); !keyed.empty() && (value.empty() || value == "{")) {
            section = keyed;
        } else if (!line.empty() && line.front() != ' ' && line.front() != '\t') {
            section.clear();
        }
    }
    std::string host() const { return machine.empty() ? section : machine; }
};

// Runs of token characters with a digit (PEM body lines, tokens written bare; a signing
// setting's value cut at escapes, as a service account's "private_key": "...\n..."): those
// after `signing_from` sign, all of them in a private key's block. False once `add` says stop.
template <typename Add>
bool add_runs(std::string_view line, std::size_t signing_from, bool block, const std::string& host, Add& add)
{
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && !token_char(static_cast<unsigned char>(line[i]))) ++i;
        const std::size_t start = i;
        while (i < line.size() && token_char(static_cast<unsigned char>(line[i]))) ++i;
        auto run = line.substr(start, i - start);
        const bool signs = block || (signing_from != std::string_view::npos && start > signing_from);
        if (!run.empty() && run.front() != '/' && has_digit(run) && !add(run, signs, host)) return false;
    }
    return true;
}

// secret_tokens and token_facts: one parse, each token found with whether it signs and the host
// its line is for: a URL's host beside its userinfo (https://user:TOKEN@host), an npmrc key's
// (//registry.npmjs.org/:_authToken=TOKEN), netrc's machine, or the host a section is keyed by
// (gh's hosts.yml "github.com:", a docker config's "ghcr.io": {).
template <typename Add>
void parse_tokens(std::string_view text, Add add)
{
    TokenContext context;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        auto line = text.substr(pos, end - pos);
        pos = end + 1;
        context.enter(line);
        std::size_t signing_from = std::string_view::npos;
        std::string host = context.host();
        // key = value, key: value (YAML, INI, .env, netrc-like "password VALUE" is caught below)
        // (An npmrc key holds a colon: //registry.npmjs.org/:_authToken=VALUE.)
        auto sep = trim(line).starts_with("//") ? line.find('=') : line.find_first_of("=:");
        if (sep != std::string_view::npos && sep > 0 && line.find("://") != sep) {
            const auto key = line.substr(0, sep);
            auto value = trim(line.substr(sep + 1));
            context.key_line(line, key, value);
            if (signing_setting(key)) signing_from = sep;
            host = trim(key).starts_with("//") ? host_of(key) : context.host();  // npmrc's, else the section's
            // Not a path (a CA bundle, a key file named by a config): what it names is not secret.
            bool path = !value.empty() && (value.front() == '/' || value.front() == '~' || value.front() == '.');
            if (!value.empty() && !path && value.find(' ') == std::string_view::npos &&
                !add(value, signing_from != std::string_view::npos || context.private_block, host))
                return;
        }
        // https://user:TOKEN@host
        if (auto scheme = line.find("://"); scheme != std::string_view::npos) {
            auto at = line.find('@', scheme);
            auto colon = line.find(':', scheme + 3);
            if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
                if (auto url_host = host_of(line.substr(at + 1)); !url_host.empty()) host = url_host;
                if (!add(line.substr(colon + 1, at - colon - 1), false, host)) return;
            }
        }
        if (!add_runs(line, signing_from, context.private_block, host, add)) return;
    }
}

}  // namespace

std::vector<std::string> secret_tokens(std::string_view text, std::size_t min_length, std::size_t max_tokens)
{
    std::vector<std::string> out;
    parse_tokens(text, [&](std::string_view token, bool, const std::string&) {
        if (token.size() >= min_length && std::find(out.begin(), out.end(), token) == out.end())
            out.emplace_back(token);
        return out.size() < max_tokens;
    });
    return out;
}

std::map<std::string, TokenFacts> token_facts(std::string_view text, std::size_t min_length)
{
    std::map<std::string, TokenFacts> out;
    std::size_t seen = 0;  // the tokens secret_tokens would keep, at most its default 256
    parse_tokens(text, [&](std::string_view token, bool signing, const std::string& host) {
        if (token.size() < min_length) return true;
        auto& facts = out[std::string(token)];
        facts.signing = facts.signing || signing;
        if (!host.empty() && facts.hosts.size() < TokenFacts::max_hosts &&
            std::find(facts.hosts.begin(), facts.hosts.end(), host) == facts.hosts.end())
            facts.hosts.push_back(host);
        return ++seen < 256;
    });
    return out;
}

namespace {

// The site of a host: its last two labels, three under a two-letter country code whose second
// level is short (example.co.uk): api.github.com and github.com are one site, auth.docker.io and
// index.docker.io too.
std::string_view site_of(std::string_view host)
{
    auto last = host.rfind('.');
    if (last == std::string_view::npos || last == 0) return host;
    auto second = host.rfind('.', last - 1);
    if (second == std::string_view::npos) return host;
    if (host.size() - last - 1 == 2 && last - second - 1 <= 3) {
        auto third = host.rfind('.', second - 1);
        return third == std::string_view::npos || second == 0 ? host : host.substr(third + 1);
    }
    return host.substr(second + 1);
}

}  // namespace

bool same_site(std::string_view a, std::string_view b)
{
    return !a.empty() && !b.empty() && site_of(a) == site_of(b);
}

std::vector<TokenForm> token_forms(std::string_view token)
{
    std::vector<TokenForm> forms;
    forms.push_back({"raw", std::string(token)});
    for (std::size_t skip = 0; skip < 3 && skip < token.size(); ++skip) {
        auto tail = token.substr(skip);
        forms.push_back({"base64", base64(tail, false)});
        auto url = base64(tail, true);
        if (url != forms.back().text) forms.push_back({"base64url", url});
    }
    static const char* lower = "0123456789abcdef";
    static const char* upper = "0123456789ABCDEF";
    std::string hex_lower, hex_upper, percent;
    for (unsigned char c : token) {
        hex_lower += lower[c >> 4];
        hex_lower += lower[c & 0xf];
        hex_upper += upper[c >> 4];
        hex_upper += upper[c & 0xf];
        if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
            percent += static_cast<char>(c);
        } else {
            percent += '%';
            percent += upper[c >> 4];
            percent += upper[c & 0xf];
        }
    }
    forms.push_back({"hex", hex_lower});
    if (hex_upper != hex_lower) forms.push_back({"hex", hex_upper});
    if (percent != token) forms.push_back({"url", percent});
    return forms;
}

bool is_auth_header(std::string_view name)
{
    static constexpr std::array<std::string_view, 12> names = {"authorization",
                                                               "proxy-authorization",
                                                               "cookie",
                                                               "x-api-key",
                                                               "api-key",
                                                               "private-token",
                                                               "x-auth-token",
                                                               "x-access-token",
                                                               "x-amz-security-token",
                                                               "x-goog-api-key",
                                                               "x-github-token",
                                                               "x-vault-token"};
    return std::find(names.begin(), names.end(), name) != names.end();
}

HttpLayout http_layout(std::span<const std::byte> data)
{
    HttpLayout layout;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const std::size_t n = data.size();
    auto body_from = [&](std::size_t at) {
        layout.body_begin = at;
        if (at < n) layout.regions.push_back({HttpRegion::Kind::body, at, n, {}});
    };
    // A request line: METHOD SP target SP HTTP/x.y CRLF, METHOD upper-case letters.
    std::size_t i = 0;
    while (i < n && i < 24 && p[i] >= 'A' && p[i] <= 'Z') ++i;
    std::size_t eol = 0;
    while (eol < n && p[eol] != '\n') ++eol;
    bool request = i > 0 && i < n && p[i] == ' ' && eol < n && eol >= 9 &&
                   std::memcmp(p + (p[eol - 1] == '\r' ? eol - 9 : eol - 8), "HTTP/", 5) == 0;
    if (!request) {
        body_from(0);
        return layout;
    }
    layout.request = true;
    layout.regions.push_back({HttpRegion::Kind::request_line, 0, eol + 1, {}});
    std::size_t pos = eol + 1;
    for (int headers = 0; pos < n && headers < 128; ++headers) {
        std::size_t end = pos;
        while (end < n && p[end] != '\n') ++end;
        std::size_t line_end = end < n ? end + 1 : n;
        std::size_t content_end = end;
        if (content_end > pos && p[content_end - 1] == '\r') --content_end;
        if (content_end == pos) {  // the empty line: the head ends (a header region with no name)
            layout.regions.push_back({HttpRegion::Kind::header, pos, line_end, {}});
            body_from(line_end);
            return layout;
        }
        std::string name;
        for (std::size_t k = pos; k < content_end && p[k] != ':'; ++k) name += static_cast<char>(std::tolower(p[k]));
        layout.regions.push_back({HttpRegion::Kind::header, pos, line_end, std::move(name)});
        pos = line_end;
    }
    if (pos < n) {
        layout.regions.push_back({HttpRegion::Kind::header, pos, n, {}});  // past the header cap
    }
    layout.body_begin = n;
    return layout;
}

std::uint64_t opaque_bytes(std::span<const std::byte> body)
{
    std::uint64_t opaque = 0;
    std::size_t run = 0;
    auto close_run = [&] {
        if (run >= 48) opaque += run;  // longer than a commit id (40 hex), as short as an encoded line
        run = 0;
    };
    for (auto b : body) {
        auto c = static_cast<unsigned char>(b);
        if (std::isalnum(c) != 0 || c == '+' || c == '/' || c == '=' || c == '_' || c == '-') {
            ++run;
            continue;
        }
        close_run();
        bool text = c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c < 0x7f);
        if (!text) ++opaque;  // binary (or non-ASCII text: counted, a leak's benefit of the doubt)
    }
    close_run();
    return opaque;
}

std::array<std::uint64_t, 2> FingerprintIndex::random_key()
{
    std::array<std::uint64_t, 2> key{};
    if (::getrandom(key.data(), sizeof(key), 0) != static_cast<ssize_t>(sizeof(key))) {
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        key[0] = static_cast<std::uint64_t>(ts.tv_nsec) * 0x9e3779b97f4a7c15ULL;
        key[1] = static_cast<std::uint64_t>(ts.tv_sec) ^ 0xc2b2ae3d27d4eb4fULL;
    }
    return key;
}

FingerprintIndex::FingerprintIndex(std::size_t max_files, std::array<std::uint64_t, 2> key)
    : key_(key), max_files_(std::max<std::size_t>(max_files, 1))
{
}

std::uint64_t FingerprintIndex::hash(const void* data, std::size_t size) const
{
    return siphash(key_, static_cast<const unsigned char*>(data), size);
}

bool FingerprintIndex::has_file(std::uint64_t device, std::uint64_t inode) const
{
    return by_inode_.contains({device, inode});
}

void FingerprintIndex::remove(std::uint64_t id)
{
    auto it = files_.find(id);
    if (it == files_.end()) return;
    for (auto w : it->second.windows) {
        auto bucket = by_window_.find(w);
        if (bucket == by_window_.end()) continue;
        auto& forms = bucket->second;
        auto before = forms.size();
        auto gone = std::remove_if(forms.begin(), forms.end(), [&](const Form& f) { return f.file == id; });
        for (auto f = gone; f != forms.end(); ++f)
            if (auto n = lengths_.find(f->length); n != lengths_.end() && --n->second == 0) lengths_.erase(n);
        forms.erase(gone, forms.end());
        form_count_ -= before - forms.size();
        if (forms.empty()) by_window_.erase(bucket);
    }
    by_inode_.erase({it->second.device, it->second.inode});
    files_.erase(it);
}

std::size_t FingerprintIndex::add_file(const std::string& path, std::uint64_t device, std::uint64_t inode,
                                       std::string_view content)
{
    if (auto old = by_inode_.find({device, inode}); old != by_inode_.end()) remove(old->second);
    auto tokens = secret_tokens(content);
    if (tokens.empty()) return 0;
    const auto facts = token_facts(content);
    while (files_.size() >= max_files_) remove(files_.begin()->first);
    auto id = next_id_++;
    File file{path, device, inode, {}, {}};
    for (const auto& token : tokens) {
        bool signs = false;
        std::uint16_t audience = 0;
        if (auto known = facts.find(token); known != facts.end()) {
            signs = known->second.signing;
            if (!known->second.hosts.empty()) {
                file.audiences.push_back(known->second.hosts);
                audience = static_cast<std::uint16_t>(file.audiences.size());
            }
        }
        for (const auto& form : token_forms(token)) {
            if (form.text.size() < window) continue;
            auto w = hash(form.text.data(), window);
            auto& bucket = by_window_[w];
            Form f{id,       static_cast<std::uint32_t>(form.text.size()), encoding_index(form.encoding), signs,
                   audience, hash(form.text.data(), form.text.size())};
            bool duplicate = std::any_of(bucket.begin(), bucket.end(), [&](const Form& o) {
                return o.file == id && o.hash == f.hash && o.length == f.length;
            });
            if (duplicate) continue;
            bucket.push_back(f);
            ++lengths_[f.length];
            file.windows.push_back(w);
            ++form_count_;
        }
    }
    by_inode_[{device, inode}] = id;
    files_.emplace(id, std::move(file));
    return tokens.size();
}

std::vector<FingerprintIndex::Hit> FingerprintIndex::scan(std::span<const std::byte> data, std::size_t starts) const
{
    std::vector<Hit> hits;
    if (data.size() < window || by_window_.empty()) return hits;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    for (std::size_t pos = 0; pos + window <= data.size() && pos < starts; ++pos) {
        auto bucket = by_window_.find(hash(p + pos, window));
        if (bucket == by_window_.end()) continue;
        for (const auto& form : bucket->second) {
            if (pos + form.length > data.size() || hash(p + pos, form.length) != form.hash) continue;
            const auto& file = files_.at(form.file);
            hits.push_back(Hit{file.path, file.device, file.inode, std::string(encodings[form.encoding]), pos,
                               form.length, form.signing,
                               form.audience ? file.audiences.at(form.audience - 1) : std::vector<std::string>{}});
            if (hits.size() >= 64) return hits;
        }
    }
    return hits;
}

HttpLayout http2_layout(const DecodedFrames& frames, std::vector<std::byte>& text)
{
    HttpLayout layout;
    layout.request = !frames.fields.empty();
    auto append = [&text](std::string_view s) {
        const auto* p = reinterpret_cast<const std::byte*>(s.data());
        text.insert(text.end(), p, p + s.size());
    };
    for (const auto& field : frames.fields) {
        const std::size_t begin = text.size();
        append(field.value);
        append("\n");  // no token holds a line break: a match cannot join two fields
        // The pseudo-headers are HTTP/1's request line (method, target, Host's authority).
        if (field.name.starts_with(':')) {
            layout.regions.push_back({HttpRegion::Kind::request_line, begin, text.size(), {}});
        } else {
            layout.regions.push_back({HttpRegion::Kind::header, begin, text.size(), field.name});
        }
    }
    layout.body_begin = text.size();
    text.insert(text.end(), frames.body.begin(), frames.body.end());
    if (text.size() > layout.body_begin)
        layout.regions.push_back({HttpRegion::Kind::body, layout.body_begin, text.size(), {}});
    return layout;
}

namespace {

// The tail the next write is joined to: the last bytes of tail + this write's plaintext (so
// writes shorter than a form add up), located where this write's plaintext ends. None after a
// write not wholly seen: what follows it does not continue what was seen.
void carry_tail(PlaintextTail& tail, const FingerprintIndex& index, bool complete, std::span<const std::byte> data,
                const HttpLayout& layout)
{
    const std::size_t keep =
        std::min(index.longest_form() > 0 ? index.longest_form() - 1 : 0, PlaintextTail::max_bytes);
    if (!complete || keep == 0) {
        tail = {};
        return;
    }
    if (data.empty()) return;
    if (data.size() >= keep) {
        tail.bytes.assign(data.end() - static_cast<std::ptrdiff_t>(keep), data.end());
    } else {
        const std::size_t old = std::min(tail.bytes.size(), keep - data.size());
        tail.bytes.erase(tail.bytes.begin(), tail.bytes.end() - static_cast<std::ptrdiff_t>(old));
        tail.bytes.insert(tail.bytes.end(), data.begin(), data.end());
    }
    const auto last = std::find_if(layout.regions.rbegin(), layout.regions.rend(),
                                   [&](const HttpRegion& r) { return r.begin < data.size() && r.end >= data.size(); });
    tail.kind = last == layout.regions.rend() ? HttpRegion::Kind::body : last->kind;
    tail.header = last == layout.regions.rend() ? std::string() : last->header;
}

}  // namespace

namespace {

std::string secret_kind(const FingerprintIndex::Hit& hit)
{
    return hit.signing ? "signing-key" : "";
}

// A scan's matches: one per file, encoding, location, kind of secret and audience, at most 16.
void add_match(ContentScanEvent& scan, ContentMatch match)
{
    bool seen = std::any_of(scan.matches.begin(), scan.matches.end(), [&](const ContentMatch& m) {
        return m.path == match.path && m.encoding == match.encoding && m.location == match.location &&
               m.secret == match.secret && m.audience == match.audience;
    });
    if (!seen && scan.matches.size() < 16) scan.matches.push_back(std::move(match));
}

}  // namespace

namespace {

// The host a request names: HTTP/1's Host header, HTTP/2's :authority; else `known` (the
// connection's SNI).
std::string request_host(const PlaintextWrite& write, const HttpLayout& layout, std::string_view known)
{
    if (write.http2) {
        for (const auto& field : write.http2->fields)
            if (field.name == ":authority") return host_of(field.value);
    } else {
        for (const auto& region : layout.regions) {
            if (region.kind != HttpRegion::Kind::header || region.header != "host") continue;
            const auto* p = reinterpret_cast<const char*>(write.data.data());
            std::string_view line(p + region.begin, region.end - region.begin);
            line = line.substr(0, line.find_first_of("\r\n"));
            return host_of(line.substr(std::min(line.find(':') + 1, line.size())));
        }
    }
    return util::to_lower(known);
}

}  // namespace

ContentScanEvent scan_plaintext(const FingerprintIndex& index, const PlaintextWrite& write, bool complete,
                                PlaintextTail* tail, std::string_view known_host)
{
    ContentScanEvent scan;
    scan.time = write.time;
    scan.process = write.process;
    scan.flow = write.flow;
    scan.source = write.source;
    scan.offset = write.offset;
    scan.bytes = write.write_size;
    scan.scanned = write.data.size();
    scan.complete = complete && write.data.size() >= write.write_size;
    // HTTP/2: the frames decoded (field values, DATA payloads end to end) are what is scanned;
    // their HPACK and framing bytes are neither body nor opaque.
    std::vector<std::byte> decoded;
    const auto layout = write.http2 ? http2_layout(*write.http2, decoded) : http_layout(write.data);
    std::span<const std::byte> data = write.http2 ? std::span<const std::byte>(decoded) : write.data;
    if (write.http2 && write.http2->truncated) scan.complete = false;
    scan.body_bytes = data.size() - std::min(layout.body_begin, data.size());
    scan.opaque_bytes = opaque_bytes(data.subspan(std::min(layout.body_begin, data.size())));
    for (const auto& region : layout.regions)
        if (region.kind == HttpRegion::Kind::header && is_auth_header(region.header) &&
            std::find(scan.auth_headers.begin(), scan.auth_headers.end(), region.header) == scan.auth_headers.end())
            scan.auth_headers.push_back(region.header);
    auto locate = [](ContentMatch& match, HttpRegion::Kind kind, const std::string& header) {
        if (kind == HttpRegion::Kind::request_line) match.location = "request-line";
        if (kind == HttpRegion::Kind::header) {
            match.location = is_auth_header(header) ? "auth-header" : "header";
            match.header = header;
        }
    };
    // A form cut by the boundary with the previous write starts in its tail: the tail and the
    // start of this write are scanned joined, for hits starting in the tail only (those starting
    // here are the scan below's), and ending here (one wholly in the tail was the previous
    // scan's). The work added is the tail's positions.
    std::vector<FingerprintIndex::Hit> hits;
    const bool join = tail && complete && !tail->bytes.empty();
    if (join) {
        const std::size_t carried = tail->bytes.size();
        std::vector<std::byte> joined(tail->bytes);
        const auto head = data.first(std::min(data.size(), index.longest_form()));
        joined.insert(joined.end(), head.begin(), head.end());
        for (auto& hit : index.scan(joined, carried))
            if (hit.offset + hit.length > carried) hits.push_back(std::move(hit));
    }
    const std::size_t from_tail = hits.size();
    for (auto& hit : index.scan(data)) hits.push_back(std::move(hit));
    std::string host;  // the request's, looked up for the first match that needs it
    for (std::size_t i = 0; i < hits.size(); ++i) {
        const auto& hit = hits[i];
        ContentMatch match{hit.path, hit.device, hit.inode, hit.encoding, "body", {}, secret_kind(hit), {}};
        if (i < from_tail) {
            locate(match, tail->kind, tail->header);
        } else {
            for (const auto& region : layout.regions) {
                if (hit.offset < region.begin || hit.offset >= region.end) continue;
                locate(match, region.kind, region.header);
                break;
            }
        }
        // A token its file names hosts for authenticates to them, not to another site (the
        // request's: a proxy's credential authenticates to the proxy, not to where it goes).
        if (match.location == "auth-header" && match.header != "proxy-authorization" && !hit.audience.empty()) {
            if (host.empty()) host = request_host(write, layout, known_host);
            if (!host.empty() && std::none_of(hit.audience.begin(), hit.audience.end(),
                                              [&](const std::string& h) { return same_site(h, host); }))
                match.audience = "foreign";
        }
        add_match(scan, std::move(match));
    }
    if (tail) carry_tail(*tail, index, scan.complete, data, layout);
    return scan;
}

namespace {

// A name that says credential: a segment (split at - _ .) that is, or holds, one of the words.
bool credential_name(std::string_view lower)
{
    static constexpr std::string_view words[] = {"token",  "secret",     "password", "passwd", "passphrase",
                                                 "apikey", "credential", "auth",     "bearer", "accesskey"};
    std::string squeezed;
    for (char c : lower)
        if (c != '-' && c != '_' && c != '.') squeezed += c;
    if (std::any_of(std::begin(words), std::end(words),
                    [&](std::string_view w) { return squeezed.find(w) != std::string::npos; }))
        return true;
    // "key", "pass", "pw", "pwd" only as a segment of their own (AWS_ACCESS_KEY_ID, db-pass).
    std::size_t start = 0;
    while (start <= lower.size()) {
        auto end = lower.find_first_of("-_.", start);
        if (end == std::string_view::npos) end = lower.size();
        auto segment = lower.substr(start, end - start);
        if (segment == "key" || segment == "pass" || segment == "pw" || segment == "pwd") return true;
        start = end + 1;
    }
    return false;
}

bool name_char(unsigned char c)
{
    return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
}

// The name that ends right before `end` in `arg` (a run of name characters from `floor` on), lower
// case.
std::string name_before(std::string_view arg, std::size_t end, std::size_t floor = 0)
{
    std::size_t begin = end;
    while (begin > floor && name_char(static_cast<unsigned char>(arg[begin - 1]))) --begin;
    return util::to_lower(arg.substr(begin, end - begin));
}

// What an evidence may name: short (no whole secret form fits), of name characters only.
std::string shown_name(std::string_view name)
{
    if (name.empty() || name.size() > 15 ||
        !std::all_of(name.begin(), name.end(), [](unsigned char c) { return name_char(c); }))
        return {};
    return std::string(name);
}

}  // namespace

ArgumentRole argument_role(std::string_view arg, std::string_view previous, std::size_t at)
{
    at = std::min(at, arg.size());
    const std::string_view before = arg.substr(0, at);
    std::string option = util::to_lower(previous.rfind('-', 0) == 0 ? previous.substr(0, previous.find('=')) : "");
    // An inline short option (-pSECRET, -HAuthorization: ...): its value starts after it.
    std::size_t floor = 0;
    if (before.size() >= 2 && before[0] == '-' && before[1] != '-' && option.empty()) {
        option = util::to_lower(before.substr(0, 2));
        floor = 2;
    }
    const bool header_option = option == "-h" || option == "--header" || option == "--headers" ||
                               option == "--proxy-header" || option == "--http-header";

    // A header's value (`Name: [scheme ]...SECRET...`): the header named at the start of the
    // argument (after -H), the option's value or a positional one (httpie's `Name:value`), or
    // after a `...header=` setting (git -c http.extraHeader=Authorization: ...). A data
    // option's value that starts like a header (--body "Authorization: ...") is still data.
    std::string header;
    if (auto colon = before.find(':', floor); colon != std::string_view::npos) {
        std::string name = name_before(before, colon, floor);
        const std::size_t begin = colon - name.size();
        const bool at_start = begin == floor && (option.empty() || header_option);
        const bool after_setting = util::to_lower(before.substr(0, begin)).ends_with("header=");
        const bool url = before.substr(colon).starts_with("://");
        if (!name.empty() && !url && (at_start || after_setting)) {
            if (is_auth_header(name)) return {ArgumentRole::credential, shown_name(name)};
            header = name;
        }
    }
    // A URL's userinfo: scheme://user:SECRET@host.
    if (auto scheme = before.rfind("://"); scheme != std::string_view::npos) {
        auto userinfo = before.substr(scheme + 3);
        auto at_sign = arg.find('@', at);
        if (userinfo.find_first_of("/?#@") == std::string_view::npos && at_sign != std::string_view::npos &&
            arg.substr(at, at_sign - at).find_first_of("/?#") == std::string_view::npos)
            return {ArgumentRole::credential, "url-userinfo"};
    }
    // An assignment (NAME=SECRET: a query parameter, an environment variable, -var, --set, an
    // inline --option=SECRET) named for a credential.
    std::string assigned;
    if (!before.empty() && before.back() == '=') {
        assigned = name_before(before, before.size() - 1, std::min(floor, before.size() - 1));
        if (assigned.empty() && before.size() >= 2 && before[before.size() - 2] == ']')  // files[k][content]=
            assigned = "field";
        if (credential_name(assigned)) return {ArgumentRole::credential, shown_name(assigned)};
    }
    // A JSON member named for a credential ({"client_secret": "SECRET"}, a login body).
    {
        auto t = before.substr(floor);
        auto strip = [&t](std::string_view chars) {
            while (!t.empty() && chars.find(t.back()) != std::string_view::npos) t.remove_suffix(1);
        };
        strip("\" ");
        if (!t.empty() && t.back() == ':') {
            t.remove_suffix(1);
            strip(" ");
            if (!t.empty() && t.back() == '"') {  // quoted: JSON (a header-like "Name: x" stays data)
                t.remove_suffix(1);
                auto member = name_before(t, t.size());
                if (!member.empty() && member.size() < t.size() && t[t.size() - member.size() - 1] == '"' &&
                    credential_name(member))
                    return {ArgumentRole::credential, shown_name(member)};
            }
        }
    }
    // The value of a credential option (-u user:SECRET, -p SECRET, --token SECRET).
    if (!option.empty()) {
        std::string_view bare = option;
        while (!bare.empty() && bare.front() == '-') bare.remove_prefix(1);
        if (option == "-u" || option == "-p" || option == "--user" || option == "--proxy-user" || option == "--pass" ||
            (!header_option && credential_name(bare)))
            return {ArgumentRole::credential, shown_name(option)};
    }
    if (!header.empty()) return {ArgumentRole::data, shown_name(header)};
    if (!option.empty()) return {ArgumentRole::data, shown_name(option)};
    if (!assigned.empty()) return {ArgumentRole::data, shown_name(assigned)};
    return {ArgumentRole::positional, {}};
}

ContentScanEvent scan_arguments(const FingerprintIndex& index, TimeNs time, const ProcessRef& process)
{
    ContentScanEvent scan;
    scan.time = time;
    scan.process = process;
    scan.source = "argv";
    scan.complete = !process.args_truncated;
    // A secret store's command (gh secret set, kubectl create secret, flyctl secrets set): the
    // value it is given is a credential kept for the tool's own use, whatever option carries it.
    bool secret_store = false;
    for (std::size_t i = 1; i < process.args.size(); ++i) {
        const std::string_view arg = process.args[i];
        scan.bytes += arg.size();
        if (i <= 3 && (arg == "secret" || arg == "secrets")) secret_store = true;
        if (arg.size() < 16) continue;  // every form is 16 bytes or more
        for (const auto& hit : index.scan(std::span(reinterpret_cast<const std::byte*>(arg.data()), arg.size()))) {
            auto role = argument_role(arg, process.args[i - 1], hit.offset);
            if (secret_store && role.kind != ArgumentRole::credential)
                role = {ArgumentRole::credential, "secret-store"};
            ContentMatch match{hit.path,
                               hit.device,
                               hit.inode,
                               hit.encoding,
                               role.kind == ArgumentRole::credential ? "auth-argument"
                               : role.kind == ArgumentRole::data     ? "argument"
                                                                     : "positional-argument",
                               std::move(role.name),
                               secret_kind(hit),
                               {}};
            add_match(scan, std::move(match));
        }
    }
    scan.scanned = scan.bytes;
    return scan;
}

void ContentEvidence::note(const std::string& pair_key, const ContentScanEvent& scan)
{
    auto& facts = pairs_.touch(pair_key);
    if (pairs_.size() > max_pairs_) pairs_.pop_oldest();
    ++facts.scans;
    facts.plaintext_bytes += scan.bytes;
    if (facts.cookies.size() < 64) facts.cookies.insert(scan.flow.socket_cookie);
    if (!scan.complete) facts.incomplete = true;
    facts.opaque += scan.opaque_bytes;
    for (const auto& m : scan.matches) {
        // A signing key in an authentication header is no authentication: the key itself left;
        // so did a token sent to a site its file does not name it for.
        if (m.location == "auth-header" && m.secret.empty() && m.audience.empty()) {
            facts.in_auth_header.insert(m.path);
        } else if (!facts.leaked.contains(m.path)) {
            const bool header = m.location == "header" || m.location == "auth-header";
            const char* why = !m.secret.empty()    ? ", a signing key, which authentication never sends"
                              : m.audience.empty() ? ""
                                                   : ", to a site its file does not name it for";
            facts.leaked[m.path] =
                fmt::format("{} in the {}{}", m.encoding, header ? "header " + m.header : m.location, why);
        }
    }
}

ContentVerdict content_verdict(const ContentFacts& facts, const std::string& path, std::uint64_t bytes_out)
{
    if (facts.leaked.contains(path)) return ContentVerdict::leaked;
    // Use needs positive evidence: the secret seen in an authentication header. A secret seen
    // nowhere proves nothing (the file cut into parts, compressed or encrypted leaves no token
    // whole): the volume signals decide.
    if (!facts.in_auth_header.contains(path)) return ContentVerdict::unknown;
    if (facts.scans == 0 || facts.incomplete || facts.opaque > 0) return ContentVerdict::unknown;
    // The scanned plaintext must account for what the pair sent: each connection's handshake
    // (a ClientHello and Finished, 2 KiB allowed) and 32 bytes of record framing per write.
    std::uint64_t allowance = 2048 * std::max<std::uint64_t>(facts.cookies.size(), 1) + 32 * facts.scans;
    if (bytes_out > facts.plaintext_bytes + allowance) return ContentVerdict::unknown;
    return ContentVerdict::used;
}

}  // namespace exfilwatch::detect

namespace exfilwatch::detect {

bool content_signals(const Rules& rules, const ContentFacts* facts, std::uint64_t bytes_out, DataInLineage& data,
                     SignalList& out)
{
    if (!facts || !data.has_data()) return false;
    bool leaked = false;
    std::vector<std::string> used;
    for (const auto& [path, use] : data.data_files) {
        switch (content_verdict(*facts, path, bytes_out)) {
        case ContentVerdict::leaked: {
            const auto& how = facts->leaked.at(path);
            const auto* read = use.source->read;
            out.add("content-match", rules.signals.content_match,
                    [&] { return fmt::format("content of {} sent ({})", read->display, how); });
            leaked = true;
            break;
        }
        case ContentVerdict::used: used.push_back(path); break;
        case ContentVerdict::unknown: break;
        }
    }
    // Use, not leak: the whole plaintext was seen and this secret went only into an
    // authentication header: its bytes are not data that left.
    for (const auto& path : used) {
        const auto* read = data.data_files.at(path).source->read;
        data.own_use.insert(fmt::format("{} sent only to authenticate", read->display));
        data.data_files.erase(path);
        data.carriers.erase(path);
    }
    if (!used.empty()) {
        data.classes.clear();
        data.top = nullptr;
        for (const auto& [path, use] : data.data_files) {
            data.classes.insert(use.source->read->cls->name);
            if (!data.top || use.source->read->cls->weight > data.top->read->cls->weight) data.top = use.source;
        }
    }
    return leaked;
}

}  // namespace exfilwatch::detect
