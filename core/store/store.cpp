// The Store implementation shared by both engines. SQL is written once (PostgreSQL placeholders,
// portable syntax); the few differences are the dialect switches below: how a write transaction
// begins, row locking for claims, the migration lock, and the bulk insert each driver provides.
#include "store/store.h"

#include "store/db.h"
#include "store/migrations/migrations.h"

#include <date/date.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_map>

#include "base/json.h"

namespace crmsync::store {
namespace internal {
namespace {

using std::chrono::milliseconds;

// Any 64-bit number; it names the migration lock among the database's advisory locks.
constexpr const char* kMigrationLockSql = "SELECT pg_advisory_xact_lock(7317823447761059584)";

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "crmsync: broken invariant: %s\n", what.c_str());
  std::abort();
}

int64_t ms(Timestamp t) {
  return t.time_since_epoch().count();
}
Timestamp at(int64_t value) {
  return Timestamp(milliseconds(value));
}
Param ms_or_null(const std::optional<Timestamp>& t) {
  return t ? Param(ms(*t)) : Param();
}
std::optional<Timestamp> optional_at(const Rows& rows, size_t r, size_t c) {
  auto value = rows.optional_integer(r, c);
  return value ? std::optional<Timestamp>(at(*value)) : std::nullopt;
}

// Enum names as stored in the database (the CHECK constraints list the same words).
template <class E, size_t N>
E parse_enum(const std::string& text, const char* const (&names)[N]) {
  for (size_t i = 0; i < N; ++i) {
    if (text == names[i]) return static_cast<E>(i);
  }
  die("unknown enum value in the database: " + text);
}
constexpr const char* kLogTypes[] = {"success", "error", "warning"};
constexpr const char* kTriggers[] = {"schedule", "manual", "webhook", "csv"};
constexpr const char* kRunStatuses[] = {"running", "success", "failed", "abandoned"};
constexpr const char* kItemStatuses[] = {"pending", "done", "permanently_failed"};
constexpr const char* kImportStatuses[] = {"running", "done", "failed"};

Result<void> require_json(std::string_view text, const char* what) {
  if (!nlohmann::json::accept(text)) {
    return fail(CRMSYNC_E_INVALID_INPUT, std::string(what) + " is not valid JSON");
  }
  return {};
}

// Raw objects of failures are not always JSON (a CSV row): keep them as a JSON string then.
std::string as_json(std::string_view raw) {
  if (raw.empty() || nlohmann::json::accept(raw)) return std::string(raw);
  return dump_json(nlohmann::json(std::string(raw)));
}

std::string rfc3339(Timestamp t) {
  return date::format("%FT%TZ", t);
}

// The transaction.created event: the stored sale and its user as they are when the event is
// delivered, for the loyalty module. Built when claimed, not when the sale is stored, to keep
// the ingest path light and to carry a user who registered in between.
std::string created_payload(const Transaction& t) {
  nlohmann::json payload = {
      {"transaction_id", t.id},
      {"business_id", t.business_id},
      {"integration_id", t.integration_id},
      {"external_id", t.external_id},
      {"occurred_at", rfc3339(t.occurred_at)},
      {"amount_minor", t.amount_minor},
      {"currency", t.currency},
      {"phone_e164", t.phone_e164.empty() ? nlohmann::json() : nlohmann::json(t.phone_e164)},
      {"user_id", t.user_id ? nlohmann::json(*t.user_id) : nlohmann::json()},
      {"is_medical", t.is_medical},
  };
  // Medical sales carry no description or items beyond the store (DESIGN §4).
  if (!t.is_medical) {
    payload["description"] = t.description;
    payload["items"] = parse_json_or_discarded(t.items_json);
    if (payload["items"].is_discarded()) payload["items"] = nlohmann::json::array();
  }
  return dump_json(payload);
}

constexpr const char* kBusinessColumns =
    "id, name, timezone, region, currency, last_sync_at, created_at";
Business business_from(const Rows& rows, size_t r) {
  return Business{rows.text(r, 0), rows.text(r, 1),         rows.text(r, 2),       rows.text(r, 3),
                  rows.text(r, 4), optional_at(rows, r, 5), at(rows.integer(r, 6))};
}

constexpr const char* kIntegrationColumns =
    "id, business_id, crm_type, settings, credentials, credentials_key_id, active, last_sync_at, "
    "consecutive_failures, created_at, updated_at";
Integration integration_from(const Rows& rows, size_t r) {
  Integration out;
  out.id = rows.text(r, 0);
  out.business_id = rows.text(r, 1);
  out.crm_type = rows.text(r, 2);
  out.settings_json = rows.text(r, 3);
  out.credentials = crypto::Sealed{rows.text(r, 5), rows.text(r, 4)};
  out.active = rows.boolean(r, 6);
  out.last_sync_at = optional_at(rows, r, 7);
  out.consecutive_failures = static_cast<int>(rows.integer(r, 8));
  out.created_at = at(rows.integer(r, 9));
  out.updated_at = at(rows.integer(r, 10));
  return out;
}

constexpr const char* kTransactionColumns =
    "id, business_id, integration_id, external_id, occurred_at, amount_minor, currency, "
    "phone_e164, customer_ref, user_id, description, items, is_medical, created_at";
Transaction transaction_from(const Rows& rows, size_t r) {
  Transaction out;
  out.id = rows.integer(r, 0);
  out.business_id = rows.text(r, 1);
  out.integration_id = rows.text(r, 2);
  out.external_id = rows.text(r, 3);
  out.occurred_at = at(rows.integer(r, 4));
  out.amount_minor = rows.integer(r, 5);
  out.currency = rows.text(r, 6);
  out.phone_e164 = rows.text(r, 7);
  out.customer_ref = rows.text(r, 8);
  if (!rows.is_null(r, 9)) out.user_id = rows.text(r, 9);
  out.description = rows.text(r, 10);
  out.items_json = rows.text(r, 11);
  out.is_medical = rows.boolean(r, 12);
  out.created_at = at(rows.integer(r, 13));
  return out;
}

constexpr const char* kLogColumns =
    "id, business_id, integration_id, run_id, log_type, error_type, message, raw_data, context, "
    "created_at";
LogEntry log_from(const Rows& rows, size_t r) {
  LogEntry out;
  out.id = rows.integer(r, 0);
  out.business_id = rows.text(r, 1);
  out.integration_id = rows.text(r, 2);
  out.run_id = rows.optional_integer(r, 3);
  out.type = parse_enum<LogType>(rows.text(r, 4), kLogTypes);
  out.error_type = rows.text(r, 5);
  out.message = rows.text(r, 6);
  out.raw_json = rows.text(r, 7);
  out.context = rows.text(r, 8);
  out.created_at = at(rows.integer(r, 9));
  return out;
}

constexpr const char* kRunColumns =
    "id, integration_id, trigger_type, status, started_at, finished_at, fetched, inserted, "
    "duplicates, failed, skipped, error_type, error_message, cursor_before, cursor_after, "
    "lease_owner, lease_until";
SyncRun run_from(const Rows& rows, size_t r) {
  SyncRun out;
  out.id = rows.integer(r, 0);
  out.integration_id = rows.text(r, 1);
  out.trigger = parse_enum<RunTrigger>(rows.text(r, 2), kTriggers);
  out.status = parse_enum<RunStatus>(rows.text(r, 3), kRunStatuses);
  out.started_at = at(rows.integer(r, 4));
  out.finished_at = optional_at(rows, r, 5);
  out.counts = RunCounts{rows.integer(r, 6), rows.integer(r, 7), rows.integer(r, 8),
                         rows.integer(r, 9), rows.integer(r, 10)};
  out.error_type = rows.text(r, 11);
  out.error_message = rows.text(r, 12);
  out.cursor_before = rows.text(r, 13);
  out.cursor_after = rows.text(r, 14);
  out.lease_owner = rows.text(r, 15);
  out.lease_until = optional_at(rows, r, 16);
  return out;
}

constexpr const char* kRetryColumns =
    "id, integration_id, external_id, payload, attempts, status, next_attempt_at, last_error";
RetryItem retry_from(const Rows& rows, size_t r) {
  return RetryItem{rows.integer(r, 0),
                   rows.text(r, 1),
                   rows.text(r, 2),
                   rows.text(r, 3),
                   static_cast<int>(rows.integer(r, 4)),
                   parse_enum<ItemStatus>(rows.text(r, 5), kItemStatuses),
                   at(rows.integer(r, 6)),
                   rows.text(r, 7)};
}

constexpr const char* kInboxColumns =
    "id, integration_id, received_at, headers, body, dedup_key, attempts, status, last_error";
InboxItem inbox_from(const Rows& rows, size_t r) {
  return InboxItem{rows.integer(r, 0),
                   rows.text(r, 1),
                   at(rows.integer(r, 2)),
                   rows.text(r, 3),
                   rows.text(r, 4),
                   rows.text(r, 5),
                   static_cast<int>(rows.integer(r, 6)),
                   parse_enum<ItemStatus>(rows.text(r, 7), kItemStatuses),
                   rows.text(r, 8)};
}

constexpr const char* kOutboxColumns =
    "id, transaction_id, event_type, attempts, status, delivered_at";
// The event without its payload, which claim_outbox adds.
OutboxEvent outbox_from(const Rows& rows, size_t r) {
  return OutboxEvent{rows.integer(r, 0),
                     rows.integer(r, 1),
                     rows.text(r, 2),
                     std::string(),
                     static_cast<int>(rows.integer(r, 3)),
                     parse_enum<ItemStatus>(rows.text(r, 4), kItemStatuses),
                     optional_at(rows, r, 5)};
}

constexpr const char* kAlertColumns = "id, integration_id, kind, subject, body, streak_id, sent_at";
Alert alert_from(const Rows& rows, size_t r) {
  return Alert{rows.integer(r, 0), rows.text(r, 1), rows.text(r, 2),       rows.text(r, 3),
               rows.text(r, 4),    rows.text(r, 5), at(rows.integer(r, 6))};
}

// The table behind each queue and the columns its items are read from.
struct QueueTable {
  const char* table;
  const char* columns;
};
QueueTable queue_table(Queue queue) {
  switch (queue) {
    case Queue::retry:
      return {"retry_queue", kRetryColumns};
    case Queue::inbox:
      return {"webhook_inbox", kInboxColumns};
    case Queue::outbox:
      return {"outbox", kOutboxColumns};
  }
  die("unknown queue");
}

// Columns of the bulk inserts of commit_batch and append_logs.
constexpr BulkColumn kTransactionInsert[] = {
    {"business_id", ColumnType::text},    {"integration_id", ColumnType::text},
    {"external_id", ColumnType::text},    {"occurred_at", ColumnType::bigint},
    {"amount_minor", ColumnType::bigint}, {"currency", ColumnType::text},
    {"phone_e164", ColumnType::text},     {"customer_ref", ColumnType::text},
    {"description", ColumnType::text},    {"items", ColumnType::json},
    {"is_medical", ColumnType::boolean},  {"created_at", ColumnType::bigint}};
// The column of kTransactionInsert that tells a batch's rows apart: external_id.
constexpr size_t kTransactionKey = 2;
constexpr BulkColumn kOutboxInsert[] = {{"transaction_id", ColumnType::bigint},
                                        {"event_type", ColumnType::text},
                                        {"status", ColumnType::text},
                                        {"next_attempt_at", ColumnType::bigint},
                                        {"created_at", ColumnType::bigint}};
// Rows of a batch handed to the driver at once: bounds the parameter copies, and matches the
// PostgreSQL driver's statement size.
constexpr size_t kIngestChunkRows = 5000;
constexpr BulkColumn kLogInsert[] = {
    {"business_id", ColumnType::text}, {"integration_id", ColumnType::text},
    {"run_id", ColumnType::bigint},    {"log_type", ColumnType::text},
    {"error_type", ColumnType::text},  {"message", ColumnType::text},
    {"raw_data", ColumnType::json},    {"context", ColumnType::text},
    {"created_at", ColumnType::bigint}};
// The webhook inbox's bulk insert, used on SQLite only (the types would type PostgreSQL's
// arrays, which have no byte type here).
constexpr BulkColumn kInboxInsert[] = {{"integration_id", ColumnType::text},
                                       {"received_at", ColumnType::bigint},
                                       {"headers", ColumnType::json},
                                       {"body", ColumnType::text},
                                       {"dedup_key", ColumnType::text}};

Error not_found(const std::string& what) {
  return fail(CRMSYNC_E_NOT_FOUND, what + " not found");
}
Error lease_lost(const std::string& what) {
  return fail(CRMSYNC_E_CONFLICT, what + " is not leased to this owner (lease lost or finished)");
}

class SqlStore final : public Store {
 public:
  // sqlite_path: the database file (SQLite only).
  SqlStore(Backend backend, std::unique_ptr<Pool> pool, std::string sqlite_path)
      : backend_(backend), pool_(std::move(pool)), sqlite_path_(std::move(sqlite_path)) {}

