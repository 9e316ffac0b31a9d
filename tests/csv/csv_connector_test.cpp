// Tests of build/plugins/csv.so through the C ABI, with a small host written here: settings,
// health check, records and per-row failures, batches and cursors, the size limit, memory.
#include "csv_test_support.h"

#include <crmsync/connector.h>
#include <dlfcn.h>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::csv::test {
namespace {

std::string to_string(crmsync_str s) {
  return s.len == 0 ? std::string() : std::string(s.ptr, s.len);
}

// What the host remembers of one call: the error detail set through set_error.
struct HostContext {
  int32_t error_code = CRMSYNC_OK;
  std::string error_message;
};

HostContext* context(crmsync_host_ctx* ctx) {
  return reinterpret_cast<HostContext*>(ctx);
}

// The host services a file connector can reach; none of them is expected to be used but
// set_error, so the others answer as a host without that data would.
const crmsync_host_v1 kHost = {
    sizeof(crmsync_host_v1),
    CRMSYNC_ABI_MINOR,
    "0.1.0",
    [](crmsync_host_ctx*, const crmsync_http_request_v1*, crmsync_http_response_v1*) -> int32_t {
      return CRMSYNC_E_UNAVAILABLE;
    },
    [](crmsync_host_ctx*, int32_t, crmsync_str) {},
    [](crmsync_host_ctx*) -> int64_t { return 1763379000000; },
    [](crmsync_host_ctx*, crmsync_str, crmsync_str*, uint64_t*) -> int32_t {
      return CRMSYNC_E_NOT_FOUND;
    },
    [](crmsync_host_ctx*, crmsync_str, uint64_t, crmsync_str, uint64_t*) -> int32_t {
      return CRMSYNC_E_CONFLICT;
    },
    [](crmsync_host_ctx*, crmsync_str, crmsync_str*) -> int32_t { return CRMSYNC_E_NOT_FOUND; },
    [](crmsync_host_ctx*) -> int32_t { return 0; },
    [](crmsync_host_ctx* ctx, int32_t code, crmsync_str message, uint32_t) {
      context(ctx)->error_code = code;
      context(ctx)->error_message = to_string(message);
    },
    [](const char*) -> const void* { return nullptr; }};

// A sale as the sink received it.
struct SaleRow {
  std::string external_id, occurred_at, amount, customer_phone, description, raw_json, locator;
  uint32_t amount_kind = 0;
};

// A per-row failure as the sink received it.
struct FailureRow {
  std::string external_id, reason, raw_json;
};

// Collects what fetch delivers. counting_only keeps counts, not rows (for memory tests).
struct Collector {
  bool counting_only = false;
  std::vector<SaleRow> records;
  std::vector<FailureRow> failures;
  size_t record_count = 0;
  size_t failure_count = 0;
  int checkpoints = 0;
  std::string cursor;
  bool more = false;

