// The sync engine (see engine.h).
#include "sync/engine.h"

#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/json.h"

#include "webhooks/auth.h"

namespace crmsync::sync {
namespace {

store::Timestamp system_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// The connector's declared limits as the HTTP client takes them.
std::vector<http::RateLimit> rate_limits(const plugin_host::Connector& connector) {
  std::vector<http::RateLimit> out;
  for (const crmsync_rate_limit_v1& limit : connector.rate_limits()) {
    out.push_back({limit.requests, std::chrono::milliseconds(limit.per_ms)});
  }
  return out;
}

}  // namespace

std::string error_type(int32_t code) {
  switch (code) {
    case CRMSYNC_E_UNAVAILABLE:
      return "ConnectionError";
    case CRMSYNC_E_TIMEOUT:
      return "TimeoutError";
    case CRMSYNC_E_RATE_LIMITED:
      return "RateLimitError";
    case CRMSYNC_E_UNAUTHENTICATED:
      return "AuthenticationError";
    case CRMSYNC_E_PERMISSION_DENIED:
      return "PermissionError";
    case CRMSYNC_E_INVALID_CONFIG:
      return "ConfigurationError";
    case CRMSYNC_E_INVALID_INPUT:
      return "ParseError";
    case CRMSYNC_E_CANCELLED:
      return "Cancelled";
    default:
      return code_name(code);
  }
}

std::string synced_message(int64_t inserted) {
  const int64_t n = inserted % 100;
  const char* noun = "транзакций";
  if (n < 11 || n > 14) {
    if (n % 10 == 1) noun = "транзакция";
    if (n % 10 >= 2 && n % 10 <= 4) noun = "транзакции";
  }
  return "✅ Синхронизировано " + std::to_string(inserted) + " " + noun;
}

Engine::Engine(store::Store& store, const plugin_host::PluginHost& host,
               StoreHostServices& services, EngineOptions options)
    : store_(store), host_(host), services_(services), options_(std::move(options)) {
  if (!options_.now) options_.now = system_now;
}

Result<std::unique_ptr<plugin_host::Instance>> Engine::open_instance(
    const store::Integration& integration, const store::Business& business) {
  const plugin_host::Connector* connector = host_.find(integration.crm_type);
  if (connector == nullptr) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "integration " + integration.id + ": connector `" +
                                              integration.crm_type + "` is not loaded");
  }
  nlohmann::json settings = parse_json_or_discarded(integration.settings_json);
  if (!settings.is_object()) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                "integration " + integration.id + ": stored settings are not a JSON object");
  }
  IntegrationProfile profile{
      .business_id = business.id, .rate_limits = rate_limits(*connector), .secrets = {}};
  if (!integration.credentials.blob.empty()) {
    auto opened = crypto::open(options_.master_keys, integration.credentials);
    if (!opened) {
      return fail(opened.error().code,
                  "integration " + integration.id + ": credentials: " + opened.error().message);
    }
    nlohmann::json secrets = parse_json_or_discarded(*opened);
    if (!secrets.is_object()) {
      return fail(CRMSYNC_E_INVALID_CONFIG,
                  "integration " + integration.id + ": credentials are not a JSON object");
    }
    for (auto& [name, value] : secrets.items()) {
      profile.secrets.push_back(value.is_string() ? value.get<std::string>() : dump_json(value));
      settings[name] = value;
    }
  }
  services_.prepare(integration.id, std::move(profile));
  return host_.open_instance(integration.crm_type, integration.id, dump_json(settings),
                             pipeline::integration_timezone(business, integration),
                             business.currency, services_);
}

Result<Engine::Loaded> Engine::load(const std::string& integration_id) {
  auto integration = store_.get_integration(integration_id);
  if (!integration) return integration.error();
  auto business = store_.get_business(integration->business_id);
  if (!business) return business.error();
  return Loaded{std::move(*integration), std::move(*business)};
}

Result<std::string> Engine::test_connection(const std::string& integration_id) {
  auto loaded = load(integration_id);
  if (!loaded) return loaded.error();
  const store::Integration& integration = loaded->integration;
  const store::Business& business = loaded->business;
  auto instance = open_instance(integration, business);
  if (!instance) return instance.error();
  return (*instance)->health_check();
}

