// detect: reading a rules file (see rules_file.hpp).
#include "detect/rules_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

namespace exfilwatch::detect {
namespace {

// Why `st` (of `what`) could be changed by someone other than root or us; empty when it cannot.
std::string untrusted_because(const struct stat& st, const std::string& what)
{
    const uid_t self = geteuid();
    if (st.st_uid != 0 && st.st_uid != self)
        return fmt::format("{} is owned by uid {}, not root (chown root {})", what, st.st_uid, what);
    // A sticky directory (/tmp) lets others add files but not replace ours.
    const bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky_dir)
        return fmt::format("{} is writable by {} (mode {:04o}; chmod go-w {})", what,
                           st.st_mode & S_IWOTH ? "everyone" : "its group", st.st_mode & 07777, what);
    return {};
}

}  // namespace

std::string read_rules_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("cannot read rules file {}", path));
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Reads the rules through one descriptor, so the file checked is the file read.
std::string read_trusted_rules_file(const std::string& path)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot read rules file {}: {}", path, std::strerror(errno)));
    struct stat st {};
    std::string reason;
    if (::fstat(fd, &st) != 0) reason = std::strerror(errno);
    else if (!S_ISREG(st.st_mode))
        reason = "not a regular file";
    else
        reason = untrusted_because(st, path);
    if (reason.empty()) {
        const auto slash = path.rfind('/');
        const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
        struct stat dir_st {};
        if (::stat(dir.c_str(), &dir_st) == 0) reason = untrusted_because(dir_st, dir);
    }
    std::string text;
    char chunk[65536];
    ssize_t n = 0;
    while (reason.empty() && (n = ::read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) reason = std::strerror(errno);
        else
            text.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (!reason.empty()) throw std::runtime_error(fmt::format("refusing rules file {}: {}", path, reason));
    return text;
}

Rules load_rules_file(const std::string& path, bool require_trusted)
{
    auto result = path.empty()      ? load_rules(builtin_rules_yaml, "built-in rules")
                  : require_trusted ? load_rules(read_trusted_rules_file(path), path)
                                    : load_rules(read_rules_file(path), path);
    if (auto* error = std::get_if<RulesError>(&result)) throw std::runtime_error(error->to_string());
    return std::get<Rules>(std::move(result));
}

}  // namespace exfilwatch::detect
