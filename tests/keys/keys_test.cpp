// `crmsync keys rotate`: stored credentials sealed under the config's master key are re-sealed
// under a new one, readable with it and no longer with the old one; bad keys are clear errors;
// serve and sync refuse to start under a key that did not seal the stored secrets.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "crypto/crypto.h"
#include "store/store.h"
#include "support/ports.h"
#include "support/process.h"
#include "support/temp_dir.h"

using namespace crmsync;
namespace fs = std::filesystem;

namespace {

constexpr const char* kOldKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr const char* kNewKey = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";

const store::Timestamp kNow{std::chrono::milliseconds(1763389800000)};

// A store in dir with one integration whose credentials are sealed under kOldKey.
void seed(const fs::path& dir) {
  store::StorageConfig config;
  config.target = (dir / "crmsync.db").string();
  auto db = store::open_store(config).value();
  store::Business business;
  business.id = "mindal";
  business.name = "Миндаль";
  business.created_at = kNow;
  REQUIRE(db->add_business(business).ok());
  store::Integration integration;
  integration.id = "mindal-yclients";
  integration.business_id = "mindal";
  integration.crm_type = "yclients";
  integration.credentials =
      crypto::seal(crypto::parse_master_key(kOldKey).value(), R"({"partner_token":"t0p"})").value();
  integration.created_at = integration.updated_at = kNow;
  REQUIRE(db->create_integration(integration).ok());
}

crypto::Sealed stored_credentials(const fs::path& dir) {
  store::StorageConfig config;
  config.target = (dir / "crmsync.db").string();
  return store::open_store(config).value()->get_integration("mindal-yclients").value().credentials;
}

test::Run crmsync_in(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {CRMSYNC_BINARY, "--config", (dir / "crmsync.yaml").string()});
  return test::run_process(args, dir);
}

}  // namespace

TEST_CASE("keys rotate re-seals credentials under the new key") {
  test::TempDir dir;
  std::ofstream(dir / "old.key") << kOldKey << "\n";
  std::ofstream(dir / "new.key") << kNewKey << "\n";
  std::ofstream(dir / "crmsync.yaml") << "storage: {backend: sqlite, path: crmsync.db}\n"
                                         "secrets: {master_key_file: old.key}\n";
  seed(dir.path());

  const test::Run run = crmsync_in(dir.path(), {"keys", "rotate", "--new-key-file", "new.key"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  CHECK(run.out.find("Re-sealed 1 credentials") == 0);

  const crypto::Sealed sealed = stored_credentials(dir.path());
  const crypto::MasterKey old_key = crypto::parse_master_key(kOldKey).value();
  const crypto::MasterKey new_key = crypto::parse_master_key(kNewKey).value();
  CHECK(sealed.key_id == new_key.id);
  CHECK(crypto::open(std::span(&new_key, 1), sealed).value() == R"({"partner_token":"t0p"})");
  CHECK_FALSE(crypto::open(std::span(&old_key, 1), sealed).ok());

  // Rotating again to the same key has nothing left to do.
  const test::Run again = crmsync_in(dir.path(), {"keys", "rotate", "--new-key-file", "new.key"});
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("Re-sealed 0 credentials") == 0);
}

TEST_CASE("keys rotate refuses a wrong or malformed key and changes nothing") {
  test::TempDir dir;
  std::ofstream(dir / "wrong.key") << kNewKey << "\n";
  std::ofstream(dir / "bad.key") << "not a key\n";
  std::ofstream(dir / "new.key") << kNewKey << "\n";
  seed(dir.path());
  const crypto::Sealed before = stored_credentials(dir.path());

  SUBCASE("the config's key did not seal the credentials") {
    std::ofstream(dir / "crmsync.yaml") << "secrets: {master_key_file: wrong.key}\n";
    std::ofstream(dir / "other.key") << std::string(64, 'a') << "\n";
    const test::Run run = crmsync_in(dir.path(), {"keys", "rotate", "--new-key-file", "other.key"});
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("wrong master key") != std::string::npos);
  }
  SUBCASE("a malformed new key") {
    std::ofstream(dir / "crmsync.yaml") << "secrets: {master_key_file: new.key}\n";
    const test::Run run = crmsync_in(dir.path(), {"keys", "rotate", "--new-key-file", "bad.key"});
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("new key:") != std::string::npos);
    CHECK(run.err.find("not a key") == std::string::npos);
  }
  SUBCASE("no new key") {
    std::ofstream(dir / "crmsync.yaml") << "secrets: {master_key_file: new.key}\n";
    const test::Run run = crmsync_in(dir.path(), {"keys", "rotate"});
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("exactly one of --new-key-file or --new-key-env") != std::string::npos);
  }
  const crypto::Sealed after = stored_credentials(dir.path());
  CHECK(after.blob == before.blob);
  CHECK(after.key_id == before.key_id);
}

