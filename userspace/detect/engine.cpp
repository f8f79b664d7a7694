// detect: event handling, scoring and alerting (see engine.hpp).
#include "detect/engine.hpp"

#include <fcntl.h>

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "detect/command.hpp"
#include "redact/redact.hpp"

namespace exfilwatch::detect {
namespace {

// The name a reader knows: "python3" rather than the executable's "python3.11".
std::string display_name(const ProcessRef& p)
{
    std::string name = p.name.empty() ? base_name(p.executable) : p.name;
    if (!p.args.empty()) {
        auto argv0 = base_name(p.args[0]);
        if (!argv0.empty() && argv0.size() < name.size() && name.rfind(argv0, 0) == 0) return argv0;
    }
    return name;
}

constexpr TimeNs expiry_interval_ns = 1'000'000'000ULL;
constexpr std::size_t memo_slots = 4096;
constexpr std::size_t memo_max_bytes = 1024;  // longer inputs are computed every time

std::string pair_key(const std::string& entity, const std::string& domain, const Endpoint& dest)
{
    return domain.empty() ? fmt::format("{}\n{}:{}", entity, dest.ip, dest.port) : fmt::format("{}\n{}", entity, domain);
}

int clamp_score(int s)
{
    return std::clamp(s, 0, 100);
}

bool is_write(std::uint32_t flags)
{
    auto mode = flags & O_ACCMODE;
    return mode == O_WRONLY || mode == O_RDWR || (flags & O_CREAT) || (flags & O_TRUNC);
}

bool is_read(std::uint32_t flags)
{
    return (flags & O_ACCMODE) != O_WRONLY && !(flags & O_DIRECTORY);
}

}  // namespace

std::string human_bytes(std::uint64_t bytes)
{
    if (bytes < 1024) return fmt::format("{} B", bytes);
    const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes) / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        ++u;
    }
    return fmt::format("{:.1f} {}", v, units[u]);
}

Engine::Engine(Rules rules)
    : command_memo_(memo_slots), redact_memo_(memo_slots), service_memo_(memo_slots), rules_(std::move(rules)),
      lineage_(rules_)
{
}

const CommandAnalysis& Engine::command_of(const ProcessRef& p) const
{
    std::size_t bytes = p.name.size() + p.executable.size();
    std::uint64_t hash = std::hash<std::string>{}(p.name) ^ (std::hash<std::string>{}(p.executable) * 31);
    for (const auto& a : p.args) {
        bytes += a.size();
        hash = (hash ^ std::hash<std::string>{}(a)) * 0x100000001b3ULL;
    }
    if (bytes > memo_max_bytes) return command_scratch_ = analyze_command(rules_, p);
    auto& m = command_memo_[hash % memo_slots];
    if (!m.used || m.name != p.name || m.executable != p.executable || m.args != p.args) {
        m.used = true;
        m.name = p.name;
        m.executable = p.executable;
        m.args = p.args;
        m.result = analyze_command(rules_, p);
    }
    return m.result;
}

std::string Engine::redacted(std::string_view text) const
{
    if (text.size() > memo_max_bytes) return redact_text(text);
    auto& m = redact_memo_[std::hash<std::string_view>{}(text) % memo_slots];
    if (!m.used || m.text != text) {
        m.used = true;
        m.text = text;
        m.result = redact_text(text);
    }
    return m.result;
}

const Service* Engine::service_of(const std::string& domain, const std::string& path) const
{
    if (domain.size() + path.size() > memo_max_bytes) return rules_.service_for(domain, path);
    auto& m = service_memo_[(std::hash<std::string>{}(domain) ^ std::hash<std::string>{}(path) * 31) % memo_slots];
    if (!m.used || m.domain != domain || m.path != path) {
        m.used = true;
        m.domain = domain;
        m.path = path;
        m.service = rules_.service_for(domain, path);
    }
    return m.service;
}

