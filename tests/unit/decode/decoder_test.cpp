// Tests userspace/decode/decoder.cpp: records built as the BPF side builds them, and records that
// lie about their sizes.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "decode/decoder.hpp"

using namespace exfilwatch;
using namespace exfilwatch::wire;

namespace {

template <typename T>
std::vector<std::byte> bytes_of(const T& fixed, std::string_view tail = {})
{
    std::vector<std::byte> out(sizeof(T) + tail.size());
    std::memcpy(out.data(), &fixed, sizeof(T));
    if (!tail.empty()) std::memcpy(out.data() + sizeof(T), tail.data(), tail.size());
    return out;
}

template <typename T>
void fill_header(T& rec, std::uint16_t kind, std::size_t size)
{
    rec.hdr.kind = kind;
    rec.hdr.version = EW_RECORD_VERSION;
    rec.hdr.size = static_cast<std::uint32_t>(size);
    rec.hdr.time_ns = 42;
    rec.hdr.pid = 1234;
    rec.hdr.tid = 1235;
}

}  // namespace

TEST_CASE("exec record: path components leaf first, argv with odd bytes")
{
    const std::string exe("echo\0bin\0usr\0", 13);
    const std::string args("/bin/echo\0a b\0\xff\0\"q\"\0", 20);
    ew_exec raw{};
    fill_header(raw, EW_REC_EXEC, sizeof(raw) + exe.size() + args.size());
    raw.ppid = 7;
    raw.uid = 1000;
    raw.exe_size = static_cast<std::uint16_t>(exe.size());
    raw.args_size = static_cast<std::uint16_t>(args.size());
    std::memcpy(raw.comm, "echo", 5);
    auto bytes = bytes_of(raw, exe + args);

    auto result = decode::decode_record(bytes);
    REQUIRE(std::holds_alternative<decode::Record>(result));
    const auto& exec = std::get<decode::Exec>(std::get<decode::Record>(result));
    CHECK(exec.header.pid == 1234);
    CHECK(exec.ppid == 7);
    CHECK(exec.uid == 1000);
    CHECK(exec.comm == "echo");
    CHECK(exec.executable == "/usr/bin/echo");
    REQUIRE(exec.args.size() == 4);
    CHECK(exec.args[0] == "/bin/echo");
    CHECK(exec.args[1] == "a b");
    CHECK(exec.args[2] == "\xff");
    CHECK(exec.args[3] == "\"q\"");
}

TEST_CASE("exec record: cgroup v2 levels leaf first after argv")
{
    // As the kernel side writes them for a docker (cgroupfs driver) container: leaf first.
    const std::string id = "f20fa25f3ba3d9c4f847bfe4d6efec688eaf1fc92206fcea367e5067eed6e9b9";
    const std::string exe("wget\0bin\0", 10);
    const std::string args("wget\0-q\0", 8);
    const std::string cgroup = id + std::string("\0docker\0", 8);
    ew_exec raw{};
    fill_header(raw, EW_REC_EXEC, sizeof(raw) + exe.size() + args.size() + cgroup.size());
    raw.exe_size = static_cast<std::uint16_t>(exe.size());
    raw.args_size = static_cast<std::uint16_t>(args.size());
    raw.cgroup_size = static_cast<std::uint16_t>(cgroup.size());
    auto result = decode::decode_record(bytes_of(raw, exe + args + cgroup));
    REQUIRE(std::holds_alternative<decode::Record>(result));
    const auto& exec = std::get<decode::Exec>(std::get<decode::Record>(result));
    CHECK(exec.executable == "/bin/wget");
    CHECK(exec.args == std::vector<std::string>{"wget", "-q"});
    CHECK(exec.cgroup_path == "/docker/" + id);

    raw.cgroup_size = 0;  // the root cgroup (or a cgroup v1 only host): no levels
    fill_header(raw, EW_REC_EXEC, sizeof(raw) + exe.size() + args.size());
    result = decode::decode_record(bytes_of(raw, exe + args));
    REQUIRE(std::holds_alternative<decode::Record>(result));
    CHECK(std::get<decode::Exec>(std::get<decode::Record>(result)).cgroup_path.empty());

    raw.cgroup_size = 9;  // past the end of the record
    fill_header(raw, EW_REC_EXEC, sizeof(raw) + exe.size() + args.size() + 6);
    result = decode::decode_record(bytes_of(raw, exe + args + "docker"));
    REQUIRE(std::holds_alternative<decode::DecodeError>(result));
}

