// Tests of the iiko connector: the iikoCloud fixtures through the real `crmsync parse`, the
// connector against the real crmsim over loopback (tokens and their expiry, orders by revision and
// by delivery date, status transitions, cancelled orders, loyalty cards, sums that do not add up,
// webhooks, webhook settings), and the sync engine with a real SQLite store (an order closed
// between two syncs is stored once).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "parse/parse_process.h"
#include "plugin_host/plugin_host.h"
#include "sim_process.h"
#include "support/backends.h"
#include "support/connector_harness.h"
#include "support/engine_world.h"
#include "support/temp_dir.h"
#include "sync/engine.h"

using crmsync::sim::testing::SimProcess;
using crmsync::test::run_parse;
using crmsync::test::TempDir;
using crmsync::test::write_file;
using nlohmann::json;
namespace plugin_host = crmsync::plugin_host;
namespace store = crmsync::store;

namespace {

const std::string kFixtures = std::string(CRMSYNC_TEST_DATA_DIR) + "/fixtures/iiko/";
const std::string kOrganization = "7bc05553-4b68-44e8-b7bc-37be63c6d9e9";  // the fixtures' one
const std::string kFixtureOrder = "497f6eca-6276-4993-bfeb-53cbbbba6f08";

json fixture(const std::string& name) {
  return json::parse(crmsync::test::slurp(kFixtures + name));
}

// `crmsync parse --connector iiko` on a body (response or webhook kind).
crmsync::test::ParseRun parse(const std::string& kind, const std::string& body,
                              const std::string& config = "{}") {
  TempDir dir;
  write_file(dir / "body.json", body);
  return run_parse({"--connector", "iiko", "--kind", kind, "--config-json", config,
                    (dir / "body.json").string()},
                   dir.path());
}

// The fixture's order (by_id answer) made a closed sale: a phone, a sum, a kept item.
json closed_fixture() {
  json body = fixture("deliveries-by-id-response.docs-sample.json");
  json& order = body["orders"][0]["order"];
  order["status"] = "Closed";
  order["isDeleted"] = false;
  order["phone"] = "+79161234567";
  order["sum"] = 1450.5;
  order["items"][0]["deleted"] = nullptr;
  order["items"][0]["cost"] = 1400.5;
  order["items"][0]["modifiers"][0]["deleted"] = nullptr;
  order["items"][0]["modifiers"][0]["resultSum"] = 100;
  order["discounts"][0]["sum"] = 50;
  return body;
}

// One line of `crmsync parse` output as JSON.
json line(const crmsync::test::ParseRun& run, size_t i) {
  REQUIRE(run.lines.size() > i);
  return json::parse(run.lines[i]);
}

// A DeliveryOrderUpdate (or TableOrderUpdate) event around an OrderInfo.
json event(const json& info, const std::string& type = "DeliveryOrderUpdate") {
  return {{"eventType", type},
          {"eventTime", "2019-08-24 11:20:00.000"},
          {"organizationId", kOrganization},
          {"correlationId", "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
          {"eventInfo", info}};
}

}  // namespace

TEST_CASE("parse: the by_id fixture's order is Unconfirmed, so not a sale") {
  const auto run = parse(
      "response", crmsync::test::slurp(kFixtures + "deliveries-by-id-response.docs-sample.json"));
  CHECK(run.exit_code == 0);
  REQUIRE(run.lines.size() == 1);
  CHECK(line(run, 0) ==
        json{{"external_id", "IIKO-" + kFixtureOrder},
             {"status", "skipped"},
             {"reason", "Not a sale: the order is not closed yet (status Unconfirmed)"}});
}

TEST_CASE("parse: a closed order is a sale: sum, whenClosed in the zone, phone, items") {
  const auto run = parse("response", closed_fixture().dump());
  CHECK(run.exit_code == 0);
  const json sale = line(run, 0);
  CHECK(sale["external_id"] == "IIKO-" + kFixtureOrder);
  CHECK(sale["status"] == "ok");
  CHECK(sale["amount_minor"] == 145050);
  CHECK(sale["occurred_at"] == "2019-08-24T11:15:22Z");  // 14:15:22 in Europe/Moscow
  CHECK(sale["phone_e164"] == "+79161234567");
  CHECK(sale["description"] == "string");  // the fixture's product name
  CHECK(run.err.find("differs") == std::string::npos);
}

TEST_CASE("parse: deleted items and modifiers leave the sum; a sum that disagrees is logged") {
  json body = closed_fixture();
  json& order = body["orders"][0]["order"];
  // The fixture's own positions carry `deleted` objects: nothing counts, the sum is kept.
  order["items"][0]["deleted"] = fixture(
      "deliveries-by-id-response.docs-sample.json")["orders"][0]["order"]["items"][0]["deleted"];
  const auto run = parse("response", body.dump());
  CHECK(run.exit_code == 0);
  CHECK(line(run, 0)["amount_minor"] == 145050);
  CHECK(run.err.find("iiko order " + kFixtureOrder +
                     ": sum 1450.50 differs from its items, modifiers and discounts (-50.00)") !=
        std::string::npos);
}

TEST_CASE("parse: a card-only guest, cancelled and deleted orders, a table order") {
  json body = closed_fixture();
  json card_only = body["orders"][0];
  card_only["id"] = "card-only";
  card_only["order"]["phone"] = nullptr;
  card_only["order"]["customer"]["cardNumber"] = "4400123";
  json cancelled = body["orders"][0];
  cancelled["id"] = "cancelled";
  cancelled["order"]["status"] = "Cancelled";
  json deleted = body["orders"][0];
  deleted["id"] = "deleted";
  deleted["order"]["isDeleted"] = true;
  json no_content = {{"id", "failed"}, {"creationStatus", "Error"}, {"order", nullptr}};
  body["orders"] = json::array({card_only, cancelled, deleted, no_content});
  const auto run = parse("response", body.dump());
  CHECK(run.exit_code == 0);
  REQUIRE(run.lines.size() == 4);
  CHECK(line(run, 0)["status"] == "ok");
  CHECK(line(run, 0)["phone_e164"].is_null());
  CHECK(line(run, 1)["reason"] == "Not a sale: the order was cancelled");
  CHECK(line(run, 2)["reason"] == "Not a sale: the order is deleted");
  CHECK(line(run, 3)["reason"] == "Not a sale: the order has no content (creationStatus Error)");
}

TEST_CASE("parse: fixtures that are not orders answers exit 1 with one clear message") {
  for (const std::string file :
       {"access-token-response.docs-sample.json", "organizations-response.docs-sample.json",
        "organizations-extended-response.docs-sample.json",
        "payment-types-response.docs-sample.json", "deliveries-by-id-request.docs-sample.json",
        "openapi-excerpt.official-spec.json"}) {
    CAPTURE(file);
    const auto run = parse("response", crmsync::test::slurp(kFixtures + file));
    CHECK(run.exit_code == 1);
    CHECK(run.lines.empty());
    CHECK(run.err.find("Not an iiko orders response") != std::string::npos);
  }
  const auto garbage = parse("response", "<html>");
  CHECK(garbage.exit_code == 1);
  CHECK(garbage.err.find("iiko response is not JSON") != std::string::npos);
}

TEST_CASE("parse: unreadable orders are error lines, the others still map") {
  json body = closed_fixture();
  json bad_sum = body["orders"][0];
  bad_sum["id"] = "bad-sum";
  bad_sum["order"]["sum"] = "много";
  json bad_time = body["orders"][0];
  bad_time["id"] = "bad-time";
  bad_time["order"]["whenClosed"] = "24.08.2019 14:15";
  body["orders"] = json::array({bad_sum, bad_time, body["orders"][0], 42});
  const auto run = parse("response", body.dump());
  CHECK(run.exit_code == 0);
  REQUIRE(run.lines.size() == 4);
  CHECK(line(run, 0)["reason"] == "order.sum is not an amount");
  CHECK(line(run, 1)["reason"] == "order.whenClosed is not yyyy-MM-dd HH:mm:ss.fff");
  CHECK(line(run, 2)["status"] == "ok");
  CHECK(line(run, 3)["reason"] == "An order is not a JSON object");
}

TEST_CASE("webhook: one DeliveryOrderUpdate event of a closed order maps like sync") {
  const json info = closed_fixture()["orders"][0];
  const auto run = parse("webhook", event(info).dump());
  CHECK(run.exit_code == 0);
  REQUIRE(run.lines.size() == 1);
  CHECK(line(run, 0)["external_id"] == "IIKO-" + kFixtureOrder);
  CHECK(line(run, 0)["amount_minor"] == 145050);
  CHECK(line(run, 0)["occurred_at"] == "2019-08-24T11:15:22Z");
}

TEST_CASE("webhook: an array: closed, cancelled, a table order, another event type") {
  const json info = closed_fixture()["orders"][0];
  json cancelled = info;
  cancelled["id"] = "cancelled";
  cancelled["order"]["status"] = "Cancelled";
  json table = info;
  table["id"] = "table-1";
  table["order"].erase("whenClosed");  // then eventTime (UTC) is the sale's time
  json deleted_table = info;
  deleted_table["id"] = "table-2";
  deleted_table["order"]["status"] = "Deleted";
  const json body = json::array({event(info),
                                 event(cancelled),
                                 event(table, "TableOrderUpdate"),
                                 event(deleted_table, "TableOrderUpdate"),
                                 {{"eventType", "StopListUpdate"}, {"eventInfo", json::object()}}});
  const auto run = parse("webhook", body.dump());
  CHECK(run.exit_code == 0);
  REQUIRE(run.lines.size() == 4);
  CHECK(line(run, 0)["status"] == "ok");
  CHECK(line(run, 1)["reason"] == "Not a sale: the order was cancelled");
  CHECK(line(run, 2)["external_id"] == "IIKO-table-1");
  CHECK(line(run, 2)["occurred_at"] == "2019-08-24T11:20:00Z");
  CHECK(line(run, 3)["reason"] == "Not a sale: the order was deleted");
  CHECK(run.err.find("iiko webhook StopListUpdate ignored") != std::string::npos);
}

TEST_CASE("webhook: bad bodies: not JSON exits 1; a bad event or time is an error line") {
  const auto text = parse("webhook", "eventType=DeliveryOrderUpdate");
  CHECK(text.exit_code == 1);
  CHECK(text.err.find("iiko webhook body is not JSON") != std::string::npos);
  const auto scalar = parse("webhook", "17");
  CHECK(scalar.exit_code == 1);
  CHECK(scalar.err.find("neither an event nor a list") != std::string::npos);
  json bad_time = event(closed_fixture()["orders"][0]);
  bad_time["eventTime"] = "yesterday";
  const json no_type = {{"eventInfo", {{"id", "x"}}}};
  const auto run = parse("webhook", json::array({no_type, bad_time}).dump());
  CHECK(run.exit_code == 0);
  REQUIRE(run.lines.size() == 2);
  CHECK(line(run, 0) == json{{"external_id", "IIKO-x"},
                             {"status", "error"},
                             {"reason", "Not an iiko webhook event (no eventType)"}});
  CHECK(line(run, 1)["reason"] == "eventTime is not yyyy-MM-dd HH:mm:ss.fff");
}

TEST_CASE("parse: bad settings are refused with the field named") {
  const std::string body = closed_fixture().dump();
  const auto zone = parse("response", body, R"({"timezone":"Asia/Yekaterinburg"})");
  CHECK(zone.exit_code == 1);
  CHECK(zone.err.find("timezone (Asia/Yekaterinburg) differs from the integration's time zone") !=
        std::string::npos);
  const auto offset = parse("response", body, R"({"timezone":"+3"})");
  CHECK(offset.exit_code == 1);
  CHECK(offset.err.find("a fixed offset is written +HH:MM") != std::string::npos);
  const auto mode = parse("response", body, R"({"sync_mode":"sometimes"})");
  CHECK(mode.exit_code == 1);
  CHECK(mode.err.find("sync_mode") != std::string::npos);
  // A fixed offset gives the sale's time with that offset.
  const auto fixed = parse("response", body, R"({"timezone":"+05:00"})");
  CHECK(fixed.exit_code == 0);
  CHECK(line(fixed, 0)["occurred_at"] == "2019-08-24T09:15:22Z");
}

// ---- Against crmsim ----------------------------------------------------------------------------

namespace {

using Services = crmsync::test::HarnessHostServices;

// The plugin host with the built iiko connector loaded.
struct Loaded : crmsync::test::LoadedConnector {
  Loaded() : LoadedConnector(CRMSYNC_PLUGIN_DIR, "iiko") {}
  std::unique_ptr<plugin_host::Instance> open(plugin_host::HostServices& services,
                                              const json& settings) {
    return LoadedConnector::open(services, settings.dump());
  }
};

json settings(const SimProcess& sim, json extra = json::object()) {
  json out = {{"api_login", "iiko-login-secret"}, {"base_url", sim.url("/iiko")}};
  out.update(extra);
  return out;
}

crmsync::test::Collected pass(plugin_host::Instance& instance, const std::string& cursor) {
  return crmsync::test::full_pass(instance, cursor, "IIKO");
}

json state(SimProcess& sim) {
  return sim.admin("GET", "state?provider=iiko");
}

// Creates orders in organization 0 now; returns their ids.
std::vector<std::string> add_orders(SimProcess& sim, json params) {
  params["provider"] = "iiko";
  const json added = sim.admin("POST", "records", params);
  return added["ids"].get<std::vector<std::string>>();
}

bool has(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// crmsim flags that start its clock at the present, for the date windows (the connector reads
// the host's clock).
std::vector<std::string> starting_now(std::vector<std::string> args) {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  args.insert(args.end(), {"--start", text});
  return args;
}

}  // namespace

TEST_CASE("sim: test connection names the organizations; a bad login or organization is refused") {
  SimProcess sim({"--companies", "2", "--records", "3"});
  Services services;
  Loaded loaded;
  auto one = loaded.open(services, settings(sim, {{"organization_ids", {kOrganization}}}));
  CHECK(one->health_check().value() == "✅ Connected to Iiko - Лисичкино");
  auto all = loaded.open(services, settings(sim));
  CHECK(all->health_check().value() == "✅ Connected to Iiko - Лисичкино, Лисичкино Парк");

  Services fresh;
  auto refused = loaded.open(fresh, settings(sim, {{"api_login", "wrong"}}))->health_check();
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(refused.error().message.find("❌ Invalid iiko API login") != std::string::npos);
  auto unknown =
      loaded
          .open(services,
                settings(sim, {{"organization_ids", {"00000000-0000-0000-0000-000000000000"}}}))
          ->health_check();
  REQUIRE(!unknown.ok());
  CHECK(unknown.error().code == CRMSYNC_E_NOT_FOUND);
  CHECK(unknown.error().message.find(
            "❌ iiko organization 00000000-0000-0000-0000-000000000000 is not available to this "
            "API login") != std::string::npos);
}

TEST_CASE("sim: a sync by revision reads every order once; closed ones are sales") {
  SimProcess sim({"--companies", "1", "--records", "40"});
  Services services;
  Loaded loaded;
  auto instance = loaded.open(services, settings(sim));
  const auto first = pass(*instance, "");
  const json st = state(sim);
  CHECK(first.objects() == st["orders"].get<size_t>());
  CHECK(first.sales.size() == st["statuses"].value("Closed", 0u));
  CHECK(first.failed.empty());
  CHECK(first.cursor == json{{"revision", st["revision"]}}.dump());
  CHECK(first.skipped.size() == st["orders"].get<size_t>() - first.sales.size());
  if (st["statuses"].contains("Cancelled")) {
    CHECK(std::count_if(first.skipped.begin(), first.skipped.end(), [](const std::string& s) {
            return s.ends_with("Not a sale: the order was cancelled");
          }) == st["statuses"]["Cancelled"].get<int>());
  }
  for (const auto& tx : first.transactions) CHECK(tx.external_id.starts_with("IIKO-"));
  // The token is kept with its expiry one hour ahead.
  const auto token = services.state_get("iiko-1", "access_token");
  REQUIRE(token.ok());
  const json saved = json::parse(token->value);
  CHECK(saved["token"] == "iiko-token-1");
  CHECK(saved["expires_ms"].get<int64_t>() - services.now_ms() > 3500 * 1000);

  // Nothing changed: an empty pass, no new token.
  const auto second = pass(*instance, first.cursor);
  CHECK(second.objects() == 0);
  CHECK(state(sim)["tokens_issued"] == 1);
}

TEST_CASE("sim: an order that is Closed on the second sync becomes a sale then") {
  SimProcess sim({"--companies", "1", "--records", "5", "--new-per-hour", "0"});
  Services services;
  Loaded loaded;
  auto instance = loaded.open(services, settings(sim));
  const auto baseline = pass(*instance, "");
  const auto ids = add_orders(sim, {{"status", "OnWay"}, {"close_after", 600}});
  const auto first = pass(*instance, baseline.cursor);
  CHECK(first.skipped == std::vector<std::string>{
                             ids[0] + ": Not a sale: the order is not closed yet (status OnWay)"});
  sim.admin("POST", "clock/advance", {{"seconds", 700}});
  const auto second = pass(*instance, first.cursor);
  CHECK(has(second.sales, "IIKO-" + ids[0]));
}

TEST_CASE("sim: a cancelled order is never a sale") {
  SimProcess sim({"--companies", "1", "--records", "5", "--new-per-hour", "0"});
  Services services;
  Loaded loaded;
  auto instance = loaded.open(services, settings(sim));
  const auto baseline = pass(*instance, "");
  const auto ids = add_orders(sim, {{"status", "OnWay"}, {"cancel_after", 300}});
  const auto first = pass(*instance, baseline.cursor);
  sim.admin("POST", "clock/advance", {{"seconds", 400}});
  const auto second = pass(*instance, first.cursor);
  CHECK(first.sales.empty());
  CHECK(second.sales.empty());
  CHECK(has(second.skipped, ids[0] + ": Not a sale: the order was cancelled"));
  CHECK(!has(second.sales, "IIKO-" + ids[0]));
}

TEST_CASE("sim: a card-only guest gives customer_ref = card and no phone") {
  SimProcess sim({"--companies", "1", "--records", "1", "--new-per-hour", "0"});
  Services services;
  Loaded loaded;
  auto instance = loaded.open(services, settings(sim));
  const auto baseline = pass(*instance, "");
  add_orders(sim, {{"guest", "card"}});
  add_orders(sim, {{"guest", "customer_phone"}});
  const auto run = pass(*instance, baseline.cursor);
  REQUIRE(run.transactions.size() == 2);
  CHECK(run.transactions[0].phone_e164.empty());
  CHECK(run.transactions[0].customer_ref.starts_with("44"));
  CHECK(!run.transactions[1].phone_e164.empty());  // the customer's phone
  CHECK(run.transactions[1].customer_ref.empty());

  // card_phone_map off: the card is left out.
  auto no_cards = loaded.open(services, settings(sim, {{"card_phone_map", false}}));
  const auto plain = pass(*no_cards, baseline.cursor);
  REQUIRE(plain.transactions.size() == 2);
  CHECK(plain.transactions[0].customer_ref.empty());
}

TEST_CASE("sim: a sum that disagrees with items, modifiers and discounts is kept and logged") {
  SimProcess sim({"--companies", "1", "--records", "1", "--new-per-hour", "0"});
  Services services;
  Loaded loaded;
  auto instance = loaded.open(services, settings(sim));
  const auto baseline = pass(*instance, "");
  const auto ids = add_orders(sim, {{"sum_delta", 150}});
  const auto run = pass(*instance, baseline.cursor);
  REQUIRE(run.sales.size() == 1);
  CHECK(services.logged("iiko order " + ids[0] + ": sum "));
  CHECK(services.logged("differs from its items, modifiers and discounts"));
  const auto agreeing = add_orders(sim, {});
  pass(*instance, run.cursor);
  CHECK(!services.logged("iiko order " + agreeing[0]));
}

TEST_CASE(
    "sim: a token that expires in the middle of a sync is renewed once and the sync goes on") {
  SimProcess sim(starting_now({"--companies", "1", "--records", "60", "--history-days", "5",
                               "--iiko-no-revision", "--new-per-hour", "0"}));
  Services services;
  Loaded loaded;
  auto instance =
      loaded.open(services, settings(sim, {{"window_hours", 48}, {"timezone", "+03:00"}}));
  crmsync::test::Collected first("IIKO");
  REQUIRE(instance->fetch("", first).ok());
  REQUIRE(first.more);
  CHECK(services.logged("iiko refused orders by revision"));
  CHECK(json::parse(first.cursor).contains("from"));
  // The simulated hour passes: iiko now refuses the token the connector still thinks valid.
  sim.admin("POST", "clock/advance", {{"seconds", 3700}});
  auto rest = pass(*instance, first.cursor);
  CHECK(services.logged("iiko refused the access token; renewing it"));
  CHECK(state(sim)["tokens_issued"] == 2);
  const size_t closed = state(sim)["statuses"].value("Closed", 0u);
  CHECK(first.sales.size() + rest.sales.size() == closed);
  CHECK(rest.skipped.empty());  // only Closed orders are asked for by date
  CHECK(first.failed.empty());
  CHECK(rest.failed.empty());

  // A stored token about to expire is renewed before use, without a 401.
  const auto stored = services.state_get("iiko-1", "access_token").value();
  const json old = {{"token", "iiko-token-2"}, {"expires_ms", services.now_ms() + 60'000}};
  REQUIRE(services.state_cas("iiko-1", "access_token", stored.version, old.dump()).ok());
  const int refusals =
      sim.admin("GET", "counters")["providers"]["iiko"]["statuses"].value("401", 0);
  pass(*instance, rest.cursor);
  CHECK(state(sim)["tokens_issued"] == 3);
  CHECK(sim.admin("GET", "counters")["providers"]["iiko"]["statuses"].value("401", 0) == refusals);
}

TEST_CASE("sim: a refused API login stops the sync with UNAUTHENTICATED and a clear message") {
  SimProcess sim({"--companies", "1", "--records", "1"});
  Services services;
  Loaded loaded;
  crmsync::test::Collected collected("IIKO");
  auto refused =
      loaded.open(services, settings(sim, {{"api_login", "wrong"}}))->fetch("", collected);
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(refused.error().message.find("iiko refused the API login") != std::string::npos);
  CHECK(refused.error().message.find("Login is not authorized") != std::string::npos);
  auto bad_cursor = loaded.open(services, settings(sim))->fetch("{\"revision\":\"x\"}", collected);
  REQUIRE(!bad_cursor.ok());
  CHECK(bad_cursor.error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(bad_cursor.error().message.find("Not an iiko cursor") != std::string::npos);
}

TEST_CASE("sim: webhooks the simulator builds map like sync, one event or an array") {
  SimProcess sim({"--companies", "1", "--records", "1", "--new-per-hour", "0"});
  Services services;
  Loaded loaded;
  auto instance = loaded.open(services, settings(sim));
  const auto ids = add_orders(sim, {{"count", 2}});
  auto payload = [&](const json& params) {
    json body = params;
    body["provider"] = "iiko";
    body["url"] = sim.url("/_admin/health");
    return sim.admin("POST", "webhook", body)["payload"];
  };
  auto hook = [](const json& body) {
    plugin_host::WebhookRequest request;
    request.content_type = "application/json";
    request.body = body.dump();
    return request;
  };
  const json single = payload({{"order_ids", {ids[0]}}});
  REQUIRE(single.is_object());
  CHECK(single["eventType"] == "DeliveryOrderUpdate");
  crmsync::test::Collected one("IIKO");
  REQUIRE(instance->parse_webhook(hook(single), one).ok());
  CHECK(one.sales == std::vector<std::string>{"IIKO-" + ids[0]});

  const json batch = payload({{"order_ids", ids}, {"type", "table"}});
  REQUIRE(batch.is_array());
  CHECK(batch[0]["eventType"] == "TableOrderUpdate");
  crmsync::test::Collected many("IIKO");
  REQUIRE(instance->parse_webhook(hook(batch), many).ok());
  CHECK(many.sales == std::vector<std::string>{"IIKO-" + ids[0], "IIKO-" + ids[1]});
  CHECK(many.amounts[0] == one.amounts[0]);

  // The same sale polled gives the same external id and amount.
  const auto polled = pass(*instance, "");
  CHECK(has(polled.sales, "IIKO-" + ids[0]));
}

TEST_CASE("sim: the webhook URL and authToken are set once per organization, then removed") {
  SimProcess sim({"--companies", "2", "--records", "1"});
  Services services;
  Loaded loaded;
  auto instance = loaded.open(services, settings(sim));
  const std::string url = "https://crm.example/webhooks/iiko/iiko-1?token=s3cr%2Bt";
  REQUIRE(instance->configure_webhook(url).ok());
  REQUIRE(instance->configure_webhook(url).ok());
  const json registered = state(sim);  // kept: the loop reads a member of it
  for (const json& org : registered["organizations"]) {
    CHECK(org["webhooks"]["webHooksUri"] == url);
    CHECK(org["webhooks"]["authToken"] == "s3cr+t");
    CHECK(org["webhooks_updates"] == 1);
  }
  CHECK(services.state_get("iiko-1", "webhook_url")->value == url);
  REQUIRE(instance->configure_webhook("").ok());
  const json removed = state(sim);
  for (const json& org : removed["organizations"]) {
    CHECK(org["webhooks"]["webHooksUri"] == "");
    CHECK(org["webhooks"]["authToken"].is_null());
  }
  auto no_token = instance->configure_webhook("https://crm.example/webhooks/iiko/iiko-1");
  REQUIRE(!no_token.ok());
  CHECK(no_token.error().code == CRMSYNC_E_INVALID_INPUT);
}

// ---- The sync engine with a real store ---------------------------------------------------------

namespace {

// The engine world with the iiko connector loaded and one iiko integration.
struct IikoWorld : crmsync::test::World<crmsync::test::Sqlite> {
  explicit IikoWorld(const json& settings) {
    REQUIRE(host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/iiko.so").ok());
    add("mindal-iiko", "iiko", settings);
  }

  crmsync::sync::RunReport sync_now() {
    auto report = engine->sync("mindal-iiko", store::RunTrigger::manual);
    REQUIRE(report.ok());
    REQUIRE(report->status == store::RunStatus::success);
    return *report;
  }

  int64_t stored(const std::string& order_id) {
    return count("SELECT COUNT(*) FROM transactions WHERE external_id = 'IIKO-" + order_id + "'");
  }
};

}  // namespace

TEST_CASE("engine: an order Closed on the second sync is stored once; a cancelled one never") {
  SimProcess sim({"--companies", "1", "--records", "10", "--new-per-hour", "0"});
  IikoWorld world(settings(sim));
  const auto first = world.sync_now();
  CHECK(first.totals.inserted == state(sim)["statuses"].value("Closed", 0));

  const auto closing = add_orders(sim, {{"status", "OnWay"}, {"close_after", 600}});
  const auto cancelling = add_orders(sim, {{"status", "OnWay"}, {"cancel_after", 600}});
  const auto open = world.sync_now();
  CHECK(open.totals.inserted == 0);
  CHECK(open.totals.skipped == 2);
  CHECK(world.stored(closing[0]) == 0);

  const int64_t closed_before = state(sim)["statuses"].value("Closed", 0);
  sim.admin("POST", "clock/advance", {{"seconds", 700}});
  const auto closed = world.sync_now();
  CHECK(closed.totals.inserted == state(sim)["statuses"].value("Closed", 0) - closed_before);
  CHECK(world.stored(closing[0]) == 1);
  CHECK(world.stored(cancelling[0]) == 0);

  // The same order arriving again by webhook and by a re-read from revision 0 is a duplicate.
  plugin_host::WebhookRequest request;
  request.content_type = "application/json";
  request.body = sim.admin("POST", "webhook",
                           {{"provider", "iiko"},
                            {"url", sim.url("/_admin/health")},
                            {"order_ids", {closing[0], cancelling[0]}},
                            {"batch", true}})["payload"]
                     .dump();
  const auto hooked = world.engine->ingest_webhook("mindal-iiko", request);
  REQUIRE(hooked.ok());
  CHECK(hooked->inserted == 0);
  CHECK(hooked->duplicates == 1);
  CHECK(hooked->skipped == 1);
  CHECK(world.stored(closing[0]) == 1);
  CHECK(world.stored(cancelling[0]) == 0);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") ==
        state(sim)["statuses"].value("Closed", 0));
}
