// Tests of the 1С connector: the OData fixture and the spec's HTTP-service sample through the real
// `crmsync parse`, and both modes against the real crmsim over loopback through a PluginHost
// instance whose host services send with the host's HTTP client (paging with $top/$skip, the
// $filter cursor, percent-encoded Cyrillic URLs, counterparty phones read once per key, unposted
// and deletion-marked documents, test connection and refused credentials).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
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

namespace {

const std::string kFixture =
    std::string(CRMSYNC_TEST_DATA_DIR) + "/fixtures/onec/odata-document-realizaciya-list-bp30.json";
const std::string kOdataConfig = R"({"mode":"odata","base_url":"http://1c.example/base"})";
const std::string kServiceConfig = R"({"api_url":"http://1c.example/skinerica"})";

// `crmsync parse --connector 1c` on a file with these settings.
crmsync::test::ParseRun parse(const std::string& file, const std::string& config) {
  TempDir dir;
  return run_parse({"--connector", "1c", "--kind", "response", "--config-json", config, file},
                   dir.path());
}

// `crmsync parse` on a body written by the test.
crmsync::test::ParseRun parse_body(const json& body, const std::string& config) {
  TempDir dir;
  write_file(dir / "body.json", body.dump());
  return run_parse({"--connector", "1c", "--kind", "response", "--config-json", config,
                    (dir / "body.json").string()},
                   dir.path());
}

json fixture() {
  return json::parse(crmsync::test::slurp(kFixture));
}

std::string skipped(const std::string& id, const std::string& reason) {
  return R"({"external_id":"1C-)" + id + R"(","status":"skipped","reason":")" + reason + "\"}";
}
const std::string kRef1 = "8b9660f6-6332-11ec-ad72-000c29b45b09";
const std::string kRef2 = "8b9660f7-6332-11ec-ad72-000c29b45b09";

}  // namespace

TEST_CASE("parse: the OData fixture's documents are unposted, so both are skips") {
  const auto run = parse(kFixture, kOdataConfig);
  CHECK(run.exit_code == 0);
  CHECK(run.lines ==
        std::vector<std::string>{skipped(kRef1, "Not a sale: the document is not posted"),
                                 skipped(kRef2, "Not a sale: the document is not posted")});
}

TEST_CASE(
    "parse: posted fixture documents are sales: СуммаДокумента, local Date, no phone offline") {
  json body = fixture();
  for (auto& document : body["value"]) document["Posted"] = true;
  const auto run = parse_body(body, kOdataConfig);
  CHECK(run.exit_code == 0);
  CHECK(
      run.lines ==
      std::vector<std::string>{
          R"({"external_id":"1C-)" + kRef1 +
              R"(","status":"ok","occurred_at":"2021-12-22T14:22:08Z","amount_minor":15012900,)"
              R"("currency":"RUB","phone_e164":null,"description":"Реализация 0000-000001","is_medical":false})",
          R"({"external_id":"1C-)" + kRef2 +
              R"(","status":"ok","occurred_at":"2021-12-22T14:23:05Z","amount_minor":10855400,)"
              R"("currency":"RUB","phone_e164":null,"description":"Реализация 0000-000002","is_medical":false})"});
}

TEST_CASE("parse: deletion marks, the empty date and the empty reference") {
  json body = fixture();
  body["value"][0]["Posted"] = true;
  body["value"][0]["DeletionMark"] = true;
  body["value"][1]["Posted"] = true;
  body["value"][1]["Date"] = "0001-01-01T00:00:00";
  json no_ref = body["value"][1];
  no_ref["Ref_Key"] = "00000000-0000-0000-0000-000000000000";
  body["value"].push_back(no_ref);
  const auto run = parse_body(body, kOdataConfig);
  CHECK(run.exit_code == 0);
  CHECK(
      run.lines ==
      std::vector<std::string>{
          skipped(kRef1, "Not a sale: the document is marked for deletion"),
          R"({"external_id":"1C-)" + kRef2 +
              R"(","status":"error","reason":"Date is empty or not a date-time: \"0001-01-01T00:00:00\""})",
          R"({"external_id":null,"status":"error","reason":"A 1С document has no Ref_Key"})"});
}

