// The example configurations and the sample CSV of examples/, so they cannot rot: each YAML file
// is read by the real config reader and each integration's settings are checked against its
// connector's schema; a copy of examples/crmsync.yaml in another folder runs with the build's
// connectors; examples/sales.csv imports with the counts the README gives.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "plugin_host/plugin_host.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using crmsync::test::Run;
using crmsync::test::run_process;
using crmsync::test::slurp;
using crmsync::test::TempDir;

namespace {

const fs::path kExamples = CRMSYNC_EXAMPLES_DIR;

// Every example configuration: examples/*.yaml and examples/custom/*.yaml.
std::vector<fs::path> example_configs() {
  std::vector<fs::path> files;
  for (const fs::path& dir : {kExamples, kExamples / "custom"}) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".yaml") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Sets every variable the file references as ${env:NAME} to a value any schema field takes (a
// URL serves as a token or a login as well); returns their names.
std::set<std::string> set_referenced_env(const fs::path& file) {
  const std::string text = slurp(file);
  static const std::regex reference(R"(\$\{env:([A-Za-z_][A-Za-z0-9_]*)\})");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), reference);
       it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1]);
  }
  for (const std::string& name : names) {
    // The master key variable must hold a key: 64 hex digits.
    const std::string value =
        name == "CRMSYNC_MASTER_KEY" ? std::string(64, 'a') : "https://crm.example.com";
    setenv(name.c_str(), value.c_str(), 1);
  }
  return names;
}

}  // namespace

TEST_CASE("every example config loads, with settings its connectors accept") {
  const auto files = example_configs();
  REQUIRE(files.size() >= 4);  // crmsync.yaml and the three custom connector examples
  for (const fs::path& file : files) {
    CAPTURE(file.string());
    set_referenced_env(file);
    auto loaded = crmsync::config::load_file(file);
    REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
    const crmsync::config::Config& config = *loaded;
    // Nothing of the example points into the checkout: connectors are the installed ones and
    // the database is the default, in the working directory.
    CHECK(config.plugins.dir.empty());
    CHECK(config.storage.path == "crmsync.db");
    CHECK(config.secrets.master_key_file.empty());
    REQUIRE_FALSE(config.businesses.empty());

    crmsync::plugin_host::PluginHost host;
    for (const std::string& id : config.plugins.enabled) {
      auto loaded_connector = host.load(fs::path(CRMSYNC_PLUGIN_DIR) / (id + ".so"));
      REQUIRE_MESSAGE(loaded_connector.ok(), loaded_connector.error);
    }
    for (const auto& business : config.businesses) {
      for (const auto& integration : business.integrations) {
        CAPTURE(integration.id);
        const auto* connector = host.find(integration.connector);
        REQUIRE_MESSAGE(connector != nullptr, "connector not enabled: " << integration.connector);
        const auto valid = connector->validate_settings(integration.settings_json);
        CHECK_MESSAGE(valid.ok(), (valid.ok() ? "" : valid.error().message));
      }
    }
  }
}

TEST_CASE("examples/crmsync.yaml copied to another folder runs with the installed connectors") {
  TempDir dir;
  fs::copy_file(kExamples / "crmsync.yaml", dir / "crmsync.yaml");
  set_referenced_env(dir / "crmsync.yaml");
  const Run listed = run_process(
      {CRMSYNC_BINARY, "--config", (dir / "crmsync.yaml").string(), "plugins", "--json"},
      dir.path());
  REQUIRE_MESSAGE(listed.exit_code == 0, listed.err);
  std::set<std::string> ids;
  for (const auto& connector : nlohmann::json::parse(listed.out)) {
    CHECK(connector["error"].is_null());
    ids.insert(connector["id"].get<std::string>());
  }
  CHECK(ids == std::set<std::string>{"amocrm", "csv", "iiko", "yclients"});

  const Run migrated = run_process(
      {CRMSYNC_BINARY, "--config", (dir / "crmsync.yaml").string(), "migrate"}, dir.path());
  REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
  CHECK(fs::exists(dir / "crmsync.db"));  // in the working directory, not in examples/
  CHECK_FALSE(fs::exists(kExamples / "crmsync.db"));
}

TEST_CASE("examples/sales.csv imports with the README's counts, twice") {
  TempDir dir;
  const std::string csv = (kExamples / "sales.csv").string();
  const std::string report = (dir / "errors.txt").string();
  const Run added =
      run_process({CRMSYNC_BINARY, "business", "add", "mindal", "--name", "Миндаль"}, dir.path());
  REQUIRE_MESSAGE(added.exit_code == 0, added.err);
  const Run first = run_process(
      {CRMSYNC_BINARY, "import-csv", csv, "--business", "mindal", "--errors-file", report},
      dir.path());
  CHECK(first.exit_code == 0);
  CHECK(first.out.find("Imported 15 transactions, 4 errors, 1 duplicates skipped") !=
        std::string::npos);
  CHECK(slurp(report).find("Row 15: Invalid phone format") != std::string::npos);
  const Run again = run_process(
      {CRMSYNC_BINARY, "import-csv", csv, "--business", "mindal", "--errors-file", report},
      dir.path());
  CHECK(again.out.find("Imported 0 transactions, 4 errors, 16 duplicates skipped") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(kExamples / "sales.csv.errors.txt"));
}
