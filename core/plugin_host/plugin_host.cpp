// PluginHost: loading connector libraries, the ABI checks, and opening instances.
#include "plugin_host/plugin_host.h"

#include <dlfcn.h>

#include <cstddef>
#include <tuple>

#include "base/json.h"

#include "plugin_host/internal.h"

namespace crmsync::plugin_host {
namespace internal {

// Size of crmsync_connector_v1 as released in ABI 1.0 (through push_bonus). Later minors append
// fields, so this stays fixed while sizeof grows.
constexpr size_t kConnectorV1_0Size =
    offsetof(crmsync_connector_v1, push_bonus) + sizeof(crmsync_connector_v1::push_bonus);

// More limits than any provider has means a garbage count.
constexpr uint32_t kMaxRateLimits = 8;

constexpr uint64_t kKnownCapabilities =
    CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL | CRMSYNC_CAP_WEBHOOK | CRMSYNC_CAP_PUSH_BONUS;

bool is_connector_id(const char* id) {
  const std::string_view s = id;
  return !s.empty() &&
         s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string_view::npos;
}

// The reason a descriptor is refused, or empty when it passes the ABI checks.
std::string check_descriptor(const crmsync_connector_v1& d) {
  if (d.abi_minor_required > CRMSYNC_ABI_MINOR) {
    return "needs minor " + std::to_string(d.abi_minor_required) + " but host has " +
           std::to_string(CRMSYNC_ABI_MINOR);
  }
  if (d.id == nullptr || !is_connector_id(d.id)) {
    return "id must be non-empty lower-case letters, digits and '_'";
  }
  const std::pair<const char*, const char*> strings[] = {{"display_name", d.display_name},
                                                         {"vendor", d.vendor},
                                                         {"version", d.version},
                                                         {"config_schema", d.config_schema}};
  for (const auto& [name, value] : strings) {
    if (value == nullptr) return std::string(name) + " is NULL";
  }
  const std::pair<const char*, bool> required[] = {{"open", d.open != nullptr},
                                                   {"close", d.close != nullptr},
                                                   {"health_check", d.health_check != nullptr}};
  for (const auto& [name, present] : required) {
    if (!present) return std::string("missing required function ") + name;
  }
  if (d.capabilities & ~kKnownCapabilities) {
    return "unknown capability bits " + std::to_string(d.capabilities & ~kKnownCapabilities);
  }
  const std::tuple<uint64_t, const char*, bool, const char*> capabilities[] = {
      {CRMSYNC_CAP_FETCH, "FETCH", d.fetch != nullptr, "fetch"},
      {CRMSYNC_CAP_WEBHOOK, "WEBHOOK", d.parse_webhook != nullptr, "parse_webhook"},
      {CRMSYNC_CAP_PUSH_BONUS, "PUSH_BONUS", d.push_bonus != nullptr, "push_bonus"},
      {CRMSYNC_CAP_INCREMENTAL, "INCREMENTAL", (d.capabilities & CRMSYNC_CAP_FETCH) != 0,
       "capability FETCH"}};
  for (const auto& [flag, name, present, needed] : capabilities) {
    if ((d.capabilities & flag) && !present) {
      return std::string("capability ") + name + " without " + needed;
    }
  }
  if (d.rate_limit_count > kMaxRateLimits) {
    return "rate_limit_count " + std::to_string(d.rate_limit_count) + " is above " +
           std::to_string(kMaxRateLimits);
  }
  if (d.rate_limit_count > 0 && d.rate_limits == nullptr) return "rate_limits is NULL";
  for (uint32_t i = 0; i < d.rate_limit_count; ++i) {
    if (d.rate_limits[i].requests == 0 || d.rate_limits[i].per_ms == 0) {
      return "rate_limits[" + std::to_string(i) + "] needs requests > 0 and per_ms > 0";
    }
  }
  return {};
}

}  // namespace internal

std::vector<std::string> capability_names(uint64_t capabilities) {
  const std::pair<uint64_t, const char*> names[] = {{CRMSYNC_CAP_FETCH, "FETCH"},
                                                    {CRMSYNC_CAP_INCREMENTAL, "INCREMENTAL"},
                                                    {CRMSYNC_CAP_WEBHOOK, "WEBHOOK"},
                                                    {CRMSYNC_CAP_PUSH_BONUS, "PUSH_BONUS"}};
  std::vector<std::string> out;
  for (const auto& [flag, name] : names) {
    if (capabilities & flag) out.emplace_back(name);
  }
  return out;
}

Connector::Connector(std::filesystem::path path, std::shared_ptr<internal::Library> library,
                     const crmsync_connector_v1& descriptor,
                     std::unique_ptr<internal::ConfigSchema> schema)
    : path_(std::move(path)),
      library_(std::move(library)),
      descriptor_(descriptor),
      schema_(std::move(schema)) {}

Connector::~Connector() = default;

const std::vector<std::string>& Connector::secret_fields() const noexcept {
  return schema_->secret_fields();
}

Result<void> Connector::validate_settings(std::string_view settings_json) const {
  if (!sdk::json_depth_within(settings_json)) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                "config: nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  nlohmann::json settings = nlohmann::json::parse(settings_json, nullptr, false);
  if (settings.is_discarded()) return fail(CRMSYNC_E_INVALID_CONFIG, "config: not valid JSON");
  if (!settings.is_object())
    return fail(CRMSYNC_E_INVALID_CONFIG, "config: expected a JSON object");
  return schema_->validate(settings);
}

std::vector<FieldError> Connector::settings_errors(std::string_view settings_json) const {
  if (!sdk::json_depth_within(settings_json)) {
    return {{"", "nests deeper than " + std::to_string(kMaxJsonDepth) + " levels"}};
  }
  nlohmann::json settings = nlohmann::json::parse(settings_json, nullptr, false);
  if (settings.is_discarded()) return {{"", "not valid JSON"}};
  if (!settings.is_object()) return {{"", "expected a JSON object"}};
  return schema_->field_errors(settings);
}

PluginHost::PluginHost() = default;
PluginHost::~PluginHost() = default;

LoadResult PluginHost::load(const std::filesystem::path& path) {
  LoadResult result;
  result.path = path;
  auto refuse = [&](const std::string& reason) {
    result.error = path.string() + ": " + reason;
    return result;
  };
  std::error_code exists_error;
  if (!std::filesystem::is_regular_file(path, exists_error)) return refuse("no such file");

  boost::dll::shared_library library;
  boost::dll::fs::error_code load_error;
  library.load(boost::dll::fs::path(path.string()),
               boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now, load_error);
  if (load_error) {
    const char* why = dlerror();  // Boost.DLL reports only "bad file descriptor"
    return refuse(std::string("cannot load: ") + (why ? why : load_error.message()));
  }
  if (!library.has(CRMSYNC_CONNECTOR_ENTRY_V1_SYMBOL)) {
    return refuse("missing symbol " CRMSYNC_CONNECTOR_ENTRY_V1_SYMBOL
                  " (not a crmsync connector, or built for another ABI major)");
  }
  auto library_handle = std::make_shared<internal::Library>(std::move(library));
  auto& entry =
      library_handle->get().get<int32_t(const crmsync_host_v1*, const crmsync_connector_v1**)>(
          CRMSYNC_CONNECTOR_ENTRY_V1_SYMBOL);

  const crmsync_connector_v1* raw = nullptr;
  const int32_t code = entry(&internal::host_table(), &raw);
  if (code != CRMSYNC_OK) {
    return refuse(std::string("entry point refused the host with ") + code_name(code));
  }
  if (raw == nullptr) return refuse("entry point returned no descriptor");

  // Read the header fields on their own first: a descriptor of another major has another layout,
  // and a short one must not be read past its end.
  uint32_t size = 0;
  std::memcpy(&size, raw, sizeof size);
  if (size >= offsetof(crmsync_connector_v1, abi_minor_required)) {
    uint32_t major = 0;
    std::memcpy(&major,
                reinterpret_cast<const char*>(raw) + offsetof(crmsync_connector_v1, abi_major),
                sizeof major);
    if (major != CRMSYNC_ABI_MAJOR) {
      return refuse("built for ABI " + std::to_string(major) + ", host supports ABI " +
                    std::to_string(CRMSYNC_ABI_MAJOR));
    }
  }
  if (size < internal::kConnectorV1_0Size) {
    return refuse("descriptor struct_size " + std::to_string(size) + " is smaller than v1.0 (" +
                  std::to_string(internal::kConnectorV1_0Size) + ")");
  }
  const crmsync_connector_v1 descriptor = internal::copy_struct(raw);
  if (std::string reason = internal::check_descriptor(descriptor); !reason.empty()) {
    return refuse(reason);
  }
  result.id = descriptor.id;
  auto schema = internal::ConfigSchema::compile(descriptor.config_schema);
  if (!schema) return refuse(schema.error().message);
  if (const Connector* other = find(descriptor.id)) {
    return refuse("connector id `" + result.id + "` is already loaded from " +
                  other->path().string());
  }
  connectors_.push_back(std::unique_ptr<Connector>(
      new Connector(path, std::move(library_handle), descriptor, std::move(schema.value()))));
  result.connector = connectors_.back().get();
  return result;
}

std::vector<LoadResult> PluginHost::load_all(const config::Config& config) {
  std::vector<LoadResult> results;
  std::vector<std::string> ids = config.plugins.enabled;
  if (ids.empty()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(config.plugins.dir, ec)) {
      if (entry.path().extension() == ".so") ids.push_back(entry.path().stem().string());
    }
    std::sort(ids.begin(), ids.end());
  }
  for (const std::string& id : ids) {
    const std::filesystem::path path = std::filesystem::path(config.plugins.dir) / (id + ".so");
    LoadResult result;
    if (const Connector* loaded = find(id)) {
      result.path = loaded->path();
      result.connector = loaded;
    } else {
      result = load(path);
    }
    if (result.ok() && result.connector->id() != id) {
      // Refuse before anyone uses it under the wrong name; its library unloads with it.
      result.error = path.string() + ": descriptor id `" + std::string(result.connector->id()) +
                     "` does not match the file name";
      std::erase_if(connectors_, [&](const auto& c) { return c.get() == result.connector; });
      result.connector = nullptr;
    }
    result.id = id;
    results.push_back(std::move(result));
  }
  return results;
}

