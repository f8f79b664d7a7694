// kernel: uprobes through tracefs (see tracefs_uprobe.hpp).
#include "kernel/tracefs_uprobe.hpp"

#include <elf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <span>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace exfilwatch::kernel {
namespace {

// A read-only mapping of a whole file, unmapped when it goes.
class MappedFile {
public:
    explicit MappedFile(const std::string& path)
    {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        struct stat st {};
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
            void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
            if (p != MAP_FAILED) bytes_ = {static_cast<const std::byte*>(p), static_cast<std::size_t>(st.st_size)};
        }
        ::close(fd);
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile()
    {
        if (!bytes_.empty()) ::munmap(const_cast<std::byte*>(bytes_.data()), bytes_.size());
    }
    std::span<const std::byte> bytes() const { return bytes_; }

private:
    std::span<const std::byte> bytes_;
};

// A T at `offset` of `bytes`, copied (the file gives no alignment), when it fits.
template <typename T>
std::optional<T> read_at(std::span<const std::byte> bytes, std::uint64_t offset)
{
    if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return std::nullopt;
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

// The virtual address of `function` in the symbol table `symtab` (its strings in section `link`).
std::optional<std::uint64_t> find_symbol(std::span<const std::byte> file, const Elf64_Ehdr& header,
                                         const Elf64_Shdr& symtab, std::string_view function)
{
    auto strtab = read_at<Elf64_Shdr>(file, header.e_shoff + std::uint64_t{symtab.sh_link} * header.e_shentsize);
    if (!strtab || strtab->sh_offset > file.size() || file.size() - strtab->sh_offset < strtab->sh_size)
        return std::nullopt;
    auto strings = file.subspan(strtab->sh_offset, strtab->sh_size);
    if (symtab.sh_entsize < sizeof(Elf64_Sym)) return std::nullopt;
    for (std::uint64_t at = 0; at + symtab.sh_entsize <= symtab.sh_size; at += symtab.sh_entsize) {
        auto sym = read_at<Elf64_Sym>(file, symtab.sh_offset + at);
        if (!sym) return std::nullopt;
        if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_shndx == SHN_UNDEF || sym->st_value == 0) continue;
        if (sym->st_name >= strings.size()) continue;
        auto rest = strings.subspan(sym->st_name);
        std::size_t length = 0;
        while (length < rest.size() && rest[length] != std::byte{0}) ++length;
        if (length == rest.size()) continue;  // not terminated
        if (std::string_view(reinterpret_cast<const char*>(rest.data()), length) == function) return sym->st_value;
    }
    return std::nullopt;
}

bool write_file(const std::string& path, const std::string& text)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return false;
    auto n = ::write(fd, text.data(), text.size());
    int saved = errno;
    ::close(fd);
    errno = saved;
    return n == static_cast<ssize_t>(text.size());
}

}  // namespace

std::optional<std::uint64_t> elf_function_offset(const std::string& path, std::string_view function)
{
    MappedFile mapped(path);
    auto file = mapped.bytes();
    auto header = read_at<Elf64_Ehdr>(file, 0);
    if (!header || std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_ident[EI_CLASS] != ELFCLASS64 ||
        header->e_ident[EI_DATA] != ELFDATA2LSB || header->e_shentsize < sizeof(Elf64_Shdr) ||
        header->e_phentsize < sizeof(Elf64_Phdr))
        return std::nullopt;

    std::optional<std::uint64_t> address;
    for (std::uint32_t wanted : {SHT_SYMTAB, SHT_DYNSYM}) {
        for (std::uint64_t i = 0; i < header->e_shnum && !address; ++i) {
            auto section = read_at<Elf64_Shdr>(file, header->e_shoff + i * header->e_shentsize);
            if (!section) return std::nullopt;
            if (section->sh_type != wanted || section->sh_link >= header->e_shnum) continue;
            if (section->sh_offset > file.size() || file.size() - section->sh_offset < section->sh_size) continue;
            address = find_symbol(file, *header, *section, function);
        }
        if (address) break;
    }
    if (!address) return std::nullopt;

    for (std::uint64_t i = 0; i < header->e_phnum; ++i) {
        auto segment = read_at<Elf64_Phdr>(file, header->e_phoff + i * header->e_phentsize);
        if (!segment) return std::nullopt;
        if (segment->p_type != PT_LOAD || !(segment->p_flags & PF_X)) continue;
        if (*address >= segment->p_vaddr && *address - segment->p_vaddr < segment->p_filesz)
            return *address - segment->p_vaddr + segment->p_offset;
    }
    return std::nullopt;
}

