// The storage layer: one Store interface over the host's database (DESIGN §5), with two backends
// behind it, SQLite (embedded default) and PostgreSQL (several hosts sharing the work, §6).
//
// All times are UTC Unix milliseconds (Timestamp) and are passed in by the caller, so the host's
// clock (and the tests') decides what "now" is. Every method is thread-safe. Failures of the
// database are Errors: UNAVAILABLE when it cannot be reached, CONFLICT for lost races and leases,
// NOT_FOUND for missing rows, INVALID_INPUT for values the schema refuses.
#ifndef CRMSYNC_CORE_STORE_STORE_H
#define CRMSYNC_CORE_STORE_STORE_H

#include "base/result.h"
#include "crypto/crypto.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace crmsync::store {

// A point in time, UTC, millisecond precision; stored as BIGINT Unix milliseconds.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

// Which database engine holds the data.
enum class Backend { sqlite, postgres };

// How to reach the database.
struct StorageConfig {
  Backend backend = Backend::sqlite;
  std::string target;  // SQLite file path, or a libpq conninfo string / postgres:// URL
  int pool_size = 4;   // connections kept open at most
  std::chrono::milliseconds busy_timeout{5000};  // SQLite: how long to wait for the write lock
  bool migrate_on_open = true;  // apply pending migrations before open_store returns
};

// A partner business.
struct Business {
  std::string id;
  std::string name;
  std::string timezone = "Europe/Moscow";  // IANA zone for local CRM times
  std::string region = "RU";               // default phone region
  std::string currency = "RUB";            // ISO 4217
  std::optional<Timestamp> last_sync_at;
  Timestamp created_at{};
};

// One CRM connection of a business (a business may have several).
struct Integration {
  std::string id;
  std::string business_id;
  std::string crm_type;              // connector id: "yclients", "1c", "iiko", "csv"...
  std::string settings_json = "{}";  // non-secret settings (JSON object)
  crypto::Sealed credentials;        // secret settings, sealed; empty blob when none
  bool active = true;
  std::optional<Timestamp> last_sync_at;
  int consecutive_failures = 0;
  Timestamp created_at{};
  Timestamp updated_at{};
};

// A platform user, matched to sales by phone.
struct User {
  std::string id;
  std::string phone_e164;
  Timestamp created_at{};
};

// A sale already normalized by the pipeline.
struct NormalizedTransaction {
  std::string external_id;  // with the connector prefix, e.g. "YCLIENTS-67890"
  Timestamp occurred_at{};
  int64_t amount_minor = 0;
  std::string currency = "RUB";
  std::string phone_e164;    // empty when unknown
  std::string customer_ref;  // card number or hashed patient id; may be empty
  std::string description;
  std::string items_json = "[]";  // JSON array of item lines
  bool is_medical = false;
};

// A stored sale.
struct Transaction : NormalizedTransaction {
  int64_t id = 0;
  std::string business_id;
  std::string integration_id;  // empty once the integration was deleted
  std::optional<std::string> user_id;
  Timestamp created_at{};
};

// The spec's log types.
enum class LogType { success, error, warning };

// One line of integration_logs.
struct LogEntry {
  int64_t id = 0;  // assigned by the store
  std::string business_id;
  std::string integration_id;  // may be empty for business-level lines
  std::optional<int64_t> run_id;
  LogType type = LogType::success;
  std::string error_type;  // "ConnectionError", "ParseError"... may be empty
  std::string message;
  std::string raw_json;  // the offending object; stored as a JSON string when it is not JSON
  std::string context;   // stack or extra detail
  Timestamp created_at{};
};

// Filters of list_logs; results are newest first.
struct LogQuery {
  std::optional<std::string> business_id;
  std::optional<std::string> integration_id;
  std::optional<LogType> type;
  std::optional<int64_t> before_id;  // paging: only lines older than this id
  int limit = 100;
};

