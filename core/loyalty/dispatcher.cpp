// The outbox dispatcher: claim due events, POST each once, record the outcome in the store.
#include "loyalty/loyalty.h"

#include <nlohmann/json.hpp>

#include "base/json.h"

namespace crmsync::loyalty {

namespace {

using Json = nlohmann::json;

// The start of a response body for error messages: one line, at most 200 bytes.
std::string excerpt(const std::string& body) {
  constexpr size_t kMax = 200;
  size_t end = std::min(body.size(), kMax);
  // Never cut a UTF-8 character in half.
  while (end < body.size() && end > 0 && (static_cast<unsigned char>(body[end]) & 0xC0) == 0x80) {
    --end;
  }
  std::string out = body.substr(0, end);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\t') c = ' ';
  }
  return end < body.size() ? out + "..." : out;
}

// A 4xx that is not "try later": the receiver refuses this event as it is.
bool refused(int32_t status) {
  return status >= 400 && status <= 499 && status != 408 && status != 429;
}

}  // namespace

Result<std::string> envelope(const store::OutboxEvent& event) {
  Json transaction = parse_json_or_discarded(event.payload_json);
  if (!transaction.is_object() || !transaction.contains("transaction_id")) {
    return fail(CRMSYNC_E_INTERNAL,
                "outbox event " + std::to_string(event.id) + " has no transaction payload");
  }
  Json user = nullptr;
  if (auto id = transaction.find("user_id"); id != transaction.end() && !id->is_null()) {
    user = {{"id", *id}, {"phone_e164", transaction.value("phone_e164", Json())}};
  }
  transaction["id"] = transaction["transaction_id"];
  transaction.erase("transaction_id");
  transaction.erase("user_id");
  const Json body = {{"event_id", event.id},
                     {"type", event.event_type},
                     {"attempt", event.attempts + 1},
                     {"transaction", std::move(transaction)},
                     {"user", std::move(user)}};
  return dump_json(body);
}

Result<std::unique_ptr<Dispatcher>> Dispatcher::create(store::Store& store,
                                                       DispatcherOptions options,
                                                       http::LogSink log) {
  auto invalid = [](const std::string& what) { return fail(CRMSYNC_E_INVALID_CONFIG, what); };
  if (options.url.empty()) {
    return std::unique_ptr<Dispatcher>(new Dispatcher(store, std::move(options), log, nullptr));
  }
  if (!options.url.starts_with("http://") && !options.url.starts_with("https://")) {
    return invalid("loyalty.url '" + options.url + "' is not an http(s) URL");
  }
  if (options.owner.empty()) return invalid("the loyalty dispatcher needs a lease owner");
  if (options.batch_size <= 0) return invalid("the loyalty batch size must be positive");
  if (options.connect_timeout.count() <= 0 || options.request_timeout.count() <= 0) {
    return invalid("loyalty timeouts must be positive");
  }
  if (options.policy.max_attempts <= 0 || options.policy.backoff.count() <= 0) {
    return invalid("the loyalty retry policy needs attempts and a backoff");
  }
  const auto worst_batch = options.batch_size * (options.connect_timeout + options.request_timeout);
  if (options.policy.lease <= worst_batch) {
    return invalid("the loyalty lease (" + std::to_string(options.policy.lease.count()) +
                   " ms) must outlast a whole batch of POSTs (" +
                   std::to_string(worst_batch.count()) +
                   " ms), or an event could be delivered twice at once");
  }
  http::ClientOptions client_options;
  client_options.integration = "loyalty";
  client_options.connect_timeout = options.connect_timeout;
  client_options.request_timeout = options.request_timeout;
  client_options.retry.max_attempts = 1;  // the outbox retries, with its durable backoff
  auto client = http::Client::create(std::move(client_options), log);
  if (!client) return client.error();
  return std::unique_ptr<Dispatcher>(
      new Dispatcher(store, std::move(options), std::move(log), std::move(*client)));
}

Dispatcher::Dispatcher(store::Store& store, DispatcherOptions options, http::LogSink log,
                       std::unique_ptr<http::Client> client)
    : store_(store),
      options_(std::move(options)),
      log_(std::move(log)),
      client_(std::move(client)) {}

Dispatcher::~Dispatcher() = default;

Result<DispatchStats> Dispatcher::run_once(store::Timestamp now) {
  DispatchStats stats;
  if (!enabled()) return stats;
  auto events = store_.claim_outbox(options_.owner, options_.batch_size, options_.policy, now);
  if (!events) return events.error();
  stats.claimed = static_cast<int64_t>(events->size());
  auto log = [&](int32_t level, const std::string& line) {
    if (log_) log_(level, line);
  };

  for (const store::OutboxEvent& event : *events) {
    const std::string what = "loyalty event " + std::to_string(event.id) + " (transaction " +
                             std::to_string(event.transaction_id) + ")";
    std::string error;
    if (auto body = envelope(event); !body) {
      error = body.error().message;
    } else {
      http::Request request;
      request.method = "POST";
      request.url = options_.url;
      request.headers = {{"Content-Type", "application/json"},
                         {"Idempotency-Key", std::to_string(event.transaction_id)}};
      request.body = std::move(*body);
      auto response = client_->send(request);
      if (!response) {
        error = response.error().message;
      } else if (response->status >= 200 && response->status <= 299) {
        auto completed = store_.complete_item(store::Queue::outbox, event.id, options_.owner, now);
        if (completed) {
          ++stats.delivered;
          continue;
        }
        if (completed.error().code != CRMSYNC_E_CONFLICT) return completed.error();
        ++stats.lost_leases;
        log(CRMSYNC_LOG_WARNING,
            what + " delivered, but its lease had run out: " + completed.error().message);
        continue;
      } else {
        error = std::string(refused(response->status) ? "the loyalty module refused it: " : "") +
                "HTTP " + std::to_string(response->status) + " " + excerpt(response->body);
      }
    }

    auto failed = store_.fail_item(store::Queue::outbox, event.id, options_.owner, error,
                                   options_.policy, now);
    if (!failed) {
      if (failed.error().code != CRMSYNC_E_CONFLICT) return failed.error();
      ++stats.lost_leases;
      log(CRMSYNC_LOG_WARNING, what + " failed (" + error + ") after its lease had run out");
      continue;
    }
    if (*failed == store::ItemStatus::pending) {
      ++stats.retried;
      log(CRMSYNC_LOG_WARNING, what + " not delivered, will retry: " + error);
      continue;
    }
    ++stats.permanently_failed;
    const std::string message = what + " permanently failed after " +
                                std::to_string(event.attempts + 1) + " attempts: " + error;
    log(CRMSYNC_LOG_ERROR, message);
    const Json payload = parse_json_or_discarded(event.payload_json);
    if (payload.is_object() && payload.value("business_id", Json()).is_string()) {
      store::LogEntry entry;
      entry.business_id = payload["business_id"].get<std::string>();
      entry.integration_id = payload.value("integration_id", std::string());
      entry.type = store::LogType::error;
      entry.error_type = "LoyaltyDeliveryFailed";
      entry.message = message;
      entry.created_at = now;
      if (auto logged = store_.append_logs({&entry, 1}); !logged) return logged.error();
    }
  }
  return stats;
}

}  // namespace crmsync::loyalty
