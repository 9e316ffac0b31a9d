// Batched processing of the webhook inbox, on both store backends: Engine::process_inbox groups
// the claimed webhooks by integration, maps each group into one pipeline batch and commits its
// sales together with the completion of its webhooks (store::Batch::inbox_done), so a failing
// webhook fails alone and a lost lease stores nothing. The pipeline's pending batch and the
// store's inbox completion are tested here too.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
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
  CHECK(inbox(world, "attempts = 1") == 21);  // counted when claimed
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
  world.clock.advance(2min);  // the first retry waits the backoff
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

// A scripted webhook body: a sale of 100.00, and the objects it names.
std::string scripted_event(const std::string& sale_id, const std::vector<std::string>& names = {}) {
  json body{{"records", json::array({{{"external_id", sale_id},
                                      {"occurred_at", "2025-11-17T14:30:00+03:00"},
                                      {"amount", "100"}}})}};
  if (!names.empty()) body["refetch"] = names;
  return body.dump();
}

// The settings of a scripted integration whose objects "1".."count" are sales.
json scripted_objects(int count) {
  json objects = json::object();
  for (int i = 1; i <= count; ++i) {
    objects[std::to_string(i)] = {{"external_id", "obj-" + std::to_string(i)},
                                  {"occurred_at", "2025-11-17T14:30:00+03:00"},
                                  {"amount", "100"}};
  }
  return {{"batches", json::array()}, {"objects", objects}};
}

TEST_CASE_TEMPLATE(
    "an authenticated YCLIENTS webhook nested 100,000 levels deep is answered by a failure with "
    "its reason, not a crash",
    B, CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  // Past the parser's 256 levels the body is refused unread; within them, the events are read
  // and refused one by one, their raw text bounded at 64 levels.
  const std::string deepest = std::string(100'000, '[') + std::string(100'000, ']');
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  enqueue(*world.store,
          {webhook("mindal-a", R"({"resource":"record","status":"bogus","x":)" + deep + "}"),
           webhook("mindal-a", R"({"x":)" + deep + "}"),
           webhook("mindal-a", R"({"resource":"record","status":)" + deep + "}"),
           webhook("mindal-a", R"({"resource":"record","status":"create","x":)" + deepest + "}"),
           webhook("mindal-a", record_event(4564, 5))});

  CHECK(world.engine->process_inbox(128).value().handled == 5);
  // The good one beside them is stored.
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 1);
  CHECK(inbox(world, "status = 'done'") == 4);
  CHECK(inbox(world, "status = 'permanently_failed'") == 1);
  const auto errors = test::logs_of(*world.store, "mindal-a", store::LogType::error);
  REQUIRE(errors.size() == 4);
  std::vector<std::string> messages;
  for (const auto& line : errors) {
    messages.push_back(line.message);
    if (line.message.find("nests deeper than 256 levels") != std::string::npos) continue;
    CHECK(json::parse(line.raw_json) ==
          json{{"crmsync", "object nested more than 64 levels deep, not kept"}});
  }
  const auto logged = [&](std::string_view start) {
    return std::count_if(messages.begin(), messages.end(),
                         [&](const std::string& m) { return m.find(start) == 0; });
  };
  CHECK(logged("Unknown record event status \"bogus\"") == 1);
  CHECK(logged("Not a YCLIENTS webhook event (no resource)") == 1);
  CHECK(logged("Unknown record event status {\"crmsync\":\"object nested more than 64 levels "
               "deep, not kept\"}") == 1);
  CHECK(std::count_if(messages.begin(), messages.end(), [](const std::string& m) {
          return m.find(
                     "permanently_failed: INVALID_INPUT: the YCLIENTS webhook nests deeper "
                     "than 256 levels") != std::string::npos;
        }) == 1);
}