TEST_CASE("exec record whose sizes exceed the record is rejected")
{
    ew_exec raw{};
    fill_header(raw, EW_REC_EXEC, sizeof(raw) + 4);
    raw.exe_size = 4;
    raw.args_size = 100;
    auto bytes = bytes_of(raw, "abcd");
    auto result = decode::decode_record(bytes);
    REQUIRE(std::holds_alternative<decode::DecodeError>(result));
    CHECK(std::get<decode::DecodeError>(result).reason.find("exceed") != std::string::npos);
}

TEST_CASE("header size larger than the bytes, wrong version, unknown kind, short input")
{
    ew_exit raw{};
    fill_header(raw, EW_REC_EXIT, sizeof(raw) + 1);
    CHECK(std::holds_alternative<decode::DecodeError>(decode::decode_record(bytes_of(raw))));
    fill_header(raw, EW_REC_EXIT, sizeof(raw));
    raw.hdr.version = 99;
    CHECK(std::holds_alternative<decode::DecodeError>(decode::decode_record(bytes_of(raw))));
    fill_header(raw, 77, sizeof(raw));
    CHECK(std::holds_alternative<decode::DecodeError>(decode::decode_record(bytes_of(raw))));
    std::vector<std::byte> tiny(3);
    CHECK(std::holds_alternative<decode::DecodeError>(decode::decode_record(tiny)));
}

TEST_CASE("file-open record: relative name joined onto the walked directory")
{
    const std::string name("tmp/ew-f\0", 9);
    const std::string base("", 0);
    ew_file_open raw{};
    fill_header(raw, EW_REC_FILE_OPEN, sizeof(raw) + name.size());
    raw.fd = 3;
    raw.dirfd = -100;
    raw.name_size = static_cast<std::uint16_t>(name.size());
    raw.base_size = 0;
    raw.path_flags = EW_PATH_BASE_WALKED;
    raw.ino = 99;
    auto result = decode::decode_record(bytes_of(raw, name + base));
    REQUIRE(std::holds_alternative<decode::Record>(result));
    const auto& open = std::get<decode::FileOpen>(std::get<decode::Record>(result));
    CHECK(open.requested_path == "tmp/ew-f");
    CHECK(open.base_directory == "/");
    CHECK(decode::resolve_path(open.base_directory, open.requested_path) == "/tmp/ew-f");
    CHECK(open.inode == 99);
}

TEST_CASE("file-open record: the opened file's own walked path, whatever the name said")
{
    const std::string name("/usr/lib/../../tmp/k\0", 21);
    const std::string walked("id_rsa\0.ssh\0u\0home\0", 19);
    ew_file_open raw{};
    fill_header(raw, EW_REC_FILE_OPEN, sizeof(raw) + name.size() + walked.size());
    raw.fd = 4;
    raw.name_size = static_cast<std::uint16_t>(name.size());
    raw.base_size = static_cast<std::uint16_t>(walked.size());
    raw.base_depth = 4;
    raw.path_flags = EW_PATH_ABSOLUTE | EW_PATH_RESOLVED;
    auto result = decode::decode_record(bytes_of(raw, name + walked));
    REQUIRE(std::holds_alternative<decode::Record>(result));
    const auto& open = std::get<decode::FileOpen>(std::get<decode::Record>(result));
    CHECK(open.requested_path == "/usr/lib/../../tmp/k");
    CHECK(open.resolved_path == "/home/u/.ssh/id_rsa");
    CHECK(open.base_directory.empty());
}

