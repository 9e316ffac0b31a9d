// The webhook receiver (DESIGN §7): the handler of POST /webhooks/{crm_type}/{integration_id}.
// It finds the integration's endpoint, authenticates the request, and acknowledges it only once
// it is committed to webhook_inbox and on stable storage. Requests arriving together are
// committed together (group commit: one transaction for many), and one fsync covers every batch
// committed while the previous fsync ran (two stages: a committer and a syncer thread), so
// durability costs an fsync per group of requests, not per request.
// Workers (InboxWorkers) then map the stored webhooks through the engine.
#ifndef CRMSYNC_CORE_WEBHOOKS_RECEIVER_H
#define CRMSYNC_CORE_WEBHOOKS_RECEIVER_H

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "server/server.h"
#include "store/store.h"
#include "sync/engine.h"
#include "webhooks/auth.h"

namespace crmsync::webhooks {

// How the receiver behaves.
struct ReceiverOptions {
  std::function<store::Timestamp()> now;  // the clock; defaults to the system clock
  // How long a looked-up endpoint (or its absence) is trusted before the store is asked again:
  // a disabled integration or a rotated secret takes effect within this.
  std::chrono::milliseconds endpoint_ttl{2000};
  size_t max_batch = 512;  // inbox rows per group commit
  // Called after each commit that stored something (wakes the workers).
  std::function<void()> on_stored;
  // Process log (level as CRMSYNC_LOG_*); never given a secret.
  std::function<void(int32_t level, const std::string& message)> log;
};

// What the receiver did since it started.
struct ReceiverStats {
  uint64_t accepted = 0;      // stored and acknowledged
  uint64_t duplicates = 0;    // acknowledged again without a second row (replayed ids)
  uint64_t unauthorized = 0;  // 401
  uint64_t not_found = 0;     // 404: unknown or disabled integration, wrong type, no endpoint
  uint64_t unavailable = 0;   // 503: the store could not commit or sync to disk
  uint64_t commits = 0;       // group commits
  uint64_t syncs = 0;         // fsyncs, each covering one or more commits
};

// The handler. Thread-safe; the server calls it from its I/O threads.
class Receiver {
 public:
  // store must outlive the receiver; keys open the endpoints' sealed secrets.
  Receiver(store::Store& store, std::vector<crypto::MasterKey> keys, ReceiverOptions options);
  // Commits what is queued, answers it, and stops the committer.
  ~Receiver();
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  // Handles POST /webhooks/{crm_type}/{integration_id}.
  void handle(server::Request&& request, server::Reply reply);

  // What the route's gate answers on the headers, before the body is read: 404 for an unknown,
  // disabled or mistyped integration, 401 for a token or iiko-auth-token request whose secret
  // does not match; nullopt admits the body (body-signed modes are checked once it is in).
  std::optional<server::Response> refuse_on_headers(const server::Request& head);

  // Adds the route to router (gated by refuse_on_headers); the receiver must outlive the server.
  void add_routes(server::Router& router);

  ReceiverStats stats() const;

 private:
  // An integration's endpoint as the receiver needs it.
  struct Endpoint {
    std::string crm_type;
    AuthMode mode = AuthMode::token;
    std::vector<std::string> secrets;
  };
  struct Cached {
    std::optional<Endpoint> endpoint;  // nullopt: answer 404
    std::chrono::steady_clock::time_point expires;
  };
  struct Pending {
    store::InboxItem item;
    server::Reply reply;
  };
  // A committed webhook waiting for the sync before its answer.
  struct Committed {
    server::Reply reply;
    bool inserted = false;  // false: a repeat of a stored webhook id
  };

  std::optional<Endpoint> endpoint(const std::string& integration_id);
  std::optional<Endpoint> load_endpoint(const std::string& integration_id);
  // What authenticate sees of a request (it borrows from request).
  Incoming incoming(const server::Request& request) const;
  // Counts and logs a refusal; the 401 to answer.
  server::Response unauthorized(const server::Request& request, const Verdict& verdict);
  void commit_loop();
  void sync_loop();
  // Answers 503 to a batch that could not be stored.
  void refuse(std::vector<Pending>& batch, const Error& error);
  void log(int32_t level, const std::string& message) const;

  store::Store& store_;
  std::vector<crypto::MasterKey> keys_;
  ReceiverOptions options_;

  std::mutex cache_mutex_;
  std::map<std::string, Cached> cache_;

  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::deque<Pending> queue_;
  bool stopping_ = false;

  std::mutex synced_mutex_;
  std::condition_variable committed_ready_;
  std::vector<Committed> committed_;  // committed, not yet synced
  bool committer_gone_ = false;

  std::atomic<uint64_t> accepted_{0}, duplicates_{0}, unauthorized_{0}, not_found_{0},
      unavailable_{0}, commits_{0}, syncs_{0};
  std::thread committer_;
  std::thread syncer_;
};

// How the inbox workers behave.
struct InboxWorkerOptions {
  int threads = 2;
  // Woken by wake() and at least this often, for items of other hosts and retries come due.
  std::chrono::milliseconds poll{1000};
  // During a burst (a claim comes back full while the receiver stores more) each pass is
  // followed by a pause twice as long, so mapping takes at most a third of a worker's time and
  // acknowledgements keep their pace, until the oldest webhook of a pass has waited this long;
  // then the workers map without pausing. This bounds how late a webhook is mapped under
  // sustained load (the spec allows a minute). Once the burst ends they catch up at full speed.
  std::chrono::milliseconds max_lag{20'000};
  // Failures of the store (level as CRMSYNC_LOG_*, message).
  std::function<void(int32_t, const std::string&)> log;
};

// What the inbox workers did since they started.
struct InboxWorkerStats {
  uint64_t processed = 0;  // webhooks handled
  uint64_t paused = 0;     // passes followed by a pause for the receiver (see max_lag)
  // How far the latest pass trailed the receiver (sync::InboxPass::lag); zero once caught up.
  std::chrono::milliseconds lag{0};
};

// Threads that process the inbox through the engine, at nice 10 so that under load the
// receiver's threads get the cores first: woken by wake() (the receiver's on_stored) and at least
// every poll interval.
class InboxWorkers {
 public:
  // engine must outlive the workers.
  InboxWorkers(sync::Engine& engine, InboxWorkerOptions options);
  // Stops (see stop).
  ~InboxWorkers();
  InboxWorkers(const InboxWorkers&) = delete;
  InboxWorkers& operator=(const InboxWorkers&) = delete;

  // Something was stored: process it now.
  void wake();
  // Lets the current batches finish and joins the threads. Idempotent.
  void stop();
  InboxWorkerStats stats() const;

  // Whether a pass that handled `handled` of `limit` claimed webhooks, the oldest first attempt
  // having waited `lag`, while the receiver stored more (`receiving`) or not, is followed by a
  // pause: a full claim during a burst, within max_lag.
  static bool pauses_after(int handled, int limit, std::chrono::milliseconds lag, bool receiving,
                           std::chrono::milliseconds max_lag);

 private:
  void loop();
  void log(int32_t level, const std::string& message) const;

  sync::Engine& engine_;
  InboxWorkerOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable stop_;  // ends pauses: the receiver's wakes must not
  uint64_t wakes_ = 0;
  bool stopping_ = false;
  std::atomic<uint64_t> processed_{0}, paused_{0};
  std::atomic<int64_t> lag_ms_{0};
  std::vector<std::thread> threads_;
};

}  // namespace crmsync::webhooks

#endif  // CRMSYNC_CORE_WEBHOOKS_RECEIVER_H
