// The services a connector asks of the host (HTTP, log, clock, durable state, cancellation), as a
// C++ interface. The plugin host forwards the C table crmsync_host_v1 to it; the real store and
// HTTP client implement it, and DefaultHostServices is a self-contained stand-in for
// `crmsync plugin-check` and tests.
#ifndef CRMSYNC_CORE_PLUGIN_HOST_HOST_SERVICES_H
#define CRMSYNC_CORE_PLUGIN_HOST_HOST_SERVICES_H

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace crmsync::plugin_host {

// A request a connector asked the host to run (owning copy of crmsync_http_request_v1).
struct HttpRequest {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint32_t timeout_ms = 0;  // 0: the host's default
  bool no_retry = false;    // CRMSYNC_HTTP_NO_RETRY
  bool sensitive = false;   // CRMSYNC_HTTP_SENSITIVE
};

// Any HTTP response, whatever its status.
struct HttpResponse {
  int32_t status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// A durable value and its compare-and-set version (versions start at 1).
struct StateValue {
  std::string value;
  uint64_t version = 0;
};

// Host services for connectors. Every method may be called from any thread at any time.
class HostServices {
 public:
  virtual ~HostServices() = default;

  // Runs a request for the integration. An error (UNAVAILABLE, TIMEOUT, RATE_LIMITED, CANCELLED)
  // means no response arrived.
  virtual Result<HttpResponse> http(std::string_view integration_id,
                                    const HttpRequest& request) = 0;

  // Records a connector's log line (level is CRMSYNC_LOG_*).
  virtual void log(std::string_view integration_id, int32_t level, std::string_view message) = 0;

  // Unix time in milliseconds (UTC).
  virtual int64_t now_ms() = 0;

  // The integration's durable value for key; a NOT_FOUND error when absent.
  virtual Result<StateValue> state_get(std::string_view integration_id, std::string_view key) = 0;

  // Sets key if its version is expected_version (0: must be absent) and returns the new version;
  // a CONFLICT error when it is not.
  virtual Result<uint64_t> state_cas(std::string_view integration_id, std::string_view key,
                                     uint64_t expected_version, std::string_view value) = 0;

  // True when the integration's current call should stop.
  virtual bool is_cancelled(std::string_view integration_id) = 0;
};

// Self-contained services: no HTTP client (every request is UNAVAILABLE), log lines to stderr,
// the system clock, and state in memory.
class DefaultHostServices : public HostServices {
 public:
  Result<HttpResponse> http(std::string_view integration_id, const HttpRequest& request) override;
  void log(std::string_view integration_id, int32_t level, std::string_view message) override;
  int64_t now_ms() override;
  Result<StateValue> state_get(std::string_view integration_id, std::string_view key) override;
  Result<uint64_t> state_cas(std::string_view integration_id, std::string_view key,
                             uint64_t expected_version, std::string_view value) override;
  bool is_cancelled(std::string_view integration_id) override;

 private:
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, StateValue, std::less<>> state_;
};

}  // namespace crmsync::plugin_host

#endif  // CRMSYNC_CORE_PLUGIN_HOST_HOST_SERVICES_H
