// Bounds-checked big-endian reader over a byte span, shared by the payload parsers (TLS, DNS).
// Every read either succeeds or leaves the reader failed; nothing reads past the span.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace exfilwatch::util {

class ByteReader {
public:
    explicit ByteReader(std::span<const std::byte> data, std::size_t pos = 0)
        : data_(data), pos_(pos <= data.size() ? pos : data.size()), ok_(pos <= data.size())
    {
    }

    bool ok() const { return ok_; }
    std::size_t pos() const { return pos_; }
    std::size_t size() const { return data_.size(); }
    std::size_t remaining() const { return data_.size() - pos_; }
    bool empty() const { return remaining() == 0; }
    std::span<const std::byte> data() const { return data_; }

    std::uint8_t u8() { return static_cast<std::uint8_t>(read_be(1)); }
    std::uint16_t u16() { return static_cast<std::uint16_t>(read_be(2)); }
    std::uint32_t u24() { return static_cast<std::uint32_t>(read_be(3)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(read_be(4)); }

    // The next n bytes (empty and failed when fewer remain).
    std::span<const std::byte> bytes(std::size_t n)
    {
        if (!ok_ || n > remaining()) {
            fail();
            return {};
        }
        auto out = data_.subspan(pos_, n);
        pos_ += n;
        return out;
    }

    bool skip(std::size_t n)
    {
        bytes(n);
        return ok_;
    }

    void fail()
    {
        ok_ = false;
        pos_ = data_.size();
    }

private:
    std::uint64_t read_be(std::size_t n)
    {
        if (!ok_ || n > remaining()) {
            fail();
            return 0;
        }
        std::uint64_t value = 0;
        for (std::size_t i = 0; i < n; ++i) {
            value = (value << 8) | static_cast<std::uint8_t>(data_[pos_ + i]);
        }
        pos_ += n;
        return value;
    }

    std::span<const std::byte> data_;
    std::size_t pos_;
    bool ok_;
};

inline std::uint8_t byte_at(std::span<const std::byte> data, std::size_t i)
{
    return static_cast<std::uint8_t>(data[i]);
}

inline std::uint16_t be16_at(std::span<const std::byte> data, std::size_t i)
{
    return static_cast<std::uint16_t>((byte_at(data, i) << 8) | byte_at(data, i + 1));
}

inline std::string_view as_chars(std::span<const std::byte> data)
{
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

inline std::span<const std::byte> as_bytes(std::string_view text)
{
    return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

}  // namespace exfilwatch::util
