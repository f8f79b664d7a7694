// enrich: file telemetry (see file_tracker.hpp).
#include "enrich/file_tracker.hpp"

#include <sys/sysmacros.h>

#include <algorithm>

#include "util/files.hpp"

namespace exfilwatch::enrich {

std::uint64_t user_device(std::uint64_t kernel_dev)
{
    return makedev(static_cast<unsigned>(kernel_dev >> 20), static_cast<unsigned>(kernel_dev & 0xfffff));
}

namespace {
// How long a pair the kernel told of before its record arrived is waited for: past that its
// record was lost, or it belonged to a pair userspace never tracks.
constexpr TimeNs moved_early_wait_ns = 30'000'000'000ULL;
}  // namespace

FileTracker::FileTracker(FileCounterSource source, std::size_t max_pairs, TimeNs settle_ns)
    : source_(std::move(source)), max_pairs_(max_pairs), settle_ns_(settle_ns)
{
}

void FileTracker::remember_path(std::uint64_t device, std::uint64_t inode, const std::string& path)
{
    if (path_by_inode_.size() >= max_pairs_) path_by_inode_.clear();  // a cache: cheap to rebuild
    path_by_inode_[FileId{device, inode}] = path;
}

void FileTracker::on_open_at_start(std::uint64_t device, std::uint64_t inode, const std::string& path)
{
    if (open_at_start_.size() < max_pairs_) open_at_start_.try_emplace(FileId{device, inode}, path);
}

FileTracker::Pair& FileTracker::pair_for(const FileKey& key)
{
    auto [it, inserted] = pairs_[key.pid].try_emplace(FileId{key.device, key.inode});
    if (inserted) {
        ++size_;
        by_age_.push_back(key);
        it->second.age = std::prev(by_age_.end());
        auto early = moved_early_.find(key);
        if (early != moved_early_.end()) {
            watch(key, it->second, early->second + settle_ns_);
            moved_early_.erase(early);
        }
    }
    return it->second;
}

FileTracker::Pair* FileTracker::find_pair(const FileKey& key)
{
    auto owner = pairs_.find(key.pid);
    if (owner == pairs_.end()) return nullptr;
    auto it = owner->second.find(FileId{key.device, key.inode});
    return it == owner->second.end() ? nullptr : &it->second;
}

void FileTracker::watch(const FileKey& key, Pair& pair, TimeNs until)
{
    if (watched_.insert(key).second || until > pair.watch_until) pair.watch_until = until;
}

void FileTracker::forget(const FileKey& key)
{
    auto owner = pairs_.find(key.pid);
    if (owner == pairs_.end()) return;
    auto it = owner->second.find(FileId{key.device, key.inode});
    if (it == owner->second.end()) return;
    by_age_.erase(it->second.age);
    watched_.erase(key);
    owner->second.erase(it);
    --size_;
    if (owner->second.empty()) pairs_.erase(owner);
}

FileOpenEvent FileTracker::on_open(TimeNs time, const ProcessRef& process, const decode::FileOpen& open)
{
    FileOpenEvent event;
    event.time = time;
    event.process = process;
    event.requested_path = open.requested_path;
    // The kernel's name of the opened file when it has one; a failed open only has the string.
    // A walk cut short (deeper than the kernel walks) lacks its start: say so instead of
    // presenting its first kept directory as the root.
    if (!open.resolved_path.empty())
        event.path = open.truncated ? "/[truncated]" + open.resolved_path : open.resolved_path;
    else
        event.path = decode::resolve_path(open.base_directory, open.requested_path);
    event.flags = open.flags;
    event.fd = open.fd;
    event.error = open.fd < 0 ? -open.fd : 0;
    if (open.fd >= 0) {
        event.inode = open.inode;
        event.device = user_device(open.device);
        FileKey key{process.pid, open.inode, open.device};
        auto& pair = pair_for(key);
        pair.path = event.path;
        pair.opened_for_write = pair.opened_for_write || util::opens_for_write(open.flags);
        remember_path(open.device, open.inode, event.path);
        if (size_ > max_pairs_ && by_age_.front() != key) {
            forget(by_age_.front());  // the pair tracked the longest
            ++evicted_;
        }
    }
    return event;
}

void FileTracker::on_first_read(const ProcessRef& process, const decode::FileFirstRead& read)
{
    FileKey key{process.pid, read.inode, read.device};
    auto& pair = pair_for(key);
    pair.opened_for_write = pair.opened_for_write || read.write;
    // The read (or write) that made the pair is in its counters without a notice of its own:
    // the next refresh looks once.
    watch(key, pair, 0);
    if (!pair.path.empty()) return;
    auto cached = path_by_inode_.find(FileId{read.device, read.inode});
    auto at_start = open_at_start_.find(FileId{read.device, read.inode});
    if (cached != path_by_inode_.end()) {
        pair.path = cached->second;
    } else if (at_start != open_at_start_.end()) {
        pair.path = at_start->second;
    } else if (source_.fd_path) {
        pair.path = source_.fd_path(process.pid, read.fd);
        if (!pair.path.empty()) remember_path(read.device, read.inode, pair.path);
    }
}

std::optional<FileSummaryEvent> FileTracker::summary(TimeNs time, const ProcessRef& process, const FileKey& key,
                                                     Pair& pair, bool take)
{
    std::optional<FileCounters> counters;
    if (source_.fetch) counters = source_.fetch(key, take);
    return summary_of(time, process, key, pair, take, counters);
}

std::optional<FileSummaryEvent> FileTracker::summary_of(TimeNs time, const ProcessRef& process, const FileKey& key,
                                                        Pair& pair, bool take,
                                                        const std::optional<FileCounters>& counters)
{
    if (!counters) {
        if (take) ++evicted_;
        return std::nullopt;
    }
    bool write = pair.opened_for_write || counters->opened_for_write;
    if (counters->bytes_read == 0 && counters->bytes_mapped == 0 && !write) return std::nullopt;
    if (!take && counters->bytes_read + counters->bytes_mapped == pair.reported_bytes &&
        counters->last_write == pair.reported_write)
        return std::nullopt;
    pair.reported_bytes = counters->bytes_read + counters->bytes_mapped;
    pair.reported_write = counters->last_write;
    FileSummaryEvent event;
    event.time = time;
    event.process = process;
    event.path = pair.path.empty() ? "[unknown]" : pair.path;
    event.inode = key.inode;
    event.device = user_device(key.device);
    event.bytes_read = counters->bytes_read;
    event.bytes_mapped = counters->bytes_mapped;
    event.opened_for_write = write;
    // A write through a shared map has no time of its own: it can be as late as now.
    event.last_write = counters->last_write == write_untimed ? time : counters->last_write;
    return event;
}

std::vector<FileSummaryEvent> FileTracker::on_exit(TimeNs time, const ProcessRef& process)
{
    std::vector<FileSummaryEvent> out;
    watched_.erase(watched_.lower_bound(FileKey{process.pid, 0, 0}),
                   watched_.lower_bound(FileKey{process.pid + 1, 0, 0}));
    auto owner = pairs_.find(process.pid);
    if (owner == pairs_.end()) return out;
    // In the order of the files' keys, as the summaries of one exit always came.
    std::vector<std::pair<FileKey, Pair*>> files;
    files.reserve(owner->second.size());
    for (auto& [id, pair] : owner->second) files.emplace_back(FileKey{process.pid, id.inode, id.device}, &pair);
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    const bool batch = source_.take_all && takes_all(files.size(), size_);
    std::vector<std::pair<FileKey, FileCounters>> taken;
    if (batch) {
        ++batch_takes_;
        taken = source_.take_all(process.pid);
        std::sort(taken.begin(), taken.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    for (const auto& [key, pair] : files) {
        std::optional<FileCounters> counters;
        if (batch) {
            auto found = std::lower_bound(taken.begin(), taken.end(), key,
                                          [](const auto& entry, const FileKey& k) { return entry.first < k; });
            if (found != taken.end() && found->first == key) counters = found->second;
        } else if (source_.fetch) {
            counters = source_.fetch(key, true);
        }
        // At exit the final counters always go out: the last word on this pair.
        if (auto event = summary_of(time, process, key, *pair, true, counters)) out.push_back(std::move(*event));
    }
    for (const auto& [key, pair] : files) by_age_.erase(pair->age);
    size_ -= files.size();
    pairs_.erase(owner);
    return out;
}

std::vector<FileSummaryEvent> FileTracker::refresh(TimeNs time,
                                                   const std::function<const ProcessRef*(std::uint32_t)>& live)
{
    std::vector<FileSummaryEvent> out;
    if (source_.moved) {
        for (const auto& key : source_.moved()) {
            if (Pair* pair = find_pair(key)) watch(key, *pair, time + settle_ns_);
            else if (moved_early_.size() < max_pairs_)
                moved_early_.insert_or_assign(key, time);
        }
    }
    std::erase_if(moved_early_, [time](const auto& early) { return time - early.second > moved_early_wait_ns; });
    for (auto it = watched_.begin(); it != watched_.end();) {
        auto& pair = *find_pair(*it);  // a watched pair is tracked: forget() unwatches
        if (const ProcessRef* process = live(it->pid)) {
            ++refresh_fetches_;
            if (auto event = summary(time, *process, *it, pair, false)) out.push_back(std::move(*event));
        }
        // Looked at until a refresh past the kernel's quiet interval after its last notice.
        it = time >= pair.watch_until ? watched_.erase(it) : std::next(it);
    }
    return out;
}

FileTrackerStats FileTracker::stats() const
{
    return FileTrackerStats{size_, evicted_, path_by_inode_.size()};
}

void FileTrackerStats::report(util::Counters& out) const
{
    out.emplace_back("files.tracked_pairs", tracked_pairs);
    out.emplace_back("files.evicted_pairs", evicted_pairs);
}

}  // namespace exfilwatch::enrich
