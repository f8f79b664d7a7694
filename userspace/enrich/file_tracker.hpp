// enrich: file telemetry. Turns file-open records into FileOpenEvents with absolute paths, and
// the kernel's per (process, file) read counters into FileSummaryEvents: at process exit, and
// periodically for processes that keep reading.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
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
};

struct FileTrackerStats {
    std::uint64_t tracked_pairs = 0;
    std::uint64_t evicted_pairs = 0;  // counters the kernel LRU dropped before harvest
    std::uint64_t path_cache = 0;
    void report(util::Counters& out) const;  // as metric counters
};

class FileTracker {
public:
    explicit FileTracker(FileCounterSource source, std::size_t max_pairs = 131072);

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
    // Summaries of files whose counters grew since the last one (long-running readers).
    std::vector<FileSummaryEvent> refresh(TimeNs time, const std::function<const ProcessRef*(std::uint32_t)>& live);

    FileTrackerStats stats() const;

private:
    struct Pair {
        std::string path;
        bool opened_for_write = false;
        std::uint64_t reported_bytes = 0;
        TimeNs reported_write = 0;
        std::list<FileKey>::iterator age;  // this pair's place in by_age_
    };
    Pair& pair_for(const FileKey& key);
    void remember_path(std::uint64_t device, std::uint64_t inode, const std::string& path);
    std::optional<FileSummaryEvent> summary(TimeNs time, const ProcessRef& process, const FileKey& key, Pair& pair,
                                            bool take);

    FileCounterSource source_;
    std::size_t max_pairs_;
    std::map<FileKey, Pair> pairs_;  // ordered: a process's pairs are one range
    std::list<FileKey> by_age_;      // oldest pair first: the one evicted past the cap
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
    std::unordered_map<FileId, std::string, FileIdHash> path_by_inode_;
    std::unordered_map<FileId, std::string, FileIdHash> open_at_start_;  // the start-up scan's
    std::uint64_t evicted_ = 0;
};

// Kernel dev_t encoding (major << 20 | minor) to the userspace st_dev encoding.
std::uint64_t user_device(std::uint64_t kernel_dev);

}  // namespace exfilwatch::enrich
