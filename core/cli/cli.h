// The `crmsync` command-line tool: global options, exit codes and command registration.
//
// Each command lives in commands/<name>.cpp and registers itself from main() with one call
// (declared in commands/commands.h); Cli runs the command the user chose and maps failures to
// exit codes: 0 ok, 1 failure (message on stderr), 2 usage error.
#ifndef CRMSYNC_CORE_CLI_CLI_H
#define CRMSYNC_CORE_CLI_CLI_H

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "config/config.h"

namespace crmsync::cli {

// Exit codes of every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// The tool: owns the CLI11 app and the options shared by all commands.
class Cli {
 public:
  Cli();

  // Adds a command; run is called with nothing else running when the user chose it and returns
  // the exit code. Add the command's own options to the returned app.
  CLI::App* add_command(const std::string& name, const std::string& description,
                        std::function<int()> run);

  // The configuration named by --config (or $CRMSYNC_CONFIG, or ./crmsync.yaml when present);
  // without any, the embedded default: SQLite at ./crmsync.db. When neither names plugins.dir,
  // the connectors installed with the executable (default_plugin_dir()).
  Result<config::Config> load_config() const;

  // Parses argv, runs the chosen command, returns the exit code.
  int run(int argc, char** argv);

 private:
  CLI::App app_;
  std::string config_path_ = "crmsync.yaml";
  CLI::Option* config_option_ = nullptr;
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands_;
};

// The connectors installed with this executable: <bin>/../lib/crmsync/plugins (the install
// layout), or <bin>/../plugins in a build tree when only that exists.
std::string default_plugin_dir();

// Prints "crmsync: <message>" on stderr and returns kExitFailure.
int report_failure(const std::string& message);

}  // namespace crmsync::cli

#endif  // CRMSYNC_CORE_CLI_CLI_H