  Backend backend() const noexcept override { return backend_; }

  // ---- migrations ----------------------------------------------------------------------------

  Result<int> migrate() override {
    return in_transaction([&](Connection& c) -> Result<int> {
      // PostgreSQL: concurrent starters queue on this lock; SQLite's BEGIN IMMEDIATE already
      // made this the only writer.
      if (postgres()) {
        if (auto ok = c.exec(kMigrationLockSql); !ok) return ok.error();
      }
      if (auto ok = c.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER "
                           "PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
          !ok) {
        return ok.error();
      }
      auto current = c.run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (!current) return current.error();
      const int64_t version = current->integer(0, 0);
      const int64_t now =
          ms(std::chrono::time_point_cast<milliseconds>(std::chrono::system_clock::now()));
      int applied = 0;
      for (const Migration& m : migrations()) {
        if (m.version <= version) continue;
        if (auto ok = c.exec(dialect_sql(m.sql)); !ok) {
          return fail(ok.error().code, "migration " + std::to_string(m.version) + " (" + m.name +
                                           "): " + ok.error().message);
        }
        auto recorded = c.run(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            "VALUES ($1, $2, $3)",
            {m.version, m.name, now});
        if (!recorded) return recorded.error();
        ++applied;
      }
      return applied;
    });
  }

  Result<int> schema_version() override {
    return with_connection([&](Connection& c) -> Result<int> {
      auto exists = c.run(postgres() ? "SELECT COUNT(*) FROM pg_tables WHERE tablename = "
                                       "'schema_migrations' AND schemaname = current_schema()"
                                     : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
                                       "AND name = 'schema_migrations'");
      if (!exists) return exists.error();
      if (exists->integer(0, 0) == 0) return 0;
      auto version = c.run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (!version) return version.error();
      return static_cast<int>(version->integer(0, 0));
    });
  }

  // ---- businesses ----------------------------------------------------------------------------

  Result<void> add_business(const Business& b) override {
    if (b.id.empty()) return fail(CRMSYNC_E_INVALID_INPUT, "business id is empty");
    return execute(
        "INSERT INTO businesses (id, name, timezone, region, currency, last_sync_at, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {b.id, b.name, b.timezone, b.region, b.currency, ms_or_null(b.last_sync_at),
         ms(b.created_at)});
  }

  Result<Business> get_business(const std::string& id) override {
    auto rows =
        select(std::string("SELECT ") + kBusinessColumns + " FROM businesses WHERE id = $1", {id});
    if (!rows) return rows.error();
    if (rows->empty()) return not_found("business " + id);
    return business_from(*rows, 0);
  }

  Result<std::vector<Business>> list_businesses() override {
    return select_all(std::string("SELECT ") + kBusinessColumns + " FROM businesses ORDER BY id",
                      {}, business_from);
  }

  Result<void> update_business(const Business& b) override {
    return update_one("business " + b.id,
                      "UPDATE businesses SET name = $2, timezone = $3, region = $4, currency = $5 "
                      "WHERE id = $1",
                      {b.id, b.name, b.timezone, b.region, b.currency});
  }

  Result<void> delete_business(const std::string& id) override {
    auto sales = select("SELECT COUNT(*) FROM transactions WHERE business_id = $1", {id});
    if (!sales) return sales.error();
    if (const int64_t count = sales->integer(0, 0); count > 0) {
      return fail(CRMSYNC_E_CONFLICT, "business " + id + " has " + std::to_string(count) +
                                          " stored sales, which are kept: it cannot be deleted");
    }
    return update_one("business " + id, "DELETE FROM businesses WHERE id = $1", {id});
  }

  // ---- integrations --------------------------------------------------------------------------

