// detect: the data-flow lineage (see lineage.hpp). Every table is bounded by the rules' caps;
// every loss of taint is counted and becomes a BlindSpot.
#include "detect/lineage.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace exfilwatch::detect {
namespace {

constexpr std::size_t max_outputs = 16;  // objects a process writes to, most recent kept
constexpr std::size_t max_readers = 32;  // readers remembered per object
constexpr std::size_t max_writers = 8;
constexpr std::size_t max_child_pipes = 8;
constexpr std::size_t max_staging_reads = 16;
constexpr std::size_t max_pending_mapped = 4096;       // files with read-only mappers and no object yet
constexpr std::size_t max_mapped = 16;                 // shared mappings remembered per process, most recent kept
constexpr std::size_t max_argv_files = 8;              // sensitive files an argument carries, per process
constexpr int max_hop_depth = 16;                      // longer chains keep their nearest hops
constexpr int max_subshell_levels = 4;                 // $( ( (cat f | base64) ) ) through forked subshells
constexpr std::size_t propagation_budget = 4096;       // steps per event
constexpr TimeNs exited_grace_ns = 30'000'000'000ULL;  // late summaries of an exited process
constexpr std::size_t max_blind_processes = 8;
constexpr std::size_t max_holders = 4096;
// The kernel reports a channel's count at most once a second (cfg_flow_update_ns): writes in the
// second after a record are unseen until the next one, so a record stands for that second too.
constexpr TimeNs channel_report_slack_ns = 1'000'000'000ULL;
constexpr auto no_cap = ~std::uint64_t{0};

bool pseudo_file(const std::string& path)
{
    if (path.rfind("/dev/shm/", 0) == 0) return false;  // tmpfs: a staging place like /tmp
    return path.rfind("/dev/", 0) == 0 || path.rfind("/proc/", 0) == 0 || path.rfind("/sys/", 0) == 0 || path.empty() ||
           path.front() != '/';
}

bool is_shell(std::string_view name)
{
    static constexpr std::string_view shells[] = {"bash", "sh", "dash", "zsh", "ksh", "mksh", "ash", "fish", "busybox"};
    return std::find(std::begin(shells), std::end(shells), name) != std::end(shells);
}

template <typename T>
void push_bounded(std::vector<T>& v, T value, std::size_t cap)
{
    if (std::find(v.begin(), v.end(), value) != v.end()) return;
    if (v.size() >= cap) v.erase(v.begin());
    v.push_back(std::move(value));
}

std::string source_key(const std::string& entity, const std::string& path)
{
    return entity + '\n' + path;
}

}  // namespace

std::string Lineage::key_of(const ProcessRef& ref)
{
    if (!ref.entity_id.empty()) return ref.entity_id;
    return fmt::format("pid:{}:{}", ref.pid, ref.start_time);
}

ProcessNode* Lineage::node(const std::string& entity)
{
    auto it = processes_.find(entity);
    return it == processes_.end() ? nullptr : &it->second;
}

const ProcessNode* Lineage::find(const std::string& entity) const
{
    auto it = processes_.find(entity);
    return it == processes_.end() ? nullptr : &it->second;
}

bool Lineage::live(const Taint& t) const
{
    return sources_.contains(t.source);
}

void Lineage::release(const std::vector<Taint>& taint)
{
    for (const auto& t : taint) {
        auto it = sources_.find(t.source);
        if (it == sources_.end()) continue;
        if (it->second.holders > 0) --it->second.holders;
        if (it->second.holders == 0) {
            source_index_.erase(source_key(it->second.reader.ref.entity_id, it->second.read.path));
            sources_.erase(it);
        }
    }
}

void Lineage::lost(const std::string& cause, std::uint64_t n, const std::vector<Taint>& taint)
{
    bool tainted = std::any_of(taint.begin(), taint.end(), [&](const Taint& t) { return live(t); });
    if (!tainted) return;
    stats_.evicted_taint += n;
    auto& p = pending_blind_[cause];
    p.lost += n;
    for (const auto& t : taint) {
        auto it = sources_.find(t.source);
        if (it == sources_.end() || p.processes.size() >= max_blind_processes) continue;
        const auto& ref = it->second.reader.ref;
        if (std::none_of(p.processes.begin(), p.processes.end(),
                         [&](const ProcessRef& r) { return r.entity_id == ref.entity_id; }))
            p.processes.push_back(ref);
    }
}

void Lineage::flush_blind_spots()
{
    for (auto& [cause, p] : pending_blind_) {
        BlindSpot b;
        b.time = now_;
        b.cause = cause;
        b.lost = p.lost;
        b.detail = cause == "taint_propagation_truncated"
                       ? fmt::format("data-flow propagation stopped at its budget {} time(s)", p.lost)
                       : fmt::format("{} tainted table entr{} evicted at the cap", p.lost, p.lost == 1 ? "y" : "ies");
        b.processes = std::move(p.processes);
        blind_spots_.push_back(std::move(b));
    }
    pending_blind_.clear();
}

std::vector<BlindSpot> Lineage::take_blind_spots()
{
    flush_blind_spots();
    return std::exchange(blind_spots_, {});
}

std::vector<std::string> Lineage::take_changed()
{
    changed_set_.clear();
    return std::exchange(changed_, {});
}

void Lineage::note_changed(const std::string& entity)
{
    if (changed_.size() < propagation_budget && changed_set_.insert(entity).second) changed_.push_back(entity);
    if (const auto* p = find(entity); p && !p->taint.empty()) {
        holders_.touch(entity);
        if (holders_.size() > max_holders) holders_.pop_oldest();
    }
}