TEST_CASE("keys generate writes a fresh key, mode 0600, that keys rotate and the store accept") {
  test::TempDir dir;
  umask(0);  // the mode must not depend on the caller's umask
  const test::Run run = crmsync_in(dir.path(), {"keys", "generate", "--out", "master.key"});
  umask(022);
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  const std::string text = test::slurp(dir / "master.key");
  REQUIRE(text.size() == 65);
  CHECK(text.back() == '\n');
  const crypto::MasterKey key = crypto::parse_master_key(text).value();
  CHECK(run.out.find("Wrote the master key " + key.id + " to master.key (mode 0600)") == 0);
  CHECK(fs::status(dir / "master.key").permissions() ==
        (fs::perms::owner_read | fs::perms::owner_write));
  // No temporary file left beside it.
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 3);

  // Two keys are never the same.
  REQUIRE(crmsync_in(dir.path(), {"keys", "generate", "--out", "second.key"}).exit_code == 0);
  CHECK(test::slurp(dir / "second.key") != text);

  // The generated key seals and opens credentials (rotation onto it).
  std::ofstream(dir / "old.key") << kOldKey << "\n";
  std::ofstream(dir / "crmsync.yaml") << "secrets: {master_key_file: old.key}\n";
  seed(dir.path());
  const test::Run rotated =
      crmsync_in(dir.path(), {"keys", "rotate", "--new-key-file", "master.key"});
  REQUIRE_MESSAGE(rotated.exit_code == 0, rotated.err);
  const crypto::Sealed sealed = stored_credentials(dir.path());
  CHECK(sealed.key_id == key.id);
  CHECK(crypto::open(std::span(&key, 1), sealed).value() == R"({"partner_token":"t0p"})");
}

TEST_CASE("keys generate never overwrites a key unless asked") {
  test::TempDir dir;
  std::ofstream(dir / "master.key") << kOldKey << "\n";

  const test::Run refused = crmsync_in(dir.path(), {"keys", "generate", "--out", "master.key"});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err ==
        "crmsync: master key file master.key exists already (--force replaces it; "
        "credentials sealed with it are then lost)\n");
  CHECK(test::slurp(dir / "master.key") == std::string(kOldKey) + "\n");

  // --if-missing: the service's first start, every start: an existing key is kept.
  const test::Run kept =
      crmsync_in(dir.path(), {"keys", "generate", "--out", "master.key", "--if-missing"});
  CHECK(kept.exit_code == 0);
  CHECK(kept.out ==
        "Kept the master key " + crypto::parse_master_key(kOldKey).value().id + " in master.key\n");
  CHECK(test::slurp(dir / "master.key") == std::string(kOldKey) + "\n");

  // ... but only a key: a service would not start with anything else.
  std::ofstream(dir / "bad.key") << "not a key\n";
  const test::Run bad =
      crmsync_in(dir.path(), {"keys", "generate", "--out", "bad.key", "--if-missing"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("(file bad.key)") != std::string::npos);
  CHECK(bad.err.find("not a key") == std::string::npos);  // never echoes the file

  // --if-missing on a missing file writes one.
  const test::Run fresh =
      crmsync_in(dir.path(), {"keys", "generate", "--out", "fresh.key", "--if-missing"});
  CHECK(fresh.exit_code == 0);
  CHECK(crypto::load_master_key_file((dir / "fresh.key").string()).ok());

  const test::Run forced =
      crmsync_in(dir.path(), {"keys", "generate", "--out", "master.key", "--force"});
  CHECK(forced.exit_code == 0);
  CHECK(test::slurp(dir / "master.key") != std::string(kOldKey) + "\n");
  CHECK(crypto::load_master_key_file((dir / "master.key").string()).ok());

  const test::Run both = crmsync_in(
      dir.path(), {"keys", "generate", "--out", "master.key", "--force", "--if-missing"});
  CHECK(both.exit_code == 2);
  const test::Run no_out = crmsync_in(dir.path(), {"keys", "generate"});
  CHECK(no_out.exit_code == 2);
}

