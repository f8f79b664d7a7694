// detect: lineage as data flow. Sensitive data is tracked by the identity of the objects it lives
// in, not by a file name or a time window: a process that reads a sensitive file (known by its
// resolved path, then by (device, inode)) holds that file's data; what a holder writes to (regular
// files by (device, inode), pipes, FIFOs, UNIX and loopback sockets, memory it maps shared) holds
// it too; whoever reads a holding object holds it (any number of hops; a shared mapping reads it
// for as long as it lives); a child forked after its parent held data holds it (memory is copied,
// shared mappings are shared); a parent learns from a child only through an object. Taint lives
// as long as its object (a process until it exits, a file until an untainted writer truncates it, a channel
// while a holder lives). Every table has a cap; evicting taint is counted and reported as a
// BlindSpot. No event costs work proportional to the tables: objects and processes are indexed by
// identity and every propagation is bounded by a work budget.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "detect/command.hpp"
#include "detect/rules.hpp"
#include "events.hpp"
#include "util/bounded.hpp"

namespace exfilwatch::detect {

struct ReadRecord {
    std::string path;
    std::string display;                  // `~/.ssh/id_rsa` form for a sensitive file
    const SensitiveClass* cls = nullptr;  // nullptr: a staging file (a tainted file, not sensitive itself)
    std::string staging_writer;           // unused by the data-flow model; kept for the view's users
    std::uint64_t bytes = 0;              // 0 until a FileSummaryEvent says
    TimeNs time = 0;
    std::string opened_by;  // the program that opened it: another than the reader's
                            // when a shell opened it as stdin (`curl -d @- < ~/.netrc`)
};

// Identity of a kernel object data can live in.
enum class ObjectType : std::uint8_t { file, file_path, pipe, fifo, unix_socket, loopback_socket, process_memory };
struct ObjectKey {
    ObjectType type = ObjectType::file;
    std::uint64_t device = 0;
    std::uint64_t id = 0;  // inode, socket id, or a path hash (file_path: telemetry without an inode)
    bool operator==(const ObjectKey&) const = default;
};
struct ObjectKeyHash {
    std::size_t operator()(const ObjectKey& k) const noexcept
    {
        return std::hash<std::uint64_t>{}(k.id * 0x9e3779b97f4a7c15ULL ^ k.device ^
                                          (std::uint64_t{static_cast<std::uint8_t>(k.type)} << 56));
    }
};

// One tainted file read on the way from a sensitive read to a holder (a staging hop), shared by
// every holder downstream of it.
struct Hop {
    ReadRecord read;                  // the staging file as its carrier read it
    std::string carrier;              // entity that read it
    std::shared_ptr<const Hop> next;  // the hop before it (farther from the holder)
    int depth = 1;
};

// One source's data held by a process or an object.
struct Taint {
    std::uint64_t source = 0;
    std::uint64_t cap = ~std::uint64_t{0};  // at most this many of its bytes passed the narrowest channel
    std::shared_ptr<Hop> via;               // the nearest staging hop, null when none
    bool transformed = false;               // passed an archiver or encoder on the way
    TimeNs since = 0;                       // when its holder got it: what the holder wrote before does not hold it
};

struct ProcessNode {
    ProcessRef ref;
    TimeNs start = 0;
    TimeNs exit = 0;  // 0 while running
    TimeNs last_seen = 0;
    bool exec_seen = false;  // false: a fork that did not exec (a subshell: a copy of its parent)
    // When its image (argv, environment) was set, on the lineage's clock: its last exec, else its
    // first sight. Its environment holds at most what it held then.
    TimeNs image = 0;
    std::vector<Taint> taint;
    // An object it writes to, with what is known of when: a write carries the taint its writer
    // held at that time, never taint the writer got later.
    struct Output {
        ObjectKey key;
        std::uint64_t cap = ~std::uint64_t{0};  // bytes written there, when known
        TimeNs opened = 0;                      // opened for writing then (0: not seen opened)
        TimeNs last_write = 0;                  // the last write seen (0: none)
        bool untimed = false;                   // no write times known (a pipe added before any pipe
                                                // telemetry): taken as written whenever, until there is
        bool mapped = false;                    // a shared writable mapping: written whenever while it lives
    };
    std::vector<Output> outputs;                      // objects it writes to (bounded)
    std::vector<ObjectKey> inputs;                    // channels and files it read (bounded)
    std::vector<ObjectKey> mapped;                    // objects it maps shared (bounded): a fork shares them
    std::vector<std::string> argv_files;              // sensitive files whose bytes its arguments carry
    std::vector<std::uint64_t> child_pipes;           // its children's stdout pipes (command substitution)
    std::vector<std::shared_ptr<Hop>> staging_reads;  // tainted files it read (bounded)
};

// One sensitive read that can have reached the process asked about.
struct LineageSource {
    const ProcessNode* reader = nullptr;  // a snapshot of the process that read the file
    const ReadRecord* read = nullptr;
    std::vector<const ReadRecord*> staged_via;  // staging reads on the way, nearest first
    const ProcessNode* carrier = nullptr;       // the process that read the nearest staging file
    std::uint64_t bytes = 0;                    // sensitive bytes that reached the process:
                                                // min(what the reader read, the narrowest channel)
    std::uint64_t origin = 0;                   // the source's id: equal for every holder of this read
    bool transformed = false;                   // an archiver or encoder was on the way
};

struct LineageView {
    std::vector<LineageSource> sources;
    std::vector<const ProcessNode*> members;  // the process asked about first, then readers and carriers
};

struct LineageStats {
    std::uint64_t processes = 0;
    std::uint64_t staged_files = 0;  // tainted objects (files, pipes, sockets)
    std::uint64_t sources = 0;
    std::uint64_t sensitive_inodes = 0;
    std::uint64_t evicted_processes = 0;
    std::uint64_t evicted_staged_files = 0;
    std::uint64_t evicted_taint = 0;          // tainted processes, objects or sources lost to a cap
    std::uint64_t dropped_reads = 0;          // per-holder source cap reached (the weakest source dropped)
    std::uint64_t propagation_truncated = 0;  // a propagation stopped at its work budget
    std::uint64_t work = 0;                   // propagation steps and index probes (bounded cost test)
};

class Lineage {
public:
    explicit Lineage(const Rules& rules) : rules_(rules) {}

