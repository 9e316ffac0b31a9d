// The running host (see host.h).
#include "cli/host.h"

#include <unistd.h>

#include <date/date.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "base/json.h"

#include "alerts/alerts.h"
#include "cli/runtime.h"

namespace crmsync::cli {

Host::~Host() = default;

namespace {

const char* const kLevels[] = {"debug", "info", "warning", "error"};

// The lowest level written: $CRMSYNC_LOG_LEVEL (debug, info, warning, error), info by default.
int32_t minimum_level() {
  static const int32_t level = [] {
    const char* wanted = std::getenv("CRMSYNC_LOG_LEVEL");
    for (int32_t i = 0; wanted != nullptr && i < 4; ++i) {
      if (std::string_view(wanted) == kLevels[i]) return i;
    }
    return int32_t{CRMSYNC_LOG_INFO};
  }();
  return level;
}

}  // namespace

void log_line(int32_t level, const std::string& integration, const std::string& message) {
  if (level < minimum_level()) return;
  static std::mutex mutex;
  nlohmann::json line = {
      {"time", date::format("%FT%TZ", std::chrono::floor<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now()))},
      {"level", kLevels[level >= 0 && level <= 3 ? level : 3]},
      {"message", message}};
  if (!integration.empty()) line["integration"] = integration;
  const std::string text = dump_json(line);
  std::lock_guard lock(mutex);
  std::fprintf(stderr, "%s\n", text.c_str());
}

Result<std::unique_ptr<Host>> open_host(const config::Config& config) {
  auto host = std::make_unique<Host>();
  host->config = config;
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  host->owner = std::string(name) + ":" + std::to_string(getpid());

  auto keys = load_master_keys(config.secrets);
  if (!keys) return keys.error();
  host->keys = std::move(*keys);
  auto db = open_store(config);
  if (!db) return db.error();
  host->store = std::move(*db);
  if (auto checked = check_master_keys(*host->store, host->keys); !checked) {
    return checked.error();
  }

  host->plugins = std::make_unique<plugin_host::PluginHost>();
  for (const plugin_host::LoadResult& loaded : host->plugins->load_all(config)) {
    if (!loaded.ok()) return fail(CRMSYNC_E_INVALID_CONFIG, loaded.error);
  }
  // Integrations created through the API name their CRM type only: load its connector too.
  auto stored = host->store->list_integrations(std::nullopt);
  if (!stored) return stored.error();
  std::set<std::string> types;
  for (const store::Integration& integration : *stored) types.insert(integration.crm_type);
  for (const config::BusinessConfig& business : config.businesses) {
    for (const config::IntegrationConfig& integration : business.integrations) {
      types.insert(integration.connector);
    }
  }
  for (const std::string& type : types) {
    if (host->plugins->find(type) != nullptr) continue;
    const auto path = std::filesystem::path(config.plugins.dir) / (type + ".so");
    plugin_host::LoadResult loaded = host->plugins->load(path);
    if (!loaded.ok()) log_line(CRMSYNC_LOG_ERROR, "", "connector not loaded: " + loaded.error);
  }

  auto registered =
      sync::register_config_integrations(*host->store, *host->plugins, config, host->keys, now());
  if (!registered) return registered.error();

  auto mailer = alerts::make_mailer(config.alerts);
  if (!mailer) return fail(mailer.error().code, "alerts: " + mailer.error().message);
  host->mailer = std::move(*mailer);

  auto policy = http::AddressPolicy::create(config.http.allow_private);
  if (!policy) return fail(policy.error().code, "http.allow_private: " + policy.error().message);
  host->address_policy = std::make_shared<const http::AddressPolicy>(std::move(*policy));
  sync::HttpDefaults http;
  http.options.address_policy = host->address_policy;
  host->metrics = std::make_unique<metrics::Registry>();
  http.metrics = host->metrics.get();
  host->services =
      std::make_unique<sync::StoreHostServices>(*host->store, std::move(http), &log_line, &now);
  sync::EngineOptions options;
  options.owner = host->owner;
  options.run_lease = std::chrono::seconds(config.scheduler.run_lease_seconds);
  // Queue items (retries, received webhooks) a dead host had claimed return as soon as its runs.
  options.retry_policy.lease = options.run_lease;
  options.master_keys = host->keys;
  options.now = &now;
  const alerts::AlertContext context{alerts::admin_base_url(config.server)};
  Host* self = host.get();
  const http::LogSink alert_log = [](int32_t level, const std::string& line) {
    log_line(level, "", line);
  };
  options.on_run_finished = [self, context, alert_log](const sync::RunReport& report) {
    if (report.status != store::RunStatus::failed) return;
    auto alerted = alerts::notify_run_failure(*self->store, self->mailer.get(), context,
                                              report.integration_id, now(), alert_log);
    if (!alerted) {
      log_line(CRMSYNC_LOG_ERROR, report.integration_id,
               "failure alert not sent: " + alerted.error().message);
    }
  };
  options.on_item_failed = [self, context, alert_log](const store::RetryItem& item,
                                                      const std::string& error) {
    auto alerted = alerts::notify_permanent_failure(*self->store, self->mailer.get(), context, item,
                                                    error, now(), alert_log);
    if (!alerted) {
      log_line(CRMSYNC_LOG_ERROR, item.integration_id,
               "failure alert not sent: " + alerted.error().message);
    }
  };
  host->engine = std::make_unique<sync::Engine>(*host->store, *host->plugins, *host->services,
                                                std::move(options));
  return host;
}

}  // namespace crmsync::cli
