// Private pieces of the plugin host shared by its sources: the library handle, the config schema,
// the per-instance context behind crmsync_host_ctx, and the defensive struct copy.
#ifndef CRMSYNC_CORE_PLUGIN_HOST_INTERNAL_H
#define CRMSYNC_CORE_PLUGIN_HOST_INTERNAL_H

#include <crmsync/connector.h>

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/result.h"
#include "plugin_host/host_services.h"
#include "plugin_host/plugin_host.h"

namespace crmsync::plugin_host::internal {

// Copies a struct a connector produced into a zeroed struct of the host's size: only
// min(struct_size, sizeof(T)) bytes are read, so fields newer than the producer read as zero and
// nothing past the producer's struct is touched. src must not be NULL.
template <class T>
T copy_struct(const T* src) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  T out;
  std::memset(&out, 0, sizeof out);
  uint32_t size = 0;
  std::memcpy(&size, src, sizeof size);
  std::memcpy(&out, src, std::min<size_t>(size, sizeof(T)));
  return out;
}

// A view is well-formed when its pointer is set or its length is zero.
inline bool well_formed(crmsync_str s) noexcept {
  return s.ptr != nullptr || s.len == 0;
}

// The view as std::string_view; callers check well_formed() on connector input first.
inline std::string_view view(crmsync_str s) noexcept {
  return s.len == 0 ? std::string_view{} : std::string_view{s.ptr, s.len};
}

inline crmsync_str str(std::string_view s) noexcept {
  return crmsync_str{s.data(), s.size()};
}

// A loaded library; unloaded when the last Connector or Instance holding it goes away.
class Library {
 public:
  explicit Library(boost::dll::shared_library library) : library_(std::move(library)) {}
  boost::dll::shared_library& get() noexcept { return library_; }

 private:
  boost::dll::shared_library library_;
};

// A connector's compiled config_schema and the names of its secret fields.
class ConfigSchema {
 public:
  // Compiles a schema; the error says why it cannot be used.
  static Result<std::unique_ptr<ConfigSchema>> compile(std::string_view text);
  ~ConfigSchema();

  // Checks a config; the error reads "config: field `company_id` is required".
  Result<void> validate(const nlohmann::json& config) const;

  // Every violation, most specific only (not the enclosing "failed to validate" ones).
  std::vector<FieldError> field_errors(const nlohmann::json& config) const;

  // Top-level properties marked "x-secret": true.
  const std::vector<std::string>& secret_fields() const noexcept { return secret_fields_; }

 private:
  ConfigSchema();
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  std::vector<std::string> secret_fields_;
};

// What set_error attached to the call in progress.
struct ErrorDetail {
  bool set = false;
  int32_t code = CRMSYNC_OK;
  std::string message;
  uint32_t retry_after_ms = 0;
};

// How an entry point ended: its code and what set_error attached.
struct Outcome {
  int32_t code = CRMSYNC_OK;
  ErrorDetail detail;
};

// Values the host hands to a connector that must stay valid until its entry point returns.
struct Scratch {
  ErrorDetail detail;
  std::deque<std::string> strings;
  std::deque<HttpResponse> responses;
  std::deque<std::vector<crmsync_http_header>> headers;
};

// The host side of one instance; crmsync_host_ctx points to it.
struct Context {
  HostServices* services = nullptr;
  std::string integration_id;
  std::map<std::string, std::string, std::less<>> secrets;
  // Scratch for host-service calls made on threads that are not running one of this instance's
  // entry points (a connector's own worker thread); kept until close.
  std::mutex stray_mutex;
  Scratch stray;
};

// Marks the current thread as running an entry point of ctx, so host services called from it find
// their scratch. Frames nest when a sink callback calls into another connector.
class Frame {
 public:
  explicit Frame(Context& context) noexcept;
  ~Frame();
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

  Scratch& scratch() noexcept { return scratch_; }

  // Runs fn with the scratch of context on this thread, or with the context's stray scratch.
  template <class Fn>
  static auto with_scratch(Context& context, Fn&& fn) {
    if (Frame* frame = find(context)) return fn(frame->scratch_);
    std::lock_guard lock(context.stray_mutex);
    return fn(context.stray);
  }

 private:
  static Frame* find(const Context& context) noexcept;
  Context& context_;
  Frame* outer_;
  Scratch scratch_;
};

// The host services table handed to every connector.
const crmsync_host_v1& host_table() noexcept;

inline crmsync_host_ctx* as_ctx(Context& context) noexcept {
  return reinterpret_cast<crmsync_host_ctx*>(&context);
}

}  // namespace crmsync::plugin_host::internal

#endif  // CRMSYNC_CORE_PLUGIN_HOST_INTERNAL_H
