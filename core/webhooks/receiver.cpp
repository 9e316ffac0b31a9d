// The webhook receiver and the inbox workers (see receiver.h).
#include "webhooks/receiver.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <utility>

#include "base/barrier.h"
#include "base/json.h"

namespace crmsync::webhooks {
namespace {

store::Timestamp system_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// The headers kept with a stored webhook: what connectors read. Credentials (signatures,
// tokens, Authorization) are never stored.
constexpr const char* kKeptHeaders[] = {"content-type", "user-agent", "webhook-id",
                                        "webhook-timestamp"};

server::Response status_json(int status, const char* body) {
  return server::Response::json(status, body);
}

server::Response try_again_later() {
  server::Response response = status_json(503, R"({"error":"try again later"})");
  response.headers.emplace_back("Retry-After", "5");
  return response;
}

}  // namespace

Receiver::Receiver(store::Store& store, std::vector<crypto::MasterKey> keys,
                   ReceiverOptions options)
    : store_(store), keys_(std::move(keys)), options_(std::move(options)) {
  if (!options_.now) options_.now = system_now;
  if (options_.max_batch == 0) options_.max_batch = 1;
  committer_ = std::thread([this] { commit_loop(); });
  syncer_ = std::thread([this] { sync_loop(); });
}

Receiver::~Receiver() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_ready_.notify_all();
  committer_.join();  // commits what is queued
  {
    std::lock_guard lock(synced_mutex_);
    committer_gone_ = true;
  }
  committed_ready_.notify_all();
  syncer_.join();  // syncs and answers it
}

void Receiver::add_routes(server::Router& router) {
  router.add_gated("POST", "/webhooks/{crm_type}/{integration_id}",
                   [this](const server::Request& head, server::Decide decide) {
                     if (auto refusal = refuse_on_headers(head)) return decide(std::move(*refusal));
                     decide(server::Handler([this](server::Request&& request, server::Reply reply) {
                       handle(std::move(request), std::move(reply));
                     }));
                   });
}

std::optional<server::Response> Receiver::refuse_on_headers(const server::Request& head) {
  const std::string& integration_id = head.params.at("integration_id");
  const std::optional<Endpoint> found = endpoint(integration_id);
  if (!found || found->crm_type != head.params.at("crm_type")) {
    ++not_found_;
    return status_json(404, R"({"error":"not found"})");
  }
  // Modes that sign the body can only be checked once it is in; the others are decided here.
  if (found->mode != AuthMode::token && found->mode != AuthMode::iiko_auth_token) {
    return std::nullopt;
  }
  const Verdict verdict = authenticate(found->mode, found->secrets, incoming(head));
  if (verdict.ok) return std::nullopt;
  return unauthorized(head, verdict);
}

Incoming Receiver::incoming(const server::Request& request) const {
  Incoming in;
  in.body = request.body;
  in.header = [&request](std::string_view name) { return request.header(name); };
  if (auto token = request.query.find("token"); token != request.query.end()) {
    in.query_token = token->second;
  }
  in.now = std::chrono::time_point_cast<std::chrono::seconds>(options_.now());
  return in;
}

server::Response Receiver::unauthorized(const server::Request& request, const Verdict& verdict) {
  ++unauthorized_;
  log(CRMSYNC_LOG_WARNING, "webhooks: refused a request for integration " +
                               request.params.at("integration_id") + " from " +
                               request.remote_address + ": " + verdict.reason);
  return status_json(401, R"({"error":"unauthorized"})");
}

void Receiver::log(int32_t level, const std::string& message) const {
  if (options_.log) options_.log(level, message);
}

