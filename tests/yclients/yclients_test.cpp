// Tests of the YCLIENTS connector: every provider fixture through the real `crmsync parse`, and
// the connector against the real crmsim over loopback through a PluginHost instance whose host
// services send with the host's HTTP client (paging, changed_after, headers, rate limits, auth,
// health messages, webhooks, webhook registration and bonus write-back).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "http/client.h"
#include "normalize/utc_time.h"
#include "parse/parse_process.h"
#include "pipeline/pipeline.h"
#include "plugin_host/plugin_host.h"
#include "sim_process.h"
#include "support/connector_harness.h"
#include "support/temp_dir.h"

using namespace std::chrono_literals;
using crmsync::Result;
using crmsync::sim::testing::SimProcess;
using crmsync::test::run_parse;
using crmsync::test::TempDir;
using crmsync::test::write_file;
using nlohmann::json;
namespace plugin_host = crmsync::plugin_host;
namespace http = crmsync::http;

namespace {

const std::string kFixtures = std::string(CRMSYNC_TEST_DATA_DIR) + "/fixtures/yclients/";
const std::string kCompanyConfig = R"({"company_id":4564})";

// `crmsync parse --connector yclients` on a fixture file (response kind) or a body written by the
// test (webhook kind).
crmsync::test::ParseRun parse_response(const std::string& file) {
  TempDir dir;
  return run_parse(
      {"--connector", "yclients", "--kind", "response", "--config-json", kCompanyConfig, file},
      dir.path());
}
crmsync::test::ParseRun parse_webhook(const json& body,
                                      const std::string& content_type = "application/json") {
  TempDir dir;
  write_file(dir / "hook.json", body.dump());
  return run_parse({"--connector", "yclients", "--kind", "webhook", "--content-type", content_type,
                    "--config-json", kCompanyConfig, (dir / "hook.json").string()},
                   dir.path());
}

json fixture(const std::string& name) {
  return json::parse(crmsync::test::slurp(kFixtures + name));
}

// The fixture's record (GET /record), attended, so that it is a sale, with a real phone.
json attended_record() {
  json record = fixture("record-get-response.json")["data"];
  record["attendance"] = 1;
  record["client"]["phone"] = "79161234567";
  return record;
}

// The line `crmsync parse` prints for the attended fixture record with this phone result (and
// the warning of a phone that cannot be used).
std::string attended_line(const std::string& phone_e164, const std::string& warning = "") {
  return R"({"external_id":"YCLIENTS-2","status":"ok","occurred_at":"2019-01-16T18:30:00Z",)"
         R"("amount_minor":10000,"currency":"RUB","phone_e164":)" +
         phone_e164 + R"(,"description":"Наращивание волос","is_medical":false)" +
         (warning.empty() ? "" : R"(,"warning":")" + warning + "\"") + "}";
}

// The line `crmsync parse` prints for a record that is not a sale.
std::string skipped(const std::string& id, const std::string& reason) {
  return R"j({"external_id":"YCLIENTS-)j" + id + R"j(","status":"skipped","reason":")j" + reason +
         R"j("})j";
}
const std::string kNotYet = "Not a sale: the visit has not happened yet (attendance 0)";
const std::string kNothingPaid = "Not a sale: nothing was paid (no services or goods cost)";

}  // namespace

TEST_CASE("parse: records-list-response maps both records to skips with their reasons") {
  const auto run = parse_response(kFixtures + "records-list-response.json");
  CHECK(run.exit_code == 0);
  CHECK(run.lines == std::vector<std::string>{skipped("2", kNotYet), skipped("9", kNothingPaid)});
}

TEST_CASE("parse: record-get-response is one record, not attended") {
  const auto run = parse_response(kFixtures + "record-get-response.json");
  CHECK(run.exit_code == 0);
  CHECK(run.lines == std::vector<std::string>{skipped("2", kNotYet)});
}

TEST_CASE("parse: visit-get-response maps the visit's records") {
  const auto run = parse_response(kFixtures + "visit-get-response.json");
  CHECK(run.exit_code == 0);
  CHECK(run.lines == std::vector<std::string>{skipped("37955315", kNothingPaid)});
}

