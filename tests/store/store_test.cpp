// The store's test suite. Every TEST_CASE_TEMPLATE runs twice, against a fresh SQLite file and
// against a fresh database of the throwaway PostgreSQL cluster: one suite, two real engines.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "store/store.h"
#include "support/backends.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

using namespace crmsync;
using namespace crmsync::store;
using namespace std::chrono_literals;

namespace {

const Timestamp kT0 = Timestamp(1763389800000ms);  // 2025-11-17T14:30:00Z
// The number of migrations in core/store/migrations.
constexpr int kSchemaVersion = 5;

// A migrated store on a fresh database, with one business and two integrations.
template <class B>
struct Fixture {
  B db;
  std::unique_ptr<Store> store = open_store(db.config()).value();

  Fixture() {
    REQUIRE(store->add_business(
        Business{"mindal", "Миндаль", "Europe/Moscow", "RU", "RUB", std::nullopt, kT0}));
    REQUIRE(store->create_integration(integration("mindal-yclients", "yclients")));
    REQUIRE(store->create_integration(integration("mindal-csv", "csv")));
  }

  static Integration integration(const std::string& id, const std::string& type) {
    Integration i;
    i.id = id;
    i.business_id = "mindal";
    i.crm_type = type;
    i.settings_json = R"({"company_id":12345})";
    i.created_at = i.updated_at = kT0;
    return i;
  }

  // Another store on the same database (a second host or process).
  std::unique_ptr<Store> second() { return open_store(db.config()).value(); }
};

NormalizedTransaction sale(const std::string& id, int64_t amount, const std::string& phone = "",
                           bool medical = false) {
  NormalizedTransaction t;
  t.external_id = id;
  t.occurred_at = kT0;
  t.amount_minor = amount;
  t.phone_e164 = phone;
  t.description = "Стрижка";
  t.items_json = R"([{"name":"Стрижка","amount_minor":500000}])";
  t.is_medical = medical;
  return t;
}

Batch batch_of(std::vector<NormalizedTransaction> transactions) {
  Batch b;
  b.business_id = "mindal";
  b.integration_id = "mindal-yclients";
  b.transactions = std::move(transactions);
  b.now = kT0;
  return b;
}

int64_t count(Store& store, const std::string& owner) {
  LeasePolicy policy;
  return static_cast<int64_t>(store.claim_outbox(owner, 1000000, policy, kT0).value().size());
}

}  // namespace

TEST_CASE_TEMPLATE("open_store migrates a fresh database once", B, CRMSYNC_TEST_BACKENDS) {
  B db;
  auto store = open_store(db.config()).value();
  CHECK(store->schema_version().value() == kSchemaVersion);
  CHECK(store->migrate().value() == 0);
  auto again = open_store(db.config()).value();
  CHECK(again->schema_version().value() == kSchemaVersion);

  StorageConfig lazy = db.config();
  lazy.migrate_on_open = false;
  CHECK(open_store(lazy).value()->schema_version().value() == kSchemaVersion);
}

