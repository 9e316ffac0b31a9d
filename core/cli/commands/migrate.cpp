// `crmsync migrate`: applies the store's pending schema migrations and prints the schema version.
// (Every command that opens the store migrates too; this one does only that, for deployments
// that migrate before starting hosts.)
#include <cstdio>

#include "cli/commands/commands.h"
#include "cli/runtime.h"

namespace crmsync::cli {

void register_migrate(Cli& cli) {
  cli.add_command("migrate", "Apply pending database migrations", [&cli] {
    auto config = cli.load_config();
    if (!config) return report_failure(config.error().message);
    auto db = open_store(*config);
    if (!db) return report_failure(db.error().message);
    auto version = (*db)->schema_version();
    if (!version) return report_failure(version.error().message);
    std::printf("Schema is at version %d\n", *version);
    return kExitOk;
  });
}

}  // namespace crmsync::cli
