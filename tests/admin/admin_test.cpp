// The admin REST API over real HTTP on loopback, with a real store, the YCLIENTS connector against
// crmsim and the csv connector: every route with good and bad input, API keys and roles (an owner
// of another business walks every route and sees no data), credentials write-only, manual sync
// and its run, logs with paging, statistics, CSV uploads as jobs, the OpenAPI file checked against
// the routes served, and the `crmsync logs` / `stats` / `api-key` commands.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <set>
#include <span>
#include <stdexcept>
#include <thread>

#include "admin/api.h"
#include "admin/views.h"
#include "http/client.h"
#include "server/server.h"
#include "sim_process.h"
#include "support/backends.h"
#include "support/engine_world.h"
#include "support/ports.h"
#include "support/process.h"
#include "support/raw_http.h"
#include "support/temp_dir.h"

namespace {

using namespace crmsync;
using namespace std::chrono_literals;
using nlohmann::json;
using test::World;

// What a call answered.
struct Answer {
  int status = 0;
  json body;
  std::string text;
};

// The API served on a free port over a world with the businesses Миндаль and Other, a YCLIENTS
// integration of Миндаль against crmsim, and keys: admin, Миндаль's owner, Other's owner.
template <class B>
struct Admin {
  sim::testing::SimProcess sim{{"--companies", "1", "--records", "12", "--new-per-hour", "0"}};
  World<B> world;
  test::TempDir uploads;
  std::vector<std::thread> runs;  // manual syncs started through the API
  std::unique_ptr<admin::Api> api;
  std::unique_ptr<server::Server> server;
  server::Router served;  // a copy of the routes, for the documentation check
  std::unique_ptr<http::Client> client = http::Client::create({}).value();
  std::string admin_key, owner_key, other_key;