// What started a sync run.
enum class RunTrigger { schedule, manual, webhook, csv };

// Where a sync run is.
enum class RunStatus { running, success, failed, abandoned };

// Record counters of a run.
struct RunCounts {
  int64_t fetched = 0;
  int64_t inserted = 0;    // new transactions
  int64_t duplicates = 0;  // already stored
  int64_t failed = 0;
  int64_t skipped = 0;
};

// A sync run; a running run holds a lease so that at most one host runs an integration.
struct SyncRun {
  int64_t id = 0;
  std::string integration_id;
  RunTrigger trigger = RunTrigger::schedule;
  RunStatus status = RunStatus::running;
  Timestamp started_at{};
  std::optional<Timestamp> finished_at;
  RunCounts counts;
  std::string error_type;
  std::string error_message;
  std::string cursor_before;
  std::string cursor_after;
  std::string lease_owner;
  std::optional<Timestamp> lease_until;
};

// Counters the caller knows about a batch; inserted and duplicates are computed by commit_batch.
struct RunIncrements {
  int64_t fetched = 0;
  int64_t failed = 0;
  int64_t skipped = 0;
};

// Everything one fetched batch changes, committed in one database transaction.
struct Batch {
  std::string business_id;
  std::string integration_id;
  std::optional<int64_t> run_id;  // counters go to this run when set
  std::vector<NormalizedTransaction> transactions;
  std::vector<LogEntry> logs;
  RunIncrements increments;
  std::optional<std::string> cursor;  // the integration's next cursor, when it advances
  Timestamp now{};
  // Received webhooks (webhook_inbox ids) whose sales these are: marked done in the same
  // transaction, so a crash cannot leave a stored sale with its webhook pending. They must be
  // leased to lease_owner; when one is not, nothing of the batch is stored (CONFLICT).
  std::vector<int64_t> inbox_done;
  std::string lease_owner;
};

// What happened to one transaction of a batch.
enum class Outcome : uint8_t { inserted, duplicate };

// Result of commit_batch: outcomes[i] belongs to batch.transactions[i].
struct BatchResult {
  std::vector<Outcome> outcomes;
  int64_t inserted = 0;
  int64_t duplicates = 0;
};

// Status of a queued item (retry_queue, webhook_inbox, outbox).
enum class ItemStatus { pending, done, permanently_failed };

// How claims and failures of queued items behave.
struct LeasePolicy {
  std::chrono::milliseconds lease{std::chrono::minutes(5)};    // a dead host's items return then
  std::chrono::milliseconds backoff{std::chrono::minutes(2)};  // doubles per failure: 2, 4, 8
  // Failures before permanently_failed. The inbox's first attempt is not a retry: a webhook has
  // max_attempts retries after it (2, 4, 8 minutes later), max_attempts + 1 attempts in all.
  int max_attempts = 3;
};

// Whether a commit must be on stable storage before the call returns (see enqueue_webhooks).
enum class Sync { now, later };

// The three leased work queues.
enum class Queue { retry, inbox, outbox };

// A record that failed and waits for an item-level retry.
struct RetryItem {
  int64_t id = 0;
  std::string integration_id;
  std::string external_id;
  std::string payload_json;  // what to retry with (the raw object)
  int attempts = 0;
  ItemStatus status = ItemStatus::pending;
  Timestamp next_attempt_at{};
  std::string last_error;
};

// A received webhook, stored before it is acknowledged.
struct InboxItem {
  int64_t id = 0;
  std::string integration_id;
  Timestamp received_at{};
  std::string headers_json = "{}";
  std::string body;       // raw bytes
  std::string dedup_key;  // e.g. Standard Webhooks' webhook-id; empty: no dedup
  int attempts = 0;
  ItemStatus status = ItemStatus::pending;
  std::string last_error;
};

