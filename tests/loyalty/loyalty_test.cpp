// The loyalty dispatcher suite: real HTTP over loopback to a receiver that honours idempotency
// keys (receiver.h), and the real store on SQLite and PostgreSQL. Time is driven by hand through
// the `now` each run_once gets, so backoff is checked without waiting.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "loyalty/loyalty.h"
#include "support/backends.h"
#include "support/loyalty_receiver.h"
#include "support/ports.h"

#include <nlohmann/json.hpp>

#include <thread>

using namespace crmsync;
using namespace crmsync::store;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const Timestamp kT0 = Timestamp(1763389800000ms);  // 2025-11-17T14:30:00Z
const LeasePolicy kPolicy;                         // 5 min lease, 2 min backoff, 3 attempts

// A store with one business and integration, and `count` new sales (each writes an event).
template <class B>
struct Fixture {
  B db;
  std::unique_ptr<Store> store = open_store(db.config()).value();
  std::vector<int64_t> transaction_ids;

  explicit Fixture(int count) {
    REQUIRE(store->add_business(
        Business{"mindal", "Миндаль", "Europe/Moscow", "RU", "RUB", std::nullopt, kT0}));
    Integration i;
    i.id = "mindal-yclients";
    i.business_id = "mindal";
    i.crm_type = "yclients";
    i.created_at = i.updated_at = kT0;
    REQUIRE(store->create_integration(i));
    REQUIRE(store->add_user(User{"u-1", "+79161234567", kT0}));
    Batch batch;
    batch.business_id = "mindal";
    batch.integration_id = "mindal-yclients";
    batch.now = kT0;
    for (int n = 0; n < count; ++n) {
      NormalizedTransaction t;
      t.external_id = "YCLIENTS-" + std::to_string(1000 + n);
      t.occurred_at = kT0 - 1h;
      t.amount_minor = 250000 + n;
      t.phone_e164 = n == 0 ? "+79161234567" : "+7916000000" + std::to_string(n % 10);
      t.description = "Стрижка";
      batch.transactions.push_back(t);
    }
    REQUIRE(store->commit_batch(batch).value().inserted == count);
    for (const auto& t : batch.transactions) {
      transaction_ids.push_back(store->find_transaction("mindal", t.external_id).value()->id);
    }
  }

  std::unique_ptr<loyalty::Dispatcher> dispatcher(const std::string& url,
                                                  const std::string& owner = "host-a",
                                                  Store* on = nullptr) {
    loyalty::DispatcherOptions options;
    options.url = url;
    options.owner = owner;
    options.batch_size = 10;
    options.policy = kPolicy;
    options.connect_timeout = 2s;
    options.request_timeout = 5s;
    return loyalty::Dispatcher::create(on ? *on : *store, options).value();
  }

  int64_t outbox(const std::string& status) {
    return db.scalar("SELECT COUNT(*) FROM outbox WHERE status = '" + status + "'");
  }
};

}  // namespace

