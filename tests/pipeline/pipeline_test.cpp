// The ingest pipeline end to end over both store backends: real connectors (the scripted test
// connector and the csv connector) loaded through the plugin host, normalization, dedup, batch
// commits with cursors, proportionate logs, and the counts of bench/sales_csv.py.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pipeline/pipeline.h"
#include "plugin_host/host_services.h"
#include "plugin_host/plugin_host.h"
#include "support/backends.h"

using namespace crmsync;
using nlohmann::json;

namespace {

const store::Timestamp kNow = store::Timestamp(std::chrono::milliseconds(1763389800000));

store::Business make_business() {
  store::Business business;
  business.id = "mindal";
  business.name = "Миндаль";
  business.created_at = kNow;
  return business;
}

// A store with one business (Europe/Moscow, RU) and one integration of the given connector.
template <class B>
struct World {
  B db;
  std::unique_ptr<store::Store> store = store::open_store(db.config()).value();
  store::Business business = make_business();
  store::Integration integration;
  plugin_host::PluginHost host;
  plugin_host::DefaultHostServices services;

  explicit World(const std::string& connector) {
    REQUIRE(store->add_business(business).ok());
    integration.id = "mindal-" + connector;
    integration.business_id = business.id;
    integration.crm_type = connector;
    integration.created_at = integration.updated_at = kNow;
    REQUIRE(store->create_integration(integration).ok());
    const std::string dir = connector == "csv" ? CRMSYNC_PLUGIN_DIR : CRMSYNC_TEST_CONNECTOR_DIR;
    REQUIRE(host.load(std::string(dir) + "/" + connector + ".so").ok());
  }

  std::unique_ptr<plugin_host::Instance> open(const json& settings) {
    return host
        .open_instance(integration.crm_type, integration.id, settings.dump(), business.timezone,
                       business.currency, services)
        .value();
  }

  pipeline::Ingest ingest(int logged_examples = 20, store::Timestamp now = kNow) {
    pipeline::Options options;
    options.logged_examples = logged_examples;
    options.now = [now] { return now; };
    return pipeline::Ingest(*store, pipeline::make_target(business, integration).value(),
                            std::nullopt, options);
  }

  int64_t count(const std::string& sql) { return db.scalar(sql); }
};

json sale(const std::string& id, const std::string& phone, const std::string& amount) {
  return {{"external_id", id},
          {"occurred_at", "2025-11-17 14:30"},
          {"amount", amount},
          {"customer_phone", phone},
          {"description", "Стрижка"}};
}

json one_batch(json records) {
  return {{"batches", json::array({{{"records", records}}})}};
}

// Runs bench/sales_csv.py and returns its stdout.
std::string run_generator(const std::string& args) {
  const std::string command = "python3 " CRMSYNC_SALES_CSV " " + args;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  REQUIRE(pclose(pipe) == 0);
  return out;
}

}  // namespace

TEST_CASE_TEMPLATE("records are normalized and stored with the connector's prefix", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  json record = sale("67890", "8 (912) 345-67-89", "1 500,50");
  record["items"] =
      json::array({{{"name", "Стрижка"}, {"quantity", "1"}, {"amount_minor", 150050}}});
  auto instance = world.open(one_batch(json::array({record})));
  auto ingest = world.ingest();
  REQUIRE(ingest.run(*instance, "").ok());

  CHECK(ingest.totals().inserted == 1);
  auto stored = world.store->find_transaction("mindal", "SCRIPTED-67890").value();
  REQUIRE(stored.has_value());
  CHECK(stored->phone_e164 == "+79123456789");
  CHECK(stored->amount_minor == 150050);
  CHECK(stored->currency == "RUB");
  CHECK(stored->description == "Стрижка");
  // 14:30 in Moscow (UTC+3) is 11:30 UTC.
  CHECK(normalize::rfc3339_utc(stored->occurred_at) == "2025-11-17T11:30:00Z");
  CHECK(json::parse(stored->items_json)[0]["amount_minor"] == 150050);
  CHECK(world.count("SELECT COUNT(*) FROM outbox") == 1);
}

