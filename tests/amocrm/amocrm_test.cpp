// Tests of the amoCRM connector: every provider fixture through the real `crmsync parse`; the
// connector against the real crmsim over loopback (OAuth code exchange, rotating refresh tokens,
// a token expiring in the middle of a paged sync, contacts read in batches, webhooks, webhook
// registration); and the sync engine with it on a real store (a host restart right after a
// refresh, a revoked refresh token alerting once, a webhook's sale and a poll stored once).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "alerts/alerts.h"
#include "amocrm_mapping.h"
#include "parse/parse_process.h"
#include "sim_process.h"
#include "support/backends.h"
#include "support/connector_harness.h"
#include "support/loyalty_receiver.h"
#include "support/smtp_server.h"
#include "support/temp_dir.h"
#include "sync/engine.h"

namespace {

using namespace crmsync;
using namespace std::chrono_literals;
using nlohmann::json;
using sim::testing::SimProcess;
using test::run_parse;
using test::TempDir;
using test::write_file;

const std::string kFixtures = std::string(CRMSYNC_TEST_DATA_DIR) + "/fixtures/amocrm/";
const std::string kForm = "application/x-www-form-urlencoded";

// Settings of an integration with the simulator's account (secrets included).
json sim_settings(const SimProcess& sim, json extra = json::object()) {
  json settings = {{"subdomain", "stimcentr.amocrm.ru"},
                   {"client_id", "stim-client"},
                   {"client_secret", "stim-secret"},
                   {"redirect_uri", "https://crm.example.com/oauth/amocrm"},
                   {"code", "stim-code"},
                   {"base_url", sim.url("/amocrm")},
                   {"page_size", 50}};
  settings.update(extra);
  return settings;
}

// `crmsync parse --connector amocrm` on a file: a saved response, or a webhook body.
test::ParseRun parse_file(const std::string& file, const std::string& kind = "response",
                          const std::string& subdomain = "example") {
  TempDir dir;
  const json config = {{"subdomain", subdomain},
                       {"client_id", "c"},
                       {"redirect_uri", "https://crm.example.com/oauth"}};
  std::vector<std::string> args = {"--connector", "amocrm",        "--kind",
                                   kind,          "--config-json", config.dump()};
  if (kind == "webhook") args.insert(args.end(), {"--content-type", kForm});
  args.push_back(file);
  return run_parse(args, dir.path());
}

// `crmsync parse` on a webhook body written by the test.
test::ParseRun parse_webhook_body(const std::string& body, const std::string& content_type = kForm,
                                  const std::string& subdomain = "stimcentr") {
  TempDir dir;
  write_file(dir / "hook.txt", body);
  const json config = {{"subdomain", subdomain},
                       {"client_id", "c"},
                       {"redirect_uri", "https://crm.example.com/oauth"}};
  return run_parse({"--connector", "amocrm", "--kind", "webhook", "--content-type", content_type,
                    "--config-json", config.dump(), (dir / "hook.txt").string()},
                   dir.path());
}

std::string fetch_line(const std::string& id) {
  return R"({"external_id":"AMOCRM-)" + id + R"(","status":"fetch"})";
}

// The simulator's state of the amoCRM account.
json sim_state(SimProcess& sim) {
  return sim.admin("GET", "state?provider=amocrm");
}

// How many requests of the simulator's amoCRM endpoint answered with this status.
int sim_count(SimProcess& sim, const std::string& endpoint, int status = -1) {
  int n = 0;
  for (const json& r : sim.admin("GET", "requests?provider=amocrm")) {
    if (r["endpoint"] == endpoint && (status < 0 || r["status"] == status)) ++n;
  }
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Fixtures through `crmsync parse`
// ---------------------------------------------------------------------------------------------

TEST_CASE("parse: leads-list-response gives both won leads as sales in kopecks at closed_at") {
  const auto run = parse_file(kFixtures + "leads-list-response.json");
  CHECK(run.exit_code == 0);
  const std::string tail =
      R"(,"currency":"RUB","phone_e164":null,"description":"Сделка для примера)";
  CHECK(
      run.lines ==
      std::vector<std::string>{
          R"({"external_id":"AMOCRM-19619","status":"ok","occurred_at":"2016-12-29T10:05:31Z","amount_minor":4633300)" +
              tail + R"(","is_medical":false})",
          R"({"external_id":"AMOCRM-14460","status":"ok","occurred_at":"2016-12-29T10:05:31Z","amount_minor":65500)" +
              tail + R"( 2","is_medical":false})"});
}

