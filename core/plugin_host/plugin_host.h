// The plugin host: loads connector libraries, checks their ABI, validates integration configs
// against each connector's JSON Schema and runs connector calls on instances, one at a time per
// instance (parse_webhook excepted).
//
// Every refusal is a one-line Error "<file>: <reason>"; a refused connector never stops the others.
// A library stays loaded while any Instance created from it is alive, even after the PluginHost
// is gone. Load connectors before sharing the PluginHost across threads; after that its const
// methods and open_instance() may be called concurrently.
#ifndef CRMSYNC_CORE_PLUGIN_HOST_PLUGIN_HOST_H
#define CRMSYNC_CORE_PLUGIN_HOST_PLUGIN_HOST_H

#include <crmsync/connector.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "plugin_host/host_services.h"

namespace crmsync::plugin_host {

// One violation of a connector's config schema, for forms that show errors next to fields.
struct FieldError {
  std::string field;    // "company_id", "settings.window_hours", "items[0]"; empty for the whole
  std::string message;  // "is required", "must be of type integer"...
};

namespace internal {
class Library;
class ConfigSchema;
struct Context;
struct SinkBridge;
struct Outcome;
enum class SinkUse : int;
}  // namespace internal

// A loaded connector that passed the ABI checks.
class Connector {
 public:
  ~Connector();
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  // The connector's descriptor, copied into a zeroed struct of this host's size.
  const crmsync_connector_v1& descriptor() const noexcept { return descriptor_; }
  std::string_view id() const noexcept { return descriptor_.id; }
  // Names of the top-level settings its schema marks "x-secret": stored sealed, never shown.
  const std::vector<std::string>& secret_fields() const noexcept;
  // Checks settings (a JSON object, secrets included) against the schema; the error reads
  // "config: field `company_id` is required".
  Result<void> validate_settings(std::string_view settings_json) const;
  // Every violation of the schema by settings (a JSON object, secrets included), field by field;
  // empty when valid. Text that is not a JSON object is one error on the whole.
  std::vector<FieldError> settings_errors(std::string_view settings_json) const;
  // The provider's request limits the connector declares (empty before ABI 1.1 or when none);
  // valid while the connector (or an instance of it) lives.
  std::span<const crmsync_rate_limit_v1> rate_limits() const noexcept {
    if (descriptor_.rate_limit_count == 0) return {};
    return {descriptor_.rate_limits, descriptor_.rate_limit_count};
  }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  friend class PluginHost;
  Connector(std::filesystem::path path, std::shared_ptr<internal::Library> library,
            const crmsync_connector_v1& descriptor, std::unique_ptr<internal::ConfigSchema> schema);

  std::filesystem::path path_;
  std::shared_ptr<internal::Library> library_;
  crmsync_connector_v1 descriptor_;
  std::unique_ptr<internal::ConfigSchema> schema_;
};

// The outcome of loading one connector file.
struct LoadResult {
  std::string id;                        // the enabled id, or the descriptor's id for load(path)
  std::filesystem::path path;            // the library file
  const Connector* connector = nullptr;  // set when loaded; owned by the PluginHost
  std::string error;                     // "<file>: <reason>" when refused

  bool ok() const noexcept { return connector != nullptr; }
};

// The names of the capability flags set in capabilities, e.g. {"FETCH", "WEBHOOK"}.
std::vector<std::string> capability_names(uint64_t capabilities);

// Receives what a connector delivers through its sink during one call. An Error returned here is
// passed back to the connector as its code (it must stop and return it).
class RecordSink {
 public:
  virtual ~RecordSink() = default;