Result<Engine::Claim> Engine::claim(const std::string& integration_id, store::RunTrigger trigger) {
  auto integration = store_.get_integration(integration_id);
  if (!integration) return integration.error();
  if (!integration->active) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "integration " + integration_id + " is disabled");
  }
  auto business = store_.get_business(integration->business_id);
  if (!business) return business.error();
  auto started =
      store_.start_run(integration_id, trigger, options_.owner, options_.run_lease, now());
  if (!started) return started.error();
  if (!*started) {
    return fail(CRMSYNC_E_CONFLICT, "integration " + integration_id + " is already syncing");
  }
  return Claim{.run_id = (*started)->id,
               .trigger = trigger,
               .integration = std::move(*integration),
               .business = std::move(*business)};
}

Result<RunReport> Engine::sync(const std::string& integration_id, store::RunTrigger trigger) {
  auto claimed = claim(integration_id, trigger);
  if (!claimed) return claimed.error();
  return execute(*claimed);
}

Result<RunReport> Engine::execute(const Claim& claim) {
  const std::string& integration_id = claim.integration.id;
  RunReport report;
  report.run_id = claim.run_id;
  report.integration_id = integration_id;
  report.business_id = claim.business.id;
  report.crm_type = claim.integration.crm_type;
  report.trigger = claim.trigger;
  const auto begun = std::chrono::steady_clock::now();

  Result<std::string> ran = [&]() -> Result<std::string> {
    auto target = pipeline::make_target(claim.business, claim.integration);
    if (!target) return target.error();
    auto instance = open_instance(claim.integration, claim.business);
    if (!instance) return instance.error();
    auto cursor = store_.get_cursor(integration_id);
    if (!cursor) return cursor.error();
    pipeline::Options ingest_options;
    ingest_options.now = options_.now;
    Error lease_lost{CRMSYNC_OK, ""};
    // A long run keeps its claim by renewing the lease after every committed batch; a lost lease
    // means another host took over (this one stalled), so this run stops at once.
    ingest_options.on_batch = [&](const pipeline::Totals&, std::string_view) {
      if (lease_lost.code != CRMSYNC_OK) return;
      auto renewed = store_.renew_run(report.run_id, options_.owner, now() + options_.run_lease);
      if (!renewed) {
        lease_lost = renewed.error();
        services_.cancel(integration_id);
      }
    };
    pipeline::Ingest ingest(store_, std::move(*target), report.run_id, std::move(ingest_options));
    auto result = ingest.run(**instance, std::move(*cursor));
    report.totals = ingest.totals();
    if (lease_lost.code != CRMSYNC_OK) {
      services_.resume(integration_id);
      return fail(CRMSYNC_E_CONFLICT, "lost the run's lease: " + lease_lost.message);
    }
    return result;
  }();
  report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - begun);
  if (ran) {
    report.status = store::RunStatus::success;
    report.message = synced_message(report.totals.inserted);
  } else if (ran.error().code == CRMSYNC_E_CANCELLED) {
    // Stopped by the host (shutdown): what was committed stays, the next run resumes from it.
    report.status = store::RunStatus::abandoned;
    report.error = ran.error();
    report.error_type = error_type(ran.error().code);
    report.message =
        "⏹ Синхронизация остановлена: " + ran.error().message;
  } else {
    report.status = store::RunStatus::failed;
    report.error = ran.error();
    report.error_type = error_type(ran.error().code);
    report.message = "❌ " + ran.error().message;
  }
  return finish(std::move(report), ran ? "" : ran.error().message);
}

