// Tests of crmsim: the real binary on a free port (YCLIENTS endpoints, paging, auth, faults,
// clock, webhooks, loyalty) and its parsers (fault flags, times).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "faults.h"
#include "sim.h"
#include "sim_process.h"

#include <set>

using crmsync::http::Client;
using crmsync::http::Request;
using crmsync::sim::testing::SimProcess;
using nlohmann::json;

namespace {

// A YCLIENTS-authorised GET against the simulator.
struct Yclients {
  SimProcess& sim;
  std::unique_ptr<Client> client = make_client();

  // No retries: the tests look at every answer the simulator gives.
  static std::unique_ptr<Client> make_client() {
    crmsync::http::ClientOptions options;
    options.retry.max_attempts = 1;
    return Client::create(options).value();
  }

  // A GET whose 5xx/429 come back as the client's errors (info gets Retry-After).
  crmsync::Result<crmsync::http::Response> try_get(const std::string& path,
                                                   crmsync::http::SendInfo* info = nullptr) {
    Request request;
    request.url = sim.url("/yclients/api/v1" + path);
    request.headers = {{"Accept", "application/vnd.yclients.v2+json"},
                       {"Authorization", "Bearer partner-secret, User user-secret"}};
    return client->send(request, {}, info);
  }
  crmsync::http::Response get(const std::string& path, bool with_user = true) {
    Request request;
    request.url = sim.url("/yclients/api/v1" + path);
    request.headers = {{"Accept", "application/vnd.yclients.v2+json"},
                       {"Authorization", with_user ? "Bearer partner-secret, User user-secret"
                                                   : "Bearer partner-secret"}};
    auto response = client->send(request);
    REQUIRE(response.ok());
    return response.value();
  }
  crmsync::http::Response post(const std::string& path, const json& body) {
    Request request;
    request.method = "POST";
    request.url = sim.url("/yclients/api/v1" + path);
    request.headers = {{"Accept", "application/vnd.yclients.v2+json"},
                       {"Content-Type", "application/json"},
                       {"Authorization", "Bearer partner-secret, User user-secret"}};
    request.body = body.dump();
    auto response = client->send(request);
    REQUIRE(response.ok());
    return response.value();
  }
};

}  // namespace

TEST_CASE("crmsim serves a YCLIENTS company and pages of records with meta") {
  SimProcess sim({"--records", "120", "--companies", "2"});
  Yclients y{sim};

  auto company = y.get("/company/4564", false);
  CHECK(company.status == 200);
  auto body = json::parse(company.body);
  CHECK(body["success"] == true);
  CHECK(body["data"]["title"] == "Миндаль");

  std::set<int64_t> ids;
  for (int page = 1; page <= 3; ++page) {
    auto r = y.get("/records/4564?page=" + std::to_string(page) + "&count=50");
    REQUIRE(r.status == 200);
    auto j = json::parse(r.body);
    CHECK(j["meta"]["page"] == page);
    CHECK(j["meta"]["total_count"] == 120);
    CHECK(j["data"].size() == (page < 3 ? 50u : 20u));
    for (const auto& record : j["data"]) {
      CHECK(record["company_id"] == 4564);
      ids.insert(record["id"].get<int64_t>());
    }
  }
  CHECK(ids.size() == 120);  // pages do not overlap
}

TEST_CASE("crmsim YCLIENTS records carry the fixtures' quirks") {
  SimProcess sim({"--records", "300", "--companies", "1"});
  Yclients y{sim};
  auto j = json::parse(y.get("/records/4564?count=200").body);
  bool null_client = false, plus_phone = false, bare_phone = false, number_phone = false;
  bool bool_deleted = false, int_deleted = false, no_show = false, unpaid = false, paid = false;
  for (const auto& r : j["data"]) {
    if (r["client"].is_null()) null_client = true;
    if (!r["client"].is_null()) {
      const auto& phone = r["client"]["phone"];
      if (phone.is_number()) number_phone = true;
      if (phone.is_string() && phone.get<std::string>().starts_with("+7")) plus_phone = true;
      if (phone.is_string() && phone.get<std::string>().starts_with("79")) bare_phone = true;
    }
    (r["deleted"].is_boolean() ? bool_deleted : int_deleted) = true;
    if (r["attendance"] == -1) no_show = true;
    if (r["paid_full"] == 0) unpaid = true;
    if (r["paid_full"] == 1 && r["attendance"] == 1) paid = true;
    CHECK(r["visit_id"].is_string());
    CHECK(r["datetime"].get<std::string>().ends_with("+03:00"));
    CHECK(r["create_date"].get<std::string>().ends_with("+0300"));
    CHECK(r["date"].get<std::string>().size() == 19);
    CHECK(r["services"].is_array());
  }
  CHECK(null_client);
  CHECK(plus_phone);
  CHECK(bare_phone);
  CHECK(number_phone);
  CHECK(bool_deleted);
  CHECK(int_deleted);
  CHECK(no_show);
  CHECK(unpaid);
  CHECK(paid);
}

