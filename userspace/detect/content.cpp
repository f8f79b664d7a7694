// detect: fingerprints of sensitive bytes and the scan of plaintext against them (content.hpp).
#include "detect/content.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "redact/redact.hpp"
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

// The service words of a setting's or section's name, lower case: its words (split at anything
// not a letter or digit, and where lower case turns upper: slackWebhookUrl), those of three
// letters or more without a digit that are not a common word of settings (token, api, webhook,
// url ...): TELEGRAM_BOT_TOKEN says telegram, SLACK_WEBHOOK_URL slack, API_TOKEN nothing.
std::vector<std::string> service_words(std::string_view name)
{
    static constexpr std::string_view common[] = {
        "access",   "account", "address", "admin",        "api",        "apikey",      "app",      "application",
        "auth",     "base",    "bearer",  "bot",          "bucket",     "cert",        "channel",  "chat",
        "client",   "config",  "cred",    "creds",        "credential", "credentials", "data",     "database",
        "default",  "dev",     "dsn",     "endpoint",     "env",        "export",      "hook",     "hooks",
        "host",     "http",    "https",   "incoming",     "key",        "keys",        "local",    "login",
        "main",     "name",    "notify",  "notification", "pass",       "passwd",      "password", "path",
        "personal", "port",    "private", "prod",         "production", "profile",     "public",   "push",
        "remote",   "secret",  "secrets", "server",       "service",    "session",     "sid",      "signing",
        "staging",  "test",    "the",     "token",        "tokens",     "uri",         "url",      "user",
        "username", "value",   "webhook", "webhooks",     "www",        "com",         "org",      "net",
        "alert",    "alerts",  "deploy",  "code",         "live",       "master",      "new",      "old",
        "write",    "read",    "send",    "sender",       "room",       "team",        "group",    "project"};
    std::vector<std::string> words;
    std::string word;
    auto close = [&] {
        const bool keep = word.size() >= 3 && !has_digit(word) &&
                          std::find(std::begin(common), std::end(common), word) == std::end(common) &&
                          std::find(words.begin(), words.end(), word) == words.end();
        if (keep && words.size() < TokenFacts::max_words) words.push_back(word);
        word.clear();
    };
    for (std::size_t i = 0; i < name.size(); ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (std::isalnum(c) == 0) {
            close();
            continue;
        }
        if (std::isupper(c) != 0 && i > 0 && std::islower(static_cast<unsigned char>(name[i - 1])) != 0) close();
        word += static_cast<char>(std::tolower(c));
    }
    close();
    return words;
}

// The last word of a setting's name, lower case (PUSHOVER_USER: "user"), at most 15 characters.
std::string setting_word(std::string_view name)
{
    name = trim(name);
    auto end = name.size();
    while (end > 0 && std::isalnum(static_cast<unsigned char>(name[end - 1])) == 0) --end;
    auto begin = end;
    while (begin > 0 && std::isalnum(static_cast<unsigned char>(name[begin - 1])) != 0) --begin;
    if (end - begin > 15) return {};
    return util::to_lower(name.substr(begin, end - begin));
}

// The host of a URL's text after its scheme (`host[:port][/path...]`, userinfo dropped): its
// authority's, not an address in its path or query (https://h.example/?to=a@b.example).
std::string url_host(std::string_view after_scheme)
{
    return host_of(after_scheme.substr(0, std::min(after_scheme.find_first_of("/?# \t\"'"), after_scheme.size())));
}

// Adds `more` to `into` (each once, at most `max`).
void merge_into(std::vector<std::string>& into, const std::vector<std::string>& more, std::size_t max)
{
    for (const auto& m : more)
        if (into.size() < max && !m.empty() && std::find(into.begin(), into.end(), m) == into.end()) into.push_back(m);
}

// What the lines so far say of the next: inside a private key's block, the host the section is
// keyed by, netrc's machine, the service words of the sections they sit in.
struct TokenContext {
    bool private_block = false;  // between a PEM or OpenSSH private key's BEGIN and END lines
    std::string section, machine;
    std::vector<std::string> ini_words;   // of the `[section]` they sit in, until the next
    std::vector<std::string> yaml_words;  // of the top-level YAML key they sit under