Result<RunReport> Engine::finish(RunReport report, const std::string& error_message) {
  const bool ok = report.status == store::RunStatus::success;
  store::LogEntry line;
  line.business_id = report.business_id;
  line.integration_id = report.integration_id;
  line.run_id = report.run_id;
  line.type = ok                                             ? store::LogType::success
              : report.status == store::RunStatus::abandoned ? store::LogType::warning
                                                             : store::LogType::error;
  line.error_type = report.error_type;
  const pipeline::Totals& t = report.totals;
  line.message = report.message + " (fetched " + std::to_string(t.fetched) + ", new " +
                 std::to_string(t.inserted) + ", duplicates " + std::to_string(t.duplicates) +
                 ", failed " + std::to_string(t.failed) + ", not sales " +
                 std::to_string(t.skipped) + ")";
  if (!ok)
    line.context = "run " + std::to_string(report.run_id) + " after " +
                   std::to_string(report.duration.count()) + " ms";
  line.created_at = now();
  auto finished = store_.finish_run(report.run_id, options_.owner, report.status, report.error_type,
                                    error_message, now());
  if (!finished) return finished.error();
  report.consecutive_failures = *finished;
  if (auto logged = store_.append_logs({&line, 1}); !logged) return logged.error();
  if (options_.on_run_finished) options_.on_run_finished(report);
  return report;
}

pipeline::Ingest Engine::outside_run(pipeline::Target target) {
  pipeline::Options options;
  options.now = options_.now;
  return pipeline::Ingest(store_, std::move(target), std::nullopt, std::move(options));
}

// One object re-read into the store for an integration; no run, no cursor.
Result<pipeline::Totals> Engine::ingest_object(const store::Integration& integration,
                                               const store::Business& business,
                                               plugin_host::Instance& instance,
                                               const std::string& object_id) {
  auto target = pipeline::make_target(business, integration);
  if (!target) return target.error();
  pipeline::Ingest ingest = outside_run(std::move(*target));
  auto done = ingest.ingest_call(
      [&](plugin_host::RecordSink& sink) { return instance.fetch_object(object_id, sink); });
  if (!done) return done.error();
  return ingest.totals();
}

void Engine::log(const store::Integration& integration, store::LogType type,
                 const std::string& error_type, const std::string& message,
                 const std::string& raw_json) {
  store::LogEntry line;
  line.business_id = integration.business_id;
  line.integration_id = integration.id;
  line.type = type;
  line.error_type = error_type;
  line.message = message;
  line.raw_json = raw_json;
  line.created_at = now();
  if (auto logged = store_.append_logs({&line, 1}); !logged) {
    services_.log(integration.id, CRMSYNC_LOG_ERROR,
                  "cannot write the integration log: " + logged.error().message);
  }
}

Result<void> Engine::reread_failed(const store::Integration& integration,
                                   const std::string& object_id, const Error& error) {
  const std::string payload = dump_json(nlohmann::json{{"object_id", object_id}});
  if (!CRMSYNC_IS_RETRYABLE(error.code)) {
    log(integration, store::LogType::error, error_type(error.code),
        "Object " + object_id + " could not be read: " + error.message, payload);
    return {};
  }
  // A transient failure: the object waits in the retry queue (2, 4, 8 minutes).
  store::RetryItem item;
  item.integration_id = integration.id;
  item.external_id = object_id;
  item.payload_json = payload;
  item.next_attempt_at = now() + options_.retry_policy.backoff;
  item.last_error = error.message;
  auto queued = store_.enqueue_retry(item);
  if (!queued) return queued.error();
  log(integration, store::LogType::warning, error_type(error.code),
      "Object " + object_id + " will be retried: " + error.message, payload);
  return {};
}

Result<pipeline::Totals> Engine::refetch(const std::string& integration_id,
                                         const std::string& object_id) {
  auto loaded = load(integration_id);
  if (!loaded) return loaded.error();
  const store::Integration& integration = loaded->integration;
  const store::Business& business = loaded->business;
  auto instance = open_instance(integration, business);
  Result<pipeline::Totals> done = instance
                                      ? ingest_object(integration, business, **instance, object_id)
                                      : Result<pipeline::Totals>(instance.error());
  if (done) return done;
  if (auto handled = reread_failed(integration, object_id, done.error()); !handled) {
    return handled.error();
  }
  return done;
}

Result<Engine::Opened> Engine::open_ingest(const Loaded& loaded) {
  auto target = pipeline::make_target(loaded.business, loaded.integration);
  if (!target) return target.error();
  auto instance = open_instance(loaded.integration, loaded.business);
  if (!instance) return instance.error();
  return Opened{std::move(*target), std::move(*instance)};
}

