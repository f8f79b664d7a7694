// detect: the lineage graph (see lineage.hpp). Bounded by the rules' window and caps; every
// eviction is counted.
#include "detect/lineage.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace exfilwatch::detect {
namespace {

constexpr int max_ancestors = 3;
constexpr int max_descendant_depth = 3;
constexpr int max_staging_depth = 3;
constexpr std::size_t max_related = 256;
constexpr int max_pipeline_stages = 8;
constexpr TimeNs parent_feed_window_ns = 60'000'000'000ULL;

bool pseudo_file(const std::string& path)
{
    return path.rfind("/dev/", 0) == 0 || path.rfind("/proc/", 0) == 0 || path.rfind("/sys/", 0) == 0 ||
           path.empty() || path.front() != '/';
}

bool is_shell(std::string_view name)
{
    static constexpr std::string_view shells[] = {"bash", "sh", "dash", "zsh", "ksh", "mksh", "ash", "fish", "busybox"};
    return std::find(std::begin(shells), std::end(shells), name) != std::end(shells);
}

bool overlaps(const ProcessNode& a, const ProcessNode& b)
{
    auto a_end = a.exit ? a.exit : ~TimeNs{0};
    auto b_end = b.exit ? b.exit : ~TimeNs{0};
    return a.start <= b_end && b.start <= a_end;
}

// Evicts the oldest quarter (by `age`) when a map is over its cap.
template <typename Map, typename Age>
std::size_t trim(Map& map, std::size_t cap, Age age)
{
    if (map.size() <= cap) return 0;
    std::vector<std::pair<TimeNs, typename Map::key_type>> order;
    order.reserve(map.size());
    for (const auto& [k, v] : map) order.emplace_back(age(v), k);
    std::size_t remove = map.size() - cap + cap / 4;
    remove = std::min(remove, order.size());
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(remove - 1), order.end());
    for (std::size_t i = 0; i < remove; ++i) map.erase(order[i].second);
    return remove;
}

}  // namespace

std::string Lineage::key_of(const ProcessRef& ref)
{
    if (!ref.entity_id.empty()) return ref.entity_id;
    return fmt::format("pid:{}:{}", ref.pid, ref.start_time);
}

ProcessNode& Lineage::touch(const ProcessRef& ref, TimeNs time)
{
    auto key = key_of(ref);
    auto [it, inserted] = processes_.try_emplace(key);
    auto& node = it->second;
    if (inserted) {
        node.start = ref.start_time ? ref.start_time : time;
        if (!ref.parent_entity_id.empty()) {
            auto parent = processes_.find(ref.parent_entity_id);
            if (parent != processes_.end()) parent->second.children.push_back(key);
        }
    }
    // A later event knows at least as much (exec gives args); keep the richest view.
    if (inserted || (!ref.args.empty() && (ref.pgid != node.ref.pgid || ref.name != node.ref.name || ref.args != node.ref.args))) {
        auto reads = std::move(node.reads);
        auto stdin_pipe = node.ref.stdin_pipe, stdout_pipe = node.ref.stdout_pipe;
        auto stdout_kind = node.ref.stdout_kind;
        node.ref = ref;
        node.reads = std::move(reads);
        if (!ref.stdin_pipe && ref.stdout_kind == StdoutKind::unknown) {  // an event that does not know the stdio
            node.ref.stdin_pipe = stdin_pipe;
            node.ref.stdout_pipe = stdout_pipe;
            node.ref.stdout_kind = stdout_kind;
        } else {
            if (ref.stdout_pipe && ref.stdout_pipe != stdout_pipe) pipe_writers_.emplace(ref.stdout_pipe, key);
            if (ref.stdin_pipe && ref.stdin_pipe != stdin_pipe) pipe_readers_.insert(ref.stdin_pipe);
        }
    }
    if (node.ref.entity_id.empty()) node.ref.entity_id = key;
    node.last_seen = std::max(node.last_seen, time);
    return node;
}

