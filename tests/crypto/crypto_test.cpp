// Tests of core/crypto: hashes and MACs against published vectors, master key parsing, and
// sealing (round trip, wrong key, tampering, rotation).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "crypto/crypto.h"
#include "support/temp_dir.h"

#include <cstdlib>
#include <fstream>
#include <string>

using namespace crmsync;

namespace {

const std::string kHexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

crypto::MasterKey key_from(const std::string& text) {
  return crypto::parse_master_key(text).value();
}

}  // namespace

TEST_CASE("sha256_hex matches the FIPS 180-2 vectors") {
  CHECK(crypto::sha256_hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(crypto::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("hmac_sha256_hex matches RFC 4231 test case 2") {
  CHECK(crypto::hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(crypto::hmac_sha256("Jefe", "what do ya want for nothing?").size() == 32);
}

TEST_CASE("base64 round-trips and rejects malformed text") {
  CHECK(crypto::base64_encode("foobar") == "Zm9vYmFy");
  CHECK(crypto::base64_encode("fo") == "Zm8=");
  CHECK(crypto::base64_decode("Zm8=").value() == "fo");
  CHECK(crypto::base64_decode("Zm9vYg==").value() == "foob");
  CHECK(crypto::base64_decode("").value().empty());
  CHECK_FALSE(crypto::base64_decode("Zm9"));
  CHECK_FALSE(crypto::base64_decode("Zm9v!!!!"));
}

TEST_CASE("constant_time_equal compares content and length") {
  CHECK(crypto::constant_time_equal("secret", "secret"));
  CHECK_FALSE(crypto::constant_time_equal("secret", "secreT"));
  CHECK_FALSE(crypto::constant_time_equal("secret", "secret2"));
  CHECK(crypto::constant_time_equal("", ""));
}

TEST_CASE("parse_master_key accepts hex and base64 of 32 bytes and nothing else") {
  const auto hex = key_from(kHexKey);
  const auto b64 = key_from(
      " " +
      crypto::base64_encode(std::string(reinterpret_cast<const char*>(hex.bytes.data()), 32)) +
      "\n");
  CHECK(hex.bytes == b64.bytes);
  CHECK(hex.id == b64.id);
  CHECK(hex.id.size() == 17);
  CHECK(hex.id != key_from(std::string(64, 'f')).id);

  for (const std::string& bad :
       std::initializer_list<std::string>{"", "abc", std::string(63, 'a'), std::string(64, 'g'),
                                          crypto::base64_encode(std::string(16, 'x'))}) {
    auto key = crypto::parse_master_key(bad);
    REQUIRE_FALSE(key);
    CHECK(key.error().code == CRMSYNC_E_INVALID_CONFIG);
  }
}

TEST_CASE("master keys load from a file and from the environment") {
  test::TempDir dir;
  const auto path = (dir / "master.key").string();
  std::ofstream(path) << kHexKey << "\n";
  CHECK(crypto::load_master_key_file(path).value().id == key_from(kHexKey).id);
  auto missing = crypto::load_master_key_file((dir / "absent").string());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("cannot be read") != std::string::npos);

  ::setenv("CRMSYNC_TEST_MASTER_KEY", kHexKey.c_str(), 1);
  CHECK(crypto::load_master_key_env("CRMSYNC_TEST_MASTER_KEY").value().id == key_from(kHexKey).id);
  ::unsetenv("CRMSYNC_TEST_MASTER_KEY");
  auto unset = crypto::load_master_key_env("CRMSYNC_TEST_MASTER_KEY");
  REQUIRE_FALSE(unset);
  CHECK(unset.error().message.find("is not set") != std::string::npos);
}

TEST_CASE("seal and open round-trip with a fresh nonce each time") {
  const auto key = key_from(kHexKey);
  const std::string secret = R"({"api_token":"yclients_token_here"})";
  auto a = crypto::seal(key, secret).value();
  auto b = crypto::seal(key, secret).value();
  CHECK(a.key_id == key.id);
  CHECK(a.blob != b.blob);
  CHECK(a.blob.find("yclients_token_here") == std::string::npos);
  const crypto::MasterKey keys[] = {key};
  CHECK(crypto::open(keys, a).value() == secret);
  CHECK(crypto::open(keys, crypto::seal(key, "").value()).value().empty());
}

TEST_CASE("open refuses a wrong key, tampered data and a missing key clearly") {
  const auto key = key_from(kHexKey);
  auto sealed = crypto::seal(key, "password").value();

  SUBCASE("a different key under the same id fails authentication") {
    auto other = key_from(std::string(64, 'a'));
    other.id = key.id;
    const crypto::MasterKey keys[] = {other};
    auto opened = crypto::open(keys, sealed);
    REQUIRE_FALSE(opened);
    CHECK(opened.error().code == CRMSYNC_E_INVALID_INPUT);
    CHECK(opened.error().message.find("failed authentication") != std::string::npos);
  }
  SUBCASE("a flipped ciphertext bit fails authentication") {
    sealed.blob[14] = static_cast<char>(sealed.blob[14] ^ 1);
    const crypto::MasterKey keys[] = {key};
    CHECK(crypto::open(keys, sealed).error().code == CRMSYNC_E_INVALID_INPUT);
  }
  SUBCASE("truncated data is refused") {
    sealed.blob.resize(10);
    const crypto::MasterKey keys[] = {key};
    CHECK(crypto::open(keys, sealed).error().message.find("truncated") != std::string::npos);
  }
  SUBCASE("an unknown key id names the missing key") {
    const crypto::MasterKey keys[] = {key_from(std::string(64, 'b'))};
    auto opened = crypto::open(keys, sealed);
    REQUIRE_FALSE(opened);
    CHECK(opened.error().code == CRMSYNC_E_INVALID_CONFIG);
    CHECK(opened.error().message.find(key.id) != std::string::npos);
  }
}

TEST_CASE("open picks the sealing key among several (rotation)") {
  const auto old_key = key_from(kHexKey);
  const auto new_key = key_from(std::string(64, 'c'));
  const crypto::MasterKey keys[] = {new_key, old_key};
  CHECK(crypto::open(keys, crypto::seal(old_key, "old").value()).value() == "old");
  CHECK(crypto::open(keys, crypto::seal(new_key, "new").value()).value() == "new");
}

TEST_CASE("generated master keys are random, and their text form reads back as the same key") {
  const crypto::MasterKey a = crypto::generate_master_key().value();
  const crypto::MasterKey b = crypto::generate_master_key().value();
  CHECK(a.bytes != b.bytes);
  CHECK(a.id != b.id);
  const std::string text = crypto::master_key_text(a);
  CHECK(text.size() == 64);
  const crypto::MasterKey parsed = crypto::parse_master_key(text).value();
  CHECK(parsed.bytes == a.bytes);
  CHECK(parsed.id == a.id);
}
