// The dynamic symbols a connector library exports, read from its ELF file.
//
// A connector should export crmsync_connector_entry_v1 and nothing else (sdk/cmake's version
// script): any other exported symbol can interpose on, or be bound by, another library in the same
// process. `crmsync plugin-check` lists them. The file is read here rather than through libelf or
// binutils: the checks need one table, <elf.h> describes it, and the host then needs no tool or
// library beyond glibc at run time.
#ifndef CRMSYNC_CORE_PLUGIN_HOST_ELF_EXPORTS_H
#define CRMSYNC_CORE_PLUGIN_HOST_ELF_EXPORTS_H

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace crmsync::plugin_host {

// Files larger than this are refused rather than read (connectors are a few megabytes).
inline constexpr uint64_t kMaxElfBytes = 256ull << 20;

// The names of the symbols the ELF image exports for other objects to bind to: the defined
// entries of .dynsym with global, weak or unique binding and default or protected visibility, in
// table order. Errors (INVALID_INPUT): not a 64-bit ELF file of this machine's byte order, no
// .dynsym, or a table or name outside the file.
Result<std::vector<std::string>> exported_symbols(std::string_view image);

// The same for a file (errors name it; UNAVAILABLE when it cannot be read or exceeds kMaxElfBytes).
Result<std::vector<std::string>> exported_symbols_of_file(const std::filesystem::path& file);

}  // namespace crmsync::plugin_host

#endif  // CRMSYNC_CORE_PLUGIN_HOST_ELF_EXPORTS_H