void Lineage::on_exit(const ProcessRef& ref, TimeNs time)
{
    auto& node = touch(ref, time);
    node.exit = std::max(time, node.start);
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

bool Lineage::on_read(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t inode,
                      std::uint64_t bytes)
{
    if (pseudo_file(path)) return false;
    std::string display;
    const SensitiveClass* cls = classify(path, display);
    std::string writer;
    std::string staged_path = path;
    if (!cls) {
        auto it = staged_.find(path);
        if (it == staged_.end() && inode) {
            auto by_inode = staged_inodes_.find(inode);
            if (by_inode != staged_inodes_.end()) it = staged_.find(by_inode->second);
        }
        if (it == staged_.end() || it->second.writer == key_of(ref)) return false;
        writer = it->second.writer;
    }
    auto& node = touch(ref, time);
    for (auto& r : node.reads) {
        if (r.path != path) continue;
        bool changed = bytes > r.bytes;
        r.bytes = std::max(r.bytes, bytes);
        r.time = std::max(r.time, time);
        if (!writer.empty()) r.staging_writer = writer;
        return changed;
    }
    if (node.reads.size() >= rules_.settings.max_reads_per_process) {
        ++stats_.dropped_reads;
        return false;
    }
    node.reads.push_back(ReadRecord{path, cls ? display : path, cls, writer, bytes, time, ref.name});
    return true;
}

void Lineage::on_write(const ProcessRef& ref, TimeNs time, const std::string& path, std::uint64_t inode)
{
    if (pseudo_file(path)) return;
    touch(ref, time);
    auto& staged = staged_[path];
    if (staged.inode && staged.inode != inode) staged_inodes_.erase(staged.inode);
    staged.writer = key_of(ref);
    staged.time = time;
    if (inode) {
        staged.inode = inode;
        staged_inodes_[inode] = path;
    }
    if (staged_.size() > rules_.settings.max_staging_files) {
        stats_.evicted_staged_files += trim(staged_, rules_.settings.max_staging_files, [](const Staged& s) { return s.time; });
        std::erase_if(staged_inodes_, [&](const auto& e) { return !staged_.count(e.second); });
    }
}

const ProcessNode* Lineage::find(const std::string& entity) const
{
    auto it = processes_.find(entity);
    return it == processes_.end() ? nullptr : &it->second;
}

void Lineage::descendants(const ProcessNode& node, int depth, std::vector<const ProcessNode*>& out,
                          const std::function<bool(const ProcessRef&)>& keep) const
{
    if (depth <= 0) return;
    for (const auto& c : node.children) {
        if (out.size() >= max_related) return;
        const auto* child = find(c);
        if (!child || std::find(out.begin(), out.end(), child) != out.end()) continue;
        if (keep && !keep(child->ref)) continue;  // nor its subtree
        out.push_back(child);
        descendants(*child, depth - 1, out, keep);
    }
}

// The writers of the pipe on `node`'s stdin, and of theirs, up a pipeline of any length
// (`cat key | gzip | base64 | curl -d @-`), with what they spawned: whether or not their lives
// overlapped, since a fast writer can exit before the shell even forks the next stage.
void Lineage::upstream(const ProcessNode& node, std::vector<const ProcessNode*>& out) const
{
    std::vector<const ProcessNode*> frontier{&node};
    for (int stage = 0; stage < max_pipeline_stages && !frontier.empty(); ++stage) {
        std::vector<const ProcessNode*> next;
        for (const auto* reader : frontier) {
            if (!reader->ref.stdin_pipe) continue;
            auto [first, last] = pipe_writers_.equal_range(reader->ref.stdin_pipe);
            for (auto it = first; it != last && out.size() < max_related; ++it) {
                const auto* writer = find(it->second);
                if (!writer || writer == reader || writer->ref.stdout_pipe != reader->ref.stdin_pipe ||
                    std::find(out.begin(), out.end(), writer) != out.end())
                    continue;
                out.push_back(writer);
                descendants(*writer, 2, out);
                next.push_back(writer);
            }
        }
        frontier = std::move(next);
    }
}

// Children of `node` (to `depth`) whose output can have reached `node` itself: through a pipe that
// is not the stdout `node` handed down (`own_stdout`) and that no process reads as its stdin
// (command substitution, a subprocess read through a pipe), or, with `unknown_feeds`, when their
// stdio is not known (a fork that did not exec, older telemetry). Output to a terminal, /dev/null,
// a file (staging is joined by path), the inherited stdout or another process's stdin did not
// reach `node`: so in `bash -c 'cat key > /dev/null; curl ...'`, where bash execs curl last, cat
// does not feed curl.
void Lineage::feeders(const ProcessNode& node, std::uint64_t own_stdout, int depth, bool unknown_feeds,
                      std::vector<const ProcessNode*>& out) const
{
    descendants(node, depth, out, [&](const ProcessRef& r) {
        return (unknown_feeds && r.stdout_kind == StdoutKind::unknown) ||
               (r.stdout_kind == StdoutKind::pipe && r.stdout_pipe != own_stdout && !pipe_readers_.count(r.stdout_pipe));
    });
}

// The children of a staging file's writer that can have written into it: those whose stdout was a
// file (`(cat key; date) > stage` opens it in the subshell, cat writes it) or is not known. A
// child writing to a pipe wrote to someone else (a test harness that writes a file and runs
// sessions whose output it reads is not their staging writer).
void Lineage::writers_children(const ProcessNode& node, int depth, std::vector<const ProcessNode*>& out) const
{
    descendants(node, depth, out, [](const ProcessRef& r) {
        return r.stdout_kind == StdoutKind::file || r.stdout_kind == StdoutKind::unknown;
    });
}

// Is `p` below `ancestor` (within `depth` generations)?
bool Lineage::below(const ProcessNode& p, const ProcessNode& ancestor, int depth) const
{
    const ProcessNode* cur = &p;
    for (int i = 0; i < depth && cur && !cur->ref.parent_entity_id.empty(); ++i) {
        cur = find(cur->ref.parent_entity_id);
        if (cur == &ancestor) return true;
    }
    return false;
}

// Processes whose data can have reached `node`: itself, its ancestors, the descendants that fed
// it or its parent, and the members of its pipeline (and of its parent's pipeline, for
// `cat x | sh -c 'curl ...'`).
std::vector<const ProcessNode*> Lineage::related(const ProcessNode& node, bool writer) const
{
    std::vector<const ProcessNode*> out{&node};
    std::vector<const ProcessNode*> chain{&node};
    const ProcessNode* cur = &node;
    for (int i = 0; i < max_ancestors; ++i) {
        const auto* parent = cur->ref.parent_entity_id.empty() ? nullptr : find(cur->ref.parent_entity_id);
        if (!parent || std::find(out.begin(), out.end(), parent) != out.end()) break;
        out.push_back(parent);
        chain.push_back(parent);
        cur = parent;
    }
    if (writer) {
        writers_children(node, max_descendant_depth, out);
    } else {
        feeders(node, node.ref.stdout_pipe, max_descendant_depth, true, out);
        // x=$(cat key); curl -d "$x"; ...: what fed the parent shortly before, only on evidence (a
        // pipe no one else reads), only its direct children, and only when the parent is a shell
        // (variables hold command output): a parent that reads many children's output (a CI
        // runner, a test harness) does not join them all.
        if (chain.size() > 1 && is_shell(chain[1]->ref.name)) {
            std::vector<const ProcessNode*> fed;
            feeders(*chain[1], chain[1]->ref.stdout_pipe, 1, false, fed);
            for (const auto* f : fed)
                if (std::find(out.begin(), out.end(), f) == out.end() && f->exit &&
                    f->exit + parent_feed_window_ns >= node.start)
                    out.push_back(f);
        }
    }
    upstream(node, out);
    for (std::size_t level = 0; level < 2 && level < chain.size(); ++level) {
        const auto* member = chain[level];
        const auto* parent = level + 1 < chain.size() ? chain[level + 1] : nullptr;
        if (!parent || member->ref.pgid == 0) continue;
        std::vector<const ProcessNode*> peers;
        descendants(*parent, 2, peers);
        for (const auto* p : peers) {
            if (p == member || std::find(out.begin(), out.end(), p) != out.end()) continue;
            if (below(*p, *member, 3)) continue;  // the member's own children: feeders() decided
            if (p->ref.pgid != member->ref.pgid || p->ref.sid != member->ref.sid || !overlaps(*p, *member)) continue;
            out.push_back(p);
            descendants(*p, 2, out);
        }
    }
    return out;
}

void Lineage::collect(const std::string& entity, TimeNs now, int depth, std::unordered_set<std::string>& visited,
                      LineageView& view) const
{
    const auto* node = find(entity);
    if (!node || !visited.insert(entity).second) return;
    auto horizon = now > rules_.settings.window_ns ? now - rules_.settings.window_ns : 0;
    for (const auto* m : related(*node, depth > 0)) {
        if (std::find(view.members.begin(), view.members.end(), m) == view.members.end()) view.members.push_back(m);
        for (const auto& r : m->reads) {
            if (r.time < horizon) continue;
            if (r.cls) view.sources.push_back(LineageSource{m, &r, {}, m});
            if (!r.staging_writer.empty() && depth < max_staging_depth) {
                LineageView sub;
                collect(r.staging_writer, now, depth + 1, visited, sub);
                for (auto& s : sub.sources) {
                    s.staged_via.insert(s.staged_via.begin(), &r);
                    s.carrier = m;
                    view.sources.push_back(std::move(s));
                }
                for (const auto* sm : sub.members)
                    if (std::find(view.members.begin(), view.members.end(), sm) == view.members.end())
                        view.members.push_back(sm);
            }
        }
    }
}

LineageView Lineage::view(const std::string& entity, TimeNs now) const
{
    LineageView v;
    std::unordered_set<std::string> visited;
    collect(entity, now, 0, visited, v);
    return v;
}

void Lineage::expire(TimeNs now)
{
    const auto& s = rules_.settings;
    auto horizon = now > s.window_ns ? now - s.window_ns : 0;
    stats_.evicted_processes += std::erase_if(processes_, [&](const auto& e) {
        const auto& n = e.second;
        return (n.exit && n.exit < horizon) || (!n.exit && n.last_seen < horizon && n.reads.empty() && n.children.empty());
    });
    for (auto& [k, n] : processes_) {
        std::erase_if(n.reads, [&](const ReadRecord& r) { return r.time < horizon; });
        std::erase_if(n.children, [&](const std::string& c) { return !processes_.count(c); });
    }
    stats_.evicted_processes += trim(processes_, s.max_processes, [](const ProcessNode& n) { return n.last_seen; });
    std::erase_if(pipe_writers_, [&](const auto& e) { return !processes_.count(e.second); });
    if (pipe_readers_.size() > s.max_processes) pipe_readers_.clear();  // rare: forget, stay bounded
    auto before = staged_.size();
    std::erase_if(staged_, [&](const auto& e) { return e.second.time < horizon; });
    stats_.evicted_staged_files += before - staged_.size();
    std::erase_if(staged_inodes_, [&](const auto& e) { return !staged_.count(e.second); });
}

LineageStats Lineage::stats() const
{
    auto s = stats_;
    s.processes = processes_.size();
    s.staged_files = staged_.size();
    return s;
}

}  // namespace exfilwatch::detect