void Engine::replace_rules(Rules rules)
{
    retired_rules_.push_back(std::make_unique<Rules>(std::move(rules_)));
    rules_ = std::move(rules);
    // The memos hold results of the old rules.
    for (auto& m : command_memo_) m.used = false;
    for (auto& m : service_memo_) m.used = false;
}

std::vector<Alert> Engine::process(const Event& event)
{
    std::vector<Alert> alerts;
    ++stats_.events;
    std::visit(
        [&](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            now_ = std::max(now_, e.time);
            if constexpr (std::is_same_v<T, ExecEvent> || std::is_same_v<T, ForkEvent>) {
                lineage_.touch(e.process, e.time);
            } else if constexpr (std::is_same_v<T, ExitEvent>) {
                lineage_.on_exit(e.process, e.time);
            } else if constexpr (std::is_same_v<T, FileOpenEvent>) {
                if (e.error != 0) return;
                bool changed = false;
                if (is_write(e.flags)) lineage_.on_write(e.process, e.time, e.path, e.inode);
                if (is_read(e.flags)) changed = lineage_.on_read(e.process, e.time, e.path, e.inode, 0);
                if (changed) rescore_near(e.process, e.time, alerts);
            } else if constexpr (std::is_same_v<T, FileSummaryEvent>) {
                if (e.opened_for_write) lineage_.on_write(e.process, e.time, e.path, e.inode);
                auto bytes = e.bytes_read ? e.bytes_read : e.bytes_mapped;
                if ((bytes || !e.opened_for_write) && lineage_.on_read(e.process, e.time, e.path, e.inode, bytes))
                    rescore_near(e.process, e.time, alerts);
            } else if constexpr (std::is_same_v<T, ConnectEvent>) {
                on_flow(e.process, e.time, e.flow.socket_cookie, e.destination, e.destination_domain, {}, false,
                        nullptr, nullptr, false, alerts);
            } else if constexpr (std::is_same_v<T, TlsClientHelloEvent>) {
                on_flow(e.process, e.time, e.flow.socket_cookie, e.destination, e.server_name, {}, true, nullptr,
                        nullptr, false, alerts);
            } else if constexpr (std::is_same_v<T, HttpRequestEvent>) {
                std::string host = e.host.empty() ? e.connect_target : e.host;
                on_flow(e.process, e.time, e.flow.socket_cookie, e.destination, host, e.path, false, nullptr, nullptr,
                        false, alerts);
            } else if constexpr (std::is_same_v<T, FlowSummaryEvent>) {
                on_flow(e.process, e.time, e.flow.socket_cookie, e.destination, e.destination_domain, {},
                        e.domain_source == "sni", &e.bytes_out, &e.bytes_in, e.final, alerts);
            } else if constexpr (std::is_same_v<T, DnsAnswerEvent>) {
                lineage_.touch(e.process, e.time);
            }
        },
        event);
    if (now_ >= last_expiry_ + expiry_interval_ns) {
        expire(now_);
        last_expiry_ = now_;
    }
    stats_.alerts += alerts.size();
    return alerts;
}

void Engine::note_destination(Pair& pair, TimeNs time)
{
    if (pair.domain.empty()) return;
    auto [it, inserted] = destinations_.try_emplace(pair.domain, time);
    if (inserted) pair.first_seen = true;
    if (destinations_.size() > rules_.settings.max_destinations) {
        // Host memory of destinations is not windowed: drop the oldest only when full.
        std::vector<std::pair<TimeNs, std::string>> order;
        for (const auto& [d, t] : destinations_) order.emplace_back(t, d);
        std::sort(order.begin(), order.end());
        std::size_t remove = destinations_.size() - rules_.settings.max_destinations * 3 / 4;
        for (std::size_t i = 0; i < remove && i < order.size(); ++i)
            if (order[i].second != pair.domain) destinations_.erase(order[i].second);
        stats_.evicted_destinations += remove;
    }
}