TEST_CASE_TEMPLATE("every event is delivered once; 503s are retried only after the backoff", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f(5);
  test::ReceiverBehaviour warming_up;
  warming_up.fail_first = 3;
  test::LoyaltyReceiver receiver(warming_up);
  auto dispatcher = f.dispatcher(receiver.url());

  auto first = dispatcher->run_once(kT0).value();
  CHECK(first.claimed == 5);
  CHECK(first.delivered == 2);
  CHECK(first.retried == 3);
  // The first failure waits backoff × 2 (the store's doubling: 4, 8, ... minutes); not earlier.
  CHECK(dispatcher->run_once(kT0 + kPolicy.backoff).value().claimed == 0);
  CHECK(dispatcher->run_once(kT0 + 2 * kPolicy.backoff - 1ms).value().claimed == 0);
  auto second = dispatcher->run_once(kT0 + 2 * kPolicy.backoff).value();
  CHECK(second.claimed == 3);
  CHECK(second.delivered == 3);
  CHECK(dispatcher->run_once(kT0 + std::chrono::days(1)).value().claimed == 0);
  CHECK(f.outbox("done") == 5);
  CHECK(f.outbox("pending") == 0);

  const auto accepted = receiver.accepted();
  CHECK(accepted.size() == 5);
  for (int64_t id : f.transaction_ids) CHECK(accepted.at(std::to_string(id)) == 1);
  const auto requests = receiver.requests();
  CHECK(requests.size() == 8);
  for (const auto& r : requests) {
    CHECK(r.method == "POST");
    CHECK(r.target == "/api/loyalty/transactions");
    CHECK(r.content_type == "application/json");
  }

  // The envelope of the sale whose phone belongs to a platform user.
  const std::string key = std::to_string(f.transaction_ids[0]);
  const auto matched = std::find_if(requests.begin(), requests.end(), [&](const auto& r) {
    return r.idempotency_key == key && r.status == 200;
  });
  REQUIRE(matched != requests.end());
  const json body = json::parse(matched->body);
  CHECK(body["type"] == "transaction.created");
  CHECK(body["event_id"].is_number_integer());
  CHECK(body["attempt"] == 2);  // it was among the first three, refused with 503
  CHECK(body["transaction"]["id"] == f.transaction_ids[0]);
  CHECK(body["transaction"]["external_id"] == "YCLIENTS-1000");
  CHECK(body["transaction"]["amount_minor"] == 250000);
  CHECK(body["transaction"]["currency"] == "RUB");
  CHECK(body["transaction"]["business_id"] == "mindal");
  CHECK(body["transaction"]["occurred_at"] == "2025-11-17T13:30:00.000Z");
  CHECK_FALSE(body["transaction"].contains("user_id"));
  CHECK(body["user"] == json({{"id", "u-1"}, {"phone_e164", "+79161234567"}}));
  // A sale with no platform user yet.
  const auto unmatched = std::find_if(requests.begin(), requests.end(), [&](const auto& r) {
    return r.idempotency_key == std::to_string(f.transaction_ids[1]) && r.status == 200;
  });
  REQUIRE(unmatched != requests.end());
  CHECK(json::parse(unmatched->body)["user"].is_null());
}

TEST_CASE_TEMPLATE("a lost answer is redelivered and the receiver accepts the key once", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f(2);
  test::ReceiverBehaviour lossy;
  lossy.lose_answers = 2;
  test::LoyaltyReceiver receiver(lossy);
  auto dispatcher = f.dispatcher(receiver.url());
  CHECK(dispatcher->run_once(kT0).value().retried == 2);
  CHECK(dispatcher->run_once(kT0 + 2 * kPolicy.backoff).value().delivered == 2);
  CHECK(receiver.requests().size() == 4);
  for (const auto& [key, times] : receiver.accepted()) CHECK(times == 1);
  CHECK(receiver.accepted().size() == 2);
  CHECK(f.outbox("done") == 2);
}

TEST_CASE_TEMPLATE("a refusing 4xx ends permanently_failed after max attempts, logged", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f(1);
  test::ReceiverBehaviour refusing;
  refusing.always_status = 422;
  refusing.always_body = R"({"error":"unknown business mindal"})";
  test::LoyaltyReceiver receiver(refusing);
  auto dispatcher = f.dispatcher(receiver.url());
  Timestamp t = kT0;
  for (int attempt = 1; attempt <= kPolicy.max_attempts; ++attempt) {
    auto stats = dispatcher->run_once(t).value();
    REQUIRE(stats.claimed == 1);
    CHECK(stats.delivered == 0);
    CHECK(stats.retried == (attempt < kPolicy.max_attempts ? 1 : 0));
    CHECK(stats.permanently_failed == (attempt < kPolicy.max_attempts ? 0 : 1));
    t += kPolicy.backoff * (int64_t{1} << attempt);
  }
  CHECK(f.outbox("permanently_failed") == 1);
  CHECK(dispatcher->run_once(t + std::chrono::days(30)).value().claimed == 0);
  CHECK(receiver.requests().size() == static_cast<size_t>(kPolicy.max_attempts));
  CHECK(receiver.accepted().empty());

  LogQuery query;
  query.integration_id = "mindal-yclients";
  query.type = LogType::error;
  const auto logs = f.store->list_logs(query).value();
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].error_type == "LoyaltyDeliveryFailed");
  CHECK(logs[0].business_id == "mindal");
  CHECK(logs[0].message.find("permanently failed after 3 attempts") != std::string::npos);
  CHECK(logs[0].message.find("refused it: HTTP 422") != std::string::npos);
  CHECK(logs[0].message.find("unknown business mindal") != std::string::npos);
}

