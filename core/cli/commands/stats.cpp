// `crmsync stats --integration ID | --business ID [--json]`: the spec's statistics of an
// integration (or of each integration of a business): total synced transactions, last
// successful sync, success rate and failed syncs over 30 days, average sync time.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/json.h"

#include "admin/views.h"
#include "cli/commands/commands.h"
#include "cli/runtime.h"

namespace crmsync::cli {
namespace stats_command {

struct Options {
  std::string integration_id;
  std::string business_id;
  bool json = false;
};

int run(const Cli& cli, const Options& options) {
  if (options.integration_id.empty() == options.business_id.empty()) {
    return report_failure("give --integration ID or --business ID");
  }
  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  auto db = open_store(*config);
  if (!db) return report_failure(db.error().message);
  std::vector<std::string> ids;
  if (!options.integration_id.empty()) {
    auto integration = (*db)->get_integration(options.integration_id);
    if (!integration) return report_failure(integration.error().message);
    ids.push_back(integration->id);
  } else {
    auto business = (*db)->get_business(options.business_id);
    if (!business) return report_failure(business.error().message);
    auto integrations = (*db)->list_integrations(options.business_id);
    if (!integrations) return report_failure(integrations.error().message);
    for (const auto& integration : *integrations) ids.push_back(integration.id);
  }

  nlohmann::json out = nlohmann::json::object();
  for (const std::string& id : ids) {
    auto figures = (*db)->integration_stats(id, now(), std::chrono::hours(24 * 30));
    if (!figures) return report_failure(figures.error().message);
    out[id] = admin::stats_json(*figures);
  }
  if (options.json) {
    std::printf("%s\n", dump_json(out, 2).c_str());
    return kExitOk;
  }
  std::printf("%-24s %12s %-24s %8s %8s %10s\n", "INTEGRATION", "TRANSACTIONS",
              "LAST SUCCESSFUL SYNC", "SUCCESS", "FAILED", "AVG SYNC");
  for (const auto& [id, s] : out.items()) {
    const std::string last = s["last_successful_sync"].is_null()
                                 ? "never"
                                 : s["last_successful_sync"].get<std::string>();
    const std::string average = s["average_sync_ms"].is_null()
                                    ? "-"
                                    : std::to_string(s["average_sync_ms"].get<int64_t>()) + " ms";
    std::printf("%-24s %12lld %-24s %7.1f%% %8lld %10s\n", id.c_str(),
                static_cast<long long>(s["total_transactions"].get<int64_t>()), last.c_str(),
                s["success_rate"].get<double>() * 100,
                static_cast<long long>(s["failed_syncs_30d"].get<int64_t>()), average.c_str());
  }
  std::printf("(success rate, failed syncs and average over the last 30 days)\n");
  return kExitOk;
}

}  // namespace stats_command

void register_stats(Cli& cli) {
  using namespace stats_command;
  auto options = std::make_shared<Options>();
  CLI::App* command = cli.add_command("stats", "An integration's statistics over 30 days",
                                      [&cli, options] { return run(cli, *options); });
  command->add_option("--integration", options->integration_id, "Integration id");
  command->add_option("--business", options->business_id, "Business id (each integration)");
  command->add_flag("--json", options->json, "Print the figures as JSON");
}

}  // namespace crmsync::cli
