// Cli: option parsing and dispatch of the crmsync tool.
#include "cli/cli.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

namespace crmsync::cli {

Cli::Cli() : app_("crmsync: CRM integrations of the loyalty platform", "crmsync") {
  app_.require_subcommand(1);
  // Global options may also follow the command name: `crmsync plugins --config x.yaml`.
  app_.fallthrough();
  config_option_ = app_.add_option("--config", config_path_,
                                   "YAML configuration file; without one, SQLite at ./crmsync.db")
                       ->envname("CRMSYNC_CONFIG")
                       ->capture_default_str();
}

CLI::App* Cli::add_command(const std::string& name, const std::string& description,
                           std::function<int()> run) {
  CLI::App* command = app_.add_subcommand(name, description);
  commands_.emplace_back(command, std::move(run));
  return command;
}

Result<config::Config> Cli::load_config() const {
  std::error_code ec;
  Result<config::Config> config = config::Config{};
  // Without a file, the embedded default: SQLite at ./crmsync.db.
  if (!config_option_->empty() || std::filesystem::exists(config_path_, ec)) {
    config = config::load_file(config_path_);
  }
  // Unless the config names a folder, the connectors installed beside the executable
  // (build/bin -> build/plugins).
  if (config && config->plugins.dir.empty()) {
    config->plugins.dir =
        (std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / ".." / "plugins")
            .lexically_normal()
            .string();
  }
  return config;
}

int Cli::run(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Prints help (exit code 0) or the usage error on stderr.
    return app_.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  for (const auto& [command, run] : commands_) {
    if (command->parsed()) return run();
  }
  return report_failure("no command chosen");
}

int report_failure(const std::string& message) {
  std::fprintf(stderr, "crmsync: %s\n", message.c_str());
  return kExitFailure;
}

}  // namespace crmsync::cli
