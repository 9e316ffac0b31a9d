// The ingest pipeline (DESIGN §4): what every source's records go through on their way into the
// store. A connector delivers raw records through its sink; the pipeline normalizes each one
// (phone to E.164, amount to minor units, time to UTC), gives it its dedup key, and commits the
// batch with the connector's cursor in one store transaction (transactions, outbox events, run
// counters and log lines together), so a sale is stored exactly once however often it arrives.
//
// Logs stay proportionate: the first few failures and duplicates of a run are logged one by one
// with their data, the rest only counted, and the caller writes one summary line per run.
#ifndef CRMSYNC_CORE_PIPELINE_PIPELINE_H
#define CRMSYNC_CORE_PIPELINE_PIPELINE_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "normalize/utc_time.h"
#include "plugin_host/plugin_host.h"
#include "store/store.h"

namespace crmsync::pipeline {

// The integration whose records are ingested, with what normalization needs to know.
struct Target {
  std::string business_id;
  std::string integration_id;
  std::string id_prefix;  // prefix of external ids, the connector id in upper case: "YCLIENTS"
  normalize::TimeZone zone;
  std::string region = "RU";     // default phone region of the business
  std::string currency = "RUB";  // default currency of the business
  // A phone that cannot be read makes the record an error (CSV: the spec skips such rows);
  // otherwise the sale is stored without a customer and a warning is logged.
  bool invalid_phone_is_error = false;
};

// The time zone of an integration's local times: its `timezone` setting when it has one (a
// CRM kept in another zone than the business, such as a head office's 1С), else the business's.
std::string integration_timezone(const store::Business& business,
                                 const store::Integration& integration);

// Builds the Target of an integration of a business (in integration_timezone); an unknown time
// zone is an error.
Result<Target> make_target(const store::Business& business, const store::Integration& integration);

// What the host accepts of a connector's record (documented in connector.h): anything outside
// these limits fails the record, with a reason that names the field, before anything is stored.
namespace limits {
// Every string field must be well-formed UTF-8; these are their lengths in bytes at most.
inline constexpr size_t kExternalId = 256;
inline constexpr size_t kOccurredAt = 64;
inline constexpr size_t kAmount = 64;  // a decimal amount as text, of the record or an item
inline constexpr size_t kCurrency = 16;
inline constexpr size_t kCustomerPhone = 64;
inline constexpr size_t kCustomerRef = 256;
inline constexpr size_t kDescription = 4096;
inline constexpr size_t kLocator = 256;
inline constexpr size_t kRawJson = 1 << 20;  // kept for the log of a failure
inline constexpr size_t kItems = 500;        // item lines of one record
inline constexpr size_t kItemName = 1024;
inline constexpr size_t kItemQuantity = 64;
// Amounts in minor units are within 1..kAmountMinor (ten billion roubles). A sum of up to
// kSummable such amounts fits a signed 64-bit integer (checked below), so no sum over a
// business's sales that a report could ask for overflows before it has 9 million of them.
inline constexpr int64_t kAmountMinor = 1'000'000'000'000;
inline constexpr int64_t kSummable = 9'000'000;
static_assert(kAmountMinor <= INT64_MAX / kSummable);
// occurred_at lies within [kEarliest, the host's clock + kAhead].
inline constexpr store::Timestamp kEarliest{std::chrono::milliseconds(946'684'800'000)};  // 2000
inline constexpr std::chrono::hours kAhead{24};
}  // namespace limits

// Why the text of a connector's record breaks the limits above (UTF-8, lengths, item count;
// "; " between reasons), or empty when it keeps them. normalize_record checks the rest.
std::string check_text_fields(const crmsync_record_v1& record);

// What normalization made of one connector record.
struct Normalized {
  std::optional<store::NormalizedTransaction> transaction;  // the sale to store, when it is one
  std::string error;    // why the record cannot be stored ("; " between reasons) otherwise
  std::string warning;  // a note on a stored sale, e.g. a phone that could not be read
};

// Checks one record against the limits (its text, its amount, its date within the window of the
// host's clock now) and normalizes it for target (phone, amount, time, dedup key); no store, no
// I/O, so the offline `crmsync parse` shows exactly what a sync would store.
Normalized normalize_record(const Target& target, const crmsync_record_v1& record,
                            store::Timestamp now);

// Counters of one ingest.
struct Totals {
  int64_t fetched = 0;     // objects the connector delivered (records, skips and failures)
  int64_t inserted = 0;    // new transactions
  int64_t duplicates = 0;  // sales already stored
  int64_t failed = 0;      // objects that could not be read or normalized
  int64_t skipped = 0;     // objects that are not sales (unpaid, deleted, ...)
};

// One object that failed, for error reports: "Row 7: Amount is not a number".
struct ItemError {
  std::string where;   // the record's locator ("Row 7") or external id; may be empty
  std::string reason;  // why, fit to show to a business owner
};

// How an ingest behaves.
struct Options {
  // Individual log lines per kind (failure, duplicate) per run; beyond that only counts.
  int logged_examples = 20;
  // Errors kept in memory for the report; beyond that only counted (bounded memory).
  size_t kept_errors = 100000;
  // Called after each committed batch, on the ingesting thread.
  std::function<void(const Totals& totals, std::string_view cursor)> on_batch;
  // The clock, for created_at of logs and runs.
  std::function<store::Timestamp()> now;
};

// Runs a connector's fetch loop into the store for one sync run.
class Ingest {
 public:
  // run_id: the sync run whose counters the batches update (may be absent, e.g. for tests).
  Ingest(store::Store& store, Target target, std::optional<int64_t> run_id, Options options = {});

  // Calls fetch from cursor until the connector reports no more data, committing each batch
  // with its cursor. Returns the cursor after the last committed batch. An error of the
  // connector or the store stops the loop; batches committed before it stay committed.
  Result<std::string> run(plugin_host::Instance& instance, std::string cursor);

  // Ingests what one connector call delivers outside the fetch loop (fetch_object,
  // parse_webhook) as one batch, without moving the cursor: add_call, then commit_pending.
  // Returns the object ids the call asked to re-read (a webhook that only names its objects).
  Result<std::vector<std::string>> ingest_call(
      const std::function<Result<void>(plugin_host::RecordSink&)>& call);

  // Adds what one connector call delivers to the pending batch, which gathers several calls
  // (a group of webhooks) into one commit. A call that fails leaves the batch as it found it:
  // its records, log lines and counts are taken out again, the other calls' stay. Returns the
  // object ids the call asked to re-read.
  Result<std::vector<std::string>> add_call(
      const std::function<Result<void>(plugin_host::RecordSink&)>& call);

  // Commits the pending batch in one store transaction, with the inbox items to mark done in it
  // (leased to lease_owner; a lost lease stores nothing), and starts a new one either way.
  Result<void> commit_pending(std::vector<int64_t> inbox_done = {}, std::string lease_owner = {});

  // Counters so far.
  const Totals& totals() const noexcept;
  // Failed objects so far (at most Options::kept_errors of them).
  const std::vector<ItemError>& errors() const noexcept;
  // "Imported 25 transactions, 2 errors, 3 duplicates skipped": the spec's run summary.
  std::string summary() const;

 private:
  class Collector;

  // What one fetch ended with.
  struct Fetched {
    std::string cursor;
    bool more = false;
  };
  // Clears batch for the next call.
  void reset(store::Batch& batch);
  // Commits batch and adds its counters to the totals.
  Result<void> commit(const store::Batch& batch);

  // Runs one fetch from cursor into batch (cleared first). The only code that runs on the
  // second thread: it touches the batch, the failure counters and errors_, nothing else.
  Result<Fetched> fetch_batch(plugin_host::Instance& instance, const std::string& cursor,
                              store::Batch& batch);

  // Counts a failed object, logs it while under the example limit and keeps it for the report.
  Result<void> record_failure(store::Batch& batch, std::string where, std::string reason,
                              std::string_view raw_json);
  // Logs the first duplicates of the run one by one ("Duplicate skipped: YCLIENTS-123").
  Result<void> log_duplicates(const store::Batch& batch, const store::BatchResult& result);

  store::Store& store_;
  Target target_;
  std::optional<int64_t> run_id_;
  Options options_;
  Totals totals_;
  std::vector<ItemError> errors_;
  int logged_failures_ = 0;
  int logged_duplicates_ = 0;
  store::Batch pending_;  // what add_call gathered since the last commit_pending
};

}  // namespace crmsync::pipeline

#endif  // CRMSYNC_CORE_PIPELINE_PIPELINE_H
