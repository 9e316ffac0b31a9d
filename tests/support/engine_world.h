// A store with one business (Миндаль), the YCLIENTS and scripted test connectors loaded, host
// services over the store and an engine over them: the world engine-level tests run in. Needs
// CRMSYNC_PLUGIN_DIR and CRMSYNC_TEST_CONNECTOR_DIR defined by the test's CMakeLists.
#ifndef CRMSYNC_TESTS_SUPPORT_ENGINE_WORLD_H
#define CRMSYNC_TESTS_SUPPORT_ENGINE_WORLD_H

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "alerts/alerts.h"
#include "crypto/crypto.h"
#include "plugin_host/plugin_host.h"
#include "store/store.h"
#include "sync/engine.h"
#include "sync/host_services.h"

namespace crmsync::test {

using namespace std::chrono_literals;

inline const crypto::MasterKey& test_key() {
  static const crypto::MasterKey key = crypto::parse_master_key(std::string(64, 'a')).value();
  return key;
}

// A controllable clock for the engine (runs, logs, retries); HTTP waits stay real but short.
struct TestClock {
  std::atomic<int64_t> ms{1'763'380'800'000};  // 2025-11-17T12:00:00Z
  bool real = false;                           // follow the system clock instead (scheduler tests)
  // Called on every reading, from the reading thread: lets a test act at a known point of the
  // engine's work. Set it before the threads that read the clock start.
  std::function<void()> on_read;
  store::Timestamp now() const {
    if (on_read) on_read();
    if (real) {
      return std::chrono::time_point_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now());
    }
    return store::Timestamp(std::chrono::milliseconds(ms.load()));
  }
  void advance(std::chrono::milliseconds d) { ms += d.count(); }
};

// A store with the business Миндаль, the loaded connectors and an engine over them.
template <class B>
struct World {
  B db;
  std::unique_ptr<store::Store> store = store::open_store(db.config()).value();
  plugin_host::PluginHost host;
  TestClock clock;
  std::unique_ptr<sync::StoreHostServices> services;
  std::unique_ptr<sync::Engine> engine;
  std::unique_ptr<alerts::Mailer> mailer;
  std::vector<sync::RunReport> reports;

  explicit World(const std::string& smtp_url = "") {
    store::Business business;
    business.id = "mindal";
    business.name = "Миндаль";
    business.created_at = clock.now();
    REQUIRE(store->add_business(business));
    REQUIRE(host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/yclients.so").ok());
    REQUIRE(host.load(std::string(CRMSYNC_TEST_CONNECTOR_DIR) + "/scripted.so").ok());
    sync::HttpDefaults http;
    http.options.retry.base_delay = 5ms;
    http.options.retry.max_delay = 20ms;
    http.options.retry.max_attempts = 8;
    http.options.request_timeout = 5s;
    services = std::make_unique<sync::StoreHostServices>(*store, http, sync::ProcessLog{},
                                                         [this] { return clock.now(); });
    if (!smtp_url.empty()) {
      alerts::MailerOptions mail;
      mail.smtp_url = smtp_url;
      mail.from = "crmsync@example.com";
      mail.to = {"owner@mindal.example"};
      mailer = alerts::Mailer::create(mail).value();
    }
    sync::EngineOptions options;
    options.owner = "test-host";
    options.master_keys = {test_key()};
    options.now = [this] { return clock.now(); };
    options.on_run_finished = [this](const sync::RunReport& report) {
      reports.push_back(report);
      if (report.status != store::RunStatus::failed) return;
      REQUIRE(alerts::notify_run_failure(*store, mailer.get(),
                                         {.admin_base_url = "https://crm.example.com"},
                                         report.integration_id, clock.now()));
    };
    options.on_item_failed = [this](const store::RetryItem& item, const std::string& error) {
      REQUIRE(alerts::notify_permanent_failure(*store, mailer.get(),
                                               {.admin_base_url = "https://crm.example.com"}, item,
                                               error, clock.now()));
    };
    engine = std::make_unique<sync::Engine>(*store, host, *services, options);
  }

  // Adds an integration of the connector with these settings (secrets sealed like the host does).
  void add(const std::string& id, const std::string& connector, const nlohmann::json& settings) {
    auto split = sync::seal_settings(*host.find(connector), settings.dump(), &test_key()).value();
    store::Integration integration;
    integration.id = id;
    integration.business_id = "mindal";
    integration.crm_type = connector;
    integration.settings_json = split.first;
    integration.credentials = split.second;
    integration.created_at = integration.updated_at = clock.now();
    REQUIRE(store->create_integration(integration));
  }

  int64_t count(const std::string& sql) { return db.scalar(sql); }
};

// The integration's log lines, newest first, optionally of one type.
inline std::vector<store::LogEntry> logs_of(store::Store& db, const std::string& integration,
                                            std::optional<store::LogType> type = std::nullopt) {
  store::LogQuery query;
  query.integration_id = integration;
  query.type = type;
  return db.list_logs(query).value();
}

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_SUPPORT_ENGINE_WORLD_H