TEST_CASE_TEMPLATE("amounts in minor units and explicit offsets are taken as given", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  json record = {{"external_id", "7"},
                 {"occurred_at", "2025-11-17T14:30:00+09:00"},
                 {"amount_minor", 500000},
                 {"currency", "USD"},
                 {"customer_phone", "+79991234567"}};
  auto instance = world.open(one_batch(json::array({record})));
  auto ingest = world.ingest();
  REQUIRE(ingest.run(*instance, "").ok());
  auto stored = world.store->find_transaction("mindal", "SCRIPTED-7").value();
  REQUIRE(stored.has_value());
  CHECK(stored->amount_minor == 500000);
  CHECK(stored->currency == "USD");
  CHECK(normalize::rfc3339_utc(stored->occurred_at) == "2025-11-17T05:30:00Z");
}

TEST_CASE_TEMPLATE("a sale with an unreadable phone is kept without a customer, with a warning", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  auto instance = world.open(one_batch(json::array({sale("1", "not a phone", "100")})));
  auto ingest = world.ingest();
  REQUIRE(ingest.run(*instance, "").ok());
  CHECK(ingest.totals().inserted == 1);
  auto stored = world.store->find_transaction("mindal", "SCRIPTED-1").value();
  REQUIRE(stored.has_value());
  CHECK(stored->phone_e164.empty());
  CHECK(world.count("SELECT COUNT(*) FROM integration_logs WHERE log_type = 'warning'") == 1);
}

TEST_CASE_TEMPLATE("bad records are reported with their locator and logged proportionately", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  json records = json::array();
  for (int i = 0; i < 5; ++i) {
    json bad = sale(std::to_string(i), "+79991234567", "abc");
    bad["locator"] = "Row " + std::to_string(i + 2);
    records.push_back(bad);
  }
  json bad_date = sale("9", "+79991234567", "0");
  bad_date["occurred_at"] = "2025-13-01 10:00:00";
  records.push_back(bad_date);
  auto instance = world.open(one_batch(records));
  auto ingest = world.ingest(/*logged_examples=*/2);
  REQUIRE(ingest.run(*instance, "").ok());

  CHECK(ingest.totals().failed == 6);
  CHECK(ingest.totals().inserted == 0);
  REQUIRE(ingest.errors().size() == 6);
  CHECK(ingest.errors()[0].where == "Row 2");
  CHECK(ingest.errors()[0].reason == "Amount is not a number");
  // Every problem of a record is named, not only the first.
  CHECK(ingest.errors()[5].where == "9");
  CHECK(ingest.errors()[5].reason.find("Invalid time '2025-13-01 10:00:00'") == 0);
  CHECK(ingest.errors()[5].reason.find("; Amount must be positive") != std::string::npos);
  CHECK(world.count("SELECT COUNT(*) FROM integration_logs WHERE log_type = 'error'") == 2);
  CHECK(ingest.summary() == "Imported 0 transactions, 6 errors");
}

TEST_CASE_TEMPLATE("the same sale arriving again is a duplicate, logged as an example only", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  json records = json::array();
  for (int i = 0; i < 30; ++i) records.push_back(sale(std::to_string(i), "+79991234567", "100"));
  auto instance = world.open(one_batch(records));
  auto first = world.ingest(3);
  REQUIRE(first.run(*instance, "").ok());
  CHECK(first.totals().inserted == 30);

  auto second = world.ingest(3);
  REQUIRE(second.run(*instance, "").ok());
  CHECK(second.totals().inserted == 0);
  CHECK(second.totals().duplicates == 30);
  CHECK(second.summary() == "Imported 0 transactions, 0 errors, 30 duplicates skipped");
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 30);
  CHECK(world.count("SELECT COUNT(*) FROM outbox") == 30);
  CHECK(world.count("SELECT COUNT(*) FROM integration_logs "
                    "WHERE message LIKE 'Duplicate skipped: SCRIPTED-%'") == 3);
}

TEST_CASE_TEMPLATE("skips and connector failures are counted", B, CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  json settings = {
      {"batches", json::array({{{"records", json::array({sale("1", "+79991234567", "100")})},
                                {"skips", json::array({"2", "3"})},
                                {"fails", json::array({"4"})}}})}};
  auto instance = world.open(settings);
  auto ingest = world.ingest();
  REQUIRE(ingest.run(*instance, "").ok());
  CHECK(ingest.totals().fetched == 4);
  CHECK(ingest.totals().inserted == 1);
  CHECK(ingest.totals().skipped == 2);
  CHECK(ingest.totals().failed == 1);
  CHECK(ingest.summary() == "Imported 1 transactions, 1 error, 2 not sales");
}

