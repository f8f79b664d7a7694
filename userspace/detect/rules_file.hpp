// detect: where the rules come from: the built-in rules, a file, or a file `run` trusts (owned by
// root or the monitor's user, not writable by others, in a directory others cannot change), since
// the rules decide what is never alerted on.
#pragma once

#include <string>

#include "detect/rules.hpp"

namespace exfilwatch::detect {

// The whole file; throws std::runtime_error naming it when it cannot be read.
std::string read_rules_file(const std::string& path);

// The whole file, read through one descriptor (the file checked is the file read); throws
// std::runtime_error saying why when it or its directory could be changed by someone other than
// root or the effective user, or when it is not a regular file.
std::string read_trusted_rules_file(const std::string& path);

// Loads `path` (empty: the built-in rules), trusted or not; throws std::runtime_error with
// file:line:column on a bad file.
Rules load_rules_file(const std::string& path, bool require_trusted);

}  // namespace exfilwatch::detect
