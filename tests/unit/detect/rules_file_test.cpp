// Tests userspace/detect/rules_file.cpp: which rules files `run` trusts, and loading them.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "detect/rules_file.hpp"
#include "temp_dir.hpp"

using namespace exfilwatch::detect;
namespace fs = std::filesystem;

namespace {

struct RulesDir {
    exfilwatch::test::TempDir dir{"ew-rulesfile"};
    fs::path path = dir.path;
    RulesDir() { ::chmod(path.c_str(), 0755); }
    fs::path write(const std::string& name, const std::string& text, mode_t mode = 0644)
    {
        auto file = path / name;
        std::ofstream(file) << text;
        ::chmod(file.c_str(), mode);
        return file;
    }
};

}  // namespace

TEST_CASE("a rules file only its owner can change is read; one others can change is refused, saying why")
{
    RulesDir dir;
    auto good = dir.write("good.yaml", "version: 1\n");
    CHECK(read_trusted_rules_file(good.string()) == "version: 1\n");
    CHECK(read_rules_file(good.string()) == "version: 1\n");

    auto open_to_all = dir.write("open.yaml", "version: 1\n", 0666);
    CHECK_THROWS_WITH_AS(read_trusted_rules_file(open_to_all.string()), doctest::Contains("writable by everyone"),
                         std::runtime_error);
    CHECK(read_rules_file(open_to_all.string()) == "version: 1\n");  // `rules check` reads anything

    CHECK_THROWS_WITH_AS(read_trusted_rules_file(dir.path.string()), doctest::Contains("not a regular file"),
                         std::runtime_error);
    CHECK_THROWS_AS(read_rules_file((dir.path / "missing.yaml").string()), std::runtime_error);

    ::chmod(dir.path.c_str(), 0775);  // a directory its group can change: the file can be replaced
    CHECK_THROWS_WITH_AS(read_trusted_rules_file(good.string()), doctest::Contains("writable by its group"),
                         std::runtime_error);
}

TEST_CASE("no path loads the built-in rules; a bad file throws with its position")
{
    auto builtin = load_rules_file("", true);
    CHECK(builtin.settings.alert_threshold > 0);
    RulesDir dir;
    auto bad = dir.write("bad.yaml", "version: [\n");
    CHECK_THROWS_WITH_AS(load_rules_file(bad.string(), false), doctest::Contains("bad.yaml:"), std::runtime_error);
}

TEST_CASE("the built-in rules and the defaults of a file that leaves settings out are the same numbers")
{
    // One source of defaults: rules.hpp said 1024/256 overhead bytes while the built-in rules said 512/128.
    const Settings defaults;
    const auto builtin = load_rules_file("", false).settings;
    CHECK(builtin.alert_threshold == defaults.alert_threshold);
    CHECK(builtin.realert_step == defaults.realert_step);
    CHECK(builtin.window_ns == defaults.window_ns);
    CHECK(builtin.max_processes == defaults.max_processes);
    CHECK(builtin.max_pairs == defaults.max_pairs);
    CHECK(builtin.max_flows == defaults.max_flows);
    CHECK(builtin.max_staging_files == defaults.max_staging_files);
    CHECK(builtin.max_destinations == defaults.max_destinations);
    CHECK(builtin.max_reads_per_process == defaults.max_reads_per_process);
    CHECK(builtin.tls_overhead_bytes == defaults.tls_overhead_bytes);
    CHECK(builtin.http_overhead_bytes == defaults.http_overhead_bytes);
    CHECK(builtin.min_upload_bytes == defaults.min_upload_bytes);
    CHECK(builtin.upload_ratio == defaults.upload_ratio);
    CHECK(builtin.download_ratio == defaults.download_ratio);
    CHECK(builtin.min_download_bytes == defaults.min_download_bytes);
    CHECK(builtin.bulk_upload_bytes == defaults.bulk_upload_bytes);
    CHECK(builtin.require_data == defaults.require_data);
}