  crmsync_sink_v1 sink() {
    crmsync_sink_v1 s{};
    s.struct_size = sizeof s;
    s.host_data = this;
    s.record = [](const crmsync_sink_v1* self, const crmsync_record_v1* r) -> int32_t {
      Collector& c = *static_cast<Collector*>(self->host_data);
      ++c.record_count;
      if (!c.counting_only) {
        c.records.push_back({to_string(r->external_id), to_string(r->occurred_at),
                             to_string(r->amount), to_string(r->customer_phone),
                             to_string(r->description), to_string(r->raw_json),
                             to_string(r->locator), r->amount_kind});
      }
      return CRMSYNC_OK;
    };
    s.skip = [](const crmsync_sink_v1*, crmsync_str, crmsync_str) -> int32_t {
      return CRMSYNC_E_INTERNAL;  // a CSV row is a sale or a failure, never a skip
    };
    s.fail = [](const crmsync_sink_v1* self, crmsync_str id, crmsync_str reason,
                crmsync_str raw) -> int32_t {
      Collector& c = *static_cast<Collector*>(self->host_data);
      ++c.failure_count;
      if (!c.counting_only)
        c.failures.push_back({to_string(id), to_string(reason), to_string(raw)});
      return CRMSYNC_OK;
    };
    s.refetch = [](const crmsync_sink_v1*, crmsync_str) -> int32_t { return CRMSYNC_E_INTERNAL; };
    s.checkpoint = [](const crmsync_sink_v1* self, crmsync_str cursor, int32_t more) -> int32_t {
      Collector& c = *static_cast<Collector*>(self->host_data);
      ++c.checkpoints;
      c.cursor = to_string(cursor);
      c.more = more != 0;
      return CRMSYNC_OK;
    };
    return s;
  }
};

// The connector library, loaded once for all tests.
const crmsync_connector_v1& plugin() {
  static const crmsync_connector_v1* descriptor = [] {
    void* library = ::dlopen(CSV_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    REQUIRE_MESSAGE(library != nullptr, ::dlerror());
    void* symbol = ::dlsym(library, CRMSYNC_CONNECTOR_ENTRY_V1_SYMBOL);
    REQUIRE(symbol != nullptr);
    auto entry = reinterpret_cast<crmsync_connector_entry_v1_fn>(symbol);
    const crmsync_connector_v1* out = nullptr;
    REQUIRE(entry(&kHost, &out) == CRMSYNC_OK);
    return out;
  }();
  return *descriptor;
}

// One open integration of the connector.
class Integration {
 public:
  explicit Integration(const nlohmann::json& config) {
    std::string text = config.dump();
    crmsync_open_args_v1 args{};
    args.struct_size = sizeof args;
    args.host = &kHost;
    args.ctx = reinterpret_cast<crmsync_host_ctx*>(&context_);
    args.integration_id = {"csv-1", 5};
    args.config_json = {text.data(), text.size()};
    args.timezone = {"Europe/Moscow", 13};
    args.currency = {"RUB", 3};
    open_code_ = plugin().open(&args, &instance_);
  }
  ~Integration() {
    if (instance_ != nullptr) plugin().close(instance_);
  }
  Integration(const Integration&) = delete;
  Integration& operator=(const Integration&) = delete;

  int32_t open_code() const { return open_code_; }
  const HostContext& host() const { return context_; }

  // Runs fetch(cursor) into collector.
  int32_t fetch(const std::string& cursor, Collector& collector) {
    REQUIRE(instance_ != nullptr);
    crmsync_sink_v1 sink = collector.sink();
    return plugin().fetch(instance_, {cursor.data(), cursor.size()}, &sink);
  }

  // Runs health_check; returns its code and sets text to the admin message.
  int32_t health_check(std::string& text) {
    REQUIRE(instance_ != nullptr);
    crmsync_text_out_v1 out{};
    out.struct_size = sizeof out;
    out.host_data = &text;
    out.set = [](const crmsync_text_out_v1* self, crmsync_str message) {
      *static_cast<std::string*>(self->host_data) = to_string(message);
    };
    return plugin().health_check(instance_, &out);
  }

 private:
  HostContext context_;
  crmsync_instance* instance_ = nullptr;
  int32_t open_code_ = CRMSYNC_E_INTERNAL;
};

// Opens an integration with config (a function: braces at a constructor would be ambiguous).
Integration open_integration(const nlohmann::json& config) {
  return Integration(config);
}

// A memory figure of this process from /proc/self/status ("VmRSS:", "VmHWM:"), in KiB.
long memory_kib(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
  }
  FAIL("no " << key << " in /proc/self/status");
  return 0;
}

// Makes VmHWM start again from the current RSS.
void reset_peak_memory() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  REQUIRE(clear.flush());
}

// Fetches batch after batch from the start until the connector says there is no more.
Collector fetch_all(Integration& integration, int* batches = nullptr) {
  Collector all;
  std::string cursor;
  int count = 0;
  do {
    Collector batch;
    REQUIRE(integration.fetch(cursor, batch) == CRMSYNC_OK);
    REQUIRE(batch.checkpoints == 1);
    all.records.insert(all.records.end(), batch.records.begin(), batch.records.end());
    all.failures.insert(all.failures.end(), batch.failures.begin(), batch.failures.end());
    all.more = batch.more;
    cursor = batch.cursor;
    REQUIRE(++count < 100000);
  } while (all.more);
  all.cursor = cursor;
  if (batches != nullptr) *batches = count;
  return all;
}