TEST_CASE("parse: the spec's HTTP-service transaction, as a list and as {transactions}") {
  const json tx = {{"id", "1C-12345"},
                   {"date", "2025-11-17T14:30:00"},
                   {"customer_phone", "+79991234567"},
                   {"amount", 10000},
                   {"items", json::array({{{"name", "Процедура"}, {"price", 10000}}})}};
  const std::string line =
      R"({"external_id":"1C-12345","status":"ok","occurred_at":"2025-11-17T11:30:00Z",)"
      R"("amount_minor":1000000,"currency":"RUB","phone_e164":"+79991234567",)"
      R"("description":"Процедура","is_medical":false})";
  for (const json& body :
       {json::array({tx}), json{{"infobase", "Skinerica"}, {"transactions", json::array({tx})}}}) {
    const auto run = parse_body(body, kServiceConfig);
    CHECK(run.exit_code == 0);
    CHECK(run.lines == std::vector<std::string>{line});
  }
}

TEST_CASE("parse: a fractional amount is exact; an unreadable transaction is an error line") {
  const json body = json::array({{{"id", 7},
                                  {"date", "2025-11-17T10:00:00"},
                                  {"amount", 1499.5},
                                  {"customer_phone", nullptr}},
                                 {{"id", 8}, {"date", "2025-11-17T10:00:00"}, {"amount", "много"}},
                                 {{"id", 9}, {"date", "17 ноября"}, {"amount", 1}},
                                 {{"date", "2025-11-17T10:00:00"}, {"amount", 1}}});
  const auto run = parse_body(body, kServiceConfig);
  CHECK(run.exit_code == 0);
  REQUIRE(run.lines.size() == 4);
  CHECK(json::parse(run.lines[0])["amount_minor"] == 149950);
  CHECK(json::parse(run.lines[0])["phone_e164"].is_null());
  CHECK(json::parse(run.lines[1])["status"] == "error");
  CHECK(json::parse(run.lines[1])["reason"] == "Amount is not a number");  // the host's reading
  CHECK(json::parse(run.lines[2])["reason"] == "date is missing or not a date-time: \"17 ноября\"");
  CHECK(run.lines[3] ==
        R"({"external_id":null,"status":"error","reason":"A 1С transaction has no readable id"})");
}

TEST_CASE("parse: bodies that are not answers of the configured mode exit 1 with one message") {
  const std::vector<std::tuple<json, std::string, std::string>> cases = {
      {fixture(), kServiceConfig, "expected a list or {\"transactions\": [...]}"},
      {json::array(), kOdataConfig, "it has no \"value\" list"},
      {json{{"value", "нет"}}, kOdataConfig, "it has no \"value\" list"}};
  for (const auto& [body, config, message] : cases) {
    CAPTURE(config);
    const auto run = parse_body(body, config);
    CHECK(run.exit_code == 1);
    CHECK(run.lines.empty());
    CHECK(run.err.find(message) != std::string::npos);
  }
  TempDir dir;
  write_file(dir / "page.html", "<html>502</html>");
  const auto html = parse((dir / "page.html").string(), kOdataConfig);
  CHECK(html.exit_code == 1);
  CHECK(html.err.find("1С response is not JSON") != std::string::npos);
}