void Engine::on_flow(const ProcessRef& process, TimeNs time, std::uint64_t cookie, const Endpoint& destination,
                     const std::string& domain, const std::string& path, bool tls, const std::uint64_t* out,
                     const std::uint64_t* in, bool final, std::vector<Alert>& alerts)
{
    lineage_.touch(process, time);
    auto& flow = flows_[cookie];
    if (flow.entity.empty()) flow.entity = Lineage::key_of(process);
    if (!destination.ip.empty()) flow.destination = destination;
    auto name = normalize_domain(domain);
    if (!name.empty() && (flow.domain.empty() || tls)) flow.domain = name;
    if (!path.empty()) flow.path = path;
    flow.tls = flow.tls || tls;
    flow.last = time;

    auto key = pair_key(flow.entity, flow.domain, flow.destination);
    if (flow.pair_key != key || !pairs_.count(key)) {
        if (auto old = pairs_.find(flow.pair_key); old != pairs_.end()) {
            old->second.bytes_out -= std::min(old->second.bytes_out, flow.bytes_out);
            old->second.bytes_in -= std::min(old->second.bytes_in, flow.bytes_in);
            if (old->second.open_flows) --old->second.open_flows;
        }
        flow.pair_key = key;
        auto [it, inserted] = pairs_.try_emplace(key);
        auto& p = it->second;
        if (inserted) {
            p.entity = flow.entity;
            p.domain = flow.domain;
            p.first = time;
            note_destination(p, time);
        }
        p.bytes_out += flow.bytes_out;
        p.bytes_in += flow.bytes_in;
        ++p.open_flows;
    }
    auto& pair = pairs_[key];
    pair.process = process;
    pair.destination = flow.destination;
    pair.tls = pair.tls || flow.tls;
    if (!flow.path.empty()) pair.path = flow.path;
    pair.last = time;
    if (out && *out > flow.bytes_out) {
        pair.bytes_out += *out - flow.bytes_out;
        flow.bytes_out = *out;
    }
    if (in && *in > flow.bytes_in) {
        pair.bytes_in += *in - flow.bytes_in;
        flow.bytes_in = *in;
    }
    if (final) {
        if (pair.open_flows) --pair.open_flows;
        flows_.erase(cookie);
    } else if (flows_.size() > rules_.settings.max_flows) {
        std::vector<std::pair<TimeNs, std::uint64_t>> order;
        for (const auto& [c, f] : flows_) order.emplace_back(f.last, c);
        std::sort(order.begin(), order.end());
        std::size_t remove = flows_.size() - rules_.settings.max_flows * 3 / 4;
        for (std::size_t i = 0; i < remove; ++i)
            if (order[i].second != cookie) flows_.erase(order[i].second);
        stats_.evicted_flows += remove;
    }
    if (pair.bytes_out > 0) evaluate(pair, time, alerts);
}

// A new read can change the score of an upload already seen (a reader's byte count arrives at its
// exit, after the upload): re-scores the pairs whose uploader can have the reader in its lineage,
// those of the same session (pipelines, sequential commands, command substitution) or in a line
// of descent with it. A read in another session reaches an upload only through a staging file,
// which the uploader reads, and is scored for, itself. (Re-scoring every pair made detection cost
// grow with reads times live pairs.)
void Engine::rescore_near(const ProcessRef& reader, TimeNs now, std::vector<Alert>& alerts)
{
    auto horizon = now > rules_.settings.window_ns ? now - rules_.settings.window_ns : 0;
    const std::string reader_key = Lineage::key_of(reader);
    std::vector<const std::string*> reader_ancestors;  // the reader's line up, by entity id
    const ProcessNode* cur = lineage_.find(reader_key);
    for (int i = 0; i < 4 && cur && !cur->ref.parent_entity_id.empty(); ++i) {
        reader_ancestors.push_back(&cur->ref.parent_entity_id);
        cur = lineage_.find(cur->ref.parent_entity_id);
    }
    for (auto& [key, pair] : pairs_) {
        if (pair.bytes_out == 0 || pair.last < horizon) continue;
        const auto& up = pair.process;
        bool near = (up.sid != 0 && up.sid == reader.sid) || up.entity_id == reader.entity_id ||
                    (!up.parent_entity_id.empty() && up.parent_entity_id == reader.entity_id) ||
                    std::any_of(reader_ancestors.begin(), reader_ancestors.end(),
                                [&](const std::string* a) { return *a == up.entity_id; });
        if (!near) continue;
        ++stats_.rescored_on_read;
        evaluate(pair, now, alerts);
    }
}

