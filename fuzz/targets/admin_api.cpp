// The admin API's request handling: the routes of admin::Api on a server::Router, over a real
// SQLite store in a temporary folder with the yclients, csv and custom connectors loaded. Each
// input is one request, handed to the handler the router matches, answered before the next:
//   byte 0: the API key (0 platform admin, 1 owner of `mindal`, 2 owner of `other`, 3 none) and
//           the content type (bits 2-3: JSON, CSV, form, none)
//   line 1: the method; line 2: the path, as the server has percent-decoded it; line 3: the query
//   string's name=value pairs joined by '&' (decoded); the rest: the body.
// State carries over between inputs (created integrations, keys, runs), as in a serving host. The
// store lives in $TMPDIR, else /dev/shm (fsync is cheap there), else /tmp.
// Outbound HTTP (test connection, sandbox live runs) goes to a proxy that refuses at once, so no
// input reaches the network.
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <variant>

#include "admin/api.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "input.h"
#include "plugin_host/plugin_host.h"
#include "server/server.h"
#include "store/store.h"
#include "sync/engine.h"
#include "sync/host_services.h"

namespace {

using namespace crmsync;
using namespace std::chrono_literals;

constexpr int64_t kNowMs = 1'763'380'800'000;  // 2025-11-17T12:00:00Z

struct World {
  std::filesystem::path dir;
  std::unique_ptr<store::Store> store;
  plugin_host::PluginHost host;
  std::unique_ptr<sync::StoreHostServices> services;
  std::unique_ptr<sync::Engine> engine;
  std::unique_ptr<admin::Api> api;
  server::Router router;
  std::array<std::string, 3> keys;  // admin, owner of mindal, owner of other
};

World* world = nullptr;

store::Timestamp now() {
  return store::Timestamp(std::chrono::milliseconds(kNowMs));
}

[[noreturn]] void fail_setup(const std::string& what) {
  std::fprintf(stderr, "admin_api set-up: %s\n", what.c_str());
  std::abort();
}

template <class T>
T value_or_fail(Result<T> result, const char* what) {
  if (!result) fail_setup(std::string(what) + ": " + result.error().message);
  return std::move(*result);
}

void add_business(const char* id, const char* name) {
  store::Business business;
  business.id = id;
  business.name = name;
  business.created_at = now();
  if (!world->store->add_business(business)) fail_setup("add business");
}

void remove_world() {
  std::filesystem::remove_all(world->dir);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
  unsetenv("NO_PROXY");
  unsetenv("no_proxy");
  world = new World;
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = (tmpdir && *tmpdir               ? std::string(tmpdir)
                         : access("/dev/shm", W_OK) == 0 ? std::string("/dev/shm")
                                                         : std::string("/tmp")) +
                        "/crmsync-fuzz-admin-XXXXXX";
  if (!mkdtemp(pattern.data())) fail_setup("cannot create a temporary folder");
  world->dir = pattern;
  std::atexit(remove_world);

  store::StorageConfig storage;
  storage.target = (world->dir / "crmsync.db").string();
  world->store = value_or_fail(store::open_store(storage), "open store");
  add_business("mindal", "Миндаль");
  add_business("other", "Other");
  for (const char* connector : {"yclients", "csv", "custom"}) {
    const auto loaded = world->host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/" + connector + ".so");
    if (!loaded.ok()) fail_setup(loaded.error);
  }
  sync::HttpDefaults http;
  http.options.connect_timeout = 100ms;
  http.options.request_timeout = 200ms;
  http.options.retry.max_attempts = 1;
  world->services =
      std::make_unique<sync::StoreHostServices>(*world->store, http, sync::ProcessLog{}, now);
  const crypto::MasterKey key =
      value_or_fail(crypto::parse_master_key(std::string(64, 'a')), "master key");
  sync::EngineOptions engine;
  engine.owner = "fuzz-host";
  engine.master_keys = {key};
  engine.now = now;
  world->engine =
      std::make_unique<sync::Engine>(*world->store, world->host, *world->services, engine);

  admin::ApiOptions options;
  options.csv_connector = std::string(CRMSYNC_PLUGIN_DIR) + "/csv.so";
  options.upload_dir = world->dir / "uploads";
  std::filesystem::create_directories(options.upload_dir);
  options.max_csv_bytes = 64 * 1024;
  options.owner = "fuzz-host";
  options.now = now;
  // A manual sync is claimed (its run row exists) but not executed: no connector reaches a CRM.
  options.trigger = [](const std::string& id) -> Result<int64_t> {
    auto claim = world->engine->claim(id, store::RunTrigger::manual);
    if (!claim) return claim.error();
    return claim->run_id;
  };
  options.metrics = [] { return std::string("crmsync_up 1\n"); };
  options.expected_schema_version = value_or_fail(world->store->schema_version(), "schema");
  world->api = std::make_unique<admin::Api>(*world->store, world->host, *world->engine,
                                            std::vector<crypto::MasterKey>{key}, options);
  world->api->add_routes(world->router);
  world->keys = {
      value_or_fail(admin::create_api_key(*world->store, "admin", std::nullopt, now()), "key")
          .secret,
      value_or_fail(admin::create_api_key(*world->store, "owner", "mindal", now()), "key").secret,
      value_or_fail(admin::create_api_key(*world->store, "owner", "other", now()), "key").secret};
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input input(data, size);
  const uint8_t selector = input.byte();
  server::Request request;
  request.method = input.line();
  request.path = input.line();
  const std::string_view query = input.line();
  request.target = request.path + (query.empty() ? "" : "?") + std::string(query);
  for (size_t start = 0; start < query.size();) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    request.query.emplace(std::string(pair.substr(0, eq)),
                          eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
    start = end + 1;
  }
  request.body = input.rest();
  request.remote_address = "127.0.0.1";
  if ((selector & 3) < 3) {
    request.headers.emplace_back("authorization", "Bearer " + world->keys[selector & 3]);
  }
  static constexpr std::array<const char*, 3> kTypes = {"application/json", "text/csv",
                                                        "application/x-www-form-urlencoded"};
  if ((selector >> 2 & 3) < 3)
    request.headers.emplace_back("content-type", kTypes[selector >> 2 & 3]);

  int status = 0;
  const server::Router::Route* route =
      world->router.match(request.method, request.path, request.params, status);
  if (!route) return 0;
  // As the server does: the gate decides on the headers, then an admitted request's handler
  // gets the body.
  std::string body = std::move(request.body);
  request.body.clear();
  std::promise<server::Decision> decided;
  std::future<server::Decision> decision = decided.get_future();
  route->gate(request,
              [&decided](server::Decision verdict) { decided.set_value(std::move(verdict)); });
  if (decision.wait_for(10s) != std::future_status::ready) {
    std::fprintf(stderr, "admin_api: the gate did not decide within 10 s\n");
    std::abort();
  }
  server::Decision verdict = decision.get();
  auto* handler = std::get_if<server::Handler>(&verdict);
  if (!handler) return 0;
  request.body = std::move(body);
  std::promise<server::Response> answered;
  std::future<server::Response> response = answered.get_future();
  (*handler)(std::move(request),
             [&answered](server::Response reply) { answered.set_value(std::move(reply)); });
  if (response.wait_for(10s) != std::future_status::ready) {
    std::fprintf(stderr, "admin_api: the handler did not answer within 10 s\n");
    std::abort();
  }
  return 0;
}
