// Store- and HTTP-backed host services (see host_services.h).
#include "sync/host_services.h"

#include <crmsync/connector.h>

#include <filesystem>
#include <utility>

namespace crmsync::sync {

StoreHostServices::StoreHostServices(store::Store& store, HttpDefaults http, ProcessLog log,
                                     std::function<store::Timestamp()> now)
    : store_(store), http_(std::move(http)), log_(std::move(log)), now_(std::move(now)) {
  if (http_.metrics != nullptr) {
    requests_ = &http_.metrics->counter(
        "crmsync_crm_requests_total",
        "HTTP requests connectors made to their CRM, by final status code (error: no response).",
        {"integration", "status"});
    durations_ = &http_.metrics->histogram(
        "crmsync_crm_request_duration_seconds",
        "Time of one connector request to its CRM, the host's retries and waits included.",
        {"integration"}, metrics::kCrmLatencyBuckets);
  }
}

void StoreHostServices::observe(std::string_view integration_id, int32_t status,
                                std::chrono::steady_clock::duration took) {
  if (requests_ == nullptr) return;
  const std::string code = status == 0 ? "error" : std::to_string(status);
  requests_->with({integration_id, code}).inc();
  durations_->with({integration_id}).observe(std::chrono::duration<double>(took).count());
}

void StoreHostServices::prepare(const std::string& integration_id, IntegrationProfile profile) {
  std::lock_guard lock(mutex_);
  Slot& slot = slots_[integration_id];
  const bool same_limits = slot.profile.rate_limits.size() == profile.rate_limits.size() &&
                           std::equal(slot.profile.rate_limits.begin(),
                                      slot.profile.rate_limits.end(), profile.rate_limits.begin(),
                                      [](const http::RateLimit& a, const http::RateLimit& b) {
                                        return a.requests == b.requests && a.per == b.per;
                                      });
  if (!same_limits || slot.profile.secrets != profile.secrets) slot.client.reset();
  slot.profile = std::move(profile);
}

void StoreHostServices::cancel(const std::string& integration_id) {
  if (integration_id.empty()) {
    all_cancelled_ = true;
    return;
  }
  std::lock_guard lock(mutex_);
  cancelled_[integration_id] = true;
  any_cancelled_ = true;
}

void StoreHostServices::resume(const std::string& integration_id) {
  if (integration_id.empty()) {
    all_cancelled_ = false;
    return;
  }
  std::lock_guard lock(mutex_);
  cancelled_.erase(integration_id);
  any_cancelled_ = !cancelled_.empty();
}

bool StoreHostServices::is_cancelled(std::string_view integration_id) {
  // Asked on every progress tick of every transfer: no lock unless something was cancelled.
  if (all_cancelled_) return true;
  if (!any_cancelled_) return false;
  std::lock_guard lock(mutex_);
  return cancelled_.find(integration_id) != cancelled_.end();
}

Result<std::shared_ptr<http::Client>> StoreHostServices::client_for(
    std::string_view integration_id) {
  std::lock_guard lock(mutex_);
  auto it = slots_.find(integration_id);
  if (it == slots_.end()) it = slots_.emplace(std::string(integration_id), Slot{}).first;
  Slot& slot = it->second;
  if (slot.client) return slot.client;
  http::ClientOptions options = http_.options;
  options.integration = std::string(integration_id);
  if (http_.honour_declared_limits) options.rate_limits = slot.profile.rate_limits;
  options.secrets.insert(options.secrets.end(), slot.profile.secrets.begin(),
                         slot.profile.secrets.end());
  if (!http_.recording_dir.empty()) {
    options.recording_path =
        (std::filesystem::path(http_.recording_dir) / (std::string(integration_id) + ".jsonl"))
            .string();
  }
  const std::string id(integration_id);
  auto created = http::Client::create(
      std::move(options),
      [this, id](int32_t level, const std::string& line) {
        if (log_) log_(level, id, line);
      },
      http_.clock);
  if (!created) return created.error();
  slot.client = std::move(*created);
  return slot.client;
}

Result<plugin_host::HttpResponse> send_connector_request(http::Client& client,
                                                         const plugin_host::HttpRequest& request,
                                                         const std::function<bool()>& cancelled) {
  http::Request out;
  out.method = request.method;
  out.url = request.url;
  for (const auto& [name, value] : request.headers) out.headers.push_back({name, value});
  out.body = request.body;
  out.timeout = std::chrono::milliseconds(request.timeout_ms);
  out.no_retry = request.no_retry;
  out.sensitive = request.sensitive;
  auto response = client.send(out, cancelled);
  if (!response) return response.error();
  plugin_host::HttpResponse in;
  in.status = response->status;
  for (http::Header& header : response->headers) {
    in.headers.emplace_back(std::move(header.name), std::move(header.value));
  }
  in.body = std::move(response->body);
  return in;
}

Result<plugin_host::HttpResponse> StoreHostServices::http(std::string_view integration_id,
                                                          const plugin_host::HttpRequest& request) {
  auto client = client_for(integration_id);
  if (!client) return client.error();
  const auto begun = std::chrono::steady_clock::now();
  auto response = send_connector_request(
      **client, request, [this, id = std::string(integration_id)] { return is_cancelled(id); });
  observe(integration_id, response ? response->status : 0,
          std::chrono::steady_clock::now() - begun);
  return response;
}

void StoreHostServices::log(std::string_view integration_id, int32_t level,
                            std::string_view message) {
  const std::string id(integration_id);
  if (log_) log_(level, id, std::string(message));
  // Warnings and errors of a connector are for the business's admins too: they go to the
  // integration's log. Debug and info lines stay in the process log.
  if (level < CRMSYNC_LOG_WARNING) return;
  std::string business_id;
  {
    std::lock_guard lock(mutex_);
    auto it = slots_.find(integration_id);
    if (it != slots_.end()) business_id = it->second.profile.business_id;
  }
  if (business_id.empty()) return;
  store::LogEntry entry;
  entry.business_id = business_id;
  entry.integration_id = id;
  entry.type = level >= CRMSYNC_LOG_ERROR ? store::LogType::error : store::LogType::warning;
  entry.error_type = "Connector";
  entry.message = std::string(message);
  entry.created_at = now_();
  if (auto appended = store_.append_logs({&entry, 1}); !appended && log_) {
    log_(CRMSYNC_LOG_ERROR, id, "cannot store a connector log line: " + appended.error().message);
  }
}

int64_t StoreHostServices::now_ms() {
  return now_().time_since_epoch().count();
}

Result<plugin_host::StateValue> StoreHostServices::state_get(std::string_view integration_id,
                                                             std::string_view key) {
  auto value = store_.state_get(std::string(integration_id), std::string(key));
  if (!value) return value.error();
  if (!*value) return fail(CRMSYNC_E_NOT_FOUND, "no state `" + std::string(key) + "`");
  return plugin_host::StateValue{std::move((*value)->value), (*value)->version};
}

Result<uint64_t> StoreHostServices::state_cas(std::string_view integration_id, std::string_view key,
                                              uint64_t expected_version, std::string_view value) {
  return store_.state_cas(std::string(integration_id), std::string(key), expected_version,
                          std::string(value), now_());
}

}  // namespace crmsync::sync
