// Parsing of the YAML configuration into crmsync::config::Config, with key-path error messages.
#include "config/config.h"

#include <utf8.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/json.h"

namespace crmsync::config {
namespace internal {

// Thrown by the readers below and caught in parse(): the walk is recursive and nearly every step
// can fail, so unwinding to one place keeps it readable. It never leaves this file.
struct ParseError {
  std::string message;
};

[[noreturn]] void fail_at(const std::string& path, const std::string& what) {
  throw ParseError{path + ": " + what};
}

std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string item(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

// Replaces every ${env:NAME} in value by the variable's value.
std::string expand_env(const std::string& value, const std::string& path) {
  static constexpr std::string_view kOpen = "${env:";
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = value.find(kOpen, pos);
    if (start == std::string::npos) break;
    size_t end = value.find('}', start);
    if (end == std::string::npos) fail_at(path, "unterminated ${env:...} reference");
    std::string name = value.substr(start + kOpen.size(), end - start - kOpen.size());
    if (name.empty()) fail_at(path, "empty variable name in ${env:}");
    const char* env = std::getenv(name.c_str());
    if (env == nullptr) fail_at(path, "environment variable " + name + " is not set");
    out.append(value, pos, start - pos).append(env);
    pos = end + 1;
  }
  return out.append(value, pos, std::string::npos);
}

// Text goes on into JSON and messages, so it must be UTF-8; YAML reads raw bytes as they are.
std::string checked_utf8(std::string s, const std::string& path, const char* what) {
  if (!utf8::is_valid(s.begin(), s.end())) fail_at(path, std::string(what) + " is not valid UTF-8");
  return s;
}

// A mapping key, which becomes part of the paths in messages.
std::string key_of(const YAML::Node& key, const std::string& path) {
  return checked_utf8(key.as<std::string>(), path.empty() ? "config" : path, "a key");
}

// A scalar's text with environment references expanded.
std::string text(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) fail_at(path, "expected a single value");
  return checked_utf8(expand_env(node.Scalar(), path), path, "the value");
}

// Fails on keys of a mapping that are not in allowed (catches typos that would otherwise silently
// fall back to defaults).
void check_mapping(const YAML::Node& node, const std::string& path,
                   std::initializer_list<std::string_view> allowed) {
  if (!node.IsMap()) fail_at(path.empty() ? "config" : path, "expected a mapping");
  for (const auto& entry : node) {
    const std::string key = key_of(entry.first, path);
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (!known) fail_at(child(path, key), "unknown key");
  }
}

// Reads node[key] into out if present; a present key must not be empty.
void read_string(const YAML::Node& node, const std::string& path, const char* key,
                 std::string& out) {
  const YAML::Node value = node[key];
  if (!value) return;
  if (value.IsNull()) fail_at(child(path, key), "value is empty");
  out = text(value, child(path, key));
}

std::string required_string(const YAML::Node& node, const std::string& path, const char* key) {
  std::string out;
  read_string(node, path, key, out);
  if (out.empty()) fail_at(child(path, key), "required");
  return out;
}

uint64_t read_uint(const YAML::Node& node, const std::string& path, const char* key,
                   uint64_t current, uint64_t min, uint64_t max) {
  const YAML::Node value = node[key];
  if (!value) return current;
  const std::string where = child(path, key);
  const std::string s = text(value, where);
  uint64_t out = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{} || end != s.data() + s.size()) {
    fail_at(where, "expected a whole number, got \"" + s + "\"");
  }
  if (out < min || out > max) {
    fail_at(where, std::to_string(out) + " is out of range " + std::to_string(min) + ".." +
                       std::to_string(max));
  }
  return out;
}

bool read_bool(const YAML::Node& node, const std::string& path, const char* key, bool current) {
  const YAML::Node value = node[key];
  if (!value) return current;
  const std::string s = text(value, child(path, key));
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  fail_at(child(path, key), "expected true or false, got \"" + s + "\"");
}

