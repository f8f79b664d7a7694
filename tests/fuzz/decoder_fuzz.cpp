// libFuzzer target for decode/: any bytes as one ring-buffer record. Never reads past the record
// (ASan would say so), never crashes, and what it accepts is consistent with the bytes: sizes fit
// the record, a record cut short is refused, bytes after the header's size change nothing.
#include "decode/decoder.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <variant>

namespace {

namespace d = exfilwatch::decode;

// A path from resolve_path is absolute and normal: no empty, "." or ".." component.
void check_normal_path(const std::string& path)
{
    if (path.empty() || path.front() != '/') std::abort();
    if (path.size() > 1 && path.back() == '/') std::abort();
    if (path.find("//") != std::string::npos) std::abort();
    if (path.find("/./") != std::string::npos || path.find("/../") != std::string::npos) std::abort();
    if (path.ends_with("/.") || path.ends_with("/..")) std::abort();
}

void check_record(const d::Record& record, std::size_t record_size)
{
    std::visit(
        [record_size](const auto& r) {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, d::Exec>) {
                std::size_t arg_bytes = 0;
                for (const auto& arg : r.args) arg_bytes += arg.size();
                if (arg_bytes > record_size || r.executable.empty() || r.executable.front() != '/') std::abort();
                if (r.comm.size() >= 17) std::abort();
            } else if constexpr (std::is_same_v<T, d::FileOpen>) {
                if (r.requested_path.size() > record_size || r.base_directory.size() > record_size + 1 ||
                    r.resolved_path.size() > record_size + 1)
                    std::abort();
                if (r.requested_path.find('\0') != std::string::npos) std::abort();
            } else if constexpr (std::is_same_v<T, d::FlowData>) {
                if (r.data.size() > record_size) std::abort();
            } else if constexpr (std::is_same_v<T, d::ObjectIo>) {
                if (r.kind > EW_OBJ_CMDLINE || r.direction > EW_IO_WRITE) std::abort();
            } else if constexpr (std::is_same_v<T, d::Fork>) {
                if (r.comm.size() >= 17) std::abort();
            }
        },
        record);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto bytes = std::as_bytes(std::span(data, size));
    const auto result = d::decode_record(bytes);

    exfilwatch::wire::ew_header header{};
    const bool has_header = size >= sizeof(header);
    if (has_header) std::memcpy(&header, data, sizeof(header));

    if (const auto* record = std::get_if<d::Record>(&result)) {
        // Accepted: the header was whole, of our version, and its size within the bytes.
        if (!has_header || header.version != EW_RECORD_VERSION || header.size > size || header.size < sizeof(header))
            std::abort();
        check_record(*record, header.size);
        // The record ends where its header says: trailing bytes are ignored...
        if (header.size < size && !std::holds_alternative<d::Record>(d::decode_record(bytes.first(header.size))))
            std::abort();
        // ...and one byte less is always refused (the size no longer fits).
        if (!std::holds_alternative<d::DecodeError>(d::decode_record(bytes.first(header.size - 1)))) std::abort();
    } else if (std::get<d::DecodeError>(result).reason.empty()) {
        std::abort();  // a refusal always says why
    }

    // The helpers on raw bytes too.
    const auto joined = d::join_components(bytes);
    if (joined.empty() || joined.front() != '/') std::abort();
    const auto args = d::split_args(bytes);
    std::size_t arg_bytes = 0;
    for (const auto& arg : args) arg_bytes += arg.size() + 1;
    if (arg_bytes > size + 1) std::abort();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto cut = text.find('\0');
    check_normal_path(d::resolve_path(text.substr(0, cut), cut == std::string_view::npos ? "" : text.substr(cut + 1)));
    if (size >= 17) {
        std::array<std::uint8_t, 16> addr{};
        std::memcpy(addr.data(), data + 1, 16);
        (void)d::format_ip(data[0] & 1 ? d::Family::ipv6 : d::Family::ipv4, addr);
    }
    return 0;
}
