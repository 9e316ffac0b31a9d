// Every connector exports crmsync_connector_entry_v1 and nothing else (the SDK's version script);
// the ELF reader behind `crmsync plugin-check` reads .dynsym of real libraries and refuses
// malformed images with a clear error; plugin-check lists a leaking connector's extra exports.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <elf.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "plugin_host/elf_exports.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using crmsync::plugin_host::exported_symbols;
using crmsync::plugin_host::exported_symbols_of_file;

const std::vector<std::string> kOnlyEntry = {"crmsync_connector_entry_v1"};

std::vector<fs::path> libraries_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".so") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string error_of(std::string_view image) {
  auto symbols = exported_symbols(image);
  REQUIRE_FALSE(symbols.ok());
  return symbols.error().message;
}

}  // namespace

TEST_CASE("every bundled connector exports only its entry point") {
  const std::vector<fs::path> connectors = libraries_in(CRMSYNC_PLUGIN_DIR);
  REQUIRE(connectors.size() == CRMSYNC_CONNECTOR_COUNT);  // none missing from the build
  for (const fs::path& connector : connectors) {
    INFO(connector.string());
    auto exported = exported_symbols_of_file(connector);
    REQUIRE_MESSAGE(exported.ok(), (exported.ok() ? "" : exported.error().message));
    CHECK(*exported == kOnlyEntry);
  }
}

TEST_CASE("the fixture connectors, linked with crmsync::sdk like any connector, export only it") {
  for (const fs::path& fixture : libraries_in(CRMSYNC_FIXTURE_DIR)) {
    INFO(fixture.string());
    auto exported = exported_symbols_of_file(fixture);
    REQUIRE(exported.ok());
    if (fixture.stem() == "no_entry") {
      // Its entry is misspelled on purpose, so the version script leaves nothing exported.
      CHECK(exported->empty());
    } else {
      CHECK(*exported == kOnlyEntry);
    }
  }
}

TEST_CASE("without the version script a hidden-visibility C++ connector leaks libstdc++ symbols") {
  auto exported = exported_symbols_of_file(CRMSYNC_LEAKY_CONNECTOR);
  REQUIRE(exported.ok());
  CHECK(std::find(exported->begin(), exported->end(), kOnlyEntry.front()) != exported->end());
  // What the version script removes: an instantiation from namespace std (mangled _ZNSt / _ZZNSt).
  CHECK(std::any_of(exported->begin(), exported->end(), [](const std::string& name) {
    return name.starts_with("_ZNSt") || name.starts_with("_ZZNSt");
  }));
}

TEST_CASE("plugin-check lists the extra exports, and reports a clean connector as clean") {
  crmsync::test::TempDir dir;
  const auto leaky = crmsync::test::run_process(
      {CRMSYNC_BINARY, "plugin-check", CRMSYNC_LEAKY_CONNECTOR}, dir.path());
  CHECK(leaky.exit_code == 0);  // a warning: the connector still loads and works
  CHECK(leaky.out.find("warning: exports ") != std::string::npos);
  CHECK(leaky.out.find(" besides crmsync_connector_entry_v1 (link with the SDK's version script") !=
        std::string::npos);
  CHECK(leaky.out.find("std::") != std::string::npos);  // listed, demangled
  CHECK(leaky.out.find("ok: exports only") == std::string::npos);

  const auto clean = crmsync::test::run_process(
      {CRMSYNC_BINARY, "plugin-check", std::string(CRMSYNC_PLUGIN_DIR) + "/csv.so"}, dir.path());
  CHECK(clean.exit_code == 0);
  CHECK(clean.out.find("ok: exports only crmsync_connector_entry_v1\n") != std::string::npos);
  CHECK(clean.out.find("warning") == std::string::npos);
}

TEST_CASE("example: hello.so built against the installed SDK exports only its entry point") {
  const char* path = std::getenv("CRMSYNC_EXAMPLE_CONNECTOR");
  REQUIRE_MESSAGE(path != nullptr, "CRMSYNC_EXAMPLE_CONNECTOR must name the built hello.so");
  auto exported = exported_symbols_of_file(path);
  REQUIRE(exported.ok());
  CHECK(*exported == kOnlyEntry);
}

TEST_CASE("malformed images are refused with a reason, never read out of bounds") {
  CHECK(error_of("") == "not a readable ELF image: no ELF header");
  CHECK(error_of("#!/bin/sh\necho not a library\n" + std::string(64, ' ')) ==
        "not a readable ELF image: no ELF header");

  // Start from a real connector and break one field at a time.
  const std::string real = crmsync::test::slurp(std::string(CRMSYNC_PLUGIN_DIR) + "/csv.so");
  REQUIRE(exported_symbols(real).ok());
  Elf64_Ehdr header;
  std::memcpy(&header, real.data(), sizeof header);
  auto with_header = [&](auto change) {
    Elf64_Ehdr changed = header;
    change(changed);
    std::string image = real;
    std::memcpy(image.data(), &changed, sizeof changed);
    return image;
  };
  CHECK(error_of(with_header([](Elf64_Ehdr& h) { h.e_ident[EI_CLASS] = ELFCLASS32; })) ==
        "not a readable ELF image: not a 64-bit ELF file");
  CHECK(error_of(with_header([](Elf64_Ehdr& h) { h.e_ident[EI_DATA] = ELFDATA2MSB; })) ==
        "not a readable ELF image: not of this machine's byte order");
  CHECK(error_of(with_header([](Elf64_Ehdr& h) { h.e_shoff = ~0ull - 8; })) ==
        "not a readable ELF image: section headers outside the file");
  CHECK(error_of(with_header([](Elf64_Ehdr& h) { h.e_shnum = 0xffff; })) ==
        "not a readable ELF image: section headers outside the file");
  CHECK(error_of(with_header([](Elf64_Ehdr& h) { h.e_shnum = 0; })) ==
        "not a readable ELF image: no .dynsym section");

  // The .dynsym section header itself pointing outside the file, or at a missing string table.
  auto with_dynsym = [&](auto change) {
    std::string image = real;
    for (uint64_t i = 0; i < header.e_shnum; ++i) {
      const uint64_t at = header.e_shoff + i * sizeof(Elf64_Shdr);
      Elf64_Shdr section;
      std::memcpy(&section, image.data() + at, sizeof section);
      if (section.sh_type != SHT_DYNSYM) continue;
      change(section);
      std::memcpy(image.data() + at, &section, sizeof section);
    }
    return image;
  };
  CHECK(error_of(with_dynsym([](Elf64_Shdr& s) { s.sh_size = ~0ull - 23; })) ==
        "not a readable ELF image: .dynsym outside the file");
  CHECK(error_of(with_dynsym([](Elf64_Shdr& s) { s.sh_offset = ~0ull; })) ==
        "not a readable ELF image: .dynsym outside the file");
  CHECK(error_of(with_dynsym([&](Elf64_Shdr& s) { s.sh_link = header.e_shnum; })) ==
        "not a readable ELF image: .dynsym names no string table");

  // Truncated anywhere: an error or (cut after the tables) the same exports, never a crash.
  for (size_t size = 0; size < real.size(); size += 997) {
    auto symbols = exported_symbols(std::string_view(real).substr(0, size));
    if (symbols.ok()) CHECK(*symbols == kOnlyEntry);
  }

  // A file that is not there, named in the error.
  auto missing = exported_symbols_of_file("/nonexistent/x.so");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.starts_with("/nonexistent/x.so: "));
}
