// enrich: the process table (see process_table.hpp) and its /proc reader.
#include "enrich/process_table.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <sstream>

#include <fmt/format.h>

#include "enrich/container.hpp"
#include "util/text.hpp"

namespace exfilwatch::enrich {

ProcessTable::ProcessTable(std::string boot_id, ProcSource source, std::size_t max_exited, TimeNs exited_linger_ns)
    : boot_id_(std::move(boot_id)), source_(std::move(source)), max_exited_(max_exited),
      exited_linger_ns_(exited_linger_ns)
{
}

std::string ProcessTable::entity_id(std::uint32_t pid, std::uint64_t start_ns) const
{
    return fmt::format("{}-{}-{:x}", boot_id_, pid, start_ns);
}

void ProcessTable::add_existing(ProcessRef process)
{
    if (process.entity_id.empty()) process.entity_id = entity_id(process.pid, process.start_time);
    auto pid = process.pid;
    processes_[pid] = Entry{std::move(process)};
}

void ProcessTable::fill_container(ProcessRef& ref, std::uint32_t pid)
{
    auto cached = container_by_cgroup_.find(ref.cgroup_id);
    if (ref.cgroup_id && cached != container_by_cgroup_.end()) {
        ref.container_id = cached->second.first;
        ref.pod_uid = cached->second.second;
        return;
    }
    if (!source_.container_of) return;
    auto found = source_.container_of(pid);
    if (!found) return;  // gone: not cached, so the next process of this cgroup asks again
    ref.container_id = found->first;
    ref.pod_uid = found->second;
    if (ref.cgroup_id && container_by_cgroup_.size() < 65536) container_by_cgroup_[ref.cgroup_id] = std::move(*found);
}

const ProcessRef& ProcessTable::on_exec(TimeNs, ProcessRef image)
{
    auto& entry = processes_[image.pid];
    // The process keeps its identity across exec; the image changes.
    if (entry.ref.pid == image.pid && !entry.exited && !entry.ref.entity_id.empty())
        image.entity_id = entry.ref.entity_id;
    if (image.entity_id.empty()) image.entity_id = entity_id(image.pid, image.start_time);
    auto parent = processes_.find(image.ppid);
    if (parent != processes_.end()) image.parent_entity_id = parent->second.ref.entity_id;
    if (image.container_id.empty()) {
        if (parent != processes_.end() && parent->second.ref.cgroup_id == image.cgroup_id && image.cgroup_id != 0) {
            image.container_id = parent->second.ref.container_id;
            image.pod_uid = parent->second.ref.pod_uid;
        } else {
            fill_container(image, image.pid);
        }
    }
    entry = Entry{std::move(image)};
    return entry.ref;
}

const ProcessRef& ProcessTable::on_fork(TimeNs time, std::uint32_t pid, std::uint32_t ppid, std::uint32_t uid,
                                        std::uint64_t start_ns, std::uint64_t cgroup_id, std::string_view comm)
{
    ProcessRef child;
    auto parent = processes_.find(ppid);
    if (parent != processes_.end()) {
        child = parent->second.ref;  // same image, argv and groups until it execs
        child.parent_entity_id = parent->second.ref.entity_id;
    } else {
        child.name = std::string(comm);
    }
    child.pid = pid;
    child.ppid = ppid;
    child.uid = uid;
    child.start_time = start_ns;
    child.cgroup_id = cgroup_id;
    child.entity_id = entity_id(pid, start_ns);
    child.stdin_pipe = child.stdout_pipe = 0;  // the child's own stdio is known at its exec
    child.stdout_kind = StdoutKind::unknown;
    (void)time;
    auto& entry = processes_[pid];
    entry = Entry{std::move(child)};
    return entry.ref;
}

ProcessRef ProcessTable::on_exit(TimeNs time, std::uint32_t pid, std::uint64_t)
{
    auto it = processes_.find(pid);
    if (it == processes_.end()) return lookup(pid);
    if (!it->second.exited) {
        it->second.exited = true;
        it->second.exit_time = time;
        exit_order_.emplace_back(pid, it->second.ref.entity_id);
        ++exited_count_;
    }
    return it->second.ref;
}

const ProcessRef& ProcessTable::lookup(std::uint32_t pid)
{
    auto it = processes_.find(pid);
    if (it != processes_.end()) return it->second.ref;
    ++unknown_lookups_;
    ProcessRef ref;
    if (source_.read) {
        if (auto found = source_.read(pid)) ref = std::move(*found);
    }
    ref.pid = pid;
    if (ref.entity_id.empty()) ref.entity_id = entity_id(pid, ref.start_time);
    auto parent = processes_.find(ref.ppid);
    if (parent != processes_.end()) ref.parent_entity_id = parent->second.ref.entity_id;
    auto& entry = processes_[pid];
    entry = Entry{std::move(ref)};
    return entry.ref;
}

void ProcessTable::expire(TimeNs now)
{
    while (!exit_order_.empty()) {
        auto [pid, entity] = exit_order_.front();
        auto it = processes_.find(pid);
        bool stale = it == processes_.end() || !it->second.exited || it->second.ref.entity_id != entity;
        if (stale) {
            exit_order_.pop_front();
            continue;
        }
        bool old = now > it->second.exit_time && now - it->second.exit_time > exited_linger_ns_;
        if (!old && exit_order_.size() <= max_exited_) break;
        if (!old) ++evicted_;
        processes_.erase(it);
        exit_order_.pop_front();
    }
}

ProcessTableStats ProcessTable::stats() const
{
    ProcessTableStats out;
    for (const auto& [pid, entry] : processes_) (entry.exited ? out.exited : out.live) += 1;
    out.evicted = evicted_;
    out.unknown_lookups = unknown_lookups_;
    return out;
}

namespace {

// read(2) rather than an ifstream: a /proc file of a process that exits between open and read
// fails with ESRCH, and libstdc++'s filebuf turns that read error into an exception.
std::optional<std::string> read_file(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string text;
    char chunk[4096];
    while (true) {
        const ssize_t n = ::read(fd, chunk, sizeof(chunk));
        if (n > 0) {
            text.append(chunk, static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            ::close(fd);
            if (n < 0) return std::nullopt;
            return text;
        }
    }
}

// A whole decimal pid ("1234"; not "12x", not empty).
bool parse_pid(std::string_view text, std::uint32_t& out)
{
    const auto* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc{} && p == end && !text.empty();
}

}  // namespace

std::optional<std::pair<std::string, std::string>> read_proc_container(std::string_view proc_root, std::uint32_t pid)
{
    auto text = read_file(fmt::format("{}/{}/cgroup", proc_root, pid));
    if (!text || text->empty()) return std::nullopt;  // gone (an exited process reads empty)
    if (auto id = parse_proc_cgroup(*text)) return std::pair{id->container_id, id->pod_uid};
    return std::pair<std::string, std::string>{};
}

std::optional<std::uint32_t> read_proc_host_pid(std::string_view proc_root, std::uint64_t pid_ns, std::uint32_t pid)
{
    const std::string root(proc_root);
    DIR* dir = ::opendir(root.c_str());
    if (!dir) return std::nullopt;
    std::optional<std::uint32_t> found;
    const std::string want_ns = fmt::format("pid:[{}]", pid_ns);
    while (const dirent* entry = ::readdir(dir)) {
        std::uint32_t host = 0;
        if (!parse_pid(entry->d_name, host)) continue;
        char link[64];
        const auto n = ::readlink(fmt::format("{}/{}/ns/pid", root, host).c_str(), link, sizeof(link));
        if (n <= 0 || std::string_view(link, static_cast<std::size_t>(n)) != want_ns) continue;
        auto status = read_file(fmt::format("{}/{}/status", root, host));
        if (!status) continue;
        // "NSpid:\t<host>\t...\t<innermost>": the last number is the pid in its own namespace.
        auto at = status->find("\nNSpid:");
        if (at == std::string::npos) continue;
        auto end = status->find('\n', at + 1);
        auto line = std::string_view(*status).substr(at + 7, end == std::string::npos ? end : end - at - 7);
        auto last = line.find_last_of(" \t");
        std::uint32_t inner = 0;
        if (parse_pid(line.substr(last == std::string_view::npos ? 0 : last + 1), inner) && inner == pid) {
            found = host;
            break;
        }
    }
    ::closedir(dir);
    return found;
}

std::optional<ProcessRef> read_proc_process(std::string_view proc_root, std::uint32_t pid)
{
    const std::string dir = fmt::format("{}/{}", proc_root, pid);
    auto stat = read_file(dir + "/stat");
    if (!stat) return std::nullopt;
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    auto close = stat->rfind(')');
    auto open = stat->find('(');
    if (close == std::string::npos || open == std::string::npos || open > close) return std::nullopt;
    ProcessRef ref;
    ref.pid = pid;
    ref.name = stat->substr(open + 1, close - open - 1);
    std::istringstream fields(stat->substr(close + 1));
    std::string state;
    long long ppid = 0, pgid = 0, sid = 0, tty = 0, skip = 0;
    unsigned long long start_ticks = 0;
    fields >> state >> ppid >> pgid >> sid >> tty;
    for (int i = 0; i < 14 && fields; ++i) fields >> skip;  // tpgid .. nice .. itrealvalue
    fields >> start_ticks;
    if (!fields) return std::nullopt;
    ref.ppid = static_cast<std::uint32_t>(ppid);
    ref.pgid = static_cast<std::uint32_t>(pgid);
    ref.sid = static_cast<std::uint32_t>(sid);
    ref.has_tty = tty != 0;
    static const long ticks = sysconf(_SC_CLK_TCK);
    ref.start_time = start_ticks * (1'000'000'000ULL / static_cast<unsigned long long>(ticks > 0 ? ticks : 100));

    if (auto status = read_file(dir + "/status")) {
        auto pos = status->find("\nUid:");
        if (pos != std::string::npos) ref.uid = static_cast<std::uint32_t>(std::stoul(status->substr(pos + 5)));
    }
    if (auto cmdline = read_file(dir + "/cmdline")) {
        std::size_t start = 0;
        for (std::size_t i = 0; i < cmdline->size(); ++i) {
            if ((*cmdline)[i] != '\0') continue;
            ref.args.push_back(cmdline->substr(start, i - start));
            start = i + 1;
        }
        if (start < cmdline->size()) ref.args.push_back(cmdline->substr(start));
    }
    char exe[4096];
    auto n = readlink((dir + "/exe").c_str(), exe, sizeof(exe));
    if (n > 0) {
        ref.executable.assign(exe, static_cast<std::size_t>(n));
        constexpr std::string_view deleted = " (deleted)";
        if (ref.executable.ends_with(deleted)) ref.executable.resize(ref.executable.size() - deleted.size());
        ref.name = util::base_name(ref.executable);
    }
    if (auto cgroup = read_file(dir + "/cgroup")) {
        if (auto id = parse_proc_cgroup(*cgroup)) {
            ref.container_id = id->container_id;
            ref.pod_uid = id->pod_uid;
        }
    }
    return ref;
}

void ProcessTableStats::report(util::Counters& out) const
{
    out.emplace_back("processes.live", live);
    out.emplace_back("processes.exited", exited);
    out.emplace_back("processes.evicted", evicted);
    out.emplace_back("processes.unknown_lookups", unknown_lookups);
}

}  // namespace exfilwatch::enrich