Result<void> Engine::map_webhook(const store::Integration& integration,
                                 plugin_host::Instance& instance, pipeline::Ingest& ingest,
                                 const plugin_host::WebhookRequest& request,
                                 const std::function<Result<void>()>& progress) {
  auto named = ingest.add_call(
      [&](plugin_host::RecordSink& sink) { return instance.parse_webhook(request, sink); });
  if (!named) return named.error();
  const size_t inline_reads = std::min(named->size(), options_.webhook_rereads);
  for (size_t i = 0; i < inline_reads; ++i) {
    const std::string& object_id = (*named)[i];
    auto read = ingest.add_call(
        [&](plugin_host::RecordSink& sink) { return instance.fetch_object(object_id, sink); });
    if (!read) {
      if (auto handled = reread_failed(integration, object_id, read.error()); !handled) {
        return handled.error();
      }
    }
    if (progress) {
      if (auto renewed = progress(); !renewed) return renewed.error();
    }
  }
  if (inline_reads == named->size()) return {};
  // The rest waits in the retry queue, due now, as re-reads of their own: stored before the
  // webhook is marked done, so a crash in between repeats re-reads (stored once) but loses none.
  std::vector<store::RetryItem> later;
  later.reserve(named->size() - inline_reads);
  for (size_t i = inline_reads; i < named->size(); ++i) {
    store::RetryItem& item = later.emplace_back();
    item.integration_id = integration.id;
    item.external_id = (*named)[i];
    item.payload_json = nlohmann::json{{"object_id", (*named)[i]}}.dump();
    item.next_attempt_at = now();
  }
  if (auto queued = store_.enqueue_retries(later); !queued) return queued.error();
  log(integration, store::LogType::success, "",
      "Webhook names " + std::to_string(named->size()) +
          " objects: " + std::to_string(inline_reads) + " re-read now, " +
          std::to_string(later.size()) + " queued to be re-read in the background",
      "");
  return {};
}

Result<pipeline::Totals> Engine::ingest_webhook(const std::string& integration_id,
                                                const plugin_host::WebhookRequest& request) {
  auto loaded = load(integration_id);
  if (!loaded) return loaded.error();
  auto opened = open_ingest(*loaded);
  if (!opened) return opened.error();
  pipeline::Ingest ingest = outside_run(std::move(opened->target));
  if (auto mapped = map_webhook(loaded->integration, *opened->instance, ingest, request); !mapped) {
    return mapped.error();
  }
  if (auto committed = ingest.commit_pending(); !committed) return committed.error();
  return ingest.totals();
}

namespace {

// A stored webhook as the connector receives it: its saved headers (content-type among them)
// and body.
plugin_host::WebhookRequest webhook_request(const store::InboxItem& item) {
  plugin_host::WebhookRequest request;
  const nlohmann::json headers = parse_json_or_discarded(item.headers_json);
  if (headers.is_object()) {
    for (const auto& [name, value] : headers.items()) {
      if (!value.is_string()) continue;
      if (name == "content-type") request.content_type = value.get<std::string>();
      request.headers.emplace_back(name, value.get<std::string>());
    }
  }
  request.body = item.body;
  return request;
}

}  // namespace

Result<void> Engine::fail_webhook(const store::InboxItem& item, const Error& error,
                                  const store::Integration* integration) {
  // A body the connector cannot read stays unreadable: no point in trying again. A bug of the
  // mapping (INTERNAL: an exception, a code out of the ABI's range) follows the retry schedule,
  // like a mapping that killed the process: a connector update may fix it meanwhile.
  store::LeasePolicy policy = options_.retry_policy;
  if (!CRMSYNC_IS_RETRYABLE(error.code) && error.code != CRMSYNC_E_INTERNAL) {
    policy.max_attempts = 0;
  }
  auto status =
      store_.fail_item(store::Queue::inbox, item.id, options_.owner, error.message, policy, now());
  if (!status) return status.error();
  if (*status == store::ItemStatus::permanently_failed && integration != nullptr) {
    log(*integration, store::LogType::error, error_type(error.code),
        "Webhook #" + std::to_string(item.id) + " permanently_failed: " + error.message, "");
  }
  return {};
}

