// Tests userspace/kernel/tracefs_uprobe.cpp: the ELF lookup that places a uprobe (a function's
// file offset), checked against the code the dynamic loader mapped for the same function.
#include <dlfcn.h>
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernel/tracefs_uprobe.hpp"
#include "temp_dir.hpp"

using namespace exfilwatch::kernel;

namespace {

std::vector<char> file_bytes(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a shared library's function is found at the file offset of its mapped code")
{
    for (const char* function : {"getpid", "write", "memcpy_chk_is_not_here"}) {
        void* address = dlsym(RTLD_DEFAULT, function);
        Dl_info info{};
        if (!address) {
            CHECK_FALSE(elf_function_offset("/lib/x86_64-linux-gnu/libc.so.6", function).has_value());
            continue;
        }
        REQUIRE(dladdr(address, &info) != 0);
        auto offset = elf_function_offset(info.dli_fname, function);
        REQUIRE(offset.has_value());
        auto bytes = file_bytes(info.dli_fname);
        REQUIRE(*offset + 16 <= bytes.size());
        CHECK(std::memcmp(bytes.data() + *offset, address, 16) == 0);
    }
}

TEST_CASE("no offset for what is not a 64-bit ELF function")
{
    exfilwatch::test::TempDir dir("tracefs-uprobe");
    auto text = (dir.path / "text").string();
    std::ofstream(text) << "not an ELF file\n";
    CHECK_FALSE(elf_function_offset(text, "main").has_value());
    CHECK_FALSE(elf_function_offset((dir.path / "missing").string(), "main").has_value());

    // A library cut after its ELF header: section and segment tables past the end of the file.
    Dl_info info{};
    REQUIRE(dladdr(dlsym(RTLD_DEFAULT, "getpid"), &info) != 0);
    auto bytes = file_bytes(info.dli_fname);
    auto cut = (dir.path / "cut.so").string();
    std::ofstream(cut, std::ios::binary).write(bytes.data(), 64);
    CHECK_FALSE(elf_function_offset(cut, "getpid").has_value());

    // A data symbol is not a function.
    CHECK_FALSE(elf_function_offset(info.dli_fname, "environ").has_value());
}
