// `crmsync import-csv FILE --business ID [--json] [--errors-file PATH] [--max-mb N]`: imports a
// CSV of sales (date, customer_phone, amount[, description]) for a business through the csv
// connector and the pipeline, streaming, and prints the spec's summary ("Imported 25 transactions,
// 2 errors") with a per-row error report written to a file.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "cli/commands/commands.h"
#include "cli/runtime.h"
#include "pipeline/pipeline.h"
#include "plugin_host/host_services.h"
#include "plugin_host/plugin_host.h"

namespace crmsync::cli {
namespace {

struct Options {
  std::string file;
  std::string business_id;
  std::string errors_file;
  double max_mb = 10;
  bool json = false;
};

// Rows per committed batch: large batches amortize each commit's index writes, and memory stays
// bounded by the batch, not the file.
constexpr int kBatchRows = 20000;

// Lease of an import run: another import of the same business waits for it to end or expire.
constexpr std::chrono::minutes kRunLease{30};

// A progress bar on stderr, drawn only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(uint64_t total_bytes)
      : total_(total_bytes), enabled_(isatty(STDERR_FILENO) == 1) {}

  // cursor is the csv connector's "<offset>:<row>".
  void update(const pipeline::Totals& totals, std::string_view cursor) {
    if (!enabled_ || total_ == 0) return;
    uint64_t offset =
        std::strtoull(std::string(cursor.substr(0, cursor.find(':'))).c_str(), nullptr, 10);
    int percent = static_cast<int>(offset * 100 / total_);
    if (percent > 100) percent = 100;
    constexpr int kWidth = 30;
    std::string bar(static_cast<size_t>(percent * kWidth / 100), '#');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r[%s] %3d%%  %lld rows", bar.c_str(), percent,
                 static_cast<long long>(totals.fetched));
    drawn_ = true;
  }

  void finish() {
    if (drawn_) std::fputc('\n', stderr);
  }

 private:
  uint64_t total_;
  bool enabled_;
  bool drawn_ = false;
};

// The business's csv integration, created on its first import.
Result<store::Integration> csv_integration(store::Store& db, const std::string& business_id) {
  auto integrations = db.list_integrations(business_id);
  if (!integrations) return integrations.error();
  for (const store::Integration& integration : *integrations) {
    if (integration.crm_type == "csv") return integration;
  }
  store::Integration integration;
  integration.id = business_id + "-csv";
  integration.business_id = business_id;
  integration.crm_type = "csv";
  integration.created_at = integration.updated_at = now();
  if (auto created = db.create_integration(integration); !created) return created.error();
  return integration;
}

Result<std::string> write_error_report(const std::filesystem::path& path,
                                       const std::vector<pipeline::ItemError>& errors,
                                       int64_t total_errors) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return fail(CRMSYNC_E_UNAVAILABLE, "cannot write the error report " + path.string());
  for (const pipeline::ItemError& error : errors) {
    out << (error.where.empty() ? "" : error.where + ": ") << error.reason << '\n';
  }
  if (static_cast<int64_t>(errors.size()) < total_errors) {
    out << "... and " << total_errors - static_cast<int64_t>(errors.size())
        << " more errors not listed\n";
  }
  if (!out.flush()) return fail(CRMSYNC_E_UNAVAILABLE, "cannot write " + path.string());
  return path.string();
}

