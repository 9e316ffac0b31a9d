// A harness for connector tests: a connector loaded through the real PluginHost, host services
// that send with the host's HTTP client (rate limits, retries) and keep log lines and durable
// state in memory, and a sink that normalizes what the connector delivers like a sync would.
// Every connector's tests against crmsim use it; tests include it as "support/connector_harness.h".
#ifndef CRMSYNC_TESTS_SUPPORT_CONNECTOR_HARNESS_H
#define CRMSYNC_TESTS_SUPPORT_CONNECTOR_HARNESS_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "http/client.h"
#include "pipeline/pipeline.h"
#include "plugin_host/plugin_host.h"

namespace crmsync::test {

// Host services for connector tests: HTTP through a host http::Client, state in memory (from
// DefaultHostServices), log lines kept for assertions.
class HarnessHostServices : public plugin_host::DefaultHostServices {
 public:
  // limits: the rate limits the client enforces (usually the connector's declared ones).
  explicit HarnessHostServices(std::vector<http::RateLimit> limits = {});

  Result<plugin_host::HttpResponse> http(std::string_view integration,
                                         const plugin_host::HttpRequest& request) override;
  void log(std::string_view integration, int32_t level, std::string_view message) override;

  // True when a logged line contains part.
  bool logged(std::string_view part) const;
  // Every line logged so far, oldest first.
  std::vector<std::string> logs() const;

 private:
  std::unique_ptr<http::Client> client_;
  mutable std::mutex mutex_;
  std::vector<std::string> logs_;
};

// What a connector delivered over one or more calls; records are normalized with
// pipeline::normalize_record, so a record that normalization refuses counts as failed.
class Collected : public plugin_host::RecordSink {
 public:
  // id_prefix as in DESIGN §4 ("YCLIENTS", "AMOCRM"...); zone is an IANA name.
  explicit Collected(std::string id_prefix = "TEST", const std::string& zone = "Europe/Moscow");

  Result<void> on_record(const crmsync_record_v1& record) override;
  Result<void> on_skip(std::string_view id, std::string_view reason) override;
  Result<void> on_fail(std::string_view id, std::string_view reason, std::string_view raw) override;
  Result<void> on_refetch(std::string_view id) override;
  Result<void> on_checkpoint(std::string_view next_cursor, bool more_data) override;

  // Sales, skips and failures together.
  size_t objects() const { return sales.size() + skipped.size() + failed.size(); }

  std::vector<store::NormalizedTransaction> transactions;  // the normalized sales
  std::vector<std::string> sales;                          // their external ids
  std::vector<int64_t> amounts;                            // their amounts in minor units
  std::vector<std::string> skipped;                        // "<id>: <reason>"
  std::vector<std::string> failed;                         // "<id>: <reason>"
  std::vector<std::string> refetch;                        // ids to re-read
  std::string cursor;                                      // the last checkpoint's cursor
  bool more = false;                                       // the last checkpoint's more_data
  int checkpoints = 0;

 private:
  pipeline::Target target_;
};

// A PluginHost with one built connector (<plugin dir>/<id>.so) loaded.
struct LoadedConnector {
  // Loads plugin_dir/id.so; fails the test when it cannot.
  LoadedConnector(const std::string& plugin_dir, std::string id);

  // Opens an instance with settings (JSON text) for integration "<id>-1"; fails the test when
  // the connector refuses them.
  std::unique_ptr<plugin_host::Instance> open(plugin_host::HostServices& services,
                                              const std::string& settings,
                                              const std::string& timezone = "Europe/Moscow",
                                              const std::string& currency = "RUB");

  plugin_host::PluginHost host;
  std::string id;
};

// Calls fetch from cursor until the connector has no more; everything delivered is in the result.
// Fails the test on an error; the result's id prefix and zone are those given.
Collected full_pass(plugin_host::Instance& instance, const std::string& cursor,
                    const std::string& id_prefix = "TEST",
                    const std::string& zone = "Europe/Moscow");

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_SUPPORT_CONNECTOR_HARNESS_H
