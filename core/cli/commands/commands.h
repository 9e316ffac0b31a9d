// Registration of the crmsync commands: one function per commands/<name>.cpp, each called once
// from main().
#ifndef CRMSYNC_CORE_CLI_COMMANDS_COMMANDS_H
#define CRMSYNC_CORE_CLI_COMMANDS_COMMANDS_H

#include "cli/cli.h"

namespace crmsync::cli {

// `crmsync plugins [--json]`: the connectors the config enables and why any failed to load.
void register_plugins(Cli& cli);

// `crmsync plugin-check PATH.so [--config-json JSON]`: the conformance checks for one connector.
void register_plugin_check(Cli& cli);

// `crmsync business add|list`: the partner businesses in the store.
void register_business(Cli& cli);

// `crmsync import-csv FILE --business ID`: a CSV of sales through the pipeline into the store.
void register_import_csv(Cli& cli);

// `crmsync migrate`: applies pending schema migrations.
void register_migrate(Cli& cli);

// `crmsync keys rotate`: re-seals stored credentials under a new master key.
void register_keys(Cli& cli);

// `crmsync parse --connector ID --kind response|webhook FILE`: a connector's mapping, offline.
void register_parse(Cli& cli);

// `crmsync sync --integration ID`: one sync of an integration now.
void register_sync(Cli& cli);

// `crmsync serve`: the scheduler, until SIGTERM or SIGINT.
void register_serve(Cli& cli);

// `crmsync api-key create|delete`: keys of the admin API.
void register_api_key(Cli& cli);
// `crmsync logs --integration ID`: log lines, newest first.
void register_logs(Cli& cli);
// `crmsync stats --integration ID`: the spec's statistics over 30 days.
void register_stats(Cli& cli);
// `crmsync custom-test --sample FILE | --live`: a custom connector's sandbox.
void register_custom_test(Cli& cli);
// `crmsync demo`: simulated CRMs synced for a while, and a table of the result.
void register_demo(Cli& cli);

}  // namespace crmsync::cli

#endif  // CRMSYNC_CORE_CLI_COMMANDS_COMMANDS_H
