// The host as a user installs it: `cmake --install` into a staging root (DESTDIR, prefix /usr),
// then the installed binary run against the installed connectors (found by default, relative to
// itself) and the installed config with its paths pointed into the staging root: `plugins`,
// `keys generate` (the service's first start), `migrate`, `serve` answering /readyz. Then cpack's
// packages (dpkg-deb -c / -I / -f) and `systemd-analyze verify` on the installed unit.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "http/client.h"
#include "support/ports.h"
#include "support/process.h"

namespace {

namespace fs = std::filesystem;
using crmsync::test::Run;
using crmsync::test::run_process;
using crmsync::test::slurp;
using namespace std::chrono_literals;

const fs::path kWork = CRMSYNC_WORK_DIR;
const std::set<std::string> kConnectors = {"1c",   "amocrm",    "csv",     "custom",
                                           "iiko", "renovatio", "yclients"};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

Run must_run(const std::vector<std::string>& argv, const fs::path& cwd = kWork) {
  Run run = run_process(argv, cwd);
  std::string command;
  for (const std::string& arg : argv) command += arg + " ";
  REQUIRE_MESSAGE(run.exit_code == 0, command << "\n" << run.out << run.err);
  return run;
}

// The staging root, installed once for all the test cases.
const fs::path& stage() {
  static const fs::path root = [] {
    fs::remove_all(kWork);
    fs::create_directories(kWork);
    const fs::path root = kWork / "stage";
    must_run({"env", "DESTDIR=" + root.string(), CRMSYNC_CMAKE, "--install", CRMSYNC_BUILD_DIR,
              "--prefix", "/usr"});
    return root;
  }();
  return root;
}

bool is_executable(const fs::path& file) {
  return fs::is_regular_file(file) &&
         (fs::status(file).permissions() & fs::perms::owner_exec) != fs::perms::none;
}

}  // namespace

TEST_CASE("cmake --install lays out the host, connectors, config, unit and SDK under DESTDIR") {
  const fs::path& root = stage();
  CHECK(is_executable(root / "usr/bin/crmsync"));
  std::set<std::string> installed;
  for (const auto& entry : fs::directory_iterator(root / "usr/lib/crmsync/plugins")) {
    installed.insert(entry.path().stem().string());
  }
  CHECK(installed == kConnectors);
  CHECK(installed.size() == CRMSYNC_CONNECTOR_COUNT);
  CHECK(fs::is_regular_file(root / "etc/crmsync/crmsync.yaml"));
  CHECK(fs::is_regular_file(root / "usr/lib/systemd/system/crmsync.service"));
  for (const char* file : {"usr/include/crmsync/connector.h", "usr/include/crmsync/connector.hpp",
                           "usr/lib/cmake/crmsync-sdk/crmsync-sdkConfig.cmake",
                           "usr/lib/cmake/crmsync-sdk/crmsync-connector.map"}) {
    CHECK_MESSAGE(fs::is_regular_file(root / file), file);
  }
  // Nothing else escapes the prefix or the config directory (no /usr/etc, no build paths).
  std::set<std::string> top;
  for (const auto& entry : fs::directory_iterator(root)) top.insert(entry.path().filename());
  CHECK(top == std::set<std::string>{"etc", "usr"});
  CHECK_FALSE(fs::exists(root / "usr/etc"));
}

TEST_CASE("the installed config is the production layout and parses") {
  auto config = crmsync::config::load_file(stage() / "etc/crmsync/crmsync.yaml");
  REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error().message));
  CHECK(config->storage.backend == "sqlite");
  CHECK(config->storage.path == "/var/lib/crmsync/crmsync.db");
  CHECK(config->plugins.dir.empty());  // the installed connectors, found by the binary
  CHECK(config->secrets.master_key_file == "/etc/crmsync/master.key");
  CHECK(config->server.listen == "127.0.0.1");
  // Commented: every section is explained in place.
  const std::string text = slurp(stage() / "etc/crmsync/crmsync.yaml");
  for (const char* section : {"storage:", "plugins:", "server:", "scheduler:", "secrets:",
                              "alerts:", "loyalty:", "businesses:"}) {
    CHECK_MESSAGE(contains(text, section), section);
  }
  CHECK(contains(text, "# dir: /usr/lib/crmsync/plugins"));
}

