// `crmsync keys generate --out FILE [--if-missing | --force] [--owner USER]`: writes a fresh
// master key (64 hex digits from OpenSSL's CSPRNG) to FILE with mode 0600; an existing FILE is
// left alone: an error, or with --if-missing success once it is checked to hold a key. The
// service's first start runs it as root with --owner, so that the key belongs to the service user.
//
// `crmsync keys rotate (--new-key-file PATH | --new-key-env NAME) [--old-key-file PATH...]`:
// re-seals every stored integration credential under a new master key. The current key comes
// from the config's secrets (master_key_file / master_key_env); older keys still in use can be
// added. Afterwards point the config's secrets at the new key.
#include <pwd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <vector>

#include "cli/commands/commands.h"
#include "cli/runtime.h"
#include "crypto/crypto.h"

namespace crmsync::cli {
namespace keys_command {

struct GenerateOptions {
  std::string out;
  bool if_missing = false;
  bool force = false;
  std::string owner;
};

// The uid and primary group of a user name, for --owner.
Result<crypto::FileOwner> find_owner(const std::string& name) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  const int error = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (error != 0 || found == nullptr) {
    return fail(CRMSYNC_E_INVALID_INPUT, "--owner: no user \"" + name + "\"");
  }
  return crypto::FileOwner{found->pw_uid, found->pw_gid};
}

int generate(const GenerateOptions& options) {
  if (options.if_missing) {
    std::error_code ec;
    if (std::filesystem::exists(options.out, ec)) {
      // Left alone, but only when it is a key: a service would not start with anything else.
      auto existing = crypto::load_master_key_file(options.out);
      if (!existing) return report_failure(existing.error().message);
      std::printf("Kept the master key %s in %s\n", existing->id.c_str(), options.out.c_str());
      return kExitOk;
    }
  }
  std::optional<crypto::FileOwner> owner;
  if (!options.owner.empty()) {
    auto found = find_owner(options.owner);
    if (!found) return report_failure(found.error().message);
    owner = *found;
  }
  auto key = crypto::generate_master_key();
  if (!key) return report_failure(key.error().message);
  auto written = crypto::write_master_key_file(options.out, *key, options.force, owner);
  if (!written) {
    return report_failure(written.error().message +
                          (written.error().code == CRMSYNC_E_CONFLICT
                               ? " (--force replaces it; credentials sealed with it are then lost)"
                               : ""));
  }
  std::printf(
      "Wrote the master key %s to %s (mode 0600); keep a copy: without it, stored "
      "credentials cannot be read\n",
      key->id.c_str(), options.out.c_str());
  return kExitOk;
}

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
  auto generate_options = std::make_shared<GenerateOptions>();
  auto generate_command = std::make_shared<CLI::App*>(nullptr);
  CLI::App* keys = cli.add_command(
      "keys", "Master keys of stored credentials",
      [&cli, options, generate_options, generate_command] {
        return (*generate_command)->parsed() ? generate(*generate_options) : rotate(cli, *options);
      });
  keys->require_subcommand(1);
  CLI::App* generating = keys->add_subcommand(
      "generate", "Write a new random master key to a file (64 hex digits, mode 0600)");
  *generate_command = generating;
  generating->add_option("--out", generate_options->out, "The key file to create")->required();
  CLI::Option* if_missing = generating->add_flag(
      "--if-missing", generate_options->if_missing,
      "Succeed without writing when the file exists and holds a key (first start of a service)");
  generating
      ->add_flag("--force", generate_options->force,
                 "Replace an existing file (credentials sealed with its key become unreadable)")
      ->excludes(if_missing);
  generating->add_option("--owner", generate_options->owner,
                         "User who will own the file (when run as root for a service)");
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
