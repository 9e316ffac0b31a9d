// `crmsync parse --connector ID --kind response|webhook FILE [--content-type TYPE]
// [--timezone ZONE] [--config-json JSON]`: runs a connector's mapping and the pipeline's
// normalization on a saved API response or webhook body, offline (no network, no store), and
// prints one JSON line per object found:
//   {"external_id":"YCLIENTS-67890","status":"ok","occurred_at":"2025-11-17T11:30:00Z",
//    "amount_minor":500000,"currency":"RUB","phone_e164":"+79991234567","description":"Стрижка",
//    "is_medical":false}
// status is "ok" (plus "warning" when the sale would be stored with a note, e.g. an unusable
// phone), "skipped" (with "reason"), "fetch" (the body only names an object to re-read) or "error"
// (with "reason"). A body the connector cannot read at all exits 1 with its message on stderr and
// prints nothing. The instance is opened with --config-json (default "{}"), validated against the
// connector's schema like any integration's settings; connectors whose schema requires fields
// need them here too (YCLIENTS: {"company_id": N}).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands/commands.h"
#include "normalize/utc_time.h"
#include "pipeline/pipeline.h"
#include "plugin_host/plugin_host.h"

namespace crmsync::cli {
namespace {

using OrderedJson = nlohmann::ordered_json;

struct Options {
  std::string connector;
  std::string kind;
  std::string file;
  std::string content_type = "application/json";
  std::string timezone = "Europe/Moscow";
  std::string config_json = "{}";
};

// Collects what the connector delivers as output lines; printed only when the whole call
// succeeded, so an unreadable body prints no records.
class LineSink : public plugin_host::RecordSink {
 public:
  explicit LineSink(const pipeline::Target& target) : target_(target) {}

  Result<void> on_record(const crmsync_record_v1& record) override {
    pipeline::Normalized normalized = pipeline::normalize_record(target_, record);
    if (!normalized.transaction) {
      line(prefixed(view(record.external_id)), "error")["reason"] = normalized.error;
      return {};
    }
    const store::NormalizedTransaction& tx = *normalized.transaction;
    OrderedJson& out = line(tx.external_id, "ok");
    out["occurred_at"] = normalize::rfc3339_utc(tx.occurred_at);
    out["amount_minor"] = tx.amount_minor;
    out["currency"] = tx.currency;
    out["phone_e164"] = tx.phone_e164.empty() ? OrderedJson(nullptr) : OrderedJson(tx.phone_e164);
    out["description"] = tx.description;
    out["is_medical"] = tx.is_medical;
    if (!normalized.warning.empty()) out["warning"] = normalized.warning;
    return {};
  }
  Result<void> on_skip(std::string_view external_id, std::string_view reason) override {
    line(prefixed(external_id), "skipped")["reason"] = reason;
    return {};
  }
  Result<void> on_fail(std::string_view external_id, std::string_view reason,
                       std::string_view /*raw_json*/) override {
    line(prefixed(external_id), "error")["reason"] = reason;
    return {};
  }
  Result<void> on_refetch(std::string_view object_id) override {
    line(prefixed(object_id), "fetch");
    return {};
  }
  Result<void> on_checkpoint(std::string_view /*next_cursor*/, bool /*more*/) override {
    return fail(CRMSYNC_E_INTERNAL, "checkpoint is only valid from fetch");
  }

  const std::vector<OrderedJson>& lines() const noexcept { return lines_; }

 private:
  static std::string_view view(crmsync_str s) {
    return s.len == 0 ? std::string_view{} : std::string_view{s.ptr, s.len};
  }
  // The id as a sync would store it ("YCLIENTS-67890"); null when the object has none.
  OrderedJson prefixed(std::string_view id) const {
    if (id.empty()) return nullptr;
    return target_.id_prefix + "-" + std::string(id);
  }
  OrderedJson& line(OrderedJson external_id, const char* status) {
    OrderedJson& out = lines_.emplace_back(OrderedJson::object());
    out["external_id"] = std::move(external_id);
    out["status"] = status;
    return out;
  }
  const pipeline::Target& target_;
  std::vector<OrderedJson> lines_;
};

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

int run(const Cli& cli, const Options& options) {
  std::ifstream in(options.file, std::ios::binary);
  if (!in) return report_failure(options.file + ": cannot be read");
  std::stringstream body;
  body << in.rdbuf();

  auto zone = normalize::TimeZone::locate(options.timezone);
  if (!zone) return report_failure("--timezone: " + zone.error().message);
  Result<config::Config> config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  // Any connector installed in the plugin folder, enabled or not: authors debug theirs here.
  plugin_host::PluginHost host;
  const std::filesystem::path library =
      std::filesystem::path(config->plugins.dir) / (options.connector + ".so");
  std::error_code missing;
  if (!std::filesystem::exists(library, missing)) {
    return report_failure("unknown connector " + options.connector + " (no " + library.string() +
                          ")");
  }
  const plugin_host::LoadResult loaded = host.load(library);
  if (!loaded.ok()) return report_failure(loaded.error);
  const plugin_host::Connector* connector = loaded.connector;
  if (connector->id() != options.connector) {
    return report_failure(library.string() + " is connector " + std::string(connector->id()) +
                          ", not " + options.connector);
  }

  pipeline::Target target{.business_id = "parse",
                          .integration_id = "parse",
                          .id_prefix = upper(connector->id()),
                          .zone = *zone,
                          .region = "RU",
                          .currency = "RUB"};
  plugin_host::DefaultHostServices services;
  auto instance = host.open_instance(connector->id(), "parse", options.config_json,
                                     options.timezone, target.currency, services);
  if (!instance) return report_failure(instance.error().message);

  LineSink sink(target);
  Result<void> mapped = [&]() -> Result<void> {
    if (options.kind == "response") return (*instance)->map_response(body.str(), sink);
    plugin_host::WebhookRequest request;
    request.content_type = options.content_type;
    request.body = body.str();
    return (*instance)->parse_webhook(request, sink);
  }();
  if (!mapped) return report_failure(options.file + ": " + mapped.error().message);
  for (const OrderedJson& line : sink.lines()) std::printf("%s\n", line.dump().c_str());
  return kExitOk;
}

}  // namespace

void register_parse(Cli& cli) {
  auto options = std::make_shared<Options>();
  CLI::App* command = cli.add_command(
      "parse",
      "Run a connector's mapping and the normalization on a saved API response or webhook body "
      "(no network, no store) and print one JSON line per object",
      [&cli, options] { return run(cli, *options); });
  command->add_option("--connector", options->connector, "Connector id, e.g. yclients")->required();
  command->add_option("--kind", options->kind, "What FILE holds: response or webhook")
      ->required()
      ->check(CLI::IsMember({"response", "webhook"}));
  command->add_option("file", options->file, "The saved body")->required();
  command->add_option("--content-type", options->content_type, "Content type of a webhook body")
      ->capture_default_str();
  command
      ->add_option("--timezone", options->timezone,
                   "IANA zone of local times in the body (the integration's zone)")
      ->capture_default_str();
  command
      ->add_option("--config-json", options->config_json,
                   "Connector settings (JSON object) the instance is opened with")
      ->capture_default_str();
}

}  // namespace crmsync::cli
