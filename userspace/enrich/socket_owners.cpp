// enrich: socket inode -> owning pid from /proc (see socket_owners.hpp).
#include "enrich/socket_owners.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>

namespace exfilwatch::enrich {

std::uint64_t parse_socket_link(std::string_view target)
{
    constexpr std::string_view prefix = "socket:[";
    if (target.size() <= prefix.size() + 1 || target.substr(0, prefix.size()) != prefix || target.back() != ']')
        return 0;
    auto digits = target.substr(prefix.size(), target.size() - prefix.size() - 1);
    std::uint64_t inode = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), inode);
    if (error != std::errc{} || end != digits.data() + digits.size()) return 0;
    return inode;
}

SocketOwners::SocketOwners(std::string proc_root, std::uint32_t self_pid, std::size_t max_fds, TimeNs min_rescan_ns)
    : proc_root_(std::move(proc_root)), self_pid_(self_pid), max_fds_(max_fds), min_rescan_ns_(min_rescan_ns)
{
}

std::uint32_t SocketOwners::find(std::uint64_t inode, TimeNs now)
{
    if (inode == 0) return 0;
    auto it = owners_.find(inode);
    if (it == owners_.end() && (!scanned_ || now < last_scan_ || now - last_scan_ >= min_rescan_ns_)) {
        scan(now);
        it = owners_.find(inode);
    }
    if (it == owners_.end()) {
        ++stats_.not_found;
        return 0;
    }
    ++stats_.found;
    return it->second;
}

void SocketOwners::scan(TimeNs now)
{
    ++stats_.scans;
    scanned_ = true;
    last_scan_ = now;
    std::unordered_map<std::uint64_t, std::uint32_t> found;
    DIR* proc = opendir(proc_root_.c_str());
    if (!proc) return;
    std::size_t links = 0;
    while (auto* entry = readdir(proc)) {
        char* end = nullptr;
        unsigned long pid = std::strtoul(entry->d_name, &end, 10);
        if (!end || *end != '\0' || pid == 0 || pid == self_pid_) continue;
        std::string fd_dir = proc_root_ + "/" + entry->d_name + "/fd";
        int dir_fd = ::open(fd_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) continue;  // exited, or a kernel thread
        DIR* fds = fdopendir(dir_fd);
        if (!fds) {
            ::close(dir_fd);
            continue;
        }
        while (auto* fd = readdir(fds)) {
            if (fd->d_name[0] == '.') continue;
            if (++links > max_fds_) break;
            char target[64];
            auto n = readlinkat(dir_fd, fd->d_name, target, sizeof(target));
            if (n <= 0) continue;
            if (auto inode = parse_socket_link(std::string_view(target, static_cast<std::size_t>(n))))
                found.try_emplace(inode, static_cast<std::uint32_t>(pid));  // the first pid: usually the parent
        }
        closedir(fds);
        if (links > max_fds_) break;
    }
    closedir(proc);
    if (owners_.size() + found.size() > max_fds_) owners_.clear();
    for (auto [inode, pid] : found) owners_.insert_or_assign(inode, pid);
    stats_.cached = owners_.size();
}

SocketOwnersStats SocketOwners::stats() const
{
    return stats_;
}

void SocketOwnersStats::report(util::Counters& out) const
{
    out.emplace_back("sockets.owner_scans", scans);
    out.emplace_back("sockets.owners_found", found);
    out.emplace_back("sockets.owners_not_found", not_found);
}

}  // namespace exfilwatch::enrich
