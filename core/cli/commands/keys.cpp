// `crmsync keys rotate (--new-key-file PATH | --new-key-env NAME) [--old-key-file PATH...]`:
// re-seals every stored integration credential under a new master key. The current key comes
// from the config's secrets (master_key_file / master_key_env); older keys still in use can be
// added. Afterwards point the config's secrets at the new key.
#include <cstdio>

#include "cli/commands/commands.h"
#include "cli/runtime.h"
#include "crypto/crypto.h"

namespace crmsync::cli {
namespace keys_command {

struct Options {
  std::string new_key_file;
  std::string new_key_env;
  std::vector<std::string> old_key_files;
};

int rotate(const Cli& cli, const Options& options) {
  if (options.new_key_file.empty() == options.new_key_env.empty()) {
    return report_failure("give the new key with exactly one of --new-key-file or --new-key-env");
  }
  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);

  auto configured = load_master_keys(config->secrets);
  if (!configured) return report_failure(configured.error().message);
  std::vector<crypto::MasterKey> old_keys = std::move(*configured);
  for (const std::string& file : options.old_key_files) {
    auto key = crypto::load_master_key_file(file);
    if (!key) return report_failure(file + ": " + key.error().message);
    old_keys.push_back(*key);
  }
  auto new_key = options.new_key_file.empty() ? crypto::load_master_key_env(options.new_key_env)
                                              : crypto::load_master_key_file(options.new_key_file);
  if (!new_key) return report_failure("new key: " + new_key.error().message);

  auto db = open_store(*config);
  if (!db) return report_failure(db.error().message);
  std::vector<crypto::MasterKey> known = old_keys;
  known.push_back(*new_key);
  if (auto checked = check_master_keys(**db, known); !checked) {
    return report_failure(checked.error().message);
  }
  auto resealed = (*db)->reseal_credentials(old_keys, *new_key, now());
  if (!resealed) return report_failure(resealed.error().message);
  std::printf("Re-sealed %lld credentials under key %s; point secrets at the new key now.\n",
              static_cast<long long>(*resealed), new_key->id.c_str());
  return kExitOk;
}

}  // namespace keys_command

void register_keys(Cli& cli) {
  using namespace keys_command;
  auto options = std::make_shared<Options>();
  CLI::App* keys = cli.add_command("keys", "Master keys of stored credentials",
                                   [&cli, options] { return rotate(cli, *options); });
  keys->require_subcommand(1);
  CLI::App* command =
      keys->add_subcommand("rotate", "Re-seal every stored credential under a new master key");
  command->add_option("--new-key-file", options->new_key_file,
                      "File with the new key (64 hex digits or base64 of 32 bytes)");
  command->add_option("--new-key-env", options->new_key_env,
                      "Environment variable holding the new key");
  command->add_option("--old-key-file", options->old_key_files,
                      "An older key some credentials are still sealed with (repeatable)");
}

}  // namespace crmsync::cli