TEST_CASE("parse: settings the schema refuses") {
  for (const std::string& config :
       {std::string(R"({"mode":"odata"})"), std::string(R"({"mode":"soap","api_url":"http://x"})"),
        std::string(R"({"mode":"odata","base_url":"http://x",)"
                    R"("document":"Catalog_Контрагенты"})")}) {
    CAPTURE(config);
    const auto run = parse(kFixture, config);
    CHECK(run.exit_code == 1);
    CHECK(run.lines.empty());
  }
}

// ---------------------------------------------------------------------------------------------
// Against crmsim
// ---------------------------------------------------------------------------------------------

namespace {

using SimHostServices = crmsync::test::HarnessHostServices;

// The plugin host with the built 1С connector loaded.
struct Loaded : crmsync::test::LoadedConnector {
  Loaded() : LoadedConnector(CRMSYNC_PLUGIN_DIR, "1c") {}
};

// Settings for the simulated infobase "skinerica" in a mode, with extra fields.
std::string settings(const SimProcess& sim, const std::string& mode, json extra = json::object()) {
  json s = {{"mode", mode}, {"username", "admin"}, {"password", "password"}};
  s[mode == "odata" ? "base_url" : "api_url"] = sim.url("/onec/skinerica");
  for (auto& [key, value] : extra.items()) s[key] = value;
  return s.dump();
}

// The simulator's first infobase (skinerica).
json infobase(SimProcess& sim) {
  return sim.admin("GET", "state?provider=onec")["infobases"][0];
}

// The documents of the infobase that are sales (posted, not marked for deletion).
std::vector<json> sales_of(const json& base) {
  std::vector<json> out;
  for (const auto& d : base["documents"]) {
    if (d["posted"] == true && d["deleted"] == false) out.push_back(d);
  }
  return out;
}

// Phones by counterparty key (null: none).
std::map<std::string, json> phones_of(const json& base) {
  std::map<std::string, json> out;
  for (const auto& c : base["counterparties"]) out[c["key"]] = c["phone"];
  return out;
}

}  // namespace

TEST_CASE("sim: http_service reads every posted document once; the next sync reads only new ones") {
  SimProcess sim({"--records", "60", "--new-per-hour", "0"});
  Loaded loaded;
  SimHostServices services;
  auto instance =
      loaded.open(services, settings(sim, "http_service", {{"database_id", "skinerica"}}));
  const json base = infobase(sim);
  const auto expected = sales_of(base);
  const auto phones = phones_of(base);
  const auto first = crmsync::test::full_pass(*instance, "", "1C");
  REQUIRE(first.sales.size() == expected.size());
  CHECK(first.failed.empty());
  CHECK(first.checkpoints == 1);
  std::map<std::string, const json*> by_number;
  for (const auto& d : expected) by_number["1C-" + d["number"].dump()] = &d;
  for (const auto& tx : first.transactions) {
    CAPTURE(tx.external_id);
    REQUIRE(by_number.count(tx.external_id) == 1);
    const json& d = *by_number[tx.external_id];
    CHECK(tx.amount_minor == d["amount_minor"].get<int64_t>());
    const json& phone = d["buyer"].is_null() ? json(nullptr) : phones.at(d["buyer"]);
    CHECK(tx.phone_e164 == (phone.is_null() ? "" : phone.get<std::string>()));
  }
  CHECK(json::parse(first.cursor)["since"] == expected.back()["date"]);

  sim.admin("POST", "clock/advance", {{"seconds", 3600}});
  const json added = sim.admin("POST", "records", {{"provider", "onec"}, {"count", 3}});
  const auto second = crmsync::test::full_pass(*instance, first.cursor, "1C");
  std::set<std::string> got(second.sales.begin(), second.sales.end());
  for (const auto& id : added["ids"]) CHECK(got.count("1C-" + id.dump()) == 1);
  // The overlap re-reads the boundary: what is not new was read before (dedup absorbs it).
  std::set<std::string> before(first.sales.begin(), first.sales.end());
  for (const auto& id : second.sales) {
    const bool is_new = std::any_of(added["ids"].begin(), added["ids"].end(),
                                    [&](const json& n) { return id == "1C-" + n.dump(); });
    CHECK(is_new != (before.count(id) == 1));
  }
  const auto requests = sim.admin("GET", "requests?provider=onec");
  const std::string last = requests.back()["target"];
  CHECK(last.find("since=") != std::string::npos);
  CHECK(last.find("database_id=skinerica") != std::string::npos);
}

TEST_CASE("sim: odata pages with $top/$skip, skips unposted and deleted, reads each buyer once") {
  SimProcess sim({"--records", "45", "--new-per-hour", "0", "--unpaid-share", "0.3",
                  "--deleted-share", "0.1"});
  Loaded loaded;
  SimHostServices services;
  auto instance = loaded.open(services, settings(sim, "odata", {{"page_size", 7}}));
  const auto pass = crmsync::test::full_pass(*instance, "", "1C");
  const json base = infobase(sim);
  const auto expected = sales_of(base);
  const auto phones = phones_of(base);
  CHECK(pass.checkpoints == 7);  // 45 documents, 7 a page: 6 full pages and a short one
  CHECK(pass.failed.empty());
  REQUIRE(pass.sales.size() == expected.size());
  CHECK(pass.sales.size() + pass.skipped.size() == 45);
  size_t unposted = 0, deleted = 0;
  for (const auto& d : base["documents"]) {
    if (d["deleted"] == true) {
      ++deleted;
    } else if (d["posted"] == false) {
      ++unposted;
    }
  }
  REQUIRE(unposted > 0);
  REQUIRE(deleted > 0);
  auto count_reason = [&](const std::string& reason) {
    return std::count_if(pass.skipped.begin(), pass.skipped.end(),
                         [&](const std::string& s) { return s.ends_with(reason); });
  };
  CHECK(count_reason("Not a sale: the document is not posted") == static_cast<long>(unposted));
  CHECK(count_reason("Not a sale: the document is marked for deletion") ==
        static_cast<long>(deleted));

  std::set<std::string> buyers;
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& d = expected[i];
    const auto& tx = pass.transactions[i];
    CHECK(tx.external_id == "1C-" + d["ref"].get<std::string>());
    CHECK(tx.amount_minor == d["amount_minor"].get<int64_t>());
    const json& phone = d["buyer"].is_null() ? json(nullptr) : phones.at(d["buyer"]);
    CHECK(tx.phone_e164 == (phone.is_null() ? "" : phone.get<std::string>()));
    if (!d["buyer"].is_null()) buyers.insert(d["buyer"]);
  }
  // Each buyer's counterparty was read once, however many of its sales there were.
  CHECK(infobase(sim)["counterparty_reads"] == buyers.size());
  CHECK(buyers.size() < expected.size());
  CHECK(json::parse(pass.cursor)["since"] == base["documents"].back()["date"]);
}

