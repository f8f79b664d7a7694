// detect: use versus leak, decided by content. When a file is classified sensitive its secret
// tokens (values of `key = value` / `key: value`, PEM body lines, long token runs) are kept as
// keyed hashes of their raw, base64 (three alignments, standard and URL alphabets), hex and
// URL-encoded forms; plaintext a process sends (a TLS library write, a plain HTTP stream head; an
// HTTP/2 one as its frames decoded) is scanned for them and for where they sit in an HTTP request
// (request line, an authentication header, another header, the body). The result (a ContentScanEvent: which file, which encoding,
// where; never a byte of either) is telemetry, so replay equals live, and per (uploader,
// destination) it says whether a credential was used (sent only to authenticate) or leaked.
// The only plaintext kept is a connection's tail (PlaintextTail): the last bytes of its previous
// write, at most the longest form less one and never over 1023 bytes, so that a token cut across
// two writes is still seen whole; it lives in memory only, until the next write of that
// connection (or the connection's continuity breaks, or it ages out of a bound the engine keeps),
// and is never output. The hash key is random per run and lives only in memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "detect/rules.hpp"
#include "detect/signals.hpp"
#include "events.hpp"
#include "util/bounded.hpp"

namespace exfilwatch::detect {

// What a file says of one of its tokens.
// `signing`: a key which signs: the body of a PEM or OpenSSH private key, the value of a setting
// named for a secret access key, a private key, an account key or a client key's data
// (aws_secret_access_key and rclone's secret_access_key, a service account's "private_key", an
// Azure storage AccountKey, kubeconfig's client-key-data). A client authenticates with such a key
// by a signature made with it (SigV4, SSH, TLS, JWT): its bytes never travel, so in an
// authentication header they are a leak, not use.
// `hosts`: the hosts the file names the token for (at most max_hosts): a URL's host beside its
// userinfo (https://user:TOKEN@github.com) or its path (a webhook URL's
// https://hooks.slack.com/services/T/B/TOKEN), an npmrc key's (//registry.npmjs.org/:_authToken=),
// netrc's machine, the host a section is keyed by (gh's hosts.yml `github.com:`, a docker
// config's `"ghcr.io": {`). A token a file names hosts for authenticates to them alone: sent in
// an authentication header to another site, it is a leak.
// `words`: where it names no host, the service words of its setting's name and section (at most
// max_words, lower case, common words such as token, api, webhook, url dropped): TELEGRAM_BOT_TOKEN
// says telegram, `[pushover]` then `token = ...` says pushover (see word_names_site).
// `setting`: the last word of its setting's name, lower case (PUSHOVER_USER: "user"): a form
// field of that name hands the service its own setting.
struct TokenFacts {
    static constexpr std::size_t max_hosts = 4;
    static constexpr std::size_t max_words = 4;
    bool signing = false;
    std::vector<std::string> hosts;
    std::vector<std::string> words;
    std::string setting;
};
// One secret-looking token of a file's text and what the file says of it.
struct FileToken {
    std::string text;
    TokenFacts facts;
};
// The secret-looking tokens of a file's text, in the order found, each once: values of
// `key = value` and `key: value` lines (quotes stripped), the token of a URL's userinfo
// (https://user:TOKEN@host), a URL's path segments and query values with a digit (a webhook's
// id and token), PEM body lines and any run of token characters with a digit, each at least
// `min_length` long. At most `max_tokens`.
std::vector<FileToken> file_tokens(std::string_view text, std::size_t min_length = 16, std::size_t max_tokens = 256);
// Whether a service word names a host's site: the site's main label (telegram of
// api.telegram.org, ntfy of ntfy.sh) is the word, or the word with at most three letters before
// or after it (discordapp.com for discord, getsentry.com for sentry). False when either is empty.
bool word_names_site(std::string_view word, std::string_view host);
// Whether two hosts are one site: the same last two labels (three under a short second level of
// a country code: example.co.uk), so api.github.com is github.com's, auth.docker.io
// index.docker.io's. False when either is empty.
bool same_site(std::string_view a, std::string_view b);

// The forms a token can travel in, each named as the evidence names it.
struct TokenForm {
    std::string encoding;  // "raw", "base64", "base64url", "hex", "url"
    std::string text;
};
// raw; base64 and base64url of the token at each of the three alignments it can have inside a
// larger base64 stream (the whole 3-byte groups only, so the form is the same whatever
// surrounds the token); lower- and upper-case hex; URL percent-encoding when it differs.
std::vector<TokenForm> token_forms(std::string_view token);

// Where a byte of an HTTP/1.x request write sits. A write that does not start with a request
// line is all body (a continuation of the previous request's body, or not HTTP at all).
struct HttpRegion {
    enum class Kind : std::uint8_t { request_line, header, body };
    Kind kind = Kind::body;
    std::size_t begin = 0, end = 0;
    std::string header;  // the header's name, lower case (header regions)
};
struct HttpLayout {
    bool request = false;             // the write starts with a request line
    std::vector<HttpRegion> regions;  // in order, covering the write
    std::size_t body_begin = 0;       // where the body starts (the write's size: no body in it)
};
// Pure: any bytes in, a layout covering them out (headers at most 128; a head cut by the end of
// the write leaves the rest as headers).
HttpLayout http_layout(std::span<const std::byte> data);
// The layout of an HTTP/2 write's decoded frames over `text`, which it fills: each field's value
// on a line of its own (pseudo-headers as the request line, the others as headers by name),
// then the DATA payloads as the body.
HttpLayout http2_layout(const DecodedFrames& frames, std::vector<std::byte>& text);
// Cookie, and any header named for a credential (a segment token, secret, password, auth, key or
// api key ...): Authorization, Proxy-Authorization, X-Api-Key, Private-Token, DD-API-KEY,
// X-Sentry-Auth (lower case).
bool is_auth_header(std::string_view lower_name);
// Bytes of a body that could carry data no fingerprint can see: not text (compressed, encrypted)
// or runs of 48 or more base64/hex characters (an encoded blob; a 40-character commit id is not).
std::uint64_t opaque_bytes(std::span<const std::byte> body);

// The fingerprints of the sensitive files read so far, bounded (files, tokens per file); the
// oldest file goes first.
class FingerprintIndex {
public:
    explicit FingerprintIndex(std::size_t max_files = 512, std::array<std::uint64_t, 2> key = random_key());