TEST_CASE("parse: fixtures that are not records responses exit 1 with one message") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"transactions-list-response.json", "its objects are not records (no attendance)"},
      {"visit-details-response.json", "its data is not a record (no attendance)"},
      {"hooks-settings-get-response.json", "its data is not a record (no attendance)"},
      {"record-create-request.json", "no {success, data, meta} envelope"},
      {"api-intro-auth-limits.as-published.txt", "YCLIENTS response is not JSON"}};
  for (const auto& [file, message] : cases) {
    CAPTURE(file);
    const auto run = parse_response(kFixtures + file);
    CHECK(run.exit_code == 1);
    CHECK(run.lines.empty());
    CHECK(run.err.find(message) != std::string::npos);
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  }
}

TEST_CASE("parse: record-get-response's two phone spellings give the same sale") {
  // client.phone is "+70001234567"; its finance transaction spells the same phone "70001234567".
  // 7 000 is no Russian number range, so the sale is kept without a customer, for both alike; a
  // real number in the same three spellings becomes one E.164 phone.
  const json original = fixture("record-get-response.json");
  const std::string with_plus = original["data"]["client"]["phone"];
  const std::string without_plus = original["data"]["finance_transactions"][0]["client"]["phone"];
  REQUIRE(with_plus == "+70001234567");
  REQUIRE(without_plus == "70001234567");
  auto line_for = [&](const json& phone) {
    CAPTURE(phone.dump());
    json body = original;
    body["data"]["attendance"] = 1;
    body["data"]["client"]["phone"] = phone;
    TempDir dir;
    write_file(dir / "record.json", body.dump());
    const auto run = parse_response((dir / "record.json").string());
    REQUIRE(run.exit_code == 0);
    REQUIRE(run.lines.size() == 1);
    return run.lines[0];
  };
  const std::string fixture_line = line_for(with_plus);
  CHECK(fixture_line == attended_line("null",
                                      "Customer phone not usable, sale stored without a customer: "
                                      "Phone '+70001234567' is not a valid number: no such number "
                                      "range"));
  CHECK(line_for(without_plus) == fixture_line);
  CHECK(line_for(70001234567LL) == fixture_line);
  for (const json& phone : {json("+79161234567"), json("79161234567"), json(79161234567LL)}) {
    CHECK(line_for(phone) == attended_line(R"("+79161234567")"));
  }
}

TEST_CASE("parse: a sale's amount sums services and goods after discounts, exactly") {
  json body = fixture("record-get-response.json");
  body["data"]["attendance"] = 1;
  body["data"]["deleted"] = 0;
  body["data"]["services"][0]["cost"] = 1234.5;
  body["data"]["goods_transactions"] = json::array({{{"title", "Шампунь"}, {"cost", 0.1}}});
  TempDir dir;
  write_file(dir / "record.json", body.dump());
  const auto run = parse_response((dir / "record.json").string());
  REQUIRE(run.lines.size() == 1);
  CHECK(json::parse(run.lines[0])["amount_minor"] == 123460);
}

TEST_CASE("parse: local date is read in --timezone when datetime is absent") {
  json body = fixture("record-get-response.json");
  body["data"]["attendance"] = 1;
  body["data"].erase("datetime");  // date "2019-01-17 03:30:00"
  TempDir dir;
  write_file(dir / "record.json", body.dump());
  for (const auto& [zone, utc] : {std::pair{"Asia/Yakutsk", "2019-01-16T18:30:00Z"},
                                  std::pair{"Europe/Moscow", "2019-01-17T00:30:00Z"}}) {
    const auto run = run_parse({"--connector", "yclients", "--kind", "response", "--config-json",
                                kCompanyConfig, "--timezone", zone, (dir / "record.json").string()},
                               dir.path());
    REQUIRE(run.lines.size() == 1);
    CHECK(json::parse(run.lines[0])["occurred_at"] == utc);
  }
}

TEST_CASE("parse: a record with client null is a sale without a phone") {
  json body = fixture("record-get-response.json");
  body["data"]["attendance"] = 1;
  body["data"]["client"] = nullptr;
  TempDir dir;
  write_file(dir / "record.json", body.dump());
  const auto run = parse_response((dir / "record.json").string());
  REQUIRE(run.lines.size() == 1);
  CHECK(run.lines[0] == attended_line("null"));
}

