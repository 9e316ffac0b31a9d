// The connector test harness: see connector_harness.h.
#include "support/connector_harness.h"

#include <doctest/doctest.h>

#include <chrono>
#include <utility>

namespace crmsync::test {

using namespace std::chrono_literals;

HarnessHostServices::HarnessHostServices(std::vector<http::RateLimit> limits) {
  http::ClientOptions options;
  options.integration = "connector-test";
  options.rate_limits = std::move(limits);
  options.connect_timeout = 2s;
  options.request_timeout = 10s;
  // Two attempts with short waits: enough to see a retry, quick enough for tests.
  options.retry.max_attempts = 2;
  options.retry.base_delay = 10ms;
  client_ = std::move(http::Client::create(options).value());
}

Result<plugin_host::HttpResponse> HarnessHostServices::http(
    std::string_view /*integration*/, const plugin_host::HttpRequest& request) {
  http::Request out{.method = request.method,
                    .url = request.url,
                    .headers = {},
                    .body = request.body,
                    .timeout = std::chrono::milliseconds(request.timeout_ms),
                    .no_retry = request.no_retry,
                    .sensitive = request.sensitive};
  for (const auto& [name, value] : request.headers) out.headers.push_back({name, value});
  auto sent = client_->send(out);
  if (!sent) return sent.error();
  plugin_host::HttpResponse response{.status = sent->status, .headers = {}, .body = sent->body};
  for (const auto& header : sent->headers) response.headers.emplace_back(header.name, header.value);
  return response;
}

void HarnessHostServices::log(std::string_view /*integration*/, int32_t /*level*/,
                              std::string_view message) {
  std::lock_guard lock(mutex_);
  logs_.emplace_back(message);
}

bool HarnessHostServices::logged(std::string_view part) const {
  std::lock_guard lock(mutex_);
  for (const auto& line : logs_) {
    if (line.find(part) != std::string::npos) return true;
  }
  return false;
}

std::vector<std::string> HarnessHostServices::logs() const {
  std::lock_guard lock(mutex_);
  return logs_;
}

Collected::Collected(std::string id_prefix, const std::string& zone)
    : target_{.business_id = "b1",
              .integration_id = "i1",
              .id_prefix = std::move(id_prefix),
              .zone = normalize::TimeZone::locate(zone).value()} {}

Result<void> Collected::on_record(const crmsync_record_v1& record) {
  auto normalized = pipeline::normalize_record(
      target_, record,
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
  if (!normalized.transaction) {
    failed.push_back(normalized.error);
  } else {
    sales.push_back(normalized.transaction->external_id);
    amounts.push_back(normalized.transaction->amount_minor);
    transactions.push_back(std::move(*normalized.transaction));
  }
  return {};
}

Result<void> Collected::on_skip(std::string_view id, std::string_view reason) {
  skipped.emplace_back(std::string(id) + ": " + std::string(reason));
  return {};
}

Result<void> Collected::on_fail(std::string_view id, std::string_view reason, std::string_view) {
  failed.emplace_back(std::string(id) + ": " + std::string(reason));
  return {};
}

Result<void> Collected::on_refetch(std::string_view id) {
  refetch.emplace_back(id);
  return {};
}

Result<void> Collected::on_checkpoint(std::string_view next_cursor, bool more_data) {
  cursor = next_cursor;
  more = more_data;
  ++checkpoints;
  return {};
}

LoadedConnector::LoadedConnector(const std::string& plugin_dir, std::string connector_id)
    : id(std::move(connector_id)) {
  auto loaded = host.load(plugin_dir + "/" + id + ".so");
  REQUIRE_MESSAGE(loaded.ok(), loaded.error);
}

std::unique_ptr<plugin_host::Instance> LoadedConnector::open(plugin_host::HostServices& services,
                                                             const std::string& settings,
                                                             const std::string& timezone,
                                                             const std::string& currency) {
  auto instance = host.open_instance(id, id + "-1", settings, timezone, currency, services);
  REQUIRE_MESSAGE(instance.ok(), (instance.ok() ? "" : instance.error().message));
  return std::move(instance.value());
}

Collected full_pass(plugin_host::Instance& instance, const std::string& cursor,
                    const std::string& id_prefix, const std::string& zone) {
  Collected collected(id_prefix, zone);
  collected.cursor = cursor;
  do {
    const std::string from = collected.cursor;
    auto fetched = instance.fetch(from, collected);
    REQUIRE_MESSAGE(fetched.ok(), (fetched.ok() ? "" : fetched.error().message));
  } while (collected.more);
  return collected;
}

}  // namespace crmsync::test
