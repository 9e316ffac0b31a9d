// The sync engine end to end: the YCLIENTS connector against crmsim, through the host's HTTP
// service, into a real store (SQLite and PostgreSQL). Faults come from the simulator; alerts go to
// a real SMTP listener on loopback.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "alerts/alerts.h"
#include "sim_process.h"
#include "support/backends.h"
#include "support/engine_world.h"
#include "support/loyalty_receiver.h"
#include "support/smtp_server.h"
#include "sync/engine.h"
#include "sync/scheduler.h"

namespace {

using namespace crmsync;
using namespace std::chrono_literals;
using nlohmann::json;
using sim::testing::SimProcess;
using test::logs_of;
using test::test_key;
using test::TestClock;
using test::World;

json yclients(const SimProcess& sim, json extra = json::object()) {
  json settings = {{"company_id", 4564},
                   {"partner_token", "partner-secret"},
                   {"user_token", "user-secret"},
                   {"base_url", sim.url("/yclients")},
                   {"page_size", 50}};
  settings.update(extra);
  return settings;
}

// The records a fault-free sync of the simulator's company stores: the reference to compare with.
int64_t reference_sales(const SimProcess& sim) {
  World<test::Sqlite> clean;
  clean.add("mindal-yclients", "yclients", yclients(sim));
  auto report = clean.engine->sync("mindal-yclients", store::RunTrigger::manual).value();
  REQUIRE(report.status == store::RunStatus::success);
  return report.totals.inserted;
}

}  // namespace

TEST_CASE_TEMPLATE("a sync stores every sale once and reports it in the spec's words", B,
                   CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "300"});
  World<B> world;
  world.add("mindal-yclients", "yclients", yclients(sim));
  auto report = world.engine->sync("mindal-yclients", store::RunTrigger::manual).value();
  REQUIRE(report.status == store::RunStatus::success);
  CHECK(report.totals.inserted > 100);
  CHECK(report.totals.fetched == 300);
  CHECK(report.totals.fetched ==
        report.totals.inserted + report.totals.skipped + report.totals.failed);
  CHECK(report.message == sync::synced_message(report.totals.inserted));
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == report.totals.inserted);
  CHECK(world.count("SELECT COUNT(*) FROM outbox") == report.totals.inserted);
  const auto run = world.store->get_run(report.run_id).value();
  CHECK(run.status == store::RunStatus::success);
  CHECK(run.counts.inserted == report.totals.inserted);
  CHECK(world.store->get_integration("mindal-yclients").value().last_sync_at == world.clock.now());
  auto logs = logs_of(*world.store, "mindal-yclients");
  REQUIRE_FALSE(logs.empty());
  CHECK(logs.front().message.starts_with("✅ Синхронизировано "));
  // The stored settings keep no secret in the clear.
  const auto stored = world.store->get_integration("mindal-yclients").value();
  CHECK(stored.settings_json.find("secret") == std::string::npos);
  CHECK_FALSE(stored.credentials.blob.empty());
}

TEST_CASE("Russian plural forms of the sync message") {
  CHECK(sync::synced_message(1) == "✅ Синхронизировано 1 транзакция");
  CHECK(sync::synced_message(3) == "✅ Синхронизировано 3 транзакции");
  CHECK(sync::synced_message(12) == "✅ Синхронизировано 12 транзакций");
  CHECK(sync::synced_message(21) == "✅ Синхронизировано 21 транзакция");
  CHECK(sync::synced_message(111) == "✅ Синхронизировано 111 транзакций");
  CHECK(sync::synced_message(0) == "✅ Синхронизировано 0 транзакций");
}

