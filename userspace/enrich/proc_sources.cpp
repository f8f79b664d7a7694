// enrich: the live /proc adapters (see proc_sources.hpp).
#include "enrich/proc_sources.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "enrich/hosts.hpp"
#include "util/clock.hpp"

namespace exfilwatch::enrich {

std::string read_boot_id(std::string_view proc_root)
{
    std::ifstream in(fmt::format("{}/sys/kernel/random/boot_id", proc_root));
    std::string id;
    std::getline(in, id);
    id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
    return id.substr(0, 8);
}

namespace {

// Calls `visit` with every process id under `proc_root` but `self`, until it returns false.
void for_each_pid(std::string_view proc_root, std::uint32_t self, const std::function<bool(std::uint32_t)>& visit)
{
    DIR* dir = opendir(std::string(proc_root).c_str());
    if (!dir) return;
    while (auto* entry = readdir(dir)) {
        char* end = nullptr;
        unsigned long pid = std::strtoul(entry->d_name, &end, 10);
        if (!end || *end != '\0' || pid == 0 || pid == self) continue;
        if (!visit(static_cast<std::uint32_t>(pid))) break;
    }
    closedir(dir);
}

}  // namespace

std::size_t scan_proc(ProcessTable& table, std::string_view proc_root, std::uint32_t self,
                      std::int64_t monotonic_to_wall_ns)
{
    std::size_t found = 0;
    for_each_pid(proc_root, self, [&](std::uint32_t pid) {
        if (auto process = read_proc_process(proc_root, pid)) {
            process->start_time += monotonic_to_wall_ns;  // /proc counts from boot, like CLOCK_MONOTONIC here
            table.add_existing(std::move(*process));
            ++found;
        }
        return true;
    });
    return found;
}

std::size_t scan_open_files(std::string_view proc_root, std::uint32_t self, std::size_t max_fds,
                            const std::function<void(const OpenFile&)>& found)
{
    std::size_t files = 0;
    std::size_t read = 0;
    for_each_pid(proc_root, self, [&](std::uint32_t pid) {
        auto fd_dir = fmt::format("{}/{}/fd", proc_root, pid);
        DIR* fds = opendir(fd_dir.c_str());
        if (!fds) return true;  // gone, or a kernel thread
        while (auto* fd = readdir(fds)) {
            if (fd->d_name[0] == '.') continue;
            if (read++ >= max_fds) break;
            auto link = fmt::format("{}/{}", fd_dir, fd->d_name);
            struct stat st {};
            char target[4096];
            if (stat(link.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            auto n = readlink(link.c_str(), target, sizeof(target));
            if (n <= 0) continue;
            // The kernel encodes a device as major << 20 | minor (the records' file.device).
            std::uint64_t device = (static_cast<std::uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev);
            found(OpenFile{device, st.st_ino, std::string(target, static_cast<std::size_t>(n)), pid});
            ++files;
        }
        closedir(fds);
        return read < max_fds;
    });
    return files;
}

std::string fd_path(std::string_view proc_root, std::uint32_t pid, std::int32_t fd)
{
    char target[4096];
    auto n = readlink(fmt::format("{}/{}/fd/{}", proc_root, pid, fd).c_str(), target, sizeof(target));
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

std::uint32_t parent_pid(std::string_view proc_root, std::uint32_t pid)
{
    std::ifstream status(fmt::format("{}/{}/status", proc_root, pid));
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("PPid:")) return static_cast<std::uint32_t>(std::strtoul(line.c_str() + 5, nullptr, 10));
    return 0;
}

std::vector<std::string> host_roots(std::string_view proc_root, std::uint32_t self)
{
    constexpr std::size_t max_ancestors = 16;
    std::vector<std::string> roots{fmt::format("{}/1/root", proc_root)};
    for (std::uint32_t pid = parent_pid(proc_root, self); pid > 1 && roots.size() <= max_ancestors;
         pid = parent_pid(proc_root, pid))
        roots.push_back(fmt::format("{}/{}/root", proc_root, pid));
    roots.emplace_back();
    return roots;
}

HostsFiles::HostsFiles(std::string proc_root, Clock clock, std::uint64_t refresh_ns, std::size_t max_namespaces,
                       std::size_t max_processes)
    : proc_root_(std::move(proc_root)),
      clock_(clock ? std::move(clock) : Clock([] { return util::clock_ns(CLOCK_MONOTONIC); })), refresh_ns_(refresh_ns),
      max_namespaces_(max_namespaces), max_processes_(max_processes)
{
}

std::size_t HostsFiles::cached_bytes() const
{
    std::size_t bytes = 0;
    for (const auto& [ns, entry] : cache_) bytes += ns.capacity() + entry.text.capacity();
    return bytes;
}

std::string HostsFiles::operator()(std::uint32_t pid, std::uint64_t start_time)
{
    auto now = clock_();
    Known* known = nullptr;
    if (start_time != 0) {
        auto it = namespace_of_.find(pid);
        if (it != namespace_of_.end() && it->second.start_time == start_time &&
            now - it->second.looked_up_at < refresh_ns_)
            known = &it->second;
    }
    if (!known) {
        char link[64];
        ++namespace_lookups_;
        auto n = readlink(fmt::format("{}/{}/ns/mnt", proc_root_, pid).c_str(), link, sizeof(link));
        if (n <= 0) return {};
        if (start_time == 0) return text_of(std::string(link, static_cast<std::size_t>(n)), pid, now);
        if (namespace_of_.size() >= max_processes_ && !namespace_of_.contains(pid)) namespace_of_.clear();
        known = &namespace_of_[pid];
        *known = Known{start_time, std::string(link, static_cast<std::size_t>(n)), now};
    }
    return text_of(known->ns, pid, now);
}

std::string HostsFiles::text_of(const std::string& ns, std::uint32_t pid, std::uint64_t now)
{
    auto found = cache_.find(ns);
    if (found != cache_.end() && now - found->second.read_at < refresh_ns_) return found->second.text;
    std::ifstream in(fmt::format("{}/{}/root/etc/hosts", proc_root_, pid), std::ios::binary);
    // The process may be gone since its namespace was learnt: its namespace's text stays as read.
    if (!in) return found != cache_.end() ? found->second.text : std::string();
    if (found == cache_.end() && cache_.size() >= max_namespaces_) cache_.clear();  // namespaces come and go
    auto& entry = cache_[ns];
    entry.text.assign(hosts_file_max, '\0');
    in.read(entry.text.data(), static_cast<std::streamsize>(entry.text.size()));
    entry.text.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    entry.text.shrink_to_fit();  // the read's 64 KiB buffer, per namespace, would be kept for good
    entry.read_at = now;
    return entry.text;
}

}  // namespace exfilwatch::enrich