    ProcessNode& touch(const ProcessRef& ref, TimeNs time);
    void on_fork(const ProcessRef& child, TimeNs time);
    void on_exec(const ProcessRef& ref, TimeNs time);
    void on_exit(const ProcessRef& ref, TimeNs time);
    // A file read. Returns true when some holder's taint changed (take_changed() says which).
    bool on_read(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t device, std::uint64_t inode,
                 std::uint64_t bytes);
    // A file opened for writing at `time`; `truncate`: O_TRUNC (an untainted writer clears it).
    bool on_write(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t device,
                  std::uint64_t inode, bool truncate);
    // A file the process wrote, last at `wrote` (0: no write seen), as a summary says at `time`.
    bool on_written(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t device,
                    std::uint64_t inode, TimeNs wrote);
    bool on_object_io(const ObjectIoEvent& e);
    // A scan of the process's arguments found bytes of the sensitive file `path` there: a reader
    // of its command line gets that file's data.
    void note_command_line(const ProcessRef& ref, TimeNs time, const std::string& path);
    // A sensitive file found at start (seeded from the rules' paths in each home).
    void seed_sensitive(const std::string& path, std::uint64_t device, std::uint64_t inode);
    // After a rules reload: every classification is redone with the new rules.
    void reclassify();

    LineageView view(const std::string& entity, TimeNs now);
    const ProcessNode* find(const std::string& entity) const;
    // Whether some process or object still holds the data of source `origin` (LineageSource::origin).
    bool holds(std::uint64_t origin) const { return sources_.contains(origin); }
    // Entities whose taint changed since the last call (bounded).
    std::vector<std::string> take_changed();
    // Processes that held sensitive data when their taint last changed, most recent first
    // (bounded; a process leaves when the lineage forgets it): what a loss can blind.
    const util::LruMap<std::string, char>& holders() const { return holders_; }
    std::vector<BlindSpot> take_blind_spots();

    void expire(TimeNs now);
    LineageStats stats() const;

    static std::string key_of(const ProcessRef& ref);

private:
    struct Source {
        ReadRecord read;
        ProcessNode reader;  // snapshot: outlives the process
        ObjectKey file;
        std::uint32_t holders = 0;  // processes and objects holding it; 0: gone
    };
    struct Object {
        std::vector<Taint> taint;
        std::string path;  // files
        TimeNs last = 0;
        struct Reader {
            std::string entity;
            std::uint64_t cap = ~std::uint64_t{0};
            bool mapped = false;  // sees every write at once (a mapping): taint dated at the write
        };
        std::vector<Reader> readers;       // bounded
        std::vector<std::string> writers;  // bounded; a channel lives while a holder lives
        bool ever_read = false;
    };
    struct SensitiveFile {
        std::string path, display;
        const SensitiveClass* cls = nullptr;
    };
    struct Work {
        bool process = false;
        std::string entity;
        ObjectKey key;
    };
    struct PendingBlind {
        std::uint64_t lost = 0;
        std::vector<ProcessRef> processes;
    };

