// Tests of the МИС Renovatio connector: medical secrecy end to end. A sync through the engine into
// a real store (SQLite and PostgreSQL) with HTTP recording on, then a search of every table, the
// process logs and the recordings for the simulator's patient names, ids, phones, services,
// diagnoses and doctors finds none of them; patient hashes are stable per salt and differ between
// salts; medical sales stay out of the analytics and cross-promo views. Also: both sources
// against crmsim, test connection, a refused key, and bad input through `crmsync parse`.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "parse/parse_process.h"
#include "sim_process.h"
#include "support/backends.h"
#include "support/connector_harness.h"
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

const std::string kSalt = "pepper-of-millenium-2025";
const std::string kOtherSalt = "another-clinic-salt-0042";

const crypto::MasterKey& test_key() {
  static const crypto::MasterKey key = crypto::parse_master_key(std::string(64, 'b')).value();
  return key;
}

// Settings of clinic 1 (Миллениум) on the simulator.
json settings(const SimProcess& sim, json extra = json::object()) {
  json s = {{"clinic_id", 1},
            {"api_key", "renovatio-key"},
            {"patient_salt", kSalt},
            {"base_url", sim.url("/renovatio")},
            {"history_days", 31}};
  s.update(extra);
  return s;
}

// Every row of every table of a SQLite database, as text.
std::string dump(const test::Sqlite& db) {
  sqlite3* conn = nullptr;
  REQUIRE(sqlite3_open(db.config().target.c_str(), &conn) == SQLITE_OK);
  std::vector<std::string> tables;
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(conn, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &stmt,
                             nullptr) == SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  std::string out;
  for (const auto& table : tables) {
    REQUIRE(sqlite3_prepare_v2(conn, ("SELECT * FROM \"" + table + "\"").c_str(), -1, &stmt,
                               nullptr) == SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* text = sqlite3_column_text(stmt, c);
        if (text) out.append(reinterpret_cast<const char*>(text)).append("\t");
      }
      out += table + "\n";
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(conn);
  return out;
}

// Every row of every table of a PostgreSQL database, as text (each row cast to its text form).
std::string dump(const test::Postgres& db) {
  PGconn* conn = PQconnectdb(db.conninfo.c_str());
  REQUIRE(PQstatus(conn) == CONNECTION_OK);
  PGresult* tables = PQexec(conn,
                            "SELECT table_name FROM information_schema.tables WHERE "
                            "table_schema = 'public' AND table_type = 'BASE TABLE'");
  REQUIRE(PQresultStatus(tables) == PGRES_TUPLES_OK);
  std::string out;
  for (int t = 0; t < PQntuples(tables); ++t) {
    const std::string table = PQgetvalue(tables, t, 0);
    PGresult* rows = PQexec(conn, ("SELECT r::text FROM \"" + table + "\" r").c_str());
    REQUIRE(PQresultStatus(rows) == PGRES_TUPLES_OK);
    for (int r = 0; r < PQntuples(rows); ++r) out += std::string(PQgetvalue(rows, r, 0)) + "\n";
    PQclear(rows);
  }
  PQclear(tables);
  PQfinish(conn);
  return out;
}

// Everything the simulator knows that is medical secrecy or personal data.
std::vector<std::string> secrets_of(const json& state) {
  std::vector<std::string> out;
  for (const auto& p : state["patients"]) {
    out.push_back(p["name"]);
    out.push_back(p["id"].dump());
    out.push_back(p["birth_date"]);
    const std::string phone = p["phone"];  // "+7 916 123-45-67"
    out.push_back(phone);
    std::string digits;
    for (char c : phone.substr(2)) {
      if (c >= '0' && c <= '9') digits += c;
    }
    out.push_back(digits);  // 9161234567: inside +79161234567 and 89161234567 alike
  }
  for (const auto& s : state["services"]) {
    out.push_back(s["title"]);
    out.push_back(s["diagnosis"]);
  }
  for (const auto& d : state["doctors"]) out.push_back(d);
  out.push_back("Пациент");
  out.push_back(kSalt);
  return out;
}

// The terms of `terms` that occur in text, one per line ("" when none does).
std::string found(const std::string& text, const std::vector<std::string>& terms) {
  std::string out;
  for (const auto& term : terms) {
    if (text.find(term) != std::string::npos) out += term + "\n";
  }
  return out;
}

// A store with the businesses Миллениум and Другая клиника, the Renovatio connector, an engine,
// HTTP recordings in a temporary folder and the process log kept.
template <class B>
struct World {
  B db;
  TempDir recordings;
  std::unique_ptr<store::Store> store = store::open_store(db.config()).value();
  plugin_host::PluginHost host;
  std::mutex log_mutex;
  std::vector<std::string> process_log;
  std::unique_ptr<sync::StoreHostServices> services;
  std::unique_ptr<sync::Engine> engine;
  const store::Timestamp now{std::chrono::milliseconds(1'763'380'800'000)};  // sim start

  World() {
    for (const auto& [id, name] :
         {std::pair{"millenium", "Миллениум"}, std::pair{"other", "Другая клиника"}}) {
      store::Business business;
      business.id = id;
      business.name = name;
      business.created_at = now;
      REQUIRE(store->add_business(business));
    }
    REQUIRE(host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/renovatio.so").ok());
    sync::HttpDefaults http;
    http.options.retry.base_delay = 5ms;
    http.options.retry.max_attempts = 3;
    http.options.request_timeout = 5s;
    http.recording_dir = recordings.path().string();
    services = std::make_unique<sync::StoreHostServices>(
        *store, http,
        [this](int32_t, const std::string&, const std::string& line) {
          std::lock_guard lock(log_mutex);
          process_log.push_back(line);
        },
        [this] { return now; });
    sync::EngineOptions options;
    options.owner = "test-host";
    options.master_keys = {test_key()};
    options.now = [this] { return now; };
    engine = std::make_unique<sync::Engine>(*store, host, *services, options);
  }

  void add(const std::string& id, const std::string& business, const json& s) {
    auto split = sync::seal_settings(*host.find("renovatio"), s.dump(), &test_key()).value();
    store::Integration integration;
    integration.id = id;
    integration.business_id = business;
    integration.crm_type = "renovatio";
    integration.settings_json = split.first;
    integration.credentials = split.second;
    integration.created_at = integration.updated_at = now;
    REQUIRE(store->create_integration(integration));
  }

  // The recordings and the process log, as text.
  std::string recorded() {
    std::string out;
    for (const auto& file : std::filesystem::directory_iterator(recordings.path())) {
      out += test::slurp(file.path());
    }
    std::lock_guard lock(log_mutex);
    for (const auto& line : process_log) out += line + "\n";
    return out;
  }
};

// Connector-test host services whose clock stands at the simulator's start (2025-11-17T12:00Z).
struct SimServices : test::HarnessHostServices {
  int64_t now_ms() override { return 1'763'380'800'000; }
};

// The E.164 form of the simulator's "+7 916 123-45-67".
std::string e164(const std::string& phone) {
  std::string out = "+";
  for (char c : phone) {
    if (c >= '0' && c <= '9') out += c;
  }
  return out;
}

}  // namespace

TEST_CASE_TEMPLATE("a sync stores medical sales and no patient data anywhere", B,
                   CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "40", "--new-per-hour", "0"});
  const json state = sim.admin("GET", "state?provider=renovatio");
  World<B> world;
  // A platform user with the phone of the first paid invoice's patient: matched, not stored.
  json first_paid;
  for (const auto& invoice : state["invoices"]) {
    if (invoice["sale"] == true && invoice["clinic_id"] == 1) {
      first_paid = invoice;
      break;
    }
  }
  REQUIRE_FALSE(first_paid.is_null());
  std::string user_phone;
  for (const auto& p : state["patients"]) {
    if (p["id"] == first_paid["patient_id"]) user_phone = e164(p["phone"]);
  }
  REQUIRE(
      world.store->add_user({.id = "user-1", .phone_e164 = user_phone, .created_at = world.now}));
  world.add("millenium-renovatio", "millenium", settings(sim));
  const auto report = world.engine->sync("millenium-renovatio", store::RunTrigger::manual).value();
  INFO(report.message);
  REQUIRE(report.status == store::RunStatus::success);
  int64_t paid = 0;
  for (const auto& invoice : state["invoices"]) {
    if (invoice["sale"] == true && invoice["clinic_id"] == 1) ++paid;
  }
  CHECK(report.totals.inserted == paid);
  CHECK(world.db.scalar("SELECT COUNT(*) FROM transactions WHERE is_medical") == paid);
  CHECK(world.db.scalar("SELECT COUNT(*) FROM transactions WHERE user_id IS NOT NULL") > 0);
  CHECK(world.db.scalar("SELECT COUNT(*) FROM transactions WHERE phone_e164 IS NOT NULL") == 0);
  CHECK(world.db.scalar("SELECT COUNT(*) FROM analytics_transactions") == 0);
  CHECK(world.db.scalar("SELECT COUNT(*) FROM crosspromo_transactions") == 0);

  const auto sale =
      world.store->find_transaction("millenium", "RENOVATIO-invoice-" + first_paid["id"].dump())
          .value();
  REQUIRE(sale);
  CHECK(sale->is_medical);
  CHECK(sale->customer_ref == crypto::sha256_hex(first_paid["patient_id"].dump() + kSalt));
  CHECK(sale->description == "Медицинские услуги");
  CHECK(sale->items_json == "[]");
  CHECK(sale->amount_minor == first_paid["amount_minor"].get<int64_t>());
  CHECK(sale->user_id == "user-1");

  // The platform user's own phone lives in users; every other trace of a patient must not.
  auto terms = secrets_of(state);
  std::erase(terms, user_phone.substr(2));
  CHECK(found(dump(world.db), terms) == "");
  const std::string recorded = world.recorded();
  CHECK_FALSE(recorded.empty());
  CHECK(found(recorded, terms) == "");
}