// How an integration's webhooks are authenticated (table webhook_endpoints).
struct WebhookEndpoint {
  std::string integration_id;
  std::string auth;            // the mode's name: "token", "hmac-sha256", "standard-webhooks"...
  crypto::Sealed secrets;      // sealed JSON array of secrets (several while one is rotated)
  std::string registered_url;  // what the provider was last given; empty: nothing registered
  Timestamp updated_at{};
};

// An event for the loyalty module, written with the transaction it announces.
struct OutboxEvent {
  int64_t id = 0;
  int64_t transaction_id = 0;
  std::string event_type;  // "transaction.created"
  // The sale and its user as they are when claimed (claim_outbox fills it; a user who registered
  // after the sale is included).
  std::string payload_json;
  int attempts = 0;
  ItemStatus status = ItemStatus::pending;
  std::optional<Timestamp> delivered_at;
};

// An alert that was sent; (integration_id, kind, streak_id) is unique: one per failure streak.
struct Alert {
  int64_t id = 0;
  std::string integration_id;
  std::string kind;  // "sync_failures", "permanently_failed"
  std::string subject;
  std::string body;
  std::string streak_id;
  Timestamp sent_at{};
};

// A connector's durable value with its version (compare-and-set).
struct StateValue {
  std::string value;
  uint64_t version = 0;
};

// An admin API key, stored only as a hash.
struct ApiKey {
  std::string id;
  std::string hash;                        // SHA-256 hex of the secret
  std::string role;                        // "admin" | "owner"
  std::optional<std::string> business_id;  // for owners
  Timestamp created_at{};
};

// The state of a CSV import job.
enum class ImportStatus { running, done, failed };

// A CSV upload of the admin API being imported, or imported (GET /imports/{id}).
struct ImportJob {
  int64_t id = 0;  // given by the store
  std::string business_id;
  ImportStatus status = ImportStatus::running;
  int64_t bytes_total = 0;
  int64_t bytes_read = 0;
  RunCounts counts;  // fetched, inserted, duplicates, failed (skipped is not kept)
  std::optional<int64_t> run_id;
  std::string summary;             // "Imported 25 transactions, 2 errors" once done
  std::string error;               // why it failed
  std::string report_json = "[]";  // the row error report: [{"row", "reason"}]
  Timestamp lease_until{};         // its host renews this while it runs
  Timestamp created_at{};
  Timestamp updated_at{};
};

// One UTC day of an integration's activity.
struct DayStats {
  Timestamp day{};          // midnight UTC that opens the day
  int64_t synced = 0;       // transactions stored that day (by sync, webhook or upload)
  int64_t failed_runs = 0;  // runs started that day that did not succeed
};

// Statistics of one integration over a window (30 days), computed by the database.
struct IntegrationStats {
  int64_t total_transactions = 0;  // all time
  std::optional<Timestamp> last_success;
  int64_t runs = 0;  // finished runs in the window
  int64_t failed_runs = 0;
  double success_rate = 0;  // successful / finished runs in the window, 0..1 (0 when no runs)
  std::optional<std::chrono::milliseconds> average_duration;
  // The window's whole UTC days, oldest first, ending with today's; quiet days included, so a
  // chart has one point per day.
  std::vector<DayStats> days;
};

// Pending items of the queues for one integration (empty id: outbox events of sales whose
// integration was deleted).
struct QueueDepth {
  std::string integration_id;
  int64_t inbox = 0;
  int64_t retry = 0;
  int64_t outbox = 0;
};

// What ops_counts reads of sync_runs and integration_logs: rows with ids above the caller's
// watermarks (it keeps totals of the rows at or below them). A run is settled once it finished
// before settled_before, or when it is still running on a lease that ended before stale_before
// (its host died; it stays "running" for the caller); a log line once written before
// settled_before. Rows that old no longer change, and no row with a lower id can still commit.
struct OpsCountsQuery {
  int64_t runs_after_id = 0;
  int64_t logs_after_id = 0;
  Timestamp settled_before{};
  Timestamp stale_before{};
};