    void enter(std::string_view line)
    {
        if (line.starts_with("-----BEGIN ") && line.find("PRIVATE KEY") != std::string_view::npos) private_block = true;
        if (line.starts_with("-----END ")) private_block = false;
        const auto words = trim(line);
        // netrc: "machine HOST" holds until the next machine (or default).
        if (words.starts_with("machine ")) {
            const auto rest = trim(words.substr(8));
            machine = host_of(rest.substr(0, rest.find_first_of(" \t")));
        } else if (words.starts_with("default")) {
            machine.clear();
        }
        if (words.size() > 2 && words.front() == '[' && words.back() == ']') {
            ini_words = service_words(words.substr(1, words.size() - 2));
            yaml_words.clear();
        }
    }
    // A section keyed by a host (nothing, or an object's brace, after it) starts; a line at the
    // start of another top-level key ends it. A top-level key with nothing after it opens a
    // YAML section named by its words.
    void key_line(std::string_view line, std::string_view key, std::string_view value)
    {
        const bool top = !line.empty() && line.front() != ' ' && line.front() != '\t';
        if (auto keyed = host_of(key); !keyed.empty() && (value.empty() || value == "{")) {
            section = keyed;
        } else if (top) {
            section.clear();
        }
        if (top) yaml_words = value.empty() || value == "{" ? service_words(key) : std::vector<std::string>{};
    }
    std::string host() const { return machine.empty() ? section : machine; }
    // The words of a setting named `key` here: its own, then its sections'.
    std::vector<std::string> words_for(std::string_view key) const
    {
        auto words = service_words(key);
        merge_into(words, yaml_words, TokenFacts::max_words);
        merge_into(words, ini_words, TokenFacts::max_words);
        return words;
    }
};

// What one line says of the tokens on it.
struct LineFacts {
    bool signing = false;
    std::string host;
    const std::vector<std::string>* words = nullptr;
    const std::string* setting = nullptr;
};

// Runs of token characters with a digit (PEM body lines, tokens written bare; a signing
// setting's value cut at escapes, as a service account's "private_key": "...\n..."): those
// after `signing_from` sign, all of them in a private key's block. False once `add` says stop.
template <typename Add>
bool add_runs(std::string_view line, std::size_t signing_from, bool block, const LineFacts& facts, Add& add)
{
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && !token_char(static_cast<unsigned char>(line[i]))) ++i;
        const std::size_t start = i;
        while (i < line.size() && token_char(static_cast<unsigned char>(line[i]))) ++i;
        auto run = line.substr(start, i - start);
        LineFacts here = facts;
        here.signing = block || (signing_from != std::string_view::npos && start > signing_from);
        if (!run.empty() && run.front() != '/' && has_digit(run) && !add(run, here)) return false;
    }
    return true;
}

// The parts of each URL on a line that a request to it carries in its request line: the path's
// segments and the query's names and values, those with a digit, for the URL's host (a
// webhook's https://hooks.slack.com/services/T/B/TOKEN, https://discord.com/api/webhooks/ID/TOKEN).
template <typename Add>
bool add_url_parts(std::string_view line, LineFacts facts, Add& add)
{
    for (auto scheme = line.find("://"); scheme != std::string_view::npos; scheme = line.find("://", scheme + 3)) {
        auto url = line.substr(scheme + 3);
        url = url.substr(0, std::min(url.find_first_of(" \t\"'<>`"), url.size()));
        facts.host = url_host(url);
        const auto path = url.find('/');
        if (facts.host.empty() || path == std::string_view::npos) continue;
        auto rest = url.substr(path);
        rest = rest.substr(0, std::min(rest.find('#'), rest.size()));
        std::size_t i = 0;
        while (i < rest.size()) {
            const auto end = std::min(rest.find_first_of("/?&=", i), rest.size());
            const auto part = rest.substr(i, end - i);
            if (has_digit(part) && !add(part, facts)) return false;
            i = end + 1;
        }
    }
    return true;
}

