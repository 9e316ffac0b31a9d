// `crmsync logs --integration ID | --business ID [--type success|error|warning] [--limit N]
// [--before LOG_ID] [--json]`: an integration's (or a business's) log lines, newest first, as a
// table or as the admin API's JSON.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/json.h"

#include "admin/views.h"
#include "cli/commands/commands.h"
#include "cli/runtime.h"

namespace crmsync::cli {
namespace logs_command {

struct Options {
  std::string integration_id;
  std::string business_id;
  std::string type;
  int limit = 100;
  int64_t before = 0;
  bool json = false;
};

int run(const Cli& cli, const Options& options) {
  if (options.integration_id.empty() == options.business_id.empty()) {
    return report_failure("give --integration ID or --business ID");
  }
  store::LogQuery query;
  if (!options.integration_id.empty()) query.integration_id = options.integration_id;
  if (!options.business_id.empty()) query.business_id = options.business_id;
  for (auto type : {store::LogType::success, store::LogType::error, store::LogType::warning}) {
    if (options.type == store::to_string(type)) query.type = type;
  }
  if (!options.type.empty() && !query.type) {
    return report_failure("--type must be success, error or warning");
  }
  query.limit = options.limit;
  if (options.before > 0) query.before_id = options.before;

  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  auto db = open_store(*config);
  if (!db) return report_failure(db.error().message);
  auto lines = (*db)->list_logs(query);
  if (!lines) return report_failure(lines.error().message);

  if (options.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& line : *lines) out.push_back(admin::log_json(line));
    std::printf("%s\n", dump_json(out, 2).c_str());
    return kExitOk;
  }
  if (lines->empty()) {
    std::printf("No log lines.\n");
    return kExitOk;
  }
  std::printf("%-10s %-24s %-8s %-20s %s\n", "ID", "TIME (UTC)", "TYPE", "ERROR TYPE", "MESSAGE");
  for (const auto& line : *lines) {
    std::printf("%-10lld %-24s %-8s %-20s %s\n", static_cast<long long>(line.id),
                admin::iso_time(line.created_at).c_str(), store::to_string(line.type),
                line.error_type.c_str(), line.message.c_str());
  }
  return kExitOk;
}

}  // namespace logs_command

void register_logs(Cli& cli) {
  using namespace logs_command;
  auto options = std::make_shared<Options>();
  CLI::App* command = cli.add_command("logs", "An integration's log lines, newest first",
                                      [&cli, options] { return run(cli, *options); });
  command->add_option("--integration", options->integration_id, "Integration id");
  command->add_option("--business", options->business_id, "Business id (all its integrations)");
  command->add_option("--type", options->type, "success, error or warning");
  command->add_option("--limit", options->limit, "How many lines")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  command->add_option("--before", options->before, "Only lines older than this log id (paging)");
  command->add_flag("--json", options->json, "Print the lines as JSON");
}

}  // namespace crmsync::cli