  // policy: what trial runs may connect to (null: anything, crmsim on loopback included).
  explicit Admin(uint64_t max_csv_bytes = 1 << 20,
                 std::shared_ptr<const http::AddressPolicy> policy = nullptr) {
    REQUIRE(world.host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/csv.so").ok());
    world.add("mindal-yclients", "yclients",
              {{"company_id", 4564},
               {"partner_token", "partner-secret"},
               {"user_token", "user-secret"},
               {"base_url", sim.url("/yclients")}});
    store::Business other;
    other.id = "other";
    other.name = "Other";
    other.created_at = world.clock.now();
    REQUIRE(world.store->add_business(other));
    admin::ApiOptions options;
    options.csv_connector = std::string(CRMSYNC_PLUGIN_DIR) + "/csv.so";
    options.upload_dir = uploads.path();
    options.max_csv_bytes = max_csv_bytes;
    options.address_policy = std::move(policy);
    options.owner = "test-host";
    options.now = [this] { return world.clock.now(); };
    options.trigger = [this](const std::string& id) -> Result<int64_t> {
      auto claim = world.engine->claim(id, store::RunTrigger::manual);
      if (!claim) return claim.error();
      const int64_t run_id = claim->run_id;
      runs.emplace_back([this, claim = std::move(*claim)] { (void)world.engine->execute(claim); });
      return run_id;
    };
    options.metrics = [] { return std::string("crmsync_up 1\n"); };
    options.expected_schema_version = world.store->schema_version().value();
    api = std::make_unique<admin::Api>(*world.store, world.host, *world.engine,
                                       std::vector<crypto::MasterKey>{test::test_key()},
                                       std::move(options));
    api->add_routes(served);
    server::Router router;
    api->add_routes(router);
    server::ServerOptions listening;
    listening.port = 0;
    server = server::Server::start(listening, std::move(router)).value();
    admin_key = key("admin", std::nullopt);
    owner_key = key("owner", "mindal");
    other_key = key("owner", "other");
  }
  ~Admin() {
    for (auto& run : runs) run.join();
    server->stop(1s);
  }

  std::string key(const std::string& role, const std::optional<std::string>& business) {
    return admin::create_api_key(*world.store, role, business, world.clock.now())->secret;
  }

  Answer call(const std::string& method, const std::string& path, const std::string& key,
              const std::string& body = "", const std::string& content_type = "application/json") {
    http::Request request;
    request.method = method;
    request.url = "http://127.0.0.1:" + std::to_string(server->port()) + path;
    if (!key.empty()) request.headers.push_back({"Authorization", "Bearer " + key});
    if (!body.empty()) request.headers.push_back({"Content-Type", content_type});
    request.body = body;
    request.no_retry = true;
    request.timeout = 10s;
    auto response = client->send(request).value();
    Answer answer;
    answer.status = response.status;
    answer.text = response.body;
    answer.body = json::parse(response.body, nullptr, false);
    return answer;
  }
  Answer get(const std::string& path, const std::string& key) { return call("GET", path, key); }
  Answer post(const std::string& path, const std::string& key, const json& body = json::object()) {
    return call("POST", path, key, body.dump());
  }

  // Polls until done(answer) or 20 s pass.
  Answer poll(const std::string& path, const std::function<bool(const Answer&)>& done) {
    Answer answer;
    for (int i = 0; i < 400; ++i) {
      answer = get(path, admin_key);
      if (done(answer)) break;
      std::this_thread::sleep_for(50ms);
    }
    return answer;
  }
};

bool has_field(const Answer& answer, const std::string& field) {
  if (!answer.body.contains("fields")) return false;
  for (const json& f : answer.body["fields"]) {
    if (f["field"] == field) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("the OpenAPI file documents exactly the routes served") {
  Admin<test::Sqlite> host;
  const YAML::Node doc = YAML::LoadFile(std::string(CRMSYNC_SOURCE_DIR) + "/api/openapi.yaml");
  std::set<std::string> documented;
  for (const auto& path : doc["paths"]) {
    for (const auto& operation : path.second) {
      const std::string method = operation.first.as<std::string>();
      if (method == "parameters") continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(upper + " " + path.first.as<std::string>());
    }
  }
  std::set<std::string> served;
  for (const auto& [method, pattern] : host.served.routes()) served.insert(method + " " + pattern);
  CHECK(documented == served);
  CHECK(served.count("GET /api/v1/integrations/{integration}/logs") == 1);
}

TEST_CASE("without a valid API key every /api/v1 route is 401; operations routes are open") {
  Admin<test::Sqlite> host;
  CHECK(host.get("/api/v1/businesses", "").status == 401);
  CHECK(host.get("/api/v1/businesses", "csk_not-a-key").status == 401);
  CHECK(host.get("/api/v1/businesses", "garbage").status == 401);
  CHECK(host.get("/api/v1/businesses", host.admin_key).status == 200);
  CHECK(host.get("/healthz", "").status == 200);
  const Answer ready = host.get("/readyz", "");
  CHECK(ready.status == 200);
  CHECK(ready.body["status"] == "ready");
  const Answer metrics = host.get("/metrics", "");
  CHECK(metrics.status == 200);
  CHECK(metrics.text == "crmsync_up 1\n");
  CHECK(host.get("/api/v1/nothing", host.admin_key).status == 404);
  CHECK(host.call("PUT", "/api/v1/businesses", host.admin_key).status == 405);
}

TEST_CASE_TEMPLATE(
    "businesses: admin creates and lists; bad input is 400/422 with the field; owners see theirs",
    B, CRMSYNC_TEST_BACKENDS) {
  Admin<B> host;
  const Answer created = host.post("/api/v1/businesses", host.admin_key,
                                   {{"id", "lisichkino"}, {"name", "Лисичкино"}});
  CHECK(created.status == 201);
  CHECK(created.body["timezone"] == "Europe/Moscow");
  CHECK(host.get("/api/v1/businesses/lisichkino", host.admin_key).body["name"] == "Лисичкино");
  CHECK(host.post("/api/v1/businesses", host.admin_key, {{"id", "lisichkino"}, {"name", "x"}})
            .status == 409);
  CHECK(host.call("POST", "/api/v1/businesses", host.admin_key, "{not json").status == 400);
  CHECK(host.call("POST", "/api/v1/businesses", host.admin_key, "[1]").status == 400);
  const Answer invalid = host.post("/api/v1/businesses", host.admin_key,
                                   {{"id", "a b"}, {"timezone", "Mars/Base"}, {"currency", "rub"}});
  CHECK(invalid.status == 422);
  CHECK(has_field(invalid, "id"));
  CHECK(has_field(invalid, "name"));
  CHECK(has_field(invalid, "timezone"));
  CHECK(has_field(invalid, "currency"));
  CHECK(host.post("/api/v1/businesses", host.owner_key, {{"id", "x"}, {"name", "X"}}).status ==
        403);
  const Answer all = host.get("/api/v1/businesses", host.admin_key);
  CHECK(all.body["businesses"].size() == 3);

  // Update: checked like a new one; only admins.
  const Answer renamed =
      host.call("PATCH", "/api/v1/businesses/lisichkino", host.admin_key,
                json{{"name", "Лисичкино Парк"}, {"timezone", "Asia/Yekaterinburg"}}.dump());
  CHECK(renamed.status == 200);
  CHECK(renamed.body["timezone"] == "Asia/Yekaterinburg");
  CHECK(host.world.store->get_business("lisichkino")->name == "Лисичкино Парк");
  const Answer bad_zone = host.call("PATCH", "/api/v1/businesses/lisichkino", host.admin_key,
                                    json{{"timezone", "Mars/Base"}, {"name", 5}}.dump());
  CHECK(bad_zone.status == 422);
  CHECK(has_field(bad_zone, "name"));
  CHECK(host.call("PATCH", "/api/v1/businesses/mindal", host.owner_key, "{}").status == 403);
  CHECK(host.call("PATCH", "/api/v1/businesses/nosuch", host.admin_key, "{}").status == 404);
  // Delete: a business without sales goes; one whose sales are stored stays (409).
  CHECK(host.call("DELETE", "/api/v1/businesses/lisichkino", host.admin_key).status == 204);
  CHECK(host.get("/api/v1/businesses/lisichkino", host.admin_key).status == 404);
  CHECK(host.call("DELETE", "/api/v1/businesses/lisichkino", host.admin_key).status == 404);
  REQUIRE(host.world.engine->sync("mindal-yclients", store::RunTrigger::manual));
  const Answer kept = host.call("DELETE", "/api/v1/businesses/mindal", host.admin_key);
  CHECK(kept.status == 409);
  CHECK(kept.body["error"].get<std::string>().find("stored sales") != std::string::npos);
  const Answer mine = host.get("/api/v1/businesses", host.owner_key);
  REQUIRE(mine.body["businesses"].size() == 1);
  CHECK(mine.body["businesses"][0]["id"] == "mindal");
}

TEST_CASE_TEMPLATE(
    "integrations: schema violations per field, secrets write-only, patch, enable, delete", B,
    CRMSYNC_TEST_BACKENDS) {
  Admin<B> host;
  const std::string base = "/api/v1/businesses/mindal/integrations";
  const Answer unknown = host.post(base, host.owner_key, {{"crm_type", "nosuch"}});
  CHECK(unknown.status == 422);
  CHECK(has_field(unknown, "crm_type"));
  const Answer violations = host.post(base, host.owner_key,
                                      {{"crm_type", "yclients"},
                                       {"id", "mindal-yc2"},
                                       {"settings", {{"company_id", "x"}, {"surprise", 1}}}});
  CHECK(violations.status == 422);
  CHECK(has_field(violations, "company_id"));
  CHECK(has_field(violations, "surprise"));
  CHECK(host.post(base, host.owner_key, {{"crm_type", "yclients"}, {"settings", 5}}).status == 422);

  const json settings = {{"company_id", 4564},
                         {"partner_token", "p-secret-123"},
                         {"user_token", "u-secret-456"},
                         {"base_url", host.sim.url("/yclients")}};
  const Answer created =
      host.post(base, host.owner_key,
                {{"crm_type", "yclients"}, {"id", "mindal-yc2"}, {"settings", settings}});
  REQUIRE(created.status == 201);
  CHECK(created.body["secrets"] ==
        json{{"partner_token", true}, {"user_token", true}, {"password", false}});
  CHECK(created.body["settings"]["company_id"] == 4564);
  CHECK(created.text.find("p-secret-123") == std::string::npos);
  CHECK(host.post(base, host.owner_key,
                  {{"crm_type", "yclients"}, {"id", "mindal-yc2"}, {"settings", settings}})
            .status == 409);
  const Answer read = host.get("/api/v1/integrations/mindal-yc2", host.owner_key);
  CHECK(read.status == 200);
  CHECK(read.text.find("secret-") == std::string::npos);
  CHECK(host.get(base, host.owner_key).body["integrations"].size() == 2);

  // A patch changes what it names and keeps the secrets it does not.
  const Answer patched = host.call("PATCH", "/api/v1/integrations/mindal-yc2", host.owner_key,
                                   json{{"settings", {{"company_id", 4565}}}}.dump());
  CHECK(patched.status == 200);
  CHECK(patched.body["settings"]["company_id"] == 4565);
  CHECK(patched.body["secrets"]["user_token"] == true);
  const Answer removed = host.call("PATCH", "/api/v1/integrations/mindal-yc2", host.owner_key,
                                   json{{"settings", {{"company_id", nullptr}}}}.dump());
  CHECK(removed.status == 422);
  CHECK(has_field(removed, "company_id"));
  CHECK(host.call("PATCH", "/api/v1/integrations/mindal-yc2", host.owner_key,
                  json{{"active", "yes"}}.dump())
            .status == 422);
  CHECK(host.call("PATCH", "/api/v1/integrations/mindal-yc2", host.owner_key, "nope").status ==
        400);

  CHECK(host.post("/api/v1/integrations/mindal-yc2/disable", host.owner_key).body["active"] ==
        false);
  CHECK(host.world.store->get_integration("mindal-yc2")->active == false);
  CHECK(host.post("/api/v1/integrations/mindal-yc2/enable", host.owner_key).body["active"] == true);
  CHECK(host.call("PATCH", "/api/v1/integrations/mindal-yc2", host.owner_key,
                  json{{"active", false}}.dump())
            .body["active"] == false);
  CHECK(host.world.store->get_integration("mindal-yc2")->active == false);
  CHECK(host.call("DELETE", "/api/v1/integrations/mindal-yc2", host.owner_key).status == 204);
  CHECK(host.get("/api/v1/integrations/mindal-yc2", host.owner_key).status == 404);
  CHECK(host.get("/api/v1/integrations/nosuch", host.admin_key).status == 404);
}

TEST_CASE_TEMPLATE(
    "integration ids: an owner's stay in its business, another's look missing, bizA-csv "
    "unsquattable",
    B, CRMSYNC_TEST_BACKENDS) {
  Admin<B> host;
  const json settings = {{"company_id", 4564},
                         {"partner_token", "p"},
                         {"user_token", "u"},
                         {"base_url", host.sim.url("/yclients")}};
  const auto create = [&](const std::string& key, const std::string& business,
                          const std::string& id) {
    return host.post("/api/v1/businesses/" + business + "/integrations", key,
                     {{"crm_type", "yclients"}, {"id", id}, {"settings", settings}});
  };
  const auto without = [](std::string text, const std::string& id) {
    for (size_t at = text.find(id); at != std::string::npos; at = text.find(id)) {
      text.replace(at, id.size(), "ID");
    }
    return text;
  };

  // Other's owner can name nothing of Миндаль's: squatting mindal-csv answers what any id outside
  // its business does, whether it exists or not.
  const Answer squat = create(host.other_key, "other", "mindal-csv");
  CHECK(squat.status == 422);
  CHECK(has_field(squat, "id"));
  CHECK(squat.text == create(host.other_key, "other", "mindal-yclients").text);
  CHECK(squat.text == create(host.other_key, "other", "mindal-nothing").text);
  CHECK(squat.text == create(host.other_key, "other", "other-a-b").text);
  // Nor through Миндаль's own route (404 as for a business that does not exist).
  const Answer foreign = create(host.other_key, "mindal", "mindal-csv");
  CHECK(foreign.status == 404);
  CHECK(without(foreign.text, "mindal") ==
        without(create(host.other_key, "nosuch", "x").text, "nosuch"));
  // The import integration's names are reserved in every business, the owner's own included.
  CHECK(has_field(create(host.other_key, "other", "other-csv"), "id"));
  CHECK(has_field(create(host.other_key, "other", "other-csv.2"), "id"));
  CHECK(has_field(create(host.owner_key, "mindal", "mindal-csv"), "id"));
  // A platform admin does not put ids into another business's namespace either.
  CHECK(has_field(create(host.admin_key, "other", "mindal-csv"), "id"));
  CHECK(create(host.admin_key, "other", "platform-chosen").status == 201);

  // Reading another tenant's integration is exactly reading one that does not exist.
  for (const std::string suffix : {"", "/runs", "/logs", "/stats"}) {
    const Answer theirs = host.get("/api/v1/integrations/mindal-yclients" + suffix, host.other_key);
    const Answer missing = host.get("/api/v1/integrations/other-missing" + suffix, host.other_key);
    CHECK(theirs.status == 404);
    CHECK(without(theirs.text, "mindal-yclients") == without(missing.text, "other-missing"));
  }

  // Creating: an id of its own that is taken answers 409, and so does one a platform admin gave
  // to another business inside this one's namespace (as a store from before this rule may hold):
  // the same answer, and nothing of the other business in it.
  REQUIRE(create(host.other_key, "other", "other-yc").status == 201);
  const Answer own_taken = create(host.other_key, "other", "other-yc");
  CHECK(own_taken.status == 409);
  store::Integration legacy;
  legacy.id = "other-legacy";
  legacy.business_id = "mindal";
  legacy.crm_type = "yclients";
  legacy.created_at = legacy.updated_at = host.world.clock.now();
  REQUIRE(host.world.store->create_integration(legacy));
  const Answer legacy_taken = create(host.other_key, "other", "other-legacy");
  CHECK(legacy_taken.status == 409);
  CHECK(without(legacy_taken.text, "other-legacy") == without(own_taken.text, "other-yc"));

  // mindal-csv squatted in the store before the rule: Миндаль's CSV imports still work, through
  // an import integration of its own.
  store::Integration squatted = legacy;
  squatted.id = "mindal-csv";
  squatted.business_id = "other";
  REQUIRE(host.world.store->create_integration(squatted));
  const Answer upload =
      host.call("POST", "/api/v1/businesses/mindal/csv", host.owner_key,
                "date,customer_phone,amount\n2025-11-17 12:00,+79161234567,100\n", "text/csv");
  REQUIRE(upload.status == 202);
  const Answer imported =
      host.poll("/api/v1/imports/" + upload.body["id"].get<std::string>(),
                [](const Answer& a) { return a.body.value("status", "") != "running"; });
  CHECK(imported.body["status"] == "done");
  CHECK(imported.body["imported"] == 1);
  const auto own_csv = host.world.store->get_integration("mindal-csv.2");
  REQUIRE(own_csv);
  CHECK(own_csv->business_id == "mindal");
  CHECK(own_csv->crm_type == "csv");
  CHECK(host.world.store->get_integration("mindal-csv")->business_id == "other");
}

TEST_CASE_TEMPLATE("test connection answers the connector's message; a wrong token is ❌", B,
                   CRMSYNC_TEST_BACKENDS) {
  Admin<B> host;
  const Answer good = host.post("/api/v1/integrations/mindal-yclients/test", host.owner_key);
  CHECK(good.status == 200);
  CHECK(good.body["ok"] == true);
  CHECK(good.body["message"].get<std::string>().rfind("✅", 0) == 0);
  REQUIRE(host.call("PATCH", "/api/v1/integrations/mindal-yclients", host.admin_key,
                    json{{"settings", {{"partner_token", "wrong"}}}}.dump())
              .status == 200);
  const Answer bad = host.post("/api/v1/integrations/mindal-yclients/test", host.owner_key);
  CHECK(bad.body["ok"] == false);
  CHECK(bad.body["message"].get<std::string>().rfind("❌", 0) == 0);
}

TEST_CASE_TEMPLATE("sync now: a run id, then its summary; logs page newest first; statistics", B,
                   CRMSYNC_TEST_BACKENDS) {
  Admin<B> host;
  const Answer started = host.post("/api/v1/integrations/mindal-yclients/sync", host.owner_key);
  REQUIRE(started.status == 202);
  const std::string run = "/api/v1/runs/" + std::to_string(started.body["run_id"].get<int64_t>());
  const Answer done =
      host.poll(run, [](const Answer& a) { return a.body.value("status", "") != "running"; });
  CHECK(done.body["status"] == "success");
  const int64_t inserted = done.body["inserted"];
  CHECK(inserted > 0);
  CHECK(done.body["summary"] == sync::synced_message(inserted));
  CHECK(host.get(run, host.owner_key).status == 200);
  CHECK(host.get("/api/v1/runs/999999", host.admin_key).status == 404);
  CHECK(host.get("/api/v1/runs/abc", host.admin_key).status == 404);
  const Answer runs = host.get("/api/v1/integrations/mindal-yclients/runs", host.owner_key);
  CHECK(runs.body["runs"].size() == 1);

  // A second sync, so there are two success lines, then paging one by one.
  for (auto& t : host.runs) t.join();
  host.runs.clear();
  host.world.clock.advance(1min);
  const Answer again = host.post("/api/v1/integrations/mindal-yclients/sync", host.owner_key);
  REQUIRE(again.status == 202);
  host.poll("/api/v1/runs/" + std::to_string(again.body["run_id"].get<int64_t>()),
            [](const Answer& a) { return a.body.value("status", "") != "running"; });
  const std::string logs = "/api/v1/integrations/mindal-yclients/logs";
  // The run's status is final a moment before its summary line is written.
  host.poll(logs + "?type=success",
            [](const Answer& a) { return a.body.contains("logs") && a.body["logs"].size() == 2; });
  const Answer page1 = host.get(logs + "?limit=1&type=success", host.owner_key);
  REQUIRE(page1.body["logs"].size() == 1);
  REQUIRE(page1.body["next_before"].is_number());
  const Answer page2 = host.get(logs + "?limit=1&type=success&before=" +
                                    std::to_string(page1.body["next_before"].get<int64_t>()),
                                host.owner_key);
  REQUIRE(page2.body["logs"].size() == 1);
  CHECK(page2.body["logs"][0]["id"].get<int64_t>() < page1.body["logs"][0]["id"].get<int64_t>());
  CHECK(host.get(logs + "?type=error", host.owner_key).body["logs"].empty());
  CHECK(host.get(logs + "?limit=0", host.owner_key).status == 400);
  CHECK(host.get(logs + "?limit=abc", host.owner_key).status == 400);
  CHECK(host.get(logs + "?type=fatal", host.owner_key).status == 400);

  const Answer stats = host.get("/api/v1/integrations/mindal-yclients/stats", host.owner_key);
  CHECK(stats.status == 200);
  CHECK(stats.body["total_transactions"] == inserted);
  CHECK(stats.body["success_rate"] == 1.0);
  CHECK(stats.body["failed_syncs_30d"] == 0);
  CHECK(stats.body["runs_30d"] == 2);
  CHECK(stats.body["last_successful_sync"].is_string());
  const json daily = stats.body["daily"];
  REQUIRE(daily.size() == 30);
  CHECK(daily.back()["date"] == admin::iso_time(host.world.clock.now()).substr(0, 10));
  CHECK(daily.front()["date"].get<std::string>() < daily.back()["date"].get<std::string>());
  int64_t synced = 0;
  for (const json& day : daily) synced += day["synced"].get<int64_t>();
  CHECK(synced == inserted);
  CHECK(daily.back()["failed_runs"] == 0);
}

TEST_CASE_TEMPLATE(
    "CSV upload: raw or multipart, a job with progress, the summary and the row report", B,
    CRMSYNC_TEST_BACKENDS) {
  Admin<B> host(4096);
  const std::string csv =
      "date,customer_phone,amount,description\n"
      "2025-11-17 12:00,+79161234567,1500.00,Стрижка\n"
      "2025-11-17 13:00,+79161234568,abc,Окрашивание\n"
      "2025-11-17 14:00,+79161234569,900,Маникюр\n";
  const Answer started =
      host.call("POST", "/api/v1/businesses/mindal/csv", host.owner_key, csv, "text/csv");
  REQUIRE(started.status == 202);
  const std::string job = "/api/v1/imports/" + started.body["id"].get<std::string>();
  const Answer done =
      host.poll(job, [](const Answer& a) { return a.body.value("status", "") != "running"; });
  CHECK(done.body["status"] == "done");
  CHECK(done.body["imported"] == 2);
  CHECK(done.body["errors"] == 1);
  CHECK(done.body["progress"] == 1.0);
  REQUIRE(done.body["error_report"].size() == 1);
  CHECK(done.body["error_report"][0]["row"] == "Row 3");
  CHECK(done.body["summary"].get<std::string>().find("Imported 2 transactions") == 0);

  const std::string multipart =
      "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"sales.csv\"\r\n"
      "Content-Type: text/csv\r\n\r\n" +
      csv + "\r\n--XyZ--\r\n";
  const Answer again = host.call("POST", "/api/v1/businesses/mindal/csv", host.owner_key, multipart,
                                 "multipart/form-data; boundary=XyZ");
  REQUIRE(again.status == 202);
  const Answer second =
      host.poll("/api/v1/imports/" + again.body["id"].get<std::string>(),
                [](const Answer& a) { return a.body.value("status", "") != "running"; });
  CHECK(second.body["imported"] == 0);
  CHECK(second.body["duplicates"] == 2);

  CHECK(host.call("POST", "/api/v1/businesses/mindal/csv", host.owner_key, "", "text/csv").status ==
        400);
  CHECK(host.call("POST", "/api/v1/businesses/mindal/csv", host.owner_key, "--a\r\n\r\n",
                  "multipart/form-data; boundary=a")
            .status == 400);
  CHECK(host.call("POST", "/api/v1/businesses/mindal/csv", host.owner_key, std::string(5000, 'x'),
                  "text/csv")
            .status == 413);
  CHECK(host.get("/api/v1/imports/999", host.owner_key).status == 404);
  // Rows that are not CSV at all end the job failed with the reason, nothing stored.
  const Answer broken = host.call("POST", "/api/v1/businesses/mindal/csv", host.owner_key,
                                  "no,header,here\n1,2,3\n", "text/csv");
  const Answer failed =
      host.poll("/api/v1/imports/" + broken.body["id"].get<std::string>(),
                [](const Answer& a) { return a.body.value("status", "") != "running"; });
  CHECK(failed.body["status"] == "failed");
  CHECK(!failed.body["error"].get<std::string>().empty());
}

TEST_CASE_TEMPLATE("a connector address on loopback is refused on save unless the config allows it",
                   B, CRMSYNC_TEST_BACKENDS) {
  Admin<B> host(1 << 20, std::make_shared<const http::AddressPolicy>(
                             http::AddressPolicy::create({}).value()));
  REQUIRE(host.world.host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/custom.so").ok());
  const json settings = {{"name", "In-house"},
                         {"request", {{"url", host.sim.url("/generic/api/none/none/json")}}},
                         {"auth", {{"type", "none"}}},
                         {"mapping",
                          {{"external_id", "$.id"},
                           {"amount", "$.total"},
                           {"occurred_at", "$.created_at"},
                           {"customer_phone", "$.client.phone"}}}};
  const Answer saved = host.post("/api/v1/businesses/mindal/integrations", host.owner_key,
                                 {{"crm_type", "custom"}, {"settings", settings}});
  INFO(saved.text);
  // The host refuses the connection (INVALID_CONFIG, not retried); the custom connector reports
  // its own "HTTP GET failed" over the host's message, which names the address and the setting
  // (checked at the client in http_client_test).
  CHECK(saved.status == 422);
  CHECK(saved.text.find("INVALID_CONFIG") != std::string::npos);
  CHECK(host.world.store->list_integrations(std::string("mindal")).value().size() == 1);
  const Answer tried =
      host.post("/api/v1/connectors/custom/test", host.owner_key, {{"settings", settings}});
  INFO(tried.text);
  CHECK(tried.text.find("INVALID_CONFIG") != std::string::npos);
}

TEST_CASE_TEMPLATE("an upload without a valid key is refused before its body is sent", B,
                   CRMSYNC_TEST_BACKENDS) {
  Admin<B> host(10u << 20);
  // The 401 arrives while the client has sent only headers: an endless chunked body or a
  // declared 10 MB one is never read, so unauthenticated uploads cannot hold the host's memory.
  for (const std::string framing :
       {"Transfer-Encoding: chunked\r\n", "Content-Length: 10000000\r\n"}) {
    for (const std::string auth : {"", "Authorization: Bearer csk_wrong\r\n"}) {
      test::RawClient client(host.server->port());
      client.send("POST /api/v1/businesses/mindal/csv HTTP/1.1\r\nHost: localhost\r\n" + auth +
                  "Content-Type: text/csv\r\n" + framing + "\r\n");
      const std::string answer = client.read_response();
      CHECK(test::status_of(answer) == 401);
      CHECK(client.closed_within(1s));
    }
  }
  // An admitted client that asks for "100 Continue" gets it, then sends its file.
  test::RawClient client(host.server->port());
  const std::string csv = "date,customer_phone,amount\n2025-11-17 12:00,+79161234567,100\n";
  client.send(
      "POST /api/v1/businesses/mindal/csv HTTP/1.1\r\nHost: localhost\r\n"
      "Authorization: Bearer " +
      host.owner_key + "\r\nContent-Type: text/csv\r\nExpect: 100-continue\r\n" +
      "Content-Length: " + std::to_string(csv.size()) + "\r\n\r\n");
  CHECK(test::status_of(client.read_response()) == 100);
  client.send(csv);
  CHECK(test::status_of(client.read_response()) == 202);
}

TEST_CASE_TEMPLATE("a 3.5 MB CSV sent with Content-Length imports through the upload", B,
                   CRMSYNC_TEST_BACKENDS) {
  Admin<B> host(10u << 20);
  std::string csv = "date,customer_phone,amount,description\n";
  const std::string padding(300, 'a');
  int rows = 0;
  while (csv.size() < 3'500'000) {
    csv += "2025-11-17 12:00,+7916" + std::to_string(1000000 + rows) + ",100," + padding + "\n";
    ++rows;
  }
  // The host's HTTP client sends a Content-Length, as the panel does.
  const Answer started =
      host.call("POST", "/api/v1/businesses/mindal/csv", host.owner_key, csv, "text/csv");
  INFO(started.text);
  REQUIRE(started.status == 202);
  const Answer done =
      host.poll("/api/v1/imports/" + started.body["id"].get<std::string>(),
                [](const Answer& a) { return a.body.value("status", "") != "running"; });
  CHECK(done.body["status"] == "done");
  CHECK(done.body["imported"] == rows);
}

namespace {

// Custom connector settings for crmsim's generic CRM (bare array of orders, no auth).
json custom_settings(const sim::testing::SimProcess& sim, const std::string& status = "paid") {
  return {{"name", "In-house"},
          {"request", {{"url", sim.url("/generic/api/none/none/json")}}},
          {"auth", {{"type", "none"}}},
          {"mapping",
           {{"external_id", "$.id"},
            {"amount", "$.total"},
            {"occurred_at", "$.created_at"},
            {"customer_phone", "$.client.phone"},
            {"filter", {{"source", "$.status"}, {"equals", status}}}}}};
}

}  // namespace

TEST_CASE_TEMPLATE(
    "custom connector sandbox: a sample, then saved active only after a live run passes", B,
    CRMSYNC_TEST_BACKENDS) {
  Admin<B> host;
  REQUIRE(host.world.host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/custom.so").ok());
  const std::string sandbox = "/api/v1/connectors/custom/test";
  const json sample = json::array({{{"id", 7},
                                    {"total", "1500.50"},
                                    {"created_at", "2025-11-17T14:30:00+03:00"},
                                    {"status", "paid"},
                                    {"client", {{"phone", "8 (912) 345-67-89"}}}},
                                   {{"id", 8},
                                    {"total", "900"},
                                    {"created_at", "2025-11-17T15:00:00+03:00"},
                                    {"status", "new"},
                                    {"client", {{"phone", "+79123456780"}}}}});
  const Answer tried =
      host.post(sandbox, host.owner_key,
                {{"settings", custom_settings(host.sim)}, {"sample", sample.dump()}});
  REQUIRE(tried.status == 200);
  CHECK(tried.body["passed"] == true);
  CHECK(tried.body["ok"] == 1);
  CHECK(tried.body["skipped"] == 1);
  CHECK(tried.body["records"][0]["external_id"] == "CUSTOM-7");
  CHECK(tried.body["records"][0]["amount_minor"] == 150050);
  CHECK(tried.body["records"][0]["phone_e164"] == "+79123456789");
  CHECK(tried.body["records"][0]["occurred_at"] == "2025-11-17T11:30:00Z");

  // A sample of more records than a report shows: every record counted, the first 1000 listed.
  json many = json::array();
  for (int i = 1; i <= 1005; ++i) {
    json record = sample[0];
    record["id"] = i;
    many.push_back(record);
  }
  const Answer long_report = host.post(
      sandbox, host.owner_key, {{"settings", custom_settings(host.sim)}, {"sample", many.dump()}});
  REQUIRE(long_report.status == 200);
  CHECK(long_report.body["ok"] == 1005);
  CHECK(long_report.body["records"].size() == 1000);
  CHECK(long_report.body["records_omitted"] == 5);

  // A path that matches nothing: the record's error names the field and the path.
  json wrong = custom_settings(host.sim);
  wrong["mapping"]["amount"] = "$.sum";
  const Answer failed =
      host.post(sandbox, host.owner_key, {{"settings", wrong}, {"sample", sample.dump()}});
  CHECK(failed.body["passed"] == false);
  CHECK(failed.body["errors"] == 1);
  CHECK(failed.body["records"][0]["reason"].get<std::string>().find("$.sum") != std::string::npos);
  CHECK(host.post(sandbox, host.owner_key, {{"settings", {{"mapping", 1}}}}).status == 422);
  CHECK(host.post("/api/v1/connectors/nosuch/test", host.owner_key, json::object()).status == 404);
  CHECK(host.post(sandbox, host.owner_key,
                  {{"settings", custom_settings(host.sim)}, {"business_id", "other"}})
            .status == 404);

  // Saving: active only after a live run finds sales and no errors.
  const std::string base = "/api/v1/businesses/mindal/integrations";
  const Answer no_sales = host.post(base, host.owner_key,
                                    {{"crm_type", "custom"},
                                     {"id", "mindal-inhouse"},
                                     {"settings", custom_settings(host.sim, "none")}});
  CHECK(no_sales.status == 422);
  CHECK(no_sales.body["sandbox"]["ok"] == 0);
  CHECK(host.world.store->get_integration("mindal-inhouse").error().code == CRMSYNC_E_NOT_FOUND);
  const Answer inactive = host.post(base, host.owner_key,
                                    {{"crm_type", "custom"},
                                     {"id", "mindal-inhouse"},
                                     {"active", false},
                                     {"settings", custom_settings(host.sim, "none")}});
  CHECK(inactive.status == 201);
  CHECK(host.post("/api/v1/integrations/mindal-inhouse/enable", host.owner_key).status == 422);
  const Answer fixed = host.call(
      "PATCH", "/api/v1/integrations/mindal-inhouse", host.owner_key,
      json{{"settings", {{"mapping", custom_settings(host.sim)["mapping"]}}}, {"active", true}}
          .dump());
  CHECK(fixed.status == 200);
  CHECK(fixed.body["active"] == true);
}

TEST_CASE_TEMPLATE("API keys: admin creates and deletes them; owners cannot; bad roles are 422", B,
                   CRMSYNC_TEST_BACKENDS) {
  Admin<B> host;
  const Answer made =
      host.post("/api/v1/api-keys", host.admin_key, {{"role", "owner"}, {"business_id", "other"}});
  REQUIRE(made.status == 201);
  const std::string key = made.body["key"];
  CHECK(key.rfind("csk_", 0) == 0);
  CHECK(host.get("/api/v1/businesses", key).body["businesses"][0]["id"] == "other");
  CHECK(host.post("/api/v1/api-keys", host.admin_key, {{"role", "root"}}).status == 422);
  CHECK(host.post("/api/v1/api-keys", host.admin_key, {{"role", "owner"}}).status == 422);
  CHECK(host.post("/api/v1/api-keys", host.admin_key, {{"role", "owner"}, {"business_id", "nope"}})
            .status == 422);
  CHECK(host.post("/api/v1/api-keys", host.owner_key, {{"role", "admin"}}).status == 403);
  CHECK(
      host.call("DELETE", "/api/v1/api-keys/" + made.body["id"].get<std::string>(), host.admin_key)
          .status == 204);
  CHECK(host.get("/api/v1/businesses", key).status == 401);
  CHECK(host.call("DELETE", "/api/v1/api-keys/key-nosuch", host.admin_key).status == 404);
}

TEST_CASE_TEMPLATE("an owner of another business walks every route and gets 403 or 404, never data",
                   B, CRMSYNC_TEST_BACKENDS) {
  Admin<B> host;
  // Something of Миндаль's behind every kind of id: a run, an import, a key.
  const Answer run = host.post("/api/v1/integrations/mindal-yclients/sync", host.owner_key);
  REQUIRE(run.status == 202);
  const Answer upload =
      host.call("POST", "/api/v1/businesses/mindal/csv", host.owner_key,
                "date,customer_phone,amount\n2025-11-17 12:00,+79161234567,100\n", "text/csv");
  REQUIRE(upload.status == 202);
  const std::map<std::string, std::string> ids = {
      {"{business}", "mindal"},
      {"{integration}", "mindal-yclients"},
      {"{run}", std::to_string(run.body["run_id"].get<int64_t>())},
      {"{import}", upload.body["id"].get<std::string>()},
      {"{key}", "key-anything"},
      {"{connector}", "yclients"}};
  int walked = 0;
  for (const auto& [method, pattern] : host.served.routes()) {
    if (pattern.rfind("/api/v1/", 0) != 0) continue;
    std::string path = pattern;
    for (const auto& [placeholder, id] : ids) {
      if (auto at = path.find(placeholder); at != std::string::npos) {
        path.replace(at, placeholder.size(), id);
      }
    }
    // The sandbox works in the caller's own business unless told another one.
    const std::string body = pattern.find("{connector}") != std::string::npos
                                 ? json{{"business_id", "mindal"}}.dump()
                                 : "{}";
    const Answer answer = host.call(method, path, host.other_key, body);
    ++walked;
    if (pattern == "/api/v1/plugins") {
      CHECK(answer.status == 200);  // the connectors are the same for everyone
      continue;
    }
    if (method == "GET" && pattern == "/api/v1/businesses") {
      CHECK(answer.status == 200);
      CHECK(answer.text.find("mindal") == std::string::npos);
      continue;
    }
    INFO(method, " ", path, " answered ", answer.status, " ", answer.text);
    CHECK((answer.status == 403 || answer.status == 404));
    CHECK(answer.text.find("Миндаль") == std::string::npos);
    CHECK(answer.text.find("partner") == std::string::npos);
  }
  CHECK(walked == 24);
  // Nothing of Миндаль's changed.
  CHECK(host.world.store->get_integration("mindal-yclients")->active);
}

TEST_CASE("crmsync api-key, logs and stats print the same data for one integration") {
  test::TempDir dir;
  const std::string db = (dir.path() / "crmsync.db").string();
  const std::string config = (dir.path() / "crmsync.yaml").string();
  std::ofstream(config) << "storage:\n  backend: sqlite\n  path: " << db << "\n"
                        << "plugins:\n  dir: " CRMSYNC_PLUGIN_DIR "\n"
                        << "businesses:\n  - id: mindal\n    name: Миндаль\n";
  const std::string csv = (dir.path() / "sales.csv").string();
  std::ofstream(csv) << "date,customer_phone,amount\n2025-11-17 12:00,+79161234567,100\n"
                        "2025-11-17 12:30,+79161234568,x\n";
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {CRMSYNC_BINARY, "--config", config});
    return test::run_process(args, dir.path());
  };
  REQUIRE(run({"import-csv", csv, "--business", "mindal"}).exit_code == 0);

  const auto logs = run({"logs", "--integration", "mindal-csv", "--json"});
  REQUIRE(logs.exit_code == 0);
  const json lines = json::parse(logs.out);
  REQUIRE(!lines.empty());
  CHECK(lines[0]["type"] == "success");  // newest first: the summary after the row's error
  CHECK(lines[0]["message"].get<std::string>().find("Imported 1 transaction") != std::string::npos);
  CHECK(lines[lines.size() - 1]["type"] == "error");
  const auto table = run({"logs", "--business", "mindal"});
  CHECK(table.out.find("TYPE") != std::string::npos);
  CHECK(table.out.find("Imported 1 transaction") != std::string::npos);
  CHECK(run({"logs", "--integration", "mindal-csv", "--type", "fatal"}).exit_code == 1);
  CHECK(run({"logs"}).exit_code == 1);

  const auto stats = run({"stats", "--integration", "mindal-csv", "--json"});
  REQUIRE(stats.exit_code == 0);
  CHECK(json::parse(stats.out)["mindal-csv"]["total_transactions"] == 1);
  CHECK(run({"stats", "--business", "mindal"}).out.find("mindal-csv") != std::string::npos);
  CHECK(run({"stats", "--integration", "nosuch"}).exit_code == 1);

  const auto key = run({"api-key", "create", "--role", "owner", "--business", "mindal", "--json"});
  REQUIRE(key.exit_code == 0);
  CHECK(json::parse(key.out)["key"].get<std::string>().rfind("csk_", 0) == 0);
  CHECK(run({"api-key", "create", "--role", "owner", "--business", "nosuch"}).exit_code == 1);
  CHECK(run({"api-key", "delete", json::parse(key.out)["id"]}).exit_code == 0);
}

namespace {

// The storage lines of a config for a backend's throwaway database.
std::string storage_yaml(const test::Sqlite& db) {
  return "storage: {backend: sqlite, path: \"" + db.config().target + "\"}\n";
}
std::string storage_yaml(const test::Postgres& db) {
  return "storage: {backend: postgres, url: \"" + db.conninfo + "\"}\n";
}

}  // namespace

TEST_CASE_TEMPLATE("a live crmsync serve answers the API with a key made by the CLI", B,
                   CRMSYNC_TEST_BACKENDS) {
  sim::testing::SimProcess sim({"--companies", "1", "--records", "8", "--new-per-hour", "0"});
  B db;
  test::TempDir dir;
  const uint16_t port = test::closed_port();
  setenv("CRMSYNC_TEST_MASTER_KEY", std::string(64, 'c').c_str(), 1);
  std::ofstream(dir / "crmsync.yaml")
      << storage_yaml(db) << "plugins:\n  dir: " CRMSYNC_PLUGIN_DIR "\n"
      << "http: {allow_private: [127.0.0.0/8]}\n"  // crmsim
      << "secrets: {master_key_env: CRMSYNC_TEST_MASTER_KEY}\n"
      << "scheduler: {interval: 3600}\n"
      << "server: {listen: 127.0.0.1, port: " << port << ", max_upload_bytes: 4096}\n"
      << "businesses:\n  - id: mindal\n    name: Миндаль\n  - id: other\n    name: Other\n";
  const auto key = test::run_process(
      {CRMSYNC_BINARY, "api-key", "create", "--role", "owner", "--business", "mindal", "--json"},
      dir.path());
  REQUIRE(key.exit_code == 0);
  const std::string owner = json::parse(key.out)["key"];
  const auto admin_key =
      test::run_process({CRMSYNC_BINARY, "api-key", "create", "--role", "admin"}, dir.path());
  REQUIRE(admin_key.exit_code == 0);

  const pid_t pid = test::spawn_process({CRMSYNC_BINARY, "serve", "--stop-after", "60"}, dir.path(),
                                        dir / "serve.log");
  REQUIRE(pid > 0);

  auto client = http::Client::create({}).value();
  auto call = [&](const std::string& method, const std::string& path, const std::string& body,
                  const std::string& content_type = "application/json") {
    http::Request request;
    request.method = method;
    request.url = "http://127.0.0.1:" + std::to_string(port) + path;
    request.headers = {{"Authorization", "Bearer " + owner}, {"Content-Type", content_type}};
    request.body = body;
    request.no_retry = true;
    request.timeout = 10s;
    auto sent = client->send(request);
    return sent ? *sent : http::Response{};
  };
  bool up = false;
  for (int i = 0; i < 400 && !up; ++i) {
    up = call("GET", "/readyz", "").status == 200;
    if (!up) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(up);

  const json settings = {{"company_id", 4564},
                         {"partner_token", "partner-secret"},
                         {"user_token", "user-secret"},
                         {"base_url", sim.url("/yclients")}};
  auto created = call("POST", "/api/v1/businesses/mindal/integrations",
                      json{{"crm_type", "yclients"}, {"settings", settings}}.dump());
  INFO(created.body);
  CHECK(created.status == 201);
  CHECK(call("POST", "/api/v1/businesses/mindal/integrations", "{oops").status == 400);
  CHECK(call("GET", "/api/v1/integrations/nosuch", "").status == 404);
  CHECK(call("GET", "/api/v1/businesses/other", "").status == 404);
  auto started = call("POST", "/api/v1/integrations/mindal-yclients/sync", "");
  REQUIRE(started.status == 202);
  const int64_t run_id = json::parse(started.body)["run_id"];
  const std::string run = "/api/v1/runs/" + std::to_string(run_id);
  json status;
  for (int i = 0; i < 400; ++i) {
    status = json::parse(call("GET", run, "").body);
    if (status["status"] != "running") break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(status["status"] == "success");
  const int64_t inserted = status["inserted"];
  CHECK(status["summary"] == sync::synced_message(inserted));
  CHECK(json::parse(call("GET", "/api/v1/integrations/mindal-yclients/stats", "")
                        .body)["total_transactions"] == status["inserted"]);
  CHECK(call("POST", "/api/v1/businesses/mindal/csv", std::string(8192, 'x'), "text/csv").status ==
        413);
  CHECK(call("POST", "/webhooks/yclients/mindal-yclients", std::string(2 << 20, 'x')).status ==
        413);
  const auto metrics = call("GET", "/metrics", "");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find(
            "crmsync_sync_runs_total{integration=\"mindal-yclients\",status=\"success\"} 1") !=
        std::string::npos);
  CHECK(metrics.body.find("crmsync_webhook_requests_total{result=\"accepted\"} 0") !=
        std::string::npos);
  CHECK(metrics.body.find("crmsync_webhook_inbox_writes_total{kind=\"sync\"} 0") !=
        std::string::npos);
  CHECK(metrics.body.find("\ncrmsync_webhook_mapping_lag_seconds 0\n") != std::string::npos);
  CHECK(metrics.body.find("\ncrmsync_webhook_mapping_pauses_total 0\n") != std::string::npos);
  CHECK(metrics.body.find(
            "crmsync_crm_requests_total{integration=\"mindal-yclients\",status=\"200\"}") !=
        std::string::npos);

  // An import whose rows smuggle formulas: its report neutralizes them.
  const std::string formulas =
      "date,customer_phone,amount,description\n"
      "2025-11-17 12:00,+79161234567,1500.00,Стрижка\n"
      "\"2025,=HYPERLINK(\"\"http://x\"\")\",+79161234568,900,a\n"
      "\"2025, @SUM(A1)\",+79161234569,900,b\n";
  const auto upload = call("POST", "/api/v1/businesses/mindal/csv", formulas, "text/csv");
  REQUIRE(upload.status == 202);
  const std::string job = json::parse(upload.body)["id"];
  json imported;
  for (int i = 0; i < 400; ++i) {
    imported = json::parse(call("GET", "/api/v1/imports/" + job, "").body);
    if (imported["status"] != "running") break;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(imported["status"] == "done");
  CHECK(imported["imported"] == 1);
  REQUIRE(imported["error_report"].size() == 2);
  for (const json& row : imported["error_report"]) {
    const std::string reason = row["reason"];
    INFO(reason);
    CHECK((reason.find(",'=HYPERLINK") != std::string::npos ||
           reason.find(", '@SUM") != std::string::npos));
    CHECK(reason.find(",=") == std::string::npos);
    CHECK(reason.find(", @") == std::string::npos);
  }
  // No host name or process id in what the owner sees of the import.
  const std::string logs = call("GET", "/api/v1/integrations/mindal-csv/logs", "").body;
  CHECK(logs.find("CSV upload-" + job + ".csv: Imported 1") != std::string::npos);
  char hostname[256] = {};
  gethostname(hostname, sizeof hostname - 1);
  CHECK(logs.find(hostname) == std::string::npos);
  CHECK(logs.find(std::to_string(pid)) == std::string::npos);

  kill(pid, SIGTERM);
  int exit_status = 0;
  waitpid(pid, &exit_status, 0);
  CHECK(WIFEXITED(exit_status));
  CHECK(WEXITSTATUS(exit_status) == 0);

  // After a restart the job reads the same under the same id, and ids go on from there.
  const pid_t again = test::spawn_process({CRMSYNC_BINARY, "serve", "--stop-after", "60"},
                                          dir.path(), dir / "serve-again.log");
  REQUIRE(again > 0);
  up = false;
  for (int i = 0; i < 400 && !up; ++i) {
    up = call("GET", "/readyz", "").status == 200;
    if (!up) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(up);
  CHECK(json::parse(call("GET", "/api/v1/imports/" + job, "").body) == imported);
  const auto next = call("POST", "/api/v1/businesses/mindal/csv", formulas, "text/csv");
  REQUIRE(next.status == 202);
  const std::string next_id = json::parse(next.body)["id"];
  CHECK(std::stoll(next_id) > std::stoll(job));
  kill(again, SIGTERM);
  waitpid(again, &exit_status, 0);
  CHECK(WIFEXITED(exit_status));
}

TEST_CASE(
    "crmsync custom-test: the mapping on a sample or one live page, per record, exit 0 only "
    "when it passes") {
  sim::testing::SimProcess sim({"--records", "6", "--new-per-hour", "0"});
  test::TempDir dir;
  auto write_config = [&](const std::string& amount_path) {
    std::ofstream(dir / "crmsync.yaml")
        << "plugins:\n  dir: " CRMSYNC_PLUGIN_DIR "\n"
        << "http: {allow_private: [127.0.0.0/8]}\n"  // crmsim
        << "businesses:\n  - id: mindal\n    name: Миндаль\n    integrations:\n"
        << "      - id: mindal-inhouse\n        connector: custom\n        settings:\n"
        << "          request: {url: \"" << sim.url("/generic/api/bearer/page/json") << "\"}\n"
        << "          auth: {type: bearer}\n          token: generic-token\n"
        << "          pagination: {type: page, param: page, size_param: per_page, size: 5}\n"
        << "          records: \"$.data[*]\"\n"
        << "          mapping: {external_id: \"$.id\", amount: \"" << amount_path << "\",\n"
        << "                    occurred_at: \"$.created_at\", customer_phone: "
           "\"$.client.phone\"}\n";
  };
  write_config("$.total");
  std::ofstream(dir / "sample.json")
      << R"({"data": [{"id": 5, "total": "100.00", "created_at": "2025-11-17T14:30:00+03:00",)"
      << R"( "client": {"phone": "+79123456789"}}], "meta": {"page": 1}})";
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), CRMSYNC_BINARY);
    return test::run_process(args, dir.path());
  };
  const auto sample = run({"custom-test", "--config", "crmsync.yaml", "--sample", "sample.json"});
  CHECK(sample.exit_code == 0);
  CHECK(sample.out.find(R"("external_id":"CUSTOM-5","status":"ok")") != std::string::npos);
  CHECK(sample.out.find("✅ 1 sales, 0 not sales, 0 errors") != std::string::npos);
  const auto live = run({"custom-test", "--config", "crmsync.yaml", "--live"});
  CHECK(live.exit_code == 0);
  CHECK(live.out.find("✅ 5 sales") != std::string::npos);  // one page of 5, nothing stored
  CHECK(!std::filesystem::exists(dir / "crmsync.db"));

  write_config("$.sum");
  const auto broken = run({"custom-test", "--config", "crmsync.yaml", "--sample", "sample.json"});
  CHECK(broken.exit_code == 1);
  CHECK(broken.out.find("$.sum") != std::string::npos);
  CHECK(broken.out.find("❌ 0 sales, 0 not sales, 1 errors") != std::string::npos);
  CHECK(run({"custom-test", "--config", "crmsync.yaml"}).exit_code == 1);
  CHECK(
      run({"custom-test", "--config", "crmsync.yaml", "--integration", "x", "--live"}).exit_code ==
      1);
}

// ---- input that once took the whole host down: a clear error each time, and the host lives ----

namespace {

// depth arrays nested in each other: [[[…]]].
std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// Whether the host still answers.
template <class B>
bool alive(Admin<B>& host) {
  return host.get("/healthz", "").status == 200 &&
         host.get("/api/v1/businesses", host.admin_key).status == 200;
}

// The message of the field error for `field`; empty when there is none.
std::string field_message(const Answer& answer, const std::string& field) {
  if (!answer.body.contains("fields")) return "";
  for (const json& f : answer.body["fields"]) {
    if (f["field"] == field) return f["message"].get<std::string>();
  }
  return "";
}

}  // namespace

TEST_CASE("a body member of the wrong type is 422 naming the field, and the host lives") {
  Admin<test::Sqlite> host;
  const std::string integrations = "/api/v1/businesses/mindal/integrations";
  const Answer number = host.post(integrations, host.owner_key, {{"crm_type", 1}});
  CHECK(number.status == 422);
  CHECK(number.body["error"] == "invalid request body");
  CHECK(field_message(number, "crm_type") == "must be a string");

  const Answer several =
      host.post(integrations, host.owner_key,
                {{"crm_type", "yclients"}, {"id", 5}, {"settings", "x"}, {"active", "yes"}});
  CHECK(several.status == 422);
  CHECK(field_message(several, "id") == "must be a string");
  CHECK(field_message(several, "settings") == "must be an object");
  CHECK(field_message(several, "active") == "must be true or false");

  const Answer business =
      host.post("/api/v1/businesses", host.admin_key, {{"id", "b1"}, {"name", 5}});
  CHECK(business.status == 422);
  CHECK(field_message(business, "name") == "must be a string");
  const Answer patched = host.call("PATCH", "/api/v1/businesses/other", host.admin_key,
                                   json{{"currency", 643}}.dump());
  CHECK(patched.status == 422);
  CHECK(field_message(patched, "currency") == "must be a string");
  const Answer key =
      host.post("/api/v1/api-keys", host.admin_key, {{"role", "owner"}, {"business_id", 7}});
  CHECK(key.status == 422);
  CHECK(field_message(key, "business_id") == "must be a string");
  const Answer sandbox =
      host.post("/api/v1/connectors/yclients/test", host.owner_key, {{"sample", 1}});
  CHECK(sandbox.status == 422);
  CHECK(field_message(sandbox, "sample") == "must be a string");
  CHECK(host.world.store->list_integrations("mindal")->size() == 1);  // nothing was created
  CHECK(alive(host));
}

TEST_CASE("a path id outside the ids' grammar is 404, invalid UTF-8 included") {
  Admin<test::Sqlite> host;
  for (const std::string path :
       {"/api/v1/integrations/%FF", "/api/v1/integrations/%FF%FE/logs",
        "/api/v1/integrations/a%20b/runs", "/api/v1/businesses/%FF",
        "/api/v1/businesses/%C3%28/integrations", "/api/v1/runs/%FF", "/api/v1/imports/%80"}) {
    CAPTURE(path);
    const Answer answer = host.get(path, host.owner_key);
    CHECK(answer.status == 404);
    CHECK(answer.body.is_object());
  }
  CHECK(host.call("DELETE", "/api/v1/integrations/%FF", host.owner_key).status == 404);
  CHECK(alive(host));
}

TEST_CASE("a body nested deeper than 256 levels is 400 with a clear error; 256 levels parse") {
  Admin<test::Sqlite> host;
  const std::string integrations = "/api/v1/businesses/mindal/integrations";
  const std::string deep =
      R"({"crm_type":"yclients","settings":{"company_id":)" + nested_arrays(100'000) + "}}";
  const Answer created = host.call("POST", integrations, host.owner_key, deep);
  CHECK(created.status == 400);
  CHECK(created.body["error"] == "the body nests deeper than 256 levels");
  const Answer patched = host.call("PATCH", "/api/v1/integrations/mindal-yclients", host.owner_key,
                                   R"({"settings":{"x":)" + nested_arrays(300) + "}}");
  CHECK(patched.status == 400);
  CHECK(patched.body["error"] == "the body nests deeper than 256 levels");
  // The body, settings and 254 arrays: 256 levels, read and checked against the schema.
  const Answer limit =
      host.call("POST", integrations, host.owner_key,
                R"({"crm_type":"yclients","id":"mindal-deep","settings":{"company_id":)" +
                    nested_arrays(254) + "}}");
  CHECK(limit.status == 422);
  CHECK(has_field(limit, "company_id"));
  CHECK(alive(host));
}

TEST_CASE("stored text that is not UTF-8 reads as U+FFFD through the API") {
  Admin<test::Sqlite> host;
  store::LogEntry line;
  line.business_id = "mindal";
  line.integration_id = "mindal-yclients";
  line.type = store::LogType::error;
  line.message = "phone \xFF\xFE is not a phone";
  line.raw_json = "name=\xFF";
  line.created_at = host.world.clock.now();
  REQUIRE(host.world.store->append_logs(std::span(&line, 1)));
  const Answer logs = host.get("/api/v1/integrations/mindal-yclients/logs", host.owner_key);
  REQUIRE(logs.status == 200);
  REQUIRE(logs.body["logs"].size() == 1);
  CHECK(logs.body["logs"][0]["message"] == "phone \xEF\xBF\xBD\xEF\xBF\xBD is not a phone");
  CHECK(logs.body["logs"][0]["raw_data"] == "name=\xEF\xBF\xBD");
  CHECK(alive(host));
}

TEST_CASE("crmsync logs --json writes stored text that is not UTF-8 as U+FFFD") {
  test::TempDir dir;
  const std::string db = (dir.path() / "crmsync.db").string();
  const std::string config = (dir.path() / "crmsync.yaml").string();
  std::ofstream(config) << "storage:\n  backend: sqlite\n  path: " << db << "\n"
                        << "plugins:\n  dir: " CRMSYNC_PLUGIN_DIR "\n"
                        << "businesses:\n  - id: mindal\n    name: Миндаль\n";
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {CRMSYNC_BINARY, "--config", config});
    return test::run_process(args, dir.path());
  };
  {
    store::StorageConfig storage;
    storage.target = db;
    auto opened = store::open_store(storage);
    REQUIRE(opened);
    store::Business business;
    business.id = "mindal";
    business.name = "Миндаль";
    REQUIRE((*opened)->add_business(business));
    store::LogEntry line;
    line.business_id = "mindal";
    line.type = store::LogType::warning;
    line.message = "row 2: \xC3\x28 is not an amount";
    line.created_at =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    REQUIRE((*opened)->append_logs(std::span(&line, 1)));
  }
  const auto logs = run({"logs", "--business", "mindal", "--json"});
  CHECK(logs.exit_code == 0);
  const json lines = json::parse(logs.out, nullptr, false);
  REQUIRE(lines.is_array());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["message"] == "row 2: \xEF\xBF\xBD( is not an amount");
  CHECK(run({"logs", "--business", "mindal"}).exit_code == 0);
}

TEST_CASE("the custom sandbox on an XML sample with a lone surrogate answers a report, no error") {
  Admin<test::Sqlite> host;
  REQUIRE(host.world.host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/custom.so").ok());
  const json settings = {{"name", "Warehouse"},
                         {"request", {{"url", host.sim.url("/generic/api/none/none/xml")}}},
                         {"auth", {{"type", "none"}}},
                         {"format", "xml"},
                         {"records", "/orders/order"},
                         {"mapping",
                          {{"external_id", "@id"},
                           {"amount", "total"},
                           {"occurred_at", "created"},
                           {"description", "note"}}}};
  const std::string sample =
      "<orders><order id=\"1\"><total>100</total><created>2025-11-17T14:30:00+03:00</created>"
      "<note>&#xD800;</note></order></orders>";
  const Answer tried = host.post("/api/v1/connectors/custom/test", host.owner_key,
                                 {{"settings", settings}, {"sample", sample}});
  CHECK(tried.status == 200);
  CHECK(tried.text.find("json.exception") == std::string::npos);
  CHECK(tried.body["records"].size() == 1);
  const std::string deep = "<a>" + [] {
    std::string text;
    for (int i = 0; i < 100'000; ++i) text += "<a>";
    for (int i = 0; i < 100'000; ++i) text += "</a>";
    return text;
  }() + "</a>";
  const Answer nested = host.post("/api/v1/connectors/custom/test", host.owner_key,
                                  {{"settings", settings}, {"sample", deep}});
  CHECK(nested.status == 200);
  CHECK(nested.body["passed"] == false);
  CHECK(nested.text.find("nests deeper than 256 levels") != std::string::npos);
  CHECK(alive(host));
}
