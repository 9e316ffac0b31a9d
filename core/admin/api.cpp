#include "admin/api.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <variant>

#include "admin/views.h"
#include "base/barrier.h"
#include "base/json.h"
#include "imports/csv_import.h"
#include "normalize/utc_time.h"
#include "sandbox/sandbox.h"
#include "webhooks/auth.h"

namespace crmsync::admin {

using nlohmann::json;

namespace {

constexpr std::string_view kKeyPrefix = "csk_";
// What an upload's body may hold beyond the file: multipart boundaries and part headers.
constexpr uint64_t kUploadFraming = 64 * 1024;

// Who is calling: a platform admin, or the owner of one business.
struct Caller {
  bool admin = false;
  std::string business_id;  // the owner's business

  bool may_see(const std::string& business) const { return admin || business == business_id; }
};

// An error answer: {"error": message} (and field errors for 422).
server::Response error(int status, const std::string& message, json fields = nullptr) {
  json body = {{"error", message}};
  if (!fields.is_null()) body["fields"] = std::move(fields);
  return server::Response::json(status, dump_json(body));
}

server::Response ok(int status, const json& body) {
  return server::Response::json(status, dump_json(body));
}

// The HTTP status for an error value from the store, the engine or a connector.
int status_of(int32_t code) {
  switch (code) {
    case CRMSYNC_E_NOT_FOUND:
      return 404;
    case CRMSYNC_E_CONFLICT:
      return 409;
    case CRMSYNC_E_INVALID_INPUT:
    case CRMSYNC_E_INVALID_CONFIG:
      return 422;
    case CRMSYNC_E_UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

server::Response from_error(const Error& e) {
  return error(status_of(e.code), e.message);
}

// A JSON object body (no deeper than kMaxJsonDepth), or why not.
Result<json> object_body(const server::Request& request) {
  auto body = parse_json(request.body, "the body");
  if (!body) return body.error();
  if (!body->is_object()) return fail(CRMSYNC_E_INVALID_INPUT, "the body must be a JSON object");
  return body;
}

// The members of a request body, read by type: a member present with another type than the one
// read is a field error, and all of them are answered together as 422 {error, fields}.
class BodyFields {
 public:
  explicit BodyFields(const json& body) : body_(body) {}

  std::string text(const char* name, std::string fallback) {
    const json* value = member(name, json::value_t::string, "must be a string");
    return value ? value->get<std::string>() : std::move(fallback);
  }
  bool flag(const char* name, bool fallback) {
    const json* value = member(name, json::value_t::boolean, "must be true or false");
    return value ? value->get<bool>() : fallback;
  }
  json object(const char* name) {
    const json* value = member(name, json::value_t::object, "must be an object");
    return value ? *value : json::object();
  }
  // Whether `name` is present (and not null).
  bool has(const char* name) const { return body_.contains(name) && !body_[name].is_null(); }

  // The 422 answer when a member had the wrong type.
  std::optional<server::Response> refused() const {
    if (fields_.empty()) return std::nullopt;
    return error(422, "invalid request body", fields_);
  }

 private:
  const json* member(const char* name, json::value_t type, const char* message) {
    if (!has(name)) return nullptr;
    const json& value = body_[name];
    if (value.type() == type) return &value;
    fields_.push_back({{"field", name}, {"message", message}});
    return nullptr;
  }

  const json& body_;
  json fields_ = json::array();
};

// A query parameter as a positive integer within [1, max], or nullopt when absent.
Result<std::optional<int64_t>> query_int(const server::Request& request, const std::string& name,
                                         int64_t max) {
  auto it = request.query.find(name);
  if (it == request.query.end()) return std::optional<int64_t>();
  int64_t value = 0;
  const char* end = it->second.data() + it->second.size();
  auto [ptr, ec] = std::from_chars(it->second.data(), end, value);
  if (ec != std::errc() || ptr != end || value < 1 || value > max) {
    return fail(
        CRMSYNC_E_INVALID_INPUT,
        "query parameter `" + name + "` must be an integer from 1 to " + std::to_string(max));
  }
  return std::optional<int64_t>(value);
}

// Identifiers chosen by the caller: what fits a URL segment and a log line.
bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (const unsigned char c : id) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::optional<store::LogType> parse_log_type(const std::string& text) {
  for (auto type : {store::LogType::success, store::LogType::error, store::LogType::warning}) {
    if (text == store::to_string(type)) return type;
  }
  return std::nullopt;
}

// How long an import job's host may go without committing a batch before readers take the job
// for lost (the import run's own lease, as long).
constexpr std::chrono::minutes kImportLease{30};

// An import job as GET /imports/{id} shows it. A job still running past its lease lost its host
// (or its database) before it ended: it reads as failed, and uploading again is safe (stored
// rows are duplicates).
json import_json(const store::ImportJob& job, store::Timestamp now) {
  const bool lost = job.status == store::ImportStatus::running && job.lease_until < now;
  const char* status = lost                                         ? "failed"
                       : job.status == store::ImportStatus::running ? "running"
                       : job.status == store::ImportStatus::done    ? "done"
                                                                    : "failed";
  const std::string failure =
      lost ? "the import did not finish (its host stopped); upload the file again" : job.error;
  return {{"id", std::to_string(job.id)},
          {"business_id", job.business_id},
          {"status", status},
          {"progress", job.bytes_total == 0 ? 1.0
                                            : static_cast<double>(job.bytes_read) /
                                                  static_cast<double>(job.bytes_total)},
          {"rows", job.counts.fetched},
          {"imported", job.counts.inserted},
          {"duplicates", job.counts.duplicates},
          {"errors", job.counts.failed},
          {"run_id", job.run_id ? json(*job.run_id) : json(nullptr)},
          {"summary", job.summary.empty() ? json(nullptr) : json(job.summary)},
          {"error", failure.empty() ? json(nullptr) : json(failure)},
          {"error_report", json::parse(job.report_json, nullptr, false)}};
}

store::RunCounts counts_of(const pipeline::Totals& totals) {
  return {.fetched = totals.fetched,
          .inserted = totals.inserted,
          .duplicates = totals.duplicates,
          .failed = totals.failed,
          .skipped = totals.skipped};
}

// A multipart/form-data body's first file part (RFC 7578), or the body itself when it is not
// multipart. Written by hand: no Debian-packaged C++ library parses multipart bodies.
Result<std::string_view> upload_content(const server::Request& request) {
  const std::string_view type = request.header("content-type").value_or("");
  if (type.find("multipart/form-data") == std::string_view::npos)
    return std::string_view(request.body);
  const size_t at = type.find("boundary=");
  if (at == std::string_view::npos) {
    return fail(CRMSYNC_E_INVALID_INPUT, "multipart body without a boundary");
  }
  std::string_view boundary = type.substr(at + 9);
  boundary = boundary.substr(0, boundary.find(';'));
  if (boundary.size() >= 2 && boundary.front() == '"')
    boundary = boundary.substr(1, boundary.size() - 2);
  const std::string delimiter = "--" + std::string(boundary);
  const std::string_view body = request.body;
  size_t part = body.find(delimiter);
  while (part != std::string_view::npos) {
    size_t headers = part + delimiter.size();
    if (body.substr(headers, 2) == "--") break;  // the closing delimiter
    headers = body.find("\r\n", headers);
    if (headers == std::string_view::npos) break;
    headers += 2;
    const size_t content = body.find("\r\n\r\n", headers);
    if (content == std::string_view::npos) break;
    const size_t next = body.find("\r\n" + delimiter, content + 4);
    if (next == std::string_view::npos) break;
    const std::string_view head = body.substr(headers, content - headers);
    if (head.find("filename=") != std::string_view::npos) {
      return body.substr(content + 4, next - content - 4);
    }
    part = next + 2;
  }
  return fail(CRMSYNC_E_INVALID_INPUT, "the multipart body has no file part");
}

}  // namespace

struct Api::State {
  store::Store& store;
  const plugin_host::PluginHost& host;
  sync::Engine& engine;
  std::vector<crypto::MasterKey> keys;
  ApiOptions options;
  boost::asio::thread_pool pool;

  State(store::Store& s, const plugin_host::PluginHost& h, sync::Engine& e,
        std::vector<crypto::MasterKey> k, ApiOptions o)
      : store(s),
        host(h),
        engine(e),
        keys(std::move(k)),
        options(std::move(o)),
        pool(static_cast<size_t>(std::max(1, options.workers))) {}

  // ---- access ----------------------------------------------------------------------------

  Result<Caller> authenticate(const server::Request& request) {
    std::string_view value = request.header("authorization").value_or("");
    constexpr std::string_view kBearer = "Bearer ";
    if (value.substr(0, kBearer.size()) != kBearer) {
      return fail(CRMSYNC_E_UNAUTHENTICATED, "an API key is required: Authorization: Bearer KEY");
    }
    const std::string secret(value.substr(kBearer.size()));
    if (secret.substr(0, kKeyPrefix.size()) != kKeyPrefix) {
      return fail(CRMSYNC_E_UNAUTHENTICATED, "invalid API key");
    }
    auto key = store.find_api_key(crypto::sha256_hex(secret));
    if (!key) return key.error();
    if (!*key) return fail(CRMSYNC_E_UNAUTHENTICATED, "invalid API key");
    Caller caller;
    caller.admin = (*key)->role == "admin";
    caller.business_id = (*key)->business_id.value_or("");
    return caller;
  }

  // The business if the caller may see it; NOT_FOUND otherwise (never saying it exists).
  Result<store::Business> business_for(const Caller& caller, const std::string& id) {
    if (!caller.may_see(id)) return fail(CRMSYNC_E_NOT_FOUND, "no business '" + id + "'");
    auto business = store.get_business(id);
    if (!business && business.error().code == CRMSYNC_E_NOT_FOUND) {
      return fail(CRMSYNC_E_NOT_FOUND, "no business '" + id + "'");
    }
    return business;
  }

  Result<store::Integration> integration_for(const Caller& caller, const std::string& id) {
    auto integration = store.get_integration(id);
    if ((!integration && integration.error().code == CRMSYNC_E_NOT_FOUND) ||
        (integration && !caller.may_see(integration->business_id))) {
      return fail(CRMSYNC_E_NOT_FOUND, "no integration '" + id + "'");
    }
    return integration;
  }

  // ---- integrations ------------------------------------------------------------------------

  // Settings shown to the caller: the stored ones, and which secrets are set (never their values).
  json integration_json(const store::Integration& integration) {
    json settings = parse_json_or_discarded(integration.settings_json);
    if (settings.is_discarded()) settings = json::object();
    json secrets = json::object();
    const plugin_host::Connector* connector = host.find(integration.crm_type);
    json stored_secrets = json::object();
    if (!integration.credentials.blob.empty()) {
      if (auto opened = crypto::open(keys, integration.credentials)) {
        stored_secrets = parse_json_or_discarded(*opened);
      }
    }
    if (connector) {
      for (const std::string& name : connector->secret_fields()) {
        secrets[name] = stored_secrets.is_object() && stored_secrets.contains(name);
      }
    }
    return {{"id", integration.id},
            {"business_id", integration.business_id},
            {"crm_type", integration.crm_type},
            {"active", integration.active},
            {"settings", settings},
            {"secrets", secrets},
            {"last_sync_at", optional_time(integration.last_sync_at)},
            {"consecutive_failures", integration.consecutive_failures},
            {"created_at", iso_time(integration.created_at)},
            {"updated_at", iso_time(integration.updated_at)}};
  }

  // Checks settings (secrets included) against the connector's schema and seals the secrets;
  // a violation is 422 with every field's error.
  std::variant<std::pair<std::string, crypto::Sealed>, server::Response> seal(
      const plugin_host::Connector& connector, const json& settings) {
    const std::string text = dump_json(settings);
    std::vector<plugin_host::FieldError> violations = connector.settings_errors(text);
    if (!violations.empty()) {
      json fields = json::array();
      for (const auto& v : violations)
        fields.push_back({{"field", v.field}, {"message", v.message}});
      return error(422, "the settings do not match the connector's schema", fields);
    }
    auto split = sync::seal_settings(connector, text, keys.empty() ? nullptr : &keys.front());
    if (!split) return from_error(split.error());
    return std::move(*split);
  }

  // A trial of settings (secrets included) for the business: the connector's mapping of sample,
  // or one page read live when sample is empty. Nothing is stored.
  Result<sandbox::Report> trial(const plugin_host::Connector& connector, const json& settings,
                                const store::Business& business, const std::string& sample) {
    auto target = sandbox::trial_target(connector.id(), business.timezone, business.region,
                                        business.currency);
    if (!target) return target.error();
    std::vector<std::string> secrets;
    for (const std::string& name : connector.secret_fields()) {
      if (settings.contains(name) && settings[name].is_string()) secrets.push_back(settings[name]);
    }
    auto services = sandbox::TrialServices::create(std::move(secrets), options.address_policy);
    if (!services) return services.error();
    auto instance = host.open_instance(connector.id(), "trial", dump_json(settings),
                                       business.timezone, business.currency, **services);
    if (!instance) return instance.error();
    return sample.empty() ? sandbox::fetch_page(**instance, *target)
                          : sandbox::map_sample(**instance, *target, sample);
  }

  // A custom connector is saved active only after a live trial of its settings found sales and
  // no errors (spec 8.1.7); nullopt when it may be saved.
  std::optional<server::Response> refused_by_trial(const plugin_host::Connector& connector,
                                                   const json& settings,
                                                   const std::string& business_id) {
    if (connector.id() != "custom") return std::nullopt;
    auto business = store.get_business(business_id);
    if (!business) return from_error(business.error());
    auto report = trial(connector, settings, *business, "");
    if (!report) {
      return error(422,
                   "the sandbox run failed: " + report.error().message +
                       "; save it inactive and try it with POST /api/v1/connectors/custom/test");
    }
    if (report->passed()) return std::nullopt;
    json body = {{"error",
                  "the sandbox run must find sales and no errors before the connector is "
                  "saved active"},
                 {"sandbox", report->to_json()}};
    return ok(422, body);
  }

  // POST /connectors/{connector}/test: {business_id, settings, sample} → the trial's report.
  server::Response test_connector(const Caller& caller, const std::string& connector_id,
                                  const server::Request& request) {
    const plugin_host::Connector* connector = host.find(connector_id);
    if (!connector) return error(404, "no connector '" + connector_id + "'");
    auto body = object_body(request);
    if (!body) return error(400, body.error().message);
    BodyFields fields(*body);
    const std::string business_id =
        fields.text("business_id", caller.admin ? std::string() : caller.business_id);
    const json settings = fields.object("settings");
    const std::string sample = fields.text("sample", "");
    if (auto refused = fields.refused()) return std::move(*refused);
    store::Business business;  // defaults: Moscow, RU, RUB
    if (!business_id.empty()) {
      auto found = business_for(caller, business_id);
      if (!found) return from_error(found.error());
      business = *found;
    }
    std::vector<plugin_host::FieldError> violations =
        connector->settings_errors(dump_json(settings));
    if (!violations.empty()) {
      json fields = json::array();
      for (const auto& v : violations) {
        fields.push_back({{"field", v.field}, {"message", v.message}});
      }
      return error(422, "the settings do not match the connector's schema", fields);
    }
    auto report = trial(*connector, settings, business, sample);
    if (!report) return ok(200, {{"passed", false}, {"error", report.error().message}});
    return ok(200, report->to_json());
  }

  // Why the caller may not give a new integration of the business this id (nullopt: it may).
  // Integration ids are global (URLs, webhooks, the config), so an owner's ids stay inside its
  // business's namespace: "{business}-{name}" with a name without '-', one-to-one because the
  // business is what precedes the last '-'. No owner can take or probe another business's ids
  // (it cannot name them), nor its own CSV import integration's name. A platform admin chooses
  // any id outside another existing business's namespace.
  std::optional<server::Response> refused_id(const Caller& caller, const std::string& business_id,
                                             const std::string& id) {
    const auto refuse = [](const std::string& message) {
      return error(422, "invalid id", json::array({{{"field", "id"}, {"message", message}}}));
    };
    if (!valid_id(id)) return refuse("1-64 letters, digits, '-', '_' or '.'");
    const size_t dash = id.rfind('-');
    const std::string prefix = dash == std::string::npos ? "" : id.substr(0, dash);
    const std::string name = dash == std::string::npos ? id : id.substr(dash + 1);
    if (!caller.admin && (prefix != business_id || name.empty())) {
      return refuse("must be '" + business_id +
                    "-' followed by letters, digits, '_' or '.' (no further '-')");
    }
    if (prefix == business_id && imports::is_csv_import_name(name)) {
      return refuse("'" + business_id + "-csv' is reserved for the business's CSV imports");
    }
    if (caller.admin && !prefix.empty() && prefix != business_id && store.get_business(prefix)) {
      return refuse("'" + prefix + "-…' ids belong to business '" + prefix + "'");
    }
    return std::nullopt;
  }

  server::Response create_integration(const Caller& caller, const std::string& business_id,
                                      const server::Request& request) {
    auto business = business_for(caller, business_id);
    if (!business) return from_error(business.error());
    auto body = object_body(request);
    if (!body) return error(400, body.error().message);
    BodyFields fields(*body);
    const std::string crm_type = fields.text("crm_type", "");
    const json settings = fields.object("settings");
    store::Integration integration;
    integration.id = fields.text("id", business_id + "-" + crm_type);
    integration.active = fields.flag("active", true);
    if (auto refused = fields.refused()) return std::move(*refused);
    const plugin_host::Connector* connector = host.find(crm_type);
    if (!connector) {
      return error(422, "unknown crm_type '" + crm_type + "'",
                   json::array({{{"field", "crm_type"}, {"message", "no such connector"}}}));
    }
    if (!valid_id(integration.id)) {
      return error(
          422, "invalid id",
          json::array({{{"field", "id"}, {"message", "1-64 letters, digits, '-', '_' or '.'"}}}));
    }
    if (auto refused = refused_id(caller, business_id, integration.id)) return *refused;
    const server::Response taken =
        error(409, "an integration '" + integration.id + "' exists already");
    if (store.get_integration(integration.id)) return taken;
    auto sealed = seal(*connector, settings);
    if (auto* refused = std::get_if<server::Response>(&sealed)) return std::move(*refused);
    auto& split = std::get<0>(sealed);
    if (integration.active) {
      if (auto refused = refused_by_trial(*connector, settings, business_id)) return *refused;
    }
    integration.business_id = business_id;
    integration.crm_type = crm_type;
    integration.settings_json = split.first;
    integration.credentials = std::move(split.second);
    integration.created_at = integration.updated_at = options.now();
    if (auto created = store.create_integration(integration); !created) {
      // Created by a concurrent request since the check: the same answer, not the store's.
      return store.get_integration(integration.id) ? taken : from_error(created.error());
    }
    return ok(201, integration_json(integration));
  }

  // PATCH: given settings replace stored ones key by key (null removes a key); secrets not given
  // keep their stored values.
  server::Response update_integration(const Caller& caller, const std::string& id,
                                      const server::Request& request) {
    auto integration = integration_for(caller, id);
    if (!integration) return from_error(integration.error());
    auto body = object_body(request);
    if (!body) return error(400, body.error().message);
    const plugin_host::Connector* connector = host.find(integration->crm_type);
    if (!connector) return error(503, "the " + integration->crm_type + " connector is not loaded");
    auto settings = full_settings(*integration);
    if (!settings) return error(500, settings.error().message);
    const bool was_active = integration->active;
    if (body->contains("settings")) {
      const json& changes = (*body)["settings"];
      if (!changes.is_object()) {
        return error(422, "settings must be an object",
                     json::array({{{"field", "settings"}, {"message", "must be an object"}}}));
      }
      for (const auto& [name, value] : changes.items()) {
        if (value.is_null()) {
          settings->erase(name);
        } else {
          (*settings)[name] = value;
        }
      }
      auto sealed = seal(*connector, *settings);
      if (auto* refused = std::get_if<server::Response>(&sealed)) return std::move(*refused);
      auto& split = std::get<0>(sealed);
      integration->settings_json = split.first;
      integration->credentials = std::move(split.second);
    }
    if (body->contains("active")) {
      if (!(*body)["active"].is_boolean()) {
        return error(422, "active must be true or false",
                     json::array({{{"field", "active"}, {"message", "must be a boolean"}}}));
      }
      integration->active = (*body)["active"].get<bool>();
    }
    if (integration->active && (!was_active || body->contains("settings"))) {
      if (auto refused = refused_by_trial(*connector, *settings, integration->business_id)) {
        return *refused;
      }
    }
    if (auto updated = store.update_integration(*integration, options.now()); !updated) {
      return from_error(updated.error());
    }
    if (integration->active != was_active) {
      auto switched = store.set_integration_active(id, integration->active, options.now());
      if (!switched) return from_error(switched.error());
    }
    return integration_by_id(caller, id);
  }

  // The integration's settings with its secrets opened.
  Result<json> full_settings(const store::Integration& integration) {
    json settings = parse_json_or_discarded(integration.settings_json);
    if (!settings.is_object()) settings = json::object();
    if (!integration.credentials.blob.empty()) {
      auto opened = crypto::open(keys, integration.credentials);
      if (!opened) return fail(opened.error().code, "credentials: " + opened.error().message);
      const json secrets = parse_json_or_discarded(*opened);
      if (!secrets.is_object()) return fail(CRMSYNC_E_INTERNAL, "credentials: not a JSON object");
      settings.update(secrets);
    }
    return settings;
  }

  server::Response integration_by_id(const Caller& caller, const std::string& id) {
    auto integration = integration_for(caller, id);
    if (!integration) return from_error(integration.error());
    return ok(200, integration_json(*integration));
  }

  server::Response set_active(const Caller& caller, const std::string& id, bool active) {
    auto integration = integration_for(caller, id);
    if (!integration) return from_error(integration.error());
    const plugin_host::Connector* connector = host.find(integration->crm_type);
    if (active && !integration->active && connector) {
      auto settings = full_settings(*integration);
      if (!settings) return error(500, settings.error().message);
      if (auto refused = refused_by_trial(*connector, *settings, integration->business_id)) {
        return *refused;
      }
    }
    if (auto done = store.set_integration_active(id, active, options.now()); !done) {
      return from_error(done.error());
    }
    return integration_by_id(caller, id);
  }

  server::Response delete_integration(const Caller& caller, const std::string& id) {
    auto integration = integration_for(caller, id);
    if (!integration) return from_error(integration.error());
    if (auto done = store.delete_integration(id); !done) return from_error(done.error());
    return server::Response{.status = 204, .content_type = "", .headers = {}, .body = ""};
  }

  server::Response list_integrations(const Caller& caller, const std::string& business_id) {
    auto business = business_for(caller, business_id);
    if (!business) return from_error(business.error());
    auto integrations = store.list_integrations(business_id);
    if (!integrations) return from_error(integrations.error());
    json out = json::array();
    for (const auto& integration : *integrations) out.push_back(integration_json(integration));
    return ok(200, {{"integrations", out}});
  }

  // ---- runs, logs, statistics ----------------------------------------------------------------

  server::Response test_connection(const Caller& caller, const std::string& id) {
    auto integration = integration_for(caller, id);
    if (!integration) return from_error(integration.error());
    auto message = engine.test_connection(id);
    if (!message) return ok(200, {{"ok", false}, {"message", "❌ " + message.error().message}});
    return ok(200, {{"ok", message->rfind("❌", 0) != 0}, {"message", *message}});
  }

  server::Response start_sync(const Caller& caller, const std::string& id) {
    auto integration = integration_for(caller, id);
    if (!integration) return from_error(integration.error());
    if (!options.trigger) return error(503, "this host runs no scheduler");
    auto run = options.trigger(id);
    if (!run) {
      if (run.error().code == CRMSYNC_E_CONFLICT) return error(409, "a sync is already running");
      return from_error(run.error());
    }
    return ok(202, {{"run_id", *run}, {"status", "running"}, {"summary", "Синхронизация…"}});
  }

  server::Response run_by_id(const Caller& caller, const std::string& text) {
    int64_t id = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || ptr != text.data() + text.size()) return error(404, "no run " + text);
    auto run = store.get_run(id);
    if (!run) {
      return run.error().code == CRMSYNC_E_NOT_FOUND ? error(404, "no run " + text)
                                                     : from_error(run.error());
    }
    if (auto integration = integration_for(caller, run->integration_id); !integration) {
      return error(404, "no run " + text);
    }
    return ok(200, run_json(*run));
  }

  server::Response list_runs(const Caller& caller, const server::Request& request,
                             const std::string& id) {
    auto integration = integration_for(caller, id);
    if (!integration) return from_error(integration.error());
    auto limit = query_int(request, "limit", 1000);
    if (!limit) return error(400, limit.error().message);
    auto runs = store.list_runs(id, static_cast<int>(limit->value_or(50)));
    if (!runs) return from_error(runs.error());
    json out = json::array();
    for (const auto& run : *runs) out.push_back(run_json(run));
    return ok(200, {{"runs", out}});
  }

  server::Response logs(const Caller& caller, const server::Request& request,
                        const std::string& id) {
    auto integration = integration_for(caller, id);
    if (!integration) return from_error(integration.error());
    store::LogQuery query;
    query.integration_id = id;
    auto limit = query_int(request, "limit", 1000);
    if (!limit) return error(400, limit.error().message);
    query.limit = static_cast<int>(limit->value_or(100));
    auto before = query_int(request, "before", INT64_MAX);
    if (!before) return error(400, before.error().message);
    query.before_id = *before;
    if (auto type = request.query.find("type"); type != request.query.end()) {
      query.type = parse_log_type(type->second);
      if (!query.type)
        return error(400, "query parameter `type` must be success, error or warning");
    }
    auto lines = store.list_logs(query);
    if (!lines) return from_error(lines.error());
    json out = json::array();
    for (const auto& line : *lines) out.push_back(log_json(line));
    json next =
        static_cast<int>(lines->size()) == query.limit ? json(lines->back().id) : json(nullptr);
    return ok(200, {{"logs", out}, {"next_before", next}});
  }

  server::Response stats(const Caller& caller, const std::string& id) {
    auto integration = integration_for(caller, id);
    if (!integration) return from_error(integration.error());
    auto figures = store.integration_stats(id, options.now(), std::chrono::hours(24 * 30));
    if (!figures) return from_error(figures.error());
    return ok(200, stats_json(*figures));
  }

  // ---- businesses, connectors, keys ---------------------------------------------------------

  server::Response list_businesses(const Caller& caller) {
    auto businesses = store.list_businesses();
    if (!businesses) return from_error(businesses.error());
    json out = json::array();
    for (const auto& b : *businesses) {
      if (caller.may_see(b.id)) out.push_back(business_json(b));
    }
    return ok(200, {{"businesses", out}});
  }

  server::Response create_business(const server::Request& request) {
    auto body = object_body(request);
    if (!body) return error(400, body.error().message);
    store::Business business;
    BodyFields given(*body);
    business.id = given.text("id", "");
    business.name = given.text("name", "");
    business.timezone = given.text("timezone", business.timezone);
    business.region = given.text("region", business.region);
    business.currency = given.text("currency", business.currency);
    if (auto refused = given.refused()) return std::move(*refused);
    json fields = json::array();
    for (const auto& v : business_errors(business)) {
      fields.push_back({{"field", v.field}, {"message", v.message}});
    }
    if (!fields.empty()) return error(422, "invalid business", fields);
    if (store.get_business(business.id)) {
      return error(409, "a business '" + business.id + "' exists already");
    }
    business.created_at = options.now();
    if (auto added = store.add_business(business); !added) return from_error(added.error());
    return ok(201, business_json(business));
  }

  // PATCH /businesses/{id}: name, timezone, region, currency; the result is checked like a new one.
  server::Response update_business(const std::string& id, const server::Request& request) {
    auto business = store.get_business(id);
    if (!business) return from_error(business.error());
    auto body = object_body(request);
    if (!body) return error(400, body.error().message);
    BodyFields given(*body);
    business->name = given.text("name", business->name);
    business->timezone = given.text("timezone", business->timezone);
    business->region = given.text("region", business->region);
    business->currency = given.text("currency", business->currency);
    if (auto refused = given.refused()) return std::move(*refused);
    json fields = json::array();
    for (const auto& v : business_errors(*business)) {
      fields.push_back({{"field", v.field}, {"message", v.message}});
    }
    if (!fields.empty()) return error(422, "invalid business", fields);
    if (auto done = store.update_business(*business); !done) return from_error(done.error());
    return ok(200, business_json(*business));
  }

  server::Response delete_business(const std::string& id) {
    if (auto done = store.delete_business(id); !done) return from_error(done.error());
    return server::Response{.status = 204, .content_type = "", .headers = {}, .body = ""};
  }

  server::Response plugins() {
    json out = json::array();
    for (const plugin_host::Connector* connector : host.connectors()) {
      const crmsync_connector_v1& d = connector->descriptor();
      json schema = parse_json_or_discarded(d.config_schema ? d.config_schema : "{}");
      out.push_back({{"id", d.id},
                     {"name", d.display_name ? d.display_name : d.id},
                     {"version", d.version ? d.version : ""},
                     {"webhooks", (d.capabilities & CRMSYNC_CAP_WEBHOOK) != 0},
                     {"config_schema", schema.is_discarded() ? json(nullptr) : schema},
                     {"secret_fields", connector->secret_fields()}});
    }
    return ok(200, {{"plugins", out}});
  }

  server::Response create_key(const server::Request& request) {
    auto body = object_body(request);
    if (!body) return error(400, body.error().message);
    BodyFields given(*body);
    const std::string role = given.text("role", "");
    std::optional<std::string> business;
    if (given.has("business_id")) business = given.text("business_id", "");
    if (auto refused = given.refused()) return std::move(*refused);
    auto made = create_api_key(store, role, business, options.now());
    if (!made) return error(422, made.error().message);
    return ok(
        201, {{"id", made->key.id},
              {"role", made->key.role},
              {"business_id", made->key.business_id ? json(*made->key.business_id) : json(nullptr)},
              {"key", made->secret}});
  }

  server::Response delete_key(const std::string& id) {
    if (auto done = store.delete_api_key(id); !done) return from_error(done.error());
    return server::Response{.status = 204, .content_type = "", .headers = {}, .body = ""};
  }

  // ---- CSV uploads ---------------------------------------------------------------------------

  server::Response upload_csv(const Caller& caller, const std::string& business_id,
                              const server::Request& request) {
    auto business = business_for(caller, business_id);
    if (!business) return from_error(business.error());
    auto content = upload_content(request);
    if (!content) return error(400, content.error().message);
    if (content->empty()) return error(400, "the upload is empty");
    if (content->size() > options.max_csv_bytes) {
      return error(413, "the file is larger than " +
                            std::to_string(options.max_csv_bytes / (1024 * 1024)) + " MB");
    }
    store::ImportJob job;
    job.business_id = business_id;
    job.bytes_total = static_cast<int64_t>(content->size());
    job.created_at = job.updated_at = options.now();
    job.lease_until = job.created_at + kImportLease;
    auto id = store.create_import_job(job);
    if (!id) return from_error(id.error());
    job.id = *id;
    // Named by the job alone: the name reaches the business's logs ("CSV upload-12.csv: ...").
    const std::filesystem::path file =
        options.upload_dir / ("upload-" + std::to_string(job.id) + ".csv");
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out.write(content->data(), static_cast<std::streamsize>(content->size()));
      if (!out.flush()) {
        job.status = store::ImportStatus::failed;
        job.error = "the upload could not be kept for importing";
        (void)store.update_import_job(job);  // unsaved, the job reads as lost after its lease
        return error(503, job.error);
      }
    }
    boost::asio::post(pool, [this, job, file] {
      // The barrier of an import: whatever escapes it fails the job, not the API's worker.
      try {
        run_import(job, file);
      } catch (...) {
        std::fprintf(stderr, "crmsync: import %lld: internal error: %s\n",
                     static_cast<long long>(job.id), current_exception_text().c_str());
        auto current = store.get_import_job(job.id);
        store::ImportJob failed = current ? std::move(*current) : job;
        failed.status = store::ImportStatus::failed;
        failed.error = "internal error";
        failed.updated_at = options.now();
        (void)store.update_import_job(failed);  // unsaved, the job reads as lost after its lease
      }
    });
    return ok(202, import_json(job, options.now()));
  }

