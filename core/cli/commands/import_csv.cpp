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

#include "base/json.h"

#include "cli/commands/commands.h"
#include "cli/runtime.h"
#include "imports/csv_import.h"

namespace crmsync::cli {
namespace import_csv_command {

struct Options {
  std::string file;
  std::string business_id;
  std::string errors_file;
  double max_mb = 10;
  bool json = false;
};

// A progress bar on stderr, drawn only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(uint64_t total_bytes)
      : total_(total_bytes), enabled_(isatty(STDERR_FILENO) == 1) {}

  void update(const pipeline::Totals& totals, uint64_t offset) {
    if (!enabled_ || total_ == 0) return;
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
  Progress progress(std::filesystem::file_size(file, ec));
  imports::CsvImportOptions job;
  job.file = file;
  job.connector = std::filesystem::path(config->plugins.dir) / "csv.so";
  job.max_bytes = static_cast<uint64_t>(options.max_mb * 1024 * 1024);
  job.owner = "import-csv-" + std::to_string(getpid());
  job.now = now;
  job.on_progress = [&](const pipeline::Totals& totals, uint64_t bytes_read) {
    progress.update(totals, bytes_read);
  };
  auto imported = imports::import_csv(store, business->id, job);
  progress.finish();
  if (!imported) return report_failure(imported.error().message);

  const pipeline::Totals& totals = imported->totals;
  std::string report_path;
  if (totals.failed > 0) {
    std::filesystem::path path = options.errors_file.empty()
                                     ? std::filesystem::path(file.string() + ".errors.txt")
                                     : std::filesystem::path(options.errors_file);
    auto written = imports::write_error_report(path, imported->errors, totals.failed);
    if (!written) return report_failure(written.error().message);
    report_path = path.string();
  }

  if (options.json) {
    nlohmann::json result = {{"rows", totals.fetched},
                             {"imported", totals.inserted},
                             {"errors", totals.failed},
                             {"duplicates", totals.duplicates}};
    if (!report_path.empty()) result["error_report"] = report_path;
    std::printf("%s\n", dump_json(result).c_str());
  } else {
    std::printf("%s\n", imported->summary.c_str());
    if (!report_path.empty()) std::printf("Error report: %s\n", report_path.c_str());
  }
  return kExitOk;
}

}  // namespace import_csv_command

void register_import_csv(Cli& cli) {
  using namespace import_csv_command;
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