void Engine::evaluate(Pair& pair, TimeNs now, std::vector<Alert>& alerts)
{
    ++stats_.evaluations;
    const auto& s = rules_.settings;
    // Without a sensitive read in the lineage and below the bulk volume, the data gate of assess()
    // holds the score under the threshold whatever else is true: the same (no) alert, far cheaper.
    // (rescore_near calls this for the pairs near every new sensitive or staging read.)
    // The lineage is walked once for both assessments.
    const auto view = lineage_.view(Lineage::key_of(pair.process), now);
    if (s.require_data && pair.bytes_out < s.bulk_upload_bytes && view.sources.empty()) return;
    // The score first; the evidence, chain and reason only for an alert.
    auto score = assess(pair, view, false).score;
    if (score < s.alert_threshold) return;
    if (pair.alerted_score > 0 && score < std::min(100, pair.alerted_score + s.realert_step)) return;
    if (pair.alerted_score >= 100) return;
    auto a = assess(pair, view, true);
    pair.alerted_score = a.score;
    Alert alert;
    alert.time = now;
    alert.risk_score = a.score;
    alert.rule_name = rules_.name;
    alert.reason = std::move(a.reason);
    alert.technique_id = a.category ? a.category->technique_id : "T1567";
    alert.subtechnique_id = a.category ? a.category->subtechnique_id : "";
    alert.category = a.category ? a.category->name : "unknown";
    alert.process = pair.process;
    alert.chain = std::move(a.chain);
    alert.destination = pair.destination;
    alert.destination_domain = pair.domain;
    alert.bytes_out = pair.bytes_out;
    alert.bytes_in = pair.bytes_in;
    alert.files = std::move(a.files);
    alert.signals = std::move(a.signals);
    alerts.push_back(std::move(alert));
}