ObjectKey Lineage::file_key(const std::string& path, std::uint64_t device, std::uint64_t inode) const
{
    if (inode) return ObjectKey{ObjectType::file, device, inode};
    return ObjectKey{ObjectType::file_path, 0, std::hash<std::string>{}(path)};
}

const SensitiveClass* Lineage::classify(const std::string& path, std::string& display)
{
    if (path.size() > 1024) return rules_.classify(path, &display);
    auto& m = class_memo_[std::hash<std::string>{}(path) % class_memo_.size()];
    if (!m.used || m.path != path) {
        m.used = true;
        m.path = path;
        m.display.clear();
        m.cls = rules_.classify(path, &m.display);
    }
    display = m.display;
    return m.cls;
}

bool Lineage::merge_one(std::vector<Taint>& into, const Taint& t)
{
    auto src = sources_.find(t.source);
    if (src == sources_.end()) return false;
    for (auto& e : into) {
        if (e.source != t.source) continue;
        bool grew = false;
        if (t.cap > e.cap || (!live(e))) {
            e.cap = t.cap;
            e.via = t.via;
            grew = true;
        }
        if (t.transformed && !e.transformed) {
            e.transformed = true;
            grew = true;
        }
        return grew;
    }
    if (into.size() >= rules_.settings.max_reads_per_process) {
        // Never the strongest one dropped: the weakest class (or a dead entry) makes room.
        auto weight = [&](const Taint& x) {
            auto it = sources_.find(x.source);
            return it == sources_.end() || !it->second.read.cls ? -1 : it->second.read.cls->weight;
        };
        auto weakest = std::min_element(into.begin(), into.end(),
                                        [&](const Taint& a, const Taint& b) { return weight(a) < weight(b); });
        ++stats_.dropped_reads;
        if (weight(*weakest) >= weight(t)) {
            lost("taint_evicted", 1, {t});
            return false;
        }
        lost("taint_evicted", 1, {*weakest});
        release({*weakest});
        into.erase(weakest);
    }
    into.push_back(t);
    ++src->second.holders;
    return true;
}

bool Lineage::merge(std::vector<Taint>& into, const std::vector<Taint>& in, std::uint64_t cap,
                    const std::shared_ptr<Hop>& via, bool transformed, TimeNs since)
{
    bool grew = false;
    auto copy = in;  // `in` may alias a vector `into` reallocates
    for (auto t : copy) {
        ++stats_.work;
        t.cap = std::min(t.cap, cap);
        if (via) {
            auto hop = std::make_shared<Hop>(*via);
            hop->next = t.via;
            hop->depth = t.via ? t.via->depth + 1 : 1;
            t.via = hop->depth > max_hop_depth ? t.via : hop;
        }
        t.transformed = t.transformed || transformed;
        if (since != keep_since) t.since = since ? std::min(since, now_) : now_;
        grew |= merge_one(into, t);
    }
    return grew;
}

ProcessNode::Output Lineage::add_output(ProcessNode& p, const ObjectKey& key, std::uint64_t cap, WriteTimes times)
{
    for (auto& o : p.outputs)
        if (o.key == key) {
            o.cap = cap;
            o.opened = std::max(o.opened, times.opened);  // opened again: written from then on
            o.last_write = std::max(o.last_write, times.wrote);
            o.untimed = o.untimed || times.untimed;
            o.mapped = o.mapped || times.mapped;
            return o;
        }
    if (p.outputs.size() >= max_outputs) p.outputs.erase(p.outputs.begin());
    p.outputs.push_back(ProcessNode::Output{key, cap, times.opened, times.wrote, times.untimed, times.mapped});
    return p.outputs.back();
}

std::vector<Taint> Lineage::carried(const ProcessNode::Output& o, const std::vector<Taint>& taint) const
{
    // Opened after it held the data, or written since: the writes can hold it. Opened before and
    // not written since (report.txt written, then a key read): they cannot.
    auto written = std::max(o.opened, o.last_write);
    if (o.last_write && o.key.type != ObjectType::file && o.key.type != ObjectType::file_path)
        written = std::max(written, o.last_write + channel_report_slack_ns);
    std::vector<Taint> out;
    for (const auto& t : taint)
        if (o.mapped || (o.untimed && !channel_telemetry_) || t.since <= written) out.push_back(t);
    return out;
}

void Lineage::add_reader(Object& o, const std::string& entity, std::uint64_t cap, bool mapped)
{
    o.ever_read = true;
    add_reader(o.readers, entity, cap, mapped);
}

void Lineage::add_reader(std::vector<Object::Reader>& readers, const std::string& entity, std::uint64_t cap,
                         bool mapped)
{
    for (auto& r : readers)
        if (r.entity == entity) {
            r.cap = cap;
            r.mapped = r.mapped || mapped;
            return;
        }
    if (readers.size() >= max_readers) readers.erase(readers.begin());
    readers.push_back(Object::Reader{entity, cap, mapped});
}

Lineage::Object& Lineage::object(const ObjectKey& key, const std::string& path)
{
    auto it = objects_.find(key);
    if (it == objects_.end()) {
        evict_objects();  // room first: the new object is never the one evicted
        it = objects_.try_emplace(key).first;
        object_order_.push_back(key);
        it->second.path = path;
        // Those that mapped it before, still mapping it, read whatever it holds from now on.
        if (auto pending = pending_mappers_.find(key); pending != pending_mappers_.end()) {
            for (const auto& r : pending->second)
                if (auto* n = node(r.entity);
                    n && std::find(n->mapped.begin(), n->mapped.end(), key) != n->mapped.end()) {
                    add_reader(it->second, r.entity, r.cap, r.mapped);
                    push_bounded(n->inputs, key, max_outputs);
                }
            pending_mappers_.erase(pending);
        }
    }
    if (!path.empty()) it->second.path = path;
    it->second.last = now_;
    return it->second;
}