TEST_CASE("parse: a record that cannot be read is an error line, the others still map") {
  json body = fixture("records-list-response.json");
  body["data"][0]["deleted"] = "yes";
  const auto run = [&] {
    TempDir dir;
    write_file(dir / "page.json", body.dump());
    return parse_response((dir / "page.json").string());
  }();
  CHECK(run.exit_code == 0);
  REQUIRE(run.lines.size() == 2);
  CHECK(
      run.lines[0] ==
      R"j({"external_id":"YCLIENTS-2","status":"error","reason":"deleted is neither a bool nor 0/1"})j");
  CHECK(json::parse(run.lines[1])["status"] == "skipped");
}

TEST_CASE("webhook: a single record create event is a sale") {
  const json event = {{"company_id", 4564},
                      {"resource", "record"},
                      {"resource_id", 2},
                      {"status", "create"},
                      {"data", attended_record()}};
  const auto run = parse_webhook(event);
  CHECK(run.exit_code == 0);
  CHECK(run.lines == std::vector<std::string>{attended_line(R"("+79161234567")")});
}

TEST_CASE("webhook: an array of events: attended, unpaid, deleted, no data, other resource") {
  json unpaid = attended_record();
  unpaid["id"] = 3;
  unpaid["attendance"] = 0;
  json deleted_flag = attended_record();
  deleted_flag["id"] = 4;
  deleted_flag["deleted"] = 1;
  const json events = json::array(
      {{{"company_id", 4564},
        {"resource", "record"},
        {"resource_id", 2},
        {"status", "update"},
        {"data", attended_record()}},
       {{"company_id", 4564},
        {"resource", "record"},
        {"resource_id", 3},
        {"status", "update"},
        {"data", unpaid}},
       {{"company_id", 4564},
        {"resource", "record"},
        {"resource_id", 4},
        {"status", "update"},
        {"data", deleted_flag}},
       {{"company_id", 4564},
        {"resource", "record"},
        {"resource_id", 5},
        {"status", "delete"},
        {"data", json::object()}},
       {{"company_id", 4564}, {"resource", "record"}, {"resource_id", 6}, {"status", "create"}},
       {{"company_id", 4564},
        {"resource", "client"},
        {"resource_id", 7},
        {"status", "update"},
        {"data", {{"id", 7}}}},
       {{"company_id", 999}, {"resource", "record"}, {"resource_id", 8}, {"status", "create"}}});
  const auto run = parse_webhook(events);
  CHECK(run.exit_code == 0);
  CHECK(
      run.lines ==
      std::vector<std::string>{
          attended_line(R"("+79161234567")"), skipped("3", kNotYet),
          skipped("4", "Not a sale: the record is deleted"),
          skipped("5", "Not a sale: the record was deleted"),
          R"j({"external_id":"YCLIENTS-6","status":"fetch"})j",
          R"j({"external_id":"YCLIENTS-8","status":"error","reason":"Webhook for company 999, this integration is company 4564"})j"});
  CHECK(run.err.find("webhook for client ignored") != std::string::npos);
}

