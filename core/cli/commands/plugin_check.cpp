// `crmsync plugin-check PATH.so [--config-json JSON]`: the start of the conformance kit for
// connector authors. Loads one library in isolation, runs the host's ABI checks, warns about every
// exported symbol besides the entry point and, given an example config, validates it against the
// connector's schema, opens an instance and closes it.
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/commands/commands.h"
#include "plugin_host/elf_exports.h"
#include "plugin_host/plugin_host.h"

namespace crmsync::cli {
namespace plugin_check_command {

// At most this many extra exports are listed; a library built without the SDK's version script
// can export thousands.
constexpr size_t kMaxListedExports = 50;

// A C++ symbol as a reader knows it (std::_Rb_tree<...>::...); C names are kept.
std::string readable(const std::string& symbol) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> demangled(
      abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status), &std::free);
  return status == 0 && demangled ? demangled.get() : symbol;
}

// Warns (on stdout, with the other results) about every exported symbol besides the entry point:
// the loader may bind another library's references to it, or it to theirs. Not an error: such a
// connector still loads and works.
void check_exports(const std::string& path) {
  auto exported = plugin_host::exported_symbols_of_file(path);
  if (!exported) {
    std::printf("warning: cannot list the exported symbols: %s\n",
                exported.error().message.c_str());
    return;
  }
  std::vector<std::string> extra;
  for (const std::string& name : *exported) {
    if (name != "crmsync_connector_entry_v1") extra.push_back(name);
  }
  if (extra.empty()) {
    std::printf("ok: exports only crmsync_connector_entry_v1\n");
    return;
  }
  std::printf(
      "warning: exports %zu symbol%s besides crmsync_connector_entry_v1 (link with the SDK's "
      "version script: target_link_libraries(... crmsync::sdk) on a MODULE library):\n",
      extra.size(), extra.size() == 1 ? "" : "s");
  for (size_t i = 0; i < extra.size() && i < kMaxListedExports; ++i) {
    std::printf("  %s\n", readable(extra[i]).c_str());
  }
  if (extra.size() > kMaxListedExports) {
    std::printf("  ... and %zu more\n", extra.size() - kMaxListedExports);
  }
}

struct Options {
  std::string path;
  std::string config_json;
  std::string timezone = "Europe/Moscow";
  std::string currency = "RUB";
};

int run(const Options& options) {
  plugin_host::PluginHost host;
  const plugin_host::LoadResult loaded = host.load(options.path);
  if (!loaded.ok()) return report_failure(loaded.error);
  const crmsync_connector_v1& d = loaded.connector->descriptor();
  std::string capabilities;
  for (const std::string& name : plugin_host::capability_names(d.capabilities)) {
    capabilities += " " + name;
  }
  std::printf("ok: ABI checks: %s %s (%s, %s), needs ABI 1.%u, capabilities:%s\n", d.id, d.version,
              d.display_name, d.vendor, d.abi_minor_required,
              capabilities.empty() ? " none" : capabilities.c_str());
  check_exports(options.path);
  if (options.config_json.empty()) return kExitOk;

  plugin_host::DefaultHostServices services;
  auto instance = host.open_instance(d.id, "plugin-check", options.config_json, options.timezone,
                                     options.currency, services);
  if (!instance) return report_failure(instance.error().message);
  std::printf("ok: open with the example config\n");
  instance.value().reset();
  std::printf("ok: close\n");
  return kExitOk;
}

}  // namespace plugin_check_command

void register_plugin_check(Cli& cli) {
  using namespace plugin_check_command;
  auto options = std::make_shared<Options>();
  CLI::App* command = cli.add_command(
      "plugin-check",
      "Load one connector library in isolation, run the ABI checks and list exported symbols "
      "besides the entry point; with --config-json also validate the config, open an instance "
      "and close it",
      [options] { return run(*options); });
  command->add_option("path", options->path, "The connector library (.so)")->required();
  command->add_option("--config-json", options->config_json,
                      "An example integration config (JSON object, secrets included)");
  command->add_option("--timezone", options->timezone, "IANA zone passed to open()")
      ->capture_default_str();
  command->add_option("--currency", options->currency, "ISO 4217 currency passed to open()")
      ->capture_default_str();
}

}  // namespace crmsync::cli