  Result<void> create_integration(const Integration& i) override {
    if (i.id.empty()) return fail(CRMSYNC_E_INVALID_INPUT, "integration id is empty");
    if (auto ok = require_json(i.settings_json, "integration settings"); !ok) return ok;
    return execute(
        "INSERT INTO crm_integrations (id, business_id, crm_type, settings, credentials, "
        "credentials_key_id, active, last_sync_at, consecutive_failures, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        {i.id, i.business_id, i.crm_type, i.settings_json, credentials_blob(i.credentials),
         Param::text_or_null(i.credentials.key_id), i.active, ms_or_null(i.last_sync_at),
         i.consecutive_failures, ms(i.created_at), ms(i.updated_at)});
  }

  Result<Integration> get_integration(const std::string& id) override {
    auto rows = select(
        std::string("SELECT ") + kIntegrationColumns + " FROM crm_integrations WHERE id = $1",
        {id});
    if (!rows) return rows.error();
    if (rows->empty()) return not_found("integration " + id);
    return integration_from(*rows, 0);
  }

  Result<std::vector<Integration>> list_integrations(
      const std::optional<std::string>& business_id) override {
    const std::string base =
        std::string("SELECT ") + kIntegrationColumns + " FROM crm_integrations";
    if (business_id) {
      return select_all(base + " WHERE business_id = $1 ORDER BY id", {*business_id},
                        integration_from);
    }
    return select_all(base + " ORDER BY id", {}, integration_from);
  }

  Result<void> update_integration(const Integration& i, Timestamp now) override {
    if (auto ok = require_json(i.settings_json, "integration settings"); !ok) return ok;
    return update_one("integration " + i.id,
                      "UPDATE crm_integrations SET crm_type = $2, settings = $3, credentials = $4, "
                      "credentials_key_id = $5, updated_at = $6 WHERE id = $1",
                      {i.id, i.crm_type, i.settings_json, credentials_blob(i.credentials),
                       Param::text_or_null(i.credentials.key_id), ms(now)});
  }

  Result<void> set_integration_active(const std::string& id, bool active, Timestamp now) override {
    return update_one("integration " + id,
                      "UPDATE crm_integrations SET active = $2, updated_at = $3 WHERE id = $1",
                      {id, active, ms(now)});
  }

  Result<void> delete_integration(const std::string& id) override {
    return update_one("integration " + id, "DELETE FROM crm_integrations WHERE id = $1", {id});
  }

  Result<std::vector<std::string>> sealed_key_ids() override {
    return select_all(
        "SELECT credentials_key_id FROM crm_integrations WHERE credentials IS NOT NULL "
        "UNION SELECT secrets_key_id FROM webhook_endpoints ORDER BY 1",
        {}, +[](const Rows& rows, size_t r) { return rows.text(r, 0); });
  }

  Result<int64_t> reseal_credentials(std::span<const crypto::MasterKey> old_keys,
                                     const crypto::MasterKey& new_key, Timestamp now) override {
    std::vector<crypto::MasterKey> keys(old_keys.begin(), old_keys.end());
    keys.push_back(new_key);
    return in_transaction([&](Connection& c) -> Result<int64_t> {
      auto rows = c.run(
          "SELECT id, credentials, credentials_key_id FROM crm_integrations "
          "WHERE credentials IS NOT NULL AND credentials_key_id <> $1 ORDER BY id",
          {new_key.id});
      if (!rows) return rows.error();
      for (size_t r = 0; r < rows->size(); ++r) {
        const std::string id = rows->text(r, 0);
        auto plain = crypto::open(keys, crypto::Sealed{rows->text(r, 2), rows->text(r, 1)});
        if (!plain)
          return fail(plain.error().code, "integration " + id + ": " + plain.error().message);
        auto sealed = crypto::seal(new_key, *plain);
        if (!sealed) return sealed.error();
        auto updated = c.run(
            "UPDATE crm_integrations SET credentials = $2, credentials_key_id = "
            "$3, updated_at = $4 WHERE id = $1",
            {id, Param::blob(sealed->blob), sealed->key_id, ms(now)});
        if (!updated) return updated.error();
      }
      auto endpoints = c.run(
          "SELECT integration_id, secrets, secrets_key_id FROM webhook_endpoints "
          "WHERE secrets_key_id <> $1 ORDER BY integration_id",
          {new_key.id});
      if (!endpoints) return endpoints.error();
      for (size_t r = 0; r < endpoints->size(); ++r) {
        const std::string id = endpoints->text(r, 0);
        auto plain =
            crypto::open(keys, crypto::Sealed{endpoints->text(r, 2), endpoints->text(r, 1)});
        if (!plain) {
          return fail(plain.error().code,
                      "webhook secrets of integration " + id + ": " + plain.error().message);
        }
        auto sealed = crypto::seal(new_key, *plain);
        if (!sealed) return sealed.error();
        auto updated = c.run(
            "UPDATE webhook_endpoints SET secrets = $2, secrets_key_id = $3, updated_at = $4 "
            "WHERE integration_id = $1",
            {id, Param::blob(sealed->blob), sealed->key_id, ms(now)});
        if (!updated) return updated.error();
      }
      return static_cast<int64_t>(rows->size() + endpoints->size());
    });
  }

  Result<WebhookEndpoint> get_webhook_endpoint(const std::string& integration_id) override {
    auto rows = select(
        "SELECT integration_id, auth, secrets, secrets_key_id, registered_url, updated_at "
        "FROM webhook_endpoints WHERE integration_id = $1",
        {integration_id});
    if (!rows) return rows.error();
    if (rows->empty()) return not_found("webhook endpoint of integration " + integration_id);
    WebhookEndpoint e;
    e.integration_id = rows->text(0, 0);
    e.auth = rows->text(0, 1);
    e.secrets = crypto::Sealed{rows->text(0, 3), rows->text(0, 2)};
    e.registered_url = rows->text(0, 4);
    e.updated_at = at(rows->integer(0, 5));
    return e;
  }

  Result<void> put_webhook_endpoint(const WebhookEndpoint& e) override {
    if (e.secrets.blob.empty() || e.secrets.key_id.empty()) {
      return fail(CRMSYNC_E_INVALID_INPUT, "webhook secrets must be sealed");
    }
    return execute(
        "INSERT INTO webhook_endpoints (integration_id, auth, secrets, secrets_key_id, "
        "registered_url, updated_at) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (integration_id) DO UPDATE SET auth = excluded.auth, "
        "secrets = excluded.secrets, secrets_key_id = excluded.secrets_key_id, "
        "registered_url = excluded.registered_url, updated_at = excluded.updated_at",
        {e.integration_id, e.auth, Param::blob(e.secrets.blob), e.secrets.key_id,
         Param::text_or_null(e.registered_url), ms(e.updated_at)});
  }

  // ---- users and cards -----------------------------------------------------------------------

  Result<int64_t> add_user(const User& u) override {
    if (u.id.empty() || u.phone_e164.empty()) {
      return fail(CRMSYNC_E_INVALID_INPUT, "a user needs an id and a phone");
    }
    return in_transaction([&](Connection& c) -> Result<int64_t> {
      auto added = c.run("INSERT INTO users (id, phone_e164, created_at) VALUES ($1, $2, $3)",
                         {u.id, u.phone_e164, ms(u.created_at)});
      if (!added) return added.error();
      auto matched = c.run(
          "UPDATE transactions SET user_id = $1 WHERE phone_e164 = $2 AND "
          "user_id IS NULL",
          {u.id, u.phone_e164});
      if (!matched) return matched.error();
      return matched->affected;
    });
  }

  Result<std::optional<User>> find_user_by_phone(const std::string& phone) override {
    auto rows =
        select("SELECT id, phone_e164, created_at FROM users WHERE phone_e164 = $1", {phone});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<User>();
    return std::optional<User>(User{rows->text(0, 0), rows->text(0, 1), at(rows->integer(0, 2))});
  }

  Result<void> link_card(const std::string& business_id, const std::string& card_number,
                         const std::string& phone, Timestamp now) override {
    return execute(
        "INSERT INTO loyalty_cards (business_id, card_number, phone_e164, updated_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (business_id, card_number) DO UPDATE SET "
        "phone_e164 = excluded.phone_e164, updated_at = excluded.updated_at",
        {business_id, card_number, phone, ms(now)});
  }

  Result<std::optional<std::string>> card_phone(const std::string& business_id,
                                                const std::string& card_number) override {
    auto rows = select(
        "SELECT phone_e164 FROM loyalty_cards WHERE business_id = $1 AND "
        "card_number = $2",
        {business_id, card_number});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<std::string>();
    return std::optional<std::string>(rows->text(0, 0));
  }

  // ---- ingest --------------------------------------------------------------------------------

  Result<BatchResult> commit_batch(const Batch& batch) override {
    if (batch.business_id.empty() || batch.integration_id.empty()) {
      return fail(CRMSYNC_E_INVALID_INPUT, "a batch needs a business and an integration");
    }
    if (!batch.inbox_done.empty()) {
      if (batch.lease_owner.empty()) {
        return fail(CRMSYNC_E_INVALID_INPUT,
                    "a batch that completes inbox items needs their owner");
      }
      std::vector<int64_t> ids = batch.inbox_done;
      std::sort(ids.begin(), ids.end());
      if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
        return fail(CRMSYNC_E_INVALID_INPUT, "a batch completes an inbox item twice");
      }
    }
    const size_t n = batch.transactions.size();
    for (size_t i = 0; i < n; ++i) {
      const NormalizedTransaction& t = batch.transactions[i];
      if (t.external_id.empty()) {
        return fail(CRMSYNC_E_INVALID_INPUT,
                    "transaction " + std::to_string(i) + " has no external id");
      }
      if (!nlohmann::json::accept(t.items_json)) {
        return fail(CRMSYNC_E_INVALID_INPUT, "items of " + t.external_id + " are not valid JSON");
      }
    }
    return in_transaction([&](Connection& c) -> Result<BatchResult> {
      // First, so that a lost lease costs no inserts before the rollback.
      if (auto ok = complete_inbox(c, batch.inbox_done, batch.lease_owner); !ok) {
        return ok.error();
      }
      BatchResult out;
      out.outcomes.assign(n, Outcome::duplicate);
      std::vector<int64_t> new_ids;
      // Parameters go to the driver a chunk at a time, so the batch is never copied whole.
      std::vector<Param> rows;
      rows.reserve(std::min(n, kIngestChunkRows) * std::size(kTransactionInsert));
      for (size_t first = 0; first < n; first += kIngestChunkRows) {
        const size_t last = std::min(n, first + kIngestChunkRows);
        rows.clear();
        for (size_t i = first; i < last; ++i) {
          const NormalizedTransaction& t = batch.transactions[i];
          rows.insert(rows.end(),
                      {batch.business_id, batch.integration_id, t.external_id, ms(t.occurred_at),
                       t.amount_minor, t.currency, Param::text_or_null(t.phone_e164),
                       Param::text_or_null(t.customer_ref), t.description, t.items_json,
                       t.is_medical, ms(batch.now)});
        }
        auto ids = c.insert_many(
            BulkInsert{"transactions", kTransactionInsert, ", user_id",
                       ", (SELECT u.id FROM users u WHERE u.phone_e164 = v.phone_e164)",
                       "ON CONFLICT (business_id, external_id) DO NOTHING", rows, kTransactionKey});
        if (!ids) return ids.error();
        for (size_t i = first; i < last; ++i) {
          const int64_t id = (*ids)[i - first];
          if (id == 0) continue;
          out.outcomes[i] = Outcome::inserted;
          new_ids.push_back(id);
        }
      }
      out.inserted = static_cast<int64_t>(new_ids.size());
      out.duplicates = static_cast<int64_t>(n) - out.inserted;
      // A medical sale's phone only finds its user (matched above); it is not kept (DESIGN §4).
      const bool medical = std::any_of(batch.transactions.begin(), batch.transactions.end(),
                                       [](const NormalizedTransaction& t) { return t.is_medical; });
      if (medical) {
        auto forgotten = c.run(
            "UPDATE transactions SET phone_e164 = NULL WHERE integration_id = $1 AND is_medical "
            "AND phone_e164 IS NOT NULL",
            {batch.integration_id});
        if (!forgotten) return forgotten.error();
      }
      if (auto ok = insert_created_events(c, new_ids, batch.now); !ok) return ok.error();
      if (auto ok = insert_logs(c, batch.logs); !ok) return ok.error();
      if (batch.run_id) {
        const RunIncrements& inc = batch.increments;
        auto counted = c.run(
            "UPDATE sync_runs SET fetched = fetched + $2, inserted = inserted + "
            "$3, duplicates = duplicates + $4, failed = failed + $5, skipped = "
            "skipped + $6 WHERE id = $1",
            {*batch.run_id, inc.fetched, out.inserted, out.duplicates, inc.failed, inc.skipped});
        if (!counted) return counted.error();
        if (counted->affected == 0) return not_found("sync run " + std::to_string(*batch.run_id));
      }
      if (batch.cursor) {
        auto moved = c.run(
            "INSERT INTO sync_cursors (integration_id, cursor, updated_at) VALUES "
            "($1, $2, $3) ON CONFLICT (integration_id) DO UPDATE SET cursor = "
            "excluded.cursor, updated_at = excluded.updated_at",
            {batch.integration_id, *batch.cursor, ms(batch.now)});
        if (!moved) return moved.error();
      }
      return out;
    });
  }

  Result<std::string> get_cursor(const std::string& integration_id) override {
    auto rows =
        select("SELECT cursor FROM sync_cursors WHERE integration_id = $1", {integration_id});
    if (!rows) return rows.error();
    return rows->empty() ? std::string() : rows->text(0, 0);
  }

  Result<std::optional<Transaction>> find_transaction(const std::string& business_id,
                                                      const std::string& external_id) override {
    auto rows = select(std::string("SELECT ") + kTransactionColumns +
                           " FROM transactions WHERE business_id = $1 AND external_id = $2",
                       {business_id, external_id});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<Transaction>();
    return std::optional<Transaction>(transaction_from(*rows, 0));
  }

  // ---- logs ----------------------------------------------------------------------------------

  Result<void> append_logs(std::span<const LogEntry> entries) override {
    return in_transaction([&](Connection& c) { return insert_logs(c, entries); });
  }

  Result<std::vector<LogEntry>> list_logs(const LogQuery& q) override {
    // Only the filters given become conditions, so each combination gets its own good plan.
    std::string sql = std::string("SELECT ") + kLogColumns + " FROM integration_logs WHERE true";
    std::vector<Param> params;
    auto where = [&](const char* column, const char* op, Param value) {
      params.push_back(value);
      sql += std::string(" AND ") + column + op + "$" + std::to_string(params.size());
    };
    if (q.business_id) where("business_id", " = ", *q.business_id);
    if (q.integration_id) where("integration_id", " = ", *q.integration_id);
    if (q.type) where("log_type", " = ", to_string(*q.type));
    if (q.before_id) where("id", " < ", *q.before_id);
    params.push_back(static_cast<int64_t>(std::max(q.limit, 0)));
    sql += " ORDER BY id DESC LIMIT $" + std::to_string(params.size());
    return with_connection([&](Connection& c) -> Result<std::vector<LogEntry>> {
      auto rows = c.query(sql, params);
      if (!rows) return rows.error();
      return map_rows(*rows, log_from);
    });
  }

  // ---- sync runs -----------------------------------------------------------------------------

  Result<std::optional<SyncRun>> start_run(const std::string& integration_id, RunTrigger trigger,
                                           const std::string& owner, milliseconds lease,
                                           Timestamp now) override {
    return in_transaction([&](Connection& c) -> Result<std::optional<SyncRun>> {
      auto abandoned = c.run(
          "UPDATE sync_runs SET status = 'abandoned', finished_at = $2, error_type = "
          "'LeaseExpired', error_message = 'the host running it stopped renewing its lease', "
          "lease_owner = NULL, lease_until = NULL WHERE integration_id = $1 AND status = "
          "'running' AND lease_until <= $2",
          {integration_id, ms(now)});
      if (!abandoned) return abandoned.error();
      auto started = c.run(
          std::string("INSERT INTO sync_runs (integration_id, trigger_type, status, started_at, "
                      "cursor_before, lease_owner, lease_until) VALUES ($1, $2, 'running', $3, "
                      "(SELECT cursor FROM sync_cursors WHERE integration_id = $1), $4, $5) "
                      "ON CONFLICT DO NOTHING RETURNING ") +
              kRunColumns,
          {integration_id, to_string(trigger), ms(now), owner, ms(now + lease)});
      if (!started) return started.error();
      if (started->empty()) return std::optional<SyncRun>();
      return std::optional<SyncRun>(run_from(*started, 0));
    });
  }

  Result<void> renew_run(int64_t run_id, const std::string& owner, Timestamp until) override {
    auto rows = select(
        "UPDATE sync_runs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 "
        "AND status = 'running'",
        {run_id, owner, ms(until)});
    if (!rows) return rows.error();
    if (rows->affected == 0) return lease_lost("sync run " + std::to_string(run_id));
    return {};
  }

  Result<int> finish_run(int64_t run_id, const std::string& owner, RunStatus status,
                         const std::string& error_type, const std::string& error_message,
                         Timestamp now) override {
    if (status == RunStatus::running) {
      return fail(CRMSYNC_E_INVALID_INPUT, "a run finishes as success, failed or abandoned");
    }
    return in_transaction([&](Connection& c) -> Result<int> {
      auto finished = c.run(
          "UPDATE sync_runs SET status = $3, finished_at = $4, error_type = $5, error_message = "
          "$6, cursor_after = (SELECT cursor FROM sync_cursors s WHERE s.integration_id = "
          "sync_runs.integration_id), lease_owner = NULL, lease_until = NULL WHERE id = $1 AND "
          "lease_owner = $2 AND status = 'running' RETURNING integration_id",
          {run_id, owner, to_string(status), ms(now), Param::text_or_null(error_type),
           Param::text_or_null(error_message)});
      if (!finished) return finished.error();
      if (finished->empty()) return lease_lost("sync run " + std::to_string(run_id));
      const std::string integration_id = finished->text(0, 0);
      const bool ok = status == RunStatus::success;
      // An abandoned run (stopped by shutdown) says nothing about the integration's health.
      auto integration =
          status == RunStatus::abandoned
              ? c.run(
                    "SELECT consecutive_failures, business_id FROM crm_integrations WHERE id = $1",
                    {integration_id})
          : ok ? c.run(
                     "UPDATE crm_integrations SET last_sync_at = $2, consecutive_failures = 0 "
                     "WHERE id = $1 RETURNING consecutive_failures, business_id",
                     {integration_id, ms(now)})
               : c.run(
                     "UPDATE crm_integrations SET consecutive_failures = consecutive_failures + "
                     "1 WHERE id = $1 RETURNING consecutive_failures, business_id",
                     {integration_id});
      if (!integration) return integration.error();
      if (integration->empty()) return not_found("integration " + integration_id);
      if (ok) {
        auto business = c.run("UPDATE businesses SET last_sync_at = $2 WHERE id = $1",
                              {integration->text(0, 1), ms(now)});
        if (!business) return business.error();
      }
      return static_cast<int>(integration->integer(0, 0));
    });
  }

  Result<SyncRun> get_run(int64_t run_id) override {
    auto rows =
        select(std::string("SELECT ") + kRunColumns + " FROM sync_runs WHERE id = $1", {run_id});
    if (!rows) return rows.error();
    if (rows->empty()) return not_found("sync run " + std::to_string(run_id));
    return run_from(*rows, 0);
  }

  Result<std::vector<SyncRun>> list_runs(const std::string& integration_id, int limit) override {
    return select_all(std::string("SELECT ") + kRunColumns +
                          " FROM sync_runs WHERE integration_id = $1 ORDER BY id DESC LIMIT $2",
                      {integration_id, static_cast<int64_t>(std::max(limit, 0))}, run_from);
  }

  Result<IntegrationStats> integration_stats(const std::string& integration_id, Timestamp now,
                                             milliseconds window) override {
    auto rows = select(
        "SELECT (SELECT COUNT(*) FROM transactions WHERE integration_id = $1), "
        "(SELECT MAX(finished_at) FROM sync_runs WHERE integration_id = $1 AND status = "
        "'success'), COUNT(*), COALESCE(SUM(CASE WHEN status = 'success' THEN 0 ELSE 1 END), 0), "
        "COALESCE(1.0 * SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) / NULLIF(COUNT(*), "
        "0), 0), AVG(finished_at - started_at) FROM sync_runs WHERE integration_id = $1 AND "
        "status <> 'running' AND started_at >= $2 AND started_at <= $3",
        {integration_id, ms(now - window), ms(now)});
    if (!rows) return rows.error();
    IntegrationStats stats;
    stats.total_transactions = rows->integer(0, 0);
    stats.last_success = optional_at(*rows, 0, 1);
    stats.runs = rows->integer(0, 2);
    stats.failed_runs = rows->integer(0, 3);
    stats.success_rate = rows->real(0, 4);
    if (!rows->is_null(0, 5)) {
      stats.average_duration = milliseconds(static_cast<int64_t>(rows->real(0, 5) + 0.5));
    }
    if (auto days = daily_stats(integration_id, now, window); days) {
      stats.days = std::move(*days);
    } else {
      return days.error();
    }
    return stats;
  }

  // Per UTC day: transactions created and runs that failed (integer division of the stored
  // milliseconds gives the day in both dialects).
  Result<std::vector<DayStats>> daily_stats(const std::string& integration_id, Timestamp now,
                                            milliseconds window) {
    constexpr int64_t day_ms = 86'400'000;
    const int64_t last_day = ms(now) / day_ms;
    const int64_t day_count = std::max<int64_t>(1, window.count() / day_ms);
    const int64_t first_day = last_day - day_count + 1;
    std::vector<DayStats> days(static_cast<size_t>(day_count));
    for (int64_t i = 0; i < day_count; ++i) {
      days[static_cast<size_t>(i)].day = Timestamp(milliseconds((first_day + i) * day_ms));
    }
    const auto tally = [&](const char* sql, int64_t DayStats::*field) -> Result<void> {
      auto rows = select(sql, {integration_id, first_day * day_ms, (last_day + 1) * day_ms});
      if (!rows) return rows.error();
      for (size_t r = 0; r < rows->size(); ++r) {
        const int64_t index = rows->integer(r, 0) - first_day;
        if (index >= 0 && index < day_count)
          days[static_cast<size_t>(index)].*field = rows->integer(r, 1);
      }
      return {};
    };
    if (auto ok = tally("SELECT created_at / 86400000, COUNT(*) FROM transactions WHERE "
                        "integration_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1",
                        &DayStats::synced);
        !ok) {
      return ok.error();
    }
    if (auto ok = tally("SELECT started_at / 86400000, COUNT(*) FROM sync_runs WHERE "
                        "integration_id = $1 AND status NOT IN ('success', 'running') AND "
                        "started_at >= $2 AND started_at < $3 GROUP BY 1",
                        &DayStats::failed_runs);
        !ok) {
      return ok.error();
    }
    return days;
  }

  // ---- queues --------------------------------------------------------------------------------

  Result<int64_t> enqueue_retry(const RetryItem& item) override {
    auto rows = select(
        "INSERT INTO retry_queue (integration_id, external_id, payload, status, "
        "attempts, next_attempt_at, last_error, created_at) VALUES ($1, $2, $3, "
        "'pending', $4, $5, $6, $5) RETURNING id",
        {item.integration_id, item.external_id, item.payload_json, item.attempts,
         ms(item.next_attempt_at), Param::text_or_null(item.last_error)});
    if (!rows) return rows.error();
    return rows->integer(0, 0);
  }

  Result<void> enqueue_retries(std::span<const RetryItem> items) override {
    return in_transaction([&](Connection& c) -> Result<void> {
      for (const RetryItem& item : items) {
        auto rows = c.run(
            "INSERT INTO retry_queue (integration_id, external_id, payload, status, attempts, "
            "next_attempt_at, last_error, created_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6, "
            "$5)",
            {item.integration_id, item.external_id, item.payload_json, item.attempts,
             ms(item.next_attempt_at), Param::text_or_null(item.last_error)});
        if (!rows) return rows.error();
      }
      return {};
    });
  }

  Result<std::vector<RetryItem>> claim_retries(const std::string& owner, int limit,
                                               const LeasePolicy& policy, Timestamp now) override {
    return claim(Queue::retry, owner, limit, policy, now, retry_from);
  }

  Result<std::optional<int64_t>> enqueue_webhook(const InboxItem& item) override {
    auto ids = enqueue_webhooks(std::span<const InboxItem>(&item, 1), Sync::now);
    if (!ids) return ids.error();
    return ids->front();
  }

  Result<std::vector<std::optional<int64_t>>> enqueue_webhooks(std::span<const InboxItem> items,
                                                               Sync sync) override {
    for (const InboxItem& item : items) {
      if (auto ok = require_json(item.headers_json, "webhook headers"); !ok) return ok.error();
    }
    auto stored = in_transaction([&](Connection& c) -> Result<std::vector<std::optional<int64_t>>> {
      std::vector<std::optional<int64_t>> ids;
      ids.reserve(items.size());
      if (postgres()) {
        // Row by row: the bulk insert tells its rows apart by a key, and most webhooks
        // carry no dedup key.
        for (const InboxItem& item : items) {
          auto rows = c.run(
              "INSERT INTO webhook_inbox (integration_id, received_at, headers, body, "
              "dedup_key, status, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, "
              "'pending', 0, $2) ON CONFLICT DO NOTHING RETURNING id",
              {item.integration_id, ms(item.received_at), item.headers_json, Param::blob(item.body),
               Param::text_or_null(item.dedup_key)});
          if (!rows) return rows.error();
          ids.push_back(rows->empty() ? std::nullopt : std::optional<int64_t>(rows->integer(0, 0)));
        }
        return ids;
      }
      // SQLite inserts one row at a time anyway and reports each row's id without
      // RETURNING, which costs about as much as the insert.
      std::vector<Param> params;
      params.reserve(items.size() * std::size(kInboxInsert));
      for (const InboxItem& item : items) {
        params.insert(params.end(), {item.integration_id, ms(item.received_at), item.headers_json,
                                     Param::blob(item.body), Param::text_or_null(item.dedup_key)});
      }
      auto inserted = c.insert_many(
          BulkInsert{"webhook_inbox", kInboxInsert, ", status, attempts, next_attempt_at",
                     ", 'pending', 0, v.received_at", "ON CONFLICT DO NOTHING", params, size_t{4}});
      if (!inserted) return inserted.error();
      for (const int64_t id : *inserted) {
        ids.push_back(id == 0 ? std::nullopt : std::optional<int64_t>(id));
      }
      return ids;
    });
    if (!stored || sync == Sync::later) return stored;
    if (auto durable = sync_commits(); !durable) return durable.error();
    return stored;
  }

  // SQLite commits at synchronous=NORMAL (WAL) survive a crash of the process, not of the
  // machine; syncing the log makes them durable. PostgreSQL syncs each commit itself.
  Result<void> sync_commits() override {
    if (postgres()) return {};
    return internal::sync_sqlite_log(sqlite_path_);
  }

  // Like claim, and the attempt is counted in the claim's own commit, before any connector sees
  // the webhook: a webhook whose mapping kills the process comes back after its lease with one
  // attempt more, on the schedule of failures (next_attempt_at), and the claim that finds its
  // attempts used up marks it permanently_failed instead of handing it out again.
  Result<std::vector<InboxItem>> claim_webhooks(const std::string& owner, int limit,
                                                const LeasePolicy& policy, Timestamp now) override {
    const std::string spent = "attempts > CAST($5 AS INTEGER)";
    // An integration's oldest due webhooks (webhook_inbox_turns). The claim takes them in turns
    // across businesses, the first of each business, then the second..., so that one business's
    // backlog does not hold up another's webhooks. The outer WHERE checks the lease again: a
    // concurrent claim that got a row first leaves it alone.
    const std::string due =
        std::string(postgres() ? "SELECT x.id, x.next_attempt_at" : "SELECT x.id") +
        " FROM webhook_inbox x WHERE x.integration_id = i.id AND "
        "x.status = 'pending' AND x.next_attempt_at <= $3 AND (x.lease_until IS NULL OR "
        "x.lease_until <= $3) ORDER BY x.next_attempt_at, x.id LIMIT $4";
    const std::string sql =
        "UPDATE webhook_inbox SET "
        "status = CASE WHEN " +
        spent +
        " THEN 'permanently_failed' ELSE status END, "
        "last_error = CASE WHEN " +
        spent +
        " THEN 'mapping did not finish in ' || "
        "CAST(attempts AS TEXT) || ' attempts (the host stopped or lost the lease while "
        "mapping it)' ELSE last_error END, "
        "lease_owner = CASE WHEN " +
        spent +
        " THEN NULL ELSE $1 END, "
        "lease_until = CASE WHEN " +
        spent +
        " THEN NULL ELSE CAST($2 AS BIGINT) END, "
        "next_attempt_at = CASE WHEN " +
        spent + " THEN next_attempt_at ELSE CAST($3 AS BIGINT) + CAST($6 AS BIGINT) * " +
        (postgres() ? "(CAST(1 AS BIGINT) << LEAST(attempts, 20))" : "(1 << MIN(attempts, 20))") +
        " END, "
        "attempts = CASE WHEN " +
        spent +
        " THEN attempts ELSE attempts + 1 END "
        "WHERE status = 'pending' AND (lease_until IS NULL OR lease_until <= $3) AND id IN "
        "(SELECT id FROM (SELECT w.id, w.next_attempt_at, ROW_NUMBER() OVER (PARTITION BY "
        "i.business_id ORDER BY w.next_attempt_at, w.id) AS turn FROM crm_integrations i " +
        (postgres() ? "CROSS JOIN LATERAL (" + due + " FOR UPDATE SKIP LOCKED) w"
                    // CROSS JOIN keeps the integrations the outer loop on SQLite.
                    : "CROSS JOIN webhook_inbox w WHERE w.id IN (" + due + ")") +
        ") ranked ORDER BY turn, next_attempt_at, id LIMIT $4) RETURNING " + kInboxColumns;
    auto rows = select(
        sql, {owner, ms(now + policy.lease), ms(now), static_cast<int64_t>(std::max(limit, 0)),
              static_cast<int64_t>(policy.max_attempts), policy.backoff.count()});
    if (!rows) return rows.error();
    auto items = map_rows(*rows, inbox_from);
    std::sort(items.begin(), items.end(),
              [](const InboxItem& a, const InboxItem& b) { return a.id < b.id; });
    return items;
  }

  Result<std::optional<Timestamp>> oldest_pending_webhook() override {
    auto rows = select("SELECT MIN(received_at) FROM webhook_inbox WHERE status = 'pending'", {});
    if (!rows) return rows.error();
    return optional_at(*rows, 0, 0);
  }

  Result<void> renew_webhooks(std::span<const int64_t> ids, const std::string& owner,
                              Timestamp until) override {
    if (ids.empty()) return {};
    auto renewed = select(postgres() ? "UPDATE webhook_inbox SET lease_until = $3 WHERE id = "
                                       "ANY(CAST($1 AS BIGINT[])) AND lease_owner = $2 AND "
                                       "status = 'pending'"
                                     : "UPDATE webhook_inbox NOT INDEXED SET lease_until = $3 "
                                       "WHERE id IN (SELECT value FROM json_each($1)) AND "
                                       "lease_owner = $2 AND status = 'pending'",
                          {id_list(ids), owner, ms(until)});
    if (!renewed) return renewed.error();
    if (renewed->affected != static_cast<int64_t>(ids.size())) {
      return lease_lost(std::to_string(static_cast<int64_t>(ids.size()) - renewed->affected) +
                        " of " + std::to_string(ids.size()) + " webhook_inbox items");
    }
    return {};
  }

  Result<std::vector<OutboxEvent>> claim_outbox(const std::string& owner, int limit,
                                                const LeasePolicy& policy, Timestamp now) override {
    auto events = claim(Queue::outbox, owner, limit, policy, now, outbox_from);
    if (!events) return events.error();
    for (OutboxEvent& event : *events) {
      auto rows =
          select(std::string("SELECT ") + kTransactionColumns + " FROM transactions WHERE id = $1",
                 {event.transaction_id});
      if (!rows) return rows.error();
      if (rows->empty()) return not_found("transaction " + std::to_string(event.transaction_id));
      event.payload_json = created_payload(transaction_from(*rows, 0));
    }
    return events;
  }

  Result<void> complete_item(Queue queue, int64_t id, const std::string& owner,
                             Timestamp now) override {
    const QueueTable q = queue_table(queue);
    const std::string sql = std::string("UPDATE ") + q.table +
                            " SET status = 'done', lease_owner = NULL, lease_until = NULL" +
                            (queue == Queue::outbox ? ", delivered_at = $3" : "") +
                            " WHERE id = $1 AND lease_owner = $2 AND status = 'pending'";
    // Only the outbox records when it delivered.
    auto rows =
        queue == Queue::outbox ? select(sql, {id, owner, ms(now)}) : select(sql, {id, owner});
    if (!rows) return rows.error();
    if (rows->affected == 0)
      return lease_lost(std::string(q.table) + " item " + std::to_string(id));
    return {};
  }

  Result<ItemStatus> fail_item(Queue queue, int64_t id, const std::string& owner,
                               const std::string& error, const LeasePolicy& policy,
                               Timestamp now) override {
    const QueueTable q = queue_table(queue);
    return in_transaction([&](Connection& c) -> Result<ItemStatus> {
      auto current = c.run(std::string("SELECT attempts FROM ") + q.table +
                               " WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                           {id, owner});
      if (!current) return current.error();
      if (current->empty()) return lease_lost(std::string(q.table) + " item " + std::to_string(id));
      // The inbox counted the attempt when it was claimed; its first attempt is no retry, so
      // after the k-th failed one it waits backoff * 2^(k-1) (2, 4, 8 minutes) and has
      // max_attempts retries. Other queues' items are retries already: the k-th failure waits
      // backoff * 2^k. (The shift is capped so that it cannot overflow.)
      const bool inbox = queue == Queue::inbox;
      const int64_t attempts = current->integer(0, 0) + (inbox ? 0 : 1);
      const ItemStatus status = attempts >= policy.max_attempts + (inbox ? 1 : 0)
                                    ? ItemStatus::permanently_failed
                                    : ItemStatus::pending;
      const milliseconds wait =
          policy.backoff * (int64_t{1} << std::clamp<int64_t>(attempts - (inbox ? 1 : 0), 0, 20));
      auto updated = c.run(std::string("UPDATE ") + q.table +
                               " SET attempts = $3, status = $4, last_error = $5, "
                               "next_attempt_at = $6, lease_owner = NULL, lease_until = NULL "
                               "WHERE id = $1 AND lease_owner = $2",
                           {id, owner, attempts, to_string(status), error, ms(now + wait)});
      if (!updated) return updated.error();
      return status;
    });
  }

  // ---- metrics -------------------------------------------------------------------------------

  Result<OpsCounts> ops_counts(const OpsCountsQuery& query) override {
    return with_connection([&](Connection& c) -> Result<OpsCounts> {
      OpsCounts out;
      auto integrations = c.run("SELECT id FROM crm_integrations");
      if (!integrations) return integrations.error();
      std::map<std::string, QueueDepth> depths;
      for (size_t r = 0; r < integrations->size(); ++r) {
        const std::string id = integrations->text(r, 0);
        depths[id].integration_id = id;
      }
      // Each reads only the pending range of the queue's (status, next_attempt_at) index.
      struct Pending {
        const char* sql;
        int64_t QueueDepth::*field;
      };
      const Pending pending[] = {
          {"SELECT integration_id, COUNT(*) FROM webhook_inbox WHERE status = 'pending' "
           "GROUP BY integration_id",
           &QueueDepth::inbox},
          {"SELECT integration_id, COUNT(*) FROM retry_queue WHERE status = 'pending' "
           "GROUP BY integration_id",
           &QueueDepth::retry},
          {"SELECT t.integration_id, COUNT(*) FROM outbox o JOIN transactions t ON t.id = "
           "o.transaction_id WHERE o.status = 'pending' GROUP BY t.integration_id",
           &QueueDepth::outbox},
      };
      for (const Pending& p : pending) {
        auto rows = c.run(p.sql);
        if (!rows) return rows.error();
        for (size_t r = 0; r < rows->size(); ++r) {
          QueueDepth& depth = depths[rows->text(r, 0)];
          depth.integration_id = rows->text(r, 0);
          depth.*p.field = rows->integer(r, 1);
        }
      }
      for (auto& [id, depth] : depths) out.queues.push_back(std::move(depth));

      const int64_t settled_before = ms(query.settled_before);
      // The settled prefix ends before the first unsettled run above the watermark.
      auto runs_horizon = c.run(
          "SELECT (SELECT MIN(id) FROM sync_runs WHERE id > $1 AND ((status = 'running' AND "
          "(lease_until IS NULL OR lease_until >= $3)) OR (status <> 'running' AND (finished_at "
          "IS NULL OR finished_at >= $2)))), (SELECT MAX(id) FROM sync_runs)",
          {query.runs_after_id, settled_before, ms(query.stale_before)});
      if (!runs_horizon) return runs_horizon.error();
      out.runs_settled_through = settled_through(*runs_horizon, query.runs_after_id);
      // Materialized so that both planners read the id range by the primary key instead of
      // walking an integration index for the GROUP BY's order (a scan of the whole table).
      auto runs = c.run(
          "WITH recent AS MATERIALIZED (SELECT id, integration_id, status, fetched, inserted, "
          "duplicates, failed, skipped FROM sync_runs WHERE id > $1) SELECT integration_id, "
          "status, CASE WHEN id <= $2 THEN 1 ELSE 0 END, COUNT(*), COALESCE(SUM(fetched), 0), "
          "COALESCE(SUM(inserted), 0), COALESCE(SUM(duplicates), 0), COALESCE(SUM(failed), 0), "
          "COALESCE(SUM(skipped), 0) FROM recent GROUP BY 1, 2, 3",
          {query.runs_after_id, out.runs_settled_through});
      if (!runs) return runs.error();
      for (size_t r = 0; r < runs->size(); ++r) {
        RunTotals t;
        t.integration_id = runs->text(r, 0);
        t.status = parse_enum<RunStatus>(runs->text(r, 1), kRunStatuses);
        t.settled = runs->boolean(r, 2);
        t.runs = runs->integer(r, 3);
        t.counts = {runs->integer(r, 4), runs->integer(r, 5), runs->integer(r, 6),
                    runs->integer(r, 7), runs->integer(r, 8)};
        out.runs.push_back(std::move(t));
      }

      auto logs_horizon = c.run(
          "SELECT (SELECT MIN(id) FROM integration_logs WHERE id > $1 AND created_at >= $2), "
          "(SELECT MAX(id) FROM integration_logs)",
          {query.logs_after_id, settled_before});
      if (!logs_horizon) return logs_horizon.error();
      out.logs_settled_through = settled_through(*logs_horizon, query.logs_after_id);
      auto errors = c.run(
          "WITH recent AS MATERIALIZED (SELECT id, integration_id, error_type FROM "
          "integration_logs WHERE id > $1 AND log_type = 'error' AND integration_id IS NOT NULL) "
          "SELECT integration_id, COALESCE(error_type, ''), CASE WHEN id <= $2 THEN 1 ELSE 0 END, "
          "COUNT(*) FROM recent GROUP BY 1, 2, 3",
          {query.logs_after_id, out.logs_settled_through});
      if (!errors) return errors.error();
      for (size_t r = 0; r < errors->size(); ++r) {
        out.errors.push_back(
            {errors->text(r, 0), errors->text(r, 1), errors->boolean(r, 2), errors->integer(r, 3)});
      }
      return out;
    });
  }

  // ---- alerts, state, API keys ---------------------------------------------------------------

  Result<bool> record_alert(const Alert& a) override {
    auto rows = select(
        "INSERT INTO alerts (integration_id, kind, subject, body, streak_id, "
        "sent_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
        {a.integration_id, a.kind, a.subject, a.body, a.streak_id, ms(a.sent_at)});
    if (!rows) return rows.error();
    return !rows->empty();
  }

  Result<std::vector<Alert>> list_alerts(const std::string& integration_id) override {
    return select_all(std::string("SELECT ") + kAlertColumns +
                          " FROM alerts WHERE integration_id = $1 ORDER BY id",
                      {integration_id}, alert_from);
  }

  Result<std::optional<StateValue>> state_get(const std::string& integration_id,
                                              const std::string& key) override {
    auto rows = select(
        "SELECT value, version FROM connector_state WHERE integration_id = $1 AND "
        "key = $2",
        {integration_id, key});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<StateValue>();
    return std::optional<StateValue>(
        StateValue{rows->text(0, 0), static_cast<uint64_t>(rows->integer(0, 1))});
  }

  Result<uint64_t> state_cas(const std::string& integration_id, const std::string& key,
                             uint64_t expected_version, const std::string& value,
                             Timestamp now) override {
    const auto expected = static_cast<int64_t>(expected_version);
    auto rows =
        expected_version == 0
            ? select(
                  "INSERT INTO connector_state (integration_id, key, value, version, "
                  "updated_at) VALUES ($1, $2, $3, 1, $4) ON CONFLICT DO NOTHING",
                  {integration_id, key, value, ms(now)})
            : select(
                  "UPDATE connector_state SET value = $3, version = version + 1, updated_at = "
                  "$4 WHERE integration_id = $1 AND key = $2 AND version = $5",
                  {integration_id, key, value, ms(now), expected});
    if (!rows) return rows.error();
    if (rows->affected == 0) {
      return fail(CRMSYNC_E_CONFLICT,
                  "state " + key + " changed since version " + std::to_string(expected_version));
    }
    return expected_version + 1;
  }

  Result<void> add_api_key(const ApiKey& k) override {
    return execute(
        "INSERT INTO api_keys (id, key_hash, role, business_id, created_at) VALUES "
        "($1, $2, $3, $4, $5)",
        {k.id, k.hash, k.role, k.business_id ? Param(*k.business_id) : Param(), ms(k.created_at)});
  }

  Result<std::optional<ApiKey>> find_api_key(const std::string& hash) override {
    auto rows = select(
        "SELECT id, key_hash, role, business_id, created_at FROM api_keys WHERE "
        "key_hash = $1",
        {hash});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<ApiKey>();
    ApiKey key{rows->text(0, 0), rows->text(0, 1), rows->text(0, 2), std::nullopt,
               at(rows->integer(0, 4))};
    if (!rows->is_null(0, 3)) key.business_id = rows->text(0, 3);
    return std::optional<ApiKey>(std::move(key));
  }

  Result<void> delete_api_key(const std::string& id) override {
    return update_one("API key " + id, "DELETE FROM api_keys WHERE id = $1", {id});
  }

  Result<int64_t> create_import_job(const ImportJob& job) override {
    if (auto ok = require_json(job.report_json, "import report"); !ok) return ok.error();
    auto rows = select(
        "INSERT INTO import_jobs (business_id, status, bytes_total, bytes_read, report, "
        "lease_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) "
        "RETURNING id",
        {job.business_id, kImportStatuses[static_cast<int>(job.status)], job.bytes_total,
         job.bytes_read, job.report_json, ms(job.lease_until), ms(job.created_at)});
    if (!rows) return rows.error();
    return rows->integer(0, 0);
  }

  Result<void> update_import_job(const ImportJob& job) override {
    if (auto ok = require_json(job.report_json, "import report"); !ok) return ok;
    return update_one(
        "import job " + std::to_string(job.id),
        "UPDATE import_jobs SET status = $2, bytes_read = $3, fetched = $4, inserted = $5, "
        "duplicates = $6, failed = $7, run_id = $8, summary = $9, error = $10, report = $11, "
        "lease_until = $12, updated_at = $13 WHERE id = $1",
        {job.id, kImportStatuses[static_cast<int>(job.status)], job.bytes_read, job.counts.fetched,
         job.counts.inserted, job.counts.duplicates, job.counts.failed,
         job.run_id ? Param(*job.run_id) : Param(), Param::text_or_null(job.summary),
         Param::text_or_null(job.error), job.report_json, ms(job.lease_until), ms(job.updated_at)});
  }

  Result<ImportJob> get_import_job(int64_t id) override {
    auto rows = select(
        "SELECT id, business_id, status, bytes_total, bytes_read, fetched, inserted, duplicates, "
        "failed, run_id, summary, error, report, lease_until, created_at, updated_at "
        "FROM import_jobs WHERE id = $1",
        {id});
    if (!rows) return rows.error();
    if (rows->empty()) return not_found("import job " + std::to_string(id));
    ImportJob job;
    job.id = rows->integer(0, 0);
    job.business_id = rows->text(0, 1);
    job.status = parse_enum<ImportStatus>(rows->text(0, 2), kImportStatuses);
    job.bytes_total = rows->integer(0, 3);
    job.bytes_read = rows->integer(0, 4);
    job.counts.fetched = rows->integer(0, 5);
    job.counts.inserted = rows->integer(0, 6);
    job.counts.duplicates = rows->integer(0, 7);
    job.counts.failed = rows->integer(0, 8);
    job.run_id = rows->optional_integer(0, 9);
    job.summary = rows->text(0, 10);
    job.error = rows->text(0, 11);
    job.report_json = rows->text(0, 12);
    job.lease_until = at(rows->integer(0, 13));
    job.created_at = at(rows->integer(0, 14));
    job.updated_at = at(rows->integer(0, 15));
    return job;
  }

 private:
  bool postgres() const noexcept { return backend_ == Backend::postgres; }

  // The migration SQL with the dialect's types in place of {ID}, {JSON} and {BLOB}.
  std::string dialect_sql(std::string sql) const {
    const std::pair<std::string_view, std::string_view> substitutions[] = {
        {"{ID}", postgres() ? "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
                            : "INTEGER PRIMARY KEY"},
        {"{JSON}", postgres() ? "JSONB" : "TEXT"},
        {"{BLOB}", postgres() ? "BYTEA" : "BLOB"}};
    for (const auto& [from, to] : substitutions) {
      for (size_t at = sql.find(from); at != std::string::npos; at = sql.find(from, at)) {
        sql.replace(at, from.size(), to);
        at += to.size();
      }
    }
    return sql;
  }

  // From (first unsettled id, highest id): the last id of the settled prefix above after (never
  // below it, even when newer rows were deleted).
  static int64_t settled_through(const Rows& horizon, int64_t after) {
    const auto first_unsettled = horizon.optional_integer(0, 0);
    const int64_t highest = horizon.optional_integer(0, 1).value_or(after);
    return std::max(after, first_unsettled ? *first_unsettled - 1 : highest);
  }

  static Param credentials_blob(const crypto::Sealed& sealed) {
    return sealed.blob.empty() ? Param() : Param::blob(sealed.blob);
  }

  template <class F>
  auto with_connection(F&& body) -> std::invoke_result_t<F, Connection&> {
    auto lease = pool_->acquire();
    if (!lease) return lease.error();
    return body(**lease);
  }

  // Runs body in one transaction: committed when it returns a value, rolled back otherwise.
  // SQLite takes the write lock up front (BEGIN IMMEDIATE) so two writers never deadlock on
  // upgrading a read lock; the busy timeout makes the second one wait.
  template <class F>
  auto in_transaction(F&& body) -> std::invoke_result_t<F, Connection&> {
    return with_connection([&](Connection& c) -> std::invoke_result_t<F, Connection&> {
      if (auto ok = c.exec(postgres() ? "BEGIN" : "BEGIN IMMEDIATE"); !ok) return ok.error();
      auto result = body(c);
      if (!result) {
        (void)c.exec("ROLLBACK");
        return result;
      }
      if (auto ok = c.exec("COMMIT"); !ok) {
        (void)c.exec("ROLLBACK");
        return ok.error();
      }
      return result;
    });
  }

  Result<Rows> select(const std::string& sql, std::initializer_list<Param> params) {
    return with_connection([&](Connection& c) { return c.run(sql, params); });
  }

  Result<void> execute(const std::string& sql, std::initializer_list<Param> params) {
    auto rows = select(sql, params);
    if (!rows) return rows.error();
    return {};
  }

  // A statement that must change exactly one row; NOT_FOUND names what was missing.
  Result<void> update_one(const std::string& what, const std::string& sql,
                          std::initializer_list<Param> params) {
    auto rows = select(sql, params);
    if (!rows) return rows.error();
    if (rows->affected == 0) return not_found(what);
    return {};
  }

  template <class T>
  static std::vector<T> map_rows(const Rows& rows, T (*from)(const Rows&, size_t)) {
    std::vector<T> out;
    out.reserve(rows.size());
    for (size_t r = 0; r < rows.size(); ++r) out.push_back(from(rows, r));
    return out;
  }

  template <class T>
  Result<std::vector<T>> select_all(const std::string& sql, std::initializer_list<Param> params,
                                    T (*from)(const Rows&, size_t)) {
    auto rows = select(sql, params);
    if (!rows) return rows.error();
    return map_rows(*rows, from);
  }

  // Leases up to limit due items of a queue. PostgreSQL skips rows other claimers hold locked;
  // SQLite runs the statement as the single writer. Either way no item goes to two owners.
  template <class T>
  Result<std::vector<T>> claim(Queue queue, const std::string& owner, int limit,
                               const LeasePolicy& policy, Timestamp now,
                               T (*from)(const Rows&, size_t)) {
    const QueueTable q = queue_table(queue);
    const std::string sql =
        std::string("UPDATE ") + q.table +
        " SET lease_owner = $1, lease_until = $2 WHERE id IN "
        "(SELECT id FROM " +
        q.table +
        " WHERE status = 'pending' AND next_attempt_at <= $3 AND "
        "(lease_until IS NULL OR lease_until <= $3) ORDER BY next_attempt_at, id LIMIT $4" +
        (postgres() ? " FOR UPDATE SKIP LOCKED" : "") + ") RETURNING " + q.columns;
    auto rows = select(
        sql, {owner, ms(now + policy.lease), ms(now), static_cast<int64_t>(std::max(limit, 0))});
    if (!rows) return rows.error();
    auto items = map_rows(*rows, from);
    std::sort(items.begin(), items.end(), [](const T& a, const T& b) { return a.id < b.id; });
    return items;
  }

  // Ids as one parameter: a PostgreSQL array, or a JSON array for SQLite's json_each.
  std::string id_list(std::span<const int64_t> ids) const {
    std::string list;
    for (const int64_t id : ids) {
      if (!list.empty()) list.push_back(',');
      list += std::to_string(id);
    }
    return postgres() ? "{" + list + "}" : "[" + list + "]";
  }

  // Marks the inbox items done that are leased to owner, with one statement whatever their
  // number: the ids are one parameter (a JSON array read by json_each on SQLite, an array on
  // PostgreSQL), so it is prepared once. CONFLICT when any of them is not leased to owner.
  // SQLite's planner, without statistics, would rather read every pending row through the
  // status index than look the ids up: NOT INDEXED leaves it the primary key.
  Result<void> complete_inbox(Connection& c, std::span<const int64_t> ids,
                              const std::string& owner) {
    if (ids.empty()) return {};
    auto done = c.run(postgres() ? "UPDATE webhook_inbox SET status = 'done', lease_owner = NULL, "
                                   "lease_until = NULL WHERE id = ANY(CAST($1 AS BIGINT[])) AND "
                                   "lease_owner = $2 AND status = 'pending'"
                                 : "UPDATE webhook_inbox NOT INDEXED SET status = 'done', "
                                   "lease_owner = NULL, lease_until = NULL WHERE id IN (SELECT "
                                   "value FROM json_each($1)) AND lease_owner = $2 AND status = "
                                   "'pending'",
                      {id_list(ids), owner});
    if (!done) return done.error();
    if (done->affected != static_cast<int64_t>(ids.size())) {
      return fail(CRMSYNC_E_CONFLICT,
                  std::to_string(static_cast<int64_t>(ids.size()) - done->affected) + " of the " +
                      std::to_string(ids.size()) +
                      " webhook_inbox items of the batch are not leased to this owner (lease "
                      "lost or finished)");
    }
    return {};
  }

  // The transaction.created events of the sales a batch inserted (ids in insertion order).
  // SQLite numbers new rows max(id) + 1 and the batch holds the write lock, so its ids are
  // consecutive: one INSERT ... SELECT over their range replaces a statement per event, which
  // cost as much as the sale's own insert.
  Result<void> insert_created_events(Connection& c, std::span<const int64_t> ids, Timestamp now) {
    if (ids.empty()) return {};
    const auto count = static_cast<int64_t>(ids.size());
    if (!postgres() && ids.back() - ids.front() + 1 == count) {
      auto written = c.run(
          "INSERT INTO outbox (transaction_id, event_type, status, next_attempt_at, created_at) "
          "SELECT id, 'transaction.created', 'pending', $3, $3 FROM transactions "
          "WHERE id BETWEEN $1 AND $2",
          {ids.front(), ids.back(), ms(now)});
      if (!written) return written.error();
      if (written->affected != count) die("outbox events do not match the inserted sales");
      return {};
    }
    std::vector<Param> events;
    events.reserve(std::min(ids.size(), kIngestChunkRows) * std::size(kOutboxInsert));
    for (size_t first = 0; first < ids.size(); first += kIngestChunkRows) {
      events.clear();
      for (size_t i = first; i < std::min(ids.size(), first + kIngestChunkRows); ++i) {
        events.insert(events.end(), {ids[i], "transaction.created", "pending", ms(now), ms(now)});
      }
      auto written =
          c.insert_many(BulkInsert{"outbox", kOutboxInsert, "", "", "", events, std::nullopt});
      if (!written) return written.error();
    }
    return {};
  }

  static Result<void> insert_logs(Connection& c, std::span<const LogEntry> entries) {
    if (entries.empty()) return {};
    std::vector<std::string> raw;
    raw.reserve(entries.size());
    std::vector<Param> params;
    params.reserve(entries.size() * std::size(kLogInsert));
    for (const LogEntry& e : entries) {
      if (e.business_id.empty())
        return fail(CRMSYNC_E_INVALID_INPUT, "a log line needs a business");
      raw.push_back(as_json(e.raw_json));
      params.insert(params.end(),
                    {e.business_id, Param::text_or_null(e.integration_id),
                     e.run_id ? Param(*e.run_id) : Param(), to_string(e.type),
                     Param::text_or_null(e.error_type), e.message, Param::text_or_null(raw.back()),
                     Param::text_or_null(e.context), ms(e.created_at)});
    }
    auto written =
        c.insert_many(BulkInsert{"integration_logs", kLogInsert, "", "", "", params, std::nullopt});
    if (!written) return written.error();
    return {};
  }

  Backend backend_;
  std::unique_ptr<Pool> pool_;
  std::string sqlite_path_;
};

}  // namespace
}  // namespace internal