int run(const Cli& cli, const Options& options) {
  std::error_code ec;
  const std::filesystem::path file = std::filesystem::absolute(options.file, ec);
  if (ec || !std::filesystem::is_regular_file(file, ec)) {
    return report_failure("cannot read " + options.file + ": no such file");
  }
  if (!(options.max_mb > 0)) return report_failure("--max-mb must be positive");

  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  auto db = open_store(*config);
  if (!db) return report_failure(db.error().message);
  store::Store& store = **db;

  auto business = store.get_business(options.business_id);
  if (!business) {
    if (business.error().code == CRMSYNC_E_NOT_FOUND) {
      return report_failure("unknown business '" + options.business_id +
                            "': add it with `crmsync business add " + options.business_id +
                            " --name NAME` or in the config file");
    }
    return report_failure(business.error().message);
  }
  auto integration = csv_integration(store, business->id);
  if (!integration) return report_failure(integration.error().message);
  auto target = pipeline::make_target(*business, *integration);
  if (!target) return report_failure(target.error().message);

  plugin_host::PluginHost host;
  plugin_host::LoadResult loaded = host.load(std::filesystem::path(config->plugins.dir) / "csv.so");
  if (!loaded.ok()) return report_failure(loaded.error);

  const nlohmann::json settings = {
      {"path", file.string()},
      {"max_bytes", static_cast<uint64_t>(options.max_mb * 1024 * 1024)},
      {"batch_rows", kBatchRows}};
  plugin_host::DefaultHostServices services;
  auto instance = host.open_instance("csv", integration->id, settings.dump(), business->timezone,
                                     business->currency, services);
  if (!instance) return report_failure(instance.error().message);

  const std::string owner = "import-csv-" + std::to_string(getpid());
  auto run = store.start_run(integration->id, store::RunTrigger::csv, owner, kRunLease, now());
  if (!run) return report_failure(run.error().message);
  if (!*run) {
    return report_failure("another import for business '" + business->id + "' is running");
  }

  Progress progress(std::filesystem::file_size(file, ec));
  pipeline::Options ingest_options;
  ingest_options.on_batch = [&](const pipeline::Totals& totals, std::string_view cursor) {
    progress.update(totals, cursor);
  };
  ingest_options.now = now;
  pipeline::Ingest ingest(store, std::move(*target), (*run)->id, std::move(ingest_options));
  auto imported = ingest.run(**instance, "");
  progress.finish();

  const std::string summary = ingest.summary();
  store::LogEntry line;
  line.business_id = business->id;
  line.integration_id = integration->id;
  line.run_id = (*run)->id;
  line.type = imported ? store::LogType::success : store::LogType::error;
  line.error_type = imported ? "" : code_name(imported.error().code);
  line.message =
      imported ? "CSV " + file.filename().string() + ": " + summary : imported.error().message;
  line.created_at = now();
  auto finished = store.finish_run((*run)->id, owner,
                                   imported ? store::RunStatus::success : store::RunStatus::failed,
                                   line.error_type, imported ? "" : line.message, now());
  if (auto logged = store.append_logs({&line, 1}); !logged) {
    return report_failure(logged.error().message);
  }
  if (!imported) return report_failure(imported.error().message);
  if (!finished) return report_failure(finished.error().message);

  const pipeline::Totals& totals = ingest.totals();
  std::string report_path;
  if (totals.failed > 0) {
    std::filesystem::path path = options.errors_file.empty()
                                     ? std::filesystem::path(file.string() + ".errors.txt")
                                     : std::filesystem::path(options.errors_file);
    auto written = write_error_report(path, ingest.errors(), totals.failed);
    if (!written) return report_failure(written.error().message);
    report_path = *written;
  }

  if (options.json) {
    nlohmann::json result = {{"rows", totals.fetched},
                             {"imported", totals.inserted},
                             {"errors", totals.failed},
                             {"duplicates", totals.duplicates}};
    if (!report_path.empty()) result["error_report"] = report_path;
    std::printf("%s\n", result.dump().c_str());
  } else {
    std::printf("%s\n", summary.c_str());
    if (!report_path.empty()) std::printf("Error report: %s\n", report_path.c_str());
  }
  return kExitOk;
}

}  // namespace

void register_import_csv(Cli& cli) {
  auto options = std::make_shared<Options>();
  CLI::App* command = cli.add_command("import-csv", "Import sales from a CSV file",
                                      [&cli, options] { return run(cli, *options); });
  command->add_option("file", options->file, "CSV with date, customer_phone, amount[, description]")
      ->required();
  command->add_option("--business", options->business_id, "Business id")->required();
  command->add_flag("--json", options->json,
                    "Print {\"rows\",\"imported\",\"errors\",\"duplicates\"} as JSON");
  command->add_option("--errors-file", options->errors_file,
                      "Where to write the per-row error report (default FILE.errors.txt)");
  command->add_option("--max-mb", options->max_mb, "Largest file accepted, in MB")
      ->capture_default_str();
}

}  // namespace crmsync::cli
