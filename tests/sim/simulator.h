// The CRM simulator's core: dispatches requests to providers (by URL prefix) or to the admin API,
// applies faults, advances the simulated clock, and keeps the counters.
#ifndef CRMSYNC_TESTS_SIM_SIMULATOR_H
#define CRMSYNC_TESTS_SIM_SIMULATOR_H

#include "faults.h"
#include "sim.h"

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace crmsync::sim {

// Thread-safe: the server calls handle() from several threads.
class Simulator {
 public:
  // realtime: the simulated clock also follows the wall clock (records appear as time passes).
  Simulator(std::vector<std::unique_ptr<Provider>> providers, DataOptions options, bool realtime);

  // Answers one request (method, target, headers and body filled in; the rest is derived).
  Reply handle(SimRequest request);
  // Counts an accepted TCP connection.
  void on_connection();
  // Adds a fault (from a flag or the admin API).
  void add_fault(Fault fault);

 private:
  struct Counters {
    uint64_t requests = 0;
    std::map<std::string, uint64_t> endpoints;
    std::map<int, uint64_t> statuses;
    std::deque<std::chrono::steady_clock::time_point> last_second;  // for the request rate
    size_t max_per_second = 0;
    struct Entry {
      int64_t t_ms;
      std::string method, target, endpoint;
      int status;
    };
    std::deque<Entry> recent;  // the last kRecent requests
  };
  static constexpr size_t kRecent = 2000;

  Reply admin(const SimRequest& request);
  Reply dispatch(Provider& provider, SimRequest& request, const std::string& endpoint,
                 const Handler& handler);
  void count(const std::string& provider, const SimRequest& request, const std::string& endpoint,
             int status, std::chrono::steady_clock::time_point at);
  SimTime now() const;
  // Lets every provider create what appeared up to now.
  void catch_up();
  void reset();
  Provider* find(const std::string& name);
  Json counters_json() const;

  std::vector<std::unique_ptr<Provider>> providers_;
  std::map<std::string, Routes> routes_;
  DataOptions options_;
  bool realtime_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::seconds advanced_{0};
  SimTime generated_until_{};
  FaultSet faults_;
  Rng fault_rng_;
  uint64_t connections_ = 0;
  uint64_t webhooks_sent_ = 0;
  std::map<std::string, Counters> counters_;
  std::mutex mutex_;
};

}  // namespace crmsync::sim

#endif  // CRMSYNC_TESTS_SIM_SIMULATOR_H