void Lineage::evict_objects()
{
    while (objects_.size() >= rules_.settings.max_staging_files && !object_order_.empty()) {
        auto key = object_order_.front();
        object_order_.pop_front();
        auto it = objects_.find(key);
        if (it == objects_.end()) continue;
        lost("taint_evicted", 1, it->second.taint);
        release(it->second.taint);
        objects_.erase(it);
        ++stats_.evicted_staged_files;
    }
    // Keys of erased objects stay in the order until popped: bound it too.
    if (object_order_.size() > 2 * rules_.settings.max_staging_files + 64) {
        std::deque<ObjectKey> kept;
        for (const auto& k : object_order_)
            if (objects_.contains(k)) kept.push_back(k);
        object_order_ = std::move(kept);
    }
}

// Whether `p` is a transformer (archiver, encoder): its output holds a share of what it read.
bool Lineage::transforms(const ProcessNode& p) const
{
    return any_name_matches(rules_.settings.transformers, p.ref);
}

void Lineage::propagate_from_process(const std::string& entity)
{
    work_.push_back(Work{true, entity, {}});
}

void Lineage::propagate_from_object(const ObjectKey& key)
{
    work_.push_back(Work{false, {}, key});
}

void Lineage::drain()
{
    std::size_t steps = 0;
    while (!work_.empty()) {
        if (++steps > propagation_budget) {
            ++stats_.propagation_truncated;
            pending_blind_["taint_propagation_truncated"].lost += 1;
            work_.clear();
            break;
        }
        ++stats_.work;
        auto w = std::move(work_.front());
        work_.pop_front();
        if (w.process) {
            auto* p = node(w.entity);
            if (!p || p->taint.empty()) continue;
            note_changed(w.entity);
            bool tr = transforms(*p);
            auto outputs = p->outputs;
            for (const auto& o : outputs) {
                auto* again = node(w.entity);
                if (!again) break;
                auto taint = carried(o, again->taint);
                // Written before it held the data: the object is kept untainted, so that its
                // readers are known when a later write carries the data.
                auto& obj = object(o.key, {});  // object() can evict, never a process
                push_bounded(obj.writers, w.entity, max_writers);
                if (!taint.empty() && merge(obj.taint, taint, o.cap, nullptr, tr)) propagate_from_object(o.key);
            }
        } else {
            auto it = objects_.find(w.key);
            if (it == objects_.end() || it->second.taint.empty()) continue;
            std::vector<Object::Reader> readers = it->second.readers;
            if (w.key.type == ObjectType::pipe)
                if (auto pr = pipe_readers_.find(w.key.id); pr != pipe_readers_.end())
                    for (const auto& e : pr->second) readers.push_back(Object::Reader{e, no_cap});
            if (!readers.empty()) it->second.ever_read = true;
            for (const auto& r : readers) {
                auto* p = node(r.entity);
                auto obj = objects_.find(w.key);
                if (!p || obj == objects_.end()) continue;
                std::shared_ptr<Hop> via;
                if (w.key.type == ObjectType::file || w.key.type == ObjectType::file_path)
                    via = staging_hop(*p, obj->second.path);
                // A mapper saw it when it was written (a write learnt from a summary, late).
                if (merge(p->taint, obj->second.taint, r.cap, via, false, r.mapped ? keep_since : 0))
                    propagate_from_process(r.entity);
            }
        }
    }
}

std::shared_ptr<Hop> Lineage::staging_hop(ProcessNode& p, const std::string& path) const
{
    for (const auto& h : p.staging_reads)
        if (h->read.path == path) return h;
    auto h = std::make_shared<Hop>();
    h->read.path = path;
    h->read.display = path;
    h->read.time = now_;
    h->read.opened_by = p.ref.name;
    h->carrier = p.ref.entity_id;
    if (p.staging_reads.size() >= max_staging_reads) p.staging_reads.erase(p.staging_reads.begin());
    p.staging_reads.push_back(h);
    return h;
}

ProcessNode& Lineage::touch(const ProcessRef& ref, TimeNs time)
{
    now_ = std::max(now_, time);
    auto key = key_of(ref);
    auto it = processes_.find(key);
    const bool inserted = it == processes_.end();
    if (inserted) {
        evict_processes();  // room first: the new process is never the one evicted
        it = processes_.try_emplace(key).first;
    }
    auto& n = it->second;
    if (inserted) {
        n.start = ref.start_time ? ref.start_time : time;
        n.image = now_;
        n.ref = ref;
        n.ref.entity_id = key;
        process_order_.push_back(key);
        // First sight of a process is its fork: it holds what its parent held then, and the fds
        // it inherited (files its parent writes; stdio comes with its exec).
        if (auto* parent = ref.parent_entity_id.empty() ? nullptr : node(ref.parent_entity_id)) {
            merge(n.taint, parent->taint, no_cap, nullptr, false);
            for (auto o : parent->outputs)
                if (o.key.type == ObjectType::file || o.key.type == ObjectType::file_path) {
                    if (!o.mapped) o.last_write = 0;  // the parent's writes, not the child's
                    n.outputs.push_back(o);
                }
            // Its shared mappings are the child's too: what either writes there, the other sees.
            n.mapped = parent->mapped;
            for (const auto& k : n.mapped)
                if (auto obj = objects_.find(k); obj != objects_.end()) {
                    add_reader(obj->second, key, no_cap);
                    push_bounded(n.inputs, k, max_outputs);
                }
        }
        return n;
    }
    // A later event knows at least as much (exec gives args); keep the richest view.
    if (!ref.args.empty() && (ref.pgid != n.ref.pgid || ref.name != n.ref.name || ref.args != n.ref.args)) {
        auto stdin_pipe = n.ref.stdin_pipe, stdout_pipe = n.ref.stdout_pipe;
        auto stdout_kind = n.ref.stdout_kind;
        n.ref = ref;
        n.ref.entity_id = key;
        if (!ref.stdin_pipe && ref.stdout_kind == StdoutKind::unknown) {  // an event that does not know the stdio
            n.ref.stdin_pipe = stdin_pipe;
            n.ref.stdout_pipe = stdout_pipe;
            n.ref.stdout_kind = stdout_kind;
        }
    }
    n.last_seen = std::max(n.last_seen, time);
    return n;
}

