// The sync engine (DESIGN §4, §6): runs one integration's sync from its stored cursor through the
// connector and the pipeline into the store, under a leased sync_runs row, and keeps the record of
// it (counters, status, log lines, consecutive failures). Also re-reads single objects (webhook
// refetches and their item-level retries) and registers the config file's integrations.
//
// Every public method is thread-safe; runs of different integrations may proceed in parallel,
// and the store's run lease keeps one integration to one run across hosts.
#ifndef CRMSYNC_CORE_SYNC_ENGINE_H
#define CRMSYNC_CORE_SYNC_ENGINE_H

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "crypto/crypto.h"
#include "pipeline/pipeline.h"
#include "plugin_host/plugin_host.h"
#include "store/store.h"
#include "sync/host_services.h"

namespace crmsync::sync {

// What a finished (or refused) run did.
struct RunReport {
  int64_t run_id = 0;
  std::string integration_id;
  std::string business_id;
  std::string crm_type;
  store::RunTrigger trigger = store::RunTrigger::manual;
  store::RunStatus status = store::RunStatus::success;
  pipeline::Totals totals;
  std::chrono::milliseconds duration{0};
  std::optional<Error> error;  // why the run failed
  std::string error_type;      // the log's error_type: "ConnectionError", "AuthenticationError"...
  int consecutive_failures = 0;  // after this run
  // The admin-facing line: "✅ Синхронизировано 12 транзакций" or "❌ <error>".
  std::string message;
};

// What one Engine::process_inbox call did.
struct InboxPass {
  int handled = 0;  // webhooks claimed and handled
  // How long the oldest webhook of the pass on its first attempt had waited since it was
  // received: how far mapping lags behind the receiver. Zero when the pass had none.
  std::chrono::milliseconds lag{0};
};

// How the engine behaves.
struct EngineOptions {
  std::string owner;  // lease owner, unique per host process, e.g. "host-a:1234"
  std::chrono::milliseconds run_lease{std::chrono::minutes(5)};  // renewed after every batch
  std::vector<crypto::MasterKey> master_keys;  // open stored credentials; the first seals new ones
  store::LeasePolicy retry_policy;             // item-level retries: 2, 4, 8 minutes
  std::function<store::Timestamp()> now;       // the clock; defaults to the system clock
  // Called after every finished run, e.g. to send the failure-streak alert.
  std::function<void(const RunReport&)> on_run_finished;
  // Objects a webhook names that are re-read while it is mapped; the rest are queued as re-reads
  // of their own (process_retries), so that one webhook naming thousands of records holds its
  // inbox worker for a bounded time.
  size_t webhook_rereads = 20;
  // Called when a retry item fails for good (after its last attempt), with its last error.
  std::function<void(const store::RetryItem&, const std::string& error)> on_item_failed;
};

// The log's error_type for an error code ("ConnectionError" for UNAVAILABLE...).
std::string error_type(int32_t code);

// "✅ Синхронизировано 12 транзакций" (Russian plural forms).
std::string synced_message(int64_t inserted);

// Runs syncs of the store's integrations with the loaded connectors.
class Engine {
 public:
  // store, host and services must outlive the engine; the host's connectors are loaded.
  Engine(store::Store& store, const plugin_host::PluginHost& host, StoreHostServices& services,
         EngineOptions options);

  // A run claimed in the store (its sync_runs row exists and holds the lease), not yet executed.
  struct Claim {
    int64_t run_id = 0;
    store::RunTrigger trigger = store::RunTrigger::manual;
    store::Integration integration;
    store::Business business;
  };

  // Claims a run of the integration: CONFLICT when another run holds it, NOT_FOUND for an
  // unknown integration, INVALID_CONFIG for a disabled one.
  Result<Claim> claim(const std::string& integration_id, store::RunTrigger trigger);

  // Executes a claimed run to its end and records it. A failed sync is not an error here (its
  // report says so); errors are the store's, when even the run's end cannot be written.
  Result<RunReport> execute(const Claim& claim);

  // claim() then execute(): one sync of the integration now.
  Result<RunReport> sync(const std::string& integration_id, store::RunTrigger trigger);

  // Opens the integration's connector and returns its health check message.
  Result<std::string> test_connection(const std::string& integration_id);

  // Re-reads one object of the integration and ingests it (a webhook's refetch). A transient
  // failure queues the object for an item-level retry and is returned as the error.
  Result<pipeline::Totals> refetch(const std::string& integration_id, const std::string& object_id);

  // Maps a received webhook with the integration's connector and stores the sales it carries;
  // objects it only names are re-read like refetch (a transient failure queues a retry and the
  // other objects still proceed). Errors: the webhook cannot be read, or the store's.
  Result<pipeline::Totals> ingest_webhook(const std::string& integration_id,
                                          const plugin_host::WebhookRequest& request);

  // Processes due item-level retries (at most limit); returns how many were handled.
  Result<int> process_retries(int limit);

