// The three examples in examples/custom synced end to end: the host's YAML config parsed by the
// real config loader, the custom connector against crmsim's generic CRM, the sync engine and a
// real SQLite store. The stored sales carry CUSTOM- ids, minor units, E.164 phones and UTC times.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "sim_process.h"
#include "support/backends.h"
#include "support/engine_world.h"

using crmsync::sim::testing::SimProcess;
using nlohmann::json;
namespace store = crmsync::store;
namespace config = crmsync::config;

namespace {

// The settings of the example's only integration, with its ${env:…} references resolved.
json example_settings(const std::string& file, const std::map<std::string, std::string>& env) {
  for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
  auto loaded = config::load_file(std::string(CRMSYNC_EXAMPLES_DIR) + "/" + file);
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
  REQUIRE(loaded->businesses.size() == 1);
  REQUIRE(loaded->businesses[0].integrations.size() == 1);
  CHECK(loaded->businesses[0].integrations[0].connector == "custom");
  return json::parse(loaded->businesses[0].integrations[0].settings_json);
}

// Syncs the example into a fresh store and checks every paid order of the simulator was stored
// once, exactly: id, amount, phone and time.
void sync_example(SimProcess& sim, const std::string& file) {
  const json settings =
      example_settings(file, {{"CUSTOM_CRM_URL", sim.url("/generic")},
                              {"CUSTOM_CRM_TOKEN", "generic-token"},
                              {"CUSTOM_CRM_USER", "sync"},
                              {"CUSTOM_CRM_PASSWORD", "generic-password"},
                              {"CUSTOM_CRM_CLIENT_SECRET", "generic-client-secret"},
                              {"CUSTOM_CRM_REFRESH_TOKEN", "generic-refresh-1"}});
  crmsync::test::World<crmsync::test::Sqlite> world;
  REQUIRE(world.host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/custom.so").ok());
  world.add("mindal-custom", "custom", settings);
  auto report = world.engine->sync("mindal-custom", store::RunTrigger::manual);
  REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message));
  CHECK(report->status == store::RunStatus::success);

  const json orders = sim.admin("GET", "state?provider=generic")["orders"];
  int64_t paid = 0;
  for (const json& order : orders) {
    const std::string id = "CUSTOM-" + std::to_string(order["id"].get<int>());
    CAPTURE(id);
    if (order["status"] != "paid") {
      CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id = '" + id + "'") == 0);
      continue;
    }
    ++paid;
    CHECK(world.count("SELECT amount_minor FROM transactions WHERE external_id = '" + id + "'") ==
          order["amount_minor"].get<int64_t>());
    CHECK(world.count("SELECT COUNT(*) FROM transactions WHERE external_id = '" + id +
                      "' AND phone_e164 = '" + order["phone"].get<std::string>() + "'") == 1);
    // The stored time is UTC Unix milliseconds.
    CHECK(world.count("SELECT occurred_at FROM transactions WHERE external_id = '" + id + "'") ==
          order["created_ms"].get<int64_t>());
  }
  CHECK(paid > 0);
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == paid);
  CHECK(report->totals.inserted == paid);
  CHECK(report->totals.skipped == static_cast<int64_t>(orders.size()) - paid);
}

}  // namespace

TEST_CASE("example (a), a JSON API with page paging and a bearer token, syncs end to end") {
  SimProcess sim({"--records", "120"});
  sync_example(sim, "json-bearer-page.yaml");
}

TEST_CASE("example (b), an XML API read with XPath, syncs end to end") {
  SimProcess sim({"--records", "45"});
  sync_example(sim, "xml-basic-xpath.yaml");
}

TEST_CASE("example (c), the spec's mapping as written, syncs end to end") {
  SimProcess sim({"--records", "15"});
  sync_example(sim, "spec-mapping.yaml");
}