  // Imports the upload, writing the job's progress after each committed batch (which also renews
  // its lease) and its outcome at the end. A write that fails leaves the job to its lease.
  void run_import(store::ImportJob job, const std::filesystem::path& file) {
    imports::CsvImportOptions import;
    import.file = file;
    import.connector = options.csv_connector;
    import.max_bytes = options.max_csv_bytes;
    import.owner = options.owner + "-import-" + std::to_string(job.id);
    import.now = options.now;
    import.on_progress = [&job, this ](const pipeline::Totals& totals, uint64_t bytes_read) {
      job.counts = counts_of(totals);
    job.bytes_read = static_cast<int64_t>(bytes_read);
    job.updated_at = options.now();
    job.lease_until = job.updated_at + kImportLease;
    (void)store.update_import_job(job);
  };
  auto imported = imports::import_csv(store, job.business_id, import);
  std::error_code ignored;
  std::filesystem::remove(file, ignored);
  job.bytes_read = job.bytes_total;
  job.updated_at = options.now();
  if (imported) {
    job.status = store::ImportStatus::done;
    job.run_id = imported->run_id;
    job.counts = counts_of(imported->totals);
    job.summary = imported->summary;
    job.report_json = imports::report_json(imported->errors);
  } else {
    job.status = store::ImportStatus::failed;
    // The owner sees the upload's name, not where the host keeps it.
    job.error = imported.error().message;
    const std::string path = file.string();
    for (size_t at = job.error.find(path); at != std::string::npos; at = job.error.find(path)) {
      job.error.replace(at, path.size(), file.filename().string());
    }
  }
  (void)store.update_import_job(job);
}

server::Response
import_by_id(const Caller& caller, const std::string& text) {
  int64_t id = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return error(404, "no import " + text);
  }
  auto job = store.get_import_job(id);
  if (!job && job.error().code != CRMSYNC_E_NOT_FOUND) return from_error(job.error());
  if (!job || !caller.may_see(job->business_id)) return error(404, "no import " + text);
  return ok(200, import_json(*job, options.now()));
}

// ---- operations ----------------------------------------------------------------------------

server::Response ready() {
  auto version = store.schema_version();
  if (!version) return error(503, "store: " + version.error().message);
  if (*version < options.expected_schema_version) {
    return error(503, "store: schema version " + std::to_string(*version) + ", expected " +
                          std::to_string(options.expected_schema_version));
  }
  return ok(200, {{"status", "ready"}, {"schema_version", *version}});
}
};  // namespace crmsync::admin

