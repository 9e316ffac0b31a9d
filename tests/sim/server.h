// The CRM simulator's HTTP/1.1 server (Boost.Beast): keep-alive, a few threads, and the reply
// actions faults need (delays, silent hangs, connection resets).
#ifndef CRMSYNC_TESTS_SIM_SERVER_H
#define CRMSYNC_TESTS_SIM_SERVER_H

#include "simulator.h"

#include <cstdint>
#include <memory>
#include <string>

namespace crmsync::sim {

namespace internal {
class ServerImpl;
}

// Serves a Simulator on one TCP port.
class Server {
 public:
  // Binds and listens (port 0: any free port); errors are values (address in use...).
  static Result<std::unique_ptr<Server>> listen(Simulator& simulator, const std::string& host,
                                                uint16_t port);
  ~Server();
  // The bound port.
  uint16_t port() const;
  // Serves on `threads` threads until SIGINT or SIGTERM.
  void run(int threads);

 private:
  explicit Server(std::unique_ptr<internal::ServerImpl> impl);
  std::unique_ptr<internal::ServerImpl> impl_;
};

}  // namespace crmsync::sim

#endif  // CRMSYNC_TESTS_SIM_SERVER_H
