// Tests detect/recurring.cpp and the engine's `recurring` signal: a job seen on an earlier day
// (same executable, destination, order of volume) scores lower; a new destination never does;
// the memory is bounded and survives a round trip through its text form.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include "detect/recurring.hpp"
#include "timeline.hpp"

using namespace exfilwatch;
using namespace exfilwatch::detect;
using namespace exfilwatch::detect::test;

TEST_CASE("job memory: earlier days only, same destination, within one order of magnitude")
{
    JobMemory m(8);
    m.note("/usr/bin/rclone", "s3.amazonaws.com", 5'000'000, 100);
    CHECK(m.earlier("/usr/bin/rclone", "s3.amazonaws.com", 5'000'000, 100) == nullptr);  // same day
    CHECK(m.earlier("/usr/bin/rclone", "s3.amazonaws.com", 9'000'000, 101) != nullptr);
    CHECK(m.earlier("/usr/bin/rclone", "s3.amazonaws.com", 40'000'000, 101) != nullptr);
    CHECK(m.earlier("/usr/bin/rclone", "s3.amazonaws.com", 400'000'000, 101) == nullptr);  // 100x more
    CHECK(m.earlier("/usr/bin/rclone", "drop.example.net", 5'000'000, 101) == nullptr);
    CHECK(m.earlier("/tmp/rclone", "s3.amazonaws.com", 5'000'000, 101) == nullptr);
    m.note("/usr/bin/rclone", "s3.amazonaws.com", 5'000'000, 101);
    REQUIRE(m.jobs().size() == 1);
    CHECK(m.jobs()[0].days == 2);
    CHECK(m.jobs()[0].last_day == 101);
}

TEST_CASE("job memory: bounded, least recently seen evicted; text round trip; junk skipped")
{
    JobMemory m(3);
    for (std::uint32_t d = 0; d < 5; ++d) m.note("/usr/bin/restic", fmt::format("h{}.example.org", d), 2000, d);
    CHECK(m.jobs().size() == 3);
    CHECK(m.evicted() == 2);
    m.note("/usr/bin/x\tevil", "h.example.org", 2000, 9);  // a tab cannot enter the file
    CHECK(m.jobs().size() == 3);
    std::size_t bad = 0;
    auto back = JobMemory::parse(m.serialize(), 3, bad);
    CHECK(bad == 0);
    CHECK(back.jobs().size() == 3);
    CHECK(back.earlier("/usr/bin/restic", "h4.example.org", 2000, 5) != nullptr);
    auto junk = JobMemory::parse(m.serialize() + "1\t2\tx\t3\t/usr/bin/a\tb\n7\t3\t1\t1\t/a\tb\nshort\n", 8, bad);
    CHECK(bad == 3);
    CHECK(junk.jobs().size() == 3);
    auto foreign = JobMemory::parse("something else\n1\t1\t1\t1\t/a\tb\n", 8, bad);
    CHECK(foreign.jobs().empty());
}

namespace {

// One nightly backup: tar of the home (a key and documents in it) piped to aws, at `day`.
int nightly(Timeline& tl, std::uint64_t day, const std::string& bucket_host)
{
    tl.t = day * 86'400'000'000'000ULL + 2 * 3'600'000'000'000ULL;
    auto shell = tl.start_shell();
    auto tar = tl.spawn(shell, {"tar", "czf", "-", home}, {}, 0, 0, 91 + day);
    auto aws = tl.spawn(shell, {"/usr/bin/python3", "/usr/bin/aws", "s3", "cp", "-", "s3://nightly/h.tgz"},
                        "/usr/bin/python3.11", 0, 91 + day);
    tl.read(tar, home + "/.ssh/id_ed25519", 420);
    tl.read(tar, home + "/Documents/plan.pdf", 900'000);
    auto before = tl.alerts.size();
    tl.transfer(aws, bucket_host, 700'000, 9000);
    int score = 0;
    for (auto i = before; i < tl.alerts.size(); ++i) score = std::max(score, tl.alerts[i].risk_score);
    return score;
}

}  // namespace

TEST_CASE("recurring: the nightly job scores lower from its second day; the same job to a new destination does not")
{
    JobMemory memory;
    Timeline tl;
    tl.engine.set_job_memory(&memory);
    int first = nightly(tl, 20000, "nightly.s3.amazonaws.com");
    CHECK(first >= 60);
    auto after_first = tl.alerts.size();
    int second = nightly(tl, 20001, "nightly.s3.amazonaws.com");
    CHECK(second <= first - 20);  // a key in the archive still alerts, 20 lower
    auto after_second = tl.alerts.size();
    int elsewhere = nightly(tl, 20002, "drop.s3.amazonaws.com");
    CHECK(elsewhere >= first - 5);  // only first-seen-destination may differ
    auto has_recurring = [&](std::size_t from, std::size_t to) {
        bool said = false;
        for (auto i = from; i < to; ++i)
            for (const auto& s : tl.alerts[i].signals) said = said || s.name == "recurring";
        return said;
    };
    CHECK_FALSE(has_recurring(0, after_first));
    CHECK(has_recurring(after_first, after_second));
    CHECK_FALSE(has_recurring(after_second, tl.alerts.size()));
}

TEST_CASE("recurring: documents-only nightly job goes under the threshold on its second day")
{
    JobMemory memory;
    Timeline tl;
    tl.engine.set_job_memory(&memory);
    auto night = [&](std::uint64_t day) {
        tl.t = day * 86'400'000'000'000ULL;
        auto shell = tl.start_shell();
        auto rc = tl.spawn(shell, {"rclone", "sync", home + "/Documents", "b2:docs"});
        tl.read(rc, home + "/Documents/plan.pdf", 900'000);
        auto before = tl.alerts.size();
        tl.transfer(rc, "api.backblazeb2.com", 950'000, 30'000);
        return tl.alerts.size() > before;
    };
    CHECK(night(20000));
    CHECK_FALSE(night(20001));
    CHECK_FALSE(night(20002));
}

TEST_CASE("recurring: off without a memory")
{
    Timeline tl;
    CHECK(nightly(tl, 20000, "nightly.s3.amazonaws.com") >= 60);
    CHECK(nightly(tl, 20001, "nightly.s3.amazonaws.com") >= 60);
}