// Totals of one integration's runs of one status.
struct RunTotals {
  std::string integration_id;
  RunStatus status = RunStatus::running;
  bool settled = false;  // the rows are at or below OpsCounts::runs_settled_through
  int64_t runs = 0;
  RunCounts counts;
};

// Error lines of integration_logs of one integration and error type.
struct ErrorTotals {
  std::string integration_id;
  std::string error_type;  // empty when the line has none
  bool settled = false;    // the rows are at or below OpsCounts::logs_settled_through
  int64_t lines = 0;
};

// Queue depths now, and totals of runs and error lines above the query's watermarks (metrics).
struct OpsCounts {
  std::vector<QueueDepth> queues;  // every integration, plus "" when deleted ones left events
  std::vector<RunTotals> runs;
  int64_t runs_settled_through = 0;  // every run with runs_after_id < id <= this is settled
  std::vector<ErrorTotals> errors;   // integration-level lines only
  int64_t logs_settled_through = 0;  // every line with logs_after_id < id <= this is settled
};

// The store. Obtain one with open_store.
class Store {
 public:
  virtual ~Store() = default;

  // The engine behind this store.
  virtual Backend backend() const noexcept = 0;

  // Applies pending migrations (safe when several processes start at once); returns how many.
  virtual Result<int> migrate() = 0;
  // The newest applied migration (0 on an empty database).
  virtual Result<int> schema_version() = 0;

  // Businesses.
  virtual Result<void> add_business(const Business& business) = 0;
  virtual Result<Business> get_business(const std::string& id) = 0;
  virtual Result<std::vector<Business>> list_businesses() = 0;
  // Changes a business's name, zone, region and currency (not its id). NOT_FOUND when unknown.
  virtual Result<void> update_business(const Business& business) = 0;
  // Deletes a business with its integrations, logs and keys. CONFLICT while sales of it are
  // stored: they are the platform's record and are kept.
  virtual Result<void> delete_business(const std::string& id) = 0;

  // Integrations. update_integration rewrites crm_type, settings and credentials.
  virtual Result<void> create_integration(const Integration& integration) = 0;
  virtual Result<Integration> get_integration(const std::string& id) = 0;
  // All integrations, or those of one business.
  virtual Result<std::vector<Integration>> list_integrations(
      const std::optional<std::string>& business_id) = 0;
  virtual Result<void> update_integration(const Integration& integration, Timestamp now) = 0;
  virtual Result<void> set_integration_active(const std::string& id, bool active,
                                              Timestamp now) = 0;
  // Deletes the integration with its runs, queues and state; its transactions stay.
  virtual Result<void> delete_integration(const std::string& id) = 0;
  // An integration's webhook authentication; NOT_FOUND when none was set up.
  virtual Result<WebhookEndpoint> get_webhook_endpoint(const std::string& integration_id) = 0;
  // Creates or replaces the integration's webhook authentication.
  virtual Result<void> put_webhook_endpoint(const WebhookEndpoint& endpoint) = 0;
  // The ids of the master keys that sealed the stored credentials and webhook secrets, each once
  // (empty when nothing is sealed): what the host checks its configured keys against at start.
  virtual Result<std::vector<std::string>> sealed_key_ids() = 0;
  // Re-seals every credential and webhook secret not sealed with new_key; returns how many
  // were re-sealed.
  virtual Result<int64_t> reseal_credentials(std::span<const crypto::MasterKey> old_keys,
                                             const crypto::MasterKey& new_key, Timestamp now) = 0;

  // Users. add_user also attaches the user to earlier unmatched sales with that phone and
  // returns how many.
  virtual Result<int64_t> add_user(const User& user) = 0;
  virtual Result<std::optional<User>> find_user_by_phone(const std::string& phone_e164) = 0;

