// Tests of the YAML configuration: a complete file, defaults, env references and every kind of
// bad input (each must be an INVALID_CONFIG error naming the key path).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "config/config.h"

using crmsync::config::Config;
using crmsync::config::parse;

namespace {

const char* const kFull = R"(
storage:
  backend: postgres
  url: "host=/tmp dbname=crmsync"
plugins:
  dir: /opt/crmsync/plugins
  enabled: [yclients, onec]
server:
  listen: 0.0.0.0
  port: 9090
  public_url: https://api.svoykrug.ru
  webhook_max_lag: 45
scheduler:
  interval: 120
  workers: 8
  run_lease: 90
secrets:
  master_key_file: keys/master.key
  master_key_env: CRMSYNC_MASTER_KEY
alerts:
  smtp_url: smtp://mail.example:25
  from: crmsync@example.com
  to: [ops@example.com, owner@example.com]
loyalty:
  url: http://loyalty.local/api
businesses:
  - id: mindal
    name: Миндаль
    integrations:
      - id: mindal-yclients
        connector: yclients
        settings:
          company_id: 12345
          quoted_id: "12345"
          api_token: ${env:CRMSYNC_TEST_TOKEN}
          ratio: 1.5
          sandbox: false
          branches: [1, 2]
          empty:
  - id: lisichkino
    name: Лисичкино
    timezone: Asia/Yekaterinburg
    region: KZ
    currency: KZT
    integrations:
      - id: lisichkino-onec
        connector: onec
        active: false
)";

std::string error_of(const std::string& yaml) {
  auto config = parse(yaml, "/etc/crmsync");
  REQUIRE_FALSE(config.ok());
  CHECK(config.error().code == CRMSYNC_E_INVALID_CONFIG);
  return config.error().message;
}

}  // namespace

TEST_CASE("a complete config parses into the structs") {
  setenv("CRMSYNC_TEST_TOKEN", "secret-token", 1);
  auto parsed = parse(kFull, "/etc/crmsync");
  REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? "" : parsed.error().message));
  const Config& c = *parsed;
  CHECK(c.storage.backend == "postgres");
  CHECK(c.storage.url == "host=/tmp dbname=crmsync");
  CHECK(c.plugins.dir == "/opt/crmsync/plugins");
  CHECK(c.plugins.enabled == std::vector<std::string>{"yclients", "onec"});
  CHECK(c.server.listen == "0.0.0.0");
  CHECK(c.server.port == 9090);
  CHECK(c.server.public_url == "https://api.svoykrug.ru");
  CHECK(c.server.webhook_max_lag_seconds == 45);
  CHECK(c.scheduler.interval_seconds == 120);
  CHECK(c.scheduler.workers == 8);
  CHECK(c.scheduler.run_lease_seconds == 90);
  CHECK(c.secrets.master_key_file == "/etc/crmsync/keys/master.key");
  CHECK(c.secrets.master_key_env == "CRMSYNC_MASTER_KEY");
  CHECK(c.alerts.to.size() == 2);
  CHECK(c.loyalty.url == "http://loyalty.local/api");
  REQUIRE(c.businesses.size() == 2);
  const auto& mindal = c.businesses[0];
  CHECK(mindal.name == "Миндаль");
  CHECK(mindal.timezone == "Europe/Moscow");
  CHECK(mindal.region == "RU");
  CHECK(mindal.currency == "RUB");
  REQUIRE(mindal.integrations.size() == 1);
  CHECK(mindal.integrations[0].active);
  const auto settings = nlohmann::json::parse(mindal.integrations[0].settings_json);
  CHECK(settings["company_id"] == 12345);
  CHECK(settings["quoted_id"] == "12345");
  CHECK(settings["api_token"] == "secret-token");
  CHECK(settings["ratio"] == 1.5);
  CHECK(settings["sandbox"] == false);
  CHECK(settings["branches"] == nlohmann::json::array({1, 2}));
  CHECK(settings["empty"].is_null());
  const auto& lisichkino = c.businesses[1];
  CHECK(lisichkino.timezone == "Asia/Yekaterinburg");
  CHECK(lisichkino.region == "KZ");
  CHECK(lisichkino.currency == "KZT");
  CHECK_FALSE(lisichkino.integrations[0].active);
  CHECK(lisichkino.integrations[0].settings_json == "{}");
}

TEST_CASE("an empty mapping gives the documented defaults") {
  auto parsed = parse("{}", "");
  REQUIRE(parsed.ok());
  CHECK(parsed->storage.backend == "sqlite");
  CHECK(parsed->storage.path == "crmsync.db");
  CHECK(parsed->plugins.dir.empty());  // the CLI fills in the installed connectors
  CHECK(parsed->server.port == 8080);
  CHECK(parsed->server.webhook_max_lag_seconds == 20);
  CHECK(parsed->scheduler.interval_seconds == 300);
  CHECK(parsed->businesses.empty());
}

TEST_CASE("relative paths resolve against the config file's directory") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("crmsync_config_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "crmsync.yaml";
  std::ofstream(file) << "storage: {path: data/crmsync.db}\nplugins: {dir: ../plugins}\n";
  auto parsed = crmsync::config::load_file(file);
  REQUIRE(parsed.ok());
  CHECK(parsed->storage.path == (dir / "data/crmsync.db").string());
  CHECK(parsed->plugins.dir == (dir.parent_path() / "plugins").string());
  std::filesystem::remove_all(dir);
}