    // Adds (or refreshes) a file's tokens from its content; returns how many tokens it has.
    std::size_t add_file(const std::string& path, std::uint64_t device, std::uint64_t inode, std::string_view content);
    bool has_file(std::uint64_t device, std::uint64_t inode) const;
    std::size_t files() const { return files_.size(); }
    std::size_t forms() const { return form_count_; }
    // Changes whenever a file is added: a memo of scan results is good while it stays.
    std::uint64_t generation() const { return next_id_; }
    // Whether `text` holds any fingerprinted token, in any of its forms.
    bool contains_secret(std::string_view text) const
    {
        return !scan(std::span(reinterpret_cast<const std::byte*>(text.data()), text.size())).empty();
    }

    struct Hit {
        std::string path;
        std::uint64_t device = 0, inode = 0;
        std::string encoding;
        std::size_t offset = 0, length = 0;
        const TokenFacts* facts = nullptr;  // its token's (valid while the index is unchanged)
        bool signing() const { return facts && facts->signing; }
    };
    // `starts`: only hits starting before it (a joined tail's hits, the rest scanned on their own).
    std::vector<Hit> scan(std::span<const std::byte> data, std::size_t starts = SIZE_MAX) const;
    // The longest form held (0: none): a form cut by a write boundary has at most this less one
    // byte before it.
    std::size_t longest_form() const { return lengths_.empty() ? 0 : lengths_.rbegin()->first; }

    static std::array<std::uint64_t, 2> random_key();

private:
    static constexpr std::size_t window = 16;  // every form is at least this long
    struct Form {
        std::uint64_t file = 0;  // the file's id
        std::uint32_t length = 0;
        std::uint8_t encoding = 0;
        std::uint16_t token = 0;  // its token's index in File::tokens
        std::uint64_t hash = 0;   // of the whole form
    };
    struct File {
        std::string path;
        std::uint64_t device = 0, inode = 0;
        std::vector<std::uint64_t> windows;  // this file's entries in by_window_
        std::vector<TokenFacts> tokens;      // what the file says of each of its tokens
    };
    std::uint64_t hash(const void* data, std::size_t size) const;
    void remove(std::uint64_t id);