  // Loyalty cards (iiko): card number to phone, per business.
  virtual Result<void> link_card(const std::string& business_id, const std::string& card_number,
                                 const std::string& phone_e164, Timestamp now) = 0;
  virtual Result<std::optional<std::string>> card_phone(const std::string& business_id,
                                                        const std::string& card_number) = 0;

  // Ingest: inserts the batch's transactions idempotently (UNIQUE(business_id, external_id)),
  // matches users by phone, writes a transaction.created outbox event per new transaction,
  // appends the logs, adds the run's counters, advances the cursor and completes the batch's
  // inbox items (one UPDATE for them all), all in one transaction.
  virtual Result<BatchResult> commit_batch(const Batch& batch) = 0;
  // The integration's cursor; empty before the first committed batch.
  virtual Result<std::string> get_cursor(const std::string& integration_id) = 0;
  virtual Result<std::optional<Transaction>> find_transaction(const std::string& business_id,
                                                              const std::string& external_id) = 0;

  // Logs.
  virtual Result<void> append_logs(std::span<const LogEntry> entries) = 0;
  virtual Result<std::vector<LogEntry>> list_logs(const LogQuery& query) = 0;

  // Sync runs. start_run claims the integration: it returns nullopt while another unexpired
  // run holds it, and marks a run whose lease expired as abandoned first.
  virtual Result<std::optional<SyncRun>> start_run(const std::string& integration_id,
                                                   RunTrigger trigger, const std::string& owner,
                                                   std::chrono::milliseconds lease,
                                                   Timestamp now) = 0;
  // Extends a running run's lease; CONFLICT when owner no longer holds it.
  virtual Result<void> renew_run(int64_t run_id, const std::string& owner, Timestamp until) = 0;
  // Ends a run (success, failed, or abandoned when the host stopped it), records the cursor,
  // updates last_sync_at and the consecutive failure count (abandoned leaves both), and returns
  // the count; CONFLICT when owner no longer holds the run.
  virtual Result<int> finish_run(int64_t run_id, const std::string& owner, RunStatus status,
                                 const std::string& error_type, const std::string& error_message,
                                 Timestamp now) = 0;
  virtual Result<SyncRun> get_run(int64_t run_id) = 0;
  // Newest first.
  virtual Result<std::vector<SyncRun>> list_runs(const std::string& integration_id, int limit) = 0;
  // Statistics over [now - window, now].
  virtual Result<IntegrationStats> integration_stats(const std::string& integration_id,
                                                     Timestamp now,
                                                     std::chrono::milliseconds window) = 0;

