// detect: the signal functions (see signals.hpp).
#include "detect/signals.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "redact/redact.hpp"

namespace exfilwatch::detect {

int SignalList::total() const
{
    int total = 0;
    for (const auto& s : signals_) total += s.weight;
    return total;
}

bool SignalList::has(std::string_view name) const
{
    return std::any_of(signals_.begin(), signals_.end(), [&](const Signal& s) { return s.name == name; });
}

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

std::string display_name(const ProcessRef& p)
{
    std::string name = p.name.empty() ? base_name(p.executable) : p.name;
    // A script run by its interpreter is known by the script (not by a shell's: `bash x.sh`
    // stays bash, its commands are their own processes).
    for (std::string_view interp : {"python", "pypy", "perl", "ruby", "node", "php"})
        if (name.rfind(interp, 0) == 0 && p.args.size() >= 2 && !p.args[1].empty() && p.args[1][0] != '-') {
            auto script = base_name(p.args[1]);
            if (!script.empty() && script.find('.') == std::string::npos) return script;  // not `x.py`
            break;
        }
    if (!p.args.empty()) {
        auto argv0 = base_name(p.args[0]);
        if (!argv0.empty() && argv0.size() < name.size() && name.rfind(argv0, 0) == 0) return argv0;
    }
    return name;
}

std::string destination_label(const Category* category)
{
    return category ? category->label : "web service";
}

const Category* destination_signal(const Rules& rules, const Service* service, const PairFacts& pair, SignalList& out)
{
    const Category* category = service ? rules.category(service->category) : nullptr;
    if (category)
        out.add("destination-" + category->name, category->weight, [&] {
            return fmt::format("{} {}{}", category->label, pair.destination_name(),
                               pair.other_name.empty() ? std::string()
                                                       : fmt::format(" (also named {})", pair.other_name));
        });
    else
        out.add("unknown-destination", rules.signals.unknown_destination, [&] { return pair.destination_name(); });
    return category;
}

std::uint64_t DataInLineage::payload() const
{
    std::uint64_t total = 0;
    for (const auto& [path, bytes] : carriers) total += bytes;
    return total;
}

// `process` with the values of its identity options removed: a file handed to a tool to
// authenticate with (ssh -i KEY, -o IdentityFile=KEY, --identity KEY) is its use, not its data.
// The short `-i` means identity only to the ssh family (curl -i is --include, rsync -i itemize).
ProcessRef without_identity_options(const ProcessRef& process)
{
    static constexpr std::string_view ssh_family[] = {"ssh", "scp", "sftp", "autossh", "sshfs", "mosh"};
    const auto names = process_names(process);
    const bool ssh_like = std::any_of(names.begin(), names.end(), [](const std::string& n) {
        return std::find(std::begin(ssh_family), std::end(ssh_family), n) != std::end(ssh_family);
    });
    static constexpr std::string_view long_options[] = {"--identity", "--identity-file", "--private-key", "--key-file"};
    auto identity_value = [](std::string_view o) {
        return o.rfind("IdentityFile=", 0) == 0 || o.rfind("IdentityFile ", 0) == 0 ||
               o.rfind("CertificateFile=", 0) == 0;
    };
    ProcessRef out = process;
    out.args.clear();
    for (std::size_t i = 0; i < process.args.size(); ++i) {
        std::string_view a = process.args[i];
        bool has_next = i + 1 < process.args.size();
        if (i > 0 && ssh_like && a == "-i" && has_next) {
            ++i;
            continue;
        }
        if (i > 0 && ssh_like && a.size() > 2 && a.rfind("-i", 0) == 0) continue;  // -iKEY
        if (a == "-o" && has_next && identity_value(process.args[i + 1])) {
            ++i;
            continue;
        }
        if (a.rfind("-o", 0) == 0 && identity_value(a.substr(2))) continue;
        bool skipped = false;
        for (auto o : long_options) {
            if (a == o && has_next) {
                ++i;
                skipped = true;
                break;
            }
            if (a.size() > o.size() && a.rfind(o, 0) == 0 && a[o.size()] == '=') {
                skipped = true;
                break;
            }
        }
        if (!skipped) out.args.emplace_back(a);
    }
    return out;
}

DataInLineage data_in_lineage(const Rules& rules, const LineageView& view, const ProcessRef& up)
{
    DataInLineage d;
    // A consumer's read is its own use unless the file is named on a command line for data: any
    // non-consumer's, or that of a consumer in the uploader's own line (the uploader or an
    // ancestor: `scp KEY host:` runs the ssh that uploads) other than as the identity it
    // authenticates with (ssh -i KEY). `ssh-keygen -f KEY` before an upload is use; so is
    // `scp -i KEY file host:`; `curl -F f=@~/.netrc`, the uploader, is not.
    std::vector<const std::string*> line{&up.entity_id};
    const ProcessRef* cur = &up;
    for (int i = 0; i < 4 && !cur->parent_entity_id.empty(); ++i) {
        auto it = std::find_if(view.members.begin(), view.members.end(),
                               [&](const ProcessNode* m) { return m->ref.entity_id == cur->parent_entity_id; });
        if (it == view.members.end()) break;
        cur = &(*it)->ref;
        line.push_back(&cur->entity_id);
    }
    auto in_line = [&](const ProcessRef& r) {
        return std::any_of(line.begin(), line.end(), [&](const std::string* e) { return *e == r.entity_id; });
    };
    auto named_for_data = [&](const std::string& path, const SensitiveClass& cls) {
        return std::any_of(view.members.begin(), view.members.end(), [&](const ProcessNode* m) {
            // Read with the tool's grammar: a credential option's value (ssh -i KEY, rclone
            // --config F) is use; curl -K FILE may name anything.
            if (!names_file(rules, m->ref, path)) return false;
            if (!any_name_matches(cls.consumers, m->ref)) return true;
            if (tool_names_file_as_data(rules, m->ref, path)) return true;  // scp -i KEY id_rsa host:
            return in_line(m->ref) && names_file(rules, without_identity_options(m->ref), path);
        });
    };
    bool members_transform = std::any_of(view.members.begin(), view.members.end(), [&](const ProcessNode* m) {
        return any_name_matches(rules.settings.transformers, m->ref);
    });
    for (const auto& src : view.sources) {
        const auto* cls = src.read->cls;
        // Own use: a consumer opened the file itself (not its shell, as a redirect to its stdin)
        // and no other command line named it.
        bool opened_itself = src.read->opened_by.empty() || src.read->opened_by == src.reader->ref.name;
        bool own = !cls->consumers.empty() && any_name_matches(cls->consumers, src.reader->ref) && opened_itself &&
                   !named_for_data(src.read->path, *cls);
        if (own) {
            d.own_use.insert(fmt::format("{} read {}", display_name(src.reader->ref), src.read->display));
            continue;
        }
        // The sensitive bytes that reached the uploader (what was read, capped by the narrowest
        // channel on the way), not the size of a staging file they passed through (a 41-byte git
        // ref written by the same lineage says nothing of how much of the key left).
        const std::uint64_t reached = src.bytes ? src.bytes : src.read->bytes;
        auto& use = d.data_files[src.read->path];
        if (!use.source || reached > use.bytes) use = DataInLineage::FileUse{&src, reached};
        auto& c = d.carriers[src.read->path];
        c = std::max(c, reached);
        if (src.transformed || members_transform || any_name_matches(rules.settings.transformers, src.reader->ref))
            d.transformer = true;
    }
    for (const auto& [path, use] : d.data_files) {
        d.classes.insert(use.source->read->cls->name);
        if (!d.top || use.source->read->cls->weight > d.top->read->cls->weight) d.top = use.source;
    }
    return d;
}

void sensitive_read_signals(const Rules& rules, const DataInLineage& data, SignalList& out)
{
    const auto* top = data.top;
    if (!top) return;
    const auto* r = top->read;
    out.add("sensitive-read", r->cls->weight, [&] {
        return fmt::format("{} read {} ({}{})", display_name(top->reader->ref), r->display, r->cls->name,
                           r->bytes ? ", " + human_bytes(r->bytes) : std::string());
    });
    int extra = std::min<int>(2, static_cast<int>(data.classes.size()) - 1);
    if (extra > 0) {
        out.add("sensitive-extra-class", extra * rules.signals.sensitive_extra_class, [&] {
            std::string others;
            for (const auto& c : data.classes)
                if (c != r->cls->name) others += (others.empty() ? "" : ", ") + c;
            return others;
        });
    }
}

void credential_use_signal(const Rules& rules, const DataInLineage& data, SignalList& out)
{
    if (!data.own_use.empty())
        out.add("credential-use", rules.signals.credential_use, [&] { return *data.own_use.begin(); });
}

Shape shape_of(const Rules& rules, const PairFacts& pair)
{
    const auto& s = rules.settings;
    Shape shape;
    shape.download_shaped =
        pair.bytes_in >= s.min_download_bytes &&
        static_cast<double>(pair.bytes_in) >= s.download_ratio * static_cast<double>(pair.bytes_out);
    shape.upload_shaped = pair.bytes_out >= s.min_upload_bytes &&
                          static_cast<double>(pair.bytes_out) >= s.upload_ratio * static_cast<double>(pair.bytes_in);
    shape.bulk = pair.bytes_out >= s.bulk_upload_bytes;
    return shape;
}

std::uint64_t protocol_overhead(const Rules& rules, const PairFacts& pair)
{
    // nc, socat: no TLS, SSH nor request head was seen.
    std::uint64_t overhead = pair.tls ? rules.settings.tls_overhead_bytes : pair.ssh ? ssh_overhead_bytes : 0;
    if (!pair.path.empty()) overhead += rules.settings.http_overhead_bytes;
    return overhead;
}

bool volume_signal(const Rules& rules, const PairFacts& pair, const DataInLineage& data, const Shape&, SignalList& out)
{
    auto payload = data.payload();
    if (payload == 0) return false;
    auto overhead = protocol_overhead(rules, pair);
    auto sent = pair.bytes_out > overhead ? pair.bytes_out - overhead : 0;
    // Summed over the lineage's connections, each less its own overhead.
    auto flows = std::max<std::uint64_t>(pair.lineage_flows, 1);
    auto lineage_overhead = overhead * flows;
    auto lineage_sent = pair.lineage_bytes_out > lineage_overhead ? pair.lineage_bytes_out - lineage_overhead : 0;
    bool trickle = lineage_sent > sent && pair.lineage_flows > 1;
    auto best = std::max(sent, lineage_sent);
    auto evidence = [&](std::string_view how) {
        auto text = fmt::format("{} out{} {} {} read", human_bytes(trickle ? pair.lineage_bytes_out : pair.bytes_out),
                                trickle ? fmt::format(" over {} connections", pair.lineage_flows) : std::string(), how,
                                human_bytes(payload));
        return text;
    };
    if (best >= payload) {
        out.add("data-volume", rules.signals.data_volume, [&] { return evidence(">="); });
        return true;
    }
    if (data.transformer && best >= payload / 4) {
        out.add("data-volume-partial", rules.signals.data_volume_partial,
                [&] { return evidence("through an archiver/encoder, of"); });
        return true;
    }
    return false;
}

void shape_signals(const Rules& rules, const PairFacts& pair, const Shape& shape, bool covered, SignalList& out)
{
    const auto& w = rules.signals;
    auto in_out = [&] { return fmt::format("{} out, {} in", human_bytes(pair.bytes_out), human_bytes(pair.bytes_in)); };
    if (shape.upload_shaped) out.add("upload-shaped", w.upload_shaped, in_out);
    if (shape.download_shaped && !covered) out.add("download-shaped", w.download_shaped, in_out);
    if (shape.bulk) out.add("bulk-upload", w.bulk_upload, [&] { return human_bytes(pair.bytes_out); });
}

CommandAnalysis effective_command(const CommandAnalysis& own, const std::vector<const CommandAnalysis*>& ancestors)
{
    CommandAnalysis cmd = own;
    if (cmd.upload && !cmd.destination.empty()) return cmd;
    for (const auto* parent : ancestors) {
        if (!parent || !parent->upload) continue;
        if (!cmd.upload) {
            cmd.upload = true;
            cmd.download = false;
            cmd.upload_evidence = parent->upload_evidence + " (parent)";
            cmd.upload_weight = parent->upload_weight;
        }
        // Where it goes, for own storage: an uploader that names no destination of its own (the
        // ssh that rsync or scp runs) goes where the tool that started it sends.
        if (cmd.destination.empty()) {
            cmd.destination = parent->destination;
            cmd.destination_tool = parent->destination_tool;
        }
        break;
    }
    return cmd;
}

void command_signal(const Rules& rules, const CommandAnalysis& cmd, const ProcessRef& up, SignalList& out)
{
    if (cmd.upload) out.add("upload-command", cmd.upload_weight, [&] { return cmd.upload_evidence; });
    else if (cmd.download)
        out.add("download-command", rules.signals.download_command,
                [&] { return redacted_command_line(up.args, 200); });
}

void uploader_signals(const Rules& rules, const CommandAnalysis& cmd, const PairFacts& pair, SignalList& out)
{
    const auto& w = rules.signals;
    const ProcessRef& up = *pair.uploader;
    if (cmd.renamed && cmd.tool)
        out.add("renamed-binary", w.renamed_binary, [&] {
            return fmt::format("{} runs as {} with {} arguments", up.executable.empty() ? up.name : up.executable,
                               up.name, cmd.tool->name);
        });
    std::string exe = up.executable.empty() && !up.args.empty() ? up.args[0] : up.executable;
    const auto& dirs = rules.settings.unusual_executable_dirs;
    if (!exe.empty() && std::any_of(dirs.begin(), dirs.end(), [&](const PathGlob& g) { return g.matches(exe); }))
        out.add("unusual-executable-path", w.unusual_executable_path, [&] { return exe; });
    if (!up.has_tty) out.add("no-tty", w.no_tty, [] { return std::string("no controlling terminal"); });
    if (!up.container_id.empty())
        out.add("in-container", w.in_container, [&] { return up.container_id.substr(0, 12); });
    if (pair.first_seen)
        out.add("first-seen-destination", w.first_seen_destination, [&] { return pair.destination_name(); });
}

void allowlist_signals(const Rules& rules, const PairFacts& pair, SignalList& out)
{
    const ProcessRef& up = *pair.uploader;
    for (const auto& e : rules.allow.processes)
        if (any_name_matches(e.names, up))
            out.add("allowlisted-process", e.adjust, [&] { return e.reason.empty() ? up.name : e.reason; });
    for (const auto& e : rules.allow.destinations)
        if (!pair.domain.empty() && std::any_of(e.domains.begin(), e.domains.end(),
                                                [&](const DomainPattern& d) { return d.matches(pair.domain); }))
            out.add("allowlisted-destination", e.adjust, [&] { return e.reason.empty() ? pair.domain : e.reason; });
    for (const auto& e : rules.allow.users)
        if (std::find(e.uids.begin(), e.uids.end(), up.uid) != e.uids.end())
            out.add("allowlisted-user", e.adjust,
                    [&] { return e.reason.empty() ? fmt::format("uid {}", up.uid) : e.reason; });
    for (const auto& e : rules.allow.containers)
        if (!up.container_id.empty() &&
            std::any_of(e.container_ids.begin(), e.container_ids.end(),
                        [&](const std::string& id) { return id == "*" || up.container_id.rfind(id, 0) == 0; }))
            out.add("allowlisted-container", e.adjust,
                    [&] { return e.reason.empty() ? up.container_id.substr(0, 12) : e.reason; });
}

bool data_left(const Rules& rules, const CommandAnalysis& cmd, const Shape& shape, bool covered,
               const DataInLineage& data, const Category* category)
{
    return cmd.upload || shape.upload_shaped || shape.bulk ||
           (covered && (data.payload() >= rules.settings.min_upload_bytes || (category && category->small_uploads)));
}

bool data_moved(const Rules& rules, const PairFacts& pair)
{
    return pair.bytes_out > protocol_overhead(rules, pair);
}

Gate gate(const Rules& rules, int total, bool has_data, bool left)
{
    const auto& s = rules.settings;
    Gate g{std::clamp(total, 0, 100), false};
    if (s.require_data && (!has_data || !left) && g.score >= s.alert_threshold) {
        g.score = s.alert_threshold - 1;
        g.gated = true;
    }
    return g;
}

std::string alert_reason(const CommandAnalysis& cmd, const PairFacts& pair, const Category* category,
                         const DataInLineage& data)
{
    const ProcessRef& up = *pair.uploader;
    std::string who = display_name(up);
    if (cmd.renamed && cmd.tool) who += fmt::format(" (renamed {})", cmd.tool->name);
    std::string technique =
        category ? (category->subtechnique_id.empty() ? category->technique_id : category->subtechnique_id) : "T1567";
    auto reason = fmt::format("{} uploaded {} to {} {} ({})", who, human_bytes(pair.bytes_out),
                              destination_label(category), pair.destination_name(), technique);
    if (const auto* top = data.top) {
        reason += fmt::format(" after {} read {} ({})", display_name(top->reader->ref), top->read->display,
                              top->read->cls->name);
        if (!top->staged_via.empty()) reason += fmt::format(" staged in {}", top->staged_via.back()->path);
        if (data.data_files.size() > 1)
            reason += fmt::format(" and {} more sensitive file{}", data.data_files.size() - 1,
                                  data.data_files.size() > 2 ? "s" : "");
    }
    return reason;
}

}  // namespace exfilwatch::detect
