// libFuzzer target for enrich/hosts: any bytes as a hosts file (and, split at the first NUL, an
// address and argv), and the argv alone for argv_name; a name, when given, is a lower-case host
// token.
#include "enrich/hosts.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto nul = input.find('\0');
    std::string_view text = input.substr(0, nul);
    std::string_view rest = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
    std::vector<std::string> args{"prog"};
    std::size_t start = 0;
    while (start < rest.size()) {
        auto space = rest.find(' ', start);
        args.emplace_back(rest.substr(start, space == std::string_view::npos ? std::string_view::npos : space - start));
        start = space == std::string_view::npos ? rest.size() : space + 1;
    }
    std::string ip = args.size() > 1 ? args[1] : "127.0.0.1";
    for (const auto& address : {ip, std::string("127.0.0.1"), std::string("::1")}) {
        auto name = exfilwatch::enrich::hosts_name(text, address, args);
        if (name.size() > 253 ||
            (!name.empty() && text.find_first_of(name.front()) == std::string_view::npos &&
             text.find_first_of(static_cast<char>(std::toupper(name.front()))) == std::string_view::npos))
            std::abort();
        for (char c : name)
            if (std::isupper(static_cast<unsigned char>(c)) || std::isspace(static_cast<unsigned char>(c)))
                std::abort();
    }
    for (std::uint16_t port : {std::uint16_t{80}, std::uint16_t{443}, std::uint16_t{9009}}) {
        auto name = exfilwatch::enrich::argv_name(args, port);
        if (name.size() > 253 || name.find_first_of(" /:@") != std::string::npos) std::abort();
        for (char c : name)
            if (std::isupper(static_cast<unsigned char>(c))) std::abort();
    }
    return 0;
}
