// detect: lineage. Data moves between processes before it leaves: parent to child, between the
// members of a pipeline (same parent and process group, alive at the same time), and through
// staging files (written by one process, read by the next). This keeps a bounded, time-windowed
// graph of processes, their sensitive/staging reads and the files they wrote, and answers "which
// reads can have reached this process".
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <functional>
#include <unordered_set>
#include <vector>

#include "detect/rules.hpp"
#include "events.hpp"

namespace exfilwatch::detect {

struct ReadRecord {
    std::string path;
    std::string display;                  // `~/.ssh/id_rsa` form for a sensitive file
    const SensitiveClass* cls = nullptr;  // nullptr: a staging file
    std::string staging_writer;           // entity that wrote the file (staging reads)
    std::uint64_t bytes = 0;              // 0 until a FileSummaryEvent says
    TimeNs time = 0;
    std::string opened_by;                // the program that opened it: another than the reader's
                                          // when a shell opened it as stdin (`curl -d @- < ~/.netrc`)
};

struct ProcessNode {
    ProcessRef ref;
    TimeNs start = 0;
    TimeNs exit = 0;  // 0 while running
    TimeNs last_seen = 0;
    std::vector<std::string> children;
    std::vector<ReadRecord> reads;
};

// One read that can have reached the process asked about.
struct LineageSource {
    const ProcessNode* reader = nullptr;
    const ReadRecord* read = nullptr;
    std::vector<const ReadRecord*> staged_via;  // staging reads on the way, nearest first
    const ProcessNode* carrier = nullptr;       // the lineage member that read the staging file
};

struct LineageView {
    std::vector<LineageSource> sources;
    std::vector<const ProcessNode*> members;  // every process joined, the asked one first
};

struct LineageStats {
    std::uint64_t processes = 0;
    std::uint64_t staged_files = 0;
    std::uint64_t evicted_processes = 0;
    std::uint64_t evicted_staged_files = 0;
    std::uint64_t dropped_reads = 0;  // per-process read cap reached
};

class Lineage {
public:
    explicit Lineage(const Rules& rules) : rules_(rules) {}

    ProcessNode& touch(const ProcessRef& ref, TimeNs time);
    void on_exit(const ProcessRef& ref, TimeNs time);
    // Records a read if the file is sensitive or staged by another process. Returns true when the
    // lineage changed (a new read, or more bytes).
    bool on_read(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t inode,
                 std::uint64_t bytes);
    void on_write(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t inode);

    LineageView view(const std::string& entity, TimeNs now) const;
    const ProcessNode* find(const std::string& entity) const;

    void expire(TimeNs now);
    LineageStats stats() const;

    static std::string key_of(const ProcessRef& ref);

private:
    struct Staged {
        std::string writer;
        TimeNs time = 0;
        std::uint64_t inode = 0;
    };
    void collect(const std::string& entity, TimeNs now, int depth, std::unordered_set<std::string>& visited,
                 LineageView& view) const;
    // `writer`: the view of a staging file's writer (what can have gone into the file), else of an
    // uploader (what can have reached it).
    std::vector<const ProcessNode*> related(const ProcessNode& node, bool writer) const;
    void writers_children(const ProcessNode& node, int depth, std::vector<const ProcessNode*>& out) const;
    void upstream(const ProcessNode& node, std::vector<const ProcessNode*>& out) const;
    void feeders(const ProcessNode& node, std::uint64_t own_stdout, int depth, bool unknown_feeds,
                 std::vector<const ProcessNode*>& out) const;
    bool below(const ProcessNode& p, const ProcessNode& ancestor, int depth) const;
    // Children of `node` to `depth` generations, without those (and their subtrees) `keep` refuses.
    void descendants(const ProcessNode& node, int depth, std::vector<const ProcessNode*>& out,
                     const std::function<bool(const ProcessRef&)>& keep = {}) const;

    // rules_.classify() of recent paths (every file open asks; most paths repeat): direct-mapped,
    // bounded, compared in full, so the answer is exactly classify()'s.
    const SensitiveClass* classify(const std::string& path, std::string& display);
    struct ClassMemo {
        bool used = false;
        std::string path, display;
        const SensitiveClass* cls = nullptr;
    };
    std::vector<ClassMemo> class_memo_ = std::vector<ClassMemo>(4096);

    const Rules& rules_;
    std::unordered_map<std::string, ProcessNode> processes_;
    std::unordered_map<std::string, Staged> staged_;               // by path
    std::unordered_map<std::uint64_t, std::string> staged_inodes_;  // inode -> path
    std::unordered_multimap<std::uint64_t, std::string> pipe_writers_;  // stdout pipe inode -> process
    std::unordered_set<std::uint64_t> pipe_readers_;                    // pipes some process has as stdin
    LineageStats stats_;
};

}  // namespace exfilwatch::detect
