// Test helper: runs the real crmsim binary on a free port and talks to its admin API.
#ifndef CRMSYNC_TESTS_SIM_SIM_PROCESS_H
#define CRMSYNC_TESTS_SIM_SIM_PROCESS_H

#include "http/client.h"

#include <nlohmann/json.hpp>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace crmsync::sim::testing {

// A crmsim child process; stopped (SIGTERM) when destroyed.
class SimProcess {
 public:
  // Starts CRMSIM_PATH --port 0 plus args and waits for its "listening" line.
  explicit SimProcess(std::vector<std::string> args = {}) {
    args.insert(args.begin(), {CRMSIM_PATH, "--port", "0"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const int rc = posix_spawn(&pid_, CRMSIM_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) throw std::runtime_error("cannot start " + std::string(CRMSIM_PATH));
    stdout_ = out[0];
    std::string line;
    while (line.find('\n') == std::string::npos) {
      pollfd p{stdout_, POLLIN, 0};
      if (poll(&p, 1, 20'000) <= 0) throw std::runtime_error("crmsim did not start: " + line);
      char buf[256];
      const ssize_t n = read(stdout_, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("crmsim exited before listening: " + line);
      line.append(buf, static_cast<size_t>(n));
    }
    const std::string prefix = "crmsim listening on 127.0.0.1:";
    if (!line.starts_with(prefix)) throw std::runtime_error("unexpected crmsim output: " + line);
    port_ = static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
    http::ClientOptions options;
    options.integration = "crmsim-admin";
    admin_ = std::move(http::Client::create(options).value());
  }

  ~SimProcess() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    close(stdout_);
  }
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT" + path.
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Calls the admin API and returns its JSON answer (throws unless 200).
  nlohmann::json admin(const std::string& method, const std::string& path,
                       const nlohmann::json& body = nullptr) {
    http::Request request;
    request.method = method;
    request.url = url("/_admin/" + path);
    if (!body.is_null()) {
      request.body = body.dump();
      request.headers.push_back({"Content-Type", "application/json"});
    }
    auto response = admin_->send(request);
    if (!response || response->status != 200) {
      throw std::runtime_error(
          "admin " + path + " failed: " + (response ? response->body : response.error().message));
    }
    return nlohmann::json::parse(response->body);
  }

 private:
  pid_t pid_ = 0;
  int stdout_ = -1;
  uint16_t port_ = 0;
  std::unique_ptr<http::Client> admin_;
};

}  // namespace crmsync::sim::testing

#endif  // CRMSYNC_TESTS_SIM_SIM_PROCESS_H