const Connector* PluginHost::find(std::string_view id) const {
  for (const auto& connector : connectors_) {
    if (connector->id() == id) return connector.get();
  }
  return nullptr;
}

std::vector<const Connector*> PluginHost::connectors() const {
  std::vector<const Connector*> out;
  for (const auto& connector : connectors_) out.push_back(connector.get());
  return out;
}

Result<std::unique_ptr<Instance>> PluginHost::open_instance(
    std::string_view connector_id, std::string_view integration_id, std::string_view settings_json,
    std::string_view timezone, std::string_view currency, HostServices& services) const {
  const Connector* connector = find(connector_id);
  if (connector == nullptr) {
    return fail(CRMSYNC_E_NOT_FOUND, "connector `" + std::string(connector_id) + "` is not loaded");
  }
  auto refuse = [&](const std::string& reason) {
    return fail(CRMSYNC_E_INVALID_CONFIG, connector->path().string() + ": " + reason);
  };
  if (Result<void> valid = connector->validate_settings(settings_json); !valid) {
    return refuse(valid.error().message);
  }
  nlohmann::json settings = parse_json_or_discarded(settings_json);

  auto context = std::make_unique<internal::Context>();
  context->services = &services;
  context->integration_id = integration_id;
  for (const std::string& name : connector->schema_->secret_fields()) {
    auto it = settings.find(name);
    if (it == settings.end()) continue;
    context->secrets.emplace(name, it->is_string() ? it->get<std::string>() : dump_json(*it));
    settings.erase(it);
  }
  return Instance::open(connector->path_, connector->library_, connector->descriptor_,
                        std::move(context), dump_json(settings), timezone, currency);
}

}  // namespace crmsync::plugin_host
