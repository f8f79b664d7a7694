// redact: secret redaction for argv and free text (see redact.hpp). Hand-written scanners, no
// std::regex: linear time and no deep recursion on hostile input.
#include "redact/redact.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "util/text.hpp"

namespace exfilwatch::redact {
namespace {

constexpr std::string_view marker = redacted_marker;

using util::to_lower;

// text[i..] starts with `lower_word` (ASCII, lower case), ignoring case; no allocation (this runs
// at every word start of every argument).
bool starts_with_nocase(std::string_view text, std::size_t i, std::string_view lower_word)
{
    if (text.size() - i < lower_word.size()) return false;
    for (std::size_t k = 0; k < lower_word.size(); ++k)
        if (util::ascii_lower(text[i + k]) != lower_word[k]) return false;
    return true;
}

bool is_token_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

bool is_b64_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-' ||
           c == '.' || c == '~';
}

// Names of parameters, variables and keys whose value is a secret.
bool secret_name(std::string_view name)
{
    static constexpr std::array<std::string_view, 22> words = {
        "token",   "secret", "password",  "passwd",     "pwd",           "apikey",     "api_key",
        "api-key", "sig",    "auth",      "credential", "private_key",   "access_key", "accesskey",
        "session", "cookie", "signature", "pass",       "client_secret", "bearer",     "x-amz-security-token",
        "key"};
    auto n = to_lower(name);
    if (n.empty()) return false;
    for (auto w : words) {
        if (w == "key" || w == "pass" || w == "sig" || w == "pwd") {
            // Short words only as a whole name or a suffix (`api_key`, `?key=`), not `keyboard`.
            if (n == w) return true;
            if (n.size() > w.size() && n.compare(n.size() - w.size(), w.size(), w) == 0 &&
                !std::isalnum(static_cast<unsigned char>(n[n.size() - w.size() - 1])))
                return true;
            continue;
        }
        if (n.find(w) != std::string::npos) return true;
    }
    return false;
}

bool sensitive_header(std::string_view name)
{
    auto n = to_lower(name);
    while (!n.empty() && n.back() == ' ') n.pop_back();
    static constexpr std::array<std::string_view, 8> exact = {"authorization", "proxy-authorization", "cookie",
                                                              "set-cookie",    "private-token",       "x-api-key",
                                                              "api-key",       "x-auth-token"};
    if (std::find(exact.begin(), exact.end(), n) != exact.end()) return true;
    return n.rfind("x-", 0) == 0 && secret_name(n.substr(2));
}

struct TokenPrefix {
    std::string_view prefix;
    std::size_t min_body;
};

// Well-known credential formats: the prefix stays (evidence), the body goes.
constexpr std::array<TokenPrefix, 18> token_prefixes = {{
    {"github_pat_", 8},
    {"ghp_", 8},
    {"gho_", 8},
    {"ghu_", 8},
    {"ghs_", 8},
    {"ghr_", 8},
    {"glpat-", 8},
    {"gldt-", 8},
    {"xoxb-", 6},
    {"xoxp-", 6},
    {"xoxa-", 6},
    {"xoxs-", 6},
    {"xoxr-", 6},
    {"xapp-", 6},
    {"npm_", 16},
    {"pypi-", 16},
    {"sk-", 20},
    {"hf_", 16},
}};

// Finds the end of a URL starting at `start` (scheme included).
std::size_t url_end(std::string_view text, std::size_t start)
{
    std::size_t i = start;
    while (i < text.size()) {
        char c = text[i];
        if (std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`')
            break;
        ++i;
    }
    return i;
}

bool looks_like_secret_segment(std::string_view seg)
{
    if (seg.size() < 32) return false;
    bool digit = false, upper = false, lower_c = false;
    for (char c : seg) {
        if (!is_token_char(c)) return false;
        digit |= std::isdigit(static_cast<unsigned char>(c)) != 0;
        upper |= std::isupper(static_cast<unsigned char>(c)) != 0;
        lower_c |= std::islower(static_cast<unsigned char>(c)) != 0;
    }
    return digit && upper && lower_c;
}

std::string redact_query(std::string_view query)
{
    std::string out;
    std::size_t start = 0;
    while (start <= query.size()) {
        auto amp = query.find('&', start);
        auto part = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        auto eq = part.find('=');
        if (eq != std::string_view::npos && secret_name(part.substr(0, eq)) && eq + 1 < part.size()) {
            out.append(part.substr(0, eq + 1));
            out.append(marker);
        } else {
            out.append(part);
        }
        if (amp == std::string_view::npos) break;
        out.push_back('&');
        start = amp + 1;
    }
    return out;
}

// Redacts webhook/bot tokens in a path by host, then generic long secret-looking segments.
std::string redact_path(std::string_view host, std::string_view path)
{
    auto segs = util::split(path, '/');  // segs[0] is empty (path starts with '/')
    std::vector<std::string> out(segs.begin(), segs.end());
    auto host_is = [&](std::string_view suffix) {
        return host == suffix ||
               (host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                host[host.size() - suffix.size() - 1] == '.');
    };
    if ((host_is("discord.com") || host_is("discordapp.com")) && segs.size() >= 5 && segs[1] == "api" &&
        segs[2] == "webhooks") {
        out[4] = marker;  // /api/webhooks/<id>/<token>
    } else if (host_is("hooks.slack.com") && segs.size() >= 4) {
        std::size_t last = out.size() - 1;  // /services/T.../B.../<token>, maybe with a trailing '/'
        if (out[last].empty()) --last;
        out[last] = marker;
    } else if (host_is("api.telegram.org") && segs.size() >= 2 && segs[1].rfind("bot", 0) == 0 && segs[1].size() > 3) {
        out[1] = "bot" + std::string(marker);
    } else if (host_is("webhook.office.com") || host_is("hooks.zapier.com") || host_is("maker.ifttt.com")) {
        for (std::size_t i = 2; i < out.size(); ++i)
            if (segs[i].size() >= 8 && std::any_of(segs[i].begin(), segs[i].end(),
                                                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
                out[i] = marker;
    }
    for (std::size_t i = 1; i < out.size(); ++i)
        if (looks_like_secret_segment(out[i])) out[i] = marker;
    std::string joined;
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (i) joined.push_back('/');
        joined += out[i];
    }
    return joined;
}

std::string redact_url(std::string_view url)
{
    auto scheme_end = url.find("://");
    std::string out(url.substr(0, scheme_end + 3));
    auto rest = url.substr(scheme_end + 3);
    auto auth_end = rest.find_first_of("/?#");
    auto authority = rest.substr(0, auth_end);
    auto tail = auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
    auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        auto userinfo = authority.substr(0, at);
        auto colon = userinfo.find(':');
        if (colon != std::string_view::npos) {
            out.append(userinfo.substr(0, colon + 1));
            out.append(marker);
        } else {
            out.append(marker);  // a lone userinfo is usually a token (https://TOKEN@host)
        }
        out.push_back('@');
        authority = authority.substr(at + 1);
    }
    out.append(authority);
    std::string host = to_lower(authority.substr(0, authority.find(':')));
    auto frag = tail.find('#');
    auto fragment = frag == std::string_view::npos ? std::string_view() : tail.substr(frag);
    tail = tail.substr(0, frag);
    auto q = tail.find('?');
    auto path = tail.substr(0, q);
    if (!path.empty()) out += redact_path(host, path);
    if (q != std::string_view::npos) {
        out.push_back('?');
        out += redact_query(tail.substr(q + 1));
    }
    out.append(fragment);
    return out;
}

// PEM blocks (`-----BEGIN ...-----` to the matching END line, or to the end of the text when cut):
// the BEGIN line stays as evidence of what it was, the body and END go.
std::string redact_pem(std::string_view text)
{
    constexpr std::string_view begin = "-----BEGIN ";
    auto at = text.find(begin);
    if (at == std::string_view::npos) return std::string(text);
    std::string out;
    std::size_t i = 0;
    while (at != std::string_view::npos) {
        auto label_end = text.find("-----", at + begin.size());
        auto line_end = text.find('\n', at);
        if (label_end == std::string_view::npos || label_end > line_end) {  // no BEGIN line: no block here
            at = text.find(begin, at + begin.size());
            continue;
        }
        std::size_t body = label_end + 5;
        out.append(text.substr(i, body - i));
        out.append(marker);
        auto end = text.find("-----END ", body);
        if (end == std::string_view::npos) return out;  // cut: everything after BEGIN goes
        auto end_close = text.find("-----", end + 9);
        i = end_close == std::string_view::npos ? text.size() : end_close + 5;
        at = text.find(begin, i);
    }
    out.append(text.substr(i));
    return out;
}

bool is_hex(char c)
{
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// Characters of base64 (standard and URL-safe alphabets) and of hex.
bool is_run_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '_' || c == '-';
}

// A run that is encoded bytes rather than words: hex of 16+ bytes, or base64 of 24+ bytes with
// upper case, lower case and digits in one '/'-separated piece (a path's segments are words).
bool encoded_run(std::string_view run)
{
    constexpr std::size_t min_hex = 32, min_base64 = 32, min_piece = 20;
    if (run.size() >= min_hex && std::all_of(run.begin(), run.end(), is_hex) &&
        std::any_of(run.begin(), run.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
        std::any_of(run.begin(), run.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); }))
        return true;
    if (run.size() < min_base64) return false;
    std::size_t start = 0;
    while (start < run.size()) {
        auto slash = run.find('/', start);
        auto piece = run.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        bool digit = false, upper = false, lower_c = false;
        for (char c : piece) {
            digit |= std::isdigit(static_cast<unsigned char>(c)) != 0;
            upper |= std::isupper(static_cast<unsigned char>(c)) != 0;
            lower_c |= std::islower(static_cast<unsigned char>(c)) != 0;
        }
        if (piece.size() >= min_piece && digit && upper && lower_c) return true;
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return false;
}

// Long base64 and hex runs (`$(base64 -w0 key)`, `$(xxd -p key)`), with their '=' padding.
std::string redact_runs(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_run_char(text[i]) || (i > 0 && is_run_char(text[i - 1]))) {
            out.push_back(text[i++]);
            continue;
        }
        std::size_t j = i;
        while (j < text.size() && is_run_char(text[j])) ++j;
        auto run = text.substr(i, j - i);
        if (encoded_run(run)) {
            while (j < text.size() && text[j] == '=') ++j;
            out.append(marker);
        } else {
            out.append(run);
        }
        i = j;
    }
    return out;
}

// Pass 1: URLs. Pass 2 (on the rest): tokens, headers, name=value pairs, bearer.
std::string redact_urls(std::string_view text)
{
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        auto pos = text.find("://", i);
        if (pos == std::string_view::npos) {
            out.append(text.substr(i));
            break;
        }
        std::size_t start = pos;
        while (start > i && (std::isalnum(static_cast<unsigned char>(text[start - 1])) || text[start - 1] == '+' ||
                             text[start - 1] == '.' || text[start - 1] == '-'))
            --start;
        auto end = url_end(text, pos + 3);
        out.append(text.substr(i, start - i));
        out += redact_url(text.substr(start, end - start));
        i = end;
    }
    return out;
}

bool at_word_start(std::string_view text, std::size_t i)
{
    return i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1]));
}

// Length of a value starting at i: up to whitespace, quote, '&', ',', ';' or a closing bracket.
std::size_t value_len(std::string_view text, std::size_t i)
{
    std::size_t j = i;
    while (j < text.size()) {
        char c = text[j];
        if (std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '&' || c == ',' || c == ';' ||
            c == '}' || c == ']' || c == ')')
            break;
        ++j;
    }
    return j - i;
}

// NOLINTNEXTLINE(readability-function-cognitive-complexity): one pass over a grammar or a loop; split is debt (see the closing note of issue 16)
std::string redact_tokens(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        bool done = false;
        if (at_word_start(text, i)) {
            for (const auto& tp : token_prefixes) {
                if (text.substr(i, tp.prefix.size()) != tp.prefix) continue;
                std::size_t j = i + tp.prefix.size();
                while (j < text.size() && is_token_char(text[j])) ++j;
                if (j - i - tp.prefix.size() >= tp.min_body) {
                    out.append(tp.prefix);
                    out.append(marker);
                    i = j;
                    done = true;
                }
                break;
            }
            // AWS access key ids: AKIA/ASIA + 16 upper-case alphanumerics.
            if (!done && (text.substr(i, 4) == "AKIA" || text.substr(i, 4) == "ASIA")) {
                std::size_t j = i + 4;
                while (j < text.size() && (std::isupper(static_cast<unsigned char>(text[j])) ||
                                           std::isdigit(static_cast<unsigned char>(text[j]))))
                    ++j;
                if (j - i >= 16) {
                    out.append(text.substr(i, 4));
                    out.append(marker);
                    i = j;
                    done = true;
                }
            }
            // "Bearer <token>" / "Basic <token>" anywhere.
            if (!done) {
                std::size_t skip = starts_with_nocase(text, i, "bearer ")  ? 7
                                   : starts_with_nocase(text, i, "basic ") ? 6
                                                                           : 0;
                if (skip) {
                    std::size_t j = i + skip;
                    while (j < text.size() && text[j] == ' ') ++j;
                    std::size_t k = j;
                    while (k < text.size() && is_b64_char(text[k])) ++k;
                    if (k - j >= 8) {
                        out.append(text.substr(i, j - i));
                        out.append(marker);
                        i = k;
                        done = true;
                    }
                }
            }
        }
        if (done) continue;
        char c = text[i];
        // name=value / name: value / "name": "value" where the name says secret.
        if (c == '=' || c == ':') {
            std::size_t n_end = i;
            // `key = value` (AWS credentials and INI files) as well as key=value.
            if (c == '=')
                while (n_end > 0 && (text[n_end - 1] == ' ' || text[n_end - 1] == '\t')) --n_end;
            if (n_end > 0 && text[n_end - 1] == '"') --n_end;
            std::size_t n_start = n_end;
            while (n_start > 0 && (is_token_char(text[n_start - 1]) || text[n_start - 1] == '.')) --n_start;
            auto name = text.substr(n_start, n_end - n_start);
            if (!name.empty() && secret_name(name)) {
                std::size_t v = i + 1;
                bool header = c == ':' && sensitive_header(name);
                while (v < text.size() && (text[v] == ' ' || text[v] == '\t' || text[v] == '"' || text[v] == '\'')) ++v;
                std::size_t len = header ? text.size() - v : value_len(text, v);
                if (header) {
                    auto nl = text.find('\n', v);
                    if (nl != std::string_view::npos) len = nl - v;
                }
                // A URL after "name:" is not a value (https://...), nor is "::".
                bool url_like = c == ':' && text.substr(i, 3) == "://";
                if (len > 0 && !url_like && text.substr(v, marker.size()) != marker) {
                    out.append(text.substr(i, v - i));
                    out.append(marker);
                    i = v + len;
                    continue;
                }
            }
        }
        out.push_back(c);
        ++i;
    }
    return out;
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> list)
{
    return std::find(list.begin(), list.end(), s) != list.end();
}

// Long options whose value is a secret, for any program.
bool secret_long_flag(std::string_view flag)
{
    return one_of(flag, {"--password", "--passwd", "--pass", "--token", "--secret", "--api-key", "--apikey",
                         "--access-key", "--secret-key", "--client-secret", "--auth-token", "--oauth2-bearer",
                         "--bearer", "--access-token", "--aws-secret-access-key", "--tls-password", "--key-password"});
}

// "user:password" keeps the user.
std::string redact_userpass(std::string_view value)
{
    auto colon = value.find(':');
    if (colon == std::string_view::npos) return std::string(value);
    return std::string(value.substr(0, colon + 1)) + std::string(marker);
}

// Options whose value is the request body an upload tool sends (curl, wget): payload, which never
// reaches the output. A file reference (`@file`, `name=@file`, `name=<file`) is kept as evidence.
enum class Payload { none, data, literal, form, form_literal, urlencode };

Payload payload_kind(std::string_view flag, bool curl_like)
{
    if (one_of(flag, {"--data", "--data-binary", "--data-ascii", "--json"}) || (curl_like && flag == "-d"))
        return Payload::data;
    if (one_of(flag, {"--data-raw", "--post-data", "--body-data"})) return Payload::literal;
    if (flag == "--form" || (curl_like && flag == "-F")) return Payload::form;
    if (flag == "--form-string") return Payload::form_literal;
    if (flag == "--data-urlencode") return Payload::urlencode;
    return Payload::none;
}

std::string redact_payload(Payload kind, std::string_view value)
{
    if (value.empty()) return {};
    auto named = [&](std::size_t eq, bool file_ref) {
        auto content = value.substr(eq + 1);
        if (file_ref && !content.empty() && (content[0] == '@' || content[0] == '<')) return std::string(value);
        return std::string(value.substr(0, eq + 1)) + std::string(marker);
    };
    switch (kind) {
    case Payload::data: return value[0] == '@' ? std::string(value) : std::string(marker);
    case Payload::form:
    case Payload::form_literal: {
        auto eq = value.find('=');
        return eq == std::string_view::npos ? std::string(marker) : named(eq, kind == Payload::form);
    }
    case Payload::urlencode: {
        auto sep = value.find_first_of("=@");
        if (sep == std::string_view::npos) return std::string(marker);
        return value[sep] == '@' ? std::string(value) : named(sep, false);
    }
    case Payload::literal: return std::string(marker);
    case Payload::none: break;
    }
    return std::string(value);
}

// A request header's value, whatever its name: an attacker picks the name (`X-Trace:
// $(base64 key)`). The name stays as evidence; `@file` (headers read from a file) and a header
// set empty (`X-Foo;`, `X-Foo:`) stay. `strict`: the argument is a header for sure (an HTTP
// client's -H), so text that is no header at all goes too.
std::string redact_header(std::string_view value, bool strict)
{
    if (!value.empty() && value[0] == '@') return redact_text(value);
    auto colon = value.find(':');
    bool named = colon != std::string_view::npos && colon > 0 &&
                 std::all_of(value.begin(), value.begin() + static_cast<std::ptrdiff_t>(colon),
                             [](char c) { return is_token_char(c) || c == '.' || c == ' '; });
    if (named) {
        std::size_t v = colon + 1;
        while (v < value.size() && value[v] == ' ') ++v;
        if (v == value.size()) return std::string(value);
        return std::string(value.substr(0, v)) + std::string(marker);
    }
    bool empty_header = value.size() > 1 && value.back() == ';' &&
                        std::all_of(value.begin(), value.end() - 1, [](char c) { return is_token_char(c); });
    if (strict && !empty_header && !value.empty()) return std::string(marker);
    return redact_text(value);
}

}  // namespace

std::string redact_url_path(std::string_view host, std::string_view path)
{
    if (path.empty() || path.front() != '/') return redact_text(path);
    return redact_path(to_lower(host.substr(0, host.find(':'))), path);
}

std::string redact_option_value(std::string_view flag, std::string_view value)
{
    auto kind = payload_kind(flag, true);
    return redact_text(kind == Payload::none ? std::string(value) : redact_payload(kind, value));
}

std::string redact_text(std::string_view text)
{
    return redact_runs(redact_tokens(redact_urls(redact_pem(text))));
}

// NOLINTNEXTLINE(readability-function-cognitive-complexity): one pass over a grammar or a loop; split is debt (see the closing note of issue 16)
std::vector<std::string> redact_args(const std::vector<std::string>& argv)
{
    std::vector<std::string> out;
    out.reserve(argv.size());
    std::string tool = argv.empty() ? std::string() : util::base_name(argv[0]);
    bool mysql_like = one_of(tool, {"mysql", "mysqldump", "mariadb", "mysqladmin", "mysqlimport", "mysqlshow",
                                    "mysqlcheck", "mariadb-dump"});
    bool login_like = false;  // docker login -p PW, sshpass -p PW
    for (const auto& a : argv)
        if (a == "login") login_like = true;
    if (tool == "sshpass") login_like = true;
    // -d and -F carry a body only for curl (base64 -d does not): by name, or by its long flags
    // when the binary was renamed.
    bool curl_like = tool.rfind("curl", 0) == 0 || std::any_of(argv.begin(), argv.end(), [](const std::string& a) {
                         return a.rfind("--data", 0) == 0 || a.rfind("--form", 0) == 0 || a == "--resolve" ||
                                a == "--json" || a == "--upload-file";
                     });
    bool wget_like = tool.rfind("wget", 0) == 0;
    enum class Next { none, secret, userpass, header, cookie, payload };
    Next next = Next::none;
    bool strict_header = true;  // the pending header is an HTTP client's for sure
    Payload payload = Payload::none;
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        if (next != Next::none) {
            switch (next) {
            case Next::secret: out.emplace_back(marker); break;
            case Next::userpass: out.push_back(redact_text(redact_userpass(arg))); break;
            case Next::header: out.push_back(redact_header(arg, strict_header)); break;
            case Next::cookie:
                out.push_back(arg.find('=') != std::string::npos ? std::string(marker) : redact_text(arg));
                break;
            case Next::payload: out.push_back(redact_text(redact_payload(payload, arg))); break;
            default: break;
            }
            next = Next::none;
            continue;
        }
        if (i == 0) {
            out.push_back(redact_text(arg));
            continue;
        }
        if (arg.rfind("--", 0) == 0) {
            auto eq = arg.find('=');
            std::string flag = arg.substr(0, eq);
            bool has_value = eq != std::string::npos;
            std::string value = has_value ? arg.substr(eq + 1) : std::string();
            auto set = [&](Next kind, const std::string& redacted) {
                if (has_value) out.push_back(std::string(flag).append("=").append(redacted));
                else {
                    out.push_back(arg);
                    next = kind;
                }
            };
            if (secret_long_flag(flag)) set(Next::secret, std::string(marker));
            else if (one_of(flag, {"--user", "--proxy-user"}))
                set(Next::userpass, redact_text(redact_userpass(value)));
            else if (one_of(flag, {"--header", "--proxy-header"})) {
                strict_header = true;
                set(Next::header, has_value ? redact_header(value, true) : "");
            }
            // The user agent is text the caller chose: a free channel (`-A "$(cat key)"`).
            else if (flag == "--user-agent")
                set(Next::secret, std::string(marker));
            else if (flag == "--cookie")
                set(Next::cookie, value.find('=') != std::string::npos ? std::string(marker) : value);
            else if ((payload = payload_kind(flag, curl_like)) != Payload::none)
                set(Next::payload, redact_text(redact_payload(payload, value)));
            else
                out.push_back(redact_text(arg));
            continue;
        }
        if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
            // curl clusters value-less flags before the one that takes a value: -sd BODY, -skH 'H: v'.
            std::size_t at = 1;
            if (curl_like)
                while (at + 1 < arg.size() &&
                       std::string_view("skvLSfiIgNqGjJlnRO0123456Z#:").find(arg[at]) != std::string_view::npos)
                    ++at;
            char f = arg[at];
            std::string attached = arg.substr(at + 1);
            auto set = [&](Next kind, const std::string& redacted) {
                if (!attached.empty()) out.push_back(arg.substr(0, at + 1) + redacted);
                else {
                    out.push_back(arg);
                    next = kind;
                }
            };
            if (mysql_like && f == 'p') {
                // mysql -p alone prompts; the next argument is a database name, not a password.
                out.push_back(attached.empty() ? arg : "-p" + std::string(marker));
            } else if (login_like && f == 'p') {
                set(Next::secret, std::string(marker));
            } else if ((f == 'A' && curl_like) || (f == 'U' && wget_like)) {
                set(Next::secret, std::string(marker));  // the user agent
            } else if (f == 'u' || f == 'U') {
                set(Next::userpass, redact_text(redact_userpass(attached)));
            } else if (f == 'H') {
                strict_header = curl_like || wget_like;
                set(Next::header, redact_header(attached, strict_header));
            } else if (f == 'b' && tool == "curl") {
                set(Next::cookie, attached.find('=') != std::string::npos ? std::string(marker) : attached);
            } else if ((payload = payload_kind(std::string{'-', f}, curl_like)) != Payload::none) {
                set(Next::payload, redact_text(redact_payload(payload, attached)));
            } else {
                out.push_back(redact_text(arg));
            }
            continue;
        }
        out.push_back(redact_text(arg));
    }
    return out;
}

std::string redacted_command_line(const std::vector<std::string>& argv, std::size_t max_size)
{
    std::string line;
    for (const auto& a : redact_args(argv)) {
        if (!line.empty()) line.push_back(' ');
        line += a;
    }
    if (line.size() > max_size) {
        line.resize(max_size);
        line += "...";
    }
    return line;
}

bool redact_secret_args(std::vector<std::string>& argv, const SecretTest& contains_secret)
{
    bool any = false;
    for (auto& arg : argv) {
        if (arg.size() < 16 || !contains_secret(arg)) continue;  // every fingerprint is 16 bytes or more
        arg = std::string(redacted_marker);
        any = true;
    }
    return any;
}

namespace {

// A name's parts between `separator`s that hold a secret become the marker; the whole name (its
// `lead` and the marker) when the secret spans parts.
bool redact_secret_parts(std::string& name, char separator, std::string_view lead, const SecretTest& contains_secret)
{
    if (name.size() < 16 || !contains_secret(name)) return false;  // every fingerprint is 16 bytes or more
    std::string out;
    bool any = false;
    const auto parts = util::split(name, separator);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out.push_back(separator);
        const bool secret = parts[i].size() >= 16 && contains_secret(parts[i]);
        out += secret ? redacted_marker : parts[i];
        any = any || secret;
    }
    name = any ? out : std::string(lead) + std::string(redacted_marker);
    return true;
}

}  // namespace

bool redact_secret_path(std::string& path, const SecretTest& contains_secret)
{
    return redact_secret_parts(path, '/', path.starts_with('/') ? "/" : "", contains_secret);
}

bool redact_secret_domain(std::string& name, const SecretTest& contains_secret)
{
    return redact_secret_parts(name, '.', "", contains_secret);
}

}  // namespace exfilwatch::redact