Result<void> Engine::guarded_map(const store::Integration& integration,
                                 plugin_host::Instance& instance, pipeline::Ingest& ingest,
                                 const store::InboxItem& item,
                                 const std::function<Result<void>()>& progress) {
  // The attempt is counted already (claim_webhooks): whatever the mapping throws, the webhook
  // fails like any other, on the retry schedule, and the worker goes on with the next one.
  try {
    return map_webhook(integration, instance, ingest, webhook_request(item), progress);
  } catch (const std::exception& e) {
    return fail(CRMSYNC_E_INTERNAL, std::string("mapping the webhook failed: ") + e.what());
  } catch (...) {
    return fail(CRMSYNC_E_INTERNAL, "mapping the webhook failed: an unknown exception");
  }
}

Result<void> Engine::process_webhooks(const std::string& integration_id,
                                      std::span<const store::InboxItem* const> items) {
  auto loaded = load(integration_id);
  auto opened = loaded ? open_ingest(*loaded) : Result<Opened>(loaded.error());
  if (!opened) {
    for (const store::InboxItem* item : items) {
      if (auto failed =
              fail_webhook(*item, opened.error(), loaded ? &loaded->integration : nullptr);
          !failed) {
        return failed.error();
      }
    }
    return {};
  }
  pipeline::Ingest ingest = outside_run(std::move(opened->target));
  std::vector<const store::InboxItem*> mapped;
  std::vector<int64_t> mapped_ids;
  // Re-reads take time (the CRM's rate limit): the group's leases are renewed while they
  // progress, so that no other worker claims a webhook that is still being mapped.
  std::vector<int64_t> leased;
  for (const store::InboxItem* item : items) leased.push_back(item->id);
  store::Timestamp renewed_at = now();
  const auto renew = [&]() -> Result<void> {
    const store::Timestamp at = now();
    if (at - renewed_at < options_.retry_policy.lease / 4) return {};
    renewed_at = at;
    return store_.renew_webhooks(leased, options_.owner, at + options_.retry_policy.lease);
  };
  for (const store::InboxItem* item : items) {
    auto done = guarded_map(loaded->integration, *opened->instance, ingest, *item, renew);
    if (done) {
      mapped.push_back(item);
      mapped_ids.push_back(item->id);
    } else {
      if (auto failed = fail_webhook(*item, done.error(), &loaded->integration); !failed) {
        return failed.error();
      }
      std::erase(leased, item->id);  // failing released it
    }
  }
  auto committed = ingest.commit_pending(std::move(mapped_ids), options_.owner);
  if (committed) return committed;
  // Nothing of the group was stored. The store failed, not the webhooks: they are retried with
  // backoff like any transient failure rather than waiting for their leases to run out; one
  // whose lease was lost is another owner's now (CONFLICT) and is left to it.
  const Error failure{CRMSYNC_E_UNAVAILABLE,
                      "the sales could not be stored: " + committed.error().message};
  for (const store::InboxItem* item : mapped) {
    auto failed = fail_webhook(*item, failure, &loaded->integration);
    if (!failed && failed.error().code != CRMSYNC_E_CONFLICT) return failed.error();
  }
  return committed.error();
}

Result<InboxPass> Engine::process_inbox(int limit) {
  const store::Timestamp claimed_at = now();
  auto items = store_.claim_webhooks(options_.owner, limit, options_.retry_policy, claimed_at);
  if (!items) return items.error();
  InboxPass pass{.handled = static_cast<int>(items->size())};
  // The claim is in id order; each integration's items keep it within their group.
  std::map<std::string, std::vector<const store::InboxItem*>> groups;
  for (const store::InboxItem& item : *items) {
    if (item.status == store::ItemStatus::permanently_failed) {
      // Its attempts were used up by mappings that never finished (the claim failed it).
      if (auto loaded = load(item.integration_id)) {
        log(loaded->integration, store::LogType::error, "permanently_failed",
            "Webhook #" + std::to_string(item.id) + " permanently_failed: " + item.last_error, "");
      }
      continue;
    }
    groups[item.integration_id].push_back(&item);
    // Retries wait for their backoff on purpose: only first attempts measure the lag.
    if (item.attempts == 1) pass.lag = std::max(pass.lag, claimed_at - item.received_at);
  }
  // A group that fails leaves the others to run: their leases would otherwise have to expire.
  std::optional<Error> first_failure;
  for (const auto& [integration_id, group] : groups) {
    if (auto done = process_webhooks(integration_id, group); !done && !first_failure) {
      first_failure = done.error();
    }
  }
  if (first_failure) return *first_failure;
  return pass;
}