// The locators and failure reasons of a collection, in the order they arrived per kind.
std::vector<std::string> locators(const Collector& c) {
  std::vector<std::string> out;
  for (const SaleRow& r : c.records) out.push_back(r.locator + " " + r.raw_json);
  for (const FailureRow& f : c.failures) out.push_back(f.reason + " " + f.raw_json);
  return out;
}

TEST_CASE("descriptor: id, FETCH capability and a JSON Schema with path required") {
  const crmsync_connector_v1& d = plugin();
  CHECK(std::string_view(d.id) == "csv");
  CHECK(d.abi_major == CRMSYNC_ABI_MAJOR);
  CHECK((d.capabilities & CRMSYNC_CAP_FETCH) != 0);
  CHECK((d.capabilities & CRMSYNC_CAP_WEBHOOK) == 0);
  nlohmann::json schema = nlohmann::json::parse(d.config_schema);
  CHECK(schema["required"] == nlohmann::json::array({"path"}));
  CHECK(schema["properties"]["batch_rows"]["default"] == 5000);
  CHECK(schema["properties"]["max_bytes"]["default"] == 10 * 1024 * 1024);
  CHECK(schema["properties"].contains("delimiter"));
}

TEST_CASE("bad settings are refused at open with INVALID_CONFIG") {
  const nlohmann::json bad[] = {nlohmann::json::object(),
                                {{"path", ""}},
                                {{"path", "/tmp/x.csv"}, {"delimiter", "::"}},
                                {{"path", "/tmp/x.csv"}, {"batch_rows", 0}},
                                {{"path", "/tmp/x.csv"}, {"max_bytes", -5}},
                                {{"path", "/tmp/x.csv"}, {"max_bytes", "big"}}};
  for (const nlohmann::json& config : bad) {
    CAPTURE(config.dump());
    Integration integration(config);
    CHECK(integration.open_code() == CRMSYNC_E_INVALID_CONFIG);
    CHECK(integration.host().error_message.find("CSV setting") != std::string::npos);
  }
}

TEST_CASE("a file of sales becomes records with row locators and raw JSON") {
  TempDir dir;
  std::string path = dir.write("sales.csv",
                               "date,customer_phone,amount,description\n"
                               "2025-11-17 14:30:00,+79123456789,1500.50,Стрижка\n"
                               "2025-11-17 15:00:00,12345,990,\"Набор \"\"Уход\"\", 2 шт.\"\n");
  auto integration = open_integration({{"path", path}});
  REQUIRE(integration.open_code() == CRMSYNC_OK);
  Collector c;
  REQUIRE(integration.fetch("", c) == CRMSYNC_OK);
  REQUIRE(c.records.size() == 2);
  CHECK(c.failures.empty());
  CHECK(c.records[0].occurred_at == "2025-11-17 14:30:00");
  CHECK(c.records[0].customer_phone == "+79123456789");
  CHECK(c.records[0].amount == "1500.50");
  CHECK(c.records[0].amount_kind == CRMSYNC_AMOUNT_DECIMAL);
  CHECK(c.records[0].description == "Стрижка");
  CHECK(c.records[0].external_id.empty());
  CHECK(c.records[0].locator == "Row 2");
  // The spec's "Row 3: Invalid phone format": the host rejects this record, under this locator.
  CHECK(c.records[1].customer_phone == "12345");
  CHECK(c.records[1].locator == "Row 3");
  CHECK(nlohmann::json::parse(c.records[1].raw_json) ==
        nlohmann::json{{"date", "2025-11-17 15:00:00"},
                       {"customer_phone", "12345"},
                       {"amount", "990"},
                       {"description", "Набор \"Уход\", 2 шт."}});
  CHECK(c.checkpoints == 1);
  CHECK_FALSE(c.more);
}

