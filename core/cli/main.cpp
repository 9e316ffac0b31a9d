// Entry point of the crmsync tool: registers every command and runs the one chosen.
#include "cli/cli.h"
#include "cli/commands/commands.h"

int main(int argc, char** argv) {
  crmsync::cli::Cli cli;
  crmsync::cli::register_plugins(cli);
  crmsync::cli::register_plugin_check(cli);
  crmsync::cli::register_business(cli);
  crmsync::cli::register_import_csv(cli);
  crmsync::cli::register_migrate(cli);
  crmsync::cli::register_keys(cli);
  crmsync::cli::register_parse(cli);
  crmsync::cli::register_sync(cli);
  crmsync::cli::register_serve(cli);
  crmsync::cli::register_demo(cli);
  crmsync::cli::register_api_key(cli);
  crmsync::cli::register_logs(cli);
  crmsync::cli::register_stats(cli);
  crmsync::cli::register_custom_test(cli);
  return cli.run(argc, argv);
}