TEST_CASE_TEMPLATE("the same patient has one hash per salt; another salt gives another hash", B,
                   CRMSYNC_TEST_BACKENDS) {
  SimProcess sim({"--records", "1", "--new-per-hour", "0"});
  const json state = sim.admin("GET", "state?provider=renovatio");
  const int64_t patient = state["patients"][2]["id"];
  sim.admin("POST", "clock/advance", {{"seconds", 60}});
  const json added = sim.admin(
      "POST", "records",
      {{"provider", "renovatio"}, {"kind", "invoice"}, {"count", 2}, {"patient_id", patient}});
  World<B> world;
  world.add("millenium-renovatio", "millenium", settings(sim));
  world.add("other-renovatio", "other", settings(sim, {{"patient_salt", kOtherSalt}}));
  for (const char* id : {"millenium-renovatio", "other-renovatio"}) {
    const auto report = world.engine->sync(id, store::RunTrigger::manual).value();
    INFO(report.message);
    REQUIRE(report.status == store::RunStatus::success);
  }
  auto ref = [&](const std::string& business, const json& invoice) {
    const auto sale =
        world.store->find_transaction(business, "RENOVATIO-invoice-" + invoice.dump()).value();
    REQUIRE(sale);
    return sale->customer_ref;
  };
  const std::string first = ref("millenium", added["ids"][0]);
  CHECK(first == ref("millenium", added["ids"][1]));
  CHECK(first == crypto::sha256_hex(std::to_string(patient) + kSalt));
  const std::string other = ref("other", added["ids"][0]);
  CHECK(other == ref("other", added["ids"][1]));
  CHECK(other == crypto::sha256_hex(std::to_string(patient) + kOtherSalt));
  CHECK(other != first);
}

