// Tests of the plugin host with real connector libraries (tests/fixtures/connectors): every ABI
// refusal path, config validation and secrets, instance calls through the sink, serialization of
// calls on one instance, and the out-of-tree example connector.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "plugin_host/internal.h"
#include "plugin_host/plugin_host.h"

namespace fs = std::filesystem;
using crmsync::Error;
using crmsync::Result;
using namespace crmsync::plugin_host;

namespace {

const fs::path kFixtures = CRMSYNC_FIXTURE_DIR;

std::string so(const std::string& id) {
  return (kFixtures / (id + ".so")).string();
}

// A path of this process's own under the temp directory, so parallel runs never share files.
fs::path scratch(const std::string& name) {
  return fs::temp_directory_path() / (name + "_" + std::to_string(getpid()));
}

// Writes what the connector delivered as readable lines; can refuse records.
class Collected : public RecordSink {
 public:
  std::vector<std::string> events;
  std::optional<Error> refuse_records;

  Result<void> on_record(const crmsync_record_v1& r) override {
    if (refuse_records) return *refuse_records;
    std::string line = "record " + s(r.external_id) + " at=" + s(r.occurred_at);
    line += r.amount_kind == CRMSYNC_AMOUNT_MINOR ? " minor=" + std::to_string(r.amount_minor)
                                                  : " amount=" + s(r.amount);
    if (r.customer_phone.len) line += " phone=" + s(r.customer_phone);
    if (r.description.len) line += " description=" + s(r.description);
    if (r.flags & CRMSYNC_RECORD_MEDICAL) line += " medical";
    for (size_t i = 0; i < r.item_count; ++i) {
      line += " item=" + s(r.items[i]->name) + "/" + s(r.items[i]->amount);
    }
    if (r.raw_json.len) line += " raw=" + s(r.raw_json);
    events.push_back(line);
    return {};
  }
  Result<void> on_skip(std::string_view id, std::string_view reason) override {
    events.push_back("skip " + std::string(id) + ": " + std::string(reason));
    return {};
  }
  Result<void> on_fail(std::string_view id, std::string_view reason,
                       std::string_view raw) override {
    events.push_back("fail " + std::string(id) + ": " + std::string(reason) +
                     " raw=" + std::string(raw));
    return {};
  }
  Result<void> on_refetch(std::string_view id) override {
    events.push_back("refetch " + std::string(id));
    return {};
  }
  Result<void> on_checkpoint(std::string_view cursor, bool more) override {
    events.push_back("checkpoint " + std::string(cursor) + (more ? " more" : ""));
    return {};
  }

 private:
  static std::string s(crmsync_str v) { return v.len ? std::string(v.ptr, v.len) : std::string(); }
};

crmsync::config::Config config_enabling(std::vector<std::string> ids) {
  crmsync::config::Config config;
  config.plugins.dir = kFixtures.string();
  config.plugins.enabled = std::move(ids);
  return config;
}

constexpr const char* kGoodSettings = R"({"company_id": 12345, "api_token": "t0ken"})";

std::unique_ptr<Instance> open_good(PluginHost& host, HostServices& services) {
  auto instance = host.open_instance("good", "mindal-yclients", kGoodSettings, "Europe/Moscow",
                                     "RUB", services);
  REQUIRE_MESSAGE(instance.ok(), (instance.ok() ? "" : instance.error().message));
  return std::move(instance.value());
}

}  // namespace

