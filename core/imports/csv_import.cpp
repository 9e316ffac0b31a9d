#include "imports/csv_import.h"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/json.h"

#include "plugin_host/host_services.h"
#include "plugin_host/plugin_host.h"

namespace crmsync::imports {
namespace {

// Rows per committed batch: large batches amortize each commit's index writes, and memory stays
// bounded by the batch, not the file.
constexpr int kBatchRows = 20000;

// Lease of an import run: another import of the same business waits for it to end or expire.
constexpr std::chrono::minutes kRunLease{30};

// The business's csv integration, created on its first import.
Result<store::Integration> csv_integration(store::Store& db, const std::string& business_id,
                                           store::Timestamp now) {
  auto integrations = db.list_integrations(business_id);
  if (!integrations) return integrations.error();
  for (const store::Integration& integration : *integrations) {
    if (integration.crm_type == "csv") return integration;
  }
  store::Integration integration;
  integration.id = business_id + "-csv";
  integration.business_id = business_id;
  integration.crm_type = "csv";
  integration.created_at = integration.updated_at = now;
  if (auto created = db.create_integration(integration); !created) return created.error();
  return integration;
}

// The csv connector's cursor is "<offset>:<row>".
uint64_t bytes_read(std::string_view cursor) {
  return std::strtoull(std::string(cursor.substr(0, cursor.find(':'))).c_str(), nullptr, 10);
}

}  // namespace

Result<CsvImportResult> import_csv(store::Store& store, const std::string& business_id,
                                   const CsvImportOptions& options) {
  auto business = store.get_business(business_id);
  if (!business) return business.error();
  auto integration = csv_integration(store, business->id, options.now());
  if (!integration) return integration.error();
  auto target = pipeline::make_target(*business, *integration);
  if (!target) return target.error();

  plugin_host::PluginHost host;
  plugin_host::LoadResult loaded = host.load(options.connector);
  if (!loaded.ok()) return fail(CRMSYNC_E_UNAVAILABLE, loaded.error);
  const nlohmann::json settings = {{"path", options.file.string()},
                                   {"max_bytes", options.max_bytes},
                                   {"batch_rows", kBatchRows}};
  plugin_host::DefaultHostServices services;
  auto instance = host.open_instance("csv", integration->id, dump_json(settings),
                                     business->timezone, business->currency, services);
  if (!instance) return instance.error();

  auto run = store.start_run(integration->id, store::RunTrigger::csv, options.owner, kRunLease,
                             options.now());
  if (!run) return run.error();
  if (!*run) {
    return fail(CRMSYNC_E_CONFLICT,
                "another import for business '" + business->id + "' is running");
  }

  pipeline::Options ingest_options;
  ingest_options.on_batch = [&](const pipeline::Totals& totals, std::string_view cursor) {
    if (options.on_progress) options.on_progress(totals, bytes_read(cursor));
  };
  ingest_options.now = options.now;
  pipeline::Ingest ingest(store, std::move(*target), (*run)->id, std::move(ingest_options));
  auto imported = ingest.run(**instance, "");

  const std::string summary = ingest.summary();
  store::LogEntry line;
  line.business_id = business->id;
  line.integration_id = integration->id;
  line.run_id = (*run)->id;
  line.type = imported ? store::LogType::success : store::LogType::error;
  line.error_type = imported ? "" : code_name(imported.error().code);
  line.message = imported ? "CSV " + options.file.filename().string() + ": " + summary
                          : imported.error().message;
  line.created_at = options.now();
  auto finished = store.finish_run((*run)->id, options.owner,
                                   imported ? store::RunStatus::success : store::RunStatus::failed,
                                   line.error_type, imported ? "" : line.message, options.now());
  if (auto logged = store.append_logs({&line, 1}); !logged) return logged.error();
  if (!imported) return imported.error();
  if (!finished) return finished.error();

  CsvImportResult result;
  result.run_id = (*run)->id;
  result.integration_id = integration->id;
  result.totals = ingest.totals();
  result.errors = ingest.errors();
  result.summary = summary;
  return result;
}

Result<void> write_error_report(const std::filesystem::path& path,
                                const std::vector<pipeline::ItemError>& errors,
                                int64_t total_failed) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return fail(CRMSYNC_E_UNAVAILABLE, "cannot write the error report " + path.string());
  for (const pipeline::ItemError& error : errors) {
    out << (error.where.empty() ? "" : error.where + ": ") << error.reason << '\n';
  }
  if (static_cast<int64_t>(errors.size()) < total_failed) {
    out << "... and " << total_failed - static_cast<int64_t>(errors.size())
        << " more errors not listed\n";
  }
  if (!out.flush()) return fail(CRMSYNC_E_UNAVAILABLE, "cannot write " + path.string());
  return {};
}

}  // namespace crmsync::imports