TEST_CASE("Excel in a Russian locale: BOM, CRLF, `;` detected, headers in any case, an id column") {
  TempDir dir;
  std::string path = dir.write("excel.csv",
                               "\xEF\xBB\xBF"
                               " Date ;CUSTOMER_PHONE;Amount;Description;ID\r\n"
                               "17.11.2025 14:30;8 (912) 345-67-89;1 500,50;Кофе, круассан;A-1\r\n"
                               ";;;;\r\n"
                               "2025-11-18 10:00:00;+79123456789;700;;\r\n");
  auto integration = open_integration({{"path", path}});
  REQUIRE(integration.open_code() == CRMSYNC_OK);
  Collector c;
  REQUIRE(integration.fetch("", c) == CRMSYNC_OK);
  REQUIRE(c.records.size() == 2);
  CHECK(c.failures.empty());
  CHECK(c.records[0].external_id == "A-1");
  CHECK(c.records[0].amount == "1 500,50");
  CHECK(c.records[0].description == "Кофе, круассан");
  CHECK(c.records[1].external_id.empty());
  CHECK(c.records[1].locator == "Row 4");  // the ";;;;" row is row 3 of the sheet
}

TEST_CASE("a configured delimiter overrides detection") {
  TempDir dir;
  std::string path =
      dir.write("pipes.csv", "date|customer_phone|amount\n2025-11-17|+79123456789|1,5\n");
  auto integration = open_integration({{"path", path}, {"delimiter", "|"}});
  Collector c;
  REQUIRE(integration.fetch("", c) == CRMSYNC_OK);
  REQUIRE(c.records.size() == 1);
  CHECK(c.records[0].amount == "1,5");
}

TEST_CASE("missing required columns: one error before any row, INVALID_INPUT") {
  TempDir dir;
  std::string path =
      dir.write("nocol.csv", "date,customer_phone,description\n2025-11-17,+79123456789,x\n");
  auto integration = open_integration({{"path", path}});
  Collector c;
  CHECK(integration.fetch("", c) == CRMSYNC_E_INVALID_INPUT);
  CHECK(integration.host().error_code == CRMSYNC_E_INVALID_INPUT);
  CHECK(integration.host().error_message == "Missing required column(s): amount");
  CHECK(c.record_count + c.failure_count == 0);
  CHECK(c.checkpoints == 0);
  std::string text;
  CHECK(integration.health_check(text) == CRMSYNC_E_INVALID_INPUT);
  CHECK(text == "❌ Missing required column(s): amount");
}

TEST_CASE("bad rows are per-row failures and never take the following rows with them") {
  TempDir dir;
  std::string path = dir.write("bad.csv",
                               "date,customer_phone,amount,description\n"
                               "2025-11-17 10:00:00,,100,no phone\n"
                               "2025-11-17 11:00:00,+79123456789,100\n"
                               "2025-11-17 12:00:00,+79123456789,\"100,x\n"
                               "2025-11-17 13:00:00,+79123456789,200,ok\n");
  auto integration = open_integration({{"path", path}});
  Collector c;
  REQUIRE(integration.fetch("", c) == CRMSYNC_OK);
  REQUIRE(c.failures.size() == 3);
  CHECK(c.failures[0].reason == "Row 2: Missing customer_phone");
  CHECK(c.failures[0].external_id.empty());
  CHECK(nlohmann::json::parse(c.failures[0].raw_json)["description"] == "no phone");
  CHECK(c.failures[1].reason == "Row 3: expected 4 fields, found 3");
  CHECK(c.failures[2].reason == "Row 4: quoted field is not closed");
  CHECK(nlohmann::json::parse(c.failures[2].raw_json)["text"] ==
        "2025-11-17 12:00:00,+79123456789,\"100,x");
  REQUIRE(c.records.size() == 1);
  CHECK(c.records[0].locator == "Row 5");
  CHECK(c.records[0].amount == "200");
}