namespace {

// The stored endpoint's secrets, opened.
Result<std::vector<std::string>> open_secrets(const store::WebhookEndpoint& endpoint,
                                              std::span<const crypto::MasterKey> keys) {
  auto plain = crypto::open(keys, endpoint.secrets);
  if (!plain) return plain.error();
  const nlohmann::json list = parse_json_or_discarded(*plain);
  if (!list.is_array() || list.empty()) {
    return fail(CRMSYNC_E_INTERNAL, "the webhook secrets of integration " +
                                        endpoint.integration_id + " are not a list of strings");
  }
  std::vector<std::string> out;
  for (const auto& secret : list) {
    if (!secret.is_string()) {
      return fail(CRMSYNC_E_INTERNAL, "the webhook secrets of integration " +
                                          endpoint.integration_id + " are not a list of strings");
    }
    out.push_back(secret.get<std::string>());
  }
  return out;
}

}  // namespace

Result<store::WebhookEndpoint> seal_webhook_endpoint(const std::string& integration_id,
                                                     const config::WebhookConfig& config,
                                                     const crypto::MasterKey& key,
                                                     store::Timestamp now) {
  auto mode = webhooks::parse_auth_mode(config.auth);
  if (!mode) return mode.error();
  std::vector<std::string> secrets = config.secrets;
  if (secrets.empty()) secrets.push_back(webhooks::generate_secret(*mode));
  for (const std::string& secret : secrets) {
    if (auto ok = webhooks::check_secret(*mode, secret); !ok) return ok.error();
  }
  auto sealed = crypto::seal(key, dump_json(nlohmann::json(secrets)));
  if (!sealed) return sealed.error();
  store::WebhookEndpoint endpoint;
  endpoint.integration_id = integration_id;
  endpoint.auth = std::string(webhooks::auth_mode_name(*mode));
  endpoint.secrets = std::move(*sealed);
  endpoint.updated_at = now;
  return endpoint;
}

Result<std::string> Engine::webhook_url(const std::string& integration_id,
                                        const std::string& public_url) {
  auto loaded = load(integration_id);
  if (!loaded) return loaded.error();
  auto endpoint = store_.get_webhook_endpoint(integration_id);
  if (!endpoint && endpoint.error().code == CRMSYNC_E_NOT_FOUND) {
    if (options_.master_keys.empty()) {
      return fail(CRMSYNC_E_INVALID_CONFIG,
                  "webhooks need a master key to keep their secret: set secrets.master_key_file "
                  "or secrets.master_key_env");
    }
    auto made = seal_webhook_endpoint(integration_id, config::WebhookConfig{},
                                      options_.master_keys.front(), now());
    if (!made) return made.error();
    if (auto stored = store_.put_webhook_endpoint(*made); !stored) return stored.error();
    endpoint = std::move(made);
  }
  if (!endpoint) return endpoint.error();
  std::string base = public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + "/webhooks/" + loaded->integration.crm_type + "/" + integration_id;
  // Token endpoints carry their secret in the URL; iikoCloud is given it as its authToken.
  if (endpoint->auth != "token" && endpoint->auth != "iiko-auth-token") return url;
  auto secrets = open_secrets(*endpoint, options_.master_keys);
  if (!secrets) return secrets.error();
  url += "?token=";
  for (const unsigned char c : secrets->front()) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      url.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      url += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return url;
}

