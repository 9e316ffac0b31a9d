// The CSV dedup id: SHA-256 through OpenSSL's EVP interface, with one digest context per thread
// so that hashing a row allocates nothing but the result.
#include "normalize/dedup_key.h"

#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace crmsync::normalize {
namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "crmsync: broken invariant: %s\n", what);
  std::abort();
}

// SHA-256 is part of every OpenSSL 3 default provider: failing to fetch it is a broken install.
const EVP_MD* sha256() {
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) die("OpenSSL has no SHA256");
    return fetched;
  }();
  return md;
}

EVP_MD_CTX* thread_context() {
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, Free> ctx(EVP_MD_CTX_new());
  if (!ctx) die("EVP_MD_CTX_new failed");
  return ctx.get();
}

}  // namespace

std::string csv_dedup_id(UtcTime time, std::string_view e164, std::int64_t minor,
                         std::string_view business_id) {
  const std::string when = rfc3339_utc(time);
  std::array<char, 24> amount{};
  const auto amount_end = std::to_chars(amount.data(), amount.data() + amount.size(), minor).ptr;
  static constexpr char kBar = '|';
  EVP_MD_CTX* ctx = thread_context();
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (EVP_DigestInit_ex2(ctx, sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, when.data(), when.size()) != 1 ||
      EVP_DigestUpdate(ctx, &kBar, 1) != 1 ||
      EVP_DigestUpdate(ctx, e164.data(), e164.size()) != 1 ||
      EVP_DigestUpdate(ctx, &kBar, 1) != 1 ||
      EVP_DigestUpdate(ctx, amount.data(), amount_end - amount.data()) != 1 ||
      EVP_DigestUpdate(ctx, &kBar, 1) != 1 ||
      EVP_DigestUpdate(ctx, business_id.data(), business_id.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, digest.data(), &digest_size) != 1) {
    die("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "CSV-";
  id.resize(4 + 2 * digest_size);
  for (unsigned int k = 0; k < digest_size; ++k) {
    id[4 + 2 * k] = kHex[digest[k] >> 4];
    id[5 + 2 * k] = kHex[digest[k] & 0xF];
  }
  return id;
}

}  // namespace crmsync::normalize
