// `crmsync parse --connector ID --kind response|webhook FILE [--content-type TYPE]
// [--timezone ZONE] [--config-json JSON]`: runs a connector's mapping and the pipeline's
// normalization on a saved API response or webhook body, offline (no network, no store), and
// prints one JSON line per object found:
//   {"external_id":"YCLIENTS-67890","status":"ok","occurred_at":"2025-11-17T11:30:00Z",
//    "amount_minor":500000,"currency":"RUB","phone_e164":"+79991234567","description":"Стрижка",
//    "is_medical":false}
// status is "ok" (plus "warning" when the sale would be stored with a note, e.g. an unusable
// phone), "skipped" (with "reason"), "fetch" (the body only names an object to re-read) or "error"
// (with "reason"). A body the connector cannot read at all exits 1 with its message on stderr and
// prints nothing. The instance is opened with --config-json (default "{}"), validated against the
// connector's schema like any integration's settings; connectors whose schema requires fields
// need them here too (YCLIENTS: {"company_id": N}).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands/commands.h"
#include "plugin_host/plugin_host.h"
#include "sandbox/sandbox.h"

namespace crmsync::cli {
namespace parse_command {

struct Options {
  std::string connector;
  std::string kind;
  std::string file;
  std::string content_type = "application/json";
  std::string timezone = "Europe/Moscow";
  std::string config_json = "{}";
};

int run(const Cli& cli, const Options& options) {
  std::ifstream in(options.file, std::ios::binary);
  if (!in) return report_failure(options.file + ": cannot be read");
  std::stringstream body;
  body << in.rdbuf();

  Result<config::Config> config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  // Any connector installed in the plugin folder, enabled or not: authors debug theirs here.
  plugin_host::PluginHost host;
  const std::filesystem::path library =
      std::filesystem::path(config->plugins.dir) / (options.connector + ".so");
  std::error_code missing;
  if (!std::filesystem::exists(library, missing)) {
    return report_failure("unknown connector " + options.connector + " (no " + library.string() +
                          ")");
  }
  const plugin_host::LoadResult loaded = host.load(library);
  if (!loaded.ok()) return report_failure(loaded.error);
  const plugin_host::Connector* connector = loaded.connector;
  if (connector->id() != options.connector) {
    return report_failure(library.string() + " is connector " + std::string(connector->id()) +
                          ", not " + options.connector);
  }

  auto target = sandbox::trial_target(connector->id(), options.timezone, "RU", "RUB");
  if (!target) return report_failure("--timezone: " + target.error().message);
  plugin_host::DefaultHostServices services;
  auto instance = host.open_instance(connector->id(), "parse", options.config_json,
                                     options.timezone, target->currency, services);
  if (!instance) return report_failure(instance.error().message);

  Result<sandbox::Report> mapped = [&]() -> Result<sandbox::Report> {
    if (options.kind == "response") return sandbox::map_sample(**instance, *target, body.str());
    plugin_host::WebhookRequest request;
    request.content_type = options.content_type;
    request.body = body.str();
    return sandbox::map_webhook(**instance, *target, request);
  }();
  if (!mapped) return report_failure(options.file + ": " + mapped.error().message);
  std::fputs(mapped->to_text().c_str(), stdout);
  return kExitOk;
}

}  // namespace parse_command

void register_parse(Cli& cli) {
  using namespace parse_command;
  auto options = std::make_shared<Options>();
  CLI::App* command = cli.add_command(
      "parse",
      "Run a connector's mapping and the normalization on a saved API response or webhook body "
      "(no network, no store) and print one JSON line per object",
      [&cli, options] { return run(cli, *options); });
  command->add_option("--connector", options->connector, "Connector id, e.g. yclients")->required();
  command->add_option("--kind", options->kind, "What FILE holds: response or webhook")
      ->required()
      ->check(CLI::IsMember({"response", "webhook"}));
  command->add_option("file", options->file, "The saved body")->required();
  command->add_option("--content-type", options->content_type, "Content type of a webhook body")
      ->capture_default_str();
  command
      ->add_option("--timezone", options->timezone,
                   "IANA zone of local times in the body (the integration's zone)")
      ->capture_default_str();
  command
      ->add_option("--config-json", options->config_json,
                   "Connector settings (JSON object) the instance is opened with")
      ->capture_default_str();
}

}  // namespace crmsync::cli
