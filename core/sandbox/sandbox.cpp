#include "sandbox/sandbox.h"

#include "base/json.h"

#include "normalize/utc_time.h"
#include "sync/host_services.h"

namespace crmsync::sandbox {
namespace {

using OrderedJson = nlohmann::ordered_json;

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Collects what the connector delivers as report lines.
class ReportSink : public plugin_host::RecordSink {
 public:
  ReportSink(const pipeline::Target& target, bool live) : target_(target), live_(live) {}

  Result<void> on_record(const crmsync_record_v1& record) override {
    pipeline::Normalized normalized = pipeline::normalize_record(target_, record, now_);
    if (!normalized.transaction) {
      ++report_.errors;
      line(prefixed(view(record.external_id)), "error")["reason"] = normalized.error;
      return {};
    }
    ++report_.ok;
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
    ++report_.skipped;
    line(prefixed(external_id), "skipped")["reason"] = reason;
    return {};
  }
  Result<void> on_fail(std::string_view external_id, std::string_view reason,
                       std::string_view /*raw_json*/) override {
    ++report_.errors;
    line(prefixed(external_id), "error")["reason"] = reason;
    return {};
  }
  Result<void> on_refetch(std::string_view object_id) override {
    line(prefixed(object_id), "fetch");
    return {};
  }
  Result<void> on_checkpoint(std::string_view /*next_cursor*/, bool /*more*/) override {
    if (!live_) return fail(CRMSYNC_E_INTERNAL, "checkpoint is only valid from fetch");
    return {};  // a trial keeps no cursor
  }

  Report take() { return std::move(report_); }

 private:
  static std::string_view view(crmsync_str s) {
    return s.len == 0 ? std::string_view{} : std::string_view{s.ptr, s.len};
  }
  // The id as a sync would store it ("YCLIENTS-67890"); null when the object has none.
  OrderedJson prefixed(std::string_view id) const {
    if (id.empty()) return nullptr;
    return target_.id_prefix + "-" + std::string(id);
  }
  // The object's report line; past Report::kMaxLines a scratch object that is not kept.
  OrderedJson& line(OrderedJson external_id, const char* status) {
    if (report_.lines.size() >= Report::kMaxLines) {
      ++report_.omitted;
      scratch_ = OrderedJson::object();
      return scratch_;
    }
    OrderedJson& out = report_.lines.emplace_back(OrderedJson::object());
    out["external_id"] = std::move(external_id);
    out["status"] = status;
    return out;
  }

  const pipeline::Target& target_;
  // The host's clock when the sample is mapped: the window of accepted dates ends a day later.
  const store::Timestamp now_ =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  bool live_;
  Report report_;
  OrderedJson scratch_;
};

}  // namespace

nlohmann::ordered_json Report::to_json() const {
  OrderedJson out = {{"passed", passed()}, {"ok", ok}, {"skipped", skipped}, {"errors", errors}};
  out["records"] = lines;
  out["records_omitted"] = omitted;
  return out;
}

std::string Report::to_text() const {
  std::string text;
  for (const auto& line : lines) text += dump_json(line) + "\n";
  if (omitted > 0) text += "… " + std::to_string(omitted) + " more objects not shown\n";
  return text;
}

TrialServices::TrialServices(std::unique_ptr<http::Client> client) : client_(std::move(client)) {}

Result<std::unique_ptr<TrialServices>> TrialServices::create(
    std::vector<std::string> secrets, std::shared_ptr<const http::AddressPolicy> policy) {
  http::ClientOptions options;
  options.integration = "trial";
  options.secrets = std::move(secrets);
  options.address_policy = std::move(policy);
  auto client = http::Client::create(std::move(options));
  if (!client) return client.error();
  return std::unique_ptr<TrialServices>(new TrialServices(std::move(*client)));
}

Result<plugin_host::HttpResponse> TrialServices::http(std::string_view integration_id,
                                                      const plugin_host::HttpRequest& request) {
  return sync::send_connector_request(
      *client_, request, [this, id = std::string(integration_id)] { return is_cancelled(id); });
}

Result<pipeline::Target> trial_target(std::string_view connector_id, const std::string& timezone,
                                      const std::string& region, const std::string& currency) {
  auto zone = normalize::TimeZone::locate(timezone);
  if (!zone) return zone.error();
  return pipeline::Target{.business_id = "trial",
                          .integration_id = "trial",
                          .id_prefix = upper(connector_id),
                          .zone = *zone,
                          .region = region,
                          .currency = currency};
}

Result<Report> map_sample(plugin_host::Instance& instance, const pipeline::Target& target,
                          std::string_view body) {
  ReportSink sink(target, false);
  if (auto mapped = instance.map_response(body, sink); !mapped) return mapped.error();
  return sink.take();
}

Result<Report> map_webhook(plugin_host::Instance& instance, const pipeline::Target& target,
                           const plugin_host::WebhookRequest& request) {
  ReportSink sink(target, false);
  if (auto mapped = instance.parse_webhook(request, sink); !mapped) return mapped.error();
  return sink.take();
}

Result<Report> fetch_page(plugin_host::Instance& instance, const pipeline::Target& target) {
  ReportSink sink(target, true);
  if (auto fetched = instance.fetch("", sink); !fetched) return fetched.error();
  return sink.take();
}

}  // namespace crmsync::sandbox