// file_tokens' parse: each token found with what its line says of it: whether it signs, the
// host its line is for (a URL's host beside its userinfo or before its path, an npmrc key's
// //registry.npmjs.org/:_authToken=TOKEN, netrc's machine, the host a section is keyed by: gh's
// hosts.yml "github.com:", a docker config's "ghcr.io": {), the service words and last word of
// its setting's name.
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
        std::vector<std::string> words = context.words_for({});
        std::string setting;
        LineFacts facts{false, context.host(), &words, &setting};
        // key = value, key: value (YAML, INI, .env, netrc-like "password VALUE" is caught below)
        // (An npmrc key holds a colon: //registry.npmjs.org/:_authToken=VALUE.)
        auto sep = trim(line).starts_with("//") ? line.find('=') : line.find_first_of("=:");
        if (sep != std::string_view::npos && sep > 0 && line.find("://") != sep) {
            const auto key = line.substr(0, sep);
            auto value = trim(line.substr(sep + 1));
            context.key_line(line, key, value);
            if (signing_setting(key)) signing_from = sep;
            words = context.words_for(key);
            setting = setting_word(key);
            facts.host = trim(key).starts_with("//") ? host_of(key) : context.host();  // npmrc's, else the section's
            if (auto scheme = value.find("://"); scheme != std::string_view::npos)
                if (auto host = url_host(value.substr(scheme + 3)); !host.empty()) facts.host = host;
            facts.signing = signing_from != std::string_view::npos || context.private_block;
            // Not a path (a CA bundle, a key file named by a config): what it names is not secret.
            bool path = !value.empty() && (value.front() == '/' || value.front() == '~' || value.front() == '.');
            if (!value.empty() && !path && value.find(' ') == std::string_view::npos && !add(value, facts)) return;
            facts.signing = false;
        }
        // https://user:TOKEN@host
        if (auto scheme = line.find("://"); scheme != std::string_view::npos) {
            auto at = line.find('@', scheme);
            auto colon = line.find(':', scheme + 3);
            if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
                if (auto url_host = host_of(line.substr(at + 1)); !url_host.empty()) facts.host = url_host;
                if (!add(line.substr(colon + 1, at - colon - 1), facts)) return;
            }
        }
        if (!add_url_parts(line, facts, add)) return;
        if (!add_runs(line, signing_from, context.private_block, facts, add)) return;
    }
}

