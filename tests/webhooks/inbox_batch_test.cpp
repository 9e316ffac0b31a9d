// Batched processing of the webhook inbox, on both store backends: Engine::process_inbox groups
// the claimed webhooks by integration, maps each group into one pipeline batch and commits its
// sales together with the completion of its webhooks (store::Batch::inbox_done), so a failing
// webhook fails alone and a lost lease stores nothing. The pipeline's pending batch and the
// store's inbox completion are tested here too.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "pipeline/pipeline.h"
#include "support/backends.h"
#include "support/engine_world.h"

namespace {

using namespace crmsync;
using namespace std::chrono_literals;
using nlohmann::json;
using test::World;

// A YCLIENTS "record created" webhook of company, for an attended, paid record.
std::string record_event(int company, int64_t record_id) {
  std::ifstream in(std::string(CRMSYNC_TEST_DATA_DIR) +
                   "/fixtures/yclients/record-get-response.json");
  json record = json::parse(in)["data"];
  record["id"] = record_id;
  record["attendance"] = 1;
  record["client"]["phone"] = "7916" + std::to_string(1000000 + record_id);
  return json{{"company_id", company},
              {"resource", "record"},
              {"resource_id", record_id},
              {"status", "create"},
              {"data", record}}
      .dump();
}

store::InboxItem webhook(const std::string& integration_id, std::string body,
                         const std::string& content_type = "application/json") {
  store::InboxItem item;
  item.integration_id = integration_id;
  item.received_at = store::Timestamp(std::chrono::milliseconds(1'763'380'800'000));
  item.headers_json = json{{"content-type", content_type}}.dump();
  item.body = std::move(body);
  return item;
}

// Stores the webhooks and returns their ids in order.
std::vector<int64_t> enqueue(store::Store& store, const std::vector<store::InboxItem>& items) {
  const auto stored = store.enqueue_webhooks(items, store::Sync::now).value();
  std::vector<int64_t> ids;
  for (const auto& id : stored) ids.push_back(id.value());
  return ids;
}

template <class B>
void add_yclients(World<B>& world, const std::string& id, int company) {
  world.add(id, "yclients", {{"company_id", company}, {"partner_token", "p"}, {"user_token", "u"}});
}

template <class B>
int64_t inbox(World<B>& world, const std::string& where) {
  return world.count("SELECT COUNT(*) FROM webhook_inbox WHERE " + where);
}

TEST_CASE_TEMPLATE(
    "a batch of webhooks of two integrations processed in one call stores every sale once and "
    "completes every item",
    B, CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  add_yclients(world, "mindal-b", 4565);
  std::vector<store::InboxItem> items;
  for (int i = 0; i < 10; ++i) {
    items.push_back(webhook("mindal-a", record_event(4564, 100 + i)));
    items.push_back(webhook("mindal-b", record_event(4565, 200 + i)));
  }
  items.push_back(webhook("mindal-a", record_event(4564, 100)));  // the same sale again
  enqueue(*world.store, items);

  CHECK(world.engine->process_inbox(128).value().handled == 21);
  CHECK(world.engine->process_inbox(128).value().handled == 0);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 20);
  CHECK(world.count("SELECT COUNT(DISTINCT external_id) FROM transactions") == 20);
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE integration_id = 'mindal-a'") == 10);
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE integration_id = 'mindal-b'") == 10);
  CHECK(world.count("SELECT COUNT(*) FROM outbox") == 20);
  CHECK(inbox(world, "status = 'done' AND lease_owner IS NULL") == 21);
  CHECK(inbox(world, "attempts = 0") == 21);
}