TEST_CASE_TEMPLATE("concurrent starters migrate once and all succeed", B, CRMSYNC_TEST_BACKENDS) {
  B db;
  std::atomic<int> opened{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto store = open_store(db.config());
      if (!store) MESSAGE(store.error().message);
      if (store && store.value()->schema_version().value() == kSchemaVersion) ++opened;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(opened == 4);
}

TEST_CASE("open_store reports an unreachable database clearly") {
  StorageConfig sqlite;
  sqlite.target = "/nonexistent-dir/crmsync.db";
  auto s = open_store(sqlite);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(s.error().message.find("/nonexistent-dir/crmsync.db") != std::string::npos);

  StorageConfig postgres;
  postgres.backend = Backend::postgres;
  postgres.target = "host=127.0.0.1 port=1 dbname=none connect_timeout=2";
  auto p = open_store(postgres);
  REQUIRE_FALSE(p);
  CHECK(p.error().code == CRMSYNC_E_UNAVAILABLE);

  StorageConfig empty;
  CHECK(open_store(empty).error().code == CRMSYNC_E_INVALID_CONFIG);
}

TEST_CASE_TEMPLATE("businesses are added, read and listed", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  REQUIRE(f.store->add_business(
      Business{"lisichkino", "Лисичкино", "Europe/Moscow", "RU", "RUB", kT0, kT0}));
  const auto b = f.store->get_business("lisichkino").value();
  CHECK(b.name == "Лисичкино");
  CHECK(b.last_sync_at == kT0);
  CHECK(f.store->list_businesses().value().size() == 2);
  CHECK(f.store->get_business("absent").error().code == CRMSYNC_E_NOT_FOUND);
  CHECK(f.store->add_business(b).error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(f.store->add_business(Business{}).error().code == CRMSYNC_E_INVALID_INPUT);
}

TEST_CASE_TEMPLATE("integrations: several per business, update, deactivate, delete", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  const auto key = crypto::parse_master_key(std::string(64, '1')).value();
  auto i = f.store->get_integration("mindal-yclients").value();
  CHECK(i.crm_type == "yclients");
  CHECK(nlohmann::json::parse(i.settings_json)["company_id"] == 12345);
  CHECK(i.active);
  CHECK(i.credentials.blob.empty());
  CHECK(f.store->list_integrations("mindal").value().size() == 2);
  CHECK(f.store->list_integrations(std::nullopt).value().size() == 2);

  i.credentials = crypto::seal(key, std::string("token\0with nul", 14)).value();
  i.settings_json = R"({"company_id":777})";
  REQUIRE(f.store->update_integration(i, kT0 + 1s));
  auto updated = f.store->get_integration(i.id).value();
  CHECK(updated.credentials.blob == i.credentials.blob);
  CHECK(updated.credentials.key_id == key.id);
  CHECK(updated.updated_at == kT0 + 1s);
  const crypto::MasterKey keys[] = {key};
  CHECK(crypto::open(keys, updated.credentials).value() == std::string("token\0with nul", 14));

  REQUIRE(f.store->set_integration_active(i.id, false, kT0 + 2s));
  CHECK_FALSE(f.store->get_integration(i.id).value().active);

  i.settings_json = "{not json";
  CHECK(f.store->update_integration(i, kT0).error().code == CRMSYNC_E_INVALID_INPUT);
  auto orphan = Fixture<B>::integration("x", "csv");
  orphan.business_id = "absent";
  CHECK(f.store->create_integration(orphan).error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(f.store->set_integration_active("absent", true, kT0).error().code == CRMSYNC_E_NOT_FOUND);

  REQUIRE(f.store->commit_batch(batch_of({sale("YCLIENTS-1", 100)})));
  REQUIRE(f.store->start_run(i.id, RunTrigger::manual, "host-a", 1min, kT0).value());
  REQUIRE(f.store->delete_integration(i.id));
  CHECK(f.store->get_integration(i.id).error().code == CRMSYNC_E_NOT_FOUND);
  CHECK(f.store->list_runs(i.id, 10).value().empty());
  const auto kept = f.store->find_transaction("mindal", "YCLIENTS-1").value();
  REQUIRE(kept);
  CHECK(kept->integration_id.empty());
  CHECK(f.store->delete_integration(i.id).error().code == CRMSYNC_E_NOT_FOUND);
}

TEST_CASE_TEMPLATE("reseal_credentials moves every credential to the new key", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  const auto old_key = crypto::parse_master_key(std::string(64, '1')).value();
  const auto new_key = crypto::parse_master_key(std::string(64, '2')).value();
  for (const char* id : {"mindal-yclients", "mindal-csv"}) {
    auto i = f.store->get_integration(id).value();
    i.credentials = crypto::seal(old_key, std::string("secret of ") + id).value();
    REQUIRE(f.store->update_integration(i, kT0));
  }
  const crypto::MasterKey wrong[] = {crypto::parse_master_key(std::string(64, '3')).value()};
  auto refused = f.store->reseal_credentials(wrong, new_key, kT0);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("mindal-csv") != std::string::npos);
  CHECK(f.store->get_integration("mindal-csv").value().credentials.key_id == old_key.id);

  const crypto::MasterKey old_keys[] = {old_key};
  CHECK(f.store->reseal_credentials(old_keys, new_key, kT0).value() == 2);
  CHECK(f.store->reseal_credentials(old_keys, new_key, kT0).value() == 0);
  const crypto::MasterKey only_new[] = {new_key};
  const auto sealed = f.store->get_integration("mindal-yclients").value().credentials;
  CHECK(sealed.key_id == new_key.id);
  CHECK(crypto::open(only_new, sealed).value() == "secret of mindal-yclients");
}

TEST_CASE_TEMPLATE("webhook endpoints are stored sealed, replaced, and resealed with the rest", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  const auto old_key = crypto::parse_master_key(std::string(64, '1')).value();
  const auto new_key = crypto::parse_master_key(std::string(64, '2')).value();
  CHECK(f.store->get_webhook_endpoint("mindal-yclients").error().code == CRMSYNC_E_NOT_FOUND);
  WebhookEndpoint endpoint;
  endpoint.integration_id = "mindal-yclients";
  endpoint.auth = "token";
  endpoint.updated_at = kT0;
  CHECK(f.store->put_webhook_endpoint(endpoint).error().code == CRMSYNC_E_INVALID_INPUT);
  endpoint.secrets = crypto::seal(old_key, R"(["s1"])").value();
  REQUIRE(f.store->put_webhook_endpoint(endpoint));
  endpoint.auth = "hmac-sha256";
  endpoint.registered_url = "https://example.com/webhooks/yclients/mindal-yclients";
  REQUIRE(f.store->put_webhook_endpoint(endpoint));
  auto stored = f.store->get_webhook_endpoint("mindal-yclients").value();
  CHECK(stored.auth == "hmac-sha256");
  CHECK(stored.registered_url == endpoint.registered_url);
  CHECK(stored.updated_at == kT0);

  const crypto::MasterKey old_keys[] = {old_key};
  CHECK(f.store->reseal_credentials(old_keys, new_key, kT0).value() == 1);
  const crypto::MasterKey only_new[] = {new_key};
  stored = f.store->get_webhook_endpoint("mindal-yclients").value();
  CHECK(stored.secrets.key_id == new_key.id);
  CHECK(crypto::open(only_new, stored.secrets).value() == R"(["s1"])");
  REQUIRE(f.store->delete_integration("mindal-yclients"));
  CHECK(f.store->get_webhook_endpoint("mindal-yclients").error().code == CRMSYNC_E_NOT_FOUND);
}

TEST_CASE_TEMPLATE("enqueue_webhooks stores a batch in one commit and skips known dedup keys", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  auto item = [](std::string dedup) {
    InboxItem i;
    i.integration_id = "mindal-yclients";
    i.received_at = kT0;
    i.body = "{}";
    i.dedup_key = std::move(dedup);
    return i;
  };
  const std::vector<InboxItem> first = {item("a"), item(""), item("")};
  auto ids = f.store->enqueue_webhooks(first, Sync::now).value();
  REQUIRE(ids.size() == 3);
  CHECK((ids[0] && ids[1] && ids[2]));
  const std::vector<InboxItem> second = {item("a"), item("b")};
  ids = f.store->enqueue_webhooks(second, Sync::now).value();
  CHECK_FALSE(ids[0]);
  CHECK(ids[1]);
  CHECK(f.db.scalar("SELECT COUNT(*) FROM webhook_inbox") == 4);
  InboxItem bad = item("c");
  bad.headers_json = "not json";
  const std::vector<InboxItem> refused = {item("d"), bad};
  CHECK(f.store->enqueue_webhooks(refused, Sync::now).error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(f.db.scalar("SELECT COUNT(*) FROM webhook_inbox") == 4);
}

TEST_CASE_TEMPLATE("enqueue_webhooks with Sync::later commits at once and sync_commits then syncs",
                   B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  InboxItem item;
  item.integration_id = "mindal-yclients";
  item.received_at = kT0;
  item.body = "{}";
  const std::vector<InboxItem> batch = {item, item};
  auto ids = f.store->enqueue_webhooks(batch, Sync::later).value();
  CHECK((ids.size() == 2 && ids[0] && ids[1]));
  // Committed: another connection sees the rows before any sync.
  CHECK(f.db.scalar("SELECT COUNT(*) FROM webhook_inbox") == 2);
  CHECK(f.store->sync_commits());
  // Syncing with nothing new is harmless.
  CHECK(f.store->sync_commits());
}

TEST_CASE("sync_commits is a clear error when SQLite's log file cannot be opened") {
  Fixture<crmsync::test::Sqlite> f;
  InboxItem item;
  item.integration_id = "mindal-yclients";
  item.received_at = kT0;
  item.body = "{}";
  REQUIRE(f.store->enqueue_webhooks(std::vector<InboxItem>{item}, Sync::later));
  // The log is open by the store's connections; without its name the sync cannot reach it.
  const std::string log = f.db.config().target + "-wal";
  REQUIRE(std::filesystem::exists(log));
  std::filesystem::rename(log, log + ".moved");
  auto synced = f.store->sync_commits();
  std::filesystem::rename(log + ".moved", log);
  REQUIRE_FALSE(synced);
  CHECK(synced.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(synced.error().message.find("crmsync.db-wal") != std::string::npos);
}

TEST_CASE("SQLite's log is copied back and started over under a steady stream of commits") {
  Fixture<crmsync::test::Sqlite> f;
  InboxItem item;
  item.integration_id = "mindal-yclients";
  item.received_at = kT0;
  item.body = std::string(1024, 'x');
  const std::vector<InboxItem> batch(16, item);
  // 64 MB of webhooks, committed back to back as the receiver does under load: four times the
  // log size at which a checkpoint starts the log over.
  for (int i = 0; i < 4000; ++i) REQUIRE(f.store->enqueue_webhooks(batch, Sync::later));
  const std::string path = f.db.config().target;
  CHECK(std::filesystem::file_size(path + "-wal") < 32u << 20);
  CHECK(std::filesystem::file_size(path) > 32u << 20);  // the rows reached the database file
  CHECK(f.db.scalar("SELECT COUNT(*) FROM webhook_inbox") == 64000);
}

TEST_CASE("SQLite's log is started over between large transactions committed back to back") {
  Fixture<crmsync::test::Sqlite> f;
  // An import's batches: each transaction writes thousands of pages (random dedup keys touch
  // leaves all over the index), and the next one begins as soon as the last one committed, so
  // the write lock is free only for the moment between them.
  std::mt19937_64 random(1);
  char id[21];
  for (int b = 0; b < 40; ++b) {
    std::vector<NormalizedTransaction> sales;
    for (int i = 0; i < 4000; ++i) {
      std::snprintf(id, sizeof id, "CSV-%016llx", static_cast<unsigned long long>(random()));
      sales.push_back(sale(id, 100));
    }
    REQUIRE(f.store->commit_batch(batch_of(std::move(sales))));
  }
  const std::string path = f.db.config().target;
  // The log is started over once it passes 16 MB, so it peaks near that plus two batches' pages;
  // without restarts it grows past 100 MB.
  CHECK(std::filesystem::file_size(path + "-wal") < 48u << 20);
  CHECK(f.db.scalar("SELECT COUNT(*) FROM transactions") == 160000);
}

TEST_CASE_TEMPLATE("users match sales by phone, now and when they register later", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  CHECK(f.store->add_user(User{"u1", "+79991234567", kT0}).value() == 0);
  auto result = f.store->commit_batch(
      batch_of({sale("YCLIENTS-1", 100, "+79991234567"), sale("YCLIENTS-2", 200, "+79990000000"),
                sale("YCLIENTS-3", 300)}));
  REQUIRE(result);
  CHECK(f.store->find_transaction("mindal", "YCLIENTS-1").value()->user_id == "u1");
  CHECK_FALSE(f.store->find_transaction("mindal", "YCLIENTS-2").value()->user_id);
  CHECK_FALSE(f.store->find_transaction("mindal", "YCLIENTS-3").value()->user_id);

  CHECK(f.store->add_user(User{"u2", "+79990000000", kT0}).value() == 1);
  CHECK(f.store->find_transaction("mindal", "YCLIENTS-2").value()->user_id == "u2");
  CHECK(f.store->find_user_by_phone("+79990000000").value()->id == "u2");
  CHECK_FALSE(f.store->find_user_by_phone("+70000000000").value());
  CHECK(f.store->add_user(User{"u3", "+79990000000", kT0}).error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(f.store->add_user(User{"", "", kT0}).error().code == CRMSYNC_E_INVALID_INPUT);
}

TEST_CASE_TEMPLATE("loyalty cards map to phones per business", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  REQUIRE(f.store->link_card("mindal", "CARD-1", "+79991234567", kT0));
  CHECK(f.store->card_phone("mindal", "CARD-1").value() == "+79991234567");
  REQUIRE(f.store->link_card("mindal", "CARD-1", "+79997654321", kT0 + 1s));
  CHECK(f.store->card_phone("mindal", "CARD-1").value() == "+79997654321");
  CHECK_FALSE(f.store->card_phone("mindal", "CARD-2").value());
  CHECK(f.store->link_card("absent", "CARD-1", "+7", kT0).error().code == CRMSYNC_E_INVALID_INPUT);
}

TEST_CASE_TEMPLATE("commit_batch stores new sales once, with outbox events, counters, cursor", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  REQUIRE(f.store->add_user(User{"u1", "+79991234567", kT0}));
  auto run = f.store->start_run("mindal-yclients", RunTrigger::schedule, "host-a", 5min, kT0)
                 .value()
                 .value();
  auto batch = batch_of({sale("YCLIENTS-1", 500000, "+79991234567"), sale("YCLIENTS-2", 100),
                         sale("YCLIENTS-1", 500000, "+79991234567")});
  batch.run_id = run.id;
  batch.increments = RunIncrements{5, 1, 1};
  batch.cursor = "2025-11-17T14:30:00Z";
  batch.logs.push_back(LogEntry{0, "mindal", "mindal-yclients", run.id, LogType::warning,
                                "ParseError", "Row 7: amount is missing", "{\"id\":7}", "", kT0});

  auto first = f.store->commit_batch(batch).value();
  CHECK(first.inserted == 2);
  CHECK(first.duplicates == 1);
  CHECK(first.outcomes ==
        std::vector<Outcome>{Outcome::inserted, Outcome::inserted, Outcome::duplicate});
  CHECK(f.store->get_cursor("mindal-yclients").value() == "2025-11-17T14:30:00Z");

  auto again = f.store->commit_batch(batch).value();
  CHECK(again.inserted == 0);
  CHECK(again.duplicates == 3);

  const auto counted = f.store->get_run(run.id).value();
  CHECK(counted.counts.fetched == 10);
  CHECK(counted.counts.inserted == 2);
  CHECK(counted.counts.duplicates == 4);
  CHECK(counted.counts.failed == 2);
  CHECK(counted.counts.skipped == 2);
  CHECK(f.store->list_logs(LogQuery{}).value().size() == 2);

  const auto stored = f.store->find_transaction("mindal", "YCLIENTS-1").value().value();
  CHECK(stored.amount_minor == 500000);
  CHECK(stored.occurred_at == kT0);
  CHECK(stored.currency == "RUB");
  CHECK(stored.integration_id == "mindal-yclients");
  CHECK(nlohmann::json::parse(stored.items_json)[0]["name"] == "Стрижка");

  const auto events = f.store->claim_outbox("host-a", 10, LeasePolicy{}, kT0).value();
  REQUIRE(events.size() == 2);
  CHECK(events[0].event_type == "transaction.created");
  const auto payload = nlohmann::json::parse(events[0].payload_json);
  CHECK(payload["transaction_id"] == stored.id);
  CHECK(events[0].transaction_id == stored.id);
  CHECK(payload["external_id"] == "YCLIENTS-1");
  CHECK(payload["user_id"] == "u1");
  CHECK(payload["amount_minor"] == 500000);
  CHECK(payload["occurred_at"] == "2025-11-17T14:30:00.000Z");
  CHECK(payload["items"][0]["name"] == "Стрижка");
  CHECK(nlohmann::json::parse(events[1].payload_json)["user_id"].is_null());
}

TEST_CASE_TEMPLATE("a failed batch stores nothing and does not move the cursor", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  auto batch = batch_of({sale("YCLIENTS-1", 100)});
  batch.cursor = "c1";
  REQUIRE(f.store->commit_batch(batch));

  auto broken = batch_of({sale("YCLIENTS-2", 100)});
  broken.cursor = "c2";
  broken.run_id = 999999;  // no such run: the counter update fails after the inserts
  auto result = f.store->commit_batch(broken);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == CRMSYNC_E_NOT_FOUND);
  CHECK_FALSE(f.store->find_transaction("mindal", "YCLIENTS-2").value());
  CHECK(f.store->get_cursor("mindal-yclients").value() == "c1");
  CHECK(count(*f.store, "host-a") == 1);

  SUBCASE("bad input is refused before anything is written") {
    auto no_id = batch_of({sale("", 100)});
    CHECK(f.store->commit_batch(no_id).error().code == CRMSYNC_E_INVALID_INPUT);
    auto bad_items = batch_of({sale("YCLIENTS-3", 100)});
    bad_items.transactions[0].items_json = "[{";
    auto refused = f.store->commit_batch(bad_items);
    CHECK(refused.error().code == CRMSYNC_E_INVALID_INPUT);
    CHECK(refused.error().message.find("YCLIENTS-3") != std::string::npos);
    auto no_business = batch_of({});
    no_business.business_id.clear();
    CHECK(f.store->commit_batch(no_business).error().code == CRMSYNC_E_INVALID_INPUT);
    auto unknown_business = batch_of({sale("YCLIENTS-4", 1)});
    unknown_business.business_id = "absent";
    CHECK(f.store->commit_batch(unknown_business).error().code == CRMSYNC_E_INVALID_INPUT);
  }
}

TEST_CASE_TEMPLATE("a batch larger than one insert statement keeps outcomes and events per row", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  REQUIRE(f.store->commit_batch(batch_of({sale("YCLIENTS-5", 1)})));
  // 12,001 rows reach the driver in three chunks: YCLIENTS-0..5999, then 0..6000 again, so the
  // repeats cross chunks; YCLIENTS-5 was stored by the earlier batch.
  std::vector<NormalizedTransaction> rows;
  for (int i = 0; i < 12001; ++i) {
    rows.push_back(sale("YCLIENTS-" + std::to_string(i < 6000 ? i : i - 6000), 100 + i));
  }
  const auto result = f.store->commit_batch(batch_of(std::move(rows))).value();
  CHECK(result.inserted == 6000);
  CHECK(result.duplicates == 6001);
  CHECK(result.outcomes[0] == Outcome::inserted);
  CHECK(result.outcomes[5] == Outcome::duplicate);
  CHECK(result.outcomes[5999] == Outcome::inserted);
  CHECK(result.outcomes[6000] == Outcome::duplicate);
  CHECK(result.outcomes[11999] == Outcome::duplicate);
  CHECK(result.outcomes[12000] == Outcome::inserted);
  CHECK(count(*f.store, "host-a") == 6001);  // one transaction.created event per stored sale
}

TEST_CASE_TEMPLATE("an empty batch can advance the cursor alone", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  CHECK(f.store->get_cursor("mindal-yclients").value().empty());
  auto batch = batch_of({});
  batch.cursor = "page-2";
  const auto result = f.store->commit_batch(batch).value();
  CHECK(result.inserted == 0);
  CHECK(f.store->get_cursor("mindal-yclients").value() == "page-2");
}

TEST_CASE_TEMPLATE("analytics and cross-promo views never show medical sales", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  REQUIRE(f.store->add_user(User{"u1", "+79991234567", kT0}));
  REQUIRE(f.store->commit_batch(
      batch_of({sale("RENOVATIO-1", 100, "+79991234567", true),
                sale("YCLIENTS-1", 200, "+79991234567"), sale("YCLIENTS-2", 300)})));
  CHECK(f.db.scalar("SELECT COUNT(*) FROM transactions") == 3);
  CHECK(f.db.scalar("SELECT COUNT(*) FROM analytics_transactions") == 2);
  CHECK(f.db.scalar("SELECT COUNT(*) FROM analytics_transactions WHERE external_id = "
                    "'RENOVATIO-1'") == 0);
  CHECK(f.db.scalar("SELECT COUNT(*) FROM crosspromo_transactions") == 1);
  // The loyalty event of a medical sale carries no description or items either.
  const auto events = f.store->claim_outbox("h", 10, LeasePolicy{}, kT0).value();
  REQUIRE(events.size() == 3);
  const auto medical = nlohmann::json::parse(events[0].payload_json);
  CHECK(medical["is_medical"] == true);
  CHECK_FALSE(medical.contains("items"));
  CHECK_FALSE(medical.contains("description"));
  // The phone found the user and was not kept.
  CHECK(medical["user_id"] == "u1");
  CHECK(medical["phone_e164"].is_null());
  CHECK(f.db.scalar("SELECT COUNT(*) FROM transactions WHERE is_medical AND phone_e164 IS NULL "
                    "AND user_id = 'u1'") == 1);
  CHECK(f.db.scalar("SELECT COUNT(*) FROM transactions WHERE phone_e164 = '+79991234567'") == 1);
}

TEST_CASE_TEMPLATE("logs are listed newest first with type, limit and paging filters", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  std::vector<LogEntry> entries;
  for (int i = 0; i < 5; ++i) {
    entries.push_back(LogEntry{
        0, "mindal", "mindal-yclients", std::nullopt, i % 2 ? LogType::error : LogType::success,
        i % 2 ? "ConnectionError" : "", "line " + std::to_string(i),
        i == 1 ? "Row 3;+7999;abc" : "", i == 1 ? "stack" : "", kT0 + std::chrono::seconds(i)});
  }
  entries.push_back(
      LogEntry{0, "mindal", "", std::nullopt, LogType::warning, "", "business", "", "", kT0});
  REQUIRE(f.store->append_logs(entries));

  const auto all = f.store->list_logs(LogQuery{}).value();
  REQUIRE(all.size() == 6);
  CHECK(all[0].message == "business");
  CHECK(all[1].message == "line 4");
  CHECK(all[0].integration_id.empty());

  LogQuery errors;
  errors.integration_id = "mindal-yclients";
  errors.type = LogType::error;
  const auto failed = f.store->list_logs(errors).value();
  REQUIRE(failed.size() == 2);
  CHECK(failed[1].message == "line 1");
  CHECK(failed[1].error_type == "ConnectionError");
  CHECK(failed[1].context == "stack");
  CHECK(nlohmann::json::parse(failed[1].raw_json) == "Row 3;+7999;abc");

  LogQuery page;
  page.limit = 2;
  const auto first = f.store->list_logs(page).value();
  REQUIRE(first.size() == 2);
  page.before_id = first.back().id;
  const auto next = f.store->list_logs(page).value();
  REQUIRE(next.size() == 2);
  CHECK(next[0].message == "line 3");

  const LogEntry orphan{0, "", "", std::nullopt, LogType::error, "", "x", "", "", kT0};
  CHECK(f.store->append_logs(std::span(&orphan, 1)).error().code == CRMSYNC_E_INVALID_INPUT);
}

TEST_CASE_TEMPLATE("sync runs: one running per integration, leases expire, finishing counts", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  const std::string id = "mindal-yclients";
  auto run = f.store->start_run(id, RunTrigger::schedule, "host-a", 1min, kT0).value();
  REQUIRE(run);
  CHECK(run->status == RunStatus::running);
  CHECK(run->lease_owner == "host-a");
  CHECK_FALSE(f.store->start_run(id, RunTrigger::manual, "host-b", 1min, kT0 + 30s).value());
  CHECK(f.store->start_run("mindal-csv", RunTrigger::csv, "host-b", 1min, kT0).value());

  REQUIRE(f.store->renew_run(run->id, "host-a", kT0 + 2min));
  CHECK(f.store->renew_run(run->id, "host-b", kT0 + 2min).error().code == CRMSYNC_E_CONFLICT);
  CHECK_FALSE(f.store->start_run(id, RunTrigger::manual, "host-b", 1min, kT0 + 90s).value());

  // host-a dies: after its lease, host-b takes over and the old run is abandoned.
  auto taken = f.store->start_run(id, RunTrigger::manual, "host-b", 1min, kT0 + 3min).value();
  REQUIRE(taken);
  CHECK(f.store->get_run(run->id).value().status == RunStatus::abandoned);
  CHECK(
      f.store->finish_run(run->id, "host-a", RunStatus::success, "", "", kT0 + 3min).error().code ==
      CRMSYNC_E_CONFLICT);

  auto batch = batch_of({});
  batch.cursor = "after";
  REQUIRE(f.store->commit_batch(batch));
  CHECK(f.store
            ->finish_run(taken->id, "host-b", RunStatus::failed, "ConnectionError",
                         "Failed to connect to api.yclients.com", kT0 + 4min)
            .value() == 1);
  const auto failed = f.store->get_run(taken->id).value();
  CHECK(failed.status == RunStatus::failed);
  CHECK(failed.cursor_after == "after");
  CHECK(failed.error_type == "ConnectionError");
  CHECK(failed.finished_at == kT0 + 4min);

  auto second = f.store->start_run(id, RunTrigger::schedule, "host-b", 1min, kT0 + 5min).value();
  CHECK(second->cursor_before == "after");
  CHECK(
      f.store->finish_run(second->id, "host-b", RunStatus::failed, "E", "m", kT0 + 6min).value() ==
      2);
  // A run stopped by shutdown neither resets nor extends the failure streak.
  auto stopped = f.store->start_run(id, RunTrigger::schedule, "host-b", 1min, kT0 + 6min).value();
  CHECK(f.store
            ->finish_run(stopped->id, "host-b", RunStatus::abandoned, "Cancelled", "shutdown",
                         kT0 + 6min + 30s)
            .value() == 2);
  CHECK(f.store->get_run(stopped->id).value().status == RunStatus::abandoned);
  CHECK(f.store->get_integration(id).value().last_sync_at == std::nullopt);
  auto third = f.store->start_run(id, RunTrigger::schedule, "host-b", 1min, kT0 + 7min).value();
  CHECK(f.store->finish_run(third->id, "host-b", RunStatus::success, "", "", kT0 + 8min).value() ==
        0);
  CHECK(f.store->get_integration(id).value().last_sync_at == kT0 + 8min);
  CHECK(f.store->get_business("mindal").value().last_sync_at == kT0 + 8min);
  CHECK(f.store->list_runs(id, 2).value().front().id == third->id);
  CHECK(f.store->finish_run(third->id, "host-b", RunStatus::running, "", "", kT0).error().code ==
        CRMSYNC_E_INVALID_INPUT);
  CHECK(f.store->get_run(424242).error().code == CRMSYNC_E_NOT_FOUND);
}

TEST_CASE_TEMPLATE("integration_stats computes totals, success rate and durations in SQL", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  const std::string id = "mindal-yclients";
  auto empty = f.store->integration_stats(id, kT0, std::chrono::days(30)).value();
  CHECK(empty.runs == 0);
  CHECK(empty.success_rate == 0);
  CHECK_FALSE(empty.average_duration);
  CHECK_FALSE(empty.last_success);

  REQUIRE(f.store->commit_batch(batch_of({sale("YCLIENTS-1", 1), sale("YCLIENTS-2", 2)})));
  const RunStatus outcomes[] = {RunStatus::success, RunStatus::success, RunStatus::failed,
                                RunStatus::success};
  Timestamp t = kT0;
  for (RunStatus status : outcomes) {
    auto run = f.store->start_run(id, RunTrigger::schedule, "h", 1min, t).value().value();
    REQUIRE(f.store->finish_run(run.id, "h", status, "", "", t + 2s));
    t += 5min;
  }
  // A run older than the window does not count.
  auto old = f.store->start_run(id, RunTrigger::schedule, "h", 1min, kT0 - std::chrono::days(40))
                 .value()
                 .value();
  REQUIRE(f.store->finish_run(old.id, "h", RunStatus::failed, "", "", kT0 - std::chrono::days(40)));

  const auto stats = f.store->integration_stats(id, t, std::chrono::days(30)).value();
  CHECK(stats.total_transactions == 2);
  CHECK(stats.runs == 4);
  CHECK(stats.failed_runs == 1);
  CHECK(stats.success_rate == doctest::Approx(0.75));
  CHECK(stats.average_duration == 2000ms);
  CHECK(stats.last_success == kT0 + 15min + 2s);

  // One entry per UTC day of the window, oldest first, ending with the day of `now`.
  REQUIRE(stats.days.size() == 30);
  const Timestamp today = std::chrono::floor<std::chrono::days>(kT0);
  CHECK(stats.days.back().day == today);
  CHECK(stats.days.front().day == today - std::chrono::days(29));
  CHECK(stats.days.back().synced == 2);
  CHECK(stats.days.back().failed_runs == 1);
  for (size_t i = 0; i + 1 < stats.days.size(); ++i) {
    CHECK(stats.days[i].synced == 0);
    CHECK(stats.days[i].failed_runs == 0);
  }
  // Seen from three days later the same activity sits three days from the end.
  const auto later =
      f.store->integration_stats(id, kT0 + std::chrono::days(3), std::chrono::days(30)).value();
  CHECK(later.days[26].synced == 2);
  CHECK(later.days[26].failed_runs == 1);
  CHECK(later.days.back().synced == 0);
}

TEST_CASE_TEMPLATE("retry items back off 2, 4, 8 minutes and then fail permanently", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  const LeasePolicy policy;  // 2 min backoff, 3 attempts, 5 min lease
  const auto id = f.store
                      ->enqueue_retry(RetryItem{0, "mindal-yclients", "YCLIENTS-9", R"({"id":9})",
                                                0, ItemStatus::pending, kT0 + 2min, "timeout"})
                      .value();
  CHECK(f.store->claim_retries("h", 10, policy, kT0 + 1min).value().empty());
  Timestamp t = kT0 + 2min;
  const std::chrono::minutes waits[] = {4min, 8min};
  for (auto wait : waits) {
    auto claimed = f.store->claim_retries("h", 10, policy, t).value();
    REQUIRE(claimed.size() == 1);
    CHECK(claimed[0].id == id);
    CHECK(claimed[0].payload_json == R"({"id":9})");
    CHECK(f.store->fail_item(Queue::retry, id, "h", "timeout again", policy, t).value() ==
          ItemStatus::pending);
    CHECK(f.store->claim_retries("h", 10, policy, t + wait - 1s).value().empty());
    t += wait;
  }
  auto last = f.store->claim_retries("h", 10, policy, t).value();
  REQUIRE(last.size() == 1);
  CHECK(last[0].attempts == 2);
  CHECK(last[0].last_error == "timeout again");
  CHECK(f.store->fail_item(Queue::retry, id, "h", "gave up", policy, t).value() ==
        ItemStatus::permanently_failed);
  CHECK(f.store->claim_retries("h", 10, policy, t + std::chrono::days(1)).value().empty());
  CHECK(f.store->fail_item(Queue::retry, id, "h", "x", policy, t).error().code ==
        CRMSYNC_E_CONFLICT);
}

TEST_CASE_TEMPLATE("a dead host's lease expires and another host takes the item", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  auto other = f.second();
  LeasePolicy policy;
  policy.lease = 10s;
  REQUIRE(f.store->commit_batch(batch_of({sale("YCLIENTS-1", 1)})));
  auto mine = f.store->claim_outbox("host-a", 10, policy, kT0).value();
  REQUIRE(mine.size() == 1);
  CHECK(other->claim_outbox("host-b", 10, policy, kT0 + 5s).value().empty());
  auto taken = other->claim_outbox("host-b", 10, policy, kT0 + 11s).value();
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].id == mine[0].id);
  CHECK(f.store->complete_item(Queue::outbox, mine[0].id, "host-a", kT0 + 12s).error().code ==
        CRMSYNC_E_CONFLICT);
  REQUIRE(other->complete_item(Queue::outbox, taken[0].id, "host-b", kT0 + 12s));
  CHECK(other->claim_outbox("host-b", 10, policy, kT0 + 1h).value().empty());
}

TEST_CASE_TEMPLATE("webhooks are stored once per dedup key, body bytes intact", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  const std::string body("{\"resource\":\"record\"}\0\xff", 23);
  InboxItem item;
  item.integration_id = "mindal-yclients";
  item.received_at = kT0;
  item.headers_json = R"({"webhook-id":"msg_1"})";
  item.body = body;
  item.dedup_key = "msg_1";
  const auto id = f.store->enqueue_webhook(item).value();
  REQUIRE(id);
  CHECK_FALSE(f.store->enqueue_webhook(item).value());
  item.dedup_key.clear();
  CHECK(f.store->enqueue_webhook(item).value());
  CHECK(f.store->enqueue_webhook(item).value());
  item.headers_json = "not json";
  CHECK(f.store->enqueue_webhook(item).error().code == CRMSYNC_E_INVALID_INPUT);

  auto claimed = f.store->claim_webhooks("w", 1, LeasePolicy{}, kT0).value();
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].id == *id);
  CHECK(claimed[0].body == body);
  CHECK(claimed[0].dedup_key == "msg_1");
  CHECK(nlohmann::json::parse(claimed[0].headers_json)["webhook-id"] == "msg_1");
  REQUIRE(f.store->complete_item(Queue::inbox, *id, "w", kT0));
  CHECK(f.store->claim_webhooks("w", 10, LeasePolicy{}, kT0).value().size() == 2);
}

