// detect: what a command line says. Which upload tool a process is (by name, or by its flags when
// it was copied under another name), whether its arguments upload or download, and whether it
// names a given file. Pure functions of Rules and a ProcessRef.
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
};

CommandAnalysis analyze_command(const Rules& rules, const ProcessRef& process);

// Names a process goes by: executable basename, argv[0] basename and, for an interpreter running a
// script (`python3 /usr/bin/aws ...`), the script's basename.
std::vector<std::string> process_names(const ProcessRef& process);
bool any_name_matches(const std::vector<std::string>& globs, const ProcessRef& process);

// True when an argument of `process` names `path` (`@/home/u/.netrc`, `--post-file=.bash_history`,
// `~/.ssh/id_rsa`).
bool names_file(const ProcessRef& process, std::string_view path);

using util::base_name;

}  // namespace exfilwatch::detect