// A host name, with or without a port (s3cmd's `host_base = s3.amazonaws.com`): a name, no
// secret; taken for one, the host itself would be redacted from every flow to it.
bool bare_host(std::string_view token)
{
    const auto host = host_of(token);
    if (host.empty() || token.find('/') != std::string_view::npos || token.find('@') != std::string_view::npos)
        return false;
    auto rest = token.substr(std::min(host.size(), token.size()));
    if (!rest.empty() && rest.front() == ':') rest.remove_prefix(1);
    return util::to_lower(token.substr(0, host.size())) == host &&
           std::all_of(rest.begin(), rest.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

}  // namespace

std::vector<FileToken> file_tokens(std::string_view text, std::size_t min_length, std::size_t max_tokens)
{
    std::vector<FileToken> out;
    std::unordered_map<std::string, std::size_t> seen;  // token -> its index in out
    parse_tokens(text, [&](std::string_view token, const LineFacts& line) {
        if (token.size() < min_length || bare_host(token)) return true;
        auto [it, added] = seen.try_emplace(std::string(token), out.size());
        if (added) {
            if (out.size() >= max_tokens) return false;
            out.push_back({std::string(token), {}});
        }
        auto& facts = out[it->second].facts;
        facts.signing = facts.signing || line.signing;
        merge_into(facts.hosts, {line.host}, TokenFacts::max_hosts);
        if (line.words) merge_into(facts.words, *line.words, TokenFacts::max_words);
        if (facts.setting.empty() && line.setting) facts.setting = *line.setting;
        return true;
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

bool word_names_site(std::string_view word, std::string_view host)
{
    if (word.empty() || host.empty()) return false;
    const auto lower = util::to_lower(host);
    const auto site = site_of(lower);
    const auto label = site.substr(0, site.find('.'));
    if (label == word) return true;
    if (label.size() <= word.size() || label.size() - word.size() > 3) return false;
    auto letters = [](std::string_view s) {
        return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalpha(c) != 0; });
    };
    const auto extra = label.size() - word.size();
    return (label.starts_with(word) && letters(label.substr(word.size()))) ||
           (label.ends_with(word) && letters(label.substr(0, extra)));
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

namespace {
bool credential_name(std::string_view lower);
}  // namespace

bool is_auth_header(std::string_view name)
{
    // Authorization, Proxy-Authorization, X-Api-Key, Private-Token, X-Vault-Token, and the
    // vendors' own (DD-API-KEY, X-Sentry-Auth, pinata_api_key, Circle-Token) all say so.
    return name == "cookie" || credential_name(name);
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
    auto tokens = file_tokens(content);
    if (tokens.empty()) return 0;
    while (files_.size() >= max_files_) remove(files_.begin()->first);
    auto id = next_id_++;
    File file{path, device, inode, {}, {}};
    file.tokens.reserve(tokens.size());
    for (auto& token : tokens) {
        const auto index = static_cast<std::uint16_t>(file.tokens.size());
        for (const auto& form : token_forms(token.text)) {
            if (form.text.size() < window) continue;
            auto w = hash(form.text.data(), window);
            auto& bucket = by_window_[w];
            Form f{id, static_cast<std::uint32_t>(form.text.size()), encoding_index(form.encoding), index,
                   hash(form.text.data(), form.text.size())};
            bool duplicate = std::any_of(bucket.begin(), bucket.end(), [&](const Form& o) {
                return o.file == id && o.hash == f.hash && o.length == f.length;
            });
            if (duplicate) continue;
            bucket.push_back(f);
            ++lengths_[f.length];
            file.windows.push_back(w);
            ++form_count_;
        }
        file.tokens.push_back(std::move(token.facts));
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
                               form.length, &file.tokens.at(form.token)});
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
// `shown`: a header region's name as the scan shows it (the tail keeps that, never a raw name).
template <typename Shown>
void carry_tail(PlaintextTail& tail, const FingerprintIndex& index, bool complete, std::span<const std::byte> data,
                const HttpLayout& layout, const Shown& shown)
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
    tail.header = last == layout.regions.rend() ? std::string() : shown(*last);
}

}  // namespace

namespace {

std::string secret_kind(const FingerprintIndex::Hit& hit)
{
    return hit.signing() ? "signing-key" : "";
}

// A scan's matches: one per file, encoding, location (and header or field), kind of secret and
// audience, at most 16.
void add_match(ContentScanEvent& scan, ContentMatch match)
{
    bool seen = std::any_of(scan.matches.begin(), scan.matches.end(), [&](const ContentMatch& m) {
        return m.path == match.path && m.encoding == match.encoding && m.location == match.location &&
               m.header == match.header && m.secret == match.secret && m.audience == match.audience;
    });
    if (!seen && scan.matches.size() < 16) scan.matches.push_back(std::move(match));
}

}  // namespace

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

// Whether the file names `host` for the token (see ContentMatch::audience): "named", "foreign" or
// empty. The hosts a file names are the token's only audience; words count where it names none.
std::string audience_of(const TokenFacts& facts, std::string_view host)
{
    if (host.empty()) return {};
    if (!facts.hosts.empty()) {
        const bool named = std::any_of(facts.hosts.begin(), facts.hosts.end(),
                                       [&](const std::string& h) { return same_site(h, host); });
        return named ? "named" : "foreign";
    }
    const bool named = std::any_of(facts.words.begin(), facts.words.end(),
                                   [&](const std::string& w) { return word_names_site(w, host); });
    return named ? "named" : "";
}

bool name_char(unsigned char c)
{
    return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
}

// What an evidence may name: short (no whole secret form fits), of name characters only.
std::string shown_name(std::string_view name)
{
    if (name.empty() || name.size() > 15 ||
        !std::all_of(name.begin(), name.end(), [](unsigned char c) { return name_char(c); }))
        return {};
    return std::string(name);
}

// The name that ends right before `end` in `arg` (a run of name characters from `floor` on), lower
// case.
std::string name_before(std::string_view arg, std::size_t end, std::size_t floor = 0)
{
    std::size_t begin = end;
    while (begin > floor && name_char(static_cast<unsigned char>(arg[begin - 1]))) --begin;
    return util::to_lower(arg.substr(begin, end - begin));
}

// The field of a body whose whole value starts at `at` and runs `length` bytes: a form's
// `name=VALUE` (between & or the body's start and & or its end), a JSON member's `"name": "VALUE"`
// or a multipart part's (Content-Disposition: form-data; name="name", no filename, then the
// blank line); lower case, empty when none. Only the bytes of `body` are looked at.
std::string body_field(std::string_view body, std::size_t at, std::size_t length)
{
    if (at == 0 || at > body.size() || length > body.size() - at) return {};
    const auto after = at + length < body.size() ? body[at + length] : '\0';
    auto before = body.substr(0, at);
    // form: name=VALUE
    if (before.back() == '=') {
        auto name = name_before(before, before.size() - 1);
        const auto begin = before.size() - 1 - name.size();
        const bool starts = begin == 0 || before[begin - 1] == '&' || before[begin - 1] == '\n';
        const bool ends = after == '\0' || after == '&' || after == '\r' || after == '\n';
        return starts && ends ? name : std::string();
    }
    // JSON: "name": "VALUE"
    if (before.back() == '"' && after == '"') {
        auto t = before.substr(0, before.size() - 1);
        auto skip_blanks = [&t] {
            while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        };
        skip_blanks();
        if (t.empty() || t.back() != ':') return {};
        t.remove_suffix(1);
        skip_blanks();
        if (t.empty() || t.back() != '"') return {};
        t.remove_suffix(1);
        auto name = name_before(t, t.size());
        const auto begin = t.size() - name.size();
        return !name.empty() && begin > 0 && t[begin - 1] == '"' ? name : std::string();
    }
    // multipart: ...name="NAME"\r\n[other part headers\r\n]\r\nVALUE\r\n--boundary
    if (before.ends_with("\n\n") || before.ends_with("\r\n\r\n")) {
        if (after != '\r' && after != '\n') return {};
        const auto head = before.substr(before.size() - std::min<std::size_t>(before.size(), 512));
        const auto disposition = util::to_lower(head).rfind("content-disposition:");
        if (disposition == std::string::npos) return {};
        const auto part = util::to_lower(head.substr(disposition));
        if (part.find("filename") != std::string::npos) return {};  // a file's content: data
        const auto name = part.find("name=\"");
        if (name == std::string::npos) return {};
        const auto end = part.find('"', name + 6);
        return end == std::string::npos ? std::string() : part.substr(name + 6, end - name - 6);
    }
    return {};
}

}  // namespace

