// libFuzzer target for detect/content: any bytes as a plaintext write (the HTTP layout scan and
// the fingerprint scan), as a command line (NUL-separated arguments: the argument scan and the
// role of each argument) and as a sensitive file's text (token extraction). Regions must cover the
// write in order within its bounds, every match must name the fixed file, and a file's tokens
// must be found again in their raw form, and what is said of them be of them.
#include "detect/content.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace exfilwatch;
    using namespace exfilwatch::detect;
    const auto bytes = std::as_bytes(std::span(data, size));
    const auto layout = http_layout(bytes);
    std::size_t at = 0;
    for (const auto& region : layout.regions) {
        if (region.begin != at || region.end <= region.begin || region.end > size) std::abort();
        at = region.end;
    }
    if (at != (layout.regions.empty() ? 0 : size) || layout.body_begin > size) std::abort();

    static const FingerprintIndex index = [] {
        FingerprintIndex i(4, {5, 6});
        i.add_file("/home/u/.config/gh/hosts.yml", 1, 2,
                   "github.com:\n    oauth_token: gho_Fuzz0123456789abcdefABCDEF\n");
        return i;
    }();
    PlaintextWrite write;
    write.source = "openssl";
    write.write_size = size;
    write.data.assign(bytes.begin(), bytes.end());
    const auto scan = scan_plaintext(index, write, true);
    for (const auto& m : scan.matches) {
        if (m.path != "/home/u/.config/gh/hosts.yml" || m.inode != 2) std::abort();
        // Said of a place the request names a host for, and a field's name never holds a form.
        if (!m.audience.empty() && m.audience != "named" && m.audience != "foreign") std::abort();
        if (m.header.size() > 15 && m.location == "body") std::abort();
        if (m.header.size() > 40 && m.header != "[REDACTED]") std::abort();
    }
    if (scan.body_bytes > size || scan.opaque_bytes > size) std::abort();
    for (const auto& name : scan.auth_headers)
        if (name.size() > 40 || index.contains_secret(name)) std::abort();

    // The same bytes as a command line: every match names the fixed file, and no name shown can
    // hold a whole form (15 characters at most, name characters only).
    ProcessRef process;
    process.args.emplace_back("gh");
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    for (std::size_t start = 0; start <= size && process.args.size() < 64;) {
        auto end = line.find('\0', start);
        if (end == std::string_view::npos) end = size;
        process.args.emplace_back(line.substr(start, end - start));
        start = end + 1;
    }
    const auto args = scan_arguments(index, 1, process);
    for (const auto& m : args.matches) {
        if (m.path != "/home/u/.config/gh/hosts.yml" ||
            (m.location != "argument" && m.location != "auth-argument" && m.location != "positional-argument"))
            std::abort();
        if (m.header.size() > 15) std::abort();
    }
    for (std::size_t i = 1; i < process.args.size(); ++i)
        for (std::size_t at : {std::size_t{0}, process.args[i].size() / 2, process.args[i].size()})
            if (argument_role(process.args[i], process.args[i - 1], at).name.size() > 15) std::abort();

    // The same bytes as a file's text: each token it yields is found raw in a write of itself.
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    FingerprintIndex own(2, {7, 8});
    own.add_file("/f", 1, 9, text);
    const auto few = file_tokens(text, 16, 4);
    if (few.size() > 4) std::abort();
    for (const auto& token : few) {
        if (token.text.size() < 16) std::abort();
        if (!own.contains_secret(token.text)) std::abort();
    }
    // Each token once; the hosts named for it are bounded host names, its words bounded lower
    // case words, its setting a short word.
    const auto all = file_tokens(text);
    for (std::size_t i = 0; i < all.size(); ++i) {
        const auto& facts = all[i].facts;
        for (std::size_t j = 0; j < i; ++j)
            if (all[j].text == all[i].text) std::abort();
        if (facts.hosts.size() > TokenFacts::max_hosts || facts.words.size() > TokenFacts::max_words) std::abort();
        for (const auto& host : facts.hosts)
            if (host.empty() || host.size() > 253 || host.find_first_of(":/@ ") != std::string::npos) std::abort();
        for (const auto& word : facts.words)
            if (word.size() < 3 ||
                !std::all_of(word.begin(), word.end(), [](unsigned char c) { return std::islower(c) != 0; }))
                std::abort();
        if (facts.setting.size() > 15) std::abort();
    }
    return 0;
}