TEST_CASE("parse: lead-get-response-lost is skipped as lost") {
  const auto run = parse_file(kFixtures + "lead-get-response-lost.json");
  CHECK(run.exit_code == 0);
  CHECK(
      run.lines ==
      std::vector<std::string>{
          R"j({"external_id":"AMOCRM-3912171","status":"skipped","reason":"Not a sale: the lead is lost (status 143)"})j"});
}

TEST_CASE("parse: fixtures that are not leads exit 1 with one clear message") {
  for (const std::string file :
       {"account-get-response.json", "contact-get-response.json", "pipeline-statuses-response.json",
        "oauth-token-request-authorization_code.kommo-docs.json",
        "oauth-token-request-refresh_token.kommo-docs.json",
        "webhook-leads-status-amocrm-zapier-2016.headers.json"}) {
    CAPTURE(file);
    const auto run = parse_file(kFixtures + file);
    CHECK(run.exit_code == 1);
    CHECK(run.lines.empty());
    CHECK(run.err.find("Not an amoCRM leads response") != std::string::npos);
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  }
  // A form body given as a response is not JSON.
  const auto run = parse_file(kFixtures + "webhook-leads-add-amocrm-zapier-2016.txt");
  CHECK(run.exit_code == 1);
  CHECK(run.err.find("amoCRM response is not JSON") != std::string::npos);
}

TEST_CASE("parse: the captured webhooks name their lead to re-read") {
  const auto status = parse_file(kFixtures + "webhook-leads-status-amocrm-zapier-2016.txt",
                                 "webhook", "test000002.amocrm.ru");
  CHECK(status.exit_code == 0);
  CHECK(status.lines == std::vector<std::string>{fetch_line("31926520")});
  const auto add =
      parse_file(kFixtures + "webhook-leads-add-amocrm-zapier-2016.txt", "webhook", "test000002");
  CHECK(add.exit_code == 0);
  CHECK(add.lines == std::vector<std::string>{fetch_line("31926529")});
  // The same body for another account is refused as a whole.
  const auto other = parse_file(kFixtures + "webhook-leads-add-amocrm-zapier-2016.txt", "webhook",
                                "stimcentr.amocrm.ru");
  CHECK(other.exit_code == 1);
  CHECK(other.err.find("Webhook from amoCRM account test000002, this integration is stimcentr") !=
        std::string::npos);
}

TEST_CASE("parse: webhook events: deletions are skipped, a lead named twice is re-read once") {
  const std::string body =
      "leads%5Bstatus%5D%5B0%5D%5Bid%5D=5&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142"
      "&leads%5Bupdate%5D%5B0%5D%5Bid%5D=5&leads%5Badd%5D%5B0%5D%5Bid%5D=6"
      "&leads%5Bdelete%5D%5B0%5D%5Bid%5D=7&leads%5Bupdate%5D%5B1%5D%5Bname%5D=no+id"
      "&account%5Bsubdomain%5D=stimcentr&account%5Bid%5D=30551812";
  const auto run = parse_webhook_body(body, "application/x-www-form-urlencoded; charset=UTF-8");
  CHECK(run.exit_code == 0);
  CHECK(
      run.lines ==
      std::vector<std::string>{
          fetch_line("5"), fetch_line("6"),
          R"({"external_id":"AMOCRM-7","status":"skipped","reason":"Not a sale: the lead was deleted in amoCRM"})",
          R"({"external_id":null,"status":"error","reason":"leads[update] event without a numeric lead id"})"});
}

