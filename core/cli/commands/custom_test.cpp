// `crmsync custom-test [--config CONNECTOR.yaml] [--integration ID] --sample RESPONSE.json|xml |
// --live`: the sandbox of a custom connector. Runs the integration's mapping (the config file's
// custom integration, or the one named) on a saved response, or on one page read live from the
// CRM, and prints per record what was extracted and normalized, or the exact error; nothing is
// stored. Exits 0 only when there was at least one sale and no record failed.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/json.h"

#include "cli/commands/commands.h"
#include "plugin_host/plugin_host.h"
#include "sandbox/sandbox.h"

namespace crmsync::cli {
namespace custom_test_command {

struct Options {
  std::string integration_id;
  std::string sample;
  bool live = false;
};

int run(const Cli& cli, const Options& options) {
  if (options.sample.empty() == !options.live)
    return report_failure("give --sample FILE or --live");
  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  const config::BusinessConfig* business = nullptr;
  const config::IntegrationConfig* integration = nullptr;
  for (const auto& b : config->businesses) {
    for (const auto& i : b.integrations) {
      const bool wanted =
          options.integration_id.empty() ? i.connector == "custom" : i.id == options.integration_id;
      if (wanted && !integration) {
        business = &b;
        integration = &i;
      }
    }
  }
  if (!integration) {
    return report_failure(options.integration_id.empty()
                              ? "the config has no integration with connector custom"
                              : "the config has no integration " + options.integration_id);
  }

  plugin_host::PluginHost host;
  const auto loaded =
      host.load(std::filesystem::path(config->plugins.dir) / (integration->connector + ".so"));
  if (!loaded.ok()) return report_failure(loaded.error);
  auto target = sandbox::trial_target(integration->connector, business->timezone, business->region,
                                      business->currency);
  if (!target) return report_failure(target.error().message);
  std::vector<std::string> secrets;
  const auto settings = parse_json_or_discarded(integration->settings_json);
  for (const std::string& name : loaded.connector->secret_fields()) {
    if (settings.contains(name) && settings[name].is_string()) secrets.push_back(settings[name]);
  }
  auto policy = http::AddressPolicy::create(config->http.allow_private);
  if (!policy) return report_failure("http.allow_private: " + policy.error().message);
  auto services = sandbox::TrialServices::create(
      secrets, std::make_shared<const http::AddressPolicy>(std::move(*policy)));
  if (!services) return report_failure(services.error().message);
  auto instance =
      host.open_instance(integration->connector, integration->id, integration->settings_json,
                         business->timezone, business->currency, **services);
  if (!instance) return report_failure(instance.error().message);

  Result<sandbox::Report> report = [&]() -> Result<sandbox::Report> {
    if (options.live) return sandbox::fetch_page(**instance, *target);
    std::ifstream in(options.sample, std::ios::binary);
    if (!in) return fail(CRMSYNC_E_INVALID_INPUT, options.sample + ": cannot be read");
    std::stringstream body;
    body << in.rdbuf();
    return sandbox::map_sample(**instance, *target, body.str());
  }();
  if (!report) return report_failure(report.error().message);
  std::fputs(report->to_text().c_str(), stdout);
  std::printf("%s %lld sales, %lld not sales, %lld errors\n", report->passed() ? "✅" : "❌",
              static_cast<long long>(report->ok), static_cast<long long>(report->skipped),
              static_cast<long long>(report->errors));
  return report->passed() ? kExitOk : kExitFailure;
}

}  // namespace custom_test_command

void register_custom_test(Cli& cli) {
  using namespace custom_test_command;
  auto options = std::make_shared<Options>();
  CLI::App* command = cli.add_command(
      "custom-test",
      "Run a custom connector's mapping on a sample response or one live page; nothing stored",
      [&cli, options] { return run(cli, *options); });
  command->add_option("--integration", options->integration_id,
                      "Integration id (default: the config's custom integration)");
  command->add_option("--sample", options->sample, "A saved response (JSON or XML)");
  command->add_flag("--live", options->live, "Read one page from the CRM instead");
}

}  // namespace crmsync::cli