TEST_CASE_TEMPLATE("one unreadable body among good ones fails only itself", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  // An integration whose connector is not loaded: its whole group cannot be opened.
  store::Integration unloaded;
  unloaded.id = "mindal-iiko";
  unloaded.business_id = "mindal";
  unloaded.crm_type = "iiko";
  REQUIRE(world.store->create_integration(unloaded));
  const auto ids = enqueue(
      *world.store,
      {webhook("mindal-a", record_event(4564, 1)), webhook("mindal-a", "{not json"),
       webhook("mindal-iiko", "{}"), webhook("mindal-a", record_event(4564, 2)),
       webhook("mindal-a", record_event(4564, 3), "text/plain"), webhook("mindal-iiko", "{}")});

  CHECK(world.engine->process_inbox(128).value().handled == 6);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 2);
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id IN ('YCLIENTS-1', "
                    "'YCLIENTS-2')") == 2);
  CHECK(inbox(world, "status = 'done'") == 2);
  CHECK(inbox(world, "status = 'permanently_failed' AND attempts = 1") == 4);
  CHECK(inbox(world, "id = " + std::to_string(ids[1]) + " AND status = 'permanently_failed'") == 1);
  CHECK(inbox(world, "id = " + std::to_string(ids[4]) + " AND status = 'permanently_failed'") == 1);

  const auto errors = test::logs_of(*world.store, "mindal-a", store::LogType::error);
  REQUIRE(errors.size() == 2);
  CHECK(errors[1].message.find("Webhook #" + std::to_string(ids[1]) + " permanently_failed: ") ==
        0);
  CHECK(errors[1].message.find("YCLIENTS webhook body is not JSON") != std::string::npos);
  CHECK(errors[0].message.find("Webhook #" + std::to_string(ids[4]) + " permanently_failed") == 0);
  CHECK(errors[0].message.find("text/plain") != std::string::npos);
  const auto unopened = test::logs_of(*world.store, "mindal-iiko", store::LogType::error);
  REQUIRE(unopened.size() == 2);
  for (const auto& line : unopened) {
    CHECK(line.message.find("permanently_failed") != std::string::npos);
    CHECK(line.message.find("connector `iiko` is not loaded") != std::string::npos);
  }
}

TEST_CASE_TEMPLATE("a lease taken away mid-way stores nothing and completes nothing", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  const auto ids = enqueue(
      *world.store,
      {webhook("mindal-a", record_event(4564, 1)),
       webhook("mindal-a",
               json{{"company_id", 4564}, {"resource", "client"}, {"resource_id", 9}}.dump()),
       webhook("mindal-a", record_event(4564, 2))});
  // The connector logs that it ignores the client event while the group is being mapped; right
  // then another host takes the first webhook's lease (as after this host stalled past it).
  std::atomic<bool> stolen{false};
  world.engine.reset();
  world.services = std::make_unique<sync::StoreHostServices>(
      *world.store, sync::HttpDefaults{},
      [&](int32_t, const std::string&, const std::string& line) {
        if (line.find("ignored") == std::string::npos || stolen.exchange(true)) return;
        CHECK(world.count("UPDATE webhook_inbox SET lease_owner = 'other-host' WHERE id = " +
                          std::to_string(ids[0]) + " RETURNING id") == ids[0]);
      },
      [&] { return world.clock.now(); });
  sync::EngineOptions options;
  options.owner = "test-host";
  options.master_keys = {test::test_key()};
  options.now = [&] { return world.clock.now(); };
  world.engine = std::make_unique<sync::Engine>(*world.store, world.host, *world.services, options);

  const auto lost = world.engine->process_inbox(128);
  REQUIRE(stolen);
  REQUIRE(!lost);
  CHECK(lost.error().code == CRMSYNC_E_CONFLICT);
  CHECK(lost.error().message.find("not leased to this owner") != std::string::npos);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 0);
  CHECK(world.count("SELECT COUNT(*) FROM outbox") == 0);
  CHECK(inbox(world, "status = 'pending'") == 3);
  CHECK(inbox(world, "lease_owner = 'other-host'") == 1);

  // Once the leases end, the webhooks are claimed again and nothing was lost.
  world.clock.advance(6min);
  CHECK(world.engine->process_inbox(128).value().handled == 3);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 2);
  CHECK(inbox(world, "status = 'done'") == 3);
}

// Runs a statement that returns nothing (DDL) on the world's database, as another client.
template <class B>
void execute(World<B>& world, const std::string& sql) {
  if constexpr (std::is_same_v<B, test::Sqlite>) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(world.db.config().target.c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    INFO(message);
    REQUIRE(rc == SQLITE_OK);
  } else {
    REQUIRE(world.count(sql + "; SELECT 1") == 1);
  }
}