TEST_CASE("crmsim YCLIENTS checks auth and the Accept header") {
  SimProcess sim;
  Yclients y{sim};
  auto no_user = y.get("/records/4564", false);
  CHECK(no_user.status == 401);
  auto error = json::parse(no_user.body);
  CHECK(error["success"] == false);
  CHECK(error["data"].is_null());
  CHECK(error["meta"]["message"].is_string());

  Request bare;
  bare.url = sim.url("/yclients/api/v1/company/4564");
  bare.headers = {{"Authorization", "Bearer partner-secret"}};
  CHECK(y.client->send(bare)->status == 400);

  auto login = y.post("/auth", {{"login", "admin@mindal.example"}, {"password", "password"}});
  CHECK(login.status == 200);
  CHECK(json::parse(login.body)["data"]["user_token"] == "user-secret");
  CHECK(y.post("/auth", {{"login", "admin@mindal.example"}, {"password", "nope"}}).status == 401);
  CHECK(y.get("/records/4564?page=0").status == 400);
  CHECK(y.get("/records/999").status == 404);
  CHECK(y.get("/records/4564?changed_after=yesterday").status == 400);
}

TEST_CASE("crmsim injects faults for the next N requests, per endpoint") {
  SimProcess sim({"--records", "10", "--fault", "yclients/records:http_500,count=1"});
  Yclients y{sim};
  CHECK(y.get("/company/4564", false).status == 200);  // another endpoint: untouched
  auto failed = y.try_get("/records/4564");
  REQUIRE(!failed.ok());
  CHECK(failed.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(failed.error().message.find("HTTP 500") != std::string::npos);
  CHECK(y.get("/records/4564").status == 200);

  sim.admin("POST", "faults",
            {{"provider", "yclients"},
             {"endpoint", "records"},
             {"kind", "http_429"},
             {"count", 1},
             {"retry_after", 7}});
  crmsync::http::SendInfo info;
  auto limited = y.try_get("/records/4564", &info);
  REQUIRE(!limited.ok());
  CHECK(limited.error().code == CRMSYNC_E_RATE_LIMITED);
  CHECK(info.retry_after == std::chrono::seconds(7));

  sim.admin("POST", "faults", {{"endpoint", "records"}, {"kind", "empty_page"}, {"count", 1}});
  auto empty = json::parse(y.get("/records/4564").body);
  CHECK(empty["data"].empty());
  CHECK(empty["meta"]["total_count"] == 10);

  sim.admin("POST", "faults", {{"kind", "truncated"}, {"count", 1}});
  CHECK(json::parse(y.get("/records/4564").body, nullptr, false).is_discarded());

  sim.admin("POST", "faults", {{"kind", "expired_token"}, {"count", 1}});
  CHECK(y.get("/records/4564").status == 401);

  auto counters = sim.admin("GET", "counters");
  CHECK(counters["providers"]["yclients"]["endpoints"]["records"] == 6);
  CHECK(counters["providers"]["yclients"]["statuses"]["500"] == 1);
  CHECK(sim.admin("GET", "faults").empty());
}

TEST_CASE("crmsim repeats a page on request") {
  SimProcess sim({"--records", "30"});
  Yclients y{sim};
  auto first = json::parse(y.get("/records/4564?page=1&count=10").body);
  sim.admin("POST", "faults", {{"kind", "repeat_page"}, {"count", 1}});
  auto second = json::parse(y.get("/records/4564?page=2&count=10").body);
  CHECK(second["data"] == first["data"]);
}

TEST_CASE("crmsim creates records as the simulated clock advances") {
  SimProcess sim({"--records", "5", "--companies", "1", "--new-per-hour", "6"});
  Yclients y{sim};
  CHECK(json::parse(y.get("/records/4564").body)["meta"]["total_count"] == 5);
  sim.admin("POST", "clock/advance", {{"seconds", 3600}});
  CHECK(json::parse(y.get("/records/4564").body)["meta"]["total_count"] == 11);
  // Only the new ones changed after the start.
  auto fresh = json::parse(y.get("/records/4564?changed_after=2025-11-17T12:00:01Z").body);
  CHECK(fresh["meta"]["total_count"] == 6);
  auto added = sim.admin("POST", "records", {{"provider", "yclients"}, {"count", 2}});
  CHECK(added["ids"].size() == 2);
  CHECK(json::parse(y.get("/records/4564").body)["meta"]["total_count"] == 13);
  // The same seed gives the same data.
  SimProcess twin({"--records", "5", "--companies", "1"});
  Yclients y2{twin};
  auto a = json::parse(y2.get("/records/4564").body)["data"];
  auto b = json::parse(y.get("/records/4564?count=5").body)["data"];
  CHECK(a == b);
}

TEST_CASE("crmsim YCLIENTS hooks settings and loyalty cards") {
  SimProcess sim({"--records", "30"});
  Yclients y{sim};
  auto hooks = json::parse(y.get("/hooks_settings/4564").body);
  CHECK(hooks["data"]["urls"].empty());
  CHECK(hooks["data"].contains("finances_operation"));
  auto set =
      y.post("/hooks_settings/4564",
             {{"urls", {"http://127.0.0.1:1/webhooks/yclients/1"}}, {"active", 1}, {"record", 1}});
  CHECK(set.status == 200);
  CHECK(json::parse(y.get("/hooks_settings/4564").body)["data"]["active"] == 1);
  CHECK(y.post("/hooks_settings/4564", {{"nonsense", 1}}).status == 422);

  auto state = sim.admin("GET", "state?provider=yclients");
  REQUIRE(!state["cards"].empty());
  const auto card = state["cards"][0];
  const double balance = card["balance"];
  auto cards = json::parse(
      y.get("/loyalty/cards/+" + card["phone"].get<std::string>() + "/145000/4564").body);
  REQUIRE(cards["data"].size() >= 1);
  CHECK(cards["data"][0]["number"] == card["number"]);

  const std::string op = "/company/4564/loyalty/cards/" +
                         std::to_string(card["id"].get<int64_t>()) + "/manual_transaction";
  auto accrued = y.post(op, {{"amount", 150.5}, {"title", "crmsync bonus"}});
  CHECK(accrued.status == 200);
  CHECK(json::parse(accrued.body)["data"]["balance"] == doctest::Approx(balance + 150.5));
  CHECK(y.post(op, {{"amount", -1e9}}).status == 422);
  CHECK(y.post(op, {{"title", "no amount"}}).status == 422);
  CHECK(y.post(op, {{"amount", 1}, {"title", 5}}).status == 400);  // wrong type: an error, no crash
  CHECK(y.get("/company/4564", false).status == 200);
}

TEST_CASE("crmsim posts a YCLIENTS webhook to a given URL") {
  SimProcess receiver;  // any HTTP server will do: the webhook lands on its records endpoint
  SimProcess sim({"--records", "3"});
  auto single = sim.admin("POST", "webhook",
                          {{"provider", "yclients"},
                           {"url", receiver.url("/yclients/api/v1/records/4564")},
                           {"company_id", 4564},
                           {"status", "create"}});
  CHECK(single["status"] == 404);  // the receiver has no POST route there, but the POST arrived
  CHECK(receiver.admin("GET", "counters")["providers"]["yclients"]["requests"] == 1);
  CHECK(single["payload"]["resource"] == "record");
  CHECK(single["payload"]["company_id"] == 4564);
  CHECK(single["payload"]["data"]["id"] == single["payload"]["resource_id"]);
  auto batch = sim.admin("POST", "webhook",
                         {{"provider", "yclients"}, {"url", receiver.url("/x")}, {"count", 2}});
  CHECK(batch["payload"].is_array());
  CHECK(batch["payload"].size() == 2);
  CHECK(sim.admin("GET", "counters")["webhooks_sent"] == 2);
  CHECK_THROWS(sim.admin("POST", "webhook", {{"provider", "nope"}, {"url", "http://x/"}}));
}

TEST_CASE("crmsim rejects bad fault flags and bad admin input with clear errors") {
  using crmsync::sim::fault_from_flag;
  CHECK(fault_from_flag("yclients/records:http_429,count=2,retry_after=3").ok());
  auto unknown = fault_from_flag("yclients/records:meltdown");
  REQUIRE(!unknown.ok());
  CHECK(unknown.error().message.find("unknown fault kind") != std::string::npos);
  CHECK(!fault_from_flag("records:http_500").ok());
  CHECK(!fault_from_flag("yclients/records:http_500,count=x").ok());
  CHECK(!fault_from_flag("yclients/records:http_500,probability=2").ok());
  CHECK(!fault_from_flag("yclients/records:http_500,count").ok());

  SimProcess sim;
  CHECK_THROWS(sim.admin("POST", "faults", {{"kind", "nope"}}));
  CHECK_THROWS(sim.admin("POST", "clock/advance", {{"seconds", -5}}));
  CHECK_THROWS(sim.admin("GET", "nothing-here"));
  CHECK_THROWS(sim.admin("POST", "records", {{"provider", "yclients"}, {"count", "many"}}));
  CHECK(sim.admin("GET", "health")["ok"] == true);
}

TEST_CASE("crmsim time parsing accepts the providers' formats") {
  using crmsync::sim::parse_time;
  const auto utc = parse_time("2019-01-17T03:30:00Z", 0);
  REQUIRE(utc);
  CHECK(parse_time("2019-01-17T12:30:00+09:00", 0) == utc);
  CHECK(parse_time("2019-01-17T12:30:00+0900", 0) == utc);
  CHECK(parse_time("2019-01-17 06:30:00", 3) == utc);
  CHECK(parse_time("2019-01-17T06:30:00.000+03:00", 0) == utc);
  CHECK(!parse_time("2019-02-30", 0));
  CHECK(!parse_time("17.01.2019", 0));
  CHECK(!parse_time("2019-01-17T25:00:00", 0));
}