TEST_CASE("the unit runs the installed binary as crmsync, sandboxed, and makes the key first") {
  const std::string unit = slurp(stage() / "usr/lib/systemd/system/crmsync.service");
  for (const char* line :
       {"ExecStartPre=+/usr/bin/crmsync keys generate --out /etc/crmsync/master.key --if-missing "
        "--owner crmsync\n",
        "ExecStart=/usr/bin/crmsync serve --config /etc/crmsync/crmsync.yaml\n", "User=crmsync\n",
        "Group=crmsync\n", "StateDirectory=crmsync\n", "Restart=on-failure\n",
        "ProtectSystem=strict\n", "ProtectHome=yes\n", "PrivateTmp=yes\n", "PrivateDevices=yes\n",
        "NoNewPrivileges=yes\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",
        "CapabilityBoundingSet=\n", "WantedBy=multi-user.target\n"}) {
    CHECK_MESSAGE(contains(unit, line), line);
  }
}

TEST_CASE("the installed binary finds the installed connectors, migrates and serves") {
  const fs::path& root = stage();
  const fs::path binary = root / "usr/bin/crmsync";
  const fs::path config_file = root / "etc/crmsync/crmsync.yaml";
  const fs::path state = root / "var/lib/crmsync";  // what StateDirectory= creates
  fs::create_directories(state);
  // The installed config with its absolute paths pointed into the staging root; plugins.dir
  // stays unset, so the binary must find <root>/usr/lib/crmsync/plugins by itself.
  YAML::Node yaml = YAML::LoadFile(config_file.string());
  yaml["storage"]["path"] = (state / "crmsync.db").string();
  yaml["secrets"]["master_key_file"] = (root / "etc/crmsync/master.key").string();
  const uint16_t port = crmsync::test::closed_port();
  yaml["server"]["port"] = port;
  std::ofstream(config_file) << YAML::Dump(yaml) << "\n";
  const std::string config = "--config=" + config_file.string();

  const Run plugins = must_run({binary, config, "plugins"});
  for (const std::string& id : kConnectors) {
    CHECK_MESSAGE(contains(plugins.out, (root / "usr/lib/crmsync/plugins" / (id + ".so")).string()),
                  id);
  }
  CHECK_FALSE(contains(plugins.out, "not loaded"));

  // The service's first start: the key is created once, 0600, then kept.
  const fs::path key = root / "etc/crmsync/master.key";
  const std::vector<std::string> first_start = {binary,  "keys", "generate",
                                                "--out", key,    "--if-missing"};
  CHECK(contains(must_run(first_start).out, "Wrote the master key"));
  CHECK(fs::status(key).permissions() == (fs::perms::owner_read | fs::perms::owner_write));
  const std::string written = slurp(key);
  CHECK(contains(must_run(first_start).out, "Kept the master key"));
  CHECK(slurp(key) == written);

  const Run migrated = must_run({binary, config, "migrate"});
  CHECK(migrated.out.starts_with("Schema is at version "));
  CHECK(fs::is_regular_file(state / "crmsync.db"));

  const pid_t pid = crmsync::test::spawn_process(
      {binary.string(), config, "serve", "--stop-after", "60"}, kWork, kWork / "serve.log");
  REQUIRE(pid > 0);
  auto client = crmsync::http::Client::create({}).value();
  crmsync::http::Request request;
  request.url = "http://127.0.0.1:" + std::to_string(port) + "/readyz";
  request.timeout = 2s;
  int status = 0;
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       status != 200 && std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(100ms)) {
    auto response = client->send(request);
    status = response ? response->status : 0;
  }
  CHECK_MESSAGE(status == 200, slurp(kWork / "serve.log"));
  kill(pid, SIGTERM);
  int exit_status = 0;
  REQUIRE(waitpid(pid, &exit_status, 0) == pid);
  CHECK(WIFEXITED(exit_status));
  CHECK(WEXITSTATUS(exit_status) == 0);
}