namespace {

// A match that is the whole value of a credential field of the body (its field's name in `header`).
bool in_credential_field(const ContentMatch& m)
{
    return m.location == "body" && !m.header.empty();
}

// A header's name as a scan shows it: the writer chose it, so one that is long, not of name
// characters or holding a fingerprinted token (`-H "$TOKEN: x"`) is shown as the marker.
// `raw`: the name as written (HTTP/1's is kept lower case, and a token's case matters).
std::string shown_header(const FingerprintIndex& index, const std::string& name, std::string_view raw)
{
    if (name.empty()) return {};
    const bool plain =
        name.size() <= 40 && std::all_of(name.begin(), name.end(), [](unsigned char c) { return name_char(c); });
    return plain && (raw.size() < 16 || !index.contains_secret(raw)) ? name : std::string(redacted_marker);
}

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
    // A header's name as written: HTTP/1's from the write (the layout keeps it lower case),
    // HTTP/2's as decoded (lower case on the wire).
    const auto raw_name = [&](const HttpRegion& region) {
        if (write.http2) return std::string_view(region.header);
        return std::string_view(reinterpret_cast<const char*>(data.data()) + region.begin,
                                std::min(region.header.size(), data.size() - region.begin));
    };
    for (const auto& region : layout.regions) {
        if (region.kind != HttpRegion::Kind::header || !is_auth_header(region.header)) continue;
        auto name = shown_header(index, region.header, raw_name(region));
        if (std::find(scan.auth_headers.begin(), scan.auth_headers.end(), name) == scan.auth_headers.end() &&
            scan.auth_headers.size() < 16)
            scan.auth_headers.push_back(std::move(name));
    }
    auto locate = [&index](ContentMatch& match, HttpRegion::Kind kind, const std::string& header,
                           std::string_view raw) {
        if (kind == HttpRegion::Kind::request_line) match.location = "request-line";
        if (kind == HttpRegion::Kind::header) {
            match.location = is_auth_header(header) ? "auth-header" : "header";
            match.header = shown_header(index, header, raw);
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
            locate(match, tail->kind, tail->header, tail->header);  // (carried as shown)
        } else {
            for (const auto& region : layout.regions) {
                if (hit.offset < region.begin || hit.offset >= region.end) continue;
                locate(match, region.kind, region.header, raw_name(region));
                break;
            }
        }
        // A credential field of the body: one named for a credential, or as its setting.
        if (match.location == "body" && i >= from_tail && hit.facts) {
            const auto* chars = reinterpret_cast<const char*>(data.data());
            const auto body = std::string_view(chars, data.size()).substr(std::min(layout.body_begin, data.size()));
            const auto field = body_field(body, hit.offset - std::min(hit.offset, layout.body_begin), hit.length);
            if (!field.empty() && (credential_name(field) || field == hit.facts->setting))
                match.header = shown_name(field);
        }
        // Whether the file names the request's host for the token (a proxy's credential
        // authenticates to the proxy, not to where the request goes: not judged).
        const bool judged = (match.location == "auth-header" && match.header != "proxy-authorization") ||
                            match.location == "request-line" || in_credential_field(match);
        if (judged && hit.facts) {
            if (host.empty()) host = request_host(write, layout, known_host);
            match.audience = audience_of(*hit.facts, host);
        }
        add_match(scan, std::move(match));
    }
    if (tail)
        carry_tail(*tail, index, scan.complete, data, layout,
                   [&](const HttpRegion& region) { return shown_header(index, region.header, raw_name(region)); });
    return scan;
}