    ProcessNode* node(const std::string& entity);
    Object& object(const ObjectKey& key, const std::string& path);
    const SensitiveClass* classify(const std::string& path, std::string& display);
    ObjectKey file_key(const std::string& path, std::uint64_t device, std::uint64_t inode) const;
    bool transforms(const ProcessNode& p) const;
    // Merges `in` (capped, through `via`) into `into`, held since `since` (0: now; keep_since:
    // as `in` says, for a mapper that saw it when it was written); true when it grew.
    static constexpr TimeNs keep_since = ~TimeNs{0};
    bool merge(std::vector<Taint>& into, const std::vector<Taint>& in, std::uint64_t cap,
               const std::shared_ptr<Hop>& via, bool transformed, TimeNs since = 0);
    bool merge_one(std::vector<Taint>& into, const Taint& t);
    void release(const std::vector<Taint>& taint);
    struct WriteTimes {
        TimeNs opened = 0, wrote = 0;
        bool untimed = false;
        bool mapped = false;
    };
    ProcessNode::Output add_output(ProcessNode& p, const ObjectKey& key, std::uint64_t cap, WriteTimes times);
    // The part of `taint` that writes to `o` carried: what its writer held when it wrote.
    std::vector<Taint> carried(const ProcessNode::Output& o, const std::vector<Taint>& taint) const;
    bool write_file(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t device,
                    std::uint64_t inode, bool truncate, WriteTimes times);
    // `bytes` (cumulative) through the channel `key` by `process` in `direction`.
    bool channel_io(const ProcessRef& process, const ObjectKey& key, IoDirection direction, std::uint64_t bytes,
                    TimeNs time);
    bool on_memory_io(const ObjectIoEvent& e);
    bool on_image_read(const ObjectIoEvent& e);  // its environment or its command line
    bool on_shared_mapping(const ObjectIoEvent& e);
    // `entity` maps `key` shared (`writable`, or a fork inherited it): a reader of it for as long
    // as the mapping lives, and a writer at any time when writable.
    bool map_shared(const std::string& entity, const ObjectKey& key, std::uint64_t bytes, bool writable);
    void remember_mapping(ProcessNode& n, const std::string& entity, const ObjectKey& key);
    void unmap_all(ProcessNode& p);
    void add_reader(Object& o, const std::string& entity, std::uint64_t cap, bool mapped = false);
    static void add_reader(std::vector<Object::Reader>& readers, const std::string& entity, std::uint64_t cap,
                           bool mapped);
    std::shared_ptr<Hop> staging_hop(ProcessNode& p, const std::string& path) const;
    // Taint arrived at a process or an object: queue a push downstream; drain() runs the queue
    // within the work budget.
    void propagate_from_process(const std::string& entity);
    void propagate_from_object(const ObjectKey& key);
    void drain();
    void notify_downstream(const std::string& entity);
    std::vector<Taint> absorb_child_pipes(ProcessNode& p, TimeNs before);
    void remove_process(std::unordered_map<std::string, ProcessNode>::iterator it);
    void channel_done(const ObjectKey& key, const std::string& entity);
    void evict_processes();
    void evict_objects();
    void evict_sources();
    void note_changed(const std::string& entity);
    void lost(const std::string& cause, std::uint64_t n, const std::vector<Taint>& taint);
    void flush_blind_spots();
    bool live(const Taint& t) const;

    const Rules& rules_;
    std::unordered_map<std::string, ProcessNode> processes_;
    std::deque<std::string> process_order_;  // creation order: the cap evicts the oldest
    std::deque<std::pair<TimeNs, std::string>> exits_;
    std::unordered_map<ObjectKey, Object, ObjectKeyHash> objects_;
    std::deque<ObjectKey> object_order_;
    // Read-only mappers of a file no process wrote in our sight yet (a compiler's private
    // mapping of a header, a watcher's of a scratch file): joined to the file's object when one
    // is made (a holder writes it), so mapping every file a build reads fills no object table.
    // Bounded; the oldest file goes first (untainted knowledge: not a blind spot).
    std::unordered_map<ObjectKey, std::vector<Object::Reader>, ObjectKeyHash> pending_mappers_;
    std::deque<ObjectKey> pending_order_;
    std::unordered_map<ObjectKey, SensitiveFile, ObjectKeyHash> sensitive_files_;
    std::unordered_map<std::uint64_t, Source> sources_;
    std::deque<std::uint64_t> source_order_;
    std::unordered_map<std::string, std::uint64_t> source_index_;  // reader entity + path -> source
    std::uint64_t next_source_ = 1;
    std::unordered_map<std::uint64_t, std::vector<std::string>> pipe_readers_;  // stdin pipe -> entities
    std::unordered_map<std::uint64_t, std::vector<std::string>> pipe_writers_;  // stdout pipe -> entities
    bool channel_telemetry_ = false;  // ObjectIoEvent seen for pipes: the exact reads are known

    std::deque<Work> work_;
    std::vector<std::string> changed_;
    std::unordered_set<std::string> changed_set_;
    util::LruMap<std::string, char> holders_;
    std::map<std::string, PendingBlind> pending_blind_;
    std::vector<BlindSpot> blind_spots_;
    TimeNs now_ = 0;

    struct ClassMemo {
        bool used = false;
        std::string path, display;
        const SensitiveClass* cls = nullptr;
    };
    std::vector<ClassMemo> class_memo_ = std::vector<ClassMemo>(4096);
    LineageStats stats_;
};

}  // namespace exfilwatch::detect
