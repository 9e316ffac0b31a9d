// The host services connectors get in production (DESIGN §3.5): HTTP through the host's client
// with the connector's declared rate limits, durable state in the store, log lines to the
// integration's log, and cancellation for shutdown. One object serves every integration; HTTP
// clients live as long as it does, so connections and rate-limit windows carry over from one
// run to the next.
#ifndef CRMSYNC_CORE_SYNC_HOST_SERVICES_H
#define CRMSYNC_CORE_SYNC_HOST_SERVICES_H

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http/client.h"
#include "metrics/metrics.h"
#include "plugin_host/host_services.h"
#include "store/store.h"

namespace crmsync::sync {

// A process log line: level is CRMSYNC_LOG_*, integration may be empty.
using ProcessLog =
    std::function<void(int32_t level, const std::string& integration, const std::string& line)>;

// How StoreHostServices builds its HTTP clients.
struct HttpDefaults {
  http::ClientOptions options;   // timeouts, retries, proxy; integration and limits are set per id
  std::string recording_dir;     // non-empty: <dir>/<integration>.jsonl gets every exchange
  http::Clock* clock = nullptr;  // nullptr: the real clock
  // false: ignore the connectors' declared rate limits. Only for measuring the engine itself
  // (bench/sync); against a real provider the limits are what keeps the account unblocked.
  bool honour_declared_limits = true;
  // Non-null: every request is counted in crmsync_crm_requests_total and timed in
  // crmsync_crm_request_duration_seconds. Must outlive the services.
  metrics::Registry* metrics = nullptr;
};

// What the host knows about an integration before its instance opens.
struct IntegrationProfile {
  std::string business_id;
  std::vector<http::RateLimit> rate_limits;  // the connector's declared limits
  std::vector<std::string> secrets;          // values to redact from logs and recordings
};

// Sends a connector's request through client (its retries, limits and redaction) and converts
// the answer back; cancelled is polled while waiting.
Result<plugin_host::HttpResponse> send_connector_request(http::Client& client,
                                                         const plugin_host::HttpRequest& request,
                                                         const std::function<bool()>& cancelled);

// Host services backed by the store and the HTTP client. Thread-safe.
class StoreHostServices : public plugin_host::HostServices {
 public:
  StoreHostServices(store::Store& store, HttpDefaults http, ProcessLog log,
                    std::function<store::Timestamp()> now);

  // Tells the services about an integration before an instance of it opens (again): its
  // business for log lines, its rate limits and secrets. A changed profile rebuilds the client.
  void prepare(const std::string& integration_id, IntegrationProfile profile);

  // Makes every current and future call of this integration (or, with an empty id, of all)
  // see is_cancelled() == true until resume().
  void cancel(const std::string& integration_id);
  void resume(const std::string& integration_id);

  Result<plugin_host::HttpResponse> http(std::string_view integration_id,
                                         const plugin_host::HttpRequest& request) override;
  void log(std::string_view integration_id, int32_t level, std::string_view message) override;
  int64_t now_ms() override;
  Result<plugin_host::StateValue> state_get(std::string_view integration_id,
                                            std::string_view key) override;
  Result<uint64_t> state_cas(std::string_view integration_id, std::string_view key,
                             uint64_t expected_version, std::string_view value) override;
  bool is_cancelled(std::string_view integration_id) override;

 private:
  struct Slot {
    IntegrationProfile profile;
    std::shared_ptr<http::Client> client;  // built on first use
  };
  Result<std::shared_ptr<http::Client>> client_for(std::string_view integration_id);

  // Counts and times one request of a connector (status 0: no response).
  void observe(std::string_view integration_id, int32_t status,
               std::chrono::steady_clock::duration took);

  store::Store& store_;
  HttpDefaults http_;
  metrics::CounterFamily* requests_ = nullptr;     // set when http_.metrics is
  metrics::HistogramFamily* durations_ = nullptr;  // set when http_.metrics is
  ProcessLog log_;
  std::function<store::Timestamp()> now_;
  std::mutex mutex_;
  std::map<std::string, Slot, std::less<>> slots_;
  std::map<std::string, bool, std::less<>> cancelled_;  // by integration id
  std::atomic<bool> all_cancelled_{false};
  std::atomic<bool> any_cancelled_{false};  // cancelled_ is not empty
};

}  // namespace crmsync::sync

#endif  // CRMSYNC_CORE_SYNC_HOST_SERVICES_H