TEST_CASE_TEMPLATE("a sale is matched to the user with its phone", B, CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  store::User user;
  user.id = "u1";
  user.phone_e164 = "+79123456789";
  user.created_at = kNow;
  REQUIRE(world.store->add_user(user).ok());
  auto instance = world.open(one_batch(json::array({sale("1", "89123456789", "100")})));
  auto ingest = world.ingest();
  REQUIRE(ingest.run(*instance, "").ok());
  auto stored = world.store->find_transaction("mindal", "SCRIPTED-1").value();
  REQUIRE(stored.has_value());
  CHECK(stored->user_id == std::optional<std::string>("u1"));
}

TEST_CASE("an integration's timezone setting overrides the business's for its local times") {
  store::Business business = make_business();
  store::Integration integration;
  integration.id = "head-office-1c";
  integration.crm_type = "1c";
  integration.settings_json = R"({"timezone":"Asia/Vladivostok"})";
  CHECK(pipeline::integration_timezone(business, integration) == "Asia/Vladivostok");
  auto target = pipeline::make_target(business, integration).value();
  crmsync_record_v1 record{};
  record.struct_size = sizeof record;
  record.external_id = CRMSYNC_STR_LIT("7");
  record.occurred_at = CRMSYNC_STR_LIT("2025-11-17 14:30");
  record.amount_kind = CRMSYNC_AMOUNT_DECIMAL;
  record.amount = CRMSYNC_STR_LIT("100");
  const auto sale = pipeline::normalize_record(
                        target, record, store::Timestamp(std::chrono::milliseconds(1763380800000)))
                        .transaction.value();
  // 14:30 at UTC+10 is 04:30 UTC (the business's Moscow would give 11:30).
  CHECK(sale.occurred_at == store::Timestamp(std::chrono::milliseconds(1763353800000)));
  CHECK(sale.external_id == "1C-7");

  integration.settings_json = "{}";
  CHECK(pipeline::integration_timezone(business, integration) == "Europe/Moscow");
  integration.settings_json = R"({"timezone":"Mars/Olympus"})";
  auto refused = pipeline::make_target(business, integration);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(refused.error().message.find("integration head-office-1c") != std::string::npos);
}

TEST_CASE_TEMPLATE("a sale known only by its loyalty card gets the card's phone and user", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  REQUIRE(world.store->add_user({"u1", "+79123456789", kNow}).ok());
  REQUIRE(world.store->link_card("mindal", "CARD-7", "+79123456789", kNow).ok());
  json linked = sale("1", "", "100");
  linked["customer_ref"] = "CARD-7";
  json unknown = sale("2", "", "200");
  unknown["customer_ref"] = "CARD-8";
  json medical = sale("3", "", "300");
  medical["customer_ref"] = "CARD-7";
  medical["medical"] = true;
  auto instance = world.open(one_batch(json::array({linked, unknown, medical})));
  auto ingest = world.ingest();
  REQUIRE(ingest.run(*instance, "").ok());
  auto first = world.store->find_transaction("mindal", "SCRIPTED-1").value();
  REQUIRE(first.has_value());
  CHECK(first->phone_e164 == "+79123456789");
  CHECK(first->user_id == std::optional<std::string>("u1"));
  CHECK(first->customer_ref == "CARD-7");
  auto second = world.store->find_transaction("mindal", "SCRIPTED-2").value();
  REQUIRE(second.has_value());
  CHECK(second->phone_e164.empty());
  CHECK_FALSE(second->user_id);
  CHECK(second->customer_ref == "CARD-8");
  // A medical customer_ref is a hashed patient id, never a card.
  CHECK_FALSE(world.store->find_transaction("mindal", "SCRIPTED-3").value()->user_id);
}

