// A test connector whose records come from its own settings, so that pipeline tests can feed
// exact records (every amount kind, bad values, items, medical flags) through the real ABI.
//
// Settings: {"batches": [{"records": [...], "skips": ["id", ...], "fails": ["id", ...]}, ...],
//            "fail_at_batch": N, "objects": {"id": record, ...}, "unavailable_objects": [...]}
// fetch(cursor) emits batch number `cursor` (empty = 0) and checkpoints the next number; with
// fail_at_batch it returns UNAVAILABLE instead of emitting that batch. fetch_object(id) emits
// objects[id], UNAVAILABLE for an id in unavailable_objects, NOT_FOUND for any other. A record is
// {"external_id", "occurred_at", "amount" (string) or "amount_minor" (integer), "currency",
// "customer_phone", "customer_ref", "description", "items": [{"name", "quantity",
// "amount_minor"}], "medical", "locator", "raw_json"}.
//
// parse_webhook(body) reads the body as {"records": [...], "refetch": ["id", ...]}: it emits the
// records and names the objects to re-read; {"throw": "text"} throws a std::runtime_error
// instead, {"error_code": N} returns error code N (one outside the ABI's range too).
#include <crmsync/connector.hpp>
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace {

using crmsync::sdk::Error;
using nlohmann::json;

class Scripted : public crmsync::sdk::Connector {
 public:
  Scripted(crmsync::sdk::Host host, const crmsync::sdk::OpenArgs& args)
      : Connector(host), settings_(json::parse(args.config_json)) {}

  std::string health_check() override { return "✅ Scripted connector ready"; }

  void fetch(std::string_view cursor, crmsync::sdk::Sink& sink) override {
    const size_t index = cursor.empty() ? 0 : std::stoul(std::string(cursor));
    const json& batches = settings_.at("batches");
    if (settings_.value("fail_at_batch", -1) == static_cast<int>(index)) {
      throw Error(CRMSYNC_E_UNAVAILABLE, "scripted outage at batch " + std::to_string(index));
    }
    if (index < batches.size()) emit(batches[index], sink);
    sink.checkpoint(std::to_string(index + 1), index + 1 < batches.size());
  }

  void parse_webhook(const crmsync::sdk::WebhookRequest& request,
                     crmsync::sdk::Sink& sink) override {
    const json body = json::parse(request.body);
    if (body.contains("throw")) throw std::runtime_error(body.at("throw").get<std::string>());
    if (body.contains("error_code")) {
      throw Error(body.at("error_code").get<int32_t>(), "scripted error value");
    }
    emit(body, sink);
    for (const json& id : body.value("refetch", json::array())) sink.refetch(id.get<std::string>());
  }

  void fetch_object(std::string_view object_id, crmsync::sdk::Sink& sink) override {
    const std::string id(object_id);
    for (const json& unavailable : settings_.value("unavailable_objects", json::array())) {
      if (unavailable == id) throw Error(CRMSYNC_E_UNAVAILABLE, "scripted outage of object " + id);
    }
    const json objects = settings_.value("objects", json::object());
    if (!objects.contains(id)) throw Error(CRMSYNC_E_NOT_FOUND, "no object " + id);
    emit({{"records", json::array({objects.at(id)})}}, sink);
  }

 private:
  static void emit(const json& batch, crmsync::sdk::Sink& sink) {
    for (const json& r : batch.value("records", json::array())) {
      crmsync::sdk::Record record;
      record.external_id = r.value("external_id", "");
      record.occurred_at = r.value("occurred_at", "");
      if (r.contains("amount_minor")) {
        record.amount_minor = r.at("amount_minor").get<int64_t>();
      } else {
        record.amount = r.value("amount", "");
      }
      record.currency = r.value("currency", "");
      record.customer_phone = r.value("customer_phone", "");
      record.customer_ref = r.value("customer_ref", "");
      record.description = r.value("description", "");
      record.medical = r.value("medical", false);
      record.locator = r.value("locator", "");
      record.raw_json = r.value("raw_json", "");
      for (const json& i : r.value("items", json::array())) {
        record.items.push_back({.name = i.value("name", ""),
                                .quantity = i.value("quantity", ""),
                                .amount_minor = i.at("amount_minor").get<int64_t>(),
                                .amount = ""});
      }
      sink.record(record);
    }
    for (const json& id : batch.value("skips", json::array()))
      sink.skip(id.get<std::string>(), "not paid");
    for (const json& id : batch.value("fails", json::array())) {
      sink.fail(id.get<std::string>(), "cannot map", R"({"id":")" + id.get<std::string>() + "\"}");
    }
  }

  json settings_;
};

}  // namespace

CRMSYNC_CONNECTOR(Scripted, {.id = "scripted",
                             .display_name = "Scripted test connector",
                             .vendor = "crmsync tests",
                             .version = "1.0.0",
                             .config_schema = R"({"type":"object"})",
                             .capabilities = CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL |
                                             CRMSYNC_CAP_WEBHOOK})