// A list of strings; a single string is accepted as a list of one.
std::vector<std::string> read_list(const YAML::Node& node, const std::string& path,
                                   const char* key) {
  const YAML::Node value = node[key];
  std::vector<std::string> out;
  if (!value || value.IsNull()) return out;
  const std::string where = child(path, key);
  if (value.IsScalar()) return {text(value, where)};
  if (!value.IsSequence()) fail_at(where, "expected a list");
  for (size_t i = 0; i < value.size(); ++i) out.push_back(text(value[i], item(where, i)));
  return out;
}

// A YAML subtree as JSON. Plain scalars get JSON types (null, booleans, numbers); quoted ones stay
// strings, so `company_id: "123"` is a string and `company_id: 123` a number.
nlohmann::json to_json(const YAML::Node& node, const std::string& path) {
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& entry : node) {
      const std::string key = key_of(entry.first, path);
      out[key] = to_json(entry.second, child(path, key));
    }
    return out;
  }
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < node.size(); ++i) out.push_back(to_json(node[i], item(path, i)));
    return out;
  }
  if (node.IsNull()) return nullptr;
  const std::string s = text(node, path);
  if (node.Tag() == "!") return s;  // quoted
  if (s == "null" || s == "~") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  int64_t integer = 0;
  if (auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), integer);
      ec == std::errc{} && end == s.data() + s.size()) {
    return integer;
  }
  if (s.find_first_of("0123456789") != std::string::npos &&
      s.find_first_not_of("0123456789+-.eE") == std::string::npos) {
    char* end = nullptr;
    double number = std::strtod(s.c_str(), &end);
    if (end == s.c_str() + s.size()) return number;
  }
  return s;
}

void resolve(std::string& file, const std::filesystem::path& base_dir) {
  if (!file.empty() && !base_dir.empty() && std::filesystem::path(file).is_relative()) {
    file = (base_dir / file).lexically_normal().string();
  }
}

// Connector and integration ids become file names and external-id prefixes: keep them simple.
bool is_simple_id(const std::string& id) {
  return !id.empty() &&
         id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
}

bool is_upper(const std::string& s, size_t length) {
  return s.size() == length &&
         s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos;
}

IntegrationConfig read_integration(const YAML::Node& node, const std::string& path,
                                   std::set<std::string>& seen_ids) {
  check_mapping(node, path, {"id", "connector", "active", "settings", "webhook"});
  IntegrationConfig out;
  out.id = required_string(node, path, "id");
  if (!seen_ids.insert(out.id).second) {
    fail_at(child(path, "id"), "duplicate integration id \"" + out.id + "\"");
  }
  out.connector = required_string(node, path, "connector");
  if (!is_simple_id(out.connector)) {
    fail_at(child(path, "connector"), "\"" + out.connector + "\" is not a connector id");
  }
  out.active = read_bool(node, path, "active", out.active);
  if (const YAML::Node settings = node["settings"]; settings && !settings.IsNull()) {
    if (!settings.IsMap()) fail_at(child(path, "settings"), "expected a mapping");
    out.settings_json = dump_json(to_json(settings, child(path, "settings")));
  }
  if (const YAML::Node webhook = node["webhook"]; webhook && !webhook.IsNull()) {
    const std::string where = child(path, "webhook");
    check_mapping(webhook, where, {"auth", "secrets"});
    WebhookConfig config;
    read_string(webhook, where, "auth", config.auth);
    config.secrets = read_list(webhook, where, "secrets");
    out.webhook = std::move(config);
  }
  return out;
}