TEST_CASE("keys generate reports a directory it cannot write and an unknown owner") {
  test::TempDir dir;
  const test::Run nowhere =
      crmsync_in(dir.path(), {"keys", "generate", "--out", "no/such/dir/master.key"});
  CHECK(nowhere.exit_code == 1);
  CHECK(nowhere.err.find("cannot create a file in no/such/dir") != std::string::npos);

  const test::Run owner = crmsync_in(
      dir.path(), {"keys", "generate", "--out", "master.key", "--owner", "no-such-user-x"});
  CHECK(owner.exit_code == 1);
  CHECK(owner.err == "crmsync: --owner: no user \"no-such-user-x\"\n");
  CHECK_FALSE(fs::exists(dir / "master.key"));
}

TEST_CASE("keys generate --owner hands the key to the service user (as root)") {
  test::TempDir dir;
  const passwd* nobody = getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  const test::Run run =
      crmsync_in(dir.path(), {"keys", "generate", "--out", "master.key", "--owner", "nobody"});
  struct stat info {};
  if (geteuid() != 0) {
    // Only root may give a file away: a clear error, no key left behind.
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("cannot write it") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "master.key"));
    return;
  }
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  REQUIRE(stat((dir / "master.key").c_str(), &info) == 0);
  CHECK(info.st_uid == nobody->pw_uid);
  CHECK(info.st_gid == nobody->pw_gid);
  CHECK((info.st_mode & 07777) == 0600);
}

TEST_CASE("serve and sync refuse to start under a master key that did not seal the secrets") {
  test::TempDir dir;
  std::ofstream(dir / "old.key") << kOldKey << "\n";
  std::ofstream(dir / "wrong.key") << kNewKey << "\n";
  const auto config = [&](const std::string& key_file) {
    std::ofstream(dir / "crmsync.yaml")
        << "storage: {backend: sqlite, path: crmsync.db}\n"
        << "plugins: {dir: " << CRMSYNC_PLUGIN_DIR << ", enabled: [csv]}\n"
        << "server: {listen: 127.0.0.1, port: " << test::closed_port() << "}\n"
        << "secrets: {master_key_file: " << key_file << "}\n";
  };
  const std::string sealed_by = crypto::parse_master_key(kOldKey).value().id;
  const std::string configured = crypto::parse_master_key(kNewKey).value().id;

  // Nothing sealed yet: any key starts.
  config("wrong.key");
  const test::Run empty = crmsync_in(dir.path(), {"serve", "--stop-after", "0.2"});
  CHECK_MESSAGE(empty.exit_code == 0, empty.err);

  seed(dir.path());
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"serve", "--stop-after", "5"},
        std::vector<std::string>{"sync", "--integration", "mindal-yclients"}}) {
    INFO(command[0]);
    const test::Run run = crmsync_in(dir.path(), command);
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("wrong master key") != std::string::npos);
    CHECK(run.err.find(sealed_by) != std::string::npos);
    CHECK(run.err.find(configured) != std::string::npos);
    CHECK(run.err.find("listening") == std::string::npos);
  }
  // Without any key configured it is the same refusal.
  std::ofstream(dir / "crmsync.yaml") << "storage: {backend: sqlite, path: crmsync.db}\n";
  const test::Run keyless = crmsync_in(dir.path(), {"sync", "--integration", "mindal-yclients"});
  CHECK(keyless.exit_code == 1);
  CHECK(keyless.err.find("no key is configured") != std::string::npos);

  // The right key starts; nothing was re-sealed by the refused starts.
  config("old.key");
  const test::Run right = crmsync_in(dir.path(), {"serve", "--stop-after", "0.2"});
  CHECK_MESSAGE(right.exit_code == 0, right.err);
  CHECK(stored_credentials(dir.path()).key_id == sealed_by);
}
