// Tests of the iiko connector: the iikoCloud fixtures through the real `crmsync parse` (closed,
// cancelled, deleted and card-only orders, sums that do not add up, webhooks single and array, bad
// input), and the connector against the real crmsim over loopback (test connection, a sync by
// revision with the token kept in durable state).
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
#include "support/connector_harness.h"
#include "support/temp_dir.h"

using crmsync::sim::testing::SimProcess;
using crmsync::test::run_parse;
using crmsync::test::TempDir;
using crmsync::test::write_file;
using nlohmann::json;
namespace plugin_host = crmsync::plugin_host;
namespace store = crmsync::store;

namespace {

const std::string kFixtures = std::string(CRMSYNC_SHARED_DIR) + "/fixtures/iiko/";
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