TEST_CASE("sim: appointments: completed ones are sales at their services' prices") {
  SimProcess sim({"--records", "30", "--new-per-hour", "0"});
  const json state = sim.admin("GET", "state?provider=renovatio");
  test::LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "renovatio");
  SimServices services;
  auto instance = loaded.open(services, settings(sim, {{"source", "appointments"}}).dump());
  const auto pass = test::full_pass(*instance, "", "RENOVATIO");
  int64_t completed = 0, refused = 0, total = 0;
  for (const auto& a : state["appointments"]) {
    if (a["clinic_id"] != 1) continue;
    ++total;
    if (a["sale"] == true) ++completed;
  }
  for (const auto& skip : pass.skipped) {
    if (skip.ends_with("Not a sale: the appointment is refused")) ++refused;
  }
  CHECK(pass.failed.empty());
  CHECK(static_cast<int64_t>(pass.sales.size()) == completed);
  CHECK(static_cast<int64_t>(pass.objects()) == total);
  CHECK(refused > 0);
  std::map<std::string, int64_t> amounts;
  for (const auto& a : state["appointments"]) {
    amounts["RENOVATIO-appointment-" + a["id"].dump()] = a["amount_minor"];
  }
  for (const auto& tx : pass.transactions) {
    CAPTURE(tx.external_id);
    CHECK(tx.is_medical);
    CHECK(tx.amount_minor == amounts.at(tx.external_id));
    CHECK(tx.description == "Медицинские услуги");
  }
  const auto terms = secrets_of(state);
  std::string logged;
  for (const auto& line : services.logs()) logged += line + "\n";
  for (const auto& s : pass.skipped) logged += s + "\n";
  CHECK(found(logged, terms) == "");
  // The pass walked the days in windows and came back lookback_days before today.
  CHECK(json::parse(pass.cursor)["from"] == "15.11.2025");
}

