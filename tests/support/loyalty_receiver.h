// A loyalty module stand-in for tests: a real HTTP/1.1 server (Boost.Beast) on loopback that
// accepts POSTed events, honours Idempotency-Key (a key already accepted is answered 200 and not
// accepted again), and can be told to fail, refuse or stall.
#ifndef CRMSYNC_TESTS_SUPPORT_LOYALTY_RECEIVER_H
#define CRMSYNC_TESTS_SUPPORT_LOYALTY_RECEIVER_H

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace crmsync::test {

// One request as the receiver saw it.
struct ReceivedRequest {
  std::string method;
  std::string target;
  std::string content_type;
  std::string idempotency_key;
  std::string body;
  int status = 0;  // what the receiver answered
};

// How the receiver answers.
struct ReceiverBehaviour {
  int fail_first = 0;  // the first N requests get 503 before anything is looked at
  // The first N requests are accepted (the key recorded) but answered 503, as when the answer
  // is lost on the way back.
  int lose_answers = 0;
  int always_status = 0;               // non-zero: every request gets this status and body
  std::string always_body;             // body of always_status
  std::chrono::milliseconds delay{0};  // every request is answered this late
};

// Serves from construction to destruction on 127.0.0.1 (a free port), one thread per connection.
class LoyaltyReceiver {
 public:
  explicit LoyaltyReceiver(ReceiverBehaviour behaviour = {});
  ~LoyaltyReceiver();
  LoyaltyReceiver(const LoyaltyReceiver&) = delete;
  LoyaltyReceiver& operator=(const LoyaltyReceiver&) = delete;

  // "http://127.0.0.1:<port>/api/loyalty/transactions".
  std::string url() const;

  // Every request so far, in arrival order.
  std::vector<ReceivedRequest> requests() const;
  // How many times each key was accepted (a receiver that honours keys accepts each once).
  std::map<std::string, int> accepted() const;
  // The most requests with one key that were ever in flight at the same time.
  int max_concurrent_per_key() const;

 private:
  struct State;
  void accept_loop();
  void serve(int fd);

  ReceiverBehaviour behaviour_;
  std::unique_ptr<State> state_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
};

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_SUPPORT_LOYALTY_RECEIVER_H
