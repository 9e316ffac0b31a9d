// `crmsync business add ID --name NAME [--timezone ZONE] [--region RU] [--currency RUB]` and
// `crmsync business list [--json]`: the partner businesses known to the store.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/json.h"

#include "admin/api.h"
#include "cli/commands/commands.h"
#include "cli/runtime.h"

namespace crmsync::cli {
namespace business_command {

int add(const Cli& cli, const store::Business& business) {
  if (const auto errors = admin::business_errors(business); !errors.empty()) {
    return report_failure(errors.front().field + ": " + errors.front().message);
  }
  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  auto db = open_store(*config);
  if (!db) return report_failure(db.error().message);
  if (auto existing = (*db)->get_business(business.id)) {
    return report_failure("business '" + business.id + "' already exists");
  }
  store::Business added = business;
  added.created_at = now();
  if (auto stored = (*db)->add_business(added); !stored) {
    return report_failure(stored.error().message);
  }
  std::printf("Added business %s (%s, %s, %s, %s)\n", added.id.c_str(), added.name.c_str(),
              added.timezone.c_str(), added.region.c_str(), added.currency.c_str());
  return kExitOk;
}

int list(const Cli& cli, bool json) {
  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  auto db = open_store(*config);
  if (!db) return report_failure(db.error().message);
  auto businesses = (*db)->list_businesses();
  if (!businesses) return report_failure(businesses.error().message);
  nlohmann::json listing = nlohmann::json::array();
  for (const store::Business& b : *businesses) {
    if (json) {
      listing.push_back({{"id", b.id},
                         {"name", b.name},
                         {"timezone", b.timezone},
                         {"region", b.region},
                         {"currency", b.currency}});
    } else {
      std::printf("%-20s %-30s %-20s %s %s\n", b.id.c_str(), b.name.c_str(), b.timezone.c_str(),
                  b.region.c_str(), b.currency.c_str());
    }
  }
  if (json) std::printf("%s\n", dump_json(listing).c_str());
  return kExitOk;
}

}  // namespace business_command

void register_business(Cli& cli) {
  using namespace business_command;
  auto added = std::make_shared<store::Business>();
  auto json = std::make_shared<bool>(false);
  auto add_command = std::make_shared<CLI::App*>(nullptr);
  CLI::App* business =
      cli.add_command("business", "Partner businesses", [&cli, added, json, add_command] {
        return (*add_command)->parsed() ? add(cli, *added) : list(cli, *json);
      });
  business->require_subcommand(1);

  *add_command = business->add_subcommand("add", "Register a business");
  (*add_command)->add_option("id", added->id, "Business id, e.g. mindal")->required();
  (*add_command)->add_option("--name", added->name, "Display name, e.g. Миндаль")->required();
  (*add_command)
      ->add_option("--timezone", added->timezone, "IANA time zone of local CRM times")
      ->capture_default_str();
  (*add_command)
      ->add_option("--region", added->region, "Default phone region")
      ->capture_default_str();
  (*add_command)
      ->add_option("--currency", added->currency, "ISO 4217 currency")
      ->capture_default_str();

  CLI::App* list_command = business->add_subcommand("list", "List businesses");
  list_command->add_flag("--json", *json, "Print JSON");
}

}  // namespace crmsync::cli