BusinessConfig read_business(const YAML::Node& node, const std::string& path,
                             std::set<std::string>& seen_integrations) {
  check_mapping(node, path, {"id", "name", "timezone", "region", "currency", "integrations"});
  BusinessConfig out;
  out.id = required_string(node, path, "id");
  out.name = required_string(node, path, "name");
  read_string(node, path, "timezone", out.timezone);
  read_string(node, path, "region", out.region);
  if (!is_upper(out.region, 2)) fail_at(child(path, "region"), "expected a country code like RU");
  read_string(node, path, "currency", out.currency);
  if (!is_upper(out.currency, 3)) fail_at(child(path, "currency"), "expected ISO 4217 like RUB");
  if (const YAML::Node list = node["integrations"]; list && !list.IsNull()) {
    const std::string where = child(path, "integrations");
    if (!list.IsSequence()) fail_at(where, "expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      out.integrations.push_back(read_integration(list[i], item(where, i), seen_integrations));
    }
  }
  return out;
}

Config read_config(const YAML::Node& root, const std::filesystem::path& base_dir) {
  if (!root.IsMap()) fail_at("config", "expected a mapping at the top level");
  check_mapping(root, "",
                {"storage", "plugins", "server", "http", "scheduler", "secrets", "alerts",
                 "loyalty", "businesses"});
  Config c;
  if (const YAML::Node n = root["storage"]) {
    check_mapping(n, "storage", {"backend", "path", "url"});
    read_string(n, "storage", "backend", c.storage.backend);
    read_string(n, "storage", "path", c.storage.path);
    read_string(n, "storage", "url", c.storage.url);
    if (n["path"]) resolve(c.storage.path, base_dir);  // the default stays in the working dir
  }
  if (c.storage.backend != "sqlite" && c.storage.backend != "postgres") {
    fail_at("storage.backend", "expected sqlite or postgres, got \"" + c.storage.backend + "\"");
  }
  if (c.storage.backend == "postgres" && c.storage.url.empty()) {
    fail_at("storage.url", "required for backend postgres");
  }

  if (const YAML::Node n = root["plugins"]) {
    check_mapping(n, "plugins", {"dir", "enabled"});
    read_string(n, "plugins", "dir", c.plugins.dir);
    c.plugins.enabled = read_list(n, "plugins", "enabled");
    std::set<std::string> seen;
    for (size_t i = 0; i < c.plugins.enabled.size(); ++i) {
      const std::string& id = c.plugins.enabled[i];
      if (!is_simple_id(id))
        fail_at(item("plugins.enabled", i), "\"" + id + "\" is not a connector id");
      if (!seen.insert(id).second) fail_at(item("plugins.enabled", i), "duplicate \"" + id + "\"");
    }
  }
  resolve(c.plugins.dir, base_dir);

  if (const YAML::Node n = root["server"]) {
    check_mapping(n, "server",
                  {"listen", "port", "public_url", "threads", "max_body_bytes", "webhook_workers",
                   "webhook_max_lag", "max_upload_bytes", "api_workers", "max_connections",
                   "max_inflight_body_bytes"});
    read_string(n, "server", "listen", c.server.listen);
    c.server.port = static_cast<uint16_t>(read_uint(n, "server", "port", c.server.port, 1, 65535));
    read_string(n, "server", "public_url", c.server.public_url);
    c.server.threads =
        static_cast<uint32_t>(read_uint(n, "server", "threads", c.server.threads, 1, 64));
    c.server.max_body_bytes =
        read_uint(n, "server", "max_body_bytes", c.server.max_body_bytes, 1024, 64ull << 20);
    c.server.webhook_workers = static_cast<uint32_t>(
        read_uint(n, "server", "webhook_workers", c.server.webhook_workers, 1, 64));
    c.server.webhook_max_lag_seconds = static_cast<uint32_t>(
        read_uint(n, "server", "webhook_max_lag", c.server.webhook_max_lag_seconds, 1, 3600));
    c.server.max_upload_bytes =
        read_uint(n, "server", "max_upload_bytes", c.server.max_upload_bytes, 1024, 1ull << 30);
    c.server.api_workers =
        static_cast<uint32_t>(read_uint(n, "server", "api_workers", c.server.api_workers, 1, 64));
    c.server.max_connections = static_cast<uint32_t>(
        read_uint(n, "server", "max_connections", c.server.max_connections, 1, 1'000'000));
    c.server.max_inflight_body_bytes =
        read_uint(n, "server", "max_inflight_body_bytes", c.server.max_inflight_body_bytes,
                  1ull << 20, 64ull << 30);
    if (c.server.max_inflight_body_bytes < c.server.max_upload_bytes + (1ull << 20)) {
      fail_at("server.max_inflight_body_bytes",
              "must be at least server.max_upload_bytes + 1 MiB, or an upload (with its "
              "framing) could never be read");
    }
  }
  if (const YAML::Node n = root["scheduler"]) {
    check_mapping(n, "scheduler", {"interval", "workers", "run_lease"});
    constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
    c.scheduler.interval_seconds = static_cast<uint32_t>(
        read_uint(n, "scheduler", "interval", c.scheduler.interval_seconds, 1, kMax));
    c.scheduler.workers =
        static_cast<uint32_t>(read_uint(n, "scheduler", "workers", c.scheduler.workers, 1, 1024));
    c.scheduler.run_lease_seconds = static_cast<uint32_t>(
        read_uint(n, "scheduler", "run_lease", c.scheduler.run_lease_seconds, 1, 86400));
  }
  if (const YAML::Node n = root["secrets"]) {
    check_mapping(n, "secrets", {"master_key_file", "master_key_env"});
    read_string(n, "secrets", "master_key_file", c.secrets.master_key_file);
    read_string(n, "secrets", "master_key_env", c.secrets.master_key_env);
  }
  resolve(c.secrets.master_key_file, base_dir);
  if (const YAML::Node n = root["alerts"]) {
    check_mapping(n, "alerts", {"smtp_url", "from", "to"});
    read_string(n, "alerts", "smtp_url", c.alerts.smtp_url);
    read_string(n, "alerts", "from", c.alerts.from);
    c.alerts.to = read_list(n, "alerts", "to");
  }
  if (const YAML::Node n = root["http"]) {
    check_mapping(n, "http", {"allow_private"});
    c.http.allow_private = read_list(n, "http", "allow_private");
  }
  if (const YAML::Node n = root["loyalty"]) {
    check_mapping(n, "loyalty", {"url"});
    read_string(n, "loyalty", "url", c.loyalty.url);
  }
  if (const YAML::Node list = root["businesses"]; list && !list.IsNull()) {
    if (!list.IsSequence()) fail_at("businesses", "expected a list");
    std::set<std::string> business_ids;
    std::set<std::string> integration_ids;
    for (size_t i = 0; i < list.size(); ++i) {
      BusinessConfig business = read_business(list[i], item("businesses", i), integration_ids);
      if (!business_ids.insert(business.id).second) {
        fail_at(item("businesses", i) + ".id", "duplicate business id \"" + business.id + "\"");
      }
      c.businesses.push_back(std::move(business));
    }
  }
  return c;
}

}  // namespace internal

Result<Config> parse(std::string_view yaml, const std::filesystem::path& base_dir) {
  try {
    return internal::read_config(YAML::Load(std::string(yaml)), base_dir);
  } catch (const internal::ParseError& e) {
    return fail(CRMSYNC_E_INVALID_CONFIG, e.message);
  } catch (const YAML::Exception& e) {
    // Marks are zero-based; editors count from one.
    return fail(CRMSYNC_E_INVALID_CONFIG, "line " + std::to_string(e.mark.line + 1) + ", column " +
                                              std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

Result<Config> load_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(CRMSYNC_E_INVALID_CONFIG, file.string() + ": cannot read: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  Result<Config> config = parse(text.str(), file.parent_path());
  if (!config) return fail(config.error().code, file.string() + ": " + config.error().message);
  return config;
}

}  // namespace crmsync::config