void Lineage::evict_processes()
{
    while (processes_.size() >= rules_.settings.max_processes && !process_order_.empty()) {
        auto key = process_order_.front();
        process_order_.pop_front();
        auto it = processes_.find(key);
        if (it == processes_.end()) continue;
        // A running holder's taint is lost with it; an exited one's lives on in what it wrote.
        if (!it->second.exit) lost("taint_evicted", 1, it->second.taint);
        remove_process(it);
        ++stats_.evicted_processes;
    }
    if (process_order_.size() > 2 * rules_.settings.max_processes + 64) {
        std::deque<std::string> kept;
        for (const auto& k : process_order_)
            if (processes_.contains(k)) kept.push_back(k);
        process_order_ = std::move(kept);
    }
}

void Lineage::remove_process(std::unordered_map<std::string, ProcessNode>::iterator it)
{
    auto& n = it->second;
    if (n.ref.stdin_pipe) {
        auto pr = pipe_readers_.find(n.ref.stdin_pipe);
        if (pr != pipe_readers_.end()) {
            std::erase(pr->second, it->first);
            if (pr->second.empty()) pipe_readers_.erase(pr);
        }
    }
    if (n.ref.stdout_pipe) {
        auto pw = pipe_writers_.find(n.ref.stdout_pipe);
        if (pw != pipe_writers_.end()) {
            std::erase(pw->second, it->first);
            if (pw->second.empty()) pipe_writers_.erase(pw);
        }
    }
    // A channel lives while a holder lives: one whose every known writer and reader is gone goes.
    for (const auto& o : n.outputs) {
        if (o.key.type == ObjectType::file || o.key.type == ObjectType::file_path) continue;
        channel_done(o.key, it->first);
    }
    for (const auto& k : n.inputs) channel_done(k, it->first);
    release(n.taint);
    holders_.erase(it->first);
    processes_.erase(it);
}

void Lineage::channel_done(const ObjectKey& key, const std::string& entity)
{
    auto it = objects_.find(key);
    if (it == objects_.end()) return;
    auto& o = it->second;
    std::erase(o.writers, entity);
    std::erase_if(o.readers, [&](const Object::Reader& r) { return r.entity == entity; });
    // A channel nobody was seen reading may still be held by a process we cannot see holding it
    // (a forked subshell that will read later: `cat key | (sleep 3600; curl -d @-)`): it stays,
    // until the cap evicts it (a blind spot when tainted), so waiting does not wash the data out.
    bool held = !o.writers.empty() || !o.readers.empty() || !o.ever_read ||
                (key.type == ObjectType::pipe && pipe_readers_.contains(key.id));
    if (held) return;
    release(o.taint);
    objects_.erase(it);
}

void Lineage::on_fork(const ProcessRef& child, TimeNs time)
{
    auto& n = touch(child, time);
    n.last_seen = time;
}

void Lineage::on_exec(const ProcessRef& ref, TimeNs time)
{
    const auto key = key_of(ref);
    bool known = processes_.contains(key);
    auto before = known ? processes_.find(key)->second.ref : ProcessRef{};
    auto* n = &touch(ref, time);
    n->exec_seen = true;
    n->image = now_;  // after every event handled before it: what it held by then is in its image
    unmap_all(*n);    // a new address space
    n->ref.stdin_pipe = ref.stdin_pipe;
    n->ref.stdout_pipe = ref.stdout_pipe;
    n->ref.stdout_kind = ref.stdout_kind;
    // fd 1 is what the exec record says; inherited files stay only when fd 1 is a file.
    if (ref.stdout_kind == StdoutKind::pipe || ref.stdout_kind == StdoutKind::other) {
        std::erase_if(n->outputs, [](const ProcessNode::Output& o) {
            return o.key.type == ObjectType::file || o.key.type == ObjectType::file_path;
        });
    }
    bool changed = false;
    if (ref.stdout_pipe && (!known || before.stdout_pipe != ref.stdout_pipe)) {
        // Without pipe telemetry, fd 1 is taken as written; with it, only a write seen is (a
        // provisioner that printed nothing does not taint the harness reading its stdout).
        if (!channel_telemetry_)
            add_output(*n, ObjectKey{ObjectType::pipe, 0, ref.stdout_pipe}, no_cap, WriteTimes{time, 0, true});
        push_bounded(pipe_writers_[ref.stdout_pipe], key, max_writers);
    }
    if (ref.stdin_pipe && (!known || before.stdin_pipe != ref.stdin_pipe)) {
        push_bounded(pipe_readers_[ref.stdin_pipe], key, max_readers);
        auto it = objects_.find(ObjectKey{ObjectType::pipe, 0, ref.stdin_pipe});
        if (it != objects_.end()) {
            it->second.ever_read = true;
            changed |= merge(n->taint, it->second.taint, no_cap, nullptr, false);
        }
    }
    // Register this child's stdout pipe with the shells that can read it (command substitution);
    // through forked subshells, which are copies of their parent and do not exec.
    auto* parent = ref.parent_entity_id.empty() ? nullptr : node(ref.parent_entity_id);
    if (ref.stdout_pipe) {
        auto* up = parent;
        for (int level = 0; up && level < max_subshell_levels; ++level) {
            push_bounded(up->child_pipes, ref.stdout_pipe, max_child_pipes);
            if (up->exec_seen || up->ref.parent_entity_id.empty()) break;
            up = node(up->ref.parent_entity_id);
        }
    }
    if (!channel_telemetry_ && parent && ref.stdin_pipe && !pipe_writers_.contains(ref.stdin_pipe)) {
        // A stdin pipe no process has as its stdout is written by the parent (tar's pipe to
        // gzip, popen(cmd, "w"), a shell's here-string, subprocess stdin=PIPE).
        add_output(*parent, ObjectKey{ObjectType::pipe, 0, ref.stdin_pipe}, no_cap, WriteTimes{time, 0, true});
        if (!parent->taint.empty()) propagate_from_process(ref.parent_entity_id);
    }
    if (!channel_telemetry_) {
        // What fed the shell before this child forked (x=$(cat key); curl -d "$x") reaches it.
        if (parent && is_shell(parent->ref.name)) {
            auto got = absorb_child_pipes(*parent, n->start);
            n = node(key);
            if (n && !got.empty() && merge(n->taint, got, no_cap, nullptr, false)) changed = true;
            if (!got.empty()) propagate_from_process(ref.parent_entity_id);
        }
        // A shell that execs its last command: what its substitutions fed it is the command's.
        if (n && !absorb_child_pipes(*n, ~TimeNs{0}).empty()) changed = true;
    }
    if (n && changed) propagate_from_process(key);
    drain();
}

