// enrich: file telemetry. Turns file-open records into FileOpenEvents with absolute paths, and
// the kernel's per (process, file) read counters into FileSummaryEvents: at process exit, and
// periodically for processes that keep reading.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "decode/decoder.hpp"
#include "events.hpp"
#include "util/counters.hpp"

namespace exfilwatch::enrich {

struct FileKey {
    std::uint32_t pid = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;  // kernel encoding
    auto operator<=>(const FileKey&) const =
        default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
};

// FileCounters::last_write of a file written through a shared writable map: at any time.
constexpr TimeNs write_untimed = ~TimeNs{0};

struct FileCounters {
    std::uint64_t bytes_read = 0;
    std::uint64_t bytes_mapped = 0;
    bool opened_for_write = false;
    TimeNs last_write = 0;  // the last write seen (wall clock); 0: none; write_untimed
};

// Where the counters live: the kernel map when live; a fake in tests.
struct FileCounterSource {
    // Returns the counters of `key` (deleting them when `take`), nullopt when absent (evicted).
    std::function<std::optional<FileCounters>(const FileKey& key, bool take)> fetch;
    // Path of an open fd of a live process (readlink /proc/<pid>/fd/<fd>); empty if gone.
    std::function<std::string(std::uint32_t pid, std::int32_t fd)> fd_path;
    // The pairs whose counters moved since the last call (the kernel tells of a pair at most
    // once per settle interval, see FileTracker): what refresh looks at.
    std::function<std::vector<FileKey>()> moved;
    // Every pair of `pid` with its counters, deleted (one pass over the kernel's map and one
    // batch delete): what an exit with many pairs uses instead of one fetch per pair.
    std::function<std::vector<std::pair<FileKey, FileCounters>>(std::uint32_t pid)> take_all;
};

struct FileTrackerStats {
    std::uint64_t tracked_pairs = 0;
    std::uint64_t evicted_pairs = 0;  // counters the kernel LRU dropped before harvest
    std::uint64_t path_cache = 0;
    void report(util::Counters& out) const;  // as metric counters
};

class FileTracker {
public:
    // `settle_ns`: the kernel's interval between two notices of one pair (cfg_flow_update_ns):
    // a pair it told of is looked at until that long after, so moves it kept quiet are seen.
    static constexpr std::size_t default_max_pairs = 131072;
    explicit FileTracker(FileCounterSource source, std::size_t max_pairs = default_max_pairs,
                         TimeNs settle_ns = 1'000'000'000ULL);

    FileOpenEvent on_open(TimeNs time, const ProcessRef& process, const decode::FileOpen& open);
    // A read of (or a write to) a file the process was not seen opening; no event, the summary
    // reports it.
    void on_first_read(const ProcessRef& process, const decode::FileFirstRead& read);
    // A file some process held open when the monitor started (the start-up /proc scan): a later
    // first read of it is named from here, even when its reader is gone by then. Kept apart from
    // the path cache, which new opens can clear; at most max_pairs are kept.
    void on_open_at_start(std::uint64_t device, std::uint64_t inode, const std::string& path);
    // Final summaries of every file the process read, at its exit.
    std::vector<FileSummaryEvent> on_exit(TimeNs time, const ProcessRef& process);
    // Summaries of files whose counters grew since the last one (long-running readers). Looks
    // only at the pairs the kernel said moved (and a first read's pair): its work follows what
    // changed, not how many pairs are tracked.
    std::vector<FileSummaryEvent> refresh(TimeNs time, const std::function<const ProcessRef*(std::uint32_t)>& live);

    FileTrackerStats stats() const;
    // Counter fetches refresh made so far: its work, for tests.
    std::uint64_t refresh_fetches() const { return refresh_fetches_; }
    std::uint64_t batch_takes() const { return batch_takes_; }  // exits that used take_all
    // When an exit takes its pairs with take_all: measured on this kernel (LRU hash of 65,536
    // entries), a fetch costs about 0.8 us, a pass over the map 560 us plus 0.25 us an entry, so
    // a pass pays when the exiting process holds more than about a thousand pairs and most of
    // those tracked (`tracked` approximates the map's entries).
    static constexpr std::size_t take_all_min_pairs = 1024;
    static constexpr bool takes_all(std::size_t pairs, std::size_t tracked)
    {
        return pairs >= take_all_min_pairs && pairs * 800 > 560'000 + tracked * 250;
    }

private:
    // A file's identity is (device, inode), both whole: no folding into one number can collide.
    struct FileId {
        std::uint64_t device = 0;
        std::uint64_t inode = 0;
        bool operator==(const FileId&) const = default;
    };
    struct FileIdHash {
        std::size_t operator()(const FileId& id) const
        {
            return std::hash<std::uint64_t>{}(id.inode) ^
                   (std::hash<std::uint64_t>{}(id.device) * 0x9e3779b97f4a7c15ULL);
        }
    };
    struct Pair {
        std::string path;
        bool opened_for_write = false;
        std::uint64_t reported_bytes = 0;
        TimeNs reported_write = 0;
        std::list<FileKey>::iterator age;  // this pair's place in by_age_
        TimeNs watch_until = 0;            // while in watched_: looked at until a refresh this late
    };
    Pair& pair_for(const FileKey& key);
    Pair* find_pair(const FileKey& key);
    void watch(const FileKey& key, Pair& pair, TimeNs until);
    void forget(const FileKey& key);
    void remember_path(std::uint64_t device, std::uint64_t inode, const std::string& path);
    std::optional<FileSummaryEvent> summary_of(TimeNs time, const ProcessRef& process, const FileKey& key, Pair& pair,
                                               bool take, const std::optional<FileCounters>& counters);
    std::optional<FileSummaryEvent> summary(TimeNs time, const ProcessRef& process, const FileKey& key, Pair& pair,
                                            bool take);

    FileCounterSource source_;
    std::size_t max_pairs_;
    // By process, then file: hashed at both levels (an ordered map of every pair was a walk of
    // cache misses per record for a process reading thousands of files), and a process's pairs
    // are one entry to take at its exit.
    std::unordered_map<std::uint32_t, std::unordered_map<FileId, Pair, FileIdHash>> pairs_;
    std::size_t size_ = 0;
    std::list<FileKey> by_age_;  // oldest pair first: the one evicted past the cap
    TimeNs settle_ns_;
    std::set<FileKey> watched_;  // the pairs refresh looks at
    // Pairs the kernel said moved before their open or first-read record arrived (the ring can
    // lag the queue): when each was told of, so the pair is watched once it is known.
    std::map<FileKey, TimeNs> moved_early_;
    std::uint64_t refresh_fetches_ = 0;
    std::uint64_t batch_takes_ = 0;
    std::unordered_map<FileId, std::string, FileIdHash> path_by_inode_;
    std::unordered_map<FileId, std::string, FileIdHash> open_at_start_;  // the start-up scan's
    std::uint64_t evicted_ = 0;
};

// Kernel dev_t encoding (major << 20 | minor) to the userspace st_dev encoding.
std::uint64_t user_device(std::uint64_t kernel_dev);

}  // namespace exfilwatch::enrich