namespace {

// What a route does once the caller is known; runs on the API's workers.
using Action = std::function<server::Response(Api::State&, const Caller&, server::Request&)>;

}  // namespace

Api::Api(store::Store& store, const plugin_host::PluginHost& host, sync::Engine& engine,
         std::vector<crypto::MasterKey> keys, ApiOptions options)
    : state_(std::make_shared<State>(store, host, engine, std::move(keys), std::move(options))) {}

Api::~Api() {
  state_->pool.join();
}

void Api::add_routes(server::Router& router) {
  std::weak_ptr<State> weak = state_;
  // Authenticates on a worker from the headers alone, so a request without a valid key is
  // refused before its body is read; an admitted request's action runs on a worker once its body
  // is in.
  auto route = [&router, weak](std::string method, std::string_view pattern, bool admin_only,
                               Action action, std::optional<size_t> body_limit = std::nullopt) {
    router.add_gated(
        std::move(method), pattern,
        [weak, admin_only, action](const server::Request& head, server::Decide decide) {
          auto state = weak.lock();
          if (!state) return decide(error(503, "stopping"));
          boost::asio::post(state->pool, [state, admin_only, action, head,
                                          decide = std::move(decide)]() mutable {
            // The barrier of a gate's worker: what escapes it is a 500, and the worker lives.
            try {
              auto caller = state->authenticate(head);
              if (!caller) {
                if (caller.error().code != CRMSYNC_E_UNAUTHENTICATED) {
                  return decide(from_error(caller.error()));
                }
                server::Response refused = error(401, caller.error().message);
                refused.headers.push_back({"WWW-Authenticate", "Bearer"});
                return decide(std::move(refused));
              }
              if (admin_only && !caller->admin) {
                return decide(error(403, "only a platform admin may do this"));
              }
              // Every id in a path has the ids' grammar; anything else names nothing.
              for (const auto& [name, value] : head.params) {
                if (!valid_id(value)) return decide(error(404, "no such " + name));
              }
              std::weak_ptr<State> admitted = state;
              decide(server::Handler([admitted, action, caller = std::move(*caller)](
                                         server::Request&& request, server::Reply reply) {
                auto state = admitted.lock();
                if (!state) return reply(error(503, "stopping"));
                boost::asio::post(state->pool, [state, action, caller, request = std::move(request),
                                                reply = std::move(reply)]() mutable {
                  server::answer_guarded(reply, [&] { reply(action(*state, caller, request)); });
                });
              }));
            } catch (...) {
              decide(server::internal_error(current_exception_text()));
            }
          });
        },
        body_limit);
  };
  const auto param = [](const server::Request& r, const char* name) { return r.params.at(name); };

  route("GET", "/api/v1/plugins", false,
        [](State& s, const Caller&, server::Request&) { return s.plugins(); });
  route("GET", "/api/v1/businesses", false,
        [](State& s, const Caller& c, server::Request&) { return s.list_businesses(c); });
  route("POST", "/api/v1/businesses", true,
        [](State& s, const Caller&, server::Request& r) { return s.create_business(r); });
  route("GET", "/api/v1/businesses/{business}", false,
        [param](State& s, const Caller& c, server::Request& r) {
          auto business = s.business_for(c, param(r, "business"));
          return business ? ok(200, business_json(*business)) : from_error(business.error());
        });
  route("PATCH", "/api/v1/businesses/{business}", true,
        [param](State& s, const Caller&, server::Request& r) {
          return s.update_business(param(r, "business"), r);
        });
  route("DELETE", "/api/v1/businesses/{business}", true,
        [param](State& s, const Caller&, server::Request& r) {
          return s.delete_business(param(r, "business"));
        });
  route("GET", "/api/v1/businesses/{business}/integrations", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.list_integrations(c, param(r, "business"));
        });
  route("POST", "/api/v1/businesses/{business}/integrations", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.create_integration(c, param(r, "business"), r);
        });
  // An upload carries a whole CSV file plus its multipart framing.
  route(
      "POST", "/api/v1/businesses/{business}/csv", false,
      [param](State& s, const Caller& c, server::Request& r) {
        return s.upload_csv(c, param(r, "business"), r);
      },
      static_cast<size_t>(state_->options.max_csv_bytes + kUploadFraming));
  route("GET", "/api/v1/imports/{import}", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.import_by_id(c, param(r, "import"));
        });
  route("GET", "/api/v1/integrations/{integration}", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.integration_by_id(c, param(r, "integration"));
        });
  route("PATCH", "/api/v1/integrations/{integration}", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.update_integration(c, param(r, "integration"), r);
        });
  route("DELETE", "/api/v1/integrations/{integration}", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.delete_integration(c, param(r, "integration"));
        });
  route("POST", "/api/v1/integrations/{integration}/enable", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.set_active(c, param(r, "integration"), true);
        });
  route("POST", "/api/v1/integrations/{integration}/disable", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.set_active(c, param(r, "integration"), false);
        });
  route("POST", "/api/v1/integrations/{integration}/test", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.test_connection(c, param(r, "integration"));
        });
  route("POST", "/api/v1/integrations/{integration}/sync", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.start_sync(c, param(r, "integration"));
        });
  route("GET", "/api/v1/integrations/{integration}/runs", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.list_runs(c, r, param(r, "integration"));
        });
  route("GET", "/api/v1/integrations/{integration}/logs", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.logs(c, r, param(r, "integration"));
        });
  route("GET", "/api/v1/integrations/{integration}/stats", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.stats(c, param(r, "integration"));
        });
  route("GET", "/api/v1/runs/{run}", false, [param](State& s, const Caller& c, server::Request& r) {
    return s.run_by_id(c, param(r, "run"));
  });
  route("POST", "/api/v1/connectors/{connector}/test", false,
        [param](State& s, const Caller& c, server::Request& r) {
          return s.test_connector(c, param(r, "connector"), r);
        });
  route("POST", "/api/v1/api-keys", true,
        [](State& s, const Caller&, server::Request& r) { return s.create_key(r); });
  route("DELETE", "/api/v1/api-keys/{key}", true,
        [param](State& s, const Caller&, server::Request& r) {
          return s.delete_key(param(r, "key"));
        });

  // Operations: unauthenticated, for load balancers and Prometheus.
  router.add("GET", "/healthz", [](server::Request&&, server::Reply reply) {
    reply(server::Response::json(200, R"({"status":"ok"})"));
  });
  router.add("GET", "/readyz", [weak](server::Request&&, server::Reply reply) {
    auto state = weak.lock();
    if (!state) return reply(error(503, "stopping"));
    boost::asio::post(state->pool, [state, reply = std::move(reply)] {
      server::answer_guarded(reply, [&] { reply(state->ready()); });
    });
  });
  if (state_->options.metrics) {
    router.add("GET", "/metrics", [weak](server::Request&&, server::Reply reply) {
      auto state = weak.lock();
      if (!state) return reply(error(503, "stopping"));
      boost::asio::post(state->pool, [state, reply = std::move(reply)] {
        server::answer_guarded(reply, [&] {
          server::Response response = server::Response::text(200, state->options.metrics());
          response.content_type = "text/plain; version=0.0.4; charset=utf-8";  // Prometheus 0.0.4
          reply(std::move(response));
        });
      });
    });
  }
}

