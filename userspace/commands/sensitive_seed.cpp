// commands: the start-up seed of sensitive files (see sensitive_seed.hpp).
#include "commands/sensitive_seed.hpp"

#include <glob.h>
#include <sys/stat.h>

#include <fstream>
#include <set>

namespace exfilwatch::commands {
namespace {

constexpr std::size_t max_homes = 4096;

std::vector<std::string> homes(const std::string& passwd_path)
{
    std::set<std::string> out;
    std::ifstream in(passwd_path);
    std::string line;
    while (out.size() < max_homes && std::getline(in, line)) {
        // name:password:uid:gid:gecos:home:shell
        std::size_t start = 0;
        for (int field = 0; field < 5 && start != std::string::npos; ++field) {
            start = line.find(':', start);
            if (start != std::string::npos) ++start;
        }
        if (start == std::string::npos) continue;
        auto end = line.find(':', start);
        auto home = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (home.size() > 1 && home.front() == '/' && home != "/nonexistent") out.insert(home);
    }
    return {out.begin(), out.end()};
}

void expand(const std::string& pattern, const detect::Rules& rules, std::size_t cap, std::set<std::string>& seen,
            std::vector<SeedFile>& out)
{
    glob_t g{};
    if (glob(pattern.c_str(), GLOB_NOSORT | GLOB_NOESCAPE, nullptr, &g) == 0) {
        for (std::size_t i = 0; i < g.gl_pathc && out.size() < cap; ++i) {
            std::string path = g.gl_pathv[i];
            struct stat st {};
            if (!seen.insert(path).second || lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            if (!rules.classify(path)) continue;  // excluded (*.pub) or another class's exception
            out.push_back(SeedFile{path, static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)});
        }
    }
    globfree(&g);
}

}  // namespace

std::vector<SeedFile> find_sensitive_files(const detect::Rules& rules, const std::string& passwd_path, std::size_t cap)
{
    std::vector<SeedFile> out;
    std::set<std::string> seen;
    const auto home_dirs = homes(passwd_path);
    for (const auto& cls : rules.sensitive) {
        for (const auto& glob_pattern : cls.paths) {
            std::string p = glob_pattern.pattern();
            // "**" (any depth) is looked at one level deep: the seed is a head start, reads still classify.
            for (auto at = p.find("**"); at != std::string::npos; at = p.find("**")) p.replace(at, 2, "*");
            if (p.rfind("~/", 0) == 0) {
                for (const auto& h : home_dirs) {
                    if (out.size() >= cap) return out;
                    expand(h + p.substr(1), rules, cap, seen, out);
                }
            } else if (!p.empty() && p.front() == '/') {
                expand(p, rules, cap, seen, out);
            }
            if (out.size() >= cap) return out;
        }
    }
    return out;
}

}  // namespace exfilwatch::commands