TEST_CASE("the generated workload: every one of 2000 rows reaches the sink") {
  TempDir dir;
  std::string data = generate_csv(2000, 1);
  std::string path = dir.write("gen.csv", data);
  // An independent reading of the same file: Python's csv module counts the rows with an empty
  // required value, which must be the failures; all other rows are records for the host to judge.
  std::string empties =
      run("python3 -c \"import csv,sys; r=list(csv.DictReader(open(sys.argv[1],newline='',"
          "encoding='utf-8'))); print(len(r), sum(1 for x in r if not x['date'].strip() or not "
          "x['customer_phone'].strip() or not x['amount'].strip()))\" " +
          path);
  size_t rows = 0;
  size_t empty_rows = 0;
  REQUIRE(std::sscanf(empties.c_str(), "%zu %zu", &rows, &empty_rows) == 2);
  REQUIRE(rows == 2000);
  REQUIRE(empty_rows > 0);
  auto integration = open_integration({{"path", path}});
  int batches = 0;
  Collector all = fetch_all(integration, &batches);
  CHECK(batches == 1);
  CHECK(all.records.size() + all.failures.size() == 2000);
  CHECK(all.failures.size() == empty_rows);
  for (const FailureRow& f : all.failures) CHECK(f.reason.find(": Missing ") != std::string::npos);
  for (const SaleRow& r : all.records) CHECK(nlohmann::json::parse(r.raw_json).size() == 4);
}

TEST_CASE("batches and cursors: the batches add up to one big read, a cursor resumes exactly") {
  TempDir dir;
  std::string path = dir.write("gen.csv", generate_csv(2000, 1) + "\n\n");
  auto whole = open_integration({{"path", path}, {"batch_rows", 1000000}});
  Collector one;
  REQUIRE(whole.fetch("", one) == CRMSYNC_OK);
  CHECK_FALSE(one.more);

  auto batched = open_integration({{"path", path}, {"batch_rows", 7}});
  int batches = 0;
  Collector all = fetch_all(batched, &batches);
  CHECK(batches == 286);  // 2000 rows / 7 = 285.7
  CHECK(locators(all) == locators(one));
  CHECK(all.cursor == one.cursor);

  // Resume from the cursor after the third batch with a big batch: the rest, exactly once.
  std::string cursor;
  for (int i = 0; i < 3; ++i) {
    Collector batch;
    REQUIRE(batched.fetch(cursor, batch) == CRMSYNC_OK);
    CHECK(batch.record_count + batch.failure_count == 7);
    CHECK(batch.more);
    cursor = batch.cursor;
  }
  Collector rest;
  REQUIRE(whole.fetch(cursor, rest) == CRMSYNC_OK);
  CHECK(rest.record_count + rest.failure_count == 2000 - 21);
  CHECK_FALSE(rest.more);

  // Fetching again from the final cursor finds nothing.
  Collector none;
  REQUIRE(whole.fetch(one.cursor, none) == CRMSYNC_OK);
  CHECK(none.record_count + none.failure_count == 0);
  CHECK_FALSE(none.more);
  CHECK(none.cursor == one.cursor);
}

TEST_CASE("a cursor that does not fit the file is INVALID_INPUT") {
  TempDir dir;
  std::string path = dir.write("s.csv", "date,customer_phone,amount\n2025-11-17,+79123456789,1\n");
  auto integration = open_integration({{"path", path}});
  for (std::string cursor : {"junk", "5", "3:2", "999999:2", "30:x", "30:2:1"}) {
    CAPTURE(cursor);
    Collector c;
    CHECK(integration.fetch(cursor, c) == CRMSYNC_E_INVALID_INPUT);
    CHECK(integration.host().error_message.find("Invalid CSV cursor") == 0);
  }
}

TEST_CASE("an empty file is an error; a header-only file has nothing to import") {
  TempDir dir;
  auto empty = open_integration({{"path", dir.write("empty.csv", "")}});
  Collector c;
  CHECK(empty.fetch("", c) == CRMSYNC_E_INVALID_INPUT);
  CHECK(empty.host().error_message ==
        "CSV file is empty: expected a header line with date, customer_phone, amount");

  auto header_only =
      open_integration({{"path", dir.write("header.csv", "date,customer_phone,amount\r\n")}});
  Collector h;
  REQUIRE(header_only.fetch("", h) == CRMSYNC_OK);
  CHECK(h.record_count + h.failure_count == 0);
  CHECK(h.checkpoints == 1);
  CHECK_FALSE(h.more);
  CHECK(h.cursor == "28:2");
}