// Command substitution without channel telemetry: a child's stdout pipe that no process reads as
// stdin and that is not `p`'s own stdout was read by `p`, once its writers exited (the shell reads
// to the end). Returns what `p` gained from pipes whose writers all exited before `before`.
std::vector<Taint> Lineage::absorb_child_pipes(ProcessNode& p, TimeNs before)
{
    std::vector<Taint> gained;
    for (auto pipe : std::vector<std::uint64_t>(p.child_pipes)) {
        ++stats_.work;
        if (pipe == p.ref.stdout_pipe || pipe_readers_.contains(pipe)) continue;
        auto it = objects_.find(ObjectKey{ObjectType::pipe, 0, pipe});
        if (it == objects_.end() || it->second.taint.empty()) continue;
        bool done = std::all_of(it->second.writers.begin(), it->second.writers.end(), [&](const std::string& w) {
            const auto* wn = find(w);
            return !wn || (wn->exit && wn->exit <= before);
        });
        if (!done) continue;
        auto taint = it->second.taint;
        if (merge(p.taint, taint, no_cap, nullptr, false)) propagate_from_process(p.ref.entity_id);
        gained.insert(gained.end(), taint.begin(), taint.end());
    }
    return gained;
}

void Lineage::on_exit(const ProcessRef& ref, TimeNs time)
{
    auto& n = touch(ref, time);
    n.exit = std::max(time, n.start);
    exits_.emplace_back(n.exit, key_of(ref));
}

bool Lineage::on_read(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t device,
                      std::uint64_t inode, std::uint64_t bytes)
{
    if (pseudo_file(path)) return false;
    now_ = std::max(now_, time);
    const auto fkey = file_key(path, device, inode);
    std::string display;
    const SensitiveClass* cls = classify(path, display);
    if (cls && inode) {
        // Known by identity from now on: a hard link or a rename at a harmless name is the same file.
        auto [it, inserted] = sensitive_files_.try_emplace(fkey, SensitiveFile{path, display, cls});
        if (inserted && sensitive_files_.size() > rules_.settings.max_staging_files) {
            sensitive_files_.erase(sensitive_files_.begin());  // untainted knowledge: not a blind spot
            ++stats_.evicted_staged_files;
        }
    } else if (!cls && inode) {
        if (auto it = sensitive_files_.find(fkey); it != sensitive_files_.end()) {
            cls = it->second.cls;
            display = it->second.display;
        }
    }
    const auto entity = key_of(ref);
    auto* n = &touch(ref, time);
    bool changed = false;
    if (cls) {
        auto skey = source_key(entity, path);
        auto si = source_index_.find(skey);
        if (si == source_index_.end()) {
            Source s;
            s.read = ReadRecord{path, display, cls, {}, bytes, time, ref.name};
            s.reader.ref = n->ref;
            s.reader.start = n->start;
            s.file = fkey;
            auto id = next_source_++;
            sources_.emplace(id, std::move(s));
            source_index_.emplace(skey, id);
            source_order_.push_back(id);
            evict_sources();
            n = node(entity);
            if (!n) return false;
            // Held since the open; a read seen only in a summary (an inherited fd) since the start.
            TimeNs since = bytes && n->start ? std::min(n->start, time) : time;
            changed = merge_one(n->taint, Taint{id, no_cap, nullptr, false, since});
        } else {
            auto& s = sources_.at(si->second).read;
            if (bytes > s.bytes) {
                s.bytes = bytes;
                s.time = std::max(s.time, time);
                notify_downstream(entity);
                drain();
                return true;
            }
            return false;
        }
    } else {
        auto it = objects_.find(fkey);
        if (it == objects_.end()) return false;
        auto& obj = it->second;
        bool own = std::find(obj.writers.begin(), obj.writers.end(), entity) != obj.writers.end();
        add_reader(obj, entity, no_cap);
        n->inputs.push_back(fkey);
        if (n->inputs.size() > max_outputs) n->inputs.erase(n->inputs.begin());
        if (obj.taint.empty() || own) return false;
        auto hop = staging_hop(*n, obj.path.empty() ? path : obj.path);
        if (bytes > hop->read.bytes) {
            hop->read.bytes = bytes;
            note_changed(entity);
            changed = true;
        }
        auto taint = obj.taint;
        changed |= merge(n->taint, taint, no_cap, hop, false);
    }
    if (changed) propagate_from_process(entity);
    drain();
    return changed;
}

