// Importing a CSV file of sales for a business (spec 8.1.6): the business's csv integration
// (created on its first import as "{business}-csv"), a sync run of trigger csv holding the
// business's import lease, the csv connector streaming the file through the pipeline in large
// batches, the run's summary logged. Used by `crmsync import-csv` and by the admin API's upload
// jobs.
#ifndef CRMSYNC_CORE_IMPORTS_CSV_IMPORT_H
#define CRMSYNC_CORE_IMPORTS_CSV_IMPORT_H

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

namespace crmsync::imports {

// How an import runs.
struct CsvImportOptions {
  std::filesystem::path file;             // the CSV to read
  std::filesystem::path connector;        // the csv connector library (plugins.dir/csv.so)
  uint64_t max_bytes = 10 * 1024 * 1024;  // larger files are refused by the connector
  std::string owner;                      // lease owner of the import run
  std::function<store::Timestamp()> now;  // the clock
  // Called after each committed batch with the totals so far and the bytes of the file read.
  std::function<void(const pipeline::Totals& totals, uint64_t bytes_read)> on_progress;
};

// Whether name (what follows "{business}-" in an integration id) is the form the business's CSV
// import integration takes: "csv", or "csv.N" when a platform admin gave "{business}-csv" to
// another business. Business owners cannot create integrations of these names, so no tenant can
// take another's (or its own) import integration.
bool is_csv_import_name(std::string_view name);

// What an import did.
struct CsvImportResult {
  int64_t run_id = 0;
  std::string integration_id;
  pipeline::Totals totals;
  std::vector<pipeline::ItemError>
      errors;           // the first failed rows (pipeline::Options::kept_errors)
  std::string summary;  // "Imported 25 transactions, 2 errors"
};

// Imports options.file for the business. Errors: NOT_FOUND (business), CONFLICT (another import
// of the business is running), the connector's error for an unreadable file (the run is then
// recorded failed with the message logged); rows that fail are counted, not errors.
Result<CsvImportResult> import_csv(store::Store& store, const std::string& business_id,
                                   const CsvImportOptions& options);

// Text of an error report made safe to open in a spreadsheet (OWASP's advice on CSV injection):
// tab, CR and LF become spaces (one error is one line and one cell), and every cell that a
// spreadsheet could cut out of it (its start, and what follows a ',' or ';') beginning with '=',
// '+', '-' or '@' gets a leading "'", so a formula smuggled into a CSV cell and quoted in a
// reason never runs.
std::string neutralize_cells(std::string_view text);

// The row error report as JSON, [{"row": "Row 7", "reason": "..."}], every text neutralized;
// invalid UTF-8 is replaced (U+FFFD).
std::string report_json(const std::vector<pipeline::ItemError>& errors);

// Writes the per-row report ("Row 7: Amount is not a number" per line, neutralized, then how
// many more were not listed when total_failed exceeds the rows kept) to path.
Result<void> write_error_report(const std::filesystem::path& path,
                                const std::vector<pipeline::ItemError>& errors,
                                int64_t total_failed);

}  // namespace crmsync::imports

#endif  // CRMSYNC_CORE_IMPORTS_CSV_IMPORT_H