TEST_CASE("each broken connector is refused with its exact reason and the others still work") {
  PluginHost host;
  const auto results =
      host.load_all(config_enabling({"no_entry", "wrong_major", "newer_minor", "small_struct",
                                     "webhook_without_fn", "missing", "good", "minimal"}));
  REQUIRE(results.size() == 8);
  const std::string expected[] = {
      so("no_entry") +
          ": missing symbol crmsync_connector_entry_v1 (not a crmsync connector, or "
          "built for another ABI major)",
      so("wrong_major") + ": built for ABI 2, host supports ABI 1",
      so("newer_minor") + ": needs minor 99 but host has " + std::to_string(CRMSYNC_ABI_MINOR),
      so("small_struct") + ": descriptor struct_size 40 is smaller than v1.0 (136)",
      so("webhook_without_fn") + ": capability WEBHOOK without parse_webhook",
      so("missing") + ": no such file",
  };
  for (size_t i = 0; i < std::size(expected); ++i) {
    CHECK_FALSE(results[i].ok());
    CHECK(results[i].error == expected[i]);
    CHECK(results[i].error.find('\n') == std::string::npos);
  }
  CHECK(results[6].ok());
  CHECK(results[7].ok());
  CHECK(host.connectors().size() == 2);
  CHECK(host.find("wrong_major") == nullptr);

  DefaultHostServices services;
  auto minimal = host.open_instance("minimal", "m", "{}", "Europe/Moscow", "RUB", services);
  REQUIRE(minimal.ok());
  Collected sink;
  REQUIRE(minimal.value()->fetch("", sink).ok());
  CHECK(sink.events == std::vector<std::string>{
                           "record 1 at=2025-11-17T14:30:00+03:00 amount=100.00", "checkpoint 1"});
}

TEST_CASE("declared rate limits are read from 1.1 descriptors and checked") {
  PluginHost host;
  const auto results = host.load_all(config_enabling({"minimal", "v1_0_size", "bad_rate_limit"}));
  REQUIRE(results.size() == 3);
  REQUIRE(results[0].ok());
  const auto limits = results[0].connector->rate_limits();
  REQUIRE(limits.size() == 2);
  CHECK(limits[0].requests == 5);
  CHECK(limits[0].per_ms == 1000);
  CHECK(limits[1].requests == 200);
  CHECK(limits[1].per_ms == 60000);
  // A 1.0-sized descriptor has no such fields: the host must not read past its end.
  REQUIRE(results[1].ok());
  CHECK(results[1].connector->rate_limits().empty());
  CHECK_FALSE(results[2].ok());
  CHECK(results[2].error ==
        so("bad_rate_limit") + ": rate_limits[1] needs requests > 0 and per_ms > 0");
}