// A source's byte count grew: the holders downstream see it through the source, but the engine
// must re-score them. Bounded by the propagation budget.
void Lineage::notify_downstream(const std::string& entity)
{
    std::vector<std::string> frontier{entity};
    std::size_t steps = 0;
    std::unordered_map<std::string, bool> seen;
    while (!frontier.empty() && steps < propagation_budget) {
        std::vector<std::string> next;
        for (const auto& e : frontier) {
            if (++steps > propagation_budget || !seen.emplace(e, true).second) continue;
            ++stats_.work;
            note_changed(e);
            const auto* p = find(e);
            if (!p) continue;
            for (const auto& o : p->outputs) {
                auto it = objects_.find(o.key);
                if (it == objects_.end()) continue;
                for (const auto& r : it->second.readers) next.push_back(r.entity);
                if (o.key.type == ObjectType::pipe)
                    if (auto pr = pipe_readers_.find(o.key.id); pr != pipe_readers_.end())
                        next.insert(next.end(), pr->second.begin(), pr->second.end());
            }
        }
        frontier = std::move(next);
    }
}

bool Lineage::on_write(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t device,
                       std::uint64_t inode, bool truncate)
{
    return write_file(ref, time, path, device, inode, truncate, WriteTimes{time, 0, false});
}

bool Lineage::on_written(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t device,
                         std::uint64_t inode, TimeNs wrote)
{
    return write_file(ref, time, path, device, inode, false, WriteTimes{0, wrote, false});
}

bool Lineage::write_file(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t device,
                         std::uint64_t inode, bool truncate, WriteTimes times)
{
    if (pseudo_file(path)) return false;
    const auto entity = key_of(ref);
    auto& n = touch(ref, time);
    const auto fkey = file_key(path, device, inode);
    const auto taint = carried(add_output(n, fkey, no_cap, times), n.taint);
    auto it = objects_.find(fkey);
    if (taint.empty()) {
        // Rewritten by a writer that holds nothing: what it held is gone.
        if (truncate && it != objects_.end()) {
            release(it->second.taint);
            it->second.taint.clear();
        }
        // A holder's file written before it held the data: known, so its readers are.
        if (!n.taint.empty() && it == objects_.end()) push_bounded(object(fkey, path).writers, entity, max_writers);
        return false;
    }
    auto& obj = object(fkey, path);
    if (truncate) {
        release(obj.taint);
        obj.taint.clear();
    }
    push_bounded(obj.writers, entity, max_writers);
    auto* again = node(entity);
    if (!again) return false;
    // Held since the write: one learnt from a summary (up to a second late, or at the writer's
    // exit) is dated when it was made, for those who map the file.
    const TimeNs since = times.opened ? times.opened : times.wrote;
    bool changed = merge(obj.taint, taint, no_cap, nullptr, transforms(*again), since);
    if (changed) propagate_from_object(fkey);
    drain();
    return changed;
}

bool Lineage::on_object_io(const ObjectIoEvent& e)
{
    now_ = std::max(now_, e.time);
    ObjectKey key;
    switch (e.object) {
    case ObjectKind::pipe:
        key = {ObjectType::pipe, 0, e.object_id};
        channel_telemetry_ = true;
        break;
    case ObjectKind::fifo: key = {ObjectType::fifo, e.device, e.object_id}; break;
    case ObjectKind::unix_socket: key = {ObjectType::unix_socket, 0, e.object_id}; break;
    case ObjectKind::loopback_socket: key = {ObjectType::loopback_socket, 0, e.object_id}; break;
    case ObjectKind::process_memory: return on_memory_io(e);
    case ObjectKind::process_environ:
    case ObjectKind::process_cmdline: return on_image_read(e);
    case ObjectKind::shared_memory: return on_shared_mapping(e);
    }
    return channel_io(e.process, key, e.direction, e.bytes, e.time);
}

bool Lineage::on_memory_io(const ObjectIoEvent& e)
{
    // A copy between two memories is a channel of its own between the pair, written by the side
    // the bytes came from at the moment of the copy: the reader gets what the owner held then
    // (also when the owner's read is learnt later), and a later reader of the same owner does not
    // reach an earlier one.
    if (e.peer_entity_id.empty()) return false;
    ProcessRef peer;
    peer.pid = e.peer_pid;
    peer.entity_id = e.peer_entity_id;
    const bool read = e.direction == IoDirection::read;
    const ProcessRef& from = read ? peer : e.process;
    const ProcessRef& to = read ? e.process : peer;
    const auto from_key = key_of(from), to_key = key_of(to);
    if (from_key == to_key) return false;
    const std::hash<std::string> hash;
    const ObjectKey key{ObjectType::process_memory, 0, hash(from_key) * 0x9e3779b97f4a7c15ULL ^ hash(to_key)};
    bool changed = channel_io(from, key, IoDirection::write, e.bytes, e.time);
    changed = channel_io(to, key, IoDirection::read, e.bytes, e.time) || changed;
    return changed;
}

