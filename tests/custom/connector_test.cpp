// The custom connector against crmsim's generic CRM over loopback, through a PluginHost instance
// whose host services send with the host's HTTP client: every authentication mode, every
// pagination mode, the incremental cursor, OAuth2 token rotation, XML with XPath, the sandbox's
// map_response, bonus write-back, connection tests and the errors an admin sees.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "custom_mapping.h"
#include "plugin_host/plugin_host.h"
#include "sim_process.h"
#include "support/connector_harness.h"

using crmsync::sim::testing::SimProcess;
using crmsync::test::Collected;
using crmsync::test::full_pass;
using crmsync::test::HarnessHostServices;
using crmsync::test::LoadedConnector;
using nlohmann::json;

namespace {

// The records selector of each paging view of the generic CRM's JSON.
std::string records_of(const std::string& paging) {
  if (paging == "page") return "$.data[*]";
  if (paging == "offset") return "$.items";
  if (paging == "cursor") return "$.orders[*]";
  if (paging == "next_link") return "$.results[*]";
  return "$";
}

// Settings for the generic CRM's /api/<auth>/<paging>/<format> endpoint, JSON mapping.
json settings_for(const SimProcess& sim, const std::string& auth, const std::string& paging) {
  json settings = {{"name", "Orders API"},
                   {"request", {{"url", sim.url("/generic/api/" + auth + "/" + paging + "/json")}}},
                   {"records", records_of(paging)},
                   {"mapping",
                    {{"external_id", "$.id"},
                     {"amount", "$.total"},
                     {"occurred_at", "$.created_at"},
                     {"customer_phone", "$.client.phone"},
                     {"filter", {{"source", "$.status"}, {"equals", "paid"}}}}}};
  if (auth == "bearer") {
    settings["auth"] = {{"type", "bearer"}};
    settings["token"] = "generic-token";
  } else if (auth == "basic") {
    settings["auth"] = {{"type", "basic"}, {"username", "sync"}};
    settings["password"] = "generic-password";
  } else if (auth == "api_key") {
    settings["auth"] = {{"type", "api_key"}, {"in", "header"}, {"name", "X-Api-Key"}};
    settings["api_key"] = "generic-key";
  } else if (auth == "oauth2") {
    settings["auth"] = {{"type", "oauth2"},
                        {"token_url", sim.url("/generic/oauth/token")},
                        {"client_id", "crmsync"}};
    settings["client_secret"] = "generic-client-secret";
  }
  return settings;
}

// The ids of the simulator's paid orders, as the host stores them.
std::set<std::string> paid_ids(SimProcess& sim) {
  std::set<std::string> ids;
  const json state = sim.admin("GET", "state?provider=generic");
  for (const json& order : state["orders"]) {
    if (order["status"] == "paid") ids.insert("TEST-" + std::to_string(order["id"].get<int>()));
  }
  return ids;
}

// Sales as a set, checking none came twice.
std::set<std::string> unique_sales(const Collected& collected) {
  std::set<std::string> ids(collected.sales.begin(), collected.sales.end());
  CHECK(ids.size() == collected.sales.size());
  return ids;
}

std::string open_error(LoadedConnector& loaded, HarnessHostServices& services,
                       const json& settings) {
  auto instance = loaded.host.open_instance("custom", "custom-1", settings.dump(), "Europe/Moscow",
                                            "RUB", services);
  REQUIRE_FALSE(instance.ok());
  CHECK(instance.error().code == CRMSYNC_E_INVALID_CONFIG);
  // The host prefixes the connector's messages with "<library>: open: "; the schema's own
  // messages have no code.
  const std::string& message = instance.error().message;
  const size_t at = message.find("INVALID_CONFIG: ");
  return at == std::string::npos ? message : message.substr(at);
}

}  // namespace