TEST_CASE("parse: webhook bodies that cannot be read exit 1 with the reason") {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {R"({"leads":{"status":[{"id":1}]}})", "application/json",
       "amoCRM webhooks are application/x-www-form-urlencoded, not application/json"},
      {"leads%5Bstatus%5D%5B0%5D%5Bid%5D=1%ZZ", kForm, "pair 1 has a malformed percent-escape"},
      {"leads%5Bstatus%5D%5B0%5D%5Bid%5D=1%4", kForm, "pair 1 has a malformed percent-escape"},
      {"leads%5Bstatus%5D%5B0=1", kForm, "pair 1 has a malformed key"},
      {"account%5Bsubdomain%5D=stimcentr&leads%5Bstatus%5D=1", kForm,
       "pair 2 is not leads[<event>][<n>][<field>]"},
      {"leads", kForm, "pair 1 has no '='"},
      {"hello=world", kForm, "no leads[...], account[...] or other amoCRM fields"},
      {"", kForm, "no leads[...], account[...] or other amoCRM fields"}};
  for (const auto& [body, type, message] : cases) {
    CAPTURE(body);
    const auto run = parse_webhook_body(body, type);
    CHECK(run.exit_code == 1);
    CHECK(run.lines.empty());
    CHECK(run.err.find(message) != std::string::npos);
  }
  // A contact event names no lead: nothing to do, no error.
  const auto contacts =
      parse_webhook_body("contacts%5Badd%5D%5B0%5D%5Bid%5D=3&account%5Bsubdomain%5D=stimcentr");
  CHECK(contacts.exit_code == 0);
  CHECK(contacts.lines.empty());
}

TEST_CASE("webhook bodies: percent-encoded Cyrillic and multi-line values decode exactly") {
  CHECK(amocrm::form_decode("%D0%A1%D1%82%D0%B8%D0%BC+%D0%A6%D0%B5%D0%BD%D1%82%D1%80") ==
        "Стим Центр");
  CHECK(amocrm::form_decode("%D0%9E%D0%BF%D0%BB%D0%B0%D1%82%D0%B0%0D%0A%D1%87%D0%B5%D0%BA") ==
        "Оплата\r\nчек");
  CHECK(amocrm::form_decode("a%2Bb%3D%26") == "a+b=&");
  CHECK_FALSE(amocrm::form_decode("%D0%"));
  CHECK_FALSE(amocrm::form_decode("%G0"));
  const auto read = amocrm::read_webhook(
      "leads%5Bstatus%5D%5B0%5D%5Bid%5D=31926520&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D"
      "%5Bvalues%5D%5B0%5D%5Bvalue%5D=%D0%9F%D0%B5%D1%80%D0%B2%D0%B0%D1%8F%0A%D0%B2%D1%82%D0%BE%D1"
      "%80%D0%B0%D1%8F&account%5Bsubdomain%5D=stimcentr");
  REQUIRE(std::holds_alternative<amocrm::WebhookBody>(read));
  const auto& body = std::get<amocrm::WebhookBody>(read);
  REQUIRE(body.leads.size() == 1);
  CHECK(body.leads[0].event == "status");
  CHECK(body.leads[0].id == "31926520");
  CHECK(body.subdomain == "stimcentr");
}

// ---------------------------------------------------------------------------------------------
// The connector against crmsim
// ---------------------------------------------------------------------------------------------

namespace {

// The plugin host with the built amoCRM connector loaded.
struct Loaded : test::LoadedConnector {
  Loaded() : LoadedConnector(CRMSYNC_PLUGIN_DIR, "amocrm") {}
  std::unique_ptr<plugin_host::Instance> open(plugin_host::HostServices& services,
                                              const json& settings) {
    return LoadedConnector::open(services, settings.dump());
  }
};

// The integration's stored OAuth tokens in the harness's state.
json stored_tokens(test::HarnessHostServices& services) {
  auto value = services.state_get("amocrm-1", "oauth");
  REQUIRE(value.ok());
  return json::parse(value->value);
}

}  // namespace

