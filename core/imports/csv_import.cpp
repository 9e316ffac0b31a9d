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

// Ids "{business}-csv.2" ... tried when "{business}-csv" belongs to another business.
constexpr int kCsvIdAttempts = 100;

// The business's csv integration, created on its first import. Its id is "{business}-csv"
// unless that id is taken by another business's integration (a platform admin's choice, or a
// store written before owners' ids were confined to their business): then the first free
// "{business}-csv.N".
Result<store::Integration> csv_integration(store::Store& db, const std::string& business_id,
                                           store::Timestamp now) {
  auto integrations = db.list_integrations(business_id);
  if (!integrations) return integrations.error();
  for (const store::Integration& integration : *integrations) {
    if (integration.crm_type == "csv") return integration;
  }
  store::Integration integration;
  integration.business_id = business_id;
  integration.crm_type = "csv";
  integration.created_at = integration.updated_at = now;
  for (int n = 1; n <= kCsvIdAttempts; ++n) {
    integration.id = business_id + "-csv" + (n == 1 ? "" : "." + std::to_string(n));
    auto taken = db.get_integration(integration.id);
    if (taken) continue;
    if (taken.error().code != CRMSYNC_E_NOT_FOUND) return taken.error();
    auto created = db.create_integration(integration);
    if (created) return integration;
    // The id was taken meanwhile: by another host's first import of the business (use its
    // integration) or by another business (try the next id).
    auto again = db.get_integration(integration.id);
    if (!again) return created.error();
    if (again->business_id == business_id && again->crm_type == "csv") return *again;
  }
  return fail(CRMSYNC_E_CONFLICT,
              "no free id for the CSV import integration of business '" + business_id + "'");
}

// The csv connector's cursor is "<offset>:<row>".
uint64_t bytes_read(std::string_view cursor) {
  return std::strtoull(std::string(cursor.substr(0, cursor.find(':'))).c_str(), nullptr, 10);
}

}  // namespace

bool is_csv_import_name(std::string_view name) {
  return name == "csv" || name.starts_with("csv.");
}

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

std::string neutralize_cells(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  bool cell_start = true;
  for (char c : text) {
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
    if (cell_start && (c == '=' || c == '+' || c == '-' || c == '@')) out += '\'';
    out += c;
    // Spaces before a cell's first character do not make it text to every spreadsheet.
    cell_start = c == ',' || c == ';' || (cell_start && c == ' ');
  }
  return out;
}

std::string report_json(const std::vector<pipeline::ItemError>& errors) {
  nlohmann::json rows = nlohmann::json::array();
  for (const pipeline::ItemError& error : errors) {
    rows.push_back(
        {{"row", neutralize_cells(error.where)}, {"reason", neutralize_cells(error.reason)}});
  }
  return rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<void> write_error_report(const std::filesystem::path& path,
                                const std::vector<pipeline::ItemError>& errors,
                                int64_t total_failed) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return fail(CRMSYNC_E_UNAVAILABLE, "cannot write the error report " + path.string());
  for (const pipeline::ItemError& error : errors) {
    out << neutralize_cells((error.where.empty() ? "" : error.where + ": ") + error.reason) << '\n';
  }
  if (static_cast<int64_t>(errors.size()) < total_failed) {
    out << "... and " << total_failed - static_cast<int64_t>(errors.size())
        << " more errors not listed\n";
  }
  if (!out.flush()) return fail(CRMSYNC_E_UNAVAILABLE, "cannot write " + path.string());
  return {};
}

}  // namespace crmsync::imports