Assessment Engine::assess(const Pair& pair, const LineageView& view, bool explain) const
{
    const auto& w = rules_.signals;
    const auto& s = rules_.settings;
    Assessment a;
    // Evidence is built (and redacted) only when the assessment is to explain an alert; most
    // assessments only need the score.
    auto add = [&](std::string name, int weight, auto&& evidence) {
        if (weight == 0) return;
        a.signals.push_back(Signal{std::move(name), weight, explain ? redacted(evidence()) : std::string()});
    };
    const ProcessRef& up = pair.process;
    const std::string dest_name = pair.domain.empty() ? pair.destination.ip : pair.domain;

    // Destination.
    const Service* service = pair.domain.empty() ? nullptr : service_of(pair.domain, pair.path);
    a.category = service ? rules_.category(service->category) : nullptr;
    std::string label = a.category ? a.category->label : "web service";
    if (a.category) add("destination-" + a.category->name, a.category->weight, [&] { return std::string(fmt::format("{} {}", label, dest_name)); });
    else add("unknown-destination", w.unknown_destination, [&] { return std::string(dest_name); });

    // Lineage: sensitive data that can have reached the uploader.
    // A consumer's read is its own use unless the file is named on a command line that is not
    // just another consumer's (ssh-keygen -f KEY is use; curl -F f=@~/.netrc, the uploader, is not).
    auto named_for_data = [&](const std::string& path, const SensitiveClass& cls) {
        return std::any_of(view.members.begin(), view.members.end(), [&](const ProcessNode* m) {
            bool uploader = m->ref.entity_id == up.entity_id;
            return names_file(m->ref, path) && (uploader || !any_name_matches(cls.consumers, m->ref));
        });
    };
    struct FileUse {
        const LineageSource* src;
        std::uint64_t bytes;
    };
    std::map<std::string, FileUse> data_files;  // sensitive path -> strongest source
    std::map<std::string, std::uint64_t> carriers;  // what the lineage itself read: file or staging file
    std::set<std::string> own_use;
    bool transformer = false;
    for (const auto& src : view.sources) {
        const auto* cls = src.read->cls;
        // Own use: a consumer opened the file itself (not its shell, as a redirect to its stdin)
        // and no other command line named it.
        bool opened_itself = src.read->opened_by.empty() || src.read->opened_by == src.reader->ref.name;
        bool own = !cls->consumers.empty() && any_name_matches(cls->consumers, src.reader->ref) && opened_itself &&
                   !named_for_data(src.read->path, *cls);
        if (own) {
            own_use.insert(fmt::format("{} read {}", display_name(src.reader->ref), src.read->display));
            continue;
        }
        auto& use = data_files[src.read->path];
        if (!use.src || src.read->bytes > use.bytes) use = FileUse{&src, src.read->bytes};
        if (src.staged_via.empty()) {
            auto& c = carriers[src.read->path];
            c = std::max(c, src.read->bytes);
        } else {
            auto& c = carriers[src.staged_via.front()->path];
            c = std::max(c, src.staged_via.front()->bytes);
        }
        if (any_name_matches(s.transformers, src.reader->ref)) transformer = true;
        for (const auto* m : view.members)
            if (any_name_matches(s.transformers, m->ref)) transformer = true;
    }

    const LineageSource* top = nullptr;
    std::set<std::string> classes;
    for (const auto& [path, use] : data_files) {
        classes.insert(use.src->read->cls->name);
        if (!top || use.src->read->cls->weight > top->read->cls->weight) top = use.src;
    }
    if (top) {
        const auto* r = top->read;
        add("sensitive-read", r->cls->weight, [&] { return std::string(fmt::format("{} read {} ({}{})", display_name(top->reader->ref), r->display, r->cls->name,
                        r->bytes ? ", " + human_bytes(r->bytes) : std::string())); });
        int extra = std::min<int>(2, static_cast<int>(classes.size()) - 1);
        if (extra > 0) {
            std::string others;
            for (const auto& c : classes)
                if (c != r->cls->name) others += (others.empty() ? "" : ", ") + c;
            add("sensitive-extra-class", extra * w.sensitive_extra_class, [&] { return std::string(others); });
        }
    }
    if (!own_use.empty()) add("credential-use", w.credential_use, [&] { return std::string(*own_use.begin()); });

    // Volume and shape.
    bool download_shaped = pair.bytes_in >= s.min_download_bytes &&
                           static_cast<double>(pair.bytes_in) >= s.download_ratio * static_cast<double>(pair.bytes_out);
    bool upload_shaped = pair.bytes_out >= s.min_upload_bytes &&
                         static_cast<double>(pair.bytes_out) >= s.upload_ratio * static_cast<double>(pair.bytes_in);
    std::uint64_t payload = 0;
    for (const auto& [p, b] : carriers) payload += b;
    // What a client sends besides the data: a TLS handshake, an HTTP request head, or nothing on
    // a raw stream (nc, socat: no TLS and no request head was seen).
    std::uint64_t overhead = pair.tls ? s.tls_overhead_bytes : pair.path.empty() ? 0 : s.http_overhead_bytes;
    bool covered = false;
    if (payload > 0 && !download_shaped) {
        if (pair.bytes_out >= payload + overhead) {
            covered = true;
            add("data-volume", w.data_volume, [&] { return std::string(fmt::format("{} out >= {} read", human_bytes(pair.bytes_out), human_bytes(payload))); });
        } else if (transformer && pair.bytes_out >= payload / 4 + overhead) {
            covered = true;
            add("data-volume-partial", w.data_volume_partial, [&] { return std::string(fmt::format("{} out, {} read through an archiver/encoder", human_bytes(pair.bytes_out),
                            human_bytes(payload))); });
        }
    }
    if (upload_shaped)
        add("upload-shaped", w.upload_shaped, [&] { return std::string(fmt::format("{} out, {} in", human_bytes(pair.bytes_out), human_bytes(pair.bytes_in))); });
    if (download_shaped)
        add("download-shaped", w.download_shaped, [&] { return std::string(fmt::format("{} out, {} in", human_bytes(pair.bytes_out), human_bytes(pair.bytes_in))); });
    bool bulk = pair.bytes_out >= s.bulk_upload_bytes;
    if (bulk) add("bulk-upload", w.bulk_upload, [&] { return std::string(human_bytes(pair.bytes_out)); });

    // The command line: the uploader's, else an ancestor's (git push runs ssh).
    CommandAnalysis cmd = command_of(up);
    if (!cmd.upload) {
        const ProcessNode* cur = lineage_.find(Lineage::key_of(up));
        for (int i = 0; i < 2 && cur && !cur->ref.parent_entity_id.empty(); ++i) {
            cur = lineage_.find(cur->ref.parent_entity_id);
            if (!cur) break;
            const auto& parent_cmd = command_of(cur->ref);
            if (parent_cmd.upload) {
                cmd.upload = true;
                cmd.download = false;
                cmd.upload_evidence = parent_cmd.upload_evidence + " (parent)";
                cmd.upload_weight = parent_cmd.upload_weight;
                break;
            }
        }
    }
    if (cmd.upload) add("upload-command", cmd.upload_weight, [&] { return std::string(cmd.upload_evidence); });
    else if (cmd.download) add("download-command", w.download_command, [&] { return std::string(redacted_command_line(up.args, 200)); });

    // Who uploads.
    if (cmd.renamed && cmd.tool)
        add("renamed-binary", w.renamed_binary, [&] { return std::string(fmt::format("{} runs as {} with {} arguments", up.executable.empty() ? up.name : up.executable, up.name,
                        cmd.tool->name)); });
    std::string exe = up.executable.empty() && !up.args.empty() ? up.args[0] : up.executable;
    if (!exe.empty() && std::any_of(s.unusual_executable_dirs.begin(), s.unusual_executable_dirs.end(),
                                    [&](const PathGlob& g) { return g.matches(exe); }))
        add("unusual-executable-path", w.unusual_executable_path, [&] { return std::string(exe); });
    if (!up.has_tty) add("no-tty", w.no_tty, [&] { return std::string("no controlling terminal"); });
    if (!up.container_id.empty()) add("in-container", w.in_container, [&] { return std::string(up.container_id.substr(0, 12)); });
    if (pair.first_seen) add("first-seen-destination", w.first_seen_destination, [&] { return std::string(dest_name); });

    // Allowlists lower the score; they never blind.
    for (const auto& e : rules_.allow.processes)
        if (any_name_matches(e.names, up)) add("allowlisted-process", e.adjust, [&] { return std::string(e.reason.empty() ? up.name : e.reason); });
    for (const auto& e : rules_.allow.destinations)
        if (!pair.domain.empty() && std::any_of(e.domains.begin(), e.domains.end(),
                                                [&](const DomainPattern& d) { return d.matches(pair.domain); }))
            add("allowlisted-destination", e.adjust, [&] { return std::string(e.reason.empty() ? pair.domain : e.reason); });
    for (const auto& e : rules_.allow.users)
        if (std::find(e.uids.begin(), e.uids.end(), up.uid) != e.uids.end())
            add("allowlisted-user", e.adjust, [&] { return std::string(e.reason.empty() ? fmt::format("uid {}", up.uid) : e.reason); });
    for (const auto& e : rules_.allow.containers)
        if (!up.container_id.empty() &&
            std::any_of(e.container_ids.begin(), e.container_ids.end(), [&](const std::string& id) {
                return id == "*" || up.container_id.rfind(id, 0) == 0;
            }))
            add("allowlisted-container", e.adjust, [&] { return std::string(e.reason.empty() ? up.container_id.substr(0, 12) : e.reason); });

    int total = 0;
    for (const auto& sig : a.signals) total += sig.weight;
    a.score = clamp_score(total);
    // Gates: data must be involved, and something must say it left (not just a request).
    bool has_data = top != nullptr || bulk;
    bool left = cmd.upload || upload_shaped || bulk ||
                (covered && (payload >= s.min_upload_bytes || (a.category && a.category->small_uploads)));
    if (s.require_data && (!has_data || !left) && a.score >= s.alert_threshold) {
        a.score = s.alert_threshold - 1;
        a.gated = true;
    }
    if (!explain) return a;

    // Files, chain and the one-line reason.
    std::vector<const ProcessNode*> chain_nodes;
    auto add_node = [&](const ProcessNode* n) {
        if (n && std::find(chain_nodes.begin(), chain_nodes.end(), n) == chain_nodes.end()) chain_nodes.push_back(n);
    };
    std::set<std::string> listed;
    for (const auto& [path, use] : data_files) {
        const auto& src = *use.src;
        a.files.push_back(AlertFile{path, src.read->cls->name, src.read->bytes});
        add_node(src.reader);
        add_node(src.carrier);
        for (const auto* via : src.staged_via)
            if (listed.insert(via->path).second) a.files.push_back(AlertFile{via->path, {}, via->bytes});
    }
    const auto* up_node = lineage_.find(Lineage::key_of(up));
    add_node(up_node);
    if (up_node && !up_node->ref.parent_entity_id.empty()) add_node(lineage_.find(up_node->ref.parent_entity_id));
    std::sort(chain_nodes.begin(), chain_nodes.end(), [](const ProcessNode* x, const ProcessNode* y) {
        return x->start != y->start ? x->start < y->start : x->ref.entity_id < y->ref.entity_id;
    });
    for (const auto* n : chain_nodes) a.chain.push_back(n->ref);
    if (a.chain.empty()) a.chain.push_back(up);

    std::string who = display_name(up);
    if (cmd.renamed && cmd.tool) who += fmt::format(" (renamed {})", cmd.tool->name);
    std::string technique = a.category ? (a.category->subtechnique_id.empty() ? a.category->technique_id
                                                                              : a.category->subtechnique_id)
                                       : "T1567";
    a.reason = fmt::format("{} uploaded {} to {} {} ({})", who, human_bytes(pair.bytes_out), label, dest_name, technique);
    if (top) {
        a.reason += fmt::format(" after {} read {} ({})", display_name(top->reader->ref), top->read->display, top->read->cls->name);
        if (!top->staged_via.empty()) a.reason += fmt::format(" staged in {}", top->staged_via.back()->path);
        if (data_files.size() > 1) a.reason += fmt::format(" and {} more sensitive file{}", data_files.size() - 1,
                                                           data_files.size() > 2 ? "s" : "");
    }
    a.reason = redacted(a.reason);
    return a;
}

