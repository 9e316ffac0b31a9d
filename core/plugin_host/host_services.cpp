// DefaultHostServices: the stand-in host services of plugin-check and tests.
#include "plugin_host/host_services.h"

#include <chrono>
#include <cstdio>

namespace crmsync::plugin_host {

Result<HttpResponse> DefaultHostServices::http(std::string_view /*integration_id*/,
                                               const HttpRequest& /*request*/) {
  return fail(CRMSYNC_E_UNAVAILABLE, "no HTTP client configured");
}

void DefaultHostServices::log(std::string_view integration_id, int32_t level,
                              std::string_view message) {
  static constexpr const char* kLevels[] = {"debug", "info", "warning", "error"};
  const char* name = level >= 0 && level <= 3 ? kLevels[level] : "info";
  std::fprintf(stderr, "[%.*s] %s: %.*s\n", static_cast<int>(integration_id.size()),
               integration_id.data(), name, static_cast<int>(message.size()), message.data());
}

int64_t DefaultHostServices::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<StateValue> DefaultHostServices::state_get(std::string_view integration_id,
                                                  std::string_view key) {
  std::lock_guard lock(mutex_);
  auto it = state_.find(std::pair{std::string(integration_id), std::string(key)});
  if (it == state_.end()) return fail(CRMSYNC_E_NOT_FOUND, "no state for " + std::string(key));
  return it->second;
}

Result<uint64_t> DefaultHostServices::state_cas(std::string_view integration_id,
                                                std::string_view key, uint64_t expected_version,
                                                std::string_view value) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] =
      state_.try_emplace(std::pair{std::string(integration_id), std::string(key)});
  const uint64_t current = inserted ? 0 : it->second.version;
  if (current != expected_version) {
    if (inserted) state_.erase(it);
    return fail(CRMSYNC_E_CONFLICT,
                "state " + std::string(key) + " is at version " + std::to_string(current));
  }
  it->second = StateValue{std::string(value), current + 1};
  return current + 1;
}

bool DefaultHostServices::is_cancelled(std::string_view /*integration_id*/) {
  return false;
}

}  // namespace crmsync::plugin_host