TEST_CASE("sim: odata URLs carry the Cyrillic entity names percent-encoded, and the $filter") {
  SimProcess sim({"--records", "10", "--new-per-hour", "0"});
  Loaded loaded;
  SimHostServices services;
  auto instance = loaded.open(services, settings(sim, "odata"));
  const auto first = crmsync::test::full_pass(*instance, "", "1C");
  sim.admin("POST", "clock/advance", {{"seconds", 7200}});
  sim.admin("POST", "records", {{"provider", "onec"}, {"count", 2}});
  const auto second = crmsync::test::full_pass(*instance, first.cursor, "1C");
  // Besides the two new ones, the overlap re-reads only what the first pass read.
  std::set<std::string> before(first.sales.begin(), first.sales.end());
  size_t fresh = 0;
  for (const auto& id : second.sales) fresh += before.count(id) == 0 ? 1 : 0;
  CHECK(fresh == 2);
  const std::string document =
      "/onec/skinerica/odata/standard.odata/"
      "Document_%D0%A0%D0%B5%D0%B0%D0%BB%D0%B8%D0%B7%D0%B0%D1%86%D0%B8%D1%8F%D0%A2%D0%BE%D0%B2%D0%"
      "B0%D1%80%D0%BE%D0%B2%D0%A3%D1%81%D0%BB%D1%83%D0%B3?$format=json";
  const std::string counterparty =
      "/onec/skinerica/odata/standard.odata/"
      "Catalog_%D0%9A%D0%BE%D0%BD%D1%82%D1%80%D0%B0%D0%B3%D0%B5%D0%BD%D1%82%D1%8B(guid'";
  size_t documents = 0, counterparties = 0;
  std::string last_document;
  for (const auto& r : sim.admin("GET", "requests?provider=onec")) {
    const std::string target = r["target"];
    CAPTURE(target);
    CHECK(r["status"] == 200);
    if (target.starts_with(document)) {
      ++documents;
      last_document = target;
    }
    if (target.starts_with(counterparty)) ++counterparties;
  }
  CHECK(documents == 2);
  CHECK(counterparties > 0);
  CHECK(last_document.find("$filter=Date%20ge%20datetime%27") != std::string::npos);
  CHECK(last_document.find("$orderby=Date%2CRef_Key") != std::string::npos);
}