TEST_CASE("cpack builds crmsync and crmsync-dev with their files and control data") {
  const fs::path out = kWork / "packages";
  must_run({CRMSYNC_CPACK, "-G", "DEB", "--config",
            std::string(CRMSYNC_BUILD_DIR) + "/CPackConfig.cmake", "-B", out});
  std::string arch = must_run({"dpkg", "--print-architecture"}).out;
  arch.erase(arch.find_last_not_of('\n') + 1);
  const fs::path host = out / ("crmsync_" + std::string(CRMSYNC_VERSION) + "_" + arch + ".deb");
  const fs::path sdk = out / ("crmsync-dev_" + std::string(CRMSYNC_VERSION) + "_all.deb");
  REQUIRE(fs::is_regular_file(host));
  REQUIRE(fs::is_regular_file(sdk));

  const std::string host_files = must_run({"dpkg-deb", "-c", host}).out;
  for (const char* file : {"./usr/bin/crmsync", "./etc/crmsync/crmsync.yaml",
                           "./usr/lib/systemd/system/crmsync.service"}) {
    CHECK_MESSAGE(contains(host_files, " " + std::string(file) + "\n"), file);
  }
  for (const std::string& id : kConnectors) {
    CHECK_MESSAGE(contains(host_files, " ./usr/lib/crmsync/plugins/" + id + ".so\n"), id);
  }
  CHECK_FALSE(contains(host_files, "./usr/include"));
  CHECK_FALSE(contains(host_files, "./usr/local"));
  CHECK_FALSE(contains(host_files, "master.key"));  // made on the host, never shipped

  const std::string sdk_files = must_run({"dpkg-deb", "-c", sdk}).out;
  CHECK(contains(sdk_files, " ./usr/include/crmsync/connector.h\n"));
  CHECK(contains(sdk_files, " ./usr/lib/cmake/crmsync-sdk/crmsync-sdkConfig.cmake\n"));
  CHECK(contains(sdk_files, " ./usr/lib/cmake/crmsync-sdk/crmsync-connector.map\n"));
  CHECK_FALSE(contains(sdk_files, "./usr/bin"));

  auto field = [](const fs::path& deb, const std::string& name) {
    std::string value = must_run({"dpkg-deb", "-f", deb, name}).out;
    while (!value.empty() && value.back() == '\n') value.pop_back();
    return value;
  };
  CHECK(field(host, "Package") == "crmsync");
  CHECK(field(host, "Version") == CRMSYNC_VERSION);
  CHECK(field(host, "Architecture") == arch);
  const std::string depends = field(host, "Depends");
  // adduser for postinst; the libraries from dpkg-shlibdeps.
  for (const char* package : {"adduser", "libsqlite3-0", "libpq5", "libssl3", "libstdc++6"}) {
    CHECK_MESSAGE(contains(depends, package), package << " in " << depends);
  }
  CHECK(field(sdk, "Package") == "crmsync-dev");
  CHECK(field(sdk, "Architecture") == "all");

  // The maintainer scripts and the conffile, as dpkg will see them.
  const std::string info = must_run({"dpkg-deb", "-I", host}).out;
  for (const char* member : {" conffiles ", " postinst ", " prerm ", " postrm "}) {
    CHECK_MESSAGE(contains(info, member), member);
  }
  const fs::path control = kWork / "control";
  must_run({"dpkg-deb", "-e", host, control});
  CHECK(slurp(control / "conffiles") == "/etc/crmsync/crmsync.yaml\n");
  const std::string postinst = slurp(control / "postinst");
  CHECK(contains(postinst, "adduser --system --group"));
  CHECK(contains(postinst, "crmsync\n"));
  CHECK(is_executable(control / "postinst"));
  // The shell accepts every script.
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    must_run({"sh", "-n", control / script});
  }
}

TEST_CASE("systemd-analyze verify accepts the installed unit") {
  const Run found = run_process({"sh", "-c", "command -v systemd-analyze"}, kWork);
  REQUIRE_MESSAGE(found.exit_code == 0,
                  "systemd-analyze is not installed: install the package systemd (scripts/deps)");
  // verify checks that the commands exist, so the unit's /usr/bin/crmsync becomes the staged one;
  // every other line is the installed unit's. (--root=<stage> would need a whole unit tree
  // there: it fails on sysinit.target.)
  std::string unit = slurp(stage() / "usr/lib/systemd/system/crmsync.service");
  const std::string installed = "/usr/bin/crmsync";
  const std::string staged = (stage() / "usr/bin/crmsync").string();
  for (size_t at = unit.find(installed); at != std::string::npos;
       at = unit.find(installed, at + staged.size())) {
    unit.replace(at, installed.size(), staged);
  }
  const fs::path dir = kWork / "unit";
  fs::create_directories(dir);
  std::ofstream(dir / "crmsync.service") << unit;
  // verify exits 0 on unknown keys and bad values too, only saying so: any output is a failure.
  const Run verified = run_process({"systemd-analyze", "verify", dir / "crmsync.service"}, dir);
  CHECK(verified.exit_code == 0);
  const std::string said = verified.out + verified.err;
  CHECK_MESSAGE(said.empty(), said);

  // The same check sees a broken unit.
  std::ofstream(dir / "broken.service") << unit << "ProtectSystem=everything\n";
  const Run broken = run_process({"systemd-analyze", "verify", dir / "broken.service"}, dir);
  CHECK(contains(broken.out + broken.err, "ProtectSystem"));
}
