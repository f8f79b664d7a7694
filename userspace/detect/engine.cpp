// detect: event handling, scoring and alerting (see engine.hpp).
#include "detect/engine.hpp"

#include <fcntl.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "detect/command.hpp"
#include "redact/redact.hpp"

namespace exfilwatch::detect {
namespace {

constexpr TimeNs expiry_interval_ns = 1'000'000'000ULL;
constexpr std::size_t memo_slots = 4096;
constexpr std::size_t memo_max_bytes = 1024;  // longer inputs are computed every time
// The bound of a read's work: uploaders re-scored (one lineage walk each) and pairs per uploader.
constexpr std::size_t max_rescore_uploaders = 16;
constexpr std::size_t max_rescore_pairs_per_uploader = 8;
constexpr int max_reader_ancestors = 4;
constexpr std::size_t max_pending_blind_spots = 64;
constexpr std::size_t max_blind_spot_processes = 8;
constexpr TimeNs blind_spot_coalesce_ns = 1'000'000'000ULL;
constexpr std::size_t max_volume_origins = 4;
constexpr std::size_t expiry_keep_budget = 64;  // entries kept past the window, moved aside per expiry

// what a recurring job is known by: the executable, and the script an interpreter runs.
std::string job_identity(const ProcessRef& p)
{
    auto names = process_names(p);
    std::string id = p.executable.empty() ? p.name : p.executable;
    if (names.size() > 1) id += " " + names.back();
    return id;
}

std::string pair_key(const std::string& entity, const std::string& domain, const Endpoint& dest)
{
    return domain.empty() ? fmt::format("{}\n{}:{}", entity, dest.ip, dest.port)
                          : fmt::format("{}\n{}", entity, domain);
}

// An incident's id: stable for its key and opening time (replay gives the same), FNV-1a 64.
std::string incident_id(const std::string& key, TimeNs opened)
{
    std::uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&](unsigned char c) {
        h ^= c;
        h *= 0x100000001b3ULL;
    };
    for (unsigned char c : key) mix(c);
    for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(opened >> (8 * i)));
    return fmt::format("{:016x}", h);
}

const std::vector<std::string> ssh_clients{"ssh", "scp", "sftp", "sshpass", "autossh"};

// DNS is name resolution, never an upload: queries to a resolver (53, mDNS 5353, DNS over TLS
// 853) and a resolver's own answers (from port 53).
bool dns_port(std::uint16_t port)
{
    return port == 53 || port == 5353 || port == 853;
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
    return command_memo_.get_as(p, hash, [&](const ProcessRef& q) { return analyze_command(rules_, q); });
}

std::string Engine::redacted(std::string_view text) const
{
    if (text.size() > memo_max_bytes) return redact_text(text);
    return redact_memo_.get_as(text, std::hash<std::string_view>{}(text),
                               [](std::string_view t) { return redact_text(t); });
}

const Service* Engine::service_of(const std::string& domain, const std::string& path) const
{
    if (domain.size() + path.size() > memo_max_bytes) return rules_.service_for(domain, path);
    auto hash = std::hash<std::string>{}(domain) ^ std::hash<std::string>{}(path)*31;
    return service_memo_.get_as(ServiceProbe{domain, path}, hash,
                                [&](const ServiceProbe& q) { return rules_.service_for(q.domain, q.path); });
}

void Engine::replace_rules(Rules rules)
{
    retired_rules_.push_back(std::make_unique<Rules>(std::move(rules_)));
    rules_ = std::move(rules);
    // The memos hold results of the old rules (redaction does not depend on them); the lineage
    // redoes its file classifications.
    command_memo_.clear();
    service_memo_.clear();
    lineage_.reclassify();
}

std::vector<Alert> Engine::process(const ObjectIoEvent& event)
{
    std::vector<Alert> alerts;
    ++stats_.events;
    now_ = std::max(now_, event.time);
    lineage_.on_object_io(event);
    rescore_changed(event.time, alerts);
    stats_.alerts += alerts.size();
    return alerts;
}

void Engine::seed_sensitive(const std::string& path, std::uint64_t device, std::uint64_t inode)
{
    lineage_.seed_sensitive(path, device, inode);
}