Result<bool> Engine::reconcile_webhook(const std::string& integration_id,
                                       const std::string& public_url) {
  auto loaded = load(integration_id);
  if (!loaded) return loaded.error();
  const store::Integration& integration = loaded->integration;
  std::string wanted;
  if (integration.active) {
    auto url = webhook_url(integration_id, public_url);
    if (!url) return url.error();
    wanted = std::move(*url);
  }
  auto endpoint = store_.get_webhook_endpoint(integration_id);
  if (!endpoint) {
    // An inactive integration that never had an endpoint has nothing registered.
    if (endpoint.error().code == CRMSYNC_E_NOT_FOUND && wanted.empty()) return false;
    return endpoint.error();
  }
  if (endpoint->registered_url == wanted) return false;
  auto instance = open_instance(integration, loaded->business);
  if (!instance) return instance.error();
  if (auto done = (*instance)->configure_webhook(wanted); !done) {
    log(integration, store::LogType::error, error_type(done.error().code),
        std::string(wanted.empty() ? "Webhook removal" : "Webhook registration") +
            " failed: " + done.error().message,
        "");
    return done.error();
  }
  endpoint->registered_url = wanted;
  endpoint->updated_at = now();
  if (auto stored = store_.put_webhook_endpoint(*endpoint); !stored) return stored.error();
  log(integration, store::LogType::success, "",
      wanted.empty() ? "Webhook removed from the CRM" : "Webhook registered with the CRM", "");
  return true;
}

Result<int> Engine::process_retries(int limit) {
  auto items = store_.claim_retries(options_.owner, limit, options_.retry_policy, now());
  if (!items) return items.error();
  int handled = 0;
  for (const store::RetryItem& item : *items) {
    const nlohmann::json payload = parse_json_or_discarded(item.payload_json);
    const std::string object_id = payload.is_object() ? payload.value("object_id", "") : "";
    auto loaded = load(item.integration_id);
    if (!loaded) return loaded.error();
    const store::Integration& integration = loaded->integration;
    const store::Business& business = loaded->business;
    Result<pipeline::Totals> done = fail(CRMSYNC_E_INVALID_INPUT, "retry item without object_id");
    if (!object_id.empty()) {
      auto instance = open_instance(integration, business);
      done = instance ? ingest_object(integration, business, **instance, object_id)
                      : Result<pipeline::Totals>(instance.error());
    }
    ++handled;
    if (done) {
      if (auto completed =
              store_.complete_item(store::Queue::retry, item.id, options_.owner, now());
          !completed) {
        return completed.error();
      }
      log(integration, store::LogType::success, "",
          "Object " + item.external_id + " synced on retry " + std::to_string(item.attempts + 1),
          item.payload_json);
      continue;
    }
    auto status = store_.fail_item(store::Queue::retry, item.id, options_.owner,
                                   done.error().message, options_.retry_policy, now());
    if (!status) return status.error();
    if (*status != store::ItemStatus::permanently_failed) continue;
    log(integration, store::LogType::error, "permanently_failed",
        "Object " + item.external_id + " permanently_failed after " +
            std::to_string(options_.retry_policy.max_attempts) +
            " retries: " + done.error().message,
        item.payload_json);
    if (options_.on_item_failed) options_.on_item_failed(item, done.error().message);
  }
  return handled;
}

Result<std::pair<std::string, crypto::Sealed>> seal_settings(
    const plugin_host::Connector& connector, const std::string& settings_json,
    const crypto::MasterKey* key) {
  if (auto valid = connector.validate_settings(settings_json); !valid) return valid.error();
  nlohmann::json settings = parse_json_or_discarded(settings_json);
  nlohmann::json secrets = nlohmann::json::object();
  for (const std::string& name : connector.secret_fields()) {
    auto it = settings.find(name);
    if (it == settings.end()) continue;
    secrets[name] = std::move(*it);
    settings.erase(it);
  }
  crypto::Sealed sealed;
  if (!secrets.empty()) {
    if (key == nullptr) {
      return fail(CRMSYNC_E_INVALID_CONFIG,
                  "secret settings need a master key: set secrets.master_key_file or "
                  "secrets.master_key_env (64 hex digits or base64 of 32 bytes)");
    }
    auto done = crypto::seal(*key, dump_json(secrets));
    if (!done) return done.error();
    sealed = std::move(*done);
  }
  return std::make_pair(dump_json(settings), std::move(sealed));
}