bool Lineage::on_image_read(const ObjectIoEvent& e)
{
    // The environment and the command line are the owner's image, built at its exec from what it
    // held then (an exported `$(cat key)`): a reader gets that, never what the owner read since
    // (ssh's key is not in its environment). A command line holds a file's data only where the
    // file's bytes are in an argument (`sleep 600 "$(cat key)"`; the scan of its exec's arguments
    // said so): ps, top and agents read every process's, and a command started by a holder
    // carries nothing of what it held unless it was given it there. Nothing is kept for an owner
    // whose image holds nothing.
    if (e.peer_entity_id.empty() || e.direction != IoDirection::read) return false;
    const bool command_line = e.object == ObjectKind::process_cmdline;
    const auto owner_key = key_of(ProcessRef{.pid = e.peer_pid, .entity_id = e.peer_entity_id});
    const auto reader_key = key_of(e.process);
    const auto* owner = node(owner_key);
    if (!owner || owner_key == reader_key || (command_line && owner->argv_files.empty())) return false;
    // As if the exec had written it: what the owner held by then.
    auto image = carried(ProcessNode::Output{.opened = owner->image}, owner->taint);
    if (command_line)
        std::erase_if(image, [&](const Taint& t) {
            auto s = sources_.find(t.source);
            return s == sources_.end() || std::find(owner->argv_files.begin(), owner->argv_files.end(),
                                                    s->second.read.path) == owner->argv_files.end();
        });
    if (image.empty()) return false;
    auto& reader = touch(e.process, e.time);  // can evict: `owner` is not used past here
    const bool changed = merge(reader.taint, image, e.bytes ? e.bytes : no_cap, nullptr, false);
    if (changed) propagate_from_process(reader_key);
    drain();
    return changed;
}

void Lineage::note_command_line(const ProcessRef& ref, TimeNs time, const std::string& path)
{
    push_bounded(touch(ref, time).argv_files, path, max_argv_files);
}

bool Lineage::on_shared_mapping(const ObjectIoEvent& e)
{
    // The object is the mapped inode itself, the one its file's reads and writes name: a write(2)
    // into a file another process maps reaches that process, and what a mapper writes reaches the
    // file's later readers. An object without a path (anonymous or System V memory, a memfd) is
    // named for the reasons by its inode; device 0 is an address space a clone shares.
    const ObjectKey key{ObjectType::file, e.device, e.object_id};
    auto it = objects_.find(key);
    if (it == objects_.end() && e.direction == IoDirection::read && e.device != 0) {
        // A reader of a file nothing was written to in our sight: kept aside until it is.
        const auto entity = key_of(e.process);
        auto& n = touch(e.process, e.time);
        remember_mapping(n, entity, key);
        auto [pending, inserted] = pending_mappers_.try_emplace(key);
        if (inserted) {
            pending_order_.push_back(key);
            // Keys joined to an object since stay in the order until they reach its front.
            while ((pending_mappers_.size() > max_pending_mapped || pending_order_.size() > 2 * max_pending_mapped) &&
                   !pending_order_.empty()) {
                pending_mappers_.erase(pending_order_.front());
                pending_order_.pop_front();
            }
            pending = pending_mappers_.find(key);
            if (pending == pending_mappers_.end()) return false;
        }
        add_reader(pending->second, entity, e.bytes ? e.bytes : no_cap, true);
        return false;
    }
    if (it == objects_.end() || it->second.path.empty())
        object(key, e.device ? fmt::format("[shared memory: inode {}]", e.object_id)
                             : std::string("[address space shared by clone(CLONE_VM)]"));
    touch(e.process, e.time);
    const bool changed = map_shared(key_of(e.process), key, e.bytes, e.direction == IoDirection::write);
    drain();
    return changed;
}

bool Lineage::map_shared(const std::string& entity, const ObjectKey& key, std::uint64_t bytes, bool writable)
{
    auto* n = node(entity);
    auto it = objects_.find(key);
    if (!n || it == objects_.end()) return false;
    bool changed = false;
    const auto cap = bytes ? bytes : no_cap;
    remember_mapping(*n, entity, key);
    if (writable) {
        add_output(*n, key, no_cap, WriteTimes{.mapped = true});
        push_bounded(it->second.writers, entity, max_writers);
        if (!n->taint.empty()) propagate_from_process(entity);
    } else {
        add_reader(it->second, entity, cap, true);
        push_bounded(n->inputs, key, max_outputs);
        auto taint = it->second.taint;
        std::shared_ptr<Hop> via = taint.empty() ? nullptr : staging_hop(*n, it->second.path);
        if (merge(n->taint, taint, cap, via, false)) {
            propagate_from_process(entity);
            changed = true;
        }
    }
    return changed;
}

void Lineage::remember_mapping(ProcessNode& n, const std::string& entity, const ObjectKey& key)
{
    if (std::find(n.mapped.begin(), n.mapped.end(), key) != n.mapped.end()) return;
    if (n.mapped.size() >= max_mapped) {
        if (auto old = objects_.find(n.mapped.front()); old != objects_.end())
            std::erase_if(old->second.readers, [&](const Object::Reader& r) { return r.entity == entity; });
        n.mapped.erase(n.mapped.begin());
    }
    n.mapped.push_back(key);
}

void Lineage::unmap_all(ProcessNode& p)
{
    const auto entity = p.ref.entity_id;
    for (const auto& k : p.mapped)
        if (auto obj = objects_.find(k); obj != objects_.end())
            std::erase_if(obj->second.readers, [&](const Object::Reader& r) { return r.entity == entity; });
    // Its writers stay: what it wrote there is still there (a file holds it until rewritten).
    std::erase_if(p.outputs, [](const ProcessNode::Output& o) { return o.mapped; });
    p.mapped.clear();
}