TEST_CASE_TEMPLATE(
    "a webhook whose mapping fails with a bug follows the 2/4/8-minute schedule to "
    "permanently_failed with its reason",
    B, CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  world.add("mindal-s", "scripted", scripted_objects(0));
  std::string reason;
  std::string body;
  SUBCASE("an exception") {
    body = R"({"throw":"mapping blew up"})";
    reason = "mapping blew up";
  }
  SUBCASE("an error value outside the ABI") {
    body = R"({"error_code":12345})";
    reason = "scripted error value";
  }
  CAPTURE(body);
  const auto ids = enqueue(*world.store, {webhook("mindal-s", body)});
  const std::string item = "id = " + std::to_string(ids[0]);
  const std::chrono::minutes waits[] = {2min, 4min, 8min};
  for (int attempt = 1; attempt <= 3; ++attempt) {
    CHECK(world.engine->process_inbox(128).value().handled == 1);
    CHECK(inbox(world,
                item + " AND status = 'pending' AND attempts = " + std::to_string(attempt)) == 1);
    const auto wait = waits[attempt - 1];
    world.clock.advance(wait - 1s);
    CHECK(world.engine->process_inbox(128).value().handled == 0);  // not due yet
    world.clock.advance(1s);
  }
  CHECK(world.engine->process_inbox(128).value().handled == 1);  // the third retry
  CHECK(inbox(world, item + " AND status = 'permanently_failed' AND attempts = 4") == 1);
  CHECK(world.engine->process_inbox(128).value().handled == 0);
  const auto errors = test::logs_of(*world.store, "mindal-s", store::LogType::error);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message.find("Webhook #" + std::to_string(ids[0]) + " permanently_failed: ") ==
        0);
  CHECK(errors[0].message.find(reason) != std::string::npos);
}

TEST_CASE_TEMPLATE(
    "a webhook whose mapping kills the process has its attempt counted first and ends "
    "permanently_failed after the schedule, not a poison pill",
    B, CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  world.add("mindal-s", "scripted", scripted_objects(0));
  const auto ids = enqueue(*world.store, {webhook("mindal-s", scripted_event("1"))});
  const std::string item = "id = " + std::to_string(ids[0]);
  store::LeasePolicy policy;
  policy.lease = 1min;
  // A host claims it and dies while mapping, four times: each claim is committed with its
  // attempt before any connector could see the body, and each next claim waits for the lease
  // and for the retry schedule (2, 4, 8 minutes).
  for (int attempt = 1; attempt <= 4; ++attempt) {
    const auto claimed =
        world.store->claim_webhooks("dying-host", 8, policy, world.clock.now()).value();
    REQUIRE(claimed.size() == 1);
    CHECK(claimed[0].attempts == attempt);
    CHECK(inbox(world, item + " AND attempts = " + std::to_string(attempt)) == 1);
    world.clock.advance(1min);
    if (attempt < 4) {
      CHECK(
          world.store->claim_webhooks("dying-host", 8, policy, world.clock.now()).value().empty());
      world.clock.advance((1 << (attempt - 1)) * 2min);
    }
  }
  // After the last retry's lease the next claim ends it instead of mapping it again.
  world.clock.advance(16min);
  CHECK(world.engine->process_inbox(128).value().handled == 1);
  CHECK(inbox(world, item + " AND status = 'permanently_failed' AND lease_owner IS NULL") == 1);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 0);
  const auto errors = test::logs_of(*world.store, "mindal-s", store::LogType::error);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message ==
        "Webhook #" + std::to_string(ids[0]) +
            " permanently_failed: mapping did not finish in 4 attempts (the host stopped or lost "
            "the lease while mapping it)");
  CHECK(world.engine->process_inbox(128).value().handled == 0);
}