  // Processes due received webhooks (at most limit) like ingest_webhook, grouped by integration:
  // each group opens one connector instance and commits its sales in one store transaction that
  // also marks its webhooks done. A webhook that cannot be read (bad body, unknown or disabled
  // integration) fails for good at once with a log line, a transient failure is retried like
  // other items; either way alone, the rest of its group still succeeds. When a group's commit
  // fails, its webhooks are retried later (a lost lease leaves them to their new owner) and the
  // other groups still run; the first such error is returned. Otherwise returns how many were
  // handled and how far they lagged.
  Result<InboxPass> process_inbox(int limit);

  // The URL the integration's provider must call, public_url/webhooks/<crm_type>/<id>, with
  // ?token=<secret> for token endpoints. Creates the integration's webhook endpoint first when it
  // has none: token authentication with a generated secret. Needs a master key for that.
  Result<std::string> webhook_url(const std::string& integration_id, const std::string& public_url);

  // Brings the provider's webhook registration in line with the integration through the
  // connector's configure_webhook: an active integration's webhook_url registered, an inactive
  // one's removed. Does nothing when the stored endpoint says it is so already. Returns whether
  // anything changed; UNSUPPORTED when the connector cannot register webhooks.
  Result<bool> reconcile_webhook(const std::string& integration_id, const std::string& public_url);

  // Opens an instance of the integration: stored settings merged with its unsealed credentials.
  Result<std::unique_ptr<plugin_host::Instance>> open_instance(
      const store::Integration& integration, const store::Business& business);

  // The services the engine's instances use (cancellation at shutdown).
  StoreHostServices& services() noexcept { return services_; }

 private:
  store::Timestamp now() const { return options_.now(); }
  // An integration with its business.
  struct Loaded {
    store::Integration integration;
    store::Business business;
  };
  Result<Loaded> load(const std::string& integration_id);
  // What ingesting webhooks of an integration needs: its target and a connector instance.
  struct Opened {
    pipeline::Target target;
    std::unique_ptr<plugin_host::Instance> instance;
  };
  Result<Opened> open_ingest(const Loaded& loaded);
  // An ingest for connector calls outside a sync run (webhooks, re-reads): no run, no cursor.
  pipeline::Ingest outside_run(pipeline::Target target);
  // Adds a webhook's sales, and those of the first EngineOptions::webhook_rereads objects it
  // names (re-read like refetch), to the ingest's pending batch; the other objects are queued as
  // re-reads due now (the retry queue). progress, when given, is called after each re-read.
  Result<void> map_webhook(const store::Integration& integration, plugin_host::Instance& instance,
                           pipeline::Ingest& ingest, const plugin_host::WebhookRequest& request,
                           const std::function<Result<void>()>& progress = {});
  // map_webhook of a claimed webhook, with what it throws turned into an error (INTERNAL).
  Result<void> guarded_map(const store::Integration& integration, plugin_host::Instance& instance,
                           pipeline::Ingest& ingest, const store::InboxItem& item,
                           const std::function<Result<void>()>& progress);
  // Processes the claimed webhooks of one integration (see process_inbox).
  Result<void> process_webhooks(const std::string& integration_id,
                                std::span<const store::InboxItem* const> items);
  // Records a webhook's failure: retried later when error is transient, else failed for good
  // with a line in the integration's log (when it could be loaded).
  Result<void> fail_webhook(const store::InboxItem& item, const Error& error,
                            const store::Integration* integration);
  Result<pipeline::Totals> ingest_object(const store::Integration& integration,
                                         const store::Business& business,
                                         plugin_host::Instance& instance,
                                         const std::string& object_id);
  // Logs a failed re-read and, when the failure is transient, queues the object for a retry.
  Result<void> reread_failed(const store::Integration& integration, const std::string& object_id,
                             const Error& error);
  // Appends one line to the integration's log (failures of the log go to the process log).
  void log(const store::Integration& integration, store::LogType type,
           const std::string& error_type, const std::string& message, const std::string& raw_json);
  Result<RunReport> finish(RunReport report, const std::string& summary_for_log);

  store::Store& store_;
  const plugin_host::PluginHost& host_;
  StoreHostServices& services_;
  EngineOptions options_;
};

// Splits settings (a JSON object with secrets) by the connector's schema into what is stored in
// the clear and the secret fields sealed under key. Validates against the schema first.
Result<std::pair<std::string, crypto::Sealed>> seal_settings(
    const plugin_host::Connector& connector, const std::string& settings_json,
    const crypto::MasterKey* key);

// The endpoint for config (its mode and secrets; one secret generated when none is given),
// sealed under key. Errors: an unknown mode or a secret of the wrong format.
Result<store::WebhookEndpoint> seal_webhook_endpoint(const std::string& integration_id,
                                                     const config::WebhookConfig& config,
                                                     const crypto::MasterKey& key,
                                                     store::Timestamp now);

// Creates or updates, in the store, the integrations of the config file (their businesses are
// registered already). Secrets are sealed under keys.front(); a config with secrets and no key
// is an error that says how to configure one. Returns how many were created or changed.
Result<int> register_config_integrations(store::Store& store, const plugin_host::PluginHost& host,
                                         const config::Config& config,
                                         std::span<const crypto::MasterKey> keys,
                                         store::Timestamp now);

}  // namespace crmsync::sync

#endif  // CRMSYNC_CORE_SYNC_ENGINE_H