std::vector<Alert> Engine::process(const Event& event)
{
    std::vector<Alert> alerts;
    ++stats_.events;
    std::visit(
        [&](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            now_ = std::max(now_, e.time);
            if constexpr (std::is_same_v<T, ExecEvent>) {
                lineage_.on_exec(e.process, e.time);
                rescore_changed(e.time, alerts);
            } else if constexpr (std::is_same_v<T, ForkEvent>) {
                lineage_.on_fork(e.process, e.time);
            } else if constexpr (std::is_same_v<T, ExitEvent>) {
                lineage_.on_exit(e.process, e.time);
            } else if constexpr (std::is_same_v<T, FileOpenEvent>) {
                if (e.error != 0) return;
                // Files the system rewrites at runtime are never staging files, by the name the
                // process used too: a container's /etc/hosts is a bind mount, resolved to the
                // runtime's copy of it.
                bool system_file =
                    rules_.never_staging(e.path) || (!e.requested_path.empty() && e.requested_path.front() == '/' &&
                                                     rules_.never_staging(e.requested_path));
                if (system_file) note_system_file(e.device, e.inode);
                if (is_write(e.flags) && !system_file)
                    lineage_.on_write(e.process, e.time, e.path, e.device, e.inode, (e.flags & O_TRUNC) != 0);
                if (is_read(e.flags)) lineage_.on_read(e.process, e.time, e.path, e.device, e.inode, 0);
                if (is_read(e.flags)) fingerprint(e.process, e.path, e.device, e.inode);
                rescore_changed(e.time, alerts);
            } else if constexpr (std::is_same_v<T, FileSummaryEvent>) {
                if (e.opened_for_write && !rules_.never_staging(e.path) && !is_system_file(e.device, e.inode))
                    lineage_.on_written(e.process, e.time, e.path, e.device, e.inode, e.last_write);
                auto bytes = e.bytes_read ? e.bytes_read : e.bytes_mapped;
                if (bytes || !e.opened_for_write) lineage_.on_read(e.process, e.time, e.path, e.device, e.inode, bytes);
                if (bytes) fingerprint(e.process, e.path, e.device, e.inode);
                rescore_changed(e.time, alerts);
            } else if constexpr (std::is_same_v<T, ObjectIoEvent>) {
                lineage_.on_object_io(e);
                rescore_changed(e.time, alerts);
            } else if constexpr (std::is_same_v<T, ConnectEvent>) {
                on_flow(FlowUpdate{&e.process,
                                   e.time,
                                   e.flow.socket_cookie,
                                   e.destination,
                                   e.destination_domain,
                                   {},
                                   false,
                                   e.source.port},
                        alerts);
            } else if constexpr (std::is_same_v<T, TlsClientHelloEvent>) {
                on_flow(FlowUpdate{&e.process,
                                   e.time,
                                   e.flow.socket_cookie,
                                   e.destination,
                                   e.server_name,
                                   {},
                                   true,
                                   0,
                                   FlowUpdate::Name::sni},
                        alerts);
            } else if constexpr (std::is_same_v<T, HttpRequestEvent>) {
                std::string host = e.host.empty() ? e.connect_target : e.host;
                on_flow(FlowUpdate{&e.process, e.time, e.flow.socket_cookie, e.destination, host, e.path, false, 0,
                                   FlowUpdate::Name::http},
                        alerts);
            } else if constexpr (std::is_same_v<T, FlowSummaryEvent>) {
                on_flow(FlowUpdate{&e.process,
                                   e.time,
                                   e.flow.socket_cookie,
                                   e.destination,
                                   e.destination_domain,
                                   {},
                                   e.domain_source == "sni",
                                   e.source.port,
                                   e.domain_source == "sni"    ? FlowUpdate::Name::sni
                                   : e.domain_source == "http" ? FlowUpdate::Name::http
                                                               : FlowUpdate::Name::other,
                                   &e.bytes_out,
                                   &e.bytes_in,
                                   e.final},
                        alerts);
            } else if constexpr (std::is_same_v<T, DnsAnswerEvent>) {
                lineage_.touch(e.process, e.time);
            } else if constexpr (std::is_same_v<T, ContentScanEvent>) {
                on_content_scan(e, alerts);
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

void Engine::fingerprint(const ProcessRef& reader, const std::string& path, std::uint64_t device, std::uint64_t inode)
{
    if (!file_reader_ || fingerprints_.has_file(device, inode) || !rules_.classify(path)) return;
    if (auto content = file_reader_(reader, path, device, inode)) fingerprints_.add_file(path, device, inode, *content);
}

ContentScanEvent Engine::scan(const PlaintextWrite& write)
{
    // Continuity per connection: a write that does not start where the previous one ended means
    // writes went unseen (rate limit, per-connection bound, a record lost).
    auto key = fmt::format("{}/{}/{}", write.process.entity_id, write.object, write.flow.socket_cookie);
    bool inserted = false;
    auto& next = plaintext_next_.touch(key, &inserted);
    if (plaintext_next_.size() > rules_.settings.max_flows) plaintext_next_.pop_oldest();
    bool complete = inserted ? write.offset == 0 : write.offset == next;
    next = write.offset + write.write_size;
    // The previous write's tail, joined to this one when it continues it exactly; a connection
    // whose continuity broke (or a new one) starts without.
    if (!complete || inserted) tails_.erase(key);
    // The connection's name so far (SNI) is where a write without a Host of its own goes.
    std::string_view known;
    if (auto flow = flows_.find(write.flow.socket_cookie); flow != flows_.end())
        known = flow->second.sni.empty() ? flow->second.host : flow->second.sni;
    if (!complete || fingerprints_.longest_form() == 0)
        return scan_plaintext(fingerprints_, write, complete, nullptr, known);
    auto& tail = tails_.touch(key);
    if (tails_.size() > max_tails) tails_.pop_oldest();
    auto scan = scan_plaintext(fingerprints_, write, complete, &tail, known);
    if (tail.bytes.empty()) tails_.erase(key);
    return scan;
}

void Engine::on_content_scan(const ContentScanEvent& scan, std::vector<Alert>& alerts)
{
    if (scan.source == "argv") {  // a command line's secrets: the process's, whatever flow it opens
        for (const auto& m : scan.matches) {
            // Whatever role it has, a reader of the command line gets it (/proc/PID/cmdline).
            lineage_.note_command_line(scan.process, scan.time, m.path);
            // Handed over to authenticate is use, unless it is a signing key the tool is told to
            // send as it is: in an authentication header or a URL's userinfo (a credential option's
            // value is the tool's to sign with).
            // So is a token for a request to a site its file does not name it for.
            const bool sent_key = !m.secret.empty() && m.location == "auth-argument" &&
                                  (is_auth_header(m.header) || m.header == "url-userinfo");
            const bool foreign = m.location == "auth-argument" && m.audience == "foreign";
            if (m.location != "argument" && !sent_key && !foreign) continue;
            auto& leaks = argv_leaks_.touch(scan.process.entity_id);
            if (argv_leaks_.size() > max_argv_leaks) argv_leaks_.pop_oldest();
            const char* why = sent_key  ? ", a signing key, which authentication never sends"
                              : foreign ? ", to a site its file does not name it for"
                                        : "";
            leaks.try_emplace(m.path, fmt::format("{} in the argument{}{}", m.encoding,
                                                  m.header.empty() ? std::string() : " " + m.header, why));
        }
        return;
    }
    auto flow = flows_.find(scan.flow.socket_cookie);
    if (flow == flows_.end() || flow->second.pair_key.empty()) {
        // A connection older than the monitor is known from its first packet, whose record can
        // come after the write's: the scan waits for it (bounded; matches only, no bytes).
        if (scan.flow.socket_cookie == 0) return;
        auto& held = early_scans_.touch(scan.flow.socket_cookie);
        if (held.size() < max_early_scans_per_flow) held.push_back(scan);
        if (early_scans_.size() > max_early_scan_flows) early_scans_.pop_oldest();
        return;
    }
    content_.note(flow->second.pair_key, scan);
    auto pair = pairs_.find(flow->second.pair_key);
    if (pair != pairs_.end() && !scan.matches.empty()) evaluate(pair->second, scan.time, alerts);
}

void Engine::note_system_file(std::uint64_t device, std::uint64_t inode)
{
    if (system_files_.size() >= max_system_files) system_files_.clear();  // rare: forget, stay bounded
    system_files_.emplace(device, inode);
}

bool Engine::is_system_file(std::uint64_t device, std::uint64_t inode) const
{
    return system_files_.contains({device, inode});
}

// Within a second of its cause's last record: summed into the record held for that second.
bool Engine::hold_blind_spot(TimeNs time, std::string_view cause, std::uint64_t lost)
{
    if (!blind_spots_.empty() && blind_spots_.back().cause == cause &&
        time < blind_spots_.back().time + blind_spot_coalesce_ns) {
        blind_spots_.back().lost += lost;
        return true;
    }
    auto it = blind_windows_.find(cause);
    if (it == blind_windows_.end() || time >= it->second.until || !it->second.held) return false;
    it->second.held->lost += lost;
    ++it->second.merged;
    return true;
}

void Engine::queue_blind_spot(BlindSpot b)
{
    if (hold_blind_spot(b.time, b.cause, b.lost)) return;
    // The first report of a second that is not over: held for it.
    if (auto it = blind_windows_.find(b.cause); it != blind_windows_.end() && b.time < it->second.until) {
        it->second.held = std::move(b);
        return;
    }
    if (blind_spots_.size() >= max_pending_blind_spots) blind_spots_.erase(blind_spots_.begin());
    blind_spots_.push_back(std::move(b));
    ++stats_.blind_spots;
}

void Engine::blind_spot(TimeNs time, std::string_view cause, std::uint64_t lost, std::string_view what)
{
    const auto& holders = lineage_.holders();
    if (holders.empty() || lost == 0) return;        // nothing sensitive was at stake
    if (hold_blind_spot(time, cause, lost)) return;  // summed: no record built
    BlindSpot b;
    b.time = time;
    b.cause = std::string(cause);
    b.lost = lost;
    b.detail =
        fmt::format("{} while {} process{} held sensitive data", what, holders.size(), holders.size() == 1 ? "" : "es");
    for (const auto& [key, unused] : holders) {
        if (b.processes.size() >= max_blind_spot_processes) break;
        if (const auto* n = lineage_.find(key)) b.processes.push_back(n->ref);
    }
    queue_blind_spot(std::move(b));
}

void Engine::note_loss(TimeNs time, std::string_view cause, std::uint64_t count)
{
    now_ = std::max(now_, time);
    blind_spot(time, cause, count, fmt::format("{} lost ({})", count, cause));
}

std::vector<BlindSpot> Engine::take_blind_spots(bool all)
{
    for (auto& b : lineage_.take_blind_spots()) queue_blind_spot(std::move(b));  // tainted state evicted
    // Seconds that are over release what they held; a released record opens the next second.
    for (auto it = blind_windows_.begin(); it != blind_windows_.end();) {
        auto& w = it->second;
        if (!all && now_ < w.until) {
            ++it;
            continue;
        }
        if (!w.held) {
            it = blind_windows_.erase(it);
            continue;
        }
        if (w.merged)
            w.held->detail +=
                fmt::format(" (and {} more report{} within the second)", w.merged, w.merged == 1 ? "" : "s");
        blind_spots_.push_back(std::move(*w.held));
        ++stats_.blind_spots;
        w.held.reset();
        w.merged = 0;
        w.until = now_ + blind_spot_coalesce_ns;
        ++it;
    }
    auto out = std::exchange(blind_spots_, {});
    std::stable_sort(out.begin(), out.end(), [](const BlindSpot& x, const BlindSpot& y) { return x.time < y.time; });
    for (const auto& b : out) {
        auto& w = blind_windows_[b.cause];
        w.until = std::max(w.until, b.time + blind_spot_coalesce_ns);
    }
    if (all) blind_windows_.clear();
    return out;
}

void Engine::note_destination(Pair& pair, TimeNs time)
{
    if (pair.domain.empty() || destinations_.contains(pair.domain)) return;
    // Host memory of destinations is not windowed: when full, the one first seen longest ago
    // goes, one per new domain (constant work; a bulk trim was a pass over all of them).
    destinations_.touch(pair.domain) = time;
    pair.first_seen = true;
    if (destinations_.size() > rules_.settings.max_destinations) {
        destinations_.pop_oldest();
        ++stats_.evicted_destinations;
    }
}

// NOLINTNEXTLINE(readability-function-cognitive-complexity): one pass over a grammar or a loop; split is debt (see the closing note of issue 16)
void Engine::on_flow(const FlowUpdate& u, std::vector<Alert>& alerts)
{
    const ProcessRef& process = *u.process;
    const TimeNs time = u.time;
    const std::uint64_t cookie = u.cookie;
    const std::uint64_t* out = u.bytes_out;
    const std::uint64_t* in = u.bytes_in;
    const Endpoint& destination = u.destination;
    const bool tls = u.tls;
    if (dns_port(destination.port) || dns_port(u.source_port)) {
        lineage_.touch(process, time);
        return;
    }
    lineage_.touch(process, time);
    auto& flow = flows_[cookie];
    if (flow.entity.empty()) flow.entity = Lineage::key_of(process);
    if (!destination.ip.empty()) flow.destination = destination;
    if (!u.path.empty()) flow.path = u.path;
    if (auto name = normalize_domain(u.domain); !name.empty()) {
        using Name = FlowUpdate::Name;
        auto weight = [&](const std::string& d) {
            const auto* svc = service_of(d, flow.path);
            const auto* cat = svc ? rules_.category(svc->category) : nullptr;
            return cat ? cat->weight : rules_.signals.unknown_destination;
        };
        // A connection's later requests (keep-alive, TLS plaintext) may name other Hosts: the
        // riskiest one stays, so a harmless request after the upload cannot rename it.
        if (u.name_source == Name::http && !flow.host.empty() && weight(name) < weight(flow.host)) name = flow.host;
        (u.name_source == Name::sni ? flow.sni : u.name_source == Name::http ? flow.host : flow.other) = name;
        // SNI and Host both known and different (domain fronting): the riskier category counts,
        // the other name is kept for the evidence. Else SNI, then Host, then DNS/hosts/argv.
        if (!flow.sni.empty() && !flow.host.empty() && flow.sni != flow.host)
            flow.domain = weight(flow.host) > weight(flow.sni) ? flow.host : flow.sni;
        else
            flow.domain = !flow.sni.empty() ? flow.sni : !flow.host.empty() ? flow.host : flow.other;
    }
    flow.tls = flow.tls || tls;
    flow.last = time;
    flow_order_.touch(cookie);

    auto key = pair_key(flow.entity, flow.domain, flow.destination);
    std::optional<std::string> old_volume;  // the flow's bytes counted under its former name
    auto found = pairs_.find(key);
    if (flow.pair_key != key || found == pairs_.end()) {
        if (auto old = pairs_.find(flow.pair_key); old != pairs_.end()) {
            old_volume = incident_key(old->second);
            old->second.bytes_out -= std::min(old->second.bytes_out, flow.bytes_out);
            old->second.bytes_in -= std::min(old->second.bytes_in, flow.bytes_in);
            if (old->second.open_flows) --old->second.open_flows;
        }
        flow.pair_key = key;
        auto [it, inserted] = pairs_.try_emplace(key);
        found = it;
        auto& p = it->second;
        if (inserted) {
            p.entity = flow.entity;
            p.domain = flow.domain;
            p.first = time;
            p.sid = process.sid;
            p.parent = process.parent_entity_id;
            note_destination(p, time);
        }
        p.bytes_out += flow.bytes_out;
        p.bytes_in += flow.bytes_in;
        ++p.open_flows;
    }
    auto& pair = found->second;
    index_pair(key, pair);
    pair.process = process;
    pair.destination = flow.destination;
    pair.tls = pair.tls || flow.tls;
    if (!flow.path.empty()) pair.path = flow.path;
    if (!flow.sni.empty() && !flow.host.empty() && flow.sni != flow.host)
        pair.other_name = flow.domain == flow.sni ? flow.host : flow.sni;
    pair.last = time;
    pair_order_.touch(key);
    if (auto* early = early_scans_.find(cookie)) {  // its plaintext's scans came first
        for (const auto& scan : *early) content_.note(key, scan);
        early_scans_.erase(cookie);
    }
    if (old_volume) move_volume(*old_volume, incident_key(pair), flow.bytes_out, time);
    if (out && *out > flow.bytes_out) {
        auto& v = volumes_.touch(incident_key(pair));
        if (flow.bytes_out == 0) ++v.flows;
        v.bytes_out += *out - flow.bytes_out;
        v.last = time;
        pair.bytes_out += *out - flow.bytes_out;
        flow.bytes_out = *out;
        trim_volumes(time);
    }
    if (in && *in > flow.bytes_in) {
        pair.bytes_in += *in - flow.bytes_in;
        flow.bytes_in = *in;
    }
    if (u.final) {
        if (pair.open_flows) --pair.open_flows;
        // learn the upload job (a later day's same job scores `recurring`).
        if (jobs_ && !pair.domain.empty() && pair.bytes_out >= rules_.settings.min_upload_bytes)
            jobs_->note(job_identity(pair.process), pair.domain, pair.bytes_out, JobMemory::day_of(time));
        flows_.erase(cookie);
        flow_order_.erase(cookie);
    } else {
        while (flows_.size() > rules_.settings.max_flows && flow_order_.size() > 1) {  // this flow is the newest
            stats_.evicted_flows += flows_.erase(flow_order_.oldest()->first);
            flow_order_.pop_oldest();
        }
    }
    if (pair.bytes_out > 0) evaluate(pair, time, alerts);
}

// Taint that reached a process can change the score of an upload already seen (a reader's byte
// count arrives at its exit, after the upload; a pipe's writer reads the key after its reader
// connected): re-scores the pairs of the processes whose taint changed, and only those.
void Engine::rescore_changed(TimeNs now, std::vector<Alert>& alerts)
{
    auto changed = lineage_.take_changed();
    if (changed.empty()) return;
    std::size_t skipped = 0, uploaders = 0;
    for (const auto& entity : changed) {
        auto idx = pairs_by_uploader_.find(entity);
        if (idx == pairs_by_uploader_.end()) continue;
        if (uploaders == max_rescore_uploaders) {
            skipped += idx->second.size();
            continue;
        }
        ++uploaders;
        std::optional<LineageView> view;
        std::size_t done = 0, seen = 0;
        // evaluate() can alert but never adds or removes pairs: the index stays valid.
        for (const auto& [key, unused] : idx->second) {
            if (done == max_rescore_pairs_per_uploader || seen == 4 * max_rescore_pairs_per_uploader) {
                skipped += idx->second.size() - seen;
                break;
            }
            ++seen;
            auto it = pairs_.find(key);
            if (it == pairs_.end()) continue;
            auto& pair = it->second;
            if (pair.bytes_out == 0) continue;
            if (!view) view = lineage_.view(Lineage::key_of(pair.process), now);
            ++done;
            ++stats_.rescored_on_read;
            evaluate(pair, now, alerts, &*view);
        }
    }
    stats_.rescore_skipped += skipped;
    if (skipped)
        blind_spot(now, "rescore_bounded", skipped, fmt::format("{} pairs not re-scored after taint moved", skipped));
}

void Engine::index_pair(const std::string& key, const Pair& pair)
{
    pairs_by_uploader_[pair.entity].touch(key);
    if (pair.sid != 0) uploaders_by_session_[pair.sid].touch(pair.entity);
    if (!pair.parent.empty()) uploaders_by_parent_[pair.parent].touch(pair.entity);
}

void Engine::unindex_pair(const std::string& key, const Pair& pair)
{
    auto it = pairs_by_uploader_.find(pair.entity);
    if (it == pairs_by_uploader_.end()) return;
    it->second.erase(key);
    if (!it->second.empty()) return;
    pairs_by_uploader_.erase(it);
    auto drop = [&](auto& index, const auto& bucket) {
        auto b = index.find(bucket);
        if (b == index.end()) return;
        b->second.erase(pair.entity);
        if (b->second.empty()) index.erase(b);
    };
    if (pair.sid != 0) drop(uploaders_by_session_, pair.sid);
    if (!pair.parent.empty()) drop(uploaders_by_parent_, pair.parent);
}

// A flow named late (its SNI read after its first bytes were counted under the bare address)
// takes what it sent to its name's volume: a trickle's connections add up whichever record came
// first.
void Engine::move_volume(const std::string& from, const std::string& to, std::uint64_t bytes_out, TimeNs time)
{
    if (from == to || bytes_out == 0) return;
    if (auto* v = volumes_.find(from)) {
        v->bytes_out -= std::min(v->bytes_out, bytes_out);
        if (v->flows) --v->flows;
    }
    auto& v = volumes_.touch(to);
    ++v.flows;
    v.bytes_out += bytes_out;
    v.last = std::max(v.last, time);
    trim_volumes(time);
}

bool Engine::holds_data(const Volume& v) const
{
    return std::any_of(v.origins.begin(), v.origins.end(), [&](std::uint64_t o) { return lineage_.holds(o); });
}

// The volume table at its cap: the least recently used goes; one whose lineage still holds
// sensitive data is a blind spot (a trickle to it starts over).
void Engine::trim_volumes(TimeNs time)
{
    std::uint64_t tainted = 0;
    while (volumes_.size() > rules_.settings.max_pairs) {
        auto v = volumes_.pop_oldest();
        if (v && holds_data(v->second)) ++tainted;
    }
    if (tainted)
        blind_spot(time, "volume_evicted", tainted,
                   fmt::format("{} upload volume{} of lineages holding sensitive data evicted (volume table full)",
                               tainted, tainted == 1 ? "" : "s"));
}

// An uploader's lineage and the destination. The lineage is its session; outside any session
// (session 0: the descendants of an init that never called setsid, as a CI runner's or some
// containers' processes are) its process group, else its parent (the script whose children
// post the parts), else the process itself.
std::string Engine::incident_key(const Pair& pair) const
{
    const auto& dest = pair.domain.empty() ? pair.destination.ip : pair.domain;
    const auto uid = pair.process.uid;
    if (pair.sid != 0) return fmt::format("session:{}:{}\n{}", uid, pair.sid, dest);
    if (pair.process.pgid != 0) return fmt::format("group:{}:{}\n{}", uid, pair.process.pgid, dest);
    if (!pair.parent.empty()) return fmt::format("parent:{}\n{}", pair.parent, dest);
    return fmt::format("{}\n{}", pair.entity, dest);
}

void Engine::evaluate(Pair& pair, TimeNs now, std::vector<Alert>& alerts, const LineageView* given)
{
    ++stats_.evaluations;
    const auto& s = rules_.settings;
    // Without a sensitive read in the lineage and below the bulk volume, the data gate of assess()
    // holds the score under the threshold whatever else is true: the same (no) alert, far cheaper.
    // (rescore_near calls this for the pairs near every new sensitive or staging read.)
    // The lineage is walked once for both assessments.
    std::optional<LineageView> own;
    if (!given) own = lineage_.view(Lineage::key_of(pair.process), now);
    const LineageView& view = given ? *given : *own;
    pair.had_data = !view.sources.empty();
    if (pair.had_data)
        if (auto* v = volumes_.find(incident_key(pair)))
            for (const auto& src : view.sources)
                if (v->origins.size() < max_volume_origins &&
                    std::find(v->origins.begin(), v->origins.end(), src.origin) == v->origins.end())
                    v->origins.push_back(src.origin);
    if (s.require_data && pair.bytes_out < s.bulk_upload_bytes && view.sources.empty()) return;
    // The score first; the evidence, chain and reason only for an alert.
    const auto quick = assess(pair, view, false);
    if (quick.score < s.alert_threshold) return;
    const auto key = incident_key(pair);
    bool opened = false;
    auto& incident = incidents_.touch(key, &opened);
    incident.last = now;
    const bool worse =
        quick.score >= std::min(100, incident.alerted_score + s.realert_step) && incident.alerted_score < 100;
    const bool new_evidence =
        (quick.content_leak && !incident.alerted_content_leak) || quick.data_files > incident.alerted_data_files;
    if (!opened && !worse && !new_evidence) return;
    if (opened) incident.id = incident_id(key, now);
    auto a = assess(pair, view, true);
    incident.alerted_score = a.score;
    incident.alerted_content_leak = incident.alerted_content_leak || a.content_leak;
    incident.alerted_data_files = std::max(incident.alerted_data_files, a.data_files);
    ++(opened ? stats_.incidents : stats_.incident_updates);
    if (incidents_.size() > s.max_pairs) incidents_.pop_oldest();
    Alert alert;
    alert.incident_id = incident.id;
    alert.incident_update = !opened;
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

const ContentFacts* Engine::with_argv_leaks(const ContentFacts* facts, const ProcessRef& up, ContentFacts& merged) const
{
    // Only where the flow's plaintext was not seen: a scanned flow says itself where the secret
    // went (`python3 post.py $TOKEN` may send it in an Authorization header). Only the
    // uploader's own command line: a script given a token (`deploy.sh $TOKEN`) sends nothing.
    if (facts && facts->scans > 0) return facts;
    const auto* leaks = argv_leaks_.find(up.entity_id);
    if (!leaks) return facts;
    if (facts) merged = *facts;
    for (const auto& [path, how] : *leaks) merged.leaked.try_emplace(path, how);
    return &merged;
}

Assessment Engine::assess(const Pair& pair, const LineageView& view, bool explain) const
{
    const ProcessRef& up = pair.process;
    PairFacts facts;
    facts.uploader = &up;
    facts.domain = pair.domain;
    facts.path = pair.path;
    facts.destination = pair.destination;
    facts.tls = pair.tls;
    facts.first_seen = pair.first_seen;
    facts.bytes_out = pair.bytes_out;
    facts.bytes_in = pair.bytes_in;
    facts.other_name = pair.other_name;
    facts.ssh = pair.destination.port == 22 || any_name_matches(ssh_clients, up);
    if (const auto* v = volumes_.find(incident_key(pair))) {
        facts.lineage_bytes_out = v->bytes_out;
        facts.lineage_flows = v->flows;
    }
    SignalList list(explain);
    Assessment a;

    const Service* service = pair.domain.empty() ? nullptr : service_of(pair.domain, pair.path);
    a.category = destination_signal(rules_, service, facts, list);

    auto data = data_in_lineage(rules_, view, up);
    // Content first: a secret seen leaving is a leak; one seen only authenticating is use.
    ContentFacts merged;
    bool content_leak = content_signals(
        rules_, with_argv_leaks(content_.find(pair_key(pair.entity, pair.domain, pair.destination)), up, merged),
        pair.bytes_out, data, list, a.category);
    sensitive_read_signals(rules_, data, list);
    credential_use_signal(rules_, data, list);

    const auto shape = shape_of(rules_, facts);
    bool covered = volume_signal(rules_, facts, data, shape, list) || content_leak;
    shape_signals(rules_, facts, shape, covered, list);

    // The command line: the uploader's, else an ancestor's (git push runs ssh); an ancestor's
    // destination too when the uploader's names none (rsync's ssh).
    // (Copies: command_of's result lives in a memo slot the next call can reuse.)
    const CommandAnalysis own = command_of(up);
    std::vector<CommandAnalysis> parents;
    if (!own.upload || own.destination.empty()) {
        const ProcessNode* cur = lineage_.find(Lineage::key_of(up));
        for (int i = 0; i < 2 && cur && !cur->ref.parent_entity_id.empty(); ++i) {
            cur = lineage_.find(cur->ref.parent_entity_id);
            if (!cur) break;
            parents.push_back(command_of(cur->ref));
            if (parents.back().upload) break;
        }
    }
    std::vector<const CommandAnalysis*> ancestors;
    ancestors.reserve(parents.size());
    for (const auto& c : parents) ancestors.push_back(&c);
    const CommandAnalysis cmd = effective_command(own, ancestors);
    command_signal(rules_, cmd, up, list);
    uploader_signals(rules_, cmd, facts, list);
    allowlist_signals(rules_, facts, list);

    // Own storage: a declared tool uploading to a declared destination (command line and the
    // flow's domain agree) scores under the threshold; the same tool anywhere else does not.
    const OwnDestination* own_dest = pair.domain.empty() ? nullptr : own_destination(rules_, cmd, pair.domain);
    if (own_dest)
        list.add("own-storage", rules_.signals.own_storage,
                 [&] { return fmt::format("{} to declared {}", cmd.destination_tool->name, own_dest->text); });
    // The same job (executable, destination, order of volume) ran on an earlier day.
    if (jobs_ && !pair.domain.empty())
        if (const auto* job =
                jobs_->earlier(job_identity(up), pair.domain, pair.bytes_out, JobMemory::day_of(pair.first)))
            list.add("recurring", rules_.signals.recurring,
                     [&] { return fmt::format("same job on {} earlier day{}", job->days, job->days > 1 ? "s" : ""); });

    bool left = (data_left(rules_, cmd, shape, covered, data, a.category) || content_leak) && data_moved(rules_, facts);
    auto g = gate(rules_, list.total(), data.has_data() || shape.bulk, left);
    a.score = g.score;
    a.gated = g.gated;
    a.content_leak = content_leak;
    a.data_files = data.data_files.size();
    if (own_dest && a.score >= rules_.settings.alert_threshold) {  // own storage stays under the threshold
        a.score = rules_.settings.alert_threshold - 1;
        a.gated = true;
    }
    if (!explain) return a;

    a.signals = std::move(list.signals());
    for (auto& sig : a.signals) sig.evidence = redacted(sig.evidence);

    // Files, chain and the one-line reason.
    std::vector<const ProcessNode*> chain_nodes;
    auto add_node = [&](const ProcessNode* n) {
        if (n && std::find(chain_nodes.begin(), chain_nodes.end(), n) == chain_nodes.end()) chain_nodes.push_back(n);
    };
    std::set<std::string> listed;
    for (const auto& [path, use] : data.data_files) {
        const auto& src = *use.source;
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
    a.reason = redacted(alert_reason(cmd, facts, a.category, data));
    return a;
}

void Engine::expire(TimeNs now)
{
    auto horizon = now > rules_.settings.window_ns ? now - rules_.settings.window_ns : 0;
    lineage_.expire(now);
    while (flow_order_.oldest()) {
        ++stats_.expiry_work;
        auto it = flows_.find(flow_order_.oldest()->first);
        if (it != flows_.end() && it->second.last >= horizon) break;
        if (it != flows_.end()) {
            flows_.erase(it);
            ++stats_.evicted_flows;
        }
        flow_order_.pop_oldest();
    }
    // Idle volumes and incidents go at the window, unless their lineage still holds the data:
    // those are moved aside (a bounded number per expiry) and left to the cap.
    for (std::size_t kept = 0; volumes_.oldest() && volumes_.oldest()->second.last < horizon;) {
        ++stats_.expiry_work;
        if (holds_data(volumes_.oldest()->second) && kept++ < expiry_keep_budget)
            volumes_.touch(volumes_.oldest()->first);
        else if (kept > expiry_keep_budget)
            break;
        else
            volumes_.pop_oldest();
    }
    for (std::size_t kept = 0; incidents_.oldest() && incidents_.oldest()->second.last < horizon;) {
        ++stats_.expiry_work;
        const auto* v = volumes_.find(incidents_.oldest()->first);
        if (v && holds_data(*v) && kept++ < expiry_keep_budget) incidents_.touch(incidents_.oldest()->first);
        else if (kept > expiry_keep_budget)
            break;
        else
            incidents_.pop_oldest();
    }
    // Idle pairs at the window, then the least recently active past the cap (those that held
    // data are a blind spot).
    std::uint64_t data_pairs = 0;
    while (pair_order_.oldest()) {
        ++stats_.expiry_work;
        auto it = pairs_.find(pair_order_.oldest()->first);
        bool over = pairs_.size() > rules_.settings.max_pairs;
        if (it != pairs_.end() && it->second.last >= horizon && !over) break;
        if (it != pairs_.end()) {
            if (it->second.last >= horizon) data_pairs += it->second.had_data;
            unindex_pair(it->first, it->second);
            pairs_.erase(it);
            ++stats_.evicted_pairs;
        }
        pair_order_.pop_oldest();
    }
    blind_spot(now, "pairs_evicted", data_pairs,
               fmt::format("{} uploads with sensitive data evicted (pair table full)", data_pairs));
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
    s.volumes = volumes_.size();
    return s;
}

}  // namespace exfilwatch::detect