TEST_CASE_TEMPLATE(
    "a webhook naming many records re-reads a bounded number at once and queues the rest, so "
    "it is mapped once and another business's webhook is not held up",
    B, CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  world.add("mindal-s", "scripted", scripted_objects(1700));
  std::vector<std::string> names;
  for (int i = 1; i <= 1700; ++i) names.push_back(std::to_string(i));
  store::Business other;
  other.id = "other";
  other.name = "Другой салон";
  other.created_at = world.clock.now();
  REQUIRE(world.store->add_business(other));
  add_yclients(world, "mindal-a", 4564);
  REQUIRE(world.count("UPDATE crm_integrations SET business_id = 'other' WHERE id = 'mindal-a' "
                      "RETURNING 1") == 1);
  enqueue(*world.store, {webhook("mindal-s", scripted_event("fan", names)),
                         webhook("mindal-a", record_event(4564, 7))});

  CHECK(world.engine->process_inbox(128).value().handled == 2);
  CHECK(inbox(world, "status = 'done' AND attempts = 1") == 2);
  // The other business's sale is stored in the same pass; the fan-out's first re-reads too.
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE integration_id = 'mindal-a'") == 1);
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE integration_id = 'mindal-s'") ==
        1 + 20);
  CHECK(world.count("SELECT COUNT(*) FROM retry_queue WHERE status = 'pending' AND attempts = 0") ==
        1680);
  // The queued re-reads are worked off in bounded turns; each object is stored once.
  while (world.engine->process_retries(500).value() > 0) {
  }
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE integration_id = 'mindal-s'") ==
        1 + 1700);
  CHECK(world.count("SELECT COUNT(DISTINCT external_id) FROM transactions") == 1 + 1700 + 1);
  CHECK(world.count("SELECT COUNT(*) FROM retry_queue WHERE status = 'done'") == 1680);
  CHECK(world.count("SELECT COUNT(*) FROM integration_logs WHERE integration_id = 'mindal-s' AND "
                    "message = 'Webhook names 1700 objects: 20 re-read now, 1680 queued to be "
                    "re-read in the background'") == 1);
}

TEST_CASE_TEMPLATE("store: a mapping in progress renews its webhooks' leases", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  store::Store& store = *world.store;
  const auto ids = enqueue(store, {webhook("mindal-a", "1"), webhook("mindal-a", "2")});
  store::LeasePolicy policy;
  policy.lease = 1min;
  REQUIRE(store.claim_webhooks("me", 8, policy, world.clock.now()).value().size() == 2);
  // Being mapped is not processed: the lag metric's source still sees them.
  CHECK(store.oldest_pending_webhook().value() == webhook("mindal-a", "").received_at);
  world.clock.advance(50s);
  REQUIRE(store.renew_webhooks(ids, "me", world.clock.now() + 1min));
  world.clock.advance(50s);  // past the first lease, within the renewed one
  CHECK(store.claim_webhooks("other", 8, policy, world.clock.now()).value().empty());
  const std::vector<int64_t> theirs{ids[0]};
  CHECK(store.renew_webhooks(theirs, "other", world.clock.now() + 1min).error().code ==
        CRMSYNC_E_CONFLICT);
}

TEST_CASE_TEMPLATE(
    "claims serve businesses in turns: a second business's webhook is claimed while the first's "
    "backlog waits",
    B, CRMSYNC_TEST_BACKENDS) {
  World<B> world;
  add_yclients(world, "mindal-a", 4564);
  add_yclients(world, "mindal-b", 4565);  // the same business: no turn of its own
  store::Business other;
  other.id = "other";
  other.name = "Другой салон";
  other.created_at = world.clock.now();
  REQUIRE(world.store->add_business(other));
  store::Integration theirs;
  theirs.id = "other-a";
  theirs.business_id = "other";
  theirs.crm_type = "yclients";
  REQUIRE(world.store->create_integration(theirs));
  std::vector<store::InboxItem> backlog;
  for (int i = 0; i < 40; ++i) backlog.push_back(webhook(i % 2 ? "mindal-a" : "mindal-b", "{}"));
  enqueue(*world.store, backlog);
  store::InboxItem late = webhook("other-a", "{}");
  late.received_at += 1h;
  const int64_t late_id = enqueue(*world.store, {late})[0];
  world.clock.advance(2h);

  CHECK(world.store->oldest_pending_webhook().value() == backlog[0].received_at);
  const auto first = world.store->claim_webhooks("me", 8, {}, world.clock.now()).value();
  REQUIRE(first.size() == 8);
  CHECK(std::count_if(first.begin(), first.end(),
                      [&](const store::InboxItem& item) { return item.id == late_id; }) == 1);
  // The rest of the backlog in the order it came, in the next claims.
  const auto second = world.store->claim_webhooks("me", 64, {}, world.clock.now()).value();
  CHECK(second.size() == 33);
  CHECK(world.store->claim_webhooks("you", 64, {}, world.clock.now()).value().empty());
}

}  // namespace