TEST_CASE(
    "sim: the code is exchanged once, test connection names the account, a sync gets every won "
    "lead") {
  SimProcess sim({"--records", "120"});
  Loaded loaded;
  test::HarnessHostServices services;
  auto instance = loaded.open(services, sim_settings(sim));
  auto health = instance->health_check();
  REQUIRE(health.ok());
  CHECK(*health == "✅ Connected to AMO CRM - Стим Центр");
  const json state = sim_state(sim);
  CHECK(state["code_used"] == true);
  CHECK(state["tokens_issued"] == 1);
  const json tokens = stored_tokens(services);
  CHECK(tokens["access_token"] == "amo-access-1");
  CHECK(tokens["refresh_token"] == "amo-refresh-1");

  const auto pass = test::full_pass(*instance, "", "AMOCRM");
  CHECK(pass.failed.empty());
  CHECK(pass.sales.size() == state["won_leads"].get<size_t>());
  CHECK(pass.objects() == state["visible_leads"].get<size_t>());
  for (const auto& id : pass.sales) CHECK(id.starts_with("AMOCRM-"));
  size_t with_phone = 0;
  for (const auto& tx : pass.transactions) with_phone += tx.phone_e164.empty() ? 0 : 1;
  CHECK(with_phone > pass.transactions.size() / 2);
  CHECK(std::any_of(pass.skipped.begin(), pass.skipped.end(), [](const std::string& s) {
    return s.find("Not a sale: the lead is lost (status 143)") != std::string::npos;
  }));
  // Phones come from contacts read in batches: one contacts request per leads page at most.
  CHECK(sim_count(sim, "contacts") <= sim_count(sim, "leads"));
  CHECK(sim_count(sim, "contact") == 0);
  // The same code is never sent again; the stored tokens serve a new instance.
  auto again = loaded.open(services, sim_settings(sim));
  REQUIRE(again->health_check().ok());
  CHECK(sim_state(sim)["tokens_issued"] == 1);
  CHECK(sim_count(sim, "oauth") == 1);
}

TEST_CASE("sim: an access token that expires in the middle of a paged sync is renewed once") {
  SimProcess sim({"--records", "300", "--new-per-hour", "0", "--amocrm-token-ttl", "600"});
  Loaded loaded;
  test::HarnessHostServices services;
  auto reference = [&] {
    SimProcess clean({"--records", "300", "--new-per-hour", "0"});
    test::HarnessHostServices clean_services;
    auto clean_instance = loaded.open(clean_services, sim_settings(clean));
    return test::full_pass(*clean_instance, "", "AMOCRM").sales;
  }();
  auto instance = loaded.open(services, sim_settings(sim));
  test::Collected collected("AMOCRM");
  REQUIRE(instance->fetch("", collected).ok());
  REQUIRE(collected.more);
  // The provider's clock moves past the token's life between two pages.
  sim.admin("POST", "clock/advance", {{"seconds", 700}});
  while (collected.more) {
    const std::string cursor = collected.cursor;
    REQUIRE(instance->fetch(cursor, collected).ok());
  }
  CHECK(collected.sales == reference);
  CHECK(sim_count(sim, "leads", 401) == 1);
  const json state = sim_state(sim);
  CHECK(state["refresh_grants"] == 1);
  CHECK(state["refused_grants"] == 0);
  // The rotated refresh token is the one stored, and the only one the provider still accepts.
  CHECK(state["valid_refresh_tokens"] == json::array({"amo-refresh-2", "stim-refresh-0"}));
  CHECK(stored_tokens(services)["refresh_token"] == "amo-refresh-2");
  CHECK(services.logged("amoCRM access token renewed; the new refresh token is stored"));
}

