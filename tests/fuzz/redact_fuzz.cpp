// libFuzzer target for redact/: any argv never crashes, and a secret planted in a position
// that must be redacted (password flag, any header value, user agent, URL credentials, webhook
// token, PEM block, `key = value`) never survives, nor an argument holding a secret's bytes
// (redaction by content).
#include "redact/redact.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace {

// A secret of 8+ alphanumerics from the input, or empty when the input has too few.
std::string secret_from(const std::uint8_t* data, std::size_t size)
{
    std::string s;
    for (std::size_t i = 0; i < size && s.size() < 24; ++i) {
        char c = static_cast<char>(data[i]);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) s.push_back(c);
    }
    return s.size() >= 8 ? s : std::string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace exfilwatch::redact;
    // 1. Arbitrary argv split on NUL: must not crash, output count equals input count.
    std::vector<std::string> argv;
    std::string cur;
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == 0) {
            argv.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(static_cast<char>(data[i]));
        }
    }
    argv.push_back(cur);
    if (redact_args(argv).size() != argv.size()) std::abort();
    (void)redact_text(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)redacted_command_line(argv, 64);

    // 2. Planted secrets must go.
    auto secret = secret_from(data, size);
    if (secret.empty()) return 0;
    const std::vector<std::vector<std::string>> planted = {
        {"curl", "-u", "user:" + secret, "https://x.io"},
        {"curl", "-H", "Authorization: Bearer " + secret},
        {"curl", "--header=X-Api-Key: " + secret},
        {"curl", "https://user:" + secret + "@x.io/p"},
        {"curl", "https://x.io/p?token=" + secret + "&a=b"},
        {"curl", "https://discord.com/api/webhooks/123/" + secret},
        {"curl", "https://hooks.slack.com/services/T1/B2/" + secret},
        {"curl", "https://api.telegram.org/bot" + secret + "/sendMessage"},
        {"app", "--password=" + secret},
        {"app", "--token", secret},
        {"env", "MY_SECRET=" + secret},
        {"mysql", "-p" + secret},
        {"git", "push", "https://ghp_" + secret + "@github.com/o/r"},
        {"curl", "-H", "X-Trace: " + secret, "https://paste.rs/"},
        {"curl", "-sH", secret},
        {"curl", "-A", secret, "https://paste.rs/"},
        {"curl", "--user-agent=" + secret, "https://x.io"},
        {"wget", "-U", secret},
        {"x", "-----BEGIN OPENSSH PRIVATE KEY-----\n" + secret + "\n-----END OPENSSH PRIVATE KEY-----"},
        {"x", "-----BEGIN RSA PRIVATE KEY-----\n" + secret},
        {"env", "aws_secret_access_key = " + secret},
    };
    // A secret that also occurs in the fixed text around it (e.g. "Authoriz") proves nothing.
    std::string fixed;
    for (const auto& p : planted)
        for (const auto& a : p) {
            auto at = a.find(secret);
            fixed += (at == std::string::npos ? a : a.substr(0, at) + "\n" + a.substr(at + secret.size())) + "\n";
        }
    if (fixed.find(secret) != std::string::npos) return 0;
    if (redacted_marker.find(secret) != std::string_view::npos) return 0;  // "REDACTED" as the secret
    for (const auto& p : planted) {
        for (const auto& out : redact_args(p))
            if (out.find(secret) != std::string::npos) std::abort();
        // Free text has no argv context (mysql's -p), but a lone URL or NAME=value must still go.
        bool context_free = p.size() == 2 && p[0] != "mysql";
        if (context_free && redact_text(p.back()).find(secret) != std::string::npos) std::abort();
    }
    // 3. Redaction by content: any argument that holds the secret anywhere goes whole (one of 16
    // bytes or more: no fingerprint is shorter), and the arguments that do not hold it stay as
    // they were.
    auto holds = [&](std::string_view a) { return a.find(secret) != std::string_view::npos; };
    auto content_argv = argv;
    content_argv.push_back("{\"description\":\"" + secret + "\"}");
    auto before = content_argv;
    redact_secret_args(content_argv, holds);
    if (content_argv.size() != before.size()) std::abort();
    for (std::size_t i = 0; i < before.size(); ++i) {
        if (before[i].size() >= 16 && content_argv[i].find(secret) != std::string::npos) std::abort();
        if (!holds(before[i]) && content_argv[i] != before[i]) std::abort();
    }
    // 4. A request's path: any bytes never crash; a webhook's token in its host's path goes; one
    // that holds the secret keeps no segment holding it.
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)redact_url_path(text.substr(0, text.find('/')), text.substr(std::min(text.find('/'), text.size())));
    if (std::string_view("/services/T1/B2/ /api/webhooks/123/ /bot/sendMessage").find(secret) != std::string_view::npos)
        return 0;  // the secret is the fixed text's
    for (const auto& [host, path] :
         {std::pair<std::string, std::string>{"hooks.slack.com", "/services/T1/B2/" + secret},
          {"discord.com", "/api/webhooks/123/" + secret},
          {"api.telegram.org", "/bot" + secret + "/sendMessage"}})
        if (redact_url_path(host, path).find(secret) != std::string::npos) std::abort();
    std::string path = "/x/" + secret + std::string(16, 'p') + "/y";
    if (redact_secret_path(path, holds) && path.find(secret) != std::string::npos) std::abort();
    // A name of the input's bytes that holds the secret keeps no part holding it, nor itself.
    for (std::string name :
         {std::string(text), secret + std::string(16, 'h') + ".paste.rs", std::string(text) + secret}) {
        const bool held = name.size() >= 16 && holds(name);
        if (redact_secret_domain(name, holds) != held) std::abort();
        if (held && secret.size() >= 16 && name.find(secret) != std::string::npos)
            std::abort();  // (a fingerprint is 16 bytes or more: a shorter part never holds one)
    }
    return 0;
}