TEST_CASE("env references expand inside strings, and an unset variable names the key") {
  setenv("CRMSYNC_TEST_HOST", "db.local", 1);
  setenv("CRMSYNC_TEST_PORT", "7000", 1);
  auto parsed = parse(
      "storage: {backend: postgres, url: 'host=${env:CRMSYNC_TEST_HOST} port=5432'}\n"
      "server: {port: '${env:CRMSYNC_TEST_PORT}'}\n",
      "");
  REQUIRE(parsed.ok());
  CHECK(parsed->storage.url == "host=db.local port=5432");
  CHECK(parsed->server.port == 7000);

  unsetenv("CRMSYNC_TEST_UNSET");
  CHECK(error_of("businesses:\n  - id: b\n    name: B\n    integrations:\n"
                 "      - id: i\n        connector: yclients\n"
                 "        settings: {api_token: '${env:CRMSYNC_TEST_UNSET}'}\n") ==
        "businesses[0].integrations[0].settings.api_token: environment variable "
        "CRMSYNC_TEST_UNSET is not set");
  CHECK(error_of("loyalty: {url: '${env:OPEN'}\n") ==
        "loyalty.url: unterminated ${env:...} reference");
  CHECK(error_of("loyalty: {url: '${env:}'}\n") == "loyalty.url: empty variable name in ${env:}");
}

TEST_CASE("a missing required key names its path") {
  CHECK(error_of("businesses:\n  - id: b\n    name: B\n    integrations:\n"
                 "      - id: first\n        connector: yclients\n"
                 "      - id: second\n") == "businesses[0].integrations[1].connector: required");
  CHECK(error_of("businesses:\n  - name: B\n") == "businesses[0].id: required");
  CHECK(error_of("businesses:\n  - id: b\n") == "businesses[0].name: required");
  CHECK(error_of("storage: {backend: postgres}\n") == "storage.url: required for backend postgres");
}

TEST_CASE("wrong types and values are errors, not defaults") {
  CHECK(error_of("server: {port: eighty}\n") ==
        "server.port: expected a whole number, got \"eighty\"");
  CHECK(error_of("server: {port: 70000}\n") == "server.port: 70000 is out of range 1..65535");
  CHECK(error_of("server: {webhook_max_lag: 0}\n") ==
        "server.webhook_max_lag: 0 is out of range 1..3600");
  CHECK(error_of("scheduler: {interval: 0}\n") ==
        "scheduler.interval: 0 is out of range 1..4294967295");
  CHECK(error_of("scheduler: {workers: -1}\n") ==
        "scheduler.workers: expected a whole number, got \"-1\"");
  CHECK(error_of("storage: {backend: mysql}\n") ==
        "storage.backend: expected sqlite or postgres, got \"mysql\"");
  CHECK(error_of("storage: [sqlite]\n") == "storage: expected a mapping");
  CHECK(error_of("plugins: {enabled: {a: b}}\n") == "plugins.enabled: expected a list");
  CHECK(error_of("plugins: {enabled: [good, ../evil]}\n") ==
        "plugins.enabled[1]: \"../evil\" is not a connector id");
  CHECK(error_of("plugins: {enabled: [good, good]}\n") == "plugins.enabled[1]: duplicate \"good\"");
  CHECK(error_of("plugins: {dir: }\n") == "plugins.dir: value is empty");
  CHECK(error_of("server: {listen: [a, b]}\n") == "server.listen: expected a single value");
  CHECK(error_of("businesses: {id: b}\n") == "businesses: expected a list");
  CHECK(error_of("businesses:\n  - {id: b, name: B, currency: rub}\n") ==
        "businesses[0].currency: expected ISO 4217 like RUB");
  CHECK(error_of("businesses:\n  - {id: b, name: B, region: Russia}\n") ==
        "businesses[0].region: expected a country code like RU");
  CHECK(error_of("businesses:\n  - {id: b, name: B, integrations: [{id: i, connector: x, "
                 "active: maybe}]}\n") ==
        "businesses[0].integrations[0].active: expected true or false, got \"maybe\"");
  CHECK(error_of("businesses:\n  - {id: b, name: B, integrations: [{id: i, connector: x, "
                 "settings: [1]}]}\n") ==
        "businesses[0].integrations[0].settings: expected a mapping");
}

TEST_CASE("unknown keys and duplicate ids are refused") {
  CHECK(error_of("storage: {pth: x.db}\n") == "storage.pth: unknown key");
  CHECK(error_of("plugin: {dir: x}\n") == "plugin: unknown key");
  CHECK(error_of("businesses:\n  - {id: b, name: B}\n  - {id: b, name: C}\n") ==
        "businesses[1].id: duplicate business id \"b\"");
  CHECK(error_of("businesses:\n"
                 "  - {id: a, name: A, integrations: [{id: i, connector: x}]}\n"
                 "  - {id: b, name: B, integrations: [{id: i, connector: y}]}\n") ==
        "businesses[1].integrations[0].id: duplicate integration id \"i\"");
}

TEST_CASE("malformed YAML and non-mapping documents are clear errors") {
  CHECK(error_of("storage: {backend: sqlite\n").rfind("line ", 0) == 0);
  CHECK(error_of("- a\n- b\n") == "config: expected a mapping at the top level");
  CHECK(error_of("") == "config: expected a mapping at the top level");
}

TEST_CASE("a missing file is an error naming the file") {
  auto parsed = crmsync::config::load_file("/nonexistent/crmsync.yaml");
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().message ==
        "/nonexistent/crmsync.yaml: cannot read: No such file or directory");
}