std::optional<Receiver::Endpoint> Receiver::load_endpoint(const std::string& integration_id) {
  auto integration = store_.get_integration(integration_id);
  if (!integration) {
    if (integration.error().code != CRMSYNC_E_NOT_FOUND) {
      log(CRMSYNC_LOG_ERROR, "webhooks: " + integration.error().message);
    }
    return std::nullopt;
  }
  if (!integration->active) return std::nullopt;
  auto stored = store_.get_webhook_endpoint(integration_id);
  if (!stored) {
    if (stored.error().code != CRMSYNC_E_NOT_FOUND) {
      log(CRMSYNC_LOG_ERROR, "webhooks: " + stored.error().message);
    }
    return std::nullopt;
  }
  auto mode = parse_auth_mode(stored->auth);
  auto plain = crypto::open(keys_, stored->secrets);
  const nlohmann::json secrets = plain ? parse_json_or_discarded(*plain) : nlohmann::json();
  if (!mode || !secrets.is_array()) {
    log(CRMSYNC_LOG_ERROR, "webhooks: the endpoint of integration " + integration_id +
                               " cannot be used: " +
                               (!mode   ? mode.error().message
                                : plain ? std::string("its secrets are not a list")
                                        : plain.error().message));
    return std::nullopt;
  }
  Endpoint endpoint{.crm_type = integration->crm_type, .mode = *mode, .secrets = {}};
  for (const auto& secret : secrets) {
    if (secret.is_string()) endpoint.secrets.push_back(secret.get<std::string>());
  }
  return endpoint;
}

std::optional<Receiver::Endpoint> Receiver::endpoint(const std::string& integration_id) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(cache_mutex_);
    auto it = cache_.find(integration_id);
    if (it != cache_.end() && it->second.expires > now) return it->second.endpoint;
  }
  // Looked up outside the lock: two requests may both load it, which is harmless.
  std::optional<Endpoint> loaded = load_endpoint(integration_id);
  std::lock_guard lock(cache_mutex_);
  // Unknown ids from the Internet must not grow the cache without bound.
  if (cache_.size() > 100'000) cache_.clear();
  cache_[integration_id] = Cached{loaded, now + options_.endpoint_ttl};
  return loaded;
}

void Receiver::handle(server::Request&& request, server::Reply reply) {
  const std::string& integration_id = request.params["integration_id"];
  const std::optional<Endpoint> found = endpoint(integration_id);
  // Unknown type, unknown or disabled integration: the same answer, so a caller learns nothing.
  if (!found || found->crm_type != request.params["crm_type"]) {
    ++not_found_;
    return reply(status_json(404, R"({"error":"not found"})"));
  }
  const Verdict verdict = authenticate(found->mode, found->secrets, incoming(request));
  if (!verdict.ok) return reply(unauthorized(request, verdict));
  Pending pending;
  pending.item.integration_id = integration_id;
  pending.item.received_at = options_.now();
  nlohmann::json headers = nlohmann::json::object();
  for (const char* name : kKeptHeaders) {
    if (auto value = request.header(name)) headers[name] = std::string(*value);
  }
  pending.item.headers_json = dump_json(headers);
  pending.item.body = std::move(request.body);
  pending.item.dedup_key = verdict.dedup_key;
  pending.reply = std::move(reply);
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(std::move(pending));
  }
  queue_ready_.notify_one();
}

void Receiver::commit_loop() {
  pthread_setname_np(pthread_self(), "crmsync-commit");
  std::vector<Pending> batch;
  std::vector<store::InboxItem> items;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lock(queue_mutex_);
      queue_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything was answered
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    items.clear();
    for (Pending& pending : batch) items.push_back(std::move(pending.item));
    // Committed without waiting for the disk: the sync stage waits for it while this thread
    // commits the next batch.
    auto stored = catch_internal(
        "storing webhooks", [&] { return store_.enqueue_webhooks(items, store::Sync::later); });
    ++commits_;
    if (!stored) {
      refuse(batch, stored.error());
      continue;
    }
    {
      std::lock_guard lock(synced_mutex_);
      for (size_t i = 0; i < batch.size(); ++i) {
        committed_.push_back(Committed{std::move(batch[i].reply), (*stored)[i].has_value()});
      }
    }
    committed_ready_.notify_one();
  }
}

void Receiver::sync_loop() {
  pthread_setname_np(pthread_self(), "crmsync-sync");
  std::vector<Committed> synced;
  for (;;) {
    {
      std::unique_lock lock(synced_mutex_);
      committed_ready_.wait(lock, [this] { return committer_gone_ || !committed_.empty(); });
      if (committed_.empty()) return;  // the committer is gone and everything was answered
      synced.swap(committed_);
    }
    // One sync for every batch committed meanwhile: the group commit's fsync.
    auto durable = catch_internal("syncing webhooks", [&] { return store_.sync_commits(); });
    ++syncs_;
    if (!durable) {
      // Committed, but maybe not on disk: the sender is asked to send again, and a repeat is
      // stored once if it has an id, or mapped to the same sale otherwise.
      unavailable_ += synced.size();
      log(CRMSYNC_LOG_ERROR, "webhooks: could not sync " + std::to_string(synced.size()) +
                                 " stored webhooks to disk: " + durable.error().message);
      for (Committed& item : synced) item.reply(try_again_later());
    } else {
      if (options_.on_stored) options_.on_stored();
      for (Committed& item : synced) {
        if (item.inserted) {
          ++accepted_;
          item.reply(status_json(200, R"({"status":"accepted"})"));
        } else {
          ++duplicates_;
          item.reply(status_json(200, R"({"status":"duplicate"})"));
        }
      }
    }
    synced.clear();
  }
}