TEST_CASE_TEMPLATE("batches commit with their cursor; a failed fetch keeps what was committed", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  json batches = json::array();
  for (int b = 0; b < 3; ++b) {
    json records = json::array();
    for (int i = 0; i < 4; ++i) {
      records.push_back(sale(std::to_string(b * 10 + i), "+79991234567", "100"));
    }
    batches.push_back({{"records", records}});
  }
  auto failing = world.open({{"batches", batches}, {"fail_at_batch", 2}});
  auto first = world.ingest();
  auto stopped = first.run(*failing, "");
  REQUIRE_FALSE(stopped.ok());
  CHECK(stopped.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(stopped.error().message.find("scripted outage at batch 2") != std::string::npos);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 8);
  CHECK(world.store->get_cursor(world.integration.id).value() == "2");

  // Resuming from the stored cursor brings the rest, and nothing twice.
  failing.reset();
  auto healthy = world.open({{"batches", batches}});
  auto second = world.ingest();
  auto cursor = second.run(*healthy, world.store->get_cursor(world.integration.id).value());
  REQUIRE(cursor.ok());
  CHECK(*cursor == "3");
  CHECK(second.totals().inserted == 4);
  CHECK(second.totals().duplicates == 0);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 12);
}

TEST_CASE_TEMPLATE("CSV imports match the workload generator's expected counts", B,
                   CRMSYNC_TEST_BACKENDS) {
  for (int seed : {1, 2, 3}) {
    CAPTURE(seed);
    World<B> world("csv");
    const std::string args = "--rows 3000 --seed " + std::to_string(seed);
    const json expected = json::parse(run_generator(args + " --expect"));
    test::TempDir dir;
    const auto file = dir / "sales.csv";
    std::ofstream(file) << run_generator(args);

    auto instance = world.open({{"path", file.string()}, {"batch_rows", 700}});
    // The generator's sales run to 2025-11-28: the import runs after them, as it would.
    const store::Timestamp december(std::chrono::milliseconds(1764547200000));  // 2025-12-01
    auto first = world.ingest(20, december);
    REQUIRE(first.run(*instance, "").ok());
    CHECK(first.totals().fetched == expected["rows"]);
    CHECK(first.totals().inserted == expected["valid"]);
    CHECK(first.totals().failed == expected["errors"]);
    CHECK(first.totals().duplicates == expected["duplicates"]);

    // Re-importing the same file imports nothing.
    auto again = world.ingest(20, december);
    REQUIRE(again.run(*instance, "").ok());
    CHECK(again.totals().inserted == 0);
    CHECK(again.totals().failed == expected["errors"]);
    CHECK(again.totals().duplicates ==
          expected["valid"].get<int64_t>() + expected["duplicates"].get<int64_t>());
  }
}