TEST_CASE("webhook: a body that is not JSON, or not JSON typed, exits 1") {
  TempDir dir;
  write_file(dir / "hook.txt", "company_id=4564&resource=record");
  const auto form = run_parse({"--connector", "yclients", "--kind", "webhook", "--config-json",
                               kCompanyConfig, (dir / "hook.txt").string()},
                              dir.path());
  CHECK(form.exit_code == 1);
  CHECK(form.lines.empty());
  CHECK(form.err.find("YCLIENTS webhook body is not JSON") != std::string::npos);
  const auto typed = parse_webhook({{"resource", "record"}}, "application/x-www-form-urlencoded");
  CHECK(typed.exit_code == 1);
  CHECK(typed.lines.empty());
  CHECK(typed.err.find("YCLIENTS webhooks are JSON, not application/x-www-form-urlencoded") !=
        std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Against crmsim
// ---------------------------------------------------------------------------------------------

namespace {

// A sink of YCLIENTS sales.
struct Collected : crmsync::test::Collected {
  Collected() : crmsync::test::Collected("YCLIENTS") {}
};
using SimHostServices = crmsync::test::HarnessHostServices;

// The plugin host with the built YCLIENTS connector loaded.
struct Loaded : crmsync::test::LoadedConnector {
  Loaded() : LoadedConnector(CRMSYNC_PLUGIN_DIR, "yclients") {}
  std::unique_ptr<plugin_host::Instance> open(plugin_host::HostServices& services,
                                              const json& settings) {
    return LoadedConnector::open(services, settings.dump());
  }
};

// Settings that reach the simulator's company 4564 ("Миндаль").
json sim_settings(const SimProcess& sim, int page_size = 50) {
  return {{"company_id", 4564},
          {"partner_token", "partner-secret"},
          {"user_token", "user-secret"},
          {"base_url", sim.url("/yclients")},
          {"page_size", page_size}};
}

// Calls fetch from cursor until the connector has no more; returns everything delivered.
crmsync::test::Collected full_pass(plugin_host::Instance& instance, const std::string& cursor) {
  return crmsync::test::full_pass(instance, cursor, "YCLIENTS");
}

// The simulator's YCLIENTS requests (target URLs), oldest first.
std::vector<std::string> record_targets(SimProcess& sim) {
  std::vector<std::string> out;
  for (const json& r : sim.admin("GET", "requests?provider=yclients")) {
    if (r["endpoint"] == "records") out.push_back(r["target"]);
  }
  return out;
}

// A webhook request carrying body as JSON.
plugin_host::WebhookRequest json_hook(const json& body) {
  plugin_host::WebhookRequest request;
  request.content_type = "application/json";
  request.body = body.dump();
  return request;
}

int64_t company_records(SimProcess& sim) {
  return sim.admin("GET", "state?provider=yclients")["companies"][0]["records"];
}

}  // namespace

TEST_CASE("sim: a first sync pages through every record, a second reads only changes") {
  SimProcess sim({"--companies", "1", "--records", "120"});
  SimHostServices services;
  Loaded loaded;
  auto instance = loaded.open(services, sim_settings(sim));

  const auto first = full_pass(*instance, "");
  CHECK(first.objects() == static_cast<size_t>(company_records(sim)));
  CHECK(first.failed.empty());
  CHECK(first.sales.size() > 50);
  CHECK(first.checkpoints == 3);
  CHECK(std::set(first.sales.begin(), first.sales.end()).size() == first.sales.size());
  const auto targets = record_targets(sim);
  REQUIRE(targets.size() == 3);
  CHECK(targets[0] == "/yclients/api/v1/records/4564?page=1&count=50");
  CHECK(targets[2] == "/yclients/api/v1/records/4564?page=3&count=50");
  const json cursor = json::parse(first.cursor);
  CHECK(cursor.contains("since"));
  CHECK(!cursor.contains("page"));

  const json created =
      sim.admin("POST", "records",
                {{"provider", "yclients"}, {"company_id", 4564}, {"count", 3}, {"paid", true}});
  const auto second = full_pass(*instance, first.cursor);
  CHECK(second.failed.empty());
  CHECK(second.objects() < first.objects());
  for (const json& id : created["ids"]) {
    CAPTURE(id);
    CHECK(std::find(second.sales.begin(), second.sales.end(), "YCLIENTS-" + id.dump()) !=
          second.sales.end());
  }
  const auto incremental = record_targets(sim).back();
  // changed_after = the first pass's newest last_change_date minus the 600 s overlap.
  const int64_t since =
      crmsync::normalize::time_utc(cursor["since"].get<std::string>()).value().time_since_epoch() /
      1s;
  std::string expected_after = crmsync::normalize::rfc3339_utc(
      crmsync::normalize::UtcTime(std::chrono::seconds(since - 600)));
  for (size_t colon; (colon = expected_after.find(':')) != std::string::npos;) {
    expected_after.replace(colon, 1, "%3A");
  }
  CHECK(incremental.find("&changed_after=" + expected_after) != std::string::npos);
}

TEST_CASE("sim: a record edited from not-yet-come to attended becomes a sale on the next sync") {
  SimProcess sim({"--companies", "1", "--records", "20"});
  SimHostServices services;
  Loaded loaded;
  auto instance = loaded.open(services, sim_settings(sim));
  const json created =
      sim.admin("POST", "records",
                {{"provider", "yclients"}, {"company_id", 4564}, {"count", 2}, {"paid", true}});
  const json ids = created["ids"];
  sim.admin("POST", "records", {{"provider", "yclients"}, {"record_ids", ids}, {"attendance", 0}});
  const auto first = full_pass(*instance, "");
  for (const json& id : ids) {
    CAPTURE(id);
    CHECK(std::find(first.skipped.begin(), first.skipped.end(), id.dump() + ": " + kNotYet) !=
          first.skipped.end());
    CHECK(std::find(first.sales.begin(), first.sales.end(), "YCLIENTS-" + id.dump()) ==
          first.sales.end());
  }
  // The client came to the first visit: YCLIENTS moves its last_change_date.
  sim.admin("POST", "clock/advance", {{"seconds", 60}});
  sim.admin("POST", "records",
            {{"provider", "yclients"}, {"record_ids", json::array({ids[0]})}, {"attendance", 1}});
  const auto second = full_pass(*instance, first.cursor);
  CHECK(std::count(second.sales.begin(), second.sales.end(), "YCLIENTS-" + ids[0].dump()) == 1);
  CHECK(std::find(second.sales.begin(), second.sales.end(), "YCLIENTS-" + ids[1].dump()) ==
        second.sales.end());
  CHECK(second.objects() < first.objects());
}

TEST_CASE("sim: a repeated page fails the batch; an empty page does not move the cursor") {
  SimProcess sim({"--companies", "1", "--records", "120"});
  SimHostServices services;
  Loaded loaded;
  auto instance = loaded.open(services, sim_settings(sim));
  Collected first;
  REQUIRE(instance->fetch("", first).ok());
  REQUIRE(first.more);

  sim.admin("POST", "faults",
            {{"provider", "yclients"}, {"endpoint", "records"}, {"kind", "repeat_page"}});
  Collected repeated;
  auto refused = instance->fetch(first.cursor, repeated);
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(refused.error().message.find("answered page 1 when asked for page 2") != std::string::npos);
  CHECK(repeated.checkpoints == 0);

  sim.admin("POST", "faults",
            {{"provider", "yclients"}, {"endpoint", "records"}, {"kind", "empty_page"}});
  Collected empty;
  REQUIRE(instance->fetch(first.cursor, empty).ok());
  CHECK(!empty.more);
  CHECK(empty.objects() == 0);
  CHECK(empty.cursor == "{}");
  CHECK(services.logged("YCLIENTS sent an empty page 2 of 120 records"));
}

TEST_CASE("sim: the connector declares the provider's rate limits and a sync keeps to them") {
  Loaded loaded;
  const auto declared = loaded.host.find("yclients")->rate_limits();
  REQUIRE(declared.size() == 2);
  CHECK(declared[0].requests == 5);
  CHECK(declared[0].per_ms == 1000);
  CHECK(declared[1].requests == 200);
  CHECK(declared[1].per_ms == 60000);
  std::vector<http::RateLimit> rate_limits;
  for (const crmsync_rate_limit_v1& limit : declared) {
    rate_limits.push_back({limit.requests, std::chrono::milliseconds(limit.per_ms)});
  }
  SimProcess sim({"--companies", "1", "--records", "100"});
  SimHostServices services(rate_limits);
  auto instance = loaded.open(services, sim_settings(sim, 8));
  const auto started = std::chrono::steady_clock::now();
  const auto pass = full_pass(*instance, "");
  CHECK(pass.objects() == 100);
  CHECK(pass.checkpoints == 13);
  const json counters = sim.admin("GET", "counters");
  CHECK(counters["providers"]["yclients"]["max_requests_per_second"].get<int>() <= 5);
  CHECK(std::chrono::steady_clock::now() - started >= 2s);
}

TEST_CASE("sim: test connection names the company; a bad token or company is refused") {
  SimProcess sim({"--companies", "1", "--records", "10"});
  Loaded loaded;
  SimHostServices services;
  auto good = loaded.open(services, sim_settings(sim));
  auto message = good->health_check();
  REQUIRE(message.ok());
  CHECK(*message == "✅ Connected to YCLIENTS - Миндаль");

  json bad_token = sim_settings(sim);
  bad_token["partner_token"] = "wrong";
  auto refused = loaded.open(services, bad_token)->health_check();
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(refused.error().message == "UNAUTHENTICATED: ❌ Invalid API token or Company ID");
  CHECK(services.logged(
      "Test connection: YCLIENTS answered HTTP 401: Partner authentication failed."));

  json bad_company = sim_settings(sim);
  bad_company["company_id"] = 99999;
  auto unknown = loaded.open(services, bad_company)->health_check();
  REQUIRE(!unknown.ok());
  CHECK(unknown.error().message == "NOT_FOUND: ❌ Invalid API token or Company ID");
}

TEST_CASE("sim: a refused token stops the sync with UNAUTHENTICATED") {
  SimProcess sim({"--companies", "1", "--records", "10"});
  Loaded loaded;
  SimHostServices services;
  json settings = sim_settings(sim);
  settings["user_token"] = "expired";
  Collected collected;
  auto fetched = loaded.open(services, settings)->fetch("", collected);
  REQUIRE(!fetched.ok());
  CHECK(fetched.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(fetched.error().message.find("HTTP 401: User authentication failed.") != std::string::npos);
  CHECK(collected.checkpoints == 0);
}

TEST_CASE("sim: an unreachable host is reported as a network error, not a bad token") {
  uint16_t port = 0;
  {
    SimProcess gone;
    port = gone.port();
  }
  Loaded loaded;
  SimHostServices services;
  json settings = {{"company_id", 4564},
                   {"partner_token", "partner-secret"},
                   {"user_token", "user-secret"},
                   {"base_url", "http://127.0.0.1:" + std::to_string(port) + "/yclients"}};
  auto instance = loaded.open(services, settings);
  auto health = instance->health_check();
  REQUIRE(!health.ok());
  CHECK(health.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(health.error().message.find("network error") != std::string::npos);
  CHECK(health.error().message.find("Invalid API token") == std::string::npos);
  Collected collected;
  auto fetched = instance->fetch("", collected);
  REQUIRE(!fetched.ok());
  CHECK(fetched.error().code == CRMSYNC_E_UNAVAILABLE);
}

TEST_CASE("sim: login and password obtain a durable user token, renewed when refused") {
  SimProcess sim({"--companies", "1", "--records", "10"});
  Loaded loaded;
  SimHostServices services;
  json settings = sim_settings(sim);
  settings.erase("user_token");
  settings["login"] = "admin@mindal.example";
  settings["password"] = "password";
  auto auth_calls = [&] {
    return sim.admin("GET", "counters")["providers"]["yclients"]["endpoints"].value("auth", 0);
  };

  CHECK(full_pass(*loaded.open(services, settings), "").objects() == 10);
  CHECK(auth_calls() == 1);
  auto stored = services.state_get("yclients-1", "user_token");
  REQUIRE(stored.ok());
  CHECK(stored->value == "user-secret");

  // A second instance (another run) reuses the stored token.
  CHECK(full_pass(*loaded.open(services, settings), "").objects() == 10);
  CHECK(auth_calls() == 1);

  // A stale stored token is replaced once YCLIENTS refuses it.
  REQUIRE(services.state_cas("yclients-1", "user_token", stored->version, "stale").ok());
  CHECK(full_pass(*loaded.open(services, settings), "").objects() == 10);
  CHECK(auth_calls() == 2);
  CHECK(services.state_get("yclients-1", "user_token")->value == "user-secret");

  settings["password"] = "wrong";
  REQUIRE(services
              .state_cas("yclients-1", "user_token",
                         services.state_get("yclients-1", "user_token")->version, "stale")
              .ok());
  Collected collected;
  auto refused = loaded.open(services, settings)->fetch("", collected);
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(refused.error().message.find("YCLIENTS refused the login or password") !=
        std::string::npos);
}

TEST_CASE("sim: webhooks the simulator sends map like sync; an event without data refetches") {
  SimProcess sim({"--companies", "1", "--records", "20"});
  Loaded loaded;
  SimHostServices services;
  auto instance = loaded.open(services, sim_settings(sim));
  const json created =
      sim.admin("POST", "records",
                {{"provider", "yclients"}, {"company_id", 4564}, {"count", 2}, {"paid", true}});
  const json ids = created["ids"];
  auto payload = [&](const json& record_ids, const std::string& status, bool batch) {
    return sim.admin("POST", "webhook",
                     {{"provider", "yclients"},
                      {"url", sim.url("/_admin/health")},
                      {"record_ids", record_ids},
                      {"status", status},
                      {"batch", batch}})["payload"];
  };
  const json batch = payload(ids, "create", true);
  REQUIRE(batch.is_array());
  Collected from_batch;
  REQUIRE(instance->parse_webhook(json_hook(batch), from_batch).ok());
  REQUIRE(from_batch.sales.size() == 2);
  CHECK(from_batch.sales[0] == "YCLIENTS-" + ids[0].dump());

  // The same sale polled later gives the same external id (the store keeps one).
  auto polled = full_pass(*instance, "");
  CHECK(std::count(polled.sales.begin(), polled.sales.end(), from_batch.sales[0]) == 1);

  json single = payload(json::array({ids[0]}), "update", false);
  REQUIRE(single.is_object());
  single.erase("data");
  Collected refetch;
  REQUIRE(instance->parse_webhook(json_hook(single), refetch).ok());
  REQUIRE(refetch.refetch == std::vector<std::string>{ids[0].dump()});
  Collected fetched;
  REQUIRE(instance->fetch_object(refetch.refetch[0], fetched).ok());
  CHECK(fetched.sales == std::vector<std::string>{"YCLIENTS-" + ids[0].dump()});
  CHECK(fetched.amounts == std::vector<int64_t>{from_batch.amounts.front()});
  Collected missing;
  REQUIRE(instance->fetch_object("999999999", missing).ok());
  CHECK(missing.skipped ==
        std::vector<std::string>{"999999999: Not a sale: the record no longer exists in YCLIENTS"});
}

TEST_CASE("sim: the webhook URL is registered once and removed") {
  SimProcess sim({"--companies", "1", "--records", "5"});
  Loaded loaded;
  SimHostServices services;
  auto instance = loaded.open(services, sim_settings(sim));
  auto hooks = [&] {
    return sim.admin("GET", "state?provider=yclients")["companies"][0]["hooks_settings"];
  };
  const json before = hooks()["urls"];
  const std::string url = "https://crm.example/webhooks/yclients/yc-1?token=abc";
  REQUIRE(instance->configure_webhook(url).ok());
  REQUIRE(instance->configure_webhook(url).ok());
  json after = hooks();
  CHECK(std::count(after["urls"].begin(), after["urls"].end(), json(url)) == 1);
  CHECK(after["active"] == 1);
  CHECK(after["record"] == 1);
  CHECK(after["urls"].size() == before.size() + 1);
  REQUIRE(instance->configure_webhook("").ok());
  CHECK(hooks()["urls"] == before);
}

TEST_CASE("sim: a bonus is written to the client's loyalty card once per idempotency key") {
  SimProcess sim({"--companies", "1", "--records", "30"});
  Loaded loaded;
  SimHostServices services;
  json settings = sim_settings(sim);
  settings["write_back_bonus"] = true;
  auto instance = loaded.open(services, settings);
  const json card = sim.admin("GET", "state?provider=yclients")["cards"][0];
  const plugin_host::BonusEvent accrued{.kind = CRMSYNC_BONUS_ACCRUED,
                                        .external_id = "17",
                                        .customer_phone = "+" + card["phone"].get<std::string>(),
                                        .amount_minor = 15050,
                                        .currency = "RUB",
                                        .occurred_at = "2025-11-17T12:00:00Z"};
  REQUIRE(instance->push_bonus(accrued, "tx-17-accrued").ok());
  REQUIRE(instance->push_bonus(accrued, "tx-17-accrued").ok());
  // The operations on the cards of the client (a client may hold several cards).
  auto operations = [&] {
    json out = json::array();
    const json state = sim.admin("GET", "state?provider=yclients");
    for (const json& c : state["cards"]) {
      if (c["phone"] == card["phone"]) {
        for (const json& op : c["operations"]) out.push_back(op);
      }
    }
    return out;
  };
  json after = operations();
  REQUIRE(after.size() == 1);
  CHECK(after.back()["amount"] == 150.5);
  CHECK(after.back()["title"] == "Начисление бонусов за YCLIENTS-17");

  plugin_host::BonusEvent redeemed = accrued;
  redeemed.kind = CRMSYNC_BONUS_REDEEMED;
  redeemed.amount_minor = 5000;
  REQUIRE(instance->push_bonus(redeemed, "tx-17-redeemed").ok());
  after = operations();
  REQUIRE(after.size() == 2);
  CHECK(after.back()["amount"] == -50.0);

  plugin_host::BonusEvent stranger = accrued;
  stranger.customer_phone = "+79990000000";
  auto none = instance->push_bonus(stranger, "tx-18");
  REQUIRE(!none.ok());
  CHECK(none.error().code == CRMSYNC_E_NOT_FOUND);
}
