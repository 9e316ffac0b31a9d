// OpenSSL 3 implementations of the helpers declared in crypto.h.
#include "crypto/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace crmsync::crypto {
namespace internal {

constexpr unsigned char kFormatV1 = 0x01;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const unsigned char* bytes(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The key id: a short fingerprint under a fixed label, so it says nothing usable about the key.
std::string key_id(const std::array<unsigned char, 32>& key) {
  const std::string_view raw(reinterpret_cast<const char*>(key.data()), key.size());
  return "k" + hmac_sha256_hex("crmsync master key id", raw).substr(0, 16);
}

}  // namespace internal

std::string to_hex(std::string_view data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    std::fprintf(stderr, "crmsync: broken invariant: SHA-256 failed\n");
    std::abort();
  }
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), internal::bytes(data),
           data.size(), mac, &size) == nullptr) {
    std::fprintf(stderr, "crmsync: broken invariant: HMAC-SHA256 failed\n");
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(mac), size);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  return to_hex(hmac_sha256(key, data));
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   internal::bytes(data), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(size));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  // EVP_DecodeBlock ignores nothing and pads the output with zeros for '=': check the shape
  // first and trim the padding bytes afterwards.
  if (text.size() % 4 != 0)
    return fail(CRMSYNC_E_INVALID_INPUT, "base64 length is not a multiple of 4");
  std::string out(text.size() / 4 * 3, '\0');
  const int size = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   internal::bytes(text), static_cast<int>(text.size()));
  if (size < 0) return fail(CRMSYNC_E_INVALID_INPUT, "malformed base64");
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<size_t>(size) - padding);
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<MasterKey> parse_master_key(std::string_view text) {
  text = internal::trim(text);
  MasterKey key;
  if (text.size() == 64) {
    for (size_t i = 0; i < 32; ++i) {
      const int hi = internal::hex_digit(text[2 * i]);
      const int lo = internal::hex_digit(text[2 * i + 1]);
      if (hi < 0 || lo < 0) return fail(CRMSYNC_E_INVALID_CONFIG, "master key: bad hex digit");
      key.bytes[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
  } else {
    auto decoded = base64_decode(text);
    if (!decoded || decoded->size() != key.bytes.size()) {
      return fail(CRMSYNC_E_INVALID_CONFIG,
                  "master key must be 32 bytes written as 64 hex digits or base64");
    }
    std::copy(decoded->begin(), decoded->end(), key.bytes.begin());
  }
  key.id = internal::key_id(key.bytes);
  return key;
}

Result<MasterKey> generate_master_key() {
  MasterKey key;
  if (RAND_bytes(key.bytes.data(), static_cast<int>(key.bytes.size())) != 1) {
    return fail(CRMSYNC_E_UNAVAILABLE, "no random bytes for a master key");
  }
  key.id = internal::key_id(key.bytes);
  return key;
}

std::string master_key_text(const MasterKey& key) {
  return to_hex(
      std::string_view(reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size()));
}

Result<MasterKey> load_master_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(CRMSYNC_E_INVALID_CONFIG, "master key file " + path + " cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  auto key = parse_master_key(text.str());
  if (!key) return fail(key.error().code, key.error().message + " (file " + path + ")");
  return key;
}

Result<void> write_master_key_file(const std::string& path, const MasterKey& key, bool replace,
                                   const std::optional<FileOwner>& owner) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.parent_path().empty() ? "." : target.parent_path();
  std::string temp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = mkstemp(temp.data());  // mode 0600, whatever the umask
  auto failure = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    unlink(temp.c_str());
    return fail(CRMSYNC_E_UNAVAILABLE, "master key file " + path + ": " + what + ": " + reason);
  };
  if (fd < 0) {
    return fail(CRMSYNC_E_UNAVAILABLE, "master key file " + path + ": cannot create a file in " +
                                           dir.string() + ": " + std::strerror(errno));
  }
  const std::string text = master_key_text(key) + "\n";
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       fchmod(fd, S_IRUSR | S_IWUSR) == 0 &&
                       (!owner || fchown(fd, owner->uid, owner->gid) == 0) && fsync(fd) == 0;
  const int write_errno = errno;
  close(fd);
  errno = write_errno;
  if (!written) return failure("cannot write it");
  if (replace) {
    if (rename(temp.c_str(), path.c_str()) != 0) return failure("cannot replace it");
  } else {
    // link() fails when the name exists: no window in which another writer's key is replaced.
    if (link(temp.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) {
        unlink(temp.c_str());
        return fail(CRMSYNC_E_CONFLICT, "master key file " + path + " exists already");
      }
      return failure("cannot create it");
    }
    unlink(temp.c_str());
  }
  // The new name is durable once the directory is.
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return {};
}

Result<MasterKey> load_master_key_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') {
    return fail(CRMSYNC_E_INVALID_CONFIG, "environment variable " + name + " is not set");
  }
  auto key = parse_master_key(value);
  if (!key) return fail(key.error().code, key.error().message + " (variable " + name + ")");
  return key;
}

Result<Sealed> seal(const MasterKey& key, std::string_view plaintext) {
  using namespace internal;
  Sealed out{key.id, std::string(1 + kNonceSize + plaintext.size() + kTagSize, '\0')};
  auto* blob = reinterpret_cast<unsigned char*>(out.blob.data());
  blob[0] = kFormatV1;
  unsigned char* nonce = blob + 1;
  unsigned char* cipher = nonce + kNonceSize;
  if (RAND_bytes(nonce, static_cast<int>(kNonceSize)) != 1) {
    return fail(CRMSYNC_E_INTERNAL, "no randomness for a nonce");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int tail = 0;
  const bool ok =
      ctx &&
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(key.id), static_cast<int>(key.id.size())) ==
          1 &&
      EVP_EncryptUpdate(ctx.get(), cipher, &len, bytes(plaintext),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), cipher + len, &tail) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                          cipher + plaintext.size()) == 1;
  if (!ok) return fail(CRMSYNC_E_INTERNAL, "AES-256-GCM encryption failed");
  return out;
}

Result<std::string> open(std::span<const MasterKey> keys, const Sealed& sealed) {
  using namespace internal;
  const MasterKey* key = nullptr;
  for (const auto& candidate : keys) {
    if (candidate.id == sealed.key_id) key = &candidate;
  }
  if (key == nullptr) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                "sealed with master key " + sealed.key_id + ", which is not loaded");
  }
  const std::string_view blob = sealed.blob;
  if (blob.size() < 1 + kNonceSize + kTagSize || static_cast<unsigned char>(blob[0]) != kFormatV1) {
    return fail(CRMSYNC_E_INVALID_INPUT, "sealed data is truncated or of an unknown format");
  }
  const auto* nonce = bytes(blob) + 1;
  const auto* cipher = nonce + kNonceSize;
  const size_t cipher_size = blob.size() - 1 - kNonceSize - kTagSize;
  std::string plain(cipher_size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(plain.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int tail = 0;
  // The tag is given as non-const to OpenSSL's ctrl API, which only reads it.
  std::string tag(blob.substr(blob.size() - kTagSize));
  const bool ok =
      ctx &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key->bytes.data(), nonce) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(key->id),
                        static_cast<int>(key->id.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), out, &len, cipher, static_cast<int>(cipher_size)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                          tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), out + len, &tail) == 1;
  if (!ok) {
    return fail(CRMSYNC_E_INVALID_INPUT,
                "sealed data failed authentication (wrong master key or tampered data)");
  }
  return plain;
}

}  // namespace crmsync::crypto