namespace {

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

namespace {

// The host a command line sends to: its first URL's (not a proxy option's), empty when none.
std::string command_target(const ProcessRef& process)
{
    for (std::size_t i = 1; i < process.args.size(); ++i) {
        const std::string_view arg = process.args[i];
        const std::string_view previous = process.args[i - 1];
        if (previous == "-x" || previous == "--proxy" || previous == "--preproxy" || arg.starts_with("--proxy"))
            continue;
        if (auto scheme = arg.find("://"); scheme != std::string_view::npos)
            if (auto host = url_host(arg.substr(scheme + 3)); !host.empty()) return host;
    }
    return {};
}

}  // namespace

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
    std::string target;  // the command line's URL's host, looked up for the first credential
    bool target_known = false;
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
                               role.name,
                               secret_kind(hit),
                               {}};
            // A credential handed over for a request to the command line's URL: whether its
            // file names that host for it (gh api -H "Authorization: token $T" https://...).
            if (role.kind == ArgumentRole::credential && role.name != "secret-store" && hit.facts) {
                if (!target_known) {
                    target = command_target(process);
                    target_known = true;
                }
                match.audience = audience_of(*hit.facts, target);
            }
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
        // A credential authenticates in an authentication header, or in the request line or a
        // credential field of the body of a request to a host its file names for it (a
        // webhook's URL, a bot token in its API's path, a form's token=). A signing key never
        // does (the key itself left), nor a token sent to a site its file does not name it for.
        const bool header = m.location == "header" || m.location == "auth-header";
        const bool field = in_credential_field(m);
        const bool addressed = (m.location == "request-line" || field) && m.audience == "named";
        if (m.secret.empty() && m.audience != "foreign" && (m.location == "auth-header" || addressed)) {
            facts.authenticating.insert(m.path);
            if (m.location == "auth-header" && m.audience.empty())
                facts.unnamed.try_emplace(m.path, fmt::format("{} in the header {}", m.encoding, m.header));
        } else if (!facts.leaked.contains(m.path)) {
            const char* why = !m.secret.empty()                  ? ", a signing key, which authentication never sends"
                              : m.audience == "foreign" || field ? ", to a site its file does not name it for"
                                                                 : "";
            const auto where = header ? "header " + m.header : field ? "body field " + m.header : m.location;
            facts.leaked[m.path] = fmt::format("{} in the {}{}", m.encoding, where, why);
        }
    }
}

ContentVerdict content_verdict(const ContentFacts& facts, const std::string& path, std::uint64_t bytes_out,
                               bool named_only)
{
    if (facts.leaked.contains(path)) return ContentVerdict::leaked;
    // Use needs positive evidence: the secret seen authenticating. A secret seen nowhere proves
    // nothing (the file cut into parts, compressed or encrypted leaves no token whole): the
    // volume signals decide.
    if (!facts.authenticating.contains(path)) return ContentVerdict::unknown;
    if (named_only && facts.unnamed.contains(path)) return ContentVerdict::leaked;
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
                     SignalList& out, const Category* category)
{
    if (!facts || !data.has_data()) return false;
    const bool named_only = category && category->named_credentials;
    bool leaked = false;
    std::vector<std::string> used;
    for (const auto& [path, use] : data.data_files) {
        switch (content_verdict(*facts, path, bytes_out, named_only)) {
        case ContentVerdict::leaked: {
            const auto* read = use.source->read;
            const std::string& file = path;  // (clang before 16 cannot capture a structured binding)
            out.add("content-match", rules.signals.content_match, [&] {
                if (auto how = facts->leaked.find(file); how != facts->leaked.end())
                    return fmt::format("content of {} sent ({})", read->display, how->second);
                // A credential named for nothing, where only a named one authenticates.
                return fmt::format("content of {} sent ({}, to a {} it is not named for)", read->display,
                                   facts->unnamed.at(file), category->label);
            });
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