    std::array<std::uint64_t, 2> key_;
    std::size_t max_files_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, File> files_;  // id order is age order
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> by_inode_;
    std::unordered_map<std::uint64_t, std::vector<Form>> by_window_;  // hash of a form's first 16 bytes
    std::size_t form_count_ = 0;
    std::map<std::uint32_t, std::size_t> lengths_;  // form length -> how many forms have it
};

// Scans one plaintext write (pure given the index): matches, where they sit, the auth headers
// present (names only), the body's size and opaque bytes; an HTTP/2 write by its decoded frames.
// `complete`: the caller's continuity of the connection's plaintext so far.
// `tail` (optional, per connection): the previous write's last plaintext, joined before this
// write's when `complete` so a form cut by the boundary is matched (only hits that end in this
// write count; one that starts in the tail takes the tail's location); then replaced by this
// write's (empty when this write was not fully seen).
struct PlaintextTail {
    static constexpr std::size_t max_bytes = 1023;
    std::vector<std::byte> bytes;
    HttpRegion::Kind kind = HttpRegion::Kind::body;  // where the previous write's plaintext ended
    std::string header;                              // its header's name as shown (a header region)
};
// `known_host`: the connection's name so far (its SNI), which a write without a Host header (or
// HTTP/2 :authority) of its own is taken to go to; a match in an authentication header, the
// request line or a credential field of the body says whether its file names that host for it
// (`audience`: named, foreign or neither; see TokenFacts and ContentMatch).
ContentScanEvent scan_plaintext(const FingerprintIndex& index, const PlaintextWrite& write, bool complete,
                                PlaintextTail* tail = nullptr, std::string_view known_host = {});

// Where a secret found in a command-line argument sits, by the tool-independent grammar of
// credentials on a command line: an authentication header's value (`-H "Authorization: token
// T"`, `http.extraHeader=Authorization: ...`), a URL's userinfo (`https://u:T@host`), a
// credential query parameter (`?access_token=T`), the value of a credential option (`-u`, `-p`,
// `--password`, `--token`, any option named for a token, secret, password or key) or a
// credential-named assignment (`AWS_SECRET_ACCESS_KEY=T`, `-var token=T`) hand it to a tool to
// authenticate with: "auth-argument". The value of any other option, field or header (`--body`,
// `-d`, `-f body=`, `X-Trace:`) is data the tool sends: "argument". A bare positional argument
// says neither (`vault login TOKEN` authenticates, `curl .../bot<TOKEN>/send` too):
// "positional-argument", no evidence either way.
// `name`: the option or header it is the value of (lower case, at most 15 characters, so never
// a whole secret form), empty when none.
struct ArgumentRole {
    enum Kind : std::uint8_t { data, credential, positional };
    Kind kind = positional;
    std::string name;
};
// `arg` holds the secret at `at`; `previous` is the argument before it (empty for the first).
ArgumentRole argument_role(std::string_view arg, std::string_view previous, std::size_t at);

// The secrets in a process's command line (pure given the index): one scan of source "argv",
// no flow, a match per file, encoding and role (location "argument", "auth-argument" or
// "positional-argument", `header` the option; a credential's `audience` judged against the host
// of the command line's first URL that is not a proxy's, when it has one). A secret store's command (`secret` or `secrets` among its first three arguments:
// gh secret set, kubectl create secret) is given credentials wherever they sit. Scanned from
// argv[1]; never a byte of an argument in it.
ContentScanEvent scan_arguments(const FingerprintIndex& index, TimeNs time, const ProcessRef& process);

// Per (uploader, destination): what the scans of its flows said, for scoring.
struct ContentFacts {
    std::uint64_t scans = 0;
    std::uint64_t plaintext_bytes = 0;          // written through the scanned writes
    std::set<std::uint64_t> cookies;            // the connections scanned (at most 64 kept)
    bool incomplete = false;                    // a write not seen, or a head cut short
    std::uint64_t opaque = 0;                   // opaque body bytes
    std::map<std::string, std::string> leaked;  // sensitive path -> "base64 in the body"
    // Sensitive paths seen only authenticating: in an authentication header (not to a site its
    // file names other hosts for), or in the request line or a credential field of the body of
    // a request to a host its file names for it; no signing key.
    std::set<std::string> authenticating;
    // Of those, seen in an authentication header of a request to a host their file names nothing
    // for: path -> "raw in the header authorization" (a leak where the category wants names).
    std::map<std::string, std::string> unnamed;
};

class ContentEvidence {
public:
    explicit ContentEvidence(std::size_t max_pairs = 16384) : max_pairs_(max_pairs) {}
    void note(const std::string& pair_key, const ContentScanEvent& scan);
    const ContentFacts* find(const std::string& pair_key) const { return pairs_.find(pair_key); }

private:
    std::size_t max_pairs_;
    util::LruMap<std::string, ContentFacts> pairs_;
};

// A sensitive file's verdict on one pair: leaked (its content left: content-match), used (the
// whole plaintext was seen, the file's secret went into an authentication header and nowhere
// else, and nothing opaque went with it) or unknown (the volume signals decide).
enum class ContentVerdict : std::uint8_t { unknown, used, leaked };
// `bytes_out`: the pair's bytes out, which the scanned plaintext (plus each connection's handshake
// and record framing) must account for. `named_only` (a category with named_credentials): a
// secret sent in an authentication header to a host its file names nothing for is leaked.
ContentVerdict content_verdict(const ContentFacts& facts, const std::string& path, std::uint64_t bytes_out,
                               bool named_only = false);

// content-match for each data file whose content a scan found leaving; files proven used (see
// content_verdict) move from the data to own use, so the volume signals do not count them.
// Returns whether a leak was found. `facts`: the pair's (nullptr: no scan); `category`: the
// destination's (nullptr: none), whose named_credentials content_verdict applies.
bool content_signals(const Rules& rules, const ContentFacts* facts, std::uint64_t bytes_out, DataInLineage& data,
                     SignalList& out, const Category* category = nullptr);

}  // namespace exfilwatch::detect