TEST_CASE("sim: a refused refresh token is one UNAUTHENTICATED error telling to reconnect") {
  SimProcess sim({"--records", "20"});
  Loaded loaded;
  test::HarnessHostServices services;
  json settings = sim_settings(sim, {{"refresh_token", "revoked-token"}});
  settings.erase("code");
  auto instance = loaded.open(services, settings);
  auto health = instance->health_check();
  REQUIRE_FALSE(health.ok());
  CHECK(health.error().code == CRMSYNC_E_UNAUTHENTICATED);
  INFO(health.error().message);
  CHECK(health.error().message.find(
            "❌ amoCRM refused the refresh token (Token has been revoked)") != std::string::npos);
  CHECK(health.error().message.find("Reconnect it: create a new authorization code") !=
        std::string::npos);
  test::Collected collected("AMOCRM");
  auto fetched = instance->fetch("", collected);
  REQUIRE_FALSE(fetched.ok());
  CHECK(fetched.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(sim_count(sim, "oauth") == 2);  // one attempt per call, never a loop
  CHECK(sim_count(sim, "leads") == 0);

  // A configured refresh token that works replaces nothing stored, and rotates.
  json good = sim_settings(sim, {{"refresh_token", "stim-refresh-0"}});
  good.erase("code");
  test::HarnessHostServices fresh;
  auto connected = loaded.open(fresh, good);
  REQUIRE(connected->health_check().ok());
  CHECK(sim_state(sim)["valid_refresh_tokens"] == json::array({"amo-refresh-1"}));

  // Wrong client credentials and a missing secret are reported, not retried.
  auto wrong = loaded.open(services, sim_settings(sim, {{"client_secret", "nope"}}));
  CHECK(wrong->health_check().error().message.find("Client authentication failed") !=
        std::string::npos);
  json no_grant = sim_settings(sim);
  no_grant.erase("code");
  test::HarnessHostServices empty;
  auto none = loaded.open(empty, no_grant);
  CHECK(none->health_check().error().code == CRMSYNC_E_INVALID_CONFIG);
}

TEST_CASE("sim: a second sync reads only changes; a won lead that is lost later is logged") {
  SimProcess sim({"--records", "100", "--new-per-hour", "0"});
  Loaded loaded;
  test::HarnessHostServices services;
  auto instance = loaded.open(services, sim_settings(sim));
  const auto first = test::full_pass(*instance, "", "AMOCRM");
  REQUIRE_FALSE(first.sales.empty());
  const std::string won = first.sales.front().substr(7);
  sim.admin("POST", "clock/advance", {{"seconds", 3600}});
  sim.admin(
      "POST", "records",
      {{"provider", "amocrm"}, {"lead_ids", json::array({std::stoll(won)})}, {"status_id", 143}});
  const json added = sim.admin("POST", "records", {{"provider", "amocrm"}, {"count", 2}});
  const auto second = test::full_pass(*instance, first.cursor, "AMOCRM");
  // The filter re-reads the boundary and what changed: far fewer leads than the first pass.
  CHECK(second.objects() < first.objects() / 2);
  for (const json& id : added["ids"]) {
    CHECK(std::count(second.sales.begin(), second.sales.end(), "AMOCRM-" + id.dump()) == 1);
  }
  CHECK(std::count(second.skipped.begin(), second.skipped.end(),
                   won + ": Not a sale: the lead is lost (status 143)") == 1);
  CHECK(services.logged("amoCRM lead " + won +
                        " left the won status (now status 143) after it was stored as a sale"));
  bool filtered = false;
  for (const json& r : sim.admin("GET", "requests?provider=amocrm")) {
    const std::string target = r["target"];
    filtered |= target.find("filter%5Bupdated_at%5D%5Bfrom%5D=") != std::string::npos &&
                target.find("with=contacts") != std::string::npos &&
                target.find("limit=50") != std::string::npos;
  }
  CHECK(filtered);
}

TEST_CASE("sim: pipeline filter and an amount kept in a custom field") {
  SimProcess sim({"--records", "120"});
  Loaded loaded;
  test::HarnessHostServices by_price_services, by_field_services;
  auto by_price =
      loaded.open(by_price_services, sim_settings(sim, {{"pipeline_ids", json::array({3177727})}}));
  const auto priced = test::full_pass(*by_price, "", "AMOCRM");
  SimProcess second_sim({"--records", "120"});
  auto by_field = loaded.open(by_field_services,
                              sim_settings(second_sim, {{"pipeline_ids", json::array({3177727})},
                                                        {"amount_field", "586715"}}));
  const auto fielded = test::full_pass(*by_field, "", "AMOCRM");
  CHECK(priced.sales == fielded.sales);
  CHECK(priced.amounts == fielded.amounts);
  CHECK_FALSE(priced.sales.empty());
  CHECK(priced.sales.size() < sim_state(sim)["won_leads"].get<size_t>());
  // A custom field that no lead has: won leads are skipped with the reason.
  test::HarnessHostServices missing_services;
  SimProcess third_sim({"--records", "20"});
  auto missing = loaded.open(missing_services, sim_settings(third_sim, {{"amount_field", 999}}));
  const auto none = test::full_pass(*missing, "", "AMOCRM");
  CHECK(none.sales.empty());
  CHECK(std::any_of(none.skipped.begin(), none.skipped.end(), [](const std::string& s) {
    return s.find("Not a sale: the won lead has no amount in custom field 999") !=
           std::string::npos;
  }));
}

TEST_CASE("sim: a webhook's lead is re-read and mapped like sync; a gone lead is skipped") {
  SimProcess sim({"--records", "20"});
  Loaded loaded;
  test::HarnessHostServices services;
  auto instance = loaded.open(services, sim_settings(sim));
  const json created = sim.admin("POST", "records", {{"provider", "amocrm"}, {"count", 1}});
  test::LoyaltyReceiver receiver;  // any HTTP endpoint will do: the payload comes back to the test
  const json payload = sim.admin(
      "POST", "webhook",
      {{"provider", "amocrm"}, {"url", receiver.url()}, {"record_ids", created["ids"]}})["payload"];
  CHECK(payload["content_type"] == kForm);
  plugin_host::WebhookRequest request;
  request.content_type = payload["content_type"];
  request.body = payload["body"];
  test::Collected hook("AMOCRM");
  REQUIRE(instance->parse_webhook(request, hook).ok());
  REQUIRE(hook.refetch == std::vector<std::string>{created["ids"][0].dump()});
  test::Collected refetched("AMOCRM");
  REQUIRE(instance->fetch_object(hook.refetch[0], refetched).ok());
  REQUIRE(refetched.sales == std::vector<std::string>{"AMOCRM-" + created["ids"][0].dump()});
  CHECK_FALSE(refetched.transactions[0].phone_e164.empty());

  test::Collected gone("AMOCRM");
  REQUIRE(instance->fetch_object("99999999", gone).ok());
  CHECK(gone.skipped ==
        std::vector<std::string>{"99999999: Not a sale: the lead no longer exists in amoCRM"});
  CHECK(instance->fetch_object("12ab", gone).error().code == CRMSYNC_E_INVALID_INPUT);
}

TEST_CASE("sim: the webhook URL is subscribed once, moved, and unsubscribed") {
  SimProcess sim({"--records", "5"});
  Loaded loaded;
  test::HarnessHostServices services;
  auto instance = loaded.open(services, sim_settings(sim));
  const std::string url = "https://crm.example.com/webhooks/amocrm/amocrm-1?token=t1";
  REQUIRE(instance->configure_webhook(url).ok());
  REQUIRE(instance->configure_webhook(url).ok());
  json hooks = sim_state(sim)["webhooks"];
  REQUIRE(hooks.size() == 1);
  CHECK(hooks[0]["destination"] == url);
  CHECK(hooks[0]["settings"] ==
        json::array({"add_lead", "update_lead", "status_lead", "delete_lead"}));
  const std::string moved = "https://crm2.example.com/webhooks/amocrm/amocrm-1?token=t2";
  REQUIRE(instance->configure_webhook(moved).ok());
  hooks = sim_state(sim)["webhooks"];
  REQUIRE(hooks.size() == 1);
  CHECK(hooks[0]["destination"] == moved);
  REQUIRE(instance->configure_webhook("").ok());
  CHECK(sim_state(sim)["webhooks"].empty());
}

TEST_CASE("sim: an invalid cursor or a broken page is a clear error") {
  SimProcess sim({"--records", "20"});
  Loaded loaded;
  test::HarnessHostServices services;
  auto instance = loaded.open(services, sim_settings(sim));
  test::Collected collected("AMOCRM");
  CHECK(instance->fetch("{\"page\":\"two\"}", collected).error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(instance->fetch("[", collected).error().code == CRMSYNC_E_INVALID_INPUT);
  sim.admin("POST", "faults",
            {{"provider", "amocrm"}, {"endpoint", "leads"}, {"kind", "invalid_json"}});
  auto broken = instance->fetch("", collected);
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(broken.error().message.find("amoCRM leads page is not JSON") != std::string::npos);
  // An empty page (HTTP 204) ends the pass without moving the cursor forward.
  sim.admin("POST", "faults",
            {{"provider", "amocrm"}, {"endpoint", "leads"}, {"kind", "empty_page"}});
  test::Collected empty("AMOCRM");
  REQUIRE(instance->fetch("", empty).ok());
  CHECK(empty.objects() == 0);
  CHECK_FALSE(empty.more);
  CHECK(empty.cursor == "{}");
  // Settings of the wrong type are refused when the instance opens.
  auto bad = loaded.host.open_instance("amocrm", "amocrm-2",
                                       sim_settings(sim, {{"won_status_ids", "142"}}).dump(),
                                       "Europe/Moscow", "RUB", services);
  CHECK_FALSE(bad.ok());
}

// ---------------------------------------------------------------------------------------------
// The sync engine with the amoCRM connector
// ---------------------------------------------------------------------------------------------

namespace {

const crypto::MasterKey& test_key() {
  static const crypto::MasterKey key = crypto::parse_master_key(std::string(64, 'a')).value();
  return key;
}

// A store with the business Стим Центр and an engine over it; restart() drops the engine, the
// host services and the store connection and opens them again over the same database.
template <class B>
struct World {
  B db;
  std::atomic<int64_t> now_ms{1'763'380'800'000};  // 2025-11-17T12:00:00Z, the simulator's start
  plugin_host::PluginHost host;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<sync::StoreHostServices> services;
  std::unique_ptr<sync::Engine> engine;
  std::unique_ptr<alerts::Mailer> mailer;

  explicit World(const std::string& smtp_url = "") {
    REQUIRE(host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/amocrm.so").ok());
    if (!smtp_url.empty()) {
      alerts::MailerOptions mail;
      mail.smtp_url = smtp_url;
      mail.from = "crmsync@example.com";
      mail.to = {"owner@stimcentr.example"};
      mailer = alerts::Mailer::create(mail).value();
    }
    start();
    store::Business business;
    business.id = "stimcentr";
    business.name = "Стим Центр";
    business.created_at = now();
    REQUIRE(store->add_business(business));
  }

  store::Timestamp now() const {
    return store::Timestamp(std::chrono::milliseconds(now_ms.load()));
  }

  void start() {
    store = store::open_store(db.config()).value();
    sync::HttpDefaults http;
    http.options.retry.base_delay = 5ms;
    http.options.retry.max_delay = 20ms;
    http.options.request_timeout = 5s;
    services = std::make_unique<sync::StoreHostServices>(*store, http, sync::ProcessLog{},
                                                         [this] { return now(); });
    sync::EngineOptions options;
    options.owner = "test-host";
    options.master_keys = {test_key()};
    options.now = [this] { return now(); };
    options.on_run_finished = [this](const sync::RunReport& report) {
      if (report.status != store::RunStatus::failed) return;
      REQUIRE(alerts::notify_run_failure(*store, mailer.get(),
                                         {.admin_base_url = "https://crm.example.com"},
                                         report.integration_id, now()));
    };
    engine = std::make_unique<sync::Engine>(*store, host, *services, options);
  }

  void restart() {
    engine.reset();
    services.reset();
    store.reset();
    start();
  }

  void add(const std::string& id, const json& settings) {
    auto split = sync::seal_settings(*host.find("amocrm"), settings.dump(), &test_key()).value();
    store::Integration integration;
    integration.id = id;
    integration.business_id = "stimcentr";
    integration.crm_type = "amocrm";
    integration.settings_json = split.first;
    integration.credentials = split.second;
    integration.created_at = integration.updated_at = now();
    REQUIRE(store->create_integration(integration));
  }

  sync::RunReport sync_now(store::RunTrigger trigger = store::RunTrigger::manual) {
    return engine->sync("stim-amocrm", trigger).value();
  }

  int64_t count(const std::string& sql) { return db.scalar(sql); }
};

}  // namespace

TEST_CASE_TEMPLATE("engine: refresh before expiry, then a host restart keeps the new refresh token",
                   B, CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "120", "--new-per-hour", "0"});
  World<B> world;
  world.add("stim-amocrm", sim_settings(sim));
  const auto first = world.sync_now();
  REQUIRE_MESSAGE(first.status == store::RunStatus::success, first.message);
  CHECK(first.totals.inserted == sim_state(sim)["won_leads"].get<int64_t>());
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id LIKE 'AMOCRM-%'") ==
        first.totals.inserted);
  CHECK(sim_state(sim)["code_used"] == true);

  // A day later the access token is about to expire: the test connection renews it first.
  world.now_ms += 86'400'000;
  REQUIRE(world.engine->test_connection("stim-amocrm").value() ==
          "✅ Connected to AMO CRM - Стим Центр");
  CHECK(sim_state(sim)["refresh_grants"] == 1);
  CHECK(sim_count(sim, "account", 401) == 0);  // renewed before expiry, not after a refusal

  // The host stops right after that refresh and starts again over the same store.
  world.restart();
  world.now_ms += 86'400'000;
  const auto after = world.sync_now(store::RunTrigger::schedule);
  REQUIRE_MESSAGE(after.status == store::RunStatus::success, after.message);
  const json state = sim_state(sim);
  CHECK(state["refresh_grants"] == 2);  // the persisted refresh token was accepted
  CHECK(state["refused_grants"] == 0);
  CHECK(state["tokens_issued"] == 3);
  CHECK(after.totals.inserted == 0);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == first.totals.inserted);
}