void Engine::expire(TimeNs now)
{
    auto horizon = now > rules_.settings.window_ns ? now - rules_.settings.window_ns : 0;
    lineage_.expire(now);
    stats_.evicted_flows += std::erase_if(flows_, [&](const auto& e) { return e.second.last < horizon; });
    stats_.evicted_pairs += std::erase_if(pairs_, [&](const auto& e) { return e.second.last < horizon; });
    if (pairs_.size() > rules_.settings.max_pairs) {
        std::vector<std::pair<TimeNs, std::string>> order;
        for (const auto& [k, p] : pairs_) order.emplace_back(p.last, k);
        std::sort(order.begin(), order.end());
        std::size_t remove = pairs_.size() - rules_.settings.max_pairs * 3 / 4;
        for (std::size_t i = 0; i < remove; ++i) pairs_.erase(order[i].second);
        stats_.evicted_pairs += remove;
    }
}

EngineStats Engine::stats() const
{
    auto s = stats_;
    auto l = lineage_.stats();
    s.processes = l.processes;
    s.staged_files = l.staged_files;
    s.evicted_processes = l.evicted_processes;
    s.evicted_staged_files = l.evicted_staged_files;
    s.dropped_reads = l.dropped_reads;
    s.flows = flows_.size();
    s.pairs = pairs_.size();
    s.destinations = destinations_.size();
    return s;
}

}  // namespace exfilwatch::detect
