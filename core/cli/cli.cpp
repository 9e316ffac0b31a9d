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

std::string default_plugin_dir() {
  std::error_code ec;
  const std::filesystem::path bin =
      std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  // Installed: <prefix>/bin/crmsync beside <prefix>/lib/crmsync/plugins (the relative path is
  // compiled in from the install layout). In a build tree: build/bin beside build/plugins.
  const std::filesystem::path installed = (bin / CRMSYNC_PLUGIN_DIR_FROM_BIN).lexically_normal();
  const std::filesystem::path build_tree = (bin / ".." / "plugins").lexically_normal();
  if (!std::filesystem::is_directory(installed, ec) &&
      std::filesystem::is_directory(build_tree, ec)) {
    return build_tree.string();
  }
  return installed.string();
}

Result<config::Config> Cli::load_config() const {
  std::error_code ec;
  // Without a file, the embedded default: SQLite in the working directory.
  Result<config::Config> config = config::Config{};
  if (!config_option_->empty() || std::filesystem::exists(config_path_, ec)) {
    config = config::load_file(config_path_);
  }
  if (config && config->plugins.dir.empty()) config->plugins.dir = default_plugin_dir();
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
