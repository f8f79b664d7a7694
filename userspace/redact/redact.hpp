// redact: the stage every command line and piece of evidence passes before output (pure, no
// dependencies but the standard library). Alerts and telemetry name the command that ran; they
// must not re-leak the webhook token, password or API key it carried. What is kept (host, flag,
// header name, token prefix) keeps the evidence recognisable.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace exfilwatch::redact {

inline constexpr std::string_view redacted_marker = "[REDACTED]";

// Redacts one argv: context from the program (argv[0]) and from the previous argument
// (`-u user:pw`, `-H 'Authorization: ...'`, `--password x`, mysql `-pPW`), then redact_text on
// every argument.
std::vector<std::string> redact_args(const std::vector<std::string>& argv);

// Redacts secrets in free text: URL credentials, webhook/bot tokens in URL paths, secret query
// values, well-known token formats (ghp_, github_pat_, glpat-, xox?-, AKIA...), bearer tokens,
// sensitive headers and `name=value` pairs whose name says secret.
std::string redact_text(std::string_view text);

// A request's path (no query) as telemetry names it: a webhook's or bot's token in it (Slack,
// Discord, Telegram, Office, Zapier, IFTTT by `host`) and any long secret-looking segment become
// the marker; the rest (/services/T.../B.../, /api/webhooks/ID/) stays as evidence.
std::string redact_url_path(std::string_view host, std::string_view path);

// The value of an upload tool's option as evidence: a request body given inline (curl -d TEXT,
// -F name=TEXT, wget --post-data=TEXT) becomes the marker, a file reference (@file) stays.
std::string redact_option_value(std::string_view flag, std::string_view value);

// argv joined by spaces after redaction, cut to `max_size` bytes (with "..." when cut).
std::string redacted_command_line(const std::vector<std::string>& argv, std::size_t max_size = 512);

// Redaction by content: every argument in which `contains_secret` finds the bytes of a secret
// (detection's fingerprints of the sensitive files read: raw, base64, hex or URL-encoded, however
// the argument frames them) becomes the marker whole. Returns whether any did; `argv` is left as
// it is when none did.
using SecretTest = std::function<bool(std::string_view argument)>;
bool redact_secret_args(std::vector<std::string>& argv, const SecretTest& contains_secret);
// The same for a path (a file's, an executable's, a request's): each segment that holds a secret
// becomes the marker, the whole path ("/" and the marker) when the secret spans segments (a
// base64 form holds '/'). Returns whether it changed.
bool redact_secret_path(std::string& path, const SecretTest& contains_secret);
// The same for a host or domain name, by its labels ("[REDACTED].paste.rs": the site stays as
// evidence).
bool redact_secret_domain(std::string& name, const SecretTest& contains_secret);

}  // namespace exfilwatch::redact

// Detection redacts its evidence where it builds it, and calls these unqualified.
namespace exfilwatch::detect {
using redact::redact_args;
using redact::redact_option_value;
using redact::redact_text;
using redact::redacted_command_line;
using redact::redacted_marker;
}  // namespace exfilwatch::detect
