// `crmsync plugins [--json]`: loads the connectors the config enables and lists them, with the
// reason for each one that was refused. Exits 1 when any enabled connector failed to load.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/json.h"

#include "cli/commands/commands.h"
#include "plugin_host/plugin_host.h"

namespace crmsync::cli {
namespace plugins_command {

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : ",") + part;
  return out.empty() ? "-" : out;
}

nlohmann::json to_json(const plugin_host::LoadResult& result) {
  nlohmann::json entry = {{"id", result.id}, {"path", result.path.string()}};
  if (result.ok()) {
    const crmsync_connector_v1& d = result.connector->descriptor();
    entry["name"] = d.display_name;
    entry["vendor"] = d.vendor;
    entry["version"] = d.version;
    entry["abi_minor"] = d.abi_minor_required;
    entry["capabilities"] = plugin_host::capability_names(d.capabilities);
    entry["error"] = nullptr;
  } else {
    entry["error"] = result.error;
  }
  return entry;
}

void print_text(const plugin_host::LoadResult& result) {
  if (!result.ok()) {
    std::printf("%-16s not loaded: %s\n", result.id.c_str(), result.error.c_str());
    return;
  }
  const crmsync_connector_v1& d = result.connector->descriptor();
  std::printf("%-16s %-20s %-10s ABI 1.%-3u %-28s %s\n", result.id.c_str(), d.display_name,
              d.version, d.abi_minor_required,
              join(plugin_host::capability_names(d.capabilities)).c_str(),
              result.path.string().c_str());
}

int run(const Cli& cli, bool json) {
  Result<config::Config> config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  plugin_host::PluginHost host;
  const std::vector<plugin_host::LoadResult> results = host.load_all(*config);
  nlohmann::json listing = nlohmann::json::array();
  int status = kExitOk;
  for (const plugin_host::LoadResult& result : results) {
    if (json) {
      listing.push_back(to_json(result));
    } else {
      print_text(result);
    }
    if (!result.ok()) status = report_failure(result.error);
  }
  if (json) std::printf("%s\n", dump_json(listing, 2).c_str());
  return status;
}

}  // namespace plugins_command

void register_plugins(Cli& cli) {
  using namespace plugins_command;
  auto json = std::make_shared<bool>(false);
  CLI::App* command =
      cli.add_command("plugins",
                      "List the connectors enabled in the config (id, name, version, ABI minor, "
                      "capabilities, path) and why any of them failed to load",
                      [&cli, json] { return run(cli, *json); });
  command->add_flag("--json", *json, "Print a JSON array instead of a table");
}

}  // namespace crmsync::cli