TEST_CASE("sim: a counterparty without a phone gives a sale without a customer and a warning") {
  SimProcess sim({"--records", "1", "--new-per-hour", "0"});
  Loaded loaded;
  SimHostServices services;
  auto instance = loaded.open(services, settings(sim, "odata"));
  const auto first = crmsync::test::full_pass(*instance, "", "1C");
  sim.admin("POST", "clock/advance", {{"seconds", 600}});
  const json no_phone =
      sim.admin("POST", "records", {{"provider", "onec"}, {"count", 1}, {"buyer", "no_phone"}});
  const json nobody =
      sim.admin("POST", "records", {{"provider", "onec"}, {"count", 1}, {"buyer", "none"}});
  const auto pass = crmsync::test::full_pass(*instance, first.cursor, "1C");
  const std::set<std::string> fresh = {"1C-" + no_phone["refs"][0].get<std::string>(),
                                       "1C-" + nobody["refs"][0].get<std::string>()};
  size_t checked = 0;
  for (const auto& tx : pass.transactions) {
    if (fresh.count(tx.external_id) == 0) continue;  // re-read by the overlap
    CHECK(tx.phone_e164.empty());
    ++checked;
  }
  CHECK(checked == 2);
  const std::string ref = no_phone["refs"][0];
  CHECK(services.logged("of document " + ref +
                        " has no phone: the sale is stored without a customer"));
  CHECK(services.logged("1С document " + nobody["refs"][0].get<std::string>() +
                        " names no counterparty"));
}

TEST_CASE("sim: test connection in both modes; the bearer token also works") {
  SimProcess sim({"--records", "5"});
  Loaded loaded;
  SimHostServices services;
  auto service = loaded.open(services, settings(sim, "http_service"))->health_check();
  REQUIRE(service.ok());
  CHECK(service.value() == "✅ Connected to 1С - Skinerica");
  auto odata = loaded.open(services, settings(sim, "odata"))->health_check();
  REQUIRE(odata.ok());
  CHECK(odata.value() == "✅ Connected to 1С");
  const std::string bearer = json{
      {"mode", "odata"},
      {"base_url", sim.url("/onec/skinerica")},
      {"token", "onec-token"}}.dump();
  auto token = loaded.open(services, bearer)->health_check();
  REQUIRE(token.ok());
  CHECK(token.value() == "✅ Connected to 1С");
}

TEST_CASE("sim: wrong credentials, an unknown database and an unpublished document are refused") {
  SimProcess sim({"--records", "5"});
  Loaded loaded;
  SimHostServices services;
  for (const std::string mode : {"http_service", "odata"}) {
    CAPTURE(mode);
    auto instance = loaded.open(services, settings(sim, mode, {{"password", "wrong"}}));
    auto health = instance->health_check();
    REQUIRE_FALSE(health.ok());
    CHECK(health.error().code == CRMSYNC_E_UNAUTHENTICATED);
    CHECK(health.error().message.ends_with(
        "❌ 1С refused the username or password (HTTP 401): check the 1С user and its "
        "password, or the token"));
    crmsync::test::Collected sink("1C");
    auto fetched = instance->fetch("", sink);
    REQUIRE_FALSE(fetched.ok());
    CHECK(fetched.error().code == CRMSYNC_E_UNAUTHENTICATED);
    CHECK(fetched.error().message.find("check the 1С username and password") != std::string::npos);
  }
  auto unknown = loaded.open(services, settings(sim, "http_service", {{"database_id", "other"}}))
                     ->health_check();
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == CRMSYNC_E_NOT_FOUND);
  auto unpublished =
      loaded.open(services, settings(sim, "odata", {{"document", "Document_ЧекККМ"}}))
          ->health_check();
  REQUIRE_FALSE(unpublished.ok());
  CHECK(unpublished.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(unpublished.error().message.ends_with(
      "❌ 1С does not publish Document_ЧекККМ over OData: add it to the OData composition of the "
      "infobase"));
}

TEST_CASE("sim: a cursor the connector did not write is refused") {
  SimProcess sim({"--records", "1"});
  Loaded loaded;
  SimHostServices services;
  auto instance = loaded.open(services, settings(sim, "odata"));
  for (const std::string cursor : {"nonsense", R"({"since":"вчера"})", R"({"skip":-1})"}) {
    CAPTURE(cursor);
    crmsync::test::Collected sink("1C");
    auto fetched = instance->fetch(cursor, sink);
    REQUIRE_FALSE(fetched.ok());
    CHECK(fetched.error().code == CRMSYNC_E_INVALID_INPUT);
    CHECK(fetched.error().message.find("Not a 1С cursor") != std::string::npos);
  }
}
