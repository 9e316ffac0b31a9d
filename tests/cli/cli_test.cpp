// Tests of the crmsync tool: the real binary is run with the fixture connectors and its exit
// code, stdout and stderr are checked.
#include <crmsync/connector.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/process.h"

namespace fs = std::filesystem;
using crmsync::test::Run;

namespace {

const fs::path kFixtures = CRMSYNC_FIXTURE_DIR;

std::string so(const std::string& id) {
  return (kFixtures / (id + ".so")).string();
}

// A directory of this process's own, so parallel test runs never share files; removed at exit.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("crmsync_cli_test_" + std::to_string(getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

fs::path scratch() {
  static const ScratchDir dir;
  return dir.path;
}

// Runs build/bin/crmsync with args in this process's scratch directory.
Run run_crmsync(const std::vector<std::string>& args) {
  std::vector<std::string> argv{CRMSYNC_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return ::crmsync::test::run_process(argv, scratch());
}

fs::path write_config(const std::string& name, const std::string& enabled) {
  const fs::path file = scratch() / name;
  std::ofstream(file) << "plugins:\n  dir: " << kFixtures.string() << "\n  enabled: [" << enabled
                      << "]\n";
  return file;
}

}  // namespace

TEST_CASE("plugins --json lists good and bad connectors with their load errors") {
  const fs::path config =
      write_config("crmsync_cli_mixed.yaml", "good, no_entry, wrong_major, minimal, newer_minor");
  const Run run = run_crmsync({"plugins", "--json", "--config", config.string()});
  CHECK(run.exit_code == 1);
  const auto listing = nlohmann::json::parse(run.out);
  REQUIRE(listing.size() == 5);
  CHECK(listing[0] == nlohmann::json{{"id", "good"},
                                     {"name", "Fixture good"},
                                     {"vendor", "crmsync tests"},
                                     {"version", "2.1.0"},
                                     {"abi_minor", 0},
                                     {"capabilities", {"FETCH", "INCREMENTAL", "WEBHOOK"}},
                                     {"path", so("good")},
                                     {"error", nullptr}});
  CHECK(listing[1]["id"] == "no_entry");
  CHECK(listing[1]["error"] ==
        so("no_entry") +
            ": missing symbol crmsync_connector_entry_v1 (not a crmsync connector, "
            "or built for another ABI major)");
  CHECK(listing[2]["error"] == so("wrong_major") + ": built for ABI 2, host supports ABI 1");
  CHECK(listing[3]["error"].is_null());
  CHECK(listing[3]["capabilities"] == nlohmann::json{"FETCH"});
  CHECK(listing[4]["error"] ==
        so("newer_minor") + ": needs minor 99 but host has " + std::to_string(CRMSYNC_ABI_MINOR));
  CHECK(run.err == "crmsync: " + listing[1]["error"].get<std::string>() +
                       "\ncrmsync: " + listing[2]["error"].get<std::string>() +
                       "\ncrmsync: " + listing[4]["error"].get<std::string>() + "\n");
  fs::remove(config);
}

TEST_CASE("plugins prints a table and exits 0 when every connector loads") {
  const fs::path config = write_config("crmsync_cli_good.yaml", "good, minimal");
  const Run run = run_crmsync({"--config", config.string(), "plugins"});
  CHECK(run.exit_code == 0);
  CHECK(run.err.empty());
  CHECK(run.out.find("good") == 0);
  CHECK(run.out.find("Fixture good") != std::string::npos);
  CHECK(run.out.find("FETCH,INCREMENTAL,WEBHOOK") != std::string::npos);
  CHECK(run.out.find(so("minimal")) != std::string::npos);
  fs::remove(config);
}

TEST_CASE("plugins with a missing or bad config fails with the reason on stderr") {
  const Run missing = run_crmsync({"plugins", "--config", "/nonexistent/crmsync.yaml"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.out.empty());
  CHECK(missing.err ==
        "crmsync: /nonexistent/crmsync.yaml: cannot read: No such file or directory\n");

  const fs::path bad = scratch() / "crmsync_cli_bad.yaml";
  std::ofstream(bad) << "plugins: {enabled: [../evil]}\n";
  const Run invalid = run_crmsync({"plugins", "--config", bad.string()});
  CHECK(invalid.exit_code == 1);
  CHECK(invalid.err ==
        "crmsync: " + bad.string() + ": plugins.enabled[0]: \"../evil\" is not a connector id\n");
  fs::remove(bad);
}

TEST_CASE("plugin-check runs the ABI checks on one library") {
  const Run good = run_crmsync({"plugin-check", so("good")});
  CHECK(good.exit_code == 0);
  CHECK(good.out ==
        "ok: ABI checks: good 2.1.0 (Fixture good, crmsync tests), needs ABI 1.0, capabilities: "
        "FETCH INCREMENTAL WEBHOOK\nok: exports only crmsync_connector_entry_v1\n");

  const Run small = run_crmsync({"plugin-check", so("small_struct")});
  CHECK(small.exit_code == 1);
  CHECK(small.out.empty());
  CHECK(small.err == "crmsync: " + so("small_struct") +
                         ": descriptor struct_size 40 is smaller than v1.0 (136)\n");

  const Run webhook = run_crmsync({"plugin-check", so("webhook_without_fn")});
  CHECK(webhook.exit_code == 1);
  CHECK(webhook.err ==
        "crmsync: " + so("webhook_without_fn") + ": capability WEBHOOK without parse_webhook\n");
}

TEST_CASE("plugin-check --config-json validates, opens and closes an instance") {
  const Run opened = run_crmsync(
      {"plugin-check", so("good"), "--config-json", R"({"company_id": 1, "api_token": "x"})"});
  CHECK(opened.exit_code == 0);
  CHECK(opened.out.find("ok: open with the example config\nok: close\n") != std::string::npos);

  const Run invalid =
      run_crmsync({"plugin-check", so("good"), "--config-json", R"({"api_token": "x"})"});
  CHECK(invalid.exit_code == 1);
  CHECK(invalid.err == "crmsync: " + so("good") + ": config: field `company_id` is required\n");

  const Run throwing = run_crmsync({"plugin-check", so("throwing_open"), "--config-json",
                                    R"({"company_id": 1, "api_token": "x"})"});
  CHECK(throwing.exit_code == 1);
  CHECK(throwing.err ==
        "crmsync: " + so("throwing_open") + ": open: INTERNAL: cannot parse settings: boom\n");
}

TEST_CASE("--help works on every command and usage errors exit 2") {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, {"plugins", "--help"}, {"plugin-check", "--help"}}) {
    const Run help = run_crmsync(args);
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("Usage:") != std::string::npos);
  }
  for (const std::vector<std::string>& args : {std::vector<std::string>{},
                                               {"plugin-check"},
                                               {"plugins", "--bogus"},
                                               {"no-such-command"}}) {
    const Run usage = run_crmsync(args);
    CHECK(usage.exit_code == 2);
    CHECK_FALSE(usage.err.empty());
  }
}

TEST_CASE("example: plugin-check accepts the out-of-tree hello connector") {
  const char* path = std::getenv("CRMSYNC_EXAMPLE_CONNECTOR");
  REQUIRE_MESSAGE(path != nullptr, "CRMSYNC_EXAMPLE_CONNECTOR must name the built hello.so");
  const Run run = run_crmsync(
      {"plugin-check", path, "--config-json", R"({"greeting": "Привет", "api_token": "t"})"});
  CHECK(run.exit_code == 0);
  CHECK(run.out ==
        "ok: ABI checks: hello 1.0.0 (Hello, crmsync examples), needs ABI 1.0, capabilities: FETCH "
        "INCREMENTAL\nok: exports only crmsync_connector_entry_v1\nok: open with the example "
        "config\nok: close\n");
}