TEST_CASE("a file that is not a shared library is refused with the loader's reason") {
  const fs::path dir = scratch("crmsync_junk");
  fs::create_directories(dir);
  const fs::path junk = dir / "junk.so";
  std::ofstream(junk) << std::string(256, 'x');  // long enough to be read as a header
  PluginHost host;
  const LoadResult result = host.load(junk);
  CHECK_FALSE(result.ok());
  CHECK(result.error.rfind(junk.string() + ": cannot load: ", 0) == 0);
  CHECK(result.error.find("invalid ELF header") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("a connector whose id differs from its file name is refused") {
  const fs::path dir = scratch("crmsync_renamed_connector");
  fs::create_directories(dir);
  fs::copy_file(so("good"), dir / "other.so", fs::copy_options::overwrite_existing);
  crmsync::config::Config config;
  config.plugins.dir = dir.string();
  config.plugins.enabled = {"other"};
  PluginHost host;
  const auto results = host.load_all(config);
  REQUIRE(results.size() == 1);
  CHECK(results[0].error ==
        (dir / "other.so").string() + ": descriptor id `good` does not match the file name");
  CHECK(host.connectors().empty());
  fs::remove_all(dir);
}

TEST_CASE("the same connector id cannot be loaded twice from two files") {
  const fs::path dir = scratch("crmsync_good_copy");
  fs::create_directories(dir);
  const fs::path copy = dir / "copy.so";
  fs::copy_file(so("good"), copy, fs::copy_options::overwrite_existing);
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  CHECK(host.load(copy).error ==
        copy.string() + ": connector id `good` is already loaded from " + so("good"));
  fs::remove_all(dir);
}

TEST_CASE("the descriptor is copied and its capabilities are named") {
  PluginHost host;
  const LoadResult result = host.load(so("good"));
  REQUIRE(result.ok());
  CHECK(result.id == "good");
  const crmsync_connector_v1& d = result.connector->descriptor();
  CHECK(d.struct_size == sizeof(crmsync_connector_v1));
  CHECK(std::string(d.version) == "2.1.0");
  CHECK(capability_names(d.capabilities) ==
        std::vector<std::string>{"FETCH", "INCREMENTAL", "WEBHOOK"});
  CHECK(capability_names(0).empty());
}

TEST_CASE("integration configs are validated against the connector's schema before open") {
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto error_for = [&](std::string_view settings) {
    auto instance = host.open_instance("good", "i", settings, "Europe/Moscow", "RUB", services);
    REQUIRE_FALSE(instance.ok());
    CHECK(instance.error().code == CRMSYNC_E_INVALID_CONFIG);
    return instance.error().message;
  };
  CHECK(error_for(R"({"api_token": "t"})") ==
        so("good") + ": config: field `company_id` is required");
  CHECK(error_for(R"({"company_id": "x", "api_token": "t"})") ==
        so("good") + ": config: field `company_id`: Value type not permitted by 'type' constraint");
  CHECK(error_for(R"({"company_id": 0, "api_token": "t"})").find("field `company_id`") !=
        std::string::npos);
  CHECK(error_for("{not json") == so("good") + ": config: not valid JSON");
  CHECK(error_for("[1]") == so("good") + ": config: expected a JSON object");

  auto unknown = host.open_instance("nope", "i", "{}", "Europe/Moscow", "RUB", services);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == CRMSYNC_E_NOT_FOUND);
  CHECK(unknown.error().message == "connector `nope` is not loaded");
}

TEST_CASE("secret fields are removed from config_json and served through secret_get") {
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto instance = host.open_instance(
      "good", "i", R"({"company_id": 7, "api_token": "t0ken", "branch": "north"})",
      "Asia/Yekaterinburg", "KZT", services);
  REQUIRE(instance.ok());
  auto message = instance.value()->health_check();
  REQUIRE(message.ok());
  CHECK(
      *message ==
      R"(config={"branch":"north","company_id":7} token=t0ken tz=Asia/Yekaterinburg currency=KZT)");
}

TEST_CASE("an open() that throws becomes INTERNAL with the exception's message") {
  PluginHost host;
  REQUIRE(host.load(so("throwing_open")).ok());
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto instance =
      host.open_instance("throwing_open", "i", kGoodSettings, "Europe/Moscow", "RUB", services);
  REQUIRE_FALSE(instance.ok());
  CHECK(instance.error().code == CRMSYNC_E_INTERNAL);
  CHECK(instance.error().message ==
        so("throwing_open") + ": open: INTERNAL: cannot parse settings: boom");
  // The host keeps working.
  auto good = open_good(host, services);
  CHECK(good->health_check().ok());
}

TEST_CASE("a retryable error keeps its code, message and retry hint") {
  PluginHost host;
  REQUIRE(host.load(so("unavailable")).ok());
  REQUIRE(host.load(so("minimal")).ok());
  DefaultHostServices services;
  auto instance = host.open_instance("unavailable", "i", "{}", "Europe/Moscow", "RUB", services);
  REQUIRE(instance.ok());
  Collected sink;
  Result<void> fetched = instance.value()->fetch("", sink);
  REQUIRE_FALSE(fetched.ok());
  CHECK(fetched.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(fetched.error().retryable());
  CHECK(fetched.error().message ==
        "UNAVAILABLE: CRM is down for maintenance (retry after 1500 ms)");
  auto other = host.open_instance("minimal", "m", "{}", "Europe/Moscow", "RUB", services);
  REQUIRE(other.ok());
  CHECK(other.value()->fetch("", sink).ok());
}

TEST_CASE("fetch delivers records, skips, failures and the checkpoint through the sink") {
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto instance = open_good(host, services);
  CHECK(instance->connector_id() == "good");
  CHECK(instance->integration_id() == "mindal-yclients");
  Collected sink;
  REQUIRE(instance->fetch("", sink).ok());
  CHECK(sink.events ==
        std::vector<std::string>{
            "record 67890 at=2025-11-17T14:30:00+03:00 amount=1 500,50 phone=+7 999 123-45-67 "
            "item=Haircut/1500.50 raw={\"id\":67890}",
            "record 67891 at=2025-11-17 15:00 minor=99900 medical",
            "skip 67892: not paid",
            "fail 67893: Missing field 'client.phone' in response raw={}",
            "checkpoint 2 more",
        });
}

TEST_CASE("durable state round-trips through state_get and state_cas") {
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto instance = open_good(host, services);
  Collected sink;
  REQUIRE(instance->fetch("state", sink).ok());
  REQUIRE(instance->fetch("state", sink).ok());
  CHECK(sink.events == std::vector<std::string>{"checkpoint 1", "checkpoint 2"});
  CHECK(services.state_get("mindal-yclients", "counter")->value == "2");
}

TEST_CASE("misuse of the sink fails the call with INTERNAL and says how") {
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto instance = open_good(host, services);
  Collected sink;
  auto twice = instance->fetch("checkpoint-twice", sink);
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().code == CRMSYNC_E_INTERNAL);
  CHECK(twice.error().message == "INTERNAL: sink misuse: checkpoint() called twice");
  auto none = instance->fetch("no-checkpoint", sink);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message == "INTERNAL: fetch returned without calling checkpoint()");
  auto refetch = instance->fetch("refetch", sink);
  REQUIRE_FALSE(refetch.ok());
  CHECK(refetch.error().message == "INTERNAL: sink misuse: refetch() outside parse_webhook");
  // The instance is still usable.
  CHECK(instance->fetch("state", sink).ok());
}

