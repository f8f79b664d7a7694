// Tests for output/sink.cpp over real pipes and files: a fast reader gets every line in order, a
// stalled reader costs counted dropped lines (never a stall), a closed reader breaks the sink.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/sink.hpp"

using namespace exfilwatch::output;
using namespace std::chrono_literals;

namespace {

struct Pipe {
    int r = -1, w = -1;
    Pipe()
    {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        r = fds[0];
        w = fds[1];
    }
    ~Pipe()
    {
        if (r >= 0) ::close(r);
        if (w >= 0) ::close(w);
    }
};

std::string read_all(int fd)
{
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

std::string line_of(int i)
{
    return "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(100, 'x') + "\"}";
}

}  // namespace

TEST_CASE("pipe with a fast reader: every line arrives, in order, after close")
{
    std::signal(SIGPIPE, SIG_IGN);
    Pipe p;
    std::string received;
    std::thread reader([&] { received = read_all(p.r); });
    {
        NdjsonSink sink(p.w);
        for (int i = 0; i < 20000; ++i) CHECK(sink.write_line(line_of(i)));
        sink.close(5s);
        CHECK(sink.dropped_lines() == 0);
        CHECK(sink.written_lines() == 20000);
        CHECK_FALSE(sink.broken());
    }
    ::close(p.w);
    p.w = -1;
    reader.join();
    std::string expected;
    for (int i = 0; i < 20000; ++i) expected += line_of(i) + "\n";
    CHECK(received == expected);
}

TEST_CASE("stalled reader: bounded buffer, whole lines dropped and counted, no stall")
{
    std::signal(SIGPIPE, SIG_IGN);
    Pipe p;
    SinkOptions options;
    options.buffer_limit = 64 * 1024;
    options.full_wait = 1ms;
    auto owned = std::make_unique<NdjsonSink>(p.w, options);
    auto& sink = *owned;
    const auto start = std::chrono::steady_clock::now();
    int accepted = 0;
    const int total = 20000;  // ~2.3 MB: far more than the pipe (64 KiB) plus the buffer
    for (int i = 0; i < total; ++i) accepted += sink.write_line(line_of(i));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed < 10s);  // each full-buffer wait is bounded by full_wait
    CHECK(sink.dropped_lines() > 0);
    CHECK(static_cast<std::uint64_t>(accepted) + sink.dropped_lines() == total);
    CHECK(sink.buffered_bytes() <= options.buffer_limit);
    CHECK_FALSE(sink.broken());

    // The reader wakes up: what it gets is whole lines only, in order, none duplicated.
    std::string received;
    std::thread reader([&] { received = read_all(p.r); });
    sink.close(5s);
    CHECK(sink.written_lines() == static_cast<std::uint64_t>(accepted));
    owned.reset();  // closes its private reopened descriptor of the pipe
    ::close(p.w);
    p.w = -1;
    reader.join();
    std::size_t lines = 0, pos = 0;
    int last = -1;
    while (pos < received.size()) {
        auto nl = received.find('\n', pos);
        REQUIRE(nl != std::string::npos);
        auto line = received.substr(pos, nl - pos);
        REQUIRE(line.rfind("{\"n\":", 0) == 0);
        int n = std::stoi(line.substr(5));
        CHECK(line == line_of(n));
        CHECK(n > last);
        last = n;
        ++lines;
        pos = nl + 1;
    }
    CHECK(lines == static_cast<std::size_t>(accepted));
}

TEST_CASE("closed reader: the sink breaks, says why, and drops instead of writing")
{
    std::signal(SIGPIPE, SIG_IGN);
    Pipe p;
    ::close(p.r);
    p.r = -1;
    SinkOptions options;
    options.flush_threshold = 1;  // write on every line
    NdjsonSink sink(p.w, options);
    sink.write_line("{}");
    sink.flush(100ms);
    CHECK(sink.broken());
    CHECK_FALSE(sink.error().empty());
    CHECK_FALSE(sink.write_line("{}"));
    CHECK(sink.dropped_lines() >= 1);
}

TEST_CASE("reader that goes away mid-stream breaks the sink")
{
    std::signal(SIGPIPE, SIG_IGN);
    Pipe p;
    NdjsonSink sink(p.w);
    for (int i = 0; i < 100; ++i) sink.write_line(line_of(i));
    sink.flush(1s);
    char buf[512];
    CHECK(::read(p.r, buf, sizeof buf) > 0);
    ::close(p.r);
    p.r = -1;
    for (int i = 0; i < 1000 && !sink.broken(); ++i) {
        sink.write_line(line_of(i));
        sink.flush(10ms);
    }
    CHECK(sink.broken());
}

TEST_CASE("flush interval: a lone line is written without a flush call once it is due")
{
    std::signal(SIGPIPE, SIG_IGN);
    Pipe p;
    SinkOptions options;
    options.flush_interval = 0ms;
    NdjsonSink sink(p.w, options);
    for (int i = 0; i < 64; ++i) sink.write_line("{}");  // the clock is read every 64 lines
    CHECK(sink.buffered_bytes() == 0);
    CHECK(sink.written_lines() == 64);
}

TEST_CASE("output file: created 0640 and truncated, every line written")
{
    char dir[] = "/tmp/ew_sink_XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/out.ndjson";
    {
        auto sink = NdjsonSink::open_file(path);
        for (int i = 0; i < 1000; ++i) sink->write_line(line_of(i));
    }
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == (0640 & ~[] {
              mode_t m = ::umask(0);
              ::umask(m);
              return m;
          }()));
    int fd = ::open(path.c_str(), O_RDONLY);
    std::string content = read_all(fd);
    ::close(fd);
    std::string expected;
    for (int i = 0; i < 1000; ++i) expected += line_of(i) + "\n";
    CHECK(content == expected);
    {
        auto sink = NdjsonSink::open_file(path);  // truncates
        sink->write_line("{}");
    }
    fd = ::open(path.c_str(), O_RDONLY);
    CHECK(read_all(fd) == "{}\n");
    ::close(fd);
    ::unlink(path.c_str());
    ::rmdir(dir);
    CHECK_THROWS_WITH_AS(NdjsonSink::open_file("/nonexistent-dir/x.ndjson"),
                         doctest::Contains("cannot open output /nonexistent-dir/x.ndjson"), std::runtime_error);
}