  // Queues. Claims lease up to limit due items to owner (no item goes to two owners); complete
  // and fail need the lease (CONFLICT otherwise). fail reschedules with exponential backoff and
  // returns permanently_failed after the policy's last attempt.
  virtual Result<int64_t> enqueue_retry(const RetryItem& item) = 0;
  // Several items with one commit (a webhook's re-reads past the ones made at once).
  virtual Result<void> enqueue_retries(std::span<const RetryItem> items) = 0;
  virtual Result<std::vector<RetryItem>> claim_retries(const std::string& owner, int limit,
                                                       const LeasePolicy& policy,
                                                       Timestamp now) = 0;
  // Returns nullopt when the integration already has an item with this dedup key.
  virtual Result<std::optional<int64_t>> enqueue_webhook(const InboxItem& item) = 0;
  // Stores several received webhooks with one commit (the server's group commit); for each
  // item, its id or nullopt as enqueue_webhook. All or none are stored. With Sync::now the commit
  // is on stable storage when this returns (an error of the sync alone leaves them stored, not
  // known durable); with Sync::later it may still be in the operating system's cache (SQLite)
  // until sync_commits() returns, so a caller can commit the next batch while the disk syncs this
  // one.
  virtual Result<std::vector<std::optional<int64_t>>> enqueue_webhooks(
      std::span<const InboxItem> items, Sync sync) = 0;
  // Puts every commit that returned before this call on stable storage: an fsync of SQLite's
  // write-ahead log; nothing on PostgreSQL, whose commits are synced already.
  virtual Result<void> sync_commits() = 0;
  // Claims in turns across businesses (each business's oldest due webhook first), and counts
  // each claimed webhook's attempt in the claim's commit, moving next_attempt_at to when a
  // retry of this attempt would be due. A webhook whose attempts are used up by mappings that
  // never finished is returned permanently_failed, with its last_error, and not leased.
  virtual Result<std::vector<InboxItem>> claim_webhooks(const std::string& owner, int limit,
                                                        const LeasePolicy& policy,
                                                        Timestamp now) = 0;
  // When the oldest webhook not yet processed (pending: new, being mapped, or waiting for a
  // retry) was received; nullopt when none is. Reads the pending part of the status index.
  virtual Result<std::optional<Timestamp>> oldest_pending_webhook() = 0;
  // Extends the leases of owner's claimed webhooks to until (a long mapping in progress);
  // CONFLICT when one of them is no longer leased to owner.
  virtual Result<void> renew_webhooks(std::span<const int64_t> ids, const std::string& owner,
                                      Timestamp until) = 0;
  virtual Result<std::vector<OutboxEvent>> claim_outbox(const std::string& owner, int limit,
                                                        const LeasePolicy& policy,
                                                        Timestamp now) = 0;
  virtual Result<void> complete_item(Queue queue, int64_t id, const std::string& owner,
                                     Timestamp now) = 0;
  virtual Result<ItemStatus> fail_item(Queue queue, int64_t id, const std::string& owner,
                                       const std::string& error, const LeasePolicy& policy,
                                       Timestamp now) = 0;

  // Alerts. record_alert returns false when this streak was already alerted.
  virtual Result<bool> record_alert(const Alert& alert) = 0;
  virtual Result<std::vector<Alert>> list_alerts(const std::string& integration_id) = 0;

  // Connector state: get, and compare-and-set (expected_version 0: the key must not exist).
  // state_cas returns the new version, or CONFLICT when the version moved.
  virtual Result<std::optional<StateValue>> state_get(const std::string& integration_id,
                                                      const std::string& key) = 0;
  virtual Result<uint64_t> state_cas(const std::string& integration_id, const std::string& key,
                                     uint64_t expected_version, const std::string& value,
                                     Timestamp now) = 0;

  // Metrics: queue depths by one GROUP BY over the pending part of each queue's status index;
  // runs and error lines above the watermarks by primary-key range scans, so that a caller
  // that advances the watermarks reads only recent rows however old the database is.
  virtual Result<OpsCounts> ops_counts(const OpsCountsQuery& query) = 0;

  // API keys.
  virtual Result<void> add_api_key(const ApiKey& key) = 0;
  virtual Result<std::optional<ApiKey>> find_api_key(const std::string& hash) = 0;
  virtual Result<void> delete_api_key(const std::string& id) = 0;

  // Import jobs. create_import_job returns the new job's id; update_import_job writes the job's
  // status, progress, counts, run, summary, error, report, lease and updated_at.
  virtual Result<int64_t> create_import_job(const ImportJob& job) = 0;
  virtual Result<void> update_import_job(const ImportJob& job) = 0;
  virtual Result<ImportJob> get_import_job(int64_t id) = 0;
};

// Opens (and by default migrates) the configured database.
Result<std::unique_ptr<Store>> open_store(const StorageConfig& config);

// The database's name of an enum value ("success", "webhook", "permanently_failed"...).
const char* to_string(LogType type) noexcept;
const char* to_string(RunTrigger trigger) noexcept;
const char* to_string(RunStatus status) noexcept;
const char* to_string(ItemStatus status) noexcept;

}  // namespace crmsync::store

#endif  // CRMSYNC_CORE_STORE_STORE_H