TEST_CASE_TEMPLATE(
    "a group whose commit fails is retried with backoff and the other groups are still stored", B,
    CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  add_yclients(world, "mindal-b", 4565);
  enqueue(*world.store,
          {webhook("mindal-a", record_event(4564, 1)), webhook("mindal-b", record_event(4565, 2)),
           webhook("mindal-a", record_event(4564, 3))});
  // The database refuses mindal-a's sales, as a full disk or a dropped connection would fail the
  // group's commit. mindal-a's group comes first.
  if constexpr (std::is_same_v<B, test::Sqlite>) {
    execute(world,
            "CREATE TRIGGER refuse_a BEFORE INSERT ON transactions WHEN NEW.integration_id = "
            "'mindal-a' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
  } else {
    execute(world,
            "CREATE FUNCTION refuse_a() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF "
            "NEW.integration_id = 'mindal-a' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
            "RETURN NEW; END $$; CREATE TRIGGER refuse_a BEFORE INSERT ON transactions FOR EACH "
            "ROW EXECUTE FUNCTION refuse_a()");
  }
  const auto failed = world.engine->process_inbox(128);
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message.find("refused by the test") != std::string::npos);
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE integration_id = 'mindal-b'") == 1);
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE integration_id = 'mindal-a'") == 0);
  CHECK(inbox(world, "integration_id = 'mindal-b' AND status = 'done'") == 1);
  // mindal-a's webhooks wait for their retry, not for their leases to run out.
  CHECK(inbox(world,
              "integration_id = 'mindal-a' AND status = 'pending' AND attempts = 1 AND "
              "lease_owner IS NULL AND last_error LIKE 'the sales could not be stored: %'") == 2);
  CHECK(world.engine->process_inbox(128).value().handled == 0);  // not due yet

  execute(world, "DROP TRIGGER refuse_a" +
                     std::string(std::is_same_v<B, test::Sqlite> ? "" : " ON transactions"));
  world.clock.advance(5min);  // the first retry waits backoff × 2
  CHECK(world.engine->process_inbox(128).value().handled == 2);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 3);
  CHECK(inbox(world, "status = 'done'") == 3);
}

TEST_CASE_TEMPLATE("a pass reports how long its oldest first delivery waited, not its retries", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  // A webhook failed once by another host: a retry, received long before the rest.
  enqueue(*world.store, {webhook("mindal-a", record_event(4564, 1))});
  const store::LeasePolicy policy;
  const auto claimed = world.store->claim_webhooks("other", 1, policy, world.clock.now()).value();
  REQUIRE(claimed.size() == 1);
  REQUIRE(world.store->fail_item(store::Queue::inbox, claimed[0].id, "other", "boom", policy,
                                 world.clock.now()));
  world.clock.advance(10min);  // the retry is due
  store::InboxItem early = webhook("mindal-a", record_event(4564, 2));
  early.received_at = world.clock.now() - 30s;
  store::InboxItem late = webhook("mindal-a", record_event(4564, 3));
  late.received_at = world.clock.now() - 5s;
  enqueue(*world.store, {early, late});

  const sync::InboxPass pass = world.engine->process_inbox(128).value();
  CHECK(pass.handled == 3);
  CHECK(pass.lag == 30s);
  const sync::InboxPass empty = world.engine->process_inbox(128).value();
  CHECK(empty.handled == 0);
  CHECK(empty.lag == 0ms);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 3);
}

// A record the pipeline reads as a paid sale.
crmsync_record_v1 sale(const std::string& external_id) {
  static const std::string when = "2025-11-17T14:30:00+03:00";
  static const std::string amount = "1500.00";
  crmsync_record_v1 record{};
  record.struct_size = sizeof(record);
  record.external_id = {external_id.data(), external_id.size()};
  record.occurred_at = {when.data(), when.size()};
  record.amount_kind = CRMSYNC_AMOUNT_DECIMAL;
  record.amount = {amount.data(), amount.size()};
  return record;
}

TEST_CASE_TEMPLATE(
    "pipeline: a call that fails after delivering records leaves nothing of it in the pending "
    "batch",
    B, CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  auto target = pipeline::make_target(world.store->get_business("mindal").value(),
                                      world.store->get_integration("mindal-a").value());
  pipeline::Ingest ingest(*world.store, target.value(), std::nullopt);
  const std::string first = "1", second = "2", third = "3";
  REQUIRE(
      ingest.add_call([&](plugin_host::RecordSink& sink) { return sink.on_record(sale(first)); }));
  auto broken = ingest.add_call([&](plugin_host::RecordSink& sink) -> Result<void> {
    if (auto ok = sink.on_record(sale(second)); !ok) return ok;
    if (auto ok = sink.on_fail("2b", "Amount is missing", "{}"); !ok) return ok;
    if (auto ok = sink.on_refetch("77"); !ok) return ok;
    return fail(CRMSYNC_E_INVALID_INPUT, "the body ends in the middle");
  });
  REQUIRE(!broken);
  CHECK(broken.error().message == "the body ends in the middle");
  auto named = ingest.add_call([&](plugin_host::RecordSink& sink) -> Result<void> {
    if (auto ok = sink.on_record(sale(third)); !ok) return ok;
    return sink.on_refetch("78");
  });
  CHECK(named.value() == std::vector<std::string>{"78"});
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 0);  // nothing before the commit

  REQUIRE(ingest.commit_pending());
  CHECK(ingest.totals().fetched == 2);
  CHECK(ingest.totals().inserted == 2);
  CHECK(ingest.totals().failed == 0);
  CHECK(ingest.errors().empty());
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id IN ('YCLIENTS-1', "
                    "'YCLIENTS-3')") == 2);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 2);
  CHECK(world.count("SELECT COUNT(*) FROM integration_logs") == 0);
}