TEST_CASE("object-io record: kind, id, direction and the cumulative count; unknown kinds rejected")
{
    ew_object_io raw{};
    fill_header(raw, EW_REC_OBJECT_IO, sizeof(raw));
    raw.object_id = 180332;
    raw.bytes = 4096;
    raw.fd = 1;
    raw.kind = EW_OBJ_PIPE;
    raw.direction = EW_IO_WRITE;
    raw.first = 1;
    auto result = decode::decode_record(bytes_of(raw));
    REQUIRE(std::holds_alternative<decode::Record>(result));
    const auto& io = std::get<decode::ObjectIo>(std::get<decode::Record>(result));
    CHECK(io.object_id == 180332);
    CHECK(io.bytes == 4096);
    CHECK(io.fd == 1);
    CHECK(io.kind == EW_OBJ_PIPE);
    CHECK(io.direction == EW_IO_WRITE);
    CHECK(io.first);
    raw.kind = 9;
    CHECK(std::holds_alternative<decode::DecodeError>(decode::decode_record(bytes_of(raw))));
    raw.kind = EW_OBJ_UNIX;
    fill_header(raw, EW_REC_OBJECT_IO, sizeof(raw) - 1);
    CHECK(std::holds_alternative<decode::DecodeError>(decode::decode_record(bytes_of(raw))));
}

TEST_CASE("flow-data record carries exactly data_size bytes")
{
    ew_flow_data raw{};
    fill_header(raw, EW_REC_FLOW_DATA, sizeof(raw) + 5);
    raw.cookie = 77;
    raw.data_size = 5;
    raw.direction = EW_DIR_IN;
    raw.datagram = 1;
    auto result = decode::decode_record(bytes_of(raw, "hello"));
    REQUIRE(std::holds_alternative<decode::Record>(result));
    const auto& data = std::get<decode::FlowData>(std::get<decode::Record>(result));
    CHECK(data.cookie == 77);
    CHECK(data.inbound);
    CHECK(data.datagram);
    REQUIRE(data.data.size() == 5);
    CHECK(static_cast<char>(data.data[0]) == 'h');

    raw.data_size = 50;  // lies
    CHECK(std::holds_alternative<decode::DecodeError>(decode::decode_record(bytes_of(raw, "hello"))));
}

TEST_CASE("flow-start record carries the owner flag and the socket inode")
{
    ew_flow_start raw{};
    fill_header(raw, EW_REC_FLOW_START, sizeof(raw));
    raw.cookie = 9;
    raw.tuple.family = EW_AF_INET;
    raw.tuple.protocol = EW_PROTO_TCP;
    raw.tuple.dport = 8443;
    raw.owner_known = 0;
    raw.socket_inode = 123456789012ULL;
    auto result = decode::decode_record(bytes_of(raw));
    REQUIRE(std::holds_alternative<decode::Record>(result));
    const auto& start = std::get<decode::FlowStart>(std::get<decode::Record>(result));
    CHECK(start.cookie == 9);
    CHECK_FALSE(start.owner_known);
    CHECK(start.socket_inode == 123456789012ULL);
    CHECK(start.tuple.dport == 8443);
    CHECK(start.tuple.family == decode::Family::ipv4);  // typed: nothing past decode sees EW_AF_*
    CHECK(start.tuple.protocol == decode::Protocol::tcp);

    raw.tuple.family = EW_AF_INET6;
    raw.tuple.protocol = EW_PROTO_UDP;
    const auto v6_result = decode::decode_record(bytes_of(raw));
    const auto& v6 = std::get<decode::FlowStart>(std::get<decode::Record>(v6_result));
    CHECK(v6.tuple.family == decode::Family::ipv6);
    CHECK(v6.tuple.protocol == decode::Protocol::udp);
    raw.tuple.family = 99;
    raw.tuple.protocol = 1;  // ICMP: not a protocol the programs track
    const auto odd_result = decode::decode_record(bytes_of(raw));
    const auto& odd = std::get<decode::FlowStart>(std::get<decode::Record>(odd_result));
    CHECK(odd.tuple.family == decode::Family::unknown);
    CHECK(odd.tuple.protocol == decode::Protocol::other);
    raw.tuple.family = EW_AF_INET;
    raw.tuple.protocol = EW_PROTO_TCP;

    auto short_record = bytes_of(raw);
    short_record.resize(sizeof(raw) - 8);  // the layout before socket_inode
    fill_header(raw, EW_REC_FLOW_START, short_record.size());
    std::memcpy(short_record.data(), &raw, sizeof(raw.hdr));
    CHECK(std::holds_alternative<decode::DecodeError>(decode::decode_record(short_record)));
}