std::optional<TracefsUprobe> TracefsUprobe::create(const std::string& tracefs, const std::string& name,
                                                   const std::string& path, std::uint64_t offset, bool retprobe,
                                                   std::string& error)
{
    auto events = fmt::format("{}/uprobe_events", tracefs);
    // A definition left by an earlier run of the same pid (a crash) would make this one EEXIST.
    write_file(events, fmt::format("-:exfilwatch/{}\n", name));
    if (!write_file(events, fmt::format("{}:exfilwatch/{} {}:{:#x}\n", retprobe ? 'r' : 'p', name, path, offset))) {
        error = fmt::format("cannot write {}: {}", events, std::strerror(errno));
        return std::nullopt;
    }
    TracefsUprobe probe(tracefs, name, 0);  // from here on the destructor removes the definition
    auto id_path = fmt::format("{}/events/exfilwatch/{}/id", tracefs, name);
    int fd = ::open(id_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = fmt::format("cannot read {}: {}", id_path, std::strerror(errno));
        return std::nullopt;
    }
    char text[32] = {};
    auto n = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    char* end = nullptr;
    unsigned long long id = n > 0 ? std::strtoull(text, &end, 10) : 0;
    if (id == 0 || end == text) {
        error = fmt::format("no tracepoint id in {}", id_path);
        return std::nullopt;
    }
    probe.id_ = id;
    return probe;
}

TracefsUprobe::TracefsUprobe(TracefsUprobe&& other) noexcept
    : tracefs_(std::move(other.tracefs_)), name_(std::exchange(other.name_, {})), id_(other.id_)
{
}

TracefsUprobe::~TracefsUprobe()
{
    if (!name_.empty()) write_file(fmt::format("{}/uprobe_events", tracefs_), fmt::format("-:exfilwatch/{}\n", name_));
}

std::size_t remove_stale_uprobes(const std::string& tracefs)
{
    auto events = fmt::format("{}/uprobe_events", tracefs);
    std::ifstream in(events);
    std::vector<std::string> stale;
    std::string line;
    constexpr std::string_view group = "exfilwatch/";
    while (std::getline(in, line)) {
        // "p:exfilwatch/ew_1234_0 /usr/lib/x86_64-linux-gnu/libssl.so.3:0x0000000000035980"
        if (line.size() < 2 || line[1] != ':' || line.compare(2, group.size(), group) != 0) continue;
        auto start = 2 + group.size();
        auto name = line.substr(start, line.find(' ', start) - start);
        if (!name.starts_with("ew_")) continue;
        char* end = nullptr;
        long pid = std::strtol(name.c_str() + 3, &end, 10);
        if (pid <= 0 || *end != '_' || pid == ::getpid()) continue;
        if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to ask
        stale.push_back(std::move(name));
    }
    std::size_t removed = 0;
    for (const auto& name : stale)
        if (write_file(events, fmt::format("-:exfilwatch/{}\n", name))) ++removed;
    return removed;
}

int open_tracepoint_event(std::uint64_t id)
{
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.config = id;
    int fd = static_cast<int>(::syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
    return fd < 0 ? -errno : fd;
}

}  // namespace exfilwatch::kernel