// A batch of one sale of mindal-a.
store::Batch batch_with(const std::string& external_id) {
  store::Batch batch;
  batch.business_id = "mindal";
  batch.integration_id = "mindal-a";
  store::NormalizedTransaction& sale = batch.transactions.emplace_back();
  sale.external_id = external_id;
  sale.amount_minor = 100;
  return batch;
}

TEST_CASE_TEMPLATE(
    "store: commit_batch completes its inbox items with its sales, or stores nothing on a lost "
    "lease",
    B, CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  store::Store& store = *world.store;
  const auto ids = enqueue(store, {webhook("mindal-a", "1"), webhook("mindal-a", "2"),
                                   webhook("mindal-a", "3"), webhook("mindal-a", "4")});
  const store::Timestamp now = world.clock.now();
  REQUIRE(store.claim_webhooks("me", 3, {}, now).value().size() == 3);
  REQUIRE(store.claim_webhooks("other", 1, {}, now).value().size() == 1);

  SUBCASE("its own items are done in the sales' transaction, with one statement") {
    store::Batch batch = batch_with("YCLIENTS-1");
    batch.inbox_done = {ids[0], ids[2], ids[1]};
    batch.lease_owner = "me";
    CHECK(store.commit_batch(batch).value().inserted == 1);
    CHECK(inbox(world, "status = 'done' AND lease_owner IS NULL") == 3);
    CHECK(inbox(world, "id = " + std::to_string(ids[3]) + " AND status = 'pending'") == 1);
    // Done items cannot be completed again.
    store::Batch again = batch_with("YCLIENTS-2");
    again.inbox_done = {ids[0]};
    again.lease_owner = "me";
    CHECK(store.commit_batch(again).error().code == CRMSYNC_E_CONFLICT);
    CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id = 'YCLIENTS-2'") == 0);
  }
  SUBCASE("one item leased to another owner: nothing is stored, nothing completed") {
    store::Batch batch = batch_with("YCLIENTS-1");
    batch.inbox_done = {ids[0], ids[3]};
    batch.lease_owner = "me";
    auto refused = store.commit_batch(batch);
    REQUIRE(!refused);
    CHECK(refused.error().code == CRMSYNC_E_CONFLICT);
    CHECK(refused.error().message ==
          "1 of the 2 webhook_inbox items of the batch are not leased to this owner (lease lost "
          "or finished)");
    CHECK(world.count("SELECT COUNT(*) FROM transactions") == 0);
    CHECK(inbox(world, "status = 'pending'") == 4);
    CHECK(inbox(world, "lease_owner = 'me'") == 3);
  }
  SUBCASE("bad input is refused before the database") {
    store::Batch no_owner = batch_with("YCLIENTS-1");
    no_owner.inbox_done = {ids[0]};
    auto refused = store.commit_batch(no_owner);
    CHECK(refused.error().code == CRMSYNC_E_INVALID_INPUT);
    CHECK(refused.error().message == "a batch that completes inbox items needs their owner");
    store::Batch twice = batch_with("YCLIENTS-1");
    twice.inbox_done = {ids[0], ids[1], ids[0]};
    twice.lease_owner = "me";
    refused = store.commit_batch(twice);
    CHECK(refused.error().code == CRMSYNC_E_INVALID_INPUT);
    CHECK(refused.error().message == "a batch completes an inbox item twice");
    CHECK(world.count("SELECT COUNT(*) FROM transactions") == 0);
    CHECK(inbox(world, "status = 'pending'") == 4);
  }
}

}  // namespace