void Receiver::refuse(std::vector<Pending>& batch, const Error& error) {
  unavailable_ += batch.size();
  log(CRMSYNC_LOG_ERROR,
      "webhooks: could not store " + std::to_string(batch.size()) + " webhooks: " + error.message);
  for (Pending& pending : batch) pending.reply(try_again_later());
}

ReceiverStats Receiver::stats() const {
  return ReceiverStats{.accepted = accepted_,
                       .duplicates = duplicates_,
                       .unauthorized = unauthorized_,
                       .not_found = not_found_,
                       .unavailable = unavailable_,
                       .commits = commits_,
                       .syncs = syncs_};
}

namespace {

// Claims per pass: a group's write transaction stays short enough not to hold up the receiver's
// commits for long (see BENCHMARKS.md).
constexpr int kClaim = 32;

// How long a pass in a burst is followed by a pause, in multiples of the pass's own time.
constexpr int kPauseRatio = 2;

}  // namespace

InboxWorkers::InboxWorkers(sync::Engine& engine, InboxWorkerOptions options)
    : engine_(engine), options_(std::move(options)) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] { loop(); });
  }
}

InboxWorkers::~InboxWorkers() {
  stop();
}

void InboxWorkers::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wakes_;
  }
  wake_.notify_all();
}

void InboxWorkers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  stop_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

InboxWorkerStats InboxWorkers::stats() const {
  return InboxWorkerStats{
      .processed = processed_, .paused = paused_, .lag = std::chrono::milliseconds(lag_ms_)};
}

bool InboxWorkers::pauses_after(int handled, int limit, std::chrono::milliseconds lag,
                                bool receiving, std::chrono::milliseconds max_lag) {
  return handled >= limit && receiving && lag < max_lag;
}

void InboxWorkers::log(int32_t level, const std::string& message) const {
  if (options_.log) options_.log(level, message);
}

void InboxWorkers::loop() {
  // Acknowledging is what providers wait for; mapping can lag a burst and catch up. On Linux a
  // thread has its own nice value.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
  pthread_setname_np(pthread_self(), "crmsync-inbox");
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, options_.poll, [&] { return stopping_ || wakes_ != seen; });
      if (stopping_) return;
      seen = wakes_;
    }
    // Drain what is due; each claim leases its items, so workers never share one.
    for (;;) {
      const auto began = std::chrono::steady_clock::now();
      // The worker's barrier: a pass that throws is logged like any failed pass, and what it
      // claimed is claimed again when its lease ends.
      auto pass = catch_internal("inbox pass", [&] { return engine_.process_inbox(kClaim); });
      if (!pass) {
        log(CRMSYNC_LOG_ERROR, "webhooks: inbox: " + pass.error().message);
        break;
      }
      lag_ms_ = pass->lag.count();
      if (pass->handled == 0) break;
      processed_ += static_cast<uint64_t>(pass->handled);
      std::unique_lock lock(mutex_);
      // Nice 10 alone is not enough during a burst: the receiver's threads keep waiting for the
      // disk and each other, and a worker busy on every core they leave for a moment delays
      // their next step (measured: a quarter fewer acknowledgements per second, a higher p99).
      // The receiver is still storing if it woke the workers during the last pause or this
      // pass. A pause waits on a condition of its own: the receiver wakes the workers after
      // every commit, and waking a paused worker only to sleep again costs two context switches.
      const bool receiving = wakes_ != seen;
      seen = wakes_;
      if (pauses_after(pass->handled, kClaim, pass->lag, receiving, options_.max_lag)) {
        ++paused_;
        stop_.wait_for(lock, (std::chrono::steady_clock::now() - began) * kPauseRatio,
                       [&] { return stopping_; });
      }
      if (stopping_) return;
    }
  }
}

}  // namespace crmsync::webhooks