TEST_CASE_TEMPLATE("without a URL nothing is claimed and the events wait", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f(3);
  auto idle = f.dispatcher("");
  CHECK_FALSE(idle->enabled());
  CHECK(idle->run_once(kT0).value().claimed == 0);
  CHECK(f.outbox("pending") == 3);
  CHECK(f.db.scalar("SELECT COUNT(*) FROM outbox WHERE lease_owner IS NOT NULL") == 0);

  test::LoyaltyReceiver receiver;
  auto dispatcher = f.dispatcher(receiver.url());
  CHECK(dispatcher->enabled());
  CHECK(dispatcher->run_once(kT0).value().delivered == 3);
}

TEST_CASE_TEMPLATE("refused connections and timeouts are retried with backoff", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f(1);
  auto down = f.dispatcher("http://127.0.0.1:" + std::to_string(test::closed_port()) + "/x");
  auto stats = down->run_once(kT0).value();
  CHECK(stats.retried == 1);
  CHECK(f.outbox("pending") == 1);
  CHECK(f.db.scalar("SELECT attempts FROM outbox") == 1);

  test::ReceiverBehaviour stalling;
  stalling.delay = 1500ms;
  test::LoyaltyReceiver slow(stalling);
  loyalty::DispatcherOptions options;
  options.url = slow.url();
  options.owner = "host-a";
  options.request_timeout = 300ms;
  auto impatient = loyalty::Dispatcher::create(*f.store, options).value();
  stats = impatient->run_once(kT0 + 2 * kPolicy.backoff).value();
  CHECK(stats.claimed == 1);
  CHECK(stats.retried == 1);
  CHECK(f.db.scalar("SELECT attempts FROM outbox") == 2);
  CHECK(f.outbox("pending") == 1);
}

TEST_CASE_TEMPLATE("two hosts dispatching at once never deliver one event twice", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f(30);
  test::ReceiverBehaviour busy;
  busy.delay = 5ms;
  test::LoyaltyReceiver receiver(busy);
  auto second_store = open_store(f.db.config()).value();
  auto a = f.dispatcher(receiver.url(), "host-a");
  auto b = f.dispatcher(receiver.url(), "host-b", second_store.get());
  int64_t delivered_a = 0;
  int64_t delivered_b = 0;
  auto drain = [](loyalty::Dispatcher& d, int64_t& delivered) {
    for (int round = 0; round < 10; ++round) delivered += d.run_once(kT0).value().delivered;
  };
  std::thread ta([&] { drain(*a, delivered_a); });
  std::thread tb([&] { drain(*b, delivered_b); });
  ta.join();
  tb.join();
  CHECK(delivered_a + delivered_b == 30);
  CHECK(receiver.requests().size() == 30);
  CHECK(receiver.accepted().size() == 30);
  CHECK(receiver.max_concurrent_per_key() == 1);
  CHECK(f.outbox("done") == 30);
}

TEST_CASE_TEMPLATE("bad dispatcher options are INVALID_CONFIG", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f(0);
  auto refused = [&](loyalty::DispatcherOptions options) {
    auto d = loyalty::Dispatcher::create(*f.store, std::move(options));
    return !d.ok() && d.error().code == CRMSYNC_E_INVALID_CONFIG;
  };
  loyalty::DispatcherOptions good;
  good.url = "http://127.0.0.1:1/x";
  good.owner = "host-a";
  CHECK_FALSE(refused(good));
  auto ftp = good;
  ftp.url = "ftp://loyalty";
  CHECK(refused(ftp));
  auto no_owner = good;
  no_owner.owner.clear();
  CHECK(refused(no_owner));
  auto no_batch = good;
  no_batch.batch_size = 0;
  CHECK(refused(no_batch));
  auto short_lease = good;
  short_lease.policy.lease = 1min;  // 20 × 13 s of POSTs would outlive it
  CHECK(refused(short_lease));
  auto no_timeout = good;
  no_timeout.request_timeout = 0ms;
  CHECK(refused(no_timeout));
}

TEST_CASE("an event without the store's payload is an INTERNAL error, not a crash") {
  OutboxEvent event;
  event.id = 7;
  event.payload_json = "not json";
  auto body = loyalty::envelope(event);
  REQUIRE_FALSE(body.ok());
  CHECK(body.error().code == CRMSYNC_E_INTERNAL);
  event.payload_json = "[1,2]";
  CHECK_FALSE(loyalty::envelope(event).ok());
}