  // A sale. The record and its items are host-side copies (fields newer than the connector read
  // as zero); they and the strings they point to are valid during this call only.
  virtual Result<void> on_record(const crmsync_record_v1& record) = 0;
  // An object that is not a sale, with the reason.
  virtual Result<void> on_skip(std::string_view external_id, std::string_view reason) = 0;
  // An object that could not be mapped.
  virtual Result<void> on_fail(std::string_view external_id, std::string_view reason,
                               std::string_view raw_json) = 0;
  // From parse_webhook: an object to re-read with fetch_object.
  virtual Result<void> on_refetch(std::string_view object_id) = 0;
  // From fetch: the next cursor and whether more data is waiting.
  virtual Result<void> on_checkpoint(std::string_view next_cursor, bool more) = 0;
};

// A webhook request handed to parse_webhook.
struct WebhookRequest {
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string query;
  std::string body;
};

// A bonus event for push_bonus.
struct BonusEvent {
  int32_t kind = CRMSYNC_BONUS_ACCRUED;
  std::string external_id;
  std::string customer_phone;
  int64_t amount_minor = 0;
  std::string currency;
  std::string occurred_at;
};

// One open connector instance (one integration). Calls lock the instance, so two never overlap;
// parse_webhook does not lock (connectors make it thread-safe). A failed call returns an Error
// with the connector's code and the message "<CODE>: <set_error message>", plus
// " (retry after N ms)" when the connector gave a hint. close() runs in the destructor.
class Instance {
 public:
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const std::string& connector_id() const noexcept { return connector_id_; }
  const std::string& integration_id() const noexcept;

  // Checks credentials and reachability; returns the admin-facing message.
  Result<std::string> health_check();
  // One bounded batch from cursor; the connector must checkpoint exactly once.
  Result<void> fetch(std::string_view cursor, RecordSink& sink);
  // Re-reads one object named by a webhook.
  Result<void> fetch_object(std::string_view object_id, RecordSink& sink);
  // Maps a webhook body; may run concurrently with any call on this instance.
  Result<void> parse_webhook(const WebhookRequest& request, RecordSink& sink);
  // Maps a saved list response offline.
  Result<void> map_response(std::string_view body, RecordSink& sink);
  // Registers (or, with an empty url, removes) the provider's webhook.
  Result<void> configure_webhook(std::string_view url);
  // Writes a bonus event back to the CRM.
  Result<void> push_bonus(const BonusEvent& event, std::string_view idempotency_key);

 private:
  friend class PluginHost;
  Instance(std::shared_ptr<internal::Library> library, const crmsync_connector_v1& descriptor,
           std::unique_ptr<internal::Context> context);

  // Calls the connector's open() with config_json (secrets already moved into context).
  static Result<std::unique_ptr<Instance>> open(
      const std::filesystem::path& path, std::shared_ptr<internal::Library> library,
      const crmsync_connector_v1& descriptor, std::unique_ptr<internal::Context> context,
      std::string_view config_json, std::string_view timezone, std::string_view currency);

  // Runs one entry point (fn returns its code) and collects its set_error detail and, when it
  // takes a sink, the sink's misuse or refusal.
  template <class Fn>
  internal::Outcome run(internal::SinkBridge* sink, Fn&& fn);

  // Runs an entry point that takes a sink (present: the connector provides it), under the
  // instance lock except for parse_webhook.
  template <class Fn>
  Result<void> run_with_sink(const char* what, bool present, internal::SinkUse use,
                             RecordSink& sink, Fn&& fn);

  std::shared_ptr<internal::Library> library_;  // keeps the code mapped until close() returned
  crmsync_connector_v1 descriptor_;
  std::string connector_id_;
  std::unique_ptr<internal::Context> context_;
  crmsync_instance* handle_ = nullptr;
  std::mutex mutex_;  // serializes every call except parse_webhook
};

// Owns the loaded connectors.
class PluginHost {
 public:
  PluginHost();
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Loads <plugins.dir>/<id>.so for every enabled id, or every *.so of plugins.dir (by name)
  // when none is listed; one result per id, in order. A connector whose descriptor id differs
  // from its file name is refused.
  std::vector<LoadResult> load_all(const config::Config& config);

  // Loads one library and runs the ABI checks.
  LoadResult load(const std::filesystem::path& path);

  // The loaded connector with this id, or nullptr.
  const Connector* find(std::string_view id) const;

  // All loaded connectors, in load order.
  std::vector<const Connector*> connectors() const;

  // Validates settings_json against the connector's schema, moves the "x-secret" fields out of
  // it (served through secret_get) and opens an instance. services must outlive the instance.
  Result<std::unique_ptr<Instance>> open_instance(std::string_view connector_id,
                                                  std::string_view integration_id,
                                                  std::string_view settings_json,
                                                  std::string_view timezone,
                                                  std::string_view currency,
                                                  HostServices& services) const;

 private:
  std::vector<std::unique_ptr<Connector>> connectors_;
};

}  // namespace crmsync::plugin_host

#endif  // CRMSYNC_CORE_PLUGIN_HOST_PLUGIN_HOST_H
