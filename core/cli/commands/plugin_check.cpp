// `crmsync plugin-check PATH.so [--config-json JSON]`: the start of the conformance kit for
// connector authors. Loads one library in isolation, runs the host's ABI checks and, given an
// example config, validates it against the connector's schema, opens an instance and closes it.
#include <cstdio>
#include <memory>

#include "cli/commands/commands.h"
#include "plugin_host/plugin_host.h"

namespace crmsync::cli {
namespace plugin_check_command {

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
      "Load one connector library in isolation and run the ABI checks; with --config-json also "
      "validate the config, open an instance and close it",
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
