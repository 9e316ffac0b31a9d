// Cli: option parsing and dispatch of the crmsync tool.
#include "cli/cli.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "base/barrier.h"

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
  if (!config_option_->empty() || std::filesystem::exists(config_path_, ec)) {
    return config::load_file(config_path_);
  }
  // The embedded default: no file needed. SQLite in the working directory, and the connectors
  // installed beside the executable (build/bin -> build/plugins).
  config::Config defaults;
  defaults.storage.path = "crmsync.db";
  defaults.plugins.dir =
      (std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / ".." / "plugins")
          .lexically_normal()
          .string();
  return defaults;
}

int Cli::run(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Prints help (exit code 0) or the usage error on stderr.
    return app_.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  for (const auto& [command, run] : commands_) {
    if (!command->parsed()) continue;
    // The command's barrier: an exception escaping it (a bug met on some input) is a failure
    // with its message, not std::terminate.
    try {
      return run();
    } catch (...) {
      return report_failure("internal error: " + current_exception_text());
    }
  }
  return report_failure("no command chosen");
}

int report_failure(const std::string& message) {
  std::fprintf(stderr, "crmsync: %s\n", message.c_str());
  return kExitFailure;
}

}  // namespace crmsync::cli