TEST_CASE_TEMPLATE("with 30% of requests failing transiently every sale is stored exactly once", B,
                   CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "400"});
  const int64_t expected = reference_sales(sim);
  sim.admin("POST", "faults",
            json::array({{{"provider", "yclients"},
                          {"endpoint", "*"},
                          {"kind", "http_500"},
                          {"probability", 0.2}},
                         {{"provider", "yclients"},
                          {"endpoint", "*"},
                          {"kind", "reset"},
                          {"probability", 0.1}}}));
  World<B> world;
  world.add("mindal-yclients", "yclients", yclients(sim, {{"page_size", 20}}));
  auto report = world.engine->sync("mindal-yclients", store::RunTrigger::manual).value();
  INFO(report.message);
  REQUIRE(report.status == store::RunStatus::success);
  CHECK(report.totals.inserted == expected);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == expected);
  CHECK(world.count("SELECT COUNT(DISTINCT external_id) FROM transactions") == expected);
  const json counters = sim.admin("GET", "counters");
  CHECK(counters["providers"]["yclients"]["statuses"].value("500", 0) > 0);  // the faults did fire
}

TEST_CASE_TEMPLATE("a refused token stops the run and alerts once, on the third failure", B,
                   CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "50"});
  test::SmtpServer smtp;
  World<B> world(smtp.url());
  world.add("mindal-yclients", "yclients", yclients(sim, {{"user_token", "revoked"}}));
  for (int run = 1; run <= 4; ++run) {
    auto report = world.engine->sync("mindal-yclients", store::RunTrigger::schedule).value();
    CHECK(report.status == store::RunStatus::failed);
    REQUIRE(report.error);
    CHECK(report.error->code == CRMSYNC_E_UNAUTHENTICATED);
    CHECK(report.error_type == "AuthenticationError");
    CHECK(report.consecutive_failures == run);
    CHECK(smtp.messages().size() == (run >= 3 ? 1u : 0u));
    world.clock.advance(5min);
  }
  // One request per run: a refused credential is never retried.
  CHECK(sim.admin("GET", "counters")["providers"]["yclients"]["requests"].get<int>() == 4);
  auto logs = logs_of(*world.store, "mindal-yclients", store::LogType::error);
  REQUIRE(logs.size() == 4);
  CHECK(logs.front().error_type == "AuthenticationError");
  const std::string mail = smtp.messages().front().data;
  CHECK(mail.find("Subject: =?UTF-8?B?") != std::string::npos);
  CHECK(world.store->list_alerts("mindal-yclients").value().front().subject ==
        "Ошибка синхронизации с YCLIENTS - Миндаль");
}

TEST_CASE_TEMPLATE("incremental syncs store only new sales, including those at the boundary", B,
                   CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "200", "--new-per-hour", "12"});
  World<B> world;
  world.add("mindal-yclients", "yclients", yclients(sim));
  auto first = world.engine->sync("mindal-yclients", store::RunTrigger::schedule).value();
  REQUIRE(first.status == store::RunStatus::success);
  const int64_t after_first = world.count("SELECT COUNT(*) FROM transactions");

  // Nothing changed: nothing new, and only the overlap window is read again.
  auto idle = world.engine->sync("mindal-yclients", store::RunTrigger::schedule).value();
  CHECK(idle.totals.inserted == 0);
  CHECK(idle.totals.fetched < first.totals.fetched);

  // Paid records created at the very moment of the last sync (the cursor's boundary).
  const json created =
      sim.admin("POST", "records",
                {{"provider", "yclients"}, {"company_id", 4564}, {"count", 3}, {"paid", true}});
  auto boundary = world.engine->sync("mindal-yclients", store::RunTrigger::schedule).value();
  CHECK(boundary.totals.inserted == 3);

  // An hour later the company has new visits.
  sim.admin("POST", "clock/advance", {{"seconds", 3600}});
  auto later = world.engine->sync("mindal-yclients", store::RunTrigger::schedule).value();
  CHECK(later.status == store::RunStatus::success);
  CHECK(later.totals.inserted > 0);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") ==
        after_first + 3 + later.totals.inserted);
  CHECK(world.count("SELECT COUNT(DISTINCT external_id) FROM transactions") ==
        world.count("SELECT COUNT(*) FROM transactions"));
  (void)created;
}