TEST_CASE("every authentication mode reads the orders, and wrong credentials are refused") {
  SimProcess sim({"--records", "12"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  const auto expected = paid_ids(sim);
  REQUIRE_FALSE(expected.empty());
  SUBCASE("none, bearer, basic, api key in a header, oauth2 client credentials") {
    for (const std::string auth : {"none", "bearer", "basic", "api_key", "oauth2"}) {
      CAPTURE(auth);
      HarnessHostServices services;
      auto instance = loaded.open(services, settings_for(sim, auth, "none").dump());
      Collected collected = full_pass(*instance, "");
      CHECK(unique_sales(collected) == expected);
      CHECK(collected.objects() == 12);
      CHECK(collected.failed.empty());
    }
  }
  SUBCASE("api key in the query") {
    HarnessHostServices services;
    json settings = settings_for(sim, "api_key", "none");
    settings["auth"]["in"] = "query";
    settings["auth"]["name"] = "api_key";
    Collected collected = full_pass(*loaded.open(services, settings.dump()), "");
    CHECK(unique_sales(collected) == expected);
  }
  SUBCASE("wrong secrets are UNAUTHENTICATED with what to check") {
    for (const auto& [auth, secret] : std::vector<std::pair<std::string, std::string>>{
             {"bearer", "token"}, {"basic", "password"}, {"api_key", "api_key"}}) {
      CAPTURE(auth);
      HarnessHostServices services;
      json settings = settings_for(sim, auth, "none");
      settings[secret] = "wrong";
      Collected collected;
      auto fetched = loaded.open(services, settings.dump())->fetch("", collected);
      REQUIRE_FALSE(fetched.ok());
      CHECK(fetched.error().code == CRMSYNC_E_UNAUTHENTICATED);
      CHECK(fetched.error().message ==
            "UNAUTHENTICATED: Orders API refused the credentials (HTTP 401): check the auth "
            "settings and secrets of the integration");
    }
    HarnessHostServices services;
    json settings = settings_for(sim, "oauth2", "none");
    settings["client_secret"] = "wrong";
    Collected collected;
    auto fetched = loaded.open(services, settings.dump())->fetch("", collected);
    REQUIRE_FALSE(fetched.ok());
    CHECK(fetched.error().message ==
          "UNAUTHENTICATED: Orders API refused the OAuth2 client credentials (HTTP 401): check "
          "auth.client_id and client_secret");
  }
}

TEST_CASE("every pagination mode reads every order exactly once, one page per fetch") {
  SimProcess sim({"--records", "23"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  const auto expected = paid_ids(sim);
  struct Mode {
    std::string paging;
    json pagination;
  };
  const std::vector<Mode> modes = {
      {"page", {{"type", "page"}, {"size_param", "per_page"}, {"size", 5}}},
      {"offset", {{"type", "offset"}, {"param", "offset"}, {"size_param", "limit"}, {"size", 5}}},
      {"cursor",
       {{"type", "cursor"}, {"next", "$.next_cursor"}, {"size_param", "limit"}, {"size", 5}}},
      {"next_link",
       {{"type", "next_link"}, {"next", "$.links.next"}, {"size_param", "per_page"}, {"size", 5}}},
  };
  for (const Mode& mode : modes) {
    CAPTURE(mode.paging);
    HarnessHostServices services;
    json settings = settings_for(sim, "bearer", mode.paging);
    settings["pagination"] = mode.pagination;
    Collected collected = full_pass(*loaded.open(services, settings.dump()), "");
    CHECK(unique_sales(collected) == expected);
    CHECK(collected.objects() == 23);
    CHECK(collected.checkpoints == 5);  // 5+5+5+5+3
    CHECK_FALSE(collected.more);
  }
}

TEST_CASE("pagination.max_pages ends a pass and says so") {
  SimProcess sim({"--records", "23"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  HarnessHostServices services;
  json settings = settings_for(sim, "none", "page");
  settings["pagination"] = {
      {"type", "page"}, {"size_param", "per_page"}, {"size", 5}, {"max_pages", 2}};
  Collected collected = full_pass(*loaded.open(services, settings.dump()), "");
  CHECK(collected.objects() == 10);
  CHECK(collected.checkpoints == 2);
  CHECK(services.logged("Stopped after 2 pages (pagination.max_pages)"));
}

TEST_CASE("the cursor fills {{ cursor }} so the next pass reads only newer orders") {
  SimProcess sim({"--records", "30", "--new-per-hour", "0"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  HarnessHostServices services;
  json settings = settings_for(sim, "none", "page");
  settings["request"]["query"] = {{"updated_after", "{{ cursor }}"}, {"since", "{{ since }}"}};
  settings["pagination"] = {{"type", "page"}, {"size_param", "per_page"}, {"size", 10}};
  settings["cursor"] = {{"source", "$.updated_at"}, {"initial", "2020-01-01T00:00:00Z"}};
  auto instance = loaded.open(services, settings.dump());
  Collected first = full_pass(*instance, "");
  CHECK(first.objects() == 30);
  const json cursor = json::parse(first.cursor);
  CAPTURE(first.cursor);
  CHECK_FALSE(cursor.contains("pass"));
  // The newest updated_at of the orders read, as the CRM wrote it.
  CHECK(cursor["cursor"].get<std::string>().ends_with("+03:00"));
  CHECK(cursor["cursor"].get<std::string>() > "2025-11-1");

  sim.admin("POST", "clock/advance", {{"seconds", 3600}});
  const json added = sim.admin("POST", "records", {{"provider", "generic"}, {"count", 3}});
  Collected second = full_pass(*instance, first.cursor);
  CHECK(second.objects() == 3);
  std::set<std::string> new_ids;
  for (const json& id : added["ids"]) new_ids.insert("TEST-" + std::to_string(id.get<int>()));
  std::set<std::string> seen(second.sales.begin(), second.sales.end());
  for (const std::string& skip : second.skipped) {
    seen.insert("TEST-" + skip.substr(0, skip.find(':')));
  }
  CHECK(seen == new_ids);
  // {{ since }} is when the previous complete pass started, in UTC.
  const json requests = sim.admin("GET", "requests?provider=generic&limit=1");
  const std::string since = cursor["since"].get<std::string>();
  CHECK(since.ends_with("Z"));
  CHECK(requests[0]["target"].get<std::string>().find(
            "since=" + crmsync::custom::url_encode(since)) != std::string::npos);
}

TEST_CASE("OAuth2 refresh tokens rotate through the durable state; a 401 renews the token once") {
  SimProcess sim({"--records", "6"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  HarnessHostServices services;
  json settings = settings_for(sim, "oauth2", "none");
  settings["auth"]["grant"] = "refresh_token";
  settings["refresh_token"] = "generic-refresh-1";
  {
    Collected collected = full_pass(*loaded.open(services, settings.dump()), "");
    CHECK(collected.objects() == 6);
  }
  json state = sim.admin("GET", "state?provider=generic");
  CHECK(state["refresh_token"] != "generic-refresh-1");
  CHECK(state["tokens_issued"] == 1);
  CHECK(services.logged("OAuth2 access token renewed; the new refresh token is stored"));

  // A new instance (a later run) uses the stored tokens; the spent setting is not sent again.
  auto later = loaded.open(services, settings.dump());
  CHECK(full_pass(*later, "").objects() == 6);
  CHECK(sim.admin("GET", "state?provider=generic")["tokens_issued"] == 1);

  // The CRM expires the access token early: the 401 renews it with the stored refresh token.
  sim.admin("POST", "clock/advance", {{"seconds", 7200}});
  CHECK(full_pass(*later, "").objects() >= 6);
  CHECK(sim.admin("GET", "state?provider=generic")["tokens_issued"] == 2);
  CHECK(services.logged("Orders API refused the access token; renewing it"));

  // Without the state, the spent refresh token is refused with what to do.
  HarnessHostServices fresh;
  Collected collected;
  auto fetched = loaded.open(fresh, settings.dump())->fetch("", collected);
  REQUIRE_FALSE(fetched.ok());
  CHECK(fetched.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(fetched.error().message ==
        "UNAUTHENTICATED: Orders API refused the OAuth2 refresh token (HTTP 400): enter a new "
        "refresh_token in the integration's settings");
}

TEST_CASE("bad settings are INVALID_CONFIG naming the field") {
  SimProcess sim({"--records", "3"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  HarnessHostServices services;
  const json good = settings_for(sim, "bearer", "page");

  json bad_path = good;
  bad_path["mapping"]["amount"] = "$.total[";
  CHECK(open_error(loaded, services, bad_path) ==
        "INVALID_CONFIG: mapping.amount: invalid JSONPath $.total[ at position 8: expected a "
        "selector");

  json no_token = good;
  no_token.erase("token");
  CHECK(open_error(loaded, services, no_token) ==
        "INVALID_CONFIG: token: the secret setting is required for bearer auth");

  json cursor_without_next = good;
  cursor_without_next["pagination"] = {{"type", "cursor"}};
  CHECK(open_error(loaded, services, cursor_without_next) ==
        "INVALID_CONFIG: pagination.next: is required for cursor pagination");

  json unknown_field = good;
  unknown_field["mapping"]["price"] = "$.total";
  CHECK(open_error(loaded, services, unknown_field)
            .ends_with("config: field `mapping.price` is not a known setting"));
  // Settings that reach the connector without the host's schema check get its own message.
  auto parsed = crmsync::custom::parse_config(unknown_field.dump());
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().message.starts_with("mapping.price: unknown field (known: external_id"));

  json xpath_on_json = good;
  xpath_on_json["mapping"]["amount"] = {{"xpath", "/order/total"}};
  CHECK(open_error(loaded, services, xpath_on_json) ==
        "INVALID_CONFIG: mapping.amount: an XPath reads XML; set format to xml");

  json bad_template = good;
  bad_template["mapping"]["description"] = "{{ number | titlecase }}";
  CHECK(open_error(loaded, services, bad_template)
            .starts_with("INVALID_CONFIG: mapping.description: invalid template {{ number | "
                         "titlecase }} at position 12: unknown filter 'titlecase'"));

  json cursor_unmapped = good;
  cursor_unmapped["cursor"] = {{"field", "customer_ref"}};
  CHECK(open_error(loaded, services, cursor_unmapped) ==
        "INVALID_CONFIG: cursor.field: must name a mapped field (customer_ref is not mapped)");

  json cursor_both = good;
  cursor_both["cursor"] = {{"field", "occurred_at"}, {"source", "$.updated_at"}};
  CHECK(open_error(loaded, services, cursor_both) ==
        "INVALID_CONFIG: cursor: give field or source, not both");

  json no_amount = good;
  no_amount["mapping"].erase("amount");
  CHECK(open_error(loaded, services, no_amount)
            .ends_with(": config: field `mapping.amount` is required"));
}

TEST_CASE("a mapping path that matches nothing fails the record naming field and path") {
  SimProcess sim({"--records", "8"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  const auto expected = paid_ids(sim);
  HarnessHostServices services;
  json settings = settings_for(sim, "none", "none");
  settings["mapping"]["customer_phone"] = "$.client.email";
  Collected collected = full_pass(*loaded.open(services, settings.dump()), "");
  CHECK(collected.sales.empty());
  REQUIRE(collected.failed.size() == expected.size());
  CHECK(collected.failed.front().find(": customer_phone: $.client.email matched nothing") !=
        std::string::npos);
  CHECK(collected.failed.front().find("Record ") != std::string::npos);
  CHECK(collected.skipped.front().find("not a sale: filter $.status gave \"") != std::string::npos);

  settings["mapping"]["customer_phone"] = {{"jsonpath", "$.client.email"}, {"default", ""}};
  Collected defaulted = full_pass(*loaded.open(services, settings.dump()), "");
  CHECK(unique_sales(defaulted) == expected);
  CHECK(defaulted.failed.empty());
}

TEST_CASE("XML: records and fields by XPath; bad XPaths and bodies are clear errors") {
  SimProcess sim({"--records", "9"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  const json state = sim.admin("GET", "state?provider=generic");
  HarnessHostServices services;
  json settings = {
      {"name", "Warehouse CRM"},
      {"request", {{"url", sim.url("/generic/api/basic/cursor/xml")}}},
      {"auth", {{"type", "basic"}, {"username", "sync"}}},
      {"password", "generic-password"},
      {"format", "xml"},
      {"pagination",
       {{"type", "cursor"}, {"next", "/response/next"}, {"size_param", "limit"}, {"size", 4}}},
      {"records", "/response/orders/order"},
      {"mapping",
       {{"external_id", "@id"},
        {"amount", "total"},
        {"occurred_at", "created"},
        {"customer_phone", "client/phone"},
        {"filter", {{"source", "status"}, {"equals", "paid"}}}}}};
  Collected collected = full_pass(*loaded.open(services, settings.dump()), "");
  CHECK(unique_sales(collected) == paid_ids(sim));
  CHECK(collected.checkpoints == 3);
  for (const auto& t : collected.transactions) {
    const int id = std::stoi(t.external_id.substr(5));
    for (const json& order : state["orders"]) {
      if (order["id"] != id) continue;
      CHECK(t.amount_minor == order["amount_minor"].get<int64_t>());
      CHECK(t.phone_e164 == order["phone"].get<std::string>());
    }
  }

  json bad_xpath = settings;
  bad_xpath["mapping"]["amount"] = "total[";
  CHECK(open_error(loaded, services, bad_xpath)
            .starts_with("INVALID_CONFIG: mapping.amount: invalid XPath total[ at position "));

  json empty_xpath = settings;
  empty_xpath["mapping"]["customer_phone"] = "client/email";
  Collected failed = full_pass(*loaded.open(services, empty_xpath.dump()), "");
  REQUIRE_FALSE(failed.failed.empty());
  CHECK(failed.failed.front().find(": customer_phone: client/email matched nothing") !=
        std::string::npos);

  json not_xml = settings;
  not_xml["request"]["url"] = sim.url("/generic/api/basic/none/json");
  not_xml["pagination"] = {{"type", "none"}};
  Collected none;
  auto fetched = loaded.open(services, not_xml.dump())->fetch("", none);
  REQUIRE_FALSE(fetched.ok());
  CHECK(
      fetched.error().message.starts_with("UNAVAILABLE: Warehouse CRM: the response is not XML: "));
}

TEST_CASE("the connection test makes one request and names the CRM") {
  SimProcess sim({"--records", "3"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  HarnessHostServices services;
  json settings = settings_for(sim, "bearer", "page");
  auto ok = loaded.open(services, settings.dump())->health_check();
  REQUIRE(ok.ok());
  CHECK(*ok == "✅ Connected to Orders API");

  settings.erase("name");
  auto by_host = loaded.open(services, settings.dump())->health_check();
  REQUIRE(by_host.ok());
  CHECK(*by_host == "✅ Connected to 127.0.0.1:" + std::to_string(sim.port()));

  settings["name"] = "Orders API";
  settings["token"] = "wrong";
  auto refused = loaded.open(services, settings.dump())->health_check();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(refused.error().message ==
        "UNAUTHENTICATED: ❌ Orders API refused the credentials (HTTP 401): check the auth "
        "settings and secrets of the integration");

  settings["token"] = "generic-token";
  settings["request"]["url"] = sim.url("/generic/api/bearer/nowhere/json");
  auto missing = loaded.open(services, settings.dump())->health_check();
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.starts_with(
      "INVALID_CONFIG: ❌ request.url: Orders API refused the request (HTTP 404): "));
}

TEST_CASE("map_response maps a sample body offline, as the sandbox shows it") {
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  HarnessHostServices services;
  const json settings = {{"request", {{"url", "http://127.0.0.1:9/unused"}}},
                         {"mapping",
                          {{"transaction_id", "response.data.id"},
                           {"amount", "response.data.total"},
                           {"customer_phone", "response.data.client.phone"},
                           {"occurred_at", "{{ response.data.created }}"}}}};
  auto instance = loaded.open(services, settings.dump());
  Collected collected;
  const std::string sample = R"({"data": {"id": 67890, "total": 1500.5, "created": 1763380800,
                                  "client": {"phone": "8 912 345-67-89"}}})";
  REQUIRE(instance->map_response(sample, collected).ok());
  REQUIRE(collected.transactions.size() == 1);
  const auto& t = collected.transactions.front();
  CHECK(t.external_id == "TEST-67890");
  CHECK(t.amount_minor == 150050);
  CHECK(t.phone_e164 == "+79123456789");
  CHECK(t.occurred_at.time_since_epoch() == std::chrono::milliseconds(1'763'380'800'000));
  CHECK(collected.checkpoints == 0);

  Collected broken;
  REQUIRE(instance->map_response(R"({"data": {"id": 1}})", broken).ok());
  REQUIRE(broken.failed.size() == 1);
  CHECK(broken.failed.front() == "1: Record 1: amount: {{ response.data.total }} matched nothing");

  // A value that cannot be an amount names the field, the path and the value.
  Collected unreadable;
  REQUIRE(instance
              ->map_response(R"({"data": {"id": 2, "total": "twelve", "created": 1763380800,
                                           "client": {"phone": "+79123456789"}}})",
                             unreadable)
              .ok());
  REQUIRE(unreadable.failed.size() == 1);
  CHECK(unreadable.failed.front() ==
        "2: Record 1: amount: {{ response.data.total }} gave \"twelve\", which is not an amount");

  Collected not_json;
  auto refused = instance->map_response("<html>", not_json);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == "INVALID_INPUT: the response is not JSON");
}

TEST_CASE(
    "a hostile sample (deep nesting, a huge array, a 50 MB string) is refused or mapped, fast") {
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  HarnessHostServices services;
  const json settings = {{"request", {{"url", "http://127.0.0.1:9/unused"}}},
                         {"records", "$.data[*]"},
                         {"mapping",
                          {{"external_id", "$.id"},
                           {"amount", "$.total"},
                           {"occurred_at", "$.created_at"},
                           {"customer_phone", "{{ client.phone }}"},
                           {"description", "{{ response.shop }}"}}}};
  auto instance = loaded.open(services, settings.dump());

  // 100,000 levels of arrays: refused before anything recurses over them.
  Collected deep;
  const std::string nested =
      R"({"data": )" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  auto refused = instance->map_response(nested, deep);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == "INVALID_INPUT: the response nests deeper than 256 levels");
  CHECK(deep.objects() == 0);
  // Brackets inside strings are text, not nesting.
  Collected bracketed;
  REQUIRE(
      instance
          ->map_response(R"({"shop": ")" + std::string(1000, '[') + R"(", "data": []})", bracketed)
          .ok());

  // 50,000 records: each maps once; none copies the whole response (that was quadratic).
  constexpr int kRecords = 50'000;
  json many = {{"shop", "Миндаль"}, {"data", json::array()}};
  for (int i = 1; i <= kRecords; ++i) {
    many["data"].push_back({{"id", i},
                            {"total", "100.00"},
                            {"created_at", "2025-11-17T14:30:00+03:00"},
                            {"client", {{"phone", "+79123456789"}}}});
  }
  Collected huge;
  REQUIRE(instance->map_response(many.dump(), huge).ok());
  CHECK(huge.sales.size() == kRecords);
  CHECK(huge.transactions.back().description == "Миндаль");

  // A 50 MB amount without a digit: the record fails with the value clipped in the message, not
  // copied into it.
  const std::string giant(50u << 20, '7');
  Collected clipped;
  const json one = {{"shop", "Миндаль"},
                    {"data",
                     {{{"id", 1},
                       {"total", std::string(50u << 20, 'x')},
                       {"created_at", "2025-11-17T14:30:00+03:00"},
                       {"client", {{"phone", "+79123456789"}}}}}}};
  REQUIRE(instance->map_response(one.dump(), clipped).ok());
  REQUIRE(clipped.failed.size() == 1);
  INFO(clipped.failed.front().substr(0, 400));
  CHECK(clipped.failed.front().size() < 300);
  CHECK(clipped.failed.front().find("(52428800 bytes), which is not an amount") !=
        std::string::npos);
  // All digits: normalization refuses it as an amount out of range, quickly.
  Collected overflow;
  json digits = one;
  digits["data"][0]["total"] = giant;
  REQUIRE(instance->map_response(digits.dump(), overflow).ok());
  CHECK(overflow.sales.empty());
  REQUIRE(overflow.failed.size() == 1);
  CHECK(overflow.failed.front().size() < 300);
}

TEST_CASE("push_bonus sends the configured request once per idempotency key") {
  SimProcess sim({"--records", "3"});
  LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "custom");
  HarnessHostServices services;
  json settings = settings_for(sim, "bearer", "page");
  settings["push_bonus"] = {{"method", "POST"},
                            {"url", sim.url("/generic/api/bearer/bonuses")},
                            {"headers", {{"Idempotency-Key", "{{ idempotency_key }}"}}},
                            {"body",
                             {{"order", "{{ transaction.external_id }}"},
                              {"phone", "{{ transaction.customer_phone }}"},
                              {"amount", "{{ bonus.amount }}"},
                              {"kind", "{{ bonus.kind }}"}}}};
  auto instance = loaded.open(services, settings.dump());
  crmsync::plugin_host::BonusEvent event;
  event.external_id = "1001";
  event.customer_phone = "+79123456789";
  event.amount_minor = 1505;
  event.currency = "RUB";
  event.occurred_at = "2025-11-17T12:00:00Z";
  REQUIRE(instance->push_bonus(event, "bonus-1").ok());
  REQUIRE(instance->push_bonus(event, "bonus-1").ok());
  // A second instance without the state: the CRM answers 409 for the known key.
  HarnessHostServices other;
  REQUIRE(loaded.open(other, settings.dump())->push_bonus(event, "bonus-1").ok());
  const json bonuses = sim.admin("GET", "state?provider=generic")["bonuses"];
  REQUIRE(bonuses.size() == 1);
  CHECK(bonuses[0] == json{{"order", "1001"},
                           {"phone", "+79123456789"},
                           {"amount", "15.05"},
                           {"kind", "accrued"},
                           {"idempotency_key", "bonus-1"}});

  settings.erase("push_bonus");
  CHECK(loaded.open(services, settings.dump())->push_bonus(event, "bonus-2").ok());
}
