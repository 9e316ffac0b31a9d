// Cryptographic helpers of the host: sealing integration credentials under a master key
// (AES-256-GCM), SHA-256 and HMAC-SHA256 for dedup keys, webhooks and API keys, and a
// constant-time comparison. Everything is a thin layer over OpenSSL 3.
#ifndef CRMSYNC_CORE_CRYPTO_CRYPTO_H
#define CRMSYNC_CORE_CRYPTO_CRYPTO_H

#include "base/result.h"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace crmsync::crypto {

// Lower-case hex SHA-256 of data.
std::string sha256_hex(std::string_view data);

// Raw 32-byte HMAC-SHA256 of data under key (Standard Webhooks wants it base64-encoded).
std::string hmac_sha256(std::string_view key, std::string_view data);

// Lower-case hex HMAC-SHA256 of data under key.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Lower-case hex of arbitrary bytes.
std::string to_hex(std::string_view bytes);

// Standard base64 (with padding) of bytes, and its inverse; decoding rejects malformed input.
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

// Compares two secrets without leaking where they differ through timing (lengths may leak).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// A 256-bit master key and its id. The id is a fingerprint derived from the key, so rotation
// needs no naming scheme: ciphertexts remember which key sealed them.
struct MasterKey {
  std::string id;
  std::array<unsigned char, 32> bytes{};
};

// Reads a master key from text: 64 hex digits or base64 of 32 bytes; surrounding whitespace is
// ignored. Anything else is INVALID_CONFIG with a message that never echoes the text.
Result<MasterKey> parse_master_key(std::string_view text);

// A fresh random master key (OpenSSL's CSPRNG), and its text form for a key file (64 hex digits).
Result<MasterKey> generate_master_key();
std::string master_key_text(const MasterKey& key);

// Reads a master key from a file holding it as parse_master_key accepts.
Result<MasterKey> load_master_key_file(const std::string& path);

// Who should own a key file written by root for a service (keys generate --owner).
struct FileOwner {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// Writes key to path as master_key_text and a newline, mode 0600 whatever the umask, owned by
// owner when given. The file appears whole or not at all (a temporary file in the same directory,
// flushed to disk, then linked or renamed into place); an existing file is an error (CONFLICT)
// unless replace is set.
Result<void> write_master_key_file(const std::string& path, const MasterKey& key, bool replace,
                                   const std::optional<FileOwner>& owner = std::nullopt);

// Reads a master key from an environment variable holding it as parse_master_key accepts.
Result<MasterKey> load_master_key_env(const std::string& name);

// A sealed secret: the id of the key that sealed it and the blob
// (format byte 0x01 | 12-byte random nonce | ciphertext | 16-byte GCM tag).
struct Sealed {
  std::string key_id;
  std::string blob;
};

// Encrypts plaintext under key with a fresh random nonce; the key id is authenticated too.
Result<Sealed> seal(const MasterKey& key, std::string_view plaintext);

// Decrypts sealed with whichever of keys has its key id. A missing key is INVALID_CONFIG; a
// wrong key or altered data is INVALID_INPUT ("failed authentication"), never garbage.
Result<std::string> open(std::span<const MasterKey> keys, const Sealed& sealed);

}  // namespace crmsync::crypto

#endif  // CRMSYNC_CORE_CRYPTO_CRYPTO_H