namespace {

bool is_upper_code(const std::string& text, size_t length) {
  if (text.size() != length) return false;
  for (const char c : text) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

}  // namespace

std::vector<plugin_host::FieldError> business_errors(const store::Business& business) {
  std::vector<plugin_host::FieldError> out;
  if (!valid_id(business.id)) out.push_back({"id", "1-64 letters, digits, '-', '_' or '.'"});
  if (business.name.empty()) out.push_back({"name", "is required"});
  if (!normalize::TimeZone::locate(business.timezone)) {
    out.push_back({"timezone", "unknown time zone '" + business.timezone +
                                   "' (use an IANA name such as Europe/Moscow)"});
  }
  if (!is_upper_code(business.region, 2)) {
    out.push_back({"region", "must be a two-letter country code such as RU"});
  }
  if (!is_upper_code(business.currency, 3)) {
    out.push_back({"currency", "must be an ISO 4217 code such as RUB"});
  }
  return out;
}

Result<NewApiKey> create_api_key(store::Store& store, const std::string& role,
                                 const std::optional<std::string>& business_id,
                                 store::Timestamp now) {
  if (role != "admin" && role != "owner") {
    return fail(CRMSYNC_E_INVALID_INPUT, "role must be admin or owner");
  }
  if (role == "owner") {
    if (!business_id || business_id->empty()) {
      return fail(CRMSYNC_E_INVALID_INPUT, "an owner key needs the business_id");
    }
    if (auto business = store.get_business(*business_id); !business) {
      return fail(business.error().code, "no business '" + *business_id + "'");
    }
  } else if (business_id) {
    return fail(CRMSYNC_E_INVALID_INPUT, "an admin key has no business_id");
  }
  NewApiKey made;
  made.secret = std::string(kKeyPrefix) + webhooks::generate_secret(webhooks::AuthMode::token);
  made.key.id = "key-" + crypto::sha256_hex(made.secret).substr(0, 12);
  made.key.hash = crypto::sha256_hex(made.secret);
  made.key.role = role;
  made.key.business_id = role == "owner" ? business_id : std::nullopt;
  made.key.created_at = now;
  if (auto added = store.add_api_key(made.key); !added) return added.error();
  return made;
}

}  // namespace crmsync::admin
