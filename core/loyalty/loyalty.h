// The loyalty hand-off (DESIGN §4): the outbox dispatcher delivers each transaction.created event
// the store wrote with its sale to the loyalty module by HTTP POST, retried with backoff.
//
// Wire format: POST <loyalty.url>, Content-Type: application/json, Idempotency-Key: <transaction
// id> (the same on every attempt and from every host, so a receiver that honours the key accrues
// bonuses once), and the body
//   {"event_id": 17, "type": "transaction.created", "attempt": 1,
//    "transaction": {"id": 42, "business_id": "mindal", "integration_id": "mindal-yclients",
//                    "external_id": "YCLIENTS-67890", "occurred_at": "2025-11-17T11:30:00.000Z",
//                    "amount_minor": 250000, "currency": "RUB", "phone_e164": "+79161234567",
//                    "is_medical": false, "description": "...", "items": [...]},
//    "user": {"id": "u-1", "phone_e164": "+79161234567"}}
// "user" is null while no platform user has the sale's phone; "phone_e164" is null when the sale
// has none; medical sales carry no description or items.
//
// Outcomes: 2xx completes the event. Anything else fails the attempt and the store reschedules it
// with the lease policy's exponential backoff until max_attempts, then marks it
// permanently_failed and an error line goes to integration_logs. A 4xx other than 408/429 is the
// receiver refusing the event; it is retried all the same, since a receiver being deployed or
// misconfigured answers 4xx for a while.
#ifndef CRMSYNC_CORE_LOYALTY_LOYALTY_H
#define CRMSYNC_CORE_LOYALTY_LOYALTY_H

#include "base/result.h"
#include "http/client.h"
#include "store/store.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace crmsync::loyalty {

// How the dispatcher works.
struct DispatcherOptions {
  std::string url;      // loyalty.url: absolute http(s) URL; empty: nothing is dispatched
  std::string owner;    // lease owner, unique per host (e.g. "host-a:1234")
  int batch_size = 20;  // events claimed per run_once
  // Lease, backoff (2 min, doubling per failure) and attempts before permanently_failed.
  store::LeasePolicy policy;
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds request_timeout{10'000};  // one POST, connection included
};

// What one run_once did.
struct DispatchStats {
  int64_t claimed = 0;             // events leased
  int64_t delivered = 0;           // 2xx, completed
  int64_t retried = 0;             // failed, rescheduled
  int64_t permanently_failed = 0;  // failed for the last time
  int64_t lost_leases = 0;         // our lease ran out before we could record the outcome
};

// Delivers outbox events to the loyalty module. One dispatcher per host; several hosts may
// dispatch from one database at once (each event is leased to one of them). run_once may be
// called from several threads: claims never overlap and one dispatcher's POSTs run one at a time.
class Dispatcher {
 public:
  // Checks the options: URL scheme, non-empty owner, positive batch size and timeouts, and a
  // lease long enough for a whole batch of POSTs (batch_size × (connect + request timeout)),
  // so that no event's lease can run out while it is in flight and be delivered twice at once.
  // Errors are INVALID_CONFIG. store and log must outlive the dispatcher.
  static Result<std::unique_ptr<Dispatcher>> create(store::Store& store, DispatcherOptions options,
                                                    http::LogSink log = {});
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // False when no URL is configured: run_once then claims nothing and events wait in the table.
  bool enabled() const noexcept { return !options_.url.empty(); }

  // Claims up to batch_size due events at `now` and delivers them one by one. Delivery failures
  // are counted in the stats, not returned; errors are the store's (UNAVAILABLE...).
  Result<DispatchStats> run_once(store::Timestamp now);

 private:
  Dispatcher(store::Store& store, DispatcherOptions options, http::LogSink log,
             std::unique_ptr<http::Client> client);

  store::Store& store_;
  DispatcherOptions options_;
  http::LogSink log_;
  std::unique_ptr<http::Client> client_;  // null when disabled
};

// The request body of an event (the envelope above), from what claim_outbox returned; a payload
// that is not the store's JSON object is INTERNAL.
Result<std::string> envelope(const store::OutboxEvent& event);

}  // namespace crmsync::loyalty

#endif  // CRMSYNC_CORE_LOYALTY_LOYALTY_H