namespace {

// Stores the config's webhook endpoint of an integration unless the stored one has the same mode
// and secrets (then its registration is kept as it is). Returns whether it changed.
Result<bool> register_config_webhook(store::Store& store, const std::string& integration_id,
                                     const config::WebhookConfig& config,
                                     std::span<const crypto::MasterKey> keys,
                                     store::Timestamp now) {
  if (keys.empty()) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                "webhook secrets need a master key: set secrets.master_key_file or "
                "secrets.master_key_env");
  }
  auto existing = store.get_webhook_endpoint(integration_id);
  if (!existing && existing.error().code != CRMSYNC_E_NOT_FOUND) return existing.error();
  if (existing && existing->auth == config.auth) {
    auto secrets = open_secrets(*existing, keys);
    // No secrets in the config: keep the generated one.
    if (secrets && (config.secrets.empty() || *secrets == config.secrets)) return false;
  }
  auto endpoint = seal_webhook_endpoint(integration_id, config, keys.front(), now);
  if (!endpoint) return endpoint.error();
  if (existing) endpoint->registered_url = existing->registered_url;
  if (auto stored = store.put_webhook_endpoint(*endpoint); !stored) return stored.error();
  return true;
}

}  // namespace

Result<int> register_config_integrations(store::Store& store, const plugin_host::PluginHost& host,
                                         const config::Config& config,
                                         std::span<const crypto::MasterKey> keys,
                                         store::Timestamp now) {
  int changed = 0;
  for (const config::BusinessConfig& business : config.businesses) {
    for (const config::IntegrationConfig& entry : business.integrations) {
      const std::string where = "businesses." + business.id + ".integrations." + entry.id;
      const plugin_host::Connector* connector = host.find(entry.connector);
      if (connector == nullptr) {
        return fail(CRMSYNC_E_INVALID_CONFIG, where + ": connector `" + entry.connector +
                                                  "` is not loaded (is it in "
                                                  "plugins.enabled?)");
      }
      auto split =
          seal_settings(*connector, entry.settings_json, keys.empty() ? nullptr : &keys[0]);
      if (!split) return fail(split.error().code, where + ": " + split.error().message);
      auto existing = store.get_integration(entry.id);
      if (!existing && existing.error().code != CRMSYNC_E_NOT_FOUND) return existing.error();
      if (existing) {
        if (existing->business_id != business.id) {
          return fail(CRMSYNC_E_INVALID_CONFIG,
                      where + ": the id already belongs to business " + existing->business_id);
        }
        // Unchanged settings keep their sealed blob (a fresh seal differs every time).
        auto stored_secrets = existing->credentials.blob.empty()
                                  ? Result<std::string>(std::string("{}"))
                                  : crypto::open(keys, existing->credentials);
        auto wanted_secrets = split->second.blob.empty() ? Result<std::string>(std::string("{}"))
                                                         : crypto::open(keys, split->second);
        const bool same = existing->crm_type == entry.connector &&
                          parse_json_or_discarded(existing->settings_json) ==
                              parse_json_or_discarded(split->first) &&
                          stored_secrets && wanted_secrets && *stored_secrets == *wanted_secrets;
        if (!same) {
          existing->crm_type = entry.connector;
          existing->settings_json = split->first;
          existing->credentials = split->second;
          if (auto updated = store.update_integration(*existing, now); !updated) {
            return updated.error();
          }
          ++changed;
        }
        if (existing->active != entry.active) {
          if (auto set = store.set_integration_active(entry.id, entry.active, now); !set) {
            return set.error();
          }
          ++changed;
        }
      } else {
        store::Integration integration;
        integration.id = entry.id;
        integration.business_id = business.id;
        integration.crm_type = entry.connector;
        integration.settings_json = split->first;
        integration.credentials = split->second;
        integration.active = entry.active;
        integration.created_at = integration.updated_at = now;
        if (auto created = store.create_integration(integration); !created) {
          return created.error();
        }
        ++changed;
      }
      if (entry.webhook) {
        auto registered = register_config_webhook(store, entry.id, *entry.webhook, keys, now);
        if (!registered)
          return fail(registered.error().code, where + ".webhook: " + registered.error().message);
        if (*registered) ++changed;
      }
    }
  }
  return changed;
}

}  // namespace crmsync::sync