TEST_CASE_TEMPLATE("concurrent claimers never get the same item", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  constexpr int kItems = 400;
  std::vector<NormalizedTransaction> sales;
  for (int i = 0; i < kItems; ++i) sales.push_back(sale("YCLIENTS-" + std::to_string(i), i));
  REQUIRE(f.store->commit_batch(batch_of(std::move(sales))).value().inserted == kItems);

  constexpr int kHosts = 4;
  std::vector<std::unique_ptr<Store>> hosts;
  for (int h = 0; h < kHosts; ++h) hosts.push_back(f.second());
  std::vector<std::vector<int64_t>> claimed(kHosts);
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int h = 0; h < kHosts; ++h) {
    threads.emplace_back([&, h] {
      const std::string owner = "host-" + std::to_string(h);
      while (true) {
        auto items = hosts[h]->claim_outbox(owner, 7, LeasePolicy{}, kT0);
        if (!items) {
          failed = true;
          return;
        }
        if (items->empty()) return;
        for (const auto& item : *items) {
          claimed[h].push_back(item.id);
          if (!hosts[h]->complete_item(Queue::outbox, item.id, owner, kT0)) failed = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK_FALSE(failed);
  std::set<int64_t> unique;
  size_t total = 0;
  for (const auto& ids : claimed) {
    total += ids.size();
    unique.insert(ids.begin(), ids.end());
  }
  CHECK(total == kItems);
  CHECK(unique.size() == kItems);
}

TEST_CASE_TEMPLATE("one alert per failure streak", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  Alert alert{0,
              "mindal-yclients",
              "sync_failures",
              "Ошибка синхронизации с YCLIENTS - Миндаль",
              "Connection timeout",
              "run-17",
              kT0};
  CHECK(f.store->record_alert(alert).value());
  CHECK_FALSE(f.store->record_alert(alert).value());
  alert.streak_id = "run-40";
  CHECK(f.store->record_alert(alert).value());
  const auto alerts = f.store->list_alerts("mindal-yclients").value();
  REQUIRE(alerts.size() == 2);
  CHECK(alerts[0].subject == "Ошибка синхронизации с YCLIENTS - Миндаль");
}

TEST_CASE_TEMPLATE("connector state is compare-and-set; exactly one racer wins", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  const std::string id = "mindal-yclients";
  CHECK_FALSE(f.store->state_get(id, "refresh_token").value());
  CHECK(f.store->state_cas(id, "refresh_token", 0, "r1", kT0).value() == 1);
  CHECK(f.store->state_cas(id, "refresh_token", 0, "r1b", kT0).error().code == CRMSYNC_E_CONFLICT);
  CHECK(f.store->state_cas(id, "refresh_token", 1, "r2", kT0).value() == 2);
  CHECK(f.store->state_cas(id, "refresh_token", 1, "r3", kT0).error().code == CRMSYNC_E_CONFLICT);
  const auto value = f.store->state_get(id, "refresh_token").value().value();
  CHECK(value.value == "r2");
  CHECK(value.version == 2);

  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto store = f.second();
      if (store->state_cas(id, "refresh_token", 2, "racer" + std::to_string(i), kT0)) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(winners == 1);
  CHECK(f.store->state_get(id, "refresh_token").value()->version == 3);
}

TEST_CASE_TEMPLATE("API keys are found by hash and deleted", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  REQUIRE(f.store->add_api_key(ApiKey{"k1", "hash-1", "owner", "mindal", kT0}));
  REQUIRE(f.store->add_api_key(ApiKey{"k2", "hash-2", "admin", std::nullopt, kT0}));
  CHECK(f.store->find_api_key("hash-1").value()->business_id == "mindal");
  CHECK_FALSE(f.store->find_api_key("hash-2").value()->business_id);
  CHECK_FALSE(f.store->find_api_key("nope").value());
  CHECK(f.store->add_api_key(ApiKey{"k3", "hash-3", "root", std::nullopt, kT0}).error().code ==
        CRMSYNC_E_INVALID_INPUT);
  REQUIRE(f.store->delete_api_key("k1"));
  CHECK_FALSE(f.store->find_api_key("hash-1").value());
  CHECK(f.store->delete_api_key("k1").error().code == CRMSYNC_E_NOT_FOUND);
}

TEST_CASE_TEMPLATE("commit_batch imports 50,000 rows in batches of 5,000 (throughput)", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  for (int u = 0; u < 1000; ++u) {
    REQUIRE(f.store->add_user(
        User{"u" + std::to_string(u), "+7999" + std::to_string(1000000 + u), kT0}));
  }
  constexpr int kRows = 50000;
  constexpr int kBatch = 5000;
  std::vector<Batch> batches;
  for (int start = 0; start < kRows; start += kBatch) {
    Batch b = batch_of({});
    b.integration_id = "mindal-csv";
    for (int i = start; i < start + kBatch; ++i) {
      NormalizedTransaction t;
      t.external_id = "CSV-" + std::to_string(i);
      t.occurred_at = kT0 + std::chrono::seconds(i);
      t.amount_minor = 100 + i;
      t.phone_e164 = "+7999" + std::to_string(1000000 + i % 5000);
      t.description = "Покупка";
      b.transactions.push_back(std::move(t));
    }
    b.cursor = std::to_string(start + kBatch);
    batches.push_back(std::move(b));
  }
  const std::string engine = f.store->backend() == Backend::sqlite ? "sqlite" : "postgres";
  const auto import = [&](auto&& each) {
    const auto wall = std::chrono::steady_clock::now();
    const std::clock_t cpu = std::clock();
    for (const auto& b : batches) each(f.store->commit_batch(b).value());
    return std::pair{std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count(),
                     static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC};
  };
  int64_t inserted = 0;
  const auto [wall, cpu] = import([&](const BatchResult& r) { inserted += r.inserted; });
  CHECK(inserted == kRows);
  // Wall time depends on the machine's load; the client's CPU time is printed beside it.
  MESSAGE(engine << ": " << kRows << " new rows in " << wall << " s = "
                 << static_cast<int64_t>(kRows / wall) << " rows/s (client CPU " << cpu << " s)");
  int64_t duplicates = 0;
  const auto [wall_again, cpu_again] =
      import([&](const BatchResult& r) { duplicates += r.duplicates; });
  CHECK(duplicates == kRows);
  MESSAGE(engine << ": the same rows again (all duplicates) in " << wall_again
                 << " s = " << static_cast<int64_t>(kRows / wall_again) << " rows/s (client CPU "
                 << cpu_again << " s)");
  CHECK(count(*f.store, "h") == kRows);
}

TEST_CASE_TEMPLATE("import jobs: created with fresh ids, updated, read back after a reopen", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  ImportJob job;
  job.business_id = "mindal";
  job.bytes_total = 300;
  job.lease_until = kT0 + 30min;
  job.created_at = job.updated_at = kT0;
  const int64_t first = f.store->create_import_job(job).value();
  job.id = first;
  job.status = ImportStatus::done;
  job.bytes_read = 300;
  job.counts = {.fetched = 3, .inserted = 2, .duplicates = 0, .failed = 1, .skipped = 0};
  job.summary = "Imported 2 transactions, 1 errors";
  job.report_json = R"([{"row":"Row 3","reason":"Amount is not a number"}])";
  job.updated_at = kT0 + 1s;
  REQUIRE(f.store->update_import_job(job));

  auto reopened = f.second();
  const ImportJob read = reopened->get_import_job(first).value();
  CHECK(read.business_id == "mindal");
  CHECK(read.status == ImportStatus::done);
  CHECK(read.bytes_total == 300);
  CHECK(read.bytes_read == 300);
  CHECK(read.counts.inserted == 2);
  CHECK(read.counts.failed == 1);
  CHECK(!read.run_id);
  CHECK(read.summary == job.summary);
  CHECK(read.error.empty());
  CHECK(nlohmann::json::parse(read.report_json) == nlohmann::json::parse(job.report_json));
  CHECK(read.lease_until == kT0 + 30min);
  CHECK(read.updated_at == kT0 + 1s);
  CHECK(reopened->create_import_job(job).value() > first);

  CHECK(reopened->get_import_job(first + 100).error().code == CRMSYNC_E_NOT_FOUND);
  job.id = first + 100;
  CHECK(reopened->update_import_job(job).error().code == CRMSYNC_E_NOT_FOUND);
  job.id = first;
  job.report_json = "not json";
  CHECK(reopened->update_import_job(job).error().code == CRMSYNC_E_INVALID_INPUT);
}

TEST_CASE_TEMPLATE("a store written by schema 3 migrates to import jobs with its data intact", B,
                   CRMSYNC_TEST_BACKENDS) {
  B db;
  {
    auto store = open_store(db.config()).value();
    REQUIRE(store->add_business(
        Business{"mindal", "Миндаль", "Europe/Moscow", "RU", "RUB", std::nullopt, kT0}));
  }
  // Back to what schema 3 wrote: no import_jobs, no inbox turns index, version 3.
  db.exec(
      "DROP TABLE import_jobs; DROP INDEX webhook_inbox_turns; "
      "DELETE FROM schema_migrations WHERE version >= 4");
  StorageConfig lazy = db.config();
  lazy.migrate_on_open = false;
  REQUIRE(open_store(lazy).value()->schema_version().value() == 3);

  auto store = open_store(db.config()).value();
  CHECK(store->schema_version().value() == kSchemaVersion);
  CHECK(store->get_business("mindal").value().name == "Миндаль");
  ImportJob job;
  job.business_id = "mindal";
  job.created_at = job.updated_at = job.lease_until = kT0;
  const int64_t id = store->create_import_job(job).value();
  CHECK(store->get_import_job(id).value().status == ImportStatus::running);
}

TEST_CASE_TEMPLATE("sealed_key_ids names each key that sealed credentials or webhook secrets", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  CHECK(f.store->sealed_key_ids().value().empty());
  Integration sealed = Fixture<B>::integration("mindal-sealed", "yclients");
  sealed.credentials = crypto::Sealed{"kaaaa", "blob"};
  REQUIRE(f.store->create_integration(sealed));
  WebhookEndpoint endpoint;
  endpoint.integration_id = "mindal-yclients";
  endpoint.auth = "token";
  endpoint.secrets = crypto::Sealed{"kbbbb", "blob"};
  endpoint.updated_at = kT0;
  REQUIRE(f.store->put_webhook_endpoint(endpoint));
  CHECK(f.store->sealed_key_ids().value() == std::vector<std::string>{"kaaaa", "kbbbb"});
}