TEST_CASE("health check: ready with the size, or the reason") {
  TempDir dir;
  std::string data = "date,customer_phone,amount\n2025-11-17,+79123456789,1\n";
  auto ready = open_integration({{"path", dir.write("ok.csv", data)}});
  std::string text;
  CHECK(ready.health_check(text) == CRMSYNC_OK);
  CHECK(text == "✅ CSV file ready: " + std::to_string(data.size()) + " bytes");

  std::string missing = (dir.path() / "nope.csv").string();
  auto absent = open_integration({{"path", missing}});
  CHECK(absent.health_check(text) == CRMSYNC_E_NOT_FOUND);
  CHECK(text == "❌ CSV file not found: " + missing);
  Collector c;
  CHECK(absent.fetch("", c) == CRMSYNC_E_NOT_FOUND);

  auto directory = open_integration({{"path", dir.path().string()}});
  CHECK(directory.health_check(text) == CRMSYNC_E_INVALID_CONFIG);
}

TEST_CASE("a file above the limit is refused; raising max_bytes imports it in constant memory") {
  TempDir dir;
  std::string data = generate_csv(180000, 2);
  std::string path = dir.write("big.csv", data);
  REQUIRE(data.size() > 10 * 1024 * 1024);
  REQUIRE(data.size() < 20 * 1024 * 1024);

  auto limited = open_integration({{"path", path}});
  // The generator is deterministic: this file is 12,560,1xx bytes, 11.98 MiB.
  const std::string expected =
      "File is 12 MB, above the 10 MB limit (raise csv max_bytes to import it)";
  Collector refused;
  CHECK(limited.fetch("", refused) == CRMSYNC_E_INVALID_INPUT);
  CHECK(limited.host().error_message == expected);
  CHECK(refused.record_count + refused.failure_count == 0);
  std::string text;
  CHECK(limited.health_check(text) == CRMSYNC_E_INVALID_INPUT);
  CHECK(text == "❌ " + expected);

  auto raised =
      open_integration({{"path", path}, {"max_bytes", 20 * 1024 * 1024}, {"batch_rows", 1000000}});
  CHECK(raised.health_check(text) == CRMSYNC_OK);
  // Peak memory of this fetch alone: reset the peak, then read it after.
  long before = memory_kib("VmRSS:");
  reset_peak_memory();
  Collector counted;
  counted.counting_only = true;
  auto start = std::chrono::steady_clock::now();
  REQUIRE(raised.fetch("", counted) == CRMSYNC_OK);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  long peak = memory_kib("VmHWM:");
  CHECK(counted.record_count + counted.failure_count == 180000);
  MESSAGE("fetch of " << data.size() / 1e6 << " MB, 180000 rows into a counting sink: " << seconds
                      << " s, " << 180000 / seconds / 1e6 << " M rows/s, "
                      << data.size() / seconds / 1e6 << " MB/s; peak RSS " << peak - before
                      << " KiB above the start");
  // A reader that held the file would grow by its 12+ MB; the fixed buffer is 256 KiB.
  CHECK(peak - before < 4 * 1024);
}

TEST_CASE("sizes in the limit message stay distinguishable") {
  TempDir dir;
  std::string path = dir.write("s.csv", "date,customer_phone,amount\n2025-11-17,+79123456789,1\n");
  auto tiny = open_integration({{"path", path}, {"max_bytes", 10}});
  Collector c;
  CHECK(tiny.fetch("", c) == CRMSYNC_E_INVALID_INPUT);
  CHECK(tiny.host().error_message ==
        "File is 53 bytes, above the 10 bytes limit (raise csv max_bytes to import it)");
  auto close_call = open_integration({{"path", path}, {"max_bytes", 52}});
  CHECK(close_call.fetch("", c) == CRMSYNC_E_INVALID_INPUT);
  CHECK(close_call.host().error_message ==
        "File is 53 bytes, above the 52 bytes limit (raise csv max_bytes to import it)");
}

}  // namespace
}  // namespace crmsync::csv::test
