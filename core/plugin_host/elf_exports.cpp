// Reads the exported dynamic symbols of an ELF file (see elf_exports.h). Every offset and size
// comes from the file, so each is checked against the image before it is used.
#include "plugin_host/elf_exports.h"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace crmsync::plugin_host {
namespace {

Error malformed(const std::string& what) {
  return fail(CRMSYNC_E_INVALID_INPUT, "not a readable ELF image: " + what);
}

// Whether [offset, offset + count * size) lies inside an image of image_size bytes.
bool inside(uint64_t image_size, uint64_t offset, uint64_t count, uint64_t size) {
  if (offset > image_size) return false;
  if (size != 0 && count > (image_size - offset) / size) return false;
  return true;
}

// A copy of the struct at offset (the image need not be aligned); the caller checked the bounds.
template <class T>
T read_at(std::string_view image, uint64_t offset) {
  T value;
  std::memcpy(&value, image.data() + offset, sizeof value);
  return value;
}

}  // namespace

Result<std::vector<std::string>> exported_symbols(std::string_view image) {
  if (image.size() < sizeof(Elf64_Ehdr) || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0) {
    return malformed("no ELF header");
  }
  const auto header = read_at<Elf64_Ehdr>(image, 0);
  if (header.e_ident[EI_CLASS] != ELFCLASS64) return malformed("not a 64-bit ELF file");
  const unsigned char native =
      __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
  if (header.e_ident[EI_DATA] != native) return malformed("not of this machine's byte order");
  if (header.e_shentsize != sizeof(Elf64_Shdr) ||
      !inside(image.size(), header.e_shoff, header.e_shnum, sizeof(Elf64_Shdr))) {
    return malformed("section headers outside the file");
  }
  auto section = [&](uint64_t index) {
    return read_at<Elf64_Shdr>(image, header.e_shoff + index * sizeof(Elf64_Shdr));
  };
  for (uint64_t i = 0; i < header.e_shnum; ++i) {
    const Elf64_Shdr symbols = section(i);
    if (symbols.sh_type != SHT_DYNSYM) continue;
    if (symbols.sh_entsize != sizeof(Elf64_Sym) || symbols.sh_size % sizeof(Elf64_Sym) != 0 ||
        !inside(image.size(), symbols.sh_offset, 1, symbols.sh_size)) {
      return malformed(".dynsym outside the file");
    }
    if (symbols.sh_link >= header.e_shnum) return malformed(".dynsym names no string table");
    const Elf64_Shdr strings = section(symbols.sh_link);
    if (!inside(image.size(), strings.sh_offset, 1, strings.sh_size)) {
      return malformed(".dynstr outside the file");
    }
    const std::string_view names = image.substr(strings.sh_offset, strings.sh_size);
    std::vector<std::string> exported;
    // Entry 0 is the reserved null symbol.
    for (uint64_t j = 1; j < symbols.sh_size / sizeof(Elf64_Sym); ++j) {
      const auto symbol = read_at<Elf64_Sym>(image, symbols.sh_offset + j * sizeof(Elf64_Sym));
      const unsigned binding = ELF64_ST_BIND(symbol.st_info);
      const unsigned visibility = ELF64_ST_VISIBILITY(symbol.st_other);
      if (symbol.st_shndx == SHN_UNDEF ||
          (binding != STB_GLOBAL && binding != STB_WEAK && binding != STB_GNU_UNIQUE) ||
          (visibility != STV_DEFAULT && visibility != STV_PROTECTED)) {
        continue;
      }
      if (symbol.st_name >= names.size()) return malformed("a symbol name outside .dynstr");
      const std::string_view rest = names.substr(symbol.st_name);
      const size_t end = rest.find('\0');
      if (end == std::string_view::npos) return malformed("an unterminated symbol name");
      exported.emplace_back(rest.substr(0, end));
    }
    return exported;
  }
  return malformed("no .dynsym section");
}

Result<std::vector<std::string>> exported_symbols_of_file(const std::filesystem::path& file) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(file, ec);
  if (ec) return fail(CRMSYNC_E_UNAVAILABLE, file.string() + ": " + ec.message());
  if (size > kMaxElfBytes) {
    return fail(CRMSYNC_E_UNAVAILABLE,
                file.string() + ": larger than " + std::to_string(kMaxElfBytes >> 20) + " MB");
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream image;
  image << in.rdbuf();
  if (!in) return fail(CRMSYNC_E_UNAVAILABLE, file.string() + ": cannot be read");
  auto symbols = exported_symbols(image.view());
  if (!symbols) return fail(symbols.error().code, file.string() + ": " + symbols.error().message);
  return symbols;
}

}  // namespace crmsync::plugin_host
