// `crmsync api-key create --role admin|owner [--business ID] [--json]` and
// `crmsync api-key delete ID`: the keys of the admin API. A key's secret is printed once, at
// creation; the store keeps only its hash.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/json.h"

#include "admin/api.h"
#include "cli/commands/commands.h"
#include "cli/runtime.h"

namespace crmsync::cli {
namespace api_key_command {

struct Options {
  std::string role;
  std::string business_id;
  std::string delete_id;
  bool json = false;
};

int create(const Cli& cli, const Options& options) {
  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  auto db = open_store(*config);
  if (!db) return report_failure(db.error().message);
  std::optional<std::string> business;
  if (!options.business_id.empty()) business = options.business_id;
  auto made = admin::create_api_key(**db, options.role, business, now());
  if (!made) return report_failure(made.error().message);
  if (options.json) {
    std::printf("%s\n", dump_json(nlohmann::json{{"id", made->key.id},
                                                 {"role", made->key.role},
                                                 {"business_id", options.business_id},
                                                 {"key", made->secret}})
                            .c_str());
  } else {
    std::printf("Created %s key %s%s\n%s\nKeep it now: it is not shown again.\n",
                made->key.role.c_str(), made->key.id.c_str(),
                business ? (" for business " + *business).c_str() : "", made->secret.c_str());
  }
  return kExitOk;
}

int remove(const Cli& cli, const std::string& id) {
  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  auto db = open_store(*config);
  if (!db) return report_failure(db.error().message);
  if (auto done = (*db)->delete_api_key(id); !done) return report_failure(done.error().message);
  std::printf("Deleted key %s\n", id.c_str());
  return kExitOk;
}

}  // namespace api_key_command

void register_api_key(Cli& cli) {
  using namespace api_key_command;
  auto options = std::make_shared<Options>();
  auto create_command = std::make_shared<CLI::App*>(nullptr);
  CLI::App* keys =
      cli.add_command("api-key", "Keys of the admin API", [&cli, options, create_command] {
        return (*create_command)->parsed() ? create(cli, *options)
                                           : remove(cli, options->delete_id);
      });
  keys->require_subcommand(1);
  *create_command = keys->add_subcommand("create", "Create a key and print its secret once");
  (*create_command)
      ->add_option("--role", options->role, "admin (everything) or owner (one business)")
      ->required()
      ->check(CLI::IsMember({"admin", "owner"}));
  (*create_command)->add_option("--business", options->business_id, "The owner's business id");
  (*create_command)->add_flag("--json", options->json, "Print {id, role, business_id, key}");
  CLI::App* delete_command = keys->add_subcommand("delete", "Delete a key");
  delete_command->add_option("id", options->delete_id, "Key id (key-…)")->required();
}

}  // namespace crmsync::cli