TEST_CASE("flow-end record carries the kernel's TCP counters")
{
    ew_flow_end raw{};
    fill_header(raw, EW_REC_FLOW_END, sizeof(raw));
    raw.cookie = 5;
    raw.bytes_out = 10;
    raw.tcp_bytes_acked = 4096;
    raw.tcp_bytes_received = 17;
    auto result = decode::decode_record(bytes_of(raw));
    REQUIRE(std::holds_alternative<decode::Record>(result));
    const auto& end = std::get<decode::FlowCounters>(std::get<decode::Record>(result));
    CHECK(end.final);
    CHECK(end.bytes_out == 10);
    CHECK(end.tcp_bytes_acked == 4096);
    CHECK(end.tcp_bytes_received == 17);
}

TEST_CASE("path helpers")
{
    using decode::resolve_path;
    CHECK(resolve_path("/home/u", "x") == "/home/u/x");
    CHECK(resolve_path("/home/u", "./a/../b") == "/home/u/b");
    CHECK(resolve_path("/home/u", "../../../etc/shadow") == "/etc/shadow");
    CHECK(resolve_path("/anything", "/abs//path/.") == "/abs/path");
    CHECK(resolve_path("", "rel") == "/rel");
    CHECK(resolve_path("/", "") == "/");

    const std::string comps("id_rsa\0.ssh\0root\0", 17);
    CHECK(decode::join_components(std::as_bytes(std::span(comps.data(), comps.size()))) == "/root/.ssh/id_rsa");
    CHECK(decode::join_components({}) == "/");

    std::array<std::uint8_t, 16> v4{127, 0, 0, 1};
    CHECK(decode::format_ip(decode::Family::ipv4, v4) == "127.0.0.1");
    std::array<std::uint8_t, 16> v6{};
    v6[15] = 1;
    CHECK(decode::format_ip(decode::Family::ipv6, v6) == "::1");
    std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
    CHECK(decode::format_ip(decode::Family::ipv6, mapped) == "10.1.2.3");
}

TEST_CASE("the decoder fuzz corpus: every seed decodes, every bad_* seed is refused")
{
    // Keeps tests/fuzz/decoder_corpus.py honest: a layout change in records.h that the generator
    // missed shows up here, not as a corpus of seeds that all stop at the first check.
    const std::filesystem::path dir = std::filesystem::path(EXFILWATCH_SOURCE_DIR) / "tests/fuzz/corpus/decoder";
    std::size_t good = 0, bad = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::ifstream in(entry.path(), std::ios::binary);
        const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto result = decode::decode_record(std::as_bytes(std::span(data.data(), data.size())));
        const bool refused = std::holds_alternative<decode::DecodeError>(result);
        const bool expect_refusal = entry.path().filename().string().starts_with("bad_");
        INFO(entry.path().filename().string());
        CHECK(refused == expect_refusal);
        ++(expect_refusal ? bad : good);
    }
    CHECK(good >= 9);  // one seed at least per record kind
    CHECK(bad >= 5);
}