TEST_CASE("a refusal from the RecordSink reaches the connector and the caller") {
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto instance = open_good(host, services);
  Collected sink;
  sink.refuse_records = crmsync::fail(CRMSYNC_E_CANCELLED, "shutting down");
  auto fetched = instance->fetch("", sink);
  REQUIRE_FALSE(fetched.ok());
  CHECK(fetched.error().code == CRMSYNC_E_CANCELLED);
  CHECK(fetched.error().message == "CANCELLED: sink refused record");
  CHECK(sink.events.empty());
}

TEST_CASE("HTTP through the default services answers UNAVAILABLE") {
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto instance = open_good(host, services);
  Collected sink;
  auto fetched = instance->fetch("http", sink);
  REQUIRE_FALSE(fetched.ok());
  CHECK(fetched.error().code == CRMSYNC_E_UNAVAILABLE);
}

TEST_CASE("parse_webhook maps records and refetches, and runs while fetch holds the instance") {
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto instance = open_good(host, services);
  Collected webhook_sink;
  REQUIRE(
      instance->parse_webhook({"application/json", {{"X-Id", "1"}}, "", "555"}, webhook_sink).ok());
  REQUIRE(instance->parse_webhook({"application/json", {}, "", "refetch:777"}, webhook_sink).ok());
  CHECK(
      webhook_sink.events ==
      std::vector<std::string>{"record 555 at=2025-11-17T14:30:00+03:00 minor=100", "refetch 777"});

  // fetch("wait-for-webhook") holds the instance lock until parse_webhook("release") runs; if the
  // host serialized parse_webhook behind it, fetch would time out.
  Collected fetch_sink;
  Result<void> fetched;
  std::thread fetcher([&] { fetched = instance->fetch("wait-for-webhook", fetch_sink); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Collected release_sink;
  CHECK(instance->parse_webhook({"", {}, "", "release"}, release_sink).ok());
  fetcher.join();
  CHECK_MESSAGE(fetched.ok(), (fetched.ok() ? "" : fetched.error().message));
  CHECK(fetch_sink.events == std::vector<std::string>{"checkpoint released"});
}

TEST_CASE("calls on one instance never overlap, even from many threads") {
  PluginHost host;
  REQUIRE(host.load(so("good")).ok());
  DefaultHostServices services;
  auto instance = open_good(host, services);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        Collected sink;
        if (!instance->fetch("overlap", sink).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures.load() == 0);
}

TEST_CASE("entry points a connector does not provide answer UNSUPPORTED") {
  PluginHost host;
  REQUIRE(host.load(so("minimal")).ok());
  DefaultHostServices services;
  auto instance = host.open_instance("minimal", "m", "{}", "Europe/Moscow", "RUB", services);
  REQUIRE(instance.ok());
  Collected sink;
  auto mapped = instance.value()->map_response("{}", sink);
  REQUIRE_FALSE(mapped.ok());
  CHECK(mapped.error().code == CRMSYNC_E_UNSUPPORTED);
  CHECK(mapped.error().message == "UNSUPPORTED: connector minimal does not provide map_response");
  CHECK(instance.value()->parse_webhook({}, sink).error().code == CRMSYNC_E_UNSUPPORTED);
  CHECK(instance.value()->push_bonus({}, "key").error().code == CRMSYNC_E_UNSUPPORTED);
  CHECK(instance.value()->configure_webhook("").error().code == CRMSYNC_E_UNSUPPORTED);
  CHECK(instance.value()->fetch_object("1", sink).error().code == CRMSYNC_E_UNSUPPORTED);
}

TEST_CASE("an instance keeps its library loaded after the PluginHost is gone") {
  DefaultHostServices services;
  std::unique_ptr<Instance> instance;
  {
    PluginHost host;
    REQUIRE(host.load(so("good")).ok());
    instance = open_good(host, services);
  }
  Collected sink;
  CHECK(instance->fetch("state", sink).ok());
  CHECK(instance->health_check().ok());
}

TEST_CASE("copy_struct reads only struct_size bytes and zeroes the newer fields") {
  // An "older" record: the producer's struct ends before `locator`; the bytes after it are not
  // part of its struct and must not be read.
  alignas(crmsync_record_v1) unsigned char buffer[sizeof(crmsync_record_v1)];
  std::memset(buffer, 0xAB, sizeof buffer);
  crmsync_record_v1 older;
  std::memset(&older, 0, sizeof older);
  older.struct_size = offsetof(crmsync_record_v1, locator);
  older.external_id = {"42", 2};
  std::memcpy(buffer, &older, offsetof(crmsync_record_v1, locator));
  const auto copy = internal::copy_struct(reinterpret_cast<const crmsync_record_v1*>(buffer));
  CHECK(copy.struct_size == offsetof(crmsync_record_v1, locator));
  CHECK(std::string(copy.external_id.ptr, copy.external_id.len) == "42");
  CHECK(copy.locator.ptr == nullptr);
  CHECK(copy.locator.len == 0);
}

TEST_CASE("example: the out-of-tree hello connector loads, opens, checks health and fetches") {
  const char* path = std::getenv("CRMSYNC_EXAMPLE_CONNECTOR");
  REQUIRE_MESSAGE(path != nullptr, "CRMSYNC_EXAMPLE_CONNECTOR must name the built hello.so");
  PluginHost host;
  const LoadResult loaded = host.load(path);
  REQUIRE_MESSAGE(loaded.ok(), loaded.error);
  CHECK(loaded.id == "hello");
  DefaultHostServices services;

  auto refused = host.open_instance("hello", "h", R"({"greeting": "Привет"})", "Europe/Moscow",
                                    "RUB", services);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == std::string(path) + ": config: field `api_token` is required");

  auto instance = host.open_instance("hello", "h", R"({"greeting": "Привет", "api_token": "t"})",
                                     "Europe/Moscow", "RUB", services);
  REQUIRE_MESSAGE(instance.ok(), (instance.ok() ? "" : instance.error().message));
  auto health = instance.value()->health_check();
  REQUIRE(health.ok());
  CHECK(*health == "✅ Connected to Hello");

  Collected sink;
  std::string cursor;
  for (int batch = 0; batch < 3; ++batch) {
    REQUIRE(instance.value()->fetch(cursor, sink).ok());
    cursor = sink.events.back().substr(std::string("checkpoint ").size());
    cursor = cursor.substr(0, cursor.find(' '));
  }
  CHECK(
      sink.events ==
      std::vector<std::string>{
          "record 1000 at=2025-11-10 12:00 minor=150000 phone=+7 999 123-45-67 description=Привет",
          "record 1001 at=2025-11-11 12:00 minor=150100 phone=+7 999 123-45-67 description=Привет",
          "checkpoint 2 more",
          "record 1002 at=2025-11-12 12:00 minor=150200 phone=+7 999 123-45-67 description=Привет",
          "record 1003 at=2025-11-13 12:00 minor=150300 phone=+7 999 123-45-67 description=Привет",
          "checkpoint 4 more",
          "record 1004 at=2025-11-14 12:00 minor=150400 phone=+7 999 123-45-67 description=Привет",
          "checkpoint 5",
      });
  CHECK(services.state_get("h", "fetches")->value == "3");
}