TEST_CASE("sim: test connection names the clinic; a bad key or clinic is refused") {
  SimProcess sim({"--records", "1"});
  test::LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "renovatio");
  SimServices services;
  auto good = loaded.open(services, settings(sim).dump())->health_check();
  REQUIRE(good.ok());
  CHECK(good.value() == "✅ Connected to МИС Renovatio - Миллениум");
  auto bad_key = loaded.open(services, settings(sim, {{"api_key", "wrong"}}).dump());
  auto refused = bad_key->health_check();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(refused.error().message.ends_with(
      "❌ МИС Renovatio refused the API key: set a valid api_key (Настройки → API)"));
  test::Collected sink("RENOVATIO");
  auto fetched = bad_key->fetch("", sink);
  REQUIRE_FALSE(fetched.ok());
  CHECK(fetched.error().code == CRMSYNC_E_UNAUTHENTICATED);
  auto unknown = loaded.open(services, settings(sim, {{"clinic_id", 99}}).dump())->health_check();
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == CRMSYNC_E_NOT_FOUND);
}

TEST_CASE("sim: a salt too short and a foreign cursor are refused") {
  SimProcess sim({"--records", "1"});
  test::LoadedConnector loaded(CRMSYNC_PLUGIN_DIR, "renovatio");
  SimServices services;
  auto instance = loaded.open(services, settings(sim).dump());
  test::Collected sink("RENOVATIO");
  auto fetched = instance->fetch(R"({"from":"2025-11-17"})", sink);
  REQUIRE_FALSE(fetched.ok());
  CHECK(fetched.error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(fetched.error().message.ends_with("Not a МИС Renovatio cursor"));
  auto refused = loaded.host.open_instance("renovatio", "r-2",
                                           settings(sim, {{"patient_salt", "short"}}).dump(),
                                           "Europe/Moscow", "RUB", services);
  CHECK_FALSE(refused.ok());
}

TEST_CASE("parse: a saved getInvoices answer maps to medical sales without patient data") {
  const json invoice = {
      {"id", 10001},
      {"date", "17.11.2025 14:30"},
      {"clinic_id", 1},
      {"patient_id", 583920417},
      {"patient_name", "Иванова Анна Сергеевна"},
      {"patient_phone", "+7 916 123-45-67"},
      {"doctor_name", "Петров Павел Петрович"},
      {"is_paid", 1},
      {"sum", "2500.00"},
      {"services", json::array({{{"title", "Приём психотерапевта"}, {"diagnosis", "F41.1"}}})}};
  json unpaid = invoice;
  unpaid["id"] = 10002;
  unpaid["is_paid"] = 0;
  json broken = invoice;
  broken["id"] = 10003;
  broken["sum"] = "две тысячи";
  const json body = {{"error", 0}, {"data", json::array({invoice, unpaid, broken})}};
  TempDir dir;
  write_file(dir / "invoices.json", body.dump());
  const std::string config =
      json{{"clinic_id", 1}, {"patient_salt", kSalt}, {"api_key", "k"}}.dump();
  const auto run = run_parse({"--connector", "renovatio", "--kind", "response", "--config-json",
                              config, (dir / "invoices.json").string()},
                             dir.path());
  CHECK(run.exit_code == 0);
  REQUIRE(run.lines.size() == 3);
  const json sale = json::parse(run.lines[0]);
  CHECK(sale["external_id"] == "RENOVATIO-invoice-10001");
  CHECK(sale["occurred_at"] == "2025-11-17T11:30:00Z");
  CHECK(sale["amount_minor"] == 250000);
  CHECK(sale["description"] == "Медицинские услуги");
  CHECK(sale["is_medical"] == true);
  CHECK(
      run.lines[1] ==
      R"({"external_id":"RENOVATIO-invoice-10002","status":"skipped","reason":"Not a sale: the invoice is not paid"})");
  CHECK(
      run.lines[2] ==
      R"({"external_id":"RENOVATIO-invoice-10003","status":"error","reason":"sum is missing or not an amount"})");
  const std::string all = run.err + run.lines[0] + run.lines[1] + run.lines[2];
  // The phone is left out: parse shows what the host matches users by (the store keeps none).
  for (const std::string term : {"Иванова", "583920417", "Петров", "Приём", "F41"}) {
    CAPTURE(term);
    CAPTURE(all);
    CHECK(all.find(term) == std::string::npos);
  }

  for (const auto& [text, message] :
       {std::pair{std::string("<html>"), "МИС Renovatio answer is not JSON"},
        std::pair{std::string(R"({"error":1,"data":{"code":401,"desc":"Неверный api_key"}})"),
                  "МИС Renovatio refused the API key"},
        std::pair{std::string(R"({"data":[]})"), "has no {error, data} envelope"},
        std::pair{std::string(R"({"error":0,"data":{}})"), "МИС Renovatio answered no list"}}) {
    CAPTURE(text);
    write_file(dir / "bad.json", text);
    const auto bad = run_parse({"--connector", "renovatio", "--kind", "response", "--config-json",
                                config, (dir / "bad.json").string()},
                               dir.path());
    CHECK(bad.exit_code == 1);
    CHECK(bad.lines.empty());
    CHECK(bad.err.find(message) != std::string::npos);
  }
}
