// crmsim: a CRM simulator for tests and demos. One HTTP/1.1 server serves every simulated
// provider under its own prefix (/yclients/api/v1/...), with generated data, faults and an
// admin API under /_admin/.
#include "server.h"
#include "simulator.h"

#include <date/date.h>

#include <cstdio>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  using namespace crmsync::sim;
  CLI::App app{"crmsim: simulated CRM APIs with faults, for crmsync tests"};
  std::string host = "127.0.0.1";
  uint16_t port = 18080;
  int threads = 4;
  bool realtime = false;
  std::string start = "2025-11-17T12:00:00Z";
  std::vector<std::string> fault_flags;
  DataOptions data;
  app.add_option("--host", host, "address to listen on")->capture_default_str();
  app.add_option("--port", port, "port to listen on; 0 picks a free one")->capture_default_str();
  app.add_option("--threads", threads, "server threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--seed", data.seed, "seed of the generated data")->capture_default_str();
  app.add_option("--companies", data.companies, "companies per provider")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--records", data.records, "initial records per company")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--history-days", data.history_days, "days the initial records span")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  app.add_option("--unpaid-share", data.unpaid_share, "share of records not paid in full")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--deleted-share", data.deleted_share, "share of deleted records")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--no-show-share", data.no_show_share,
                 "share of records whose client did not come")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--new-per-hour", data.new_per_hour, "new records per company per simulated hour")
      ->check(CLI::Range(0.0, 100000.0))
      ->capture_default_str();
  app.add_option("--start", start, "simulated time at start (UTC, YYYY-MM-DDTHH:MM:SSZ)")
      ->capture_default_str();
  app.add_flag("--realtime", realtime, "let the simulated clock follow the wall clock too");
  app.add_option("--fault", fault_flags,
                 "inject a fault: provider/endpoint:kind[,count=N][,probability=P]"
                 "[,retry_after=S][,retry_after_date=1][,delay_ms=MS] ('*' matches any)");
  auto providers = make_providers();
  for (auto& provider : providers) provider->add_flags(app);
  CLI11_PARSE(app, argc, argv);

  const auto start_time = parse_time(start, 0);
  if (!start_time) {
    std::cerr << "crmsim: --start '" << start << "' is not a time like 2025-11-17T12:00:00Z\n";
    return 2;
  }
  data.start = *start_time;
  std::vector<Fault> faults;
  for (const auto& flag : fault_flags) {
    auto fault = fault_from_flag(flag);
    if (!fault) {
      std::cerr << "crmsim: " << fault.error().message << "\n";
      return 2;
    }
    faults.push_back(fault.value());
  }
  Simulator simulator(std::move(providers), data, realtime);
  for (auto& fault : faults) simulator.add_fault(std::move(fault));
  auto server = Server::listen(simulator, host, port);
  if (!server) {
    std::cerr << "crmsim: " << server.error().message << "\n";
    return 1;
  }
  // Tests and scripts read this line to learn the port.
  std::printf("crmsim listening on %s:%u\n", host.c_str(), server.value()->port());
  std::fflush(stdout);
  server.value()->run(threads);
  return 0;
}