TEST_CASE_TEMPLATE("engine: a revoked refresh token fails each run once and alerts once", B,
                   CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "20"});
  test::SmtpServer smtp;
  World<B> world(smtp.url());
  json settings = sim_settings(sim, {{"refresh_token", "revoked-token"}});
  settings.erase("code");
  world.add("stim-amocrm", settings);
  for (int run = 1; run <= 4; ++run) {
    const auto report = world.sync_now(store::RunTrigger::schedule);
    CHECK(report.status == store::RunStatus::failed);
    REQUIRE(report.error);
    CHECK(report.error->code == CRMSYNC_E_UNAUTHENTICATED);
    CHECK(report.error->message.find("amoCRM refused the refresh token") != std::string::npos);
    CHECK(report.error_type == "AuthenticationError");
    CHECK(report.consecutive_failures == run);
    CHECK(smtp.messages().size() == (run >= 3 ? 1u : 0u));
    world.now_ms += 300'000;
  }
  CHECK(sim_count(sim, "oauth") == 4);  // one refused attempt per run, never a loop
  CHECK(sim_count(sim, "leads") == 0);
  CHECK(world.store->list_alerts("stim-amocrm").value().front().subject ==
        "Ошибка синхронизации с AMO CRM - Стим Центр");
}

TEST_CASE_TEMPLATE("engine: a won lead delivered by webhook and by sync is stored once", B,
                   CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "30", "--new-per-hour", "0"});
  World<B> world;
  world.add("stim-amocrm", sim_settings(sim));
  const json created = sim.admin("POST", "records", {{"provider", "amocrm"}, {"count", 1}});
  const std::string id = created["ids"][0].dump();
  test::LoyaltyReceiver receiver;  // any HTTP endpoint will do: the payload comes back to the test
  const json payload = sim.admin(
      "POST", "webhook",
      {{"provider", "amocrm"}, {"url", receiver.url()}, {"record_ids", created["ids"]}})["payload"];
  plugin_host::WebhookRequest request;
  request.content_type = payload["content_type"];
  request.body = payload["body"];
  const auto received = world.engine->ingest_webhook("stim-amocrm", request).value();
  CHECK(received.inserted == 1);
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id = 'AMOCRM-" + id + "'") ==
        1);
  const auto polled = world.sync_now(store::RunTrigger::schedule);
  REQUIRE(polled.status == store::RunStatus::success);
  CHECK(polled.totals.duplicates >= 1);
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id = 'AMOCRM-" + id + "'") ==
        1);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") ==
        world.count("SELECT COUNT(DISTINCT external_id) FROM transactions"));

  // A body that is not a form is refused as a whole; nothing is stored.
  request.content_type = "application/json";
  request.body = "{}";
  CHECK(world.engine->ingest_webhook("stim-amocrm", request).error().code ==
        CRMSYNC_E_INVALID_INPUT);
}
