// Trying a connector's settings without storing anything: its mapping run on a sample response
// or webhook body, or on one page read live from the CRM, each object normalized the way a sync
// would store it. Used by `crmsync parse`, `crmsync custom-test` and the admin API, which saves a
// custom connector as active only after such a run succeeds.
#ifndef CRMSYNC_CORE_SANDBOX_SANDBOX_H
#define CRMSYNC_CORE_SANDBOX_SANDBOX_H

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/client.h"
#include "pipeline/pipeline.h"
#include "plugin_host/host_services.h"
#include "plugin_host/plugin_host.h"

namespace crmsync::sandbox {

// What the connector made of the input: one line per object, in the order delivered, e.g.
//   {"external_id":"CUSTOM-1001","status":"ok","occurred_at":"2025-11-17T11:30:00Z",
//    "amount_minor":150050,"currency":"RUB","phone_e164":"+79123456789",...}
// status is "ok" (plus "warning"), "skipped" or "error" (with "reason"), or "fetch" (the body only
// names an object to re-read).
struct Report {
  // Lines kept; the counts go on past them, so a sample of a million records still answers with a
  // page a person can read.
  static constexpr size_t kMaxLines = 1000;

  std::vector<nlohmann::ordered_json> lines;
  int64_t omitted = 0;  // objects beyond kMaxLines, counted but not shown
  int64_t ok = 0;
  int64_t skipped = 0;
  int64_t errors = 0;

  // At least one sale and no object that failed: what a connector must show before it is saved.
  bool passed() const noexcept { return ok > 0 && errors == 0; }
  // {"passed", "ok", "skipped", "errors", "records": [lines], "records_omitted"}.
  nlohmann::ordered_json to_json() const;
  // One JSON line per object kept, then how many were left out: what the CLI prints.
  std::string to_text() const;
};

// Host services for a trial: real HTTP through one client of its own (the host's retries, limits
// and redaction of the given secrets), durable state kept in memory only, logs to stderr.
class TrialServices : public plugin_host::DefaultHostServices {
 public:
  // Requests pass policy (null: any address). Errors: the HTTP client cannot be created.
  static Result<std::unique_ptr<TrialServices>> create(
      std::vector<std::string> secrets, std::shared_ptr<const http::AddressPolicy> policy);
  Result<plugin_host::HttpResponse> http(std::string_view integration_id,
                                         const plugin_host::HttpRequest& request) override;

 private:
  explicit TrialServices(std::unique_ptr<http::Client> client);
  std::unique_ptr<http::Client> client_;
};

// The target a trial normalizes for: id prefix from the connector, the business's zone, region
// and currency. Errors: an unknown zone.
Result<pipeline::Target> trial_target(std::string_view connector_id, const std::string& timezone,
                                      const std::string& region, const std::string& currency);

// The connector's mapping of a saved API response (no network).
Result<Report> map_sample(plugin_host::Instance& instance, const pipeline::Target& target,
                          std::string_view body);
// The connector's reading of a saved webhook body (no network unless it re-reads).
Result<Report> map_webhook(plugin_host::Instance& instance, const pipeline::Target& target,
                           const plugin_host::WebhookRequest& request);
// One page read live from the CRM from the start (its checkpoint is not kept).
Result<Report> fetch_page(plugin_host::Instance& instance, const pipeline::Target& target);

}  // namespace crmsync::sandbox

#endif  // CRMSYNC_CORE_SANDBOX_SANDBOX_H