const char* to_string(LogType type) noexcept {
  return internal::kLogTypes[static_cast<int>(type)];
}
const char* to_string(RunTrigger trigger) noexcept {
  return internal::kTriggers[static_cast<int>(trigger)];
}
const char* to_string(RunStatus status) noexcept {
  return internal::kRunStatuses[static_cast<int>(status)];
}
const char* to_string(ItemStatus status) noexcept {
  return internal::kItemStatuses[static_cast<int>(status)];
}

Result<std::unique_ptr<Store>> open_store(const StorageConfig& config) {
  if (config.target.empty()) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "storage: no database path or conninfo given");
  }
  internal::Pool::Factory factory;
  if (config.backend == Backend::sqlite) {
    const int timeout = static_cast<int>(config.busy_timeout.count());
    factory = [path = config.target, timeout,
               checkpointer = std::make_shared<internal::SqliteCheckpointer>(config.target)] {
      return internal::open_sqlite(path, timeout, checkpointer);
    };
  } else {
    factory = [conninfo = config.target] { return internal::open_postgres(conninfo); };
  }
  // Connect once now, so that a wrong path or an unreachable server fails here, clearly.
  auto pool = std::make_unique<internal::Pool>(std::move(factory), config.pool_size);
  if (auto probe = pool->acquire(); !probe) return probe.error();
  auto store = std::make_unique<internal::SqlStore>(
      config.backend, std::move(pool),
      config.backend == Backend::sqlite ? config.target : std::string());
  if (config.migrate_on_open) {
    if (auto migrated = store->migrate(); !migrated) return migrated.error();
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace crmsync::store