bool Lineage::channel_io(const ProcessRef& process, const ObjectKey& key, IoDirection direction, std::uint64_t bytes,
                         TimeNs time)
{
    const auto entity = key_of(process);
    auto* n = &touch(process, time);
    bool changed = false;
    const auto cap = bytes ? bytes : no_cap;
    if (direction == IoDirection::write) {
        auto taint = carried(add_output(*n, key, cap, WriteTimes{0, time, false}), n->taint);
        if (!taint.empty()) {
            auto& obj = object(key, {});
            push_bounded(obj.writers, entity, max_writers);
            n = node(entity);
            if (n && merge(obj.taint, taint, cap, nullptr, transforms(*n))) {
                propagate_from_object(key);
                changed = true;
            }
        } else if (auto it = objects_.find(key); it != objects_.end()) {
            push_bounded(it->second.writers, entity, max_writers);
        }
    } else {
        auto it = objects_.find(key);
        if (it != objects_.end()) {
            add_reader(it->second, entity, cap);
            push_bounded(n->inputs, key, max_outputs);
            auto taint = it->second.taint;
            if (merge(n->taint, taint, cap, nullptr, false)) {
                propagate_from_process(entity);
                changed = true;
            }
        } else {
            // Not tainted yet: remember the reader, so taint written later reaches it.
            auto& obj = object(key, {});
            add_reader(obj, entity, cap);
            if (auto* again = node(entity)) push_bounded(again->inputs, key, max_outputs);
        }
    }
    drain();
    return changed;
}

void Lineage::seed_sensitive(const std::string& path, std::uint64_t device, std::uint64_t inode)
{
    if (!inode) return;
    std::string display;
    const auto* cls = rules_.classify(path, &display);
    if (!cls || sensitive_files_.size() >= rules_.settings.max_staging_files) return;
    sensitive_files_[file_key(path, device, inode)] = SensitiveFile{path, display, cls};
}

void Lineage::reclassify()
{
    for (auto& m : class_memo_) m.used = false;
    for (auto it = sensitive_files_.begin(); it != sensitive_files_.end();) {
        std::string display;
        it->second.cls = rules_.classify(it->second.path, &display);
        it->second.display = display;
        it = it->second.cls ? std::next(it) : sensitive_files_.erase(it);
    }
    // A read whose class the new rules drop no longer counts; the others take the new class.
    for (auto it = sources_.begin(); it != sources_.end();) {
        auto& r = it->second.read;
        std::string display;
        const SensitiveClass* cls = rules_.classify(r.path, &display);
        if (!cls)
            if (auto f = sensitive_files_.find(it->second.file); f != sensitive_files_.end()) {
                cls = f->second.cls;
                display = f->second.display;
            }
        r.cls = cls;
        if (cls) {
            r.display = display;
            ++it;
        } else {
            source_index_.erase(source_key(it->second.reader.ref.entity_id, r.path));
            it = sources_.erase(it);  // holders' entries to it are skipped, then replaced
        }
    }
}

void Lineage::evict_sources()
{
    while (sources_.size() > rules_.settings.max_staging_files && !source_order_.empty()) {
        auto id = source_order_.front();
        source_order_.pop_front();
        auto it = sources_.find(id);
        if (it == sources_.end()) continue;
        lost("taint_evicted", 1, {Taint{id, no_cap, nullptr, false}});
        source_index_.erase(source_key(it->second.reader.ref.entity_id, it->second.read.path));
        sources_.erase(it);
    }
    if (source_order_.size() > 2 * rules_.settings.max_staging_files + 64) {
        std::deque<std::uint64_t> kept;
        for (auto id : source_order_)
            if (sources_.contains(id)) kept.push_back(id);
        source_order_ = std::move(kept);
    }
}

LineageView Lineage::view(const std::string& entity, TimeNs)
{
    LineageView v;
    auto* n = node(entity);
    if (!n) return v;
    if (!channel_telemetry_) {
        absorb_child_pipes(*n, ~TimeNs{0});  // what its own children fed it through pipes
        drain();
        n = node(entity);
        if (!n) return v;
    }
    v.members.push_back(n);
    auto add_member = [&](const ProcessNode* m) {
        if (m && std::find(v.members.begin(), v.members.end(), m) == v.members.end()) v.members.push_back(m);
    };
    for (const auto& t : n->taint) {
        auto it = sources_.find(t.source);
        if (it == sources_.end() || !it->second.read.cls) continue;
        LineageSource s;
        s.reader = &it->second.reader;
        if (const auto* alive = find(it->second.reader.ref.entity_id)) s.reader = alive;
        s.read = &it->second.read;
        for (const Hop* h = t.via.get(); h; h = h->next.get()) s.staged_via.push_back(&h->read);
        s.carrier = t.via ? find(t.via->carrier) : s.reader;
        s.bytes = std::min(it->second.read.bytes, t.cap);
        s.origin = t.source;
        s.transformed = t.transformed;
        add_member(s.reader);
        add_member(s.carrier);
        v.sources.push_back(std::move(s));
    }
    return v;
}

void Lineage::expire(TimeNs now)
{
    now_ = std::max(now_, now);
    // Exited processes go after a grace for late summaries; their data lives on in what they wrote.
    while (!exits_.empty() && exits_.front().first + exited_grace_ns < now) {
        auto key = std::move(exits_.front().second);
        exits_.pop_front();
        auto it = processes_.find(key);
        if (it == processes_.end() || !it->second.exit || it->second.exit + exited_grace_ns >= now) continue;
        remove_process(it);
        ++stats_.evicted_processes;
    }
    flush_blind_spots();
}

LineageStats Lineage::stats() const
{
    auto s = stats_;
    s.processes = processes_.size();
    s.staged_files = objects_.size();
    s.sources = sources_.size();
    s.sensitive_inodes = sensitive_files_.size();
    return s;
}

}  // namespace exfilwatch::detect