TEST_CASE("a sync of 1,000 records never exceeds the connector's declared 5 requests/s") {
  SimProcess sim({"--records", "1000"});
  World<test::Sqlite> world;
  world.add("mindal-yclients", "yclients", yclients(sim, {{"page_size", 40}}));
  auto report = world.engine->sync("mindal-yclients", store::RunTrigger::manual).value();
  REQUIRE(report.status == store::RunStatus::success);
  CHECK(report.totals.fetched == 1000);
  const json counters = sim.admin("GET", "counters");
  CHECK(counters["providers"]["yclients"]["requests"].get<int>() >= 25);
  CHECK(counters["providers"]["yclients"]["max_requests_per_second"].get<int>() <= 5);
  // 25+ requests at 5/s take at least 4 s.
  CHECK(report.duration >= 4s);
}

TEST_CASE_TEMPLATE("a re-read that fails transiently is retried at 2, 4, 8 minutes, then given up",
                   B, CRMSYNC_TEST_BACKENDS) {
  test::SmtpServer smtp;
  World<B> world(smtp.url());
  const json sale = {{"external_id", "7"},
                     {"occurred_at", "2025-11-17 14:30"},
                     {"amount", "1500"},
                     {"customer_phone", "+79991234567"}};
  world.add("mindal-ok", "scripted",
            {{"batches", json::array()},
             {"objects", {{"7", sale}}},
             {"unavailable_objects", json::array({"8"})}});
  world.add("mindal-down", "scripted",
            {{"batches", json::array()}, {"unavailable_objects", json::array({"7"})}});

  CHECK(world.engine->refetch("mindal-ok", "7").value().inserted == 1);
  CHECK(world.engine->refetch("mindal-ok", "8").error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(world.engine->refetch("mindal-down", "7").error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(world.count("SELECT COUNT(*) FROM retry_queue WHERE status = 'pending'") == 2);

  // Not due before 2 minutes.
  CHECK(world.engine->process_retries(10).value() == 0);
  // mindal-ok's object 8 comes back: make it readable by updating the integration's settings.
  auto ok = world.store->get_integration("mindal-ok").value();
  json second = sale;
  second["external_id"] = "8";
  ok.settings_json =
      json{{"batches", json::array()}, {"objects", {{"7", sale}, {"8", second}}}}.dump();
  REQUIRE(world.store->update_integration(ok, world.clock.now()));

  const std::chrono::minutes waits[] = {2min, 4min, 8min};
  for (int attempt = 0; attempt < 3; ++attempt) {
    world.clock.advance(waits[attempt] - 1s);
    CHECK(world.engine->process_retries(10).value() == 0);
    world.clock.advance(1s);
    CHECK(world.engine->process_retries(10).value() == (attempt == 0 ? 2 : 1));
  }
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id = 'SCRIPTED-8'") == 1);
  CHECK(world.count("SELECT COUNT(*) FROM retry_queue WHERE status = 'done'") == 1);
  CHECK(world.count("SELECT COUNT(*) FROM retry_queue WHERE status = 'permanently_failed'") == 1);
  auto errors = logs_of(*world.store, "mindal-down", store::LogType::error);
  REQUIRE_FALSE(errors.empty());
  CHECK(errors.front().error_type == "permanently_failed");
  CHECK(errors.front().message.find("permanently_failed") != std::string::npos);
  // The business owner hears of the record that could not be synced, once.
  REQUIRE(smtp.messages().size() == 1);
  CHECK(world.store->list_alerts("mindal-down").value().front().kind == "permanently_failed");
}

TEST_CASE("the scheduler runs each integration on its interval, one run at a time, and stops") {
  SimProcess sim(
      {"--records", "60", "--fault", "yclients/records:slow,delay_ms=300,probability=1"});
  World<test::Sqlite> world;
  world.clock.real = true;
  world.add("a", "yclients", yclients(sim, {{"page_size", 200}}));
  world.add("b", "yclients", yclients(sim, {{"page_size", 200}, {"company_id", 4565}}));
  sync::SchedulerOptions options;
  options.interval = 1s;
  options.jitter = 0.1;
  options.workers = 2;
  options.tick = 50ms;
  options.first_run_spread = 200ms;
  std::atomic<int> job_runs{0};
  sync::Scheduler scheduler(*world.engine, *world.store, options, {});
  scheduler.add_job({.name = "count", .every = 200ms, .run = [&] { ++job_runs; }});
  scheduler.start();
  std::this_thread::sleep_for(3500ms);
  scheduler.stop(5s);
  const auto stats = scheduler.stats();
  CHECK(stats.runs_started >= 4);
  CHECK(stats.runs_failed == 0);
  CHECK(stats.runs_in_flight == 0);
  CHECK(job_runs.load() >= 5);
  for (const char* id : {"a", "b"}) {
    auto runs = world.store->list_runs(id, 100).value();
    CHECK(runs.size() >= 2);
    // Runs of one integration never overlap, and each waits about an interval for the next.
    for (size_t i = 1; i < runs.size(); ++i) {
      REQUIRE(runs[i].finished_at);
      CHECK(*runs[i].finished_at <= runs[i - 1].started_at);
      CHECK(runs[i - 1].started_at - *runs[i].finished_at >= 850ms);
    }
  }
}

TEST_CASE("a manual trigger starts a run at once; stopping abandons runs past the grace period") {
  SimProcess sim(
      {"--records", "60", "--fault", "yclients/records:slow,delay_ms=3000,probability=1"});
  World<test::Sqlite> world;
  world.clock.real = true;
  world.add("a", "yclients", yclients(sim));
  sync::SchedulerOptions options;
  options.interval = 1h;
  options.first_run_spread = 1h;  // nothing scheduled during the test
  options.tick = 50ms;
  sync::Scheduler scheduler(*world.engine, *world.store, options, {});
  scheduler.start();
  const int64_t run_id = scheduler.trigger("a").value();
  CHECK(scheduler.trigger("a").error().code == CRMSYNC_E_CONFLICT);
  CHECK(scheduler.trigger("nope").error().code == CRMSYNC_E_NOT_FOUND);
  CHECK(world.store->get_run(run_id).value().trigger == store::RunTrigger::manual);
  std::this_thread::sleep_for(500ms);  // the run is waiting for the slow page
  const auto begun = std::chrono::steady_clock::now();
  scheduler.stop(200ms);
  CHECK(std::chrono::steady_clock::now() - begun < 2s);  // the transfer was cut, not waited for
  const auto run = world.store->get_run(run_id).value();
  CHECK(run.status == store::RunStatus::abandoned);
  CHECK(world.store->get_integration("a").value().consecutive_failures == 0);
  CHECK(scheduler.stats().runs_in_flight == 0);
}

TEST_CASE("soak: hours of scheduled syncs of many salons with 10% transient faults") {
  // Ten salons; every simulated 10 minutes each one syncs; four simulated hours in all.
  constexpr int kSalons = 10;
  constexpr int kTicks = 24;
  SimProcess sim(
      {"--companies", std::to_string(kSalons), "--records", "60", "--new-per-hour", "30"});
  World<test::Sqlite> world;
  for (int i = 0; i < kSalons; ++i) {
    world.add("salon-" + std::to_string(i), "yclients",
              yclients(sim, {{"company_id", 4564 + i}, {"page_size", 5}}));
  }
  sim.admin(
      "POST", "faults",
      json::array(
          {{{"provider", "yclients"},
            {"endpoint", "*"},
            {"kind", "http_500"},
            {"probability", 0.05}},
           {{"provider", "yclients"}, {"endpoint", "*"}, {"kind", "reset"}, {"probability", 0.03}},
           {{"provider", "yclients"},
            {"endpoint", "*"},
            {"kind", "http_429"},
            {"probability", 0.02},
            {"retry_after", 0}}}));
  int runs = 0;
  int succeeded = 0;
  for (int tick = 0; tick < kTicks; ++tick) {
    sim.admin("POST", "clock/advance", {{"seconds", 600}});
    world.clock.advance(10min);
    for (int i = 0; i < kSalons; ++i) {
      auto report = world.engine->sync("salon-" + std::to_string(i), store::RunTrigger::schedule);
      REQUIRE(report);
      ++runs;
      if (report->status == store::RunStatus::success) ++succeeded;
    }
  }
  const json counters = sim.admin("GET", "counters");
  const json& statuses = counters["providers"]["yclients"]["statuses"];
  const int faults = statuses.value("500", 0) + statuses.value("429", 0) + statuses.value("0", 0);
  const int failed_runs = runs - succeeded;
  // Each failed run left at most max_attempts faults unresolved; all others were absorbed by
  // in-run retries (or the next run) with no one's help.
  const double resolved = faults == 0 ? 1.0 : 1.0 - double(failed_runs * 8) / double(faults);

  // What the salons really sold: a fault-free sync of the simulator's final state.
  sim.admin("DELETE", "faults");
  World<test::Sqlite> truth;
  int64_t expected = 0;
  for (int i = 0; i < kSalons; ++i) {
    const std::string id = "salon-" + std::to_string(i);
    truth.add(id, "yclients", yclients(sim, {{"company_id", 4564 + i}, {"page_size", 200}}));
    expected += truth.engine->sync(id, store::RunTrigger::manual).value().totals.inserted;
    // And a last incremental run of the soaked store, as the next tick would do.
    REQUIRE(world.engine->sync(id, store::RunTrigger::schedule).value().status ==
            store::RunStatus::success);
  }
  const int64_t stored = world.count("SELECT COUNT(*) FROM transactions");
  const int64_t distinct = world.count("SELECT COUNT(DISTINCT external_id) FROM transactions");
  const int64_t lost = world.count("SELECT COUNT(*) FROM transactions") - expected;
  MESSAGE("soak: ", runs, " runs, ", succeeded, " succeeded (", 100.0 * succeeded / runs, "%), ",
          faults, " transient faults injected, ≥", 100.0 * resolved,
          "% resolved without an operator, ", stored - distinct, " duplicates, ", expected - stored,
          " lost records");
  CHECK(faults > 50);
  CHECK(double(succeeded) / runs >= 0.99);
  CHECK(resolved >= 0.95);
  CHECK(stored == distinct);
  CHECK(lost == 0);
}

TEST_CASE_TEMPLATE("a webhook's sale and the next poll of the same record store one transaction", B,
                   CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "20"});
  test::LoyaltyReceiver sink;  // any HTTP endpoint will do: the payload comes back to the test
  World<B> world;
  world.add("mindal-yclients", "yclients", yclients(sim));
  const json created =
      sim.admin("POST", "records",
                {{"provider", "yclients"}, {"company_id", 4564}, {"count", 2}, {"paid", true}});
  const json sent = sim.admin("POST", "webhook",
                              {{"provider", "yclients"},
                               {"url", sink.url()},
                               {"record_ids", created["ids"]},
                               {"batch", true}});
  plugin_host::WebhookRequest request;
  request.content_type = "application/json";
  request.body = sent["payload"].dump();
  auto received = world.engine->ingest_webhook("mindal-yclients", request).value();
  CHECK(received.inserted == 2);
  for (const json& id : created["ids"]) {
    CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id = 'YCLIENTS-" +
                      id.dump() + "'") == 1);
  }
  auto polled = world.engine->sync("mindal-yclients", store::RunTrigger::schedule).value();
  REQUIRE(polled.status == store::RunStatus::success);
  CHECK(polled.totals.duplicates >= 2);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") ==
        world.count("SELECT COUNT(DISTINCT external_id) FROM transactions"));
  CHECK(world.count("SELECT COUNT(*) FROM transactions") ==
        received.inserted + polled.totals.inserted);

  // A body that is not JSON is refused as a whole, and nothing is stored.
  request.body = "<html>";
  CHECK(world.engine->ingest_webhook("mindal-yclients", request).error().code ==
        CRMSYNC_E_INVALID_INPUT);
}
