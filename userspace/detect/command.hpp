// detect: what a command line says. Which upload tool a process is (by its executable, or by its
// flags when it was copied under another name), whether its arguments upload or download, where
// they send to, and whether it names a given file. Each tool's arguments are read with its own
// grammar (options with values anywhere, `--`). Pure functions of Rules and a ProcessRef: files a
// command line refers to (curl -K FILE) are never opened here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "detect/rules.hpp"
#include "events.hpp"
#include "util/text.hpp"

namespace exfilwatch::detect {

struct CommandAnalysis {
    const UploadTool* tool = nullptr;  // the tool whose upload rule matched, else the identified one
    bool renamed = false;              // known by its flags, but runs under another name
    bool upload = false;
    bool download = false;
    std::string upload_evidence;  // the matching argument(s), redacted
    int upload_weight = 0;
    // Where the upload goes as the command line writes it (s3://b/k, remote:dir, a URL); raw
    // bytes: redact before printing.
    std::string destination;
    const UploadTool* destination_tool = nullptr;  // whose grammar found `destination`
    // Arguments held in files (curl -K FILE, wget --config FILE): the command line is not all of them.
    std::vector<std::string> argument_files;
};

CommandAnalysis analyze_command(const Rules& rules, const ProcessRef& process);

// Names a process goes by, from what it runs and not from what it claims: the executable's
// basename and, for an interpreter running a script (`python3 /usr/bin/aws ...`), the script's
// basename. argv[0] counts only for a multi-call binary (busybox), whose applet it selects:
// `exec -a ssh curl` is curl.
std::vector<std::string> process_names(const ProcessRef& process);
bool any_name_matches(const std::vector<std::string>& globs, const ProcessRef& process);

// True when an argument of `process` names `path` (`@/home/u/.netrc`, `--post-file=.bash_history`,
// `~/.ssh/id_rsa`).
bool names_file(const ProcessRef& process, std::string_view path);
// The same, read with the process's tool grammar: the value of a credential option (ssh -i KEY,
// rclone --config FILE) is the tool's own use, not data; a command whose arguments are partly in
// a file (curl -K FILE) may name anything, so it names every path.
bool names_file(const Rules& rules, const ProcessRef& process, std::string_view path);
// True when an upload tool names `path` as something to send (`scp -i KEY ~/.ssh/id_rsa host:`
// names id_rsa, not KEY): even a consumer of the file's class sends it then.
bool tool_names_file_as_data(const Rules& rules, const ProcessRef& process, std::string_view path);

// A destination argument taken apart: `s3://bucket/key` (scheme s3, path bucket/key),
// `https://host/path`, `remote:path` (rclone), `user@host:path` (scp), restic's `s3:host/bucket`.
struct DestinationParts {
    std::string scheme;  // "s3", "https"; empty for remote:path and host:path
    std::string remote;  // rclone/restic remote name
    std::string host;    // normalized; empty when the argument names none
    std::string path;    // without a leading '/'
};
DestinationParts parse_destination(std::string_view argument);

// The declared own-storage destination an upload goes to, or nullptr: the analysed command's
// tool is trusted with it, its destination argument starts with the declared path (or names the
// remote), and the flow's normalized domain matches the declared domain.
const OwnDestination* own_destination(const Rules& rules, const CommandAnalysis& command, std::string_view flow_domain);

using util::base_name;

}  // namespace exfilwatch::detect