TEST_CASE_TEMPLATE("one re-read object is ingested as a batch without moving the cursor", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  auto instance = world.open({{"batches", json::array()},
                              {"objects", {{"7", sale("7", "+79991234567", "700")}}},
                              {"unavailable_objects", json::array({"8"})}});
  auto ingest = world.ingest();
  auto fetch = [&](const std::string& id) {
    return ingest.ingest_call(
        [&](plugin_host::RecordSink& sink) { return instance->fetch_object(id, sink); });
  };
  auto first = fetch("7");
  REQUIRE(first.ok());
  CHECK(first->empty());
  CHECK(ingest.totals().inserted == 1);
  REQUIRE(fetch("7").ok());
  CHECK(ingest.totals().duplicates == 1);
  CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE amount_minor = 70000") == 1);
  CHECK(world.store->get_cursor(world.integration.id).value().empty());
  auto down = fetch("8");
  REQUIRE_FALSE(down.ok());
  CHECK(down.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(fetch("9").error().code == CRMSYNC_E_NOT_FOUND);
}

namespace {

// A record the pipeline reads as a valid sale of 1500.00 on 2025-11-17; tests spoil one field.
struct RawRecord {
  std::string external_id = "900";
  std::string occurred_at = "2025-11-17T14:30:00+03:00";
  std::string amount = "1500.00";
  std::string description = "Стрижка";
  std::string item_name = "Стрижка";
  int64_t amount_minor = 0;  // used instead of amount when nonzero
  const crmsync_line_item_v1* item_pointer = nullptr;
  crmsync_line_item_v1 item{};

  crmsync_record_v1 view() {
    crmsync_record_v1 record{};
    record.struct_size = sizeof record;
    record.external_id = {external_id.data(), external_id.size()};
    record.occurred_at = {occurred_at.data(), occurred_at.size()};
    if (amount_minor != 0) {
      record.amount_kind = CRMSYNC_AMOUNT_MINOR;
      record.amount_minor = amount_minor;
    } else {
      record.amount_kind = CRMSYNC_AMOUNT_DECIMAL;
      record.amount = {amount.data(), amount.size()};
    }
    record.description = {description.data(), description.size()};
    item.struct_size = sizeof item;
    item.name = {item_name.data(), item_name.size()};
    item_pointer = &item;
    record.items = &item_pointer;
    record.item_count = 1;
    return record;
  }
};

// Delivers the record to a pending batch, commits it and returns the reason it failed for (empty
// when it was stored).
template <class B>
std::string ingest_one(World<B>& world, RawRecord& raw) {
  auto ingest = world.ingest();
  REQUIRE(
      ingest.add_call([&](plugin_host::RecordSink& sink) { return sink.on_record(raw.view()); }));
  REQUIRE(ingest.commit_pending());
  if (ingest.totals().inserted == 1) return "";
  CHECK(ingest.totals().failed == 1);
  REQUIRE(ingest.errors().size() == 1);
  return ingest.errors()[0].reason;
}

}  // namespace

TEST_CASE_TEMPLATE(
    "a connector record past the documented limits fails with a reason naming the field and "
    "nothing of it is stored",
    B, CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  RawRecord raw;
  std::string reason;
  SUBCASE("a description that is not UTF-8") {
    raw.description = "Стрижка \xFF\xFE";
    reason = "description is not valid UTF-8 (at byte 15)";
  }
  SUBCASE("a description of 10 MB") {
    raw.description = std::string(10 << 20, 'a');
    reason = "description is 10485760 bytes long, more than the 4096 allowed";
  }
  SUBCASE("an external id that is not UTF-8: the log line names the record readably") {
    raw.external_id = "90\xC0\xAF";  // an overlong '/'
    reason = "external_id is not valid UTF-8 (at byte 2)";
  }
  SUBCASE("an item name that is not UTF-8") {
    raw.item_name = "\xED\xA0\x80";  // a surrogate
    reason = "items[0].name is not valid UTF-8 (at byte 0)";
  }
  SUBCASE("an amount of INT64_MAX minor units") {
    raw.amount_minor = INT64_MAX;
    reason = "amount 9223372036854775807 minor units is above the maximum of 1000000000000";
  }
  SUBCASE("a decimal amount one minor unit past the maximum") {
    raw.amount = "10000000000.01";
    reason = "amount 1000000000001 minor units is above the maximum of 1000000000000";
  }
  SUBCASE("a date of 9999-12-31") {
    raw.occurred_at = "9999-12-31T00:00:00Z";
    reason =
        "occurred_at 9999-12-31T00:00:00Z is more than a day ahead of the host's clock "
        "(2025-11-17T14:30:00Z)";
  }
  SUBCASE("a date of 1970") {
    raw.occurred_at = "1970-01-01T00:00:00Z";
    reason =
        "occurred_at 1970-01-01T00:00:00Z is before 2000-01-01T00:00:00Z, the earliest "
        "date accepted";
  }
  CAPTURE(reason);
  CHECK(ingest_one(world, raw) == reason);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 0);
  CHECK(world.count("SELECT COUNT(*) FROM outbox") == 0);
  // The log line of the failure is valid UTF-8 whatever the record held.
  const auto lines = world.store->list_logs({}).value();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].message.find(reason) != std::string::npos);
  CHECK(json::parse(json(lines[0].message).dump()).get<std::string>() == lines[0].message);
}

TEST_CASE_TEMPLATE("records at the limits are stored as given", B, CRMSYNC_TEST_BACKENDS) {
  World<B> world("scripted");
  RawRecord raw;
  raw.description = std::string(pipeline::limits::kDescription - 2, 'a') + "я";
  raw.amount_minor = pipeline::limits::kAmountMinor;
  SUBCASE("the earliest date") {
    raw.occurred_at = "2000-01-01T00:00:00Z";
  }
  SUBCASE("a day ahead of the host's clock") {
    raw.occurred_at = "2025-11-18T14:30:00Z";
  }
  CHECK(ingest_one(world, raw).empty());
  const auto stored = world.store->find_transaction("mindal", "SCRIPTED-900").value();
  REQUIRE(stored.has_value());
  CHECK(stored->amount_minor == 1'000'000'000'000);
  CHECK(stored->description.size() == 4096);
}
