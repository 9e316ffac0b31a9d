// crmsync connector SDK: header-only C++20 helper over the C ABI in connector.h.
//
// A C++ connector derives from crmsync::sdk::Connector, overrides the entry points it supports,
// and exports itself with one macro:
//
//   class Hello : public crmsync::sdk::Connector {
//    public:
//     Hello(crmsync::sdk::Host host, const crmsync::sdk::OpenArgs& args);
//     std::string health_check() override { return "✅ Connected"; }
//     void fetch(std::string_view cursor, crmsync::sdk::Sink& sink) override;
//   };
//   CRMSYNC_CONNECTOR(Hello, {.id = "hello", .display_name = "Hello", .vendor = "Example",
//                             .version = "1.0.0", .config_schema = R"({"type":"object"})",
//                             .capabilities = CRMSYNC_CAP_FETCH})
//
// Errors are exceptions on the C++ side: throw crmsync::sdk::Error(code, message) to return a
// specific code; any other exception becomes CRMSYNC_E_INTERNAL with its what() as the message.
// Nothing unwinds across the C boundary. Host services that fail throw Error with the host's code.
// The helper adds no allocator or state shared between instances.
#ifndef CRMSYNC_CONNECTOR_HPP
#define CRMSYNC_CONNECTOR_HPP

#include <crmsync/connector.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crmsync::sdk {

// Converts a borrowed C view to std::string_view (same lifetime).
inline std::string_view view(crmsync_str s) noexcept {
  return s.len == 0 ? std::string_view{} : std::string_view{s.ptr, s.len};
}

// Converts a std::string_view to a borrowed C view (same lifetime).
inline crmsync_str str(std::string_view s) noexcept {
  return crmsync_str{s.data(), s.size()};
}

// An error with an ABI code, thrown by connector code and by the helpers below.
class Error : public std::runtime_error {
 public:
  Error(int32_t code, const std::string& message, uint32_t retry_after_ms = 0)
      : std::runtime_error(message), code_(code), retry_after_ms_(retry_after_ms) {}
  int32_t code() const noexcept { return code_; }
  uint32_t retry_after_ms() const noexcept { return retry_after_ms_; }

 private:
  int32_t code_;
  uint32_t retry_after_ms_;
};

// An HTTP response copied out of the host's buffers, so it outlives the next request.
struct HttpResponse {
  int32_t status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key.size() == name.size()) {
        bool same = true;
        for (size_t i = 0; i < key.size() && same; ++i) {
          same = (key[i] | 0x20) == (name[i] | 0x20);
        }
        if (same) return value;
      }
    }
    return std::nullopt;
  }
};

// An HTTP request built by a connector.
struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint32_t timeout_ms = 0;
  bool no_retry = false;
  bool sensitive = false;  // CRMSYNC_HTTP_SENSITIVE: personal or medical data in the bodies
};

// The host's services bound to one instance. Cheap to copy; valid until the instance closes.
class Host {
 public:
  Host(const crmsync_host_v1* host, crmsync_host_ctx* ctx) : host_(host), ctx_(ctx) {}

  // Runs a request through the host (rate limit, retries, TLS). Throws Error when no response
  // arrived; a 4xx/5xx response is returned for the connector to interpret.
  HttpResponse http(const HttpRequest& request) const {
    std::vector<crmsync_http_header> headers;
    headers.reserve(request.headers.size());
    for (const auto& [name, value] : request.headers) headers.push_back({str(name), str(value)});
    crmsync_http_request_v1 c_request{};
    c_request.struct_size = sizeof c_request;
    c_request.method = str(request.method);
    c_request.url = str(request.url);
    c_request.headers = headers.data();
    c_request.header_count = headers.size();
    c_request.body = str(request.body);
    c_request.timeout_ms = request.timeout_ms;
    c_request.flags = (request.no_retry ? CRMSYNC_HTTP_NO_RETRY : 0u) |
                      (request.sensitive ? CRMSYNC_HTTP_SENSITIVE : 0u);
    crmsync_http_response_v1 c_response{};
    c_response.struct_size = sizeof c_response;
    int32_t code = host_->http(ctx_, &c_request, &c_response);
    if (code != CRMSYNC_OK) throw Error(code, "HTTP " + request.method + " failed");
    HttpResponse response;
    response.status = c_response.status;
    response.body.assign(view(c_response.body));
    for (size_t i = 0; i < c_response.header_count; ++i) {
      response.headers.emplace_back(std::string(view(c_response.headers[i].name)),
                                    std::string(view(c_response.headers[i].value)));
    }
    return response;
  }

  void log(int32_t level, std::string_view message) const { host_->log(ctx_, level, str(message)); }
  int64_t now_ms() const { return host_->now_ms(ctx_); }
  bool cancelled() const { return host_->is_cancelled(ctx_) != 0; }

  // A durable value with its version (for compare-and-set).
  struct Versioned {
    std::string value;
    uint64_t version = 0;
  };

  // The durable value of key, or nullopt when absent.
  std::optional<Versioned> state_get(std::string_view key) const {
    crmsync_str value{};
    uint64_t version = 0;
    int32_t code = host_->state_get(ctx_, str(key), &value, &version);
    if (code == CRMSYNC_E_NOT_FOUND) return std::nullopt;
    if (code != CRMSYNC_OK) throw Error(code, "state_get failed");
    return Versioned{std::string(view(value)), version};
  }

  // Sets key if its version is still expected_version (0: absent). Returns the new version, or
  // nullopt when another writer won (CONFLICT).
  std::optional<uint64_t> state_cas(std::string_view key, uint64_t expected_version,
                                    std::string_view value) const {
    uint64_t new_version = 0;
    int32_t code = host_->state_cas(ctx_, str(key), expected_version, str(value), &new_version);
    if (code == CRMSYNC_E_CONFLICT) return std::nullopt;
    if (code != CRMSYNC_OK) throw Error(code, "state_cas failed");
    return new_version;
  }

  // A secret setting, or nullopt when unset.
  std::optional<std::string> secret(std::string_view name) const {
    crmsync_str value{};
    int32_t code = host_->secret_get(ctx_, str(name), &value);
    if (code == CRMSYNC_E_NOT_FOUND) return std::nullopt;
    if (code != CRMSYNC_OK) throw Error(code, "secret_get failed");
    return std::string(view(value));
  }

  const crmsync_host_v1* raw() const noexcept { return host_; }
  crmsync_host_ctx* ctx() const noexcept { return ctx_; }

 private:
  const crmsync_host_v1* host_;
  crmsync_host_ctx* ctx_;
};

// What open() received, copied into owning strings.
struct OpenArgs {
  std::string integration_id;
  std::string config_json;
  std::string timezone;
  std::string currency;
};

// One sale line, owning its strings.
struct LineItem {
  std::string name;
  std::string quantity;
  std::optional<int64_t> amount_minor;  // set: minor units; unset: `amount` is a decimal string
  std::string amount;
};

// One sale, owning its strings; see crmsync_record_v1 for the meaning of each field.
struct Record {
  std::string external_id;
  std::string occurred_at;
  std::optional<int64_t> amount_minor;  // set: minor units; unset: `amount` is a decimal string
  std::string amount;
  std::string currency;
  std::string customer_phone;
  std::string customer_ref;
  std::string description;
  std::vector<LineItem> items;
  bool medical = false;
  std::string raw_json;
  std::string locator;
};

// The host's sink for one call. Throws Error when the host refuses data (the connector should let
// it propagate).
class Sink {
 public:
  explicit Sink(const crmsync_sink_v1* sink) : sink_(sink) {}

  void record(const Record& r) const {
    std::vector<crmsync_line_item_v1> items(r.items.size());
    std::vector<const crmsync_line_item_v1*> item_ptrs(r.items.size());
    for (size_t i = 0; i < r.items.size(); ++i) {
      crmsync_line_item_v1& item = items[i];
      item.struct_size = sizeof item;
      item.name = str(r.items[i].name);
      item.quantity = str(r.items[i].quantity);
      item.amount_kind = r.items[i].amount_minor ? CRMSYNC_AMOUNT_MINOR : CRMSYNC_AMOUNT_DECIMAL;
      item.amount = str(r.items[i].amount);
      item.amount_minor = r.items[i].amount_minor.value_or(0);
      item_ptrs[i] = &item;
    }
    crmsync_record_v1 c{};
    c.struct_size = sizeof c;
    c.external_id = str(r.external_id);
    c.occurred_at = str(r.occurred_at);
    c.amount_kind = r.amount_minor ? CRMSYNC_AMOUNT_MINOR : CRMSYNC_AMOUNT_DECIMAL;
    c.amount = str(r.amount);
    c.amount_minor = r.amount_minor.value_or(0);
    c.currency = str(r.currency);
    c.customer_phone = str(r.customer_phone);
    c.customer_ref = str(r.customer_ref);
    c.description = str(r.description);
    c.items = item_ptrs.data();
    c.item_count = item_ptrs.size();
    c.flags = r.medical ? CRMSYNC_RECORD_MEDICAL : 0u;
    c.raw_json = str(r.raw_json);
    c.locator = str(r.locator);
    check(sink_->record(sink_, &c), "record");
  }
  void skip(std::string_view external_id, std::string_view reason) const {
    check(sink_->skip(sink_, str(external_id), str(reason)), "skip");
  }
  void fail(std::string_view external_id, std::string_view reason, std::string_view raw) const {
    check(sink_->fail(sink_, str(external_id), str(reason), str(raw)), "fail");
  }
  void refetch(std::string_view object_id) const {
    check(sink_->refetch(sink_, str(object_id)), "refetch");
  }
  void checkpoint(std::string_view next_cursor, bool more) const {
    check(sink_->checkpoint(sink_, str(next_cursor), more ? 1 : 0), "checkpoint");
  }

 private:
  static void check(int32_t code, const char* what) {
    if (code != CRMSYNC_OK) throw Error(code, std::string("sink refused ") + what);
  }
  const crmsync_sink_v1* sink_;
};

// A webhook request with owning copies of its parts.
struct WebhookRequest {
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string query;
  std::string body;
};

// Base class of a C++ connector instance. Entry points a connector does not override answer
// CRMSYNC_E_UNSUPPORTED.
class Connector {
 public:
  explicit Connector(Host host) : host_(host) {}
  virtual ~Connector() = default;
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  // Returns the success message; throws Error with the failure message shown to the admin.
  virtual std::string health_check() = 0;
  virtual void fetch(std::string_view /*cursor*/, Sink& /*sink*/) { unsupported("fetch"); }
  virtual void fetch_object(std::string_view /*id*/, Sink& /*sink*/) {
    unsupported("fetch_object");
  }
  virtual void parse_webhook(const WebhookRequest& /*request*/, Sink& /*sink*/) {
    unsupported("parse_webhook");
  }
  virtual void map_response(std::string_view /*body*/, Sink& /*sink*/) {
    unsupported("map_response");
  }
  virtual void configure_webhook(std::string_view /*url*/) { unsupported("configure_webhook"); }
  virtual void push_bonus(const crmsync_bonus_event_v1& /*event*/,
                          std::string_view /*idempotency_key*/) {
    unsupported("push_bonus");
  }

  const Host& host() const noexcept { return host_; }

 private:
  [[noreturn]] static void unsupported(const char* what) {
    throw Error(CRMSYNC_E_UNSUPPORTED, std::string(what) + " is not supported by this connector");
  }
  Host host_;
};

// The static facts of a connector, given to CRMSYNC_CONNECTOR.
struct Descriptor {
  const char* id = nullptr;
  const char* display_name = nullptr;
  const char* vendor = nullptr;
  const char* version = nullptr;
  const char* config_schema = nullptr;
  uint64_t capabilities = 0;
  uint32_t abi_minor_required = 0;
  // The provider's request limits (a static array), enforced by the host per integration.
  const crmsync_rate_limit_v1* rate_limits = nullptr;
  uint32_t rate_limit_count = 0;
};

namespace internal {

// The host and context of an instance, kept so failures can be reported through set_error.
struct Instance {
  std::unique_ptr<Connector> connector;
  const crmsync_host_v1* host;
  crmsync_host_ctx* ctx;
};

inline Instance* as_instance(crmsync_instance* instance) noexcept {
  return reinterpret_cast<Instance*>(instance);
}

// Runs body, turning every exception into an error code (with set_error) so that nothing unwinds
// across the C boundary.
template <class Body>
int32_t guarded(const crmsync_host_v1* host, crmsync_host_ctx* ctx, Body&& body) noexcept {
  try {
    body();
    return CRMSYNC_OK;
  } catch (const Error& e) {
    host->set_error(ctx, e.code(), str(e.what()), e.retry_after_ms());
    return e.code();
  } catch (const std::exception& e) {
    host->set_error(ctx, CRMSYNC_E_INTERNAL, str(e.what()), 0);
    return CRMSYNC_E_INTERNAL;
  } catch (...) {
    host->set_error(ctx, CRMSYNC_E_INTERNAL, str("unknown exception"), 0);
    return CRMSYNC_E_INTERNAL;
  }
}

template <class Body>
int32_t on_instance(crmsync_instance* instance, Body&& body) noexcept {
  Instance* self = as_instance(instance);
  return guarded(self->host, self->ctx, [&] { body(*self->connector); });
}

// The C entry points for connector class T.
template <class T>
struct Trampolines {
  static int32_t open(const crmsync_open_args_v1* args, crmsync_instance** out) noexcept {
    return guarded(args->host, args->ctx, [&] {
      OpenArgs copy{std::string(view(args->integration_id)), std::string(view(args->config_json)),
                    std::string(view(args->timezone)), std::string(view(args->currency))};
      Host host(args->host, args->ctx);
      auto instance = std::make_unique<Instance>(
          Instance{std::make_unique<T>(host, copy), args->host, args->ctx});
      *out = reinterpret_cast<crmsync_instance*>(instance.release());
    });
  }
  static void close(crmsync_instance* instance) noexcept { delete as_instance(instance); }
  static int32_t health_check(crmsync_instance* instance, const crmsync_text_out_v1* out) noexcept {
    Instance* self = as_instance(instance);
    return guarded(self->host, self->ctx, [&] {
      try {
        std::string message = self->connector->health_check();
        out->set(out, str(message));
      } catch (const std::exception& e) {
        out->set(out, str(e.what()));
        throw;
      }
    });
  }
  static int32_t fetch(crmsync_instance* instance, crmsync_str cursor,
                       const crmsync_sink_v1* sink) noexcept {
    return on_instance(instance, [&](Connector& c) {
      Sink s(sink);
      c.fetch(view(cursor), s);
    });
  }
  static int32_t fetch_object(crmsync_instance* instance, crmsync_str id,
                              const crmsync_sink_v1* sink) noexcept {
    return on_instance(instance, [&](Connector& c) {
      Sink s(sink);
      c.fetch_object(view(id), s);
    });
  }
  static int32_t parse_webhook(crmsync_instance* instance,
                               const crmsync_webhook_request_v1* request,
                               const crmsync_sink_v1* sink) noexcept {
    return on_instance(instance, [&](Connector& c) {
      WebhookRequest copy{std::string(view(request->content_type)),
                          {},
                          std::string(view(request->query)),
                          std::string(view(request->body))};
      for (size_t i = 0; i < request->header_count; ++i) {
        copy.headers.emplace_back(std::string(view(request->headers[i].name)),
                                  std::string(view(request->headers[i].value)));
      }
      Sink s(sink);
      c.parse_webhook(copy, s);
    });
  }
  static int32_t map_response(crmsync_instance* instance, crmsync_str body,
                              const crmsync_sink_v1* sink) noexcept {
    return on_instance(instance, [&](Connector& c) {
      Sink s(sink);
      c.map_response(view(body), s);
    });
  }
  static int32_t configure_webhook(crmsync_instance* instance, crmsync_str url) noexcept {
    return on_instance(instance, [&](Connector& c) { c.configure_webhook(view(url)); });
  }
  static int32_t push_bonus(crmsync_instance* instance, const crmsync_bonus_event_v1* event,
                            crmsync_str key) noexcept {
    return on_instance(instance, [&](Connector& c) { c.push_bonus(*event, view(key)); });
  }
};

// Builds the C descriptor for T from d. Every optional entry point is wired: those T does not
// override answer UNSUPPORTED, and the capability flags tell the host which ones matter.
template <class T>
crmsync_connector_v1 make_descriptor(const Descriptor& d) noexcept {
  crmsync_connector_v1 c{};
  c.struct_size = sizeof c;
  c.abi_major = CRMSYNC_ABI_MAJOR;
  c.abi_minor_required = d.abi_minor_required;
  c.id = d.id;
  c.display_name = d.display_name;
  c.vendor = d.vendor;
  c.version = d.version;
  c.config_schema = d.config_schema;
  c.capabilities = d.capabilities;
  c.open = &Trampolines<T>::open;
  c.close = &Trampolines<T>::close;
  c.health_check = &Trampolines<T>::health_check;
  c.fetch = &Trampolines<T>::fetch;
  c.fetch_object = &Trampolines<T>::fetch_object;
  c.parse_webhook = &Trampolines<T>::parse_webhook;
  c.map_response = &Trampolines<T>::map_response;
  c.configure_webhook = &Trampolines<T>::configure_webhook;
  c.push_bonus = &Trampolines<T>::push_bonus;
  c.rate_limits = d.rate_limits;
  c.rate_limit_count = d.rate_limit_count;
  return c;
}

}  // namespace internal
}  // namespace crmsync::sdk

// Exports connector class T (derived from crmsync::sdk::Connector, constructible from
// (crmsync::sdk::Host, const crmsync::sdk::OpenArgs&)) with the given Descriptor initializer.
#define CRMSYNC_CONNECTOR(T, ...)                                                                  \
  extern "C" CRMSYNC_EXPORT int32_t crmsync_connector_entry_v1(const crmsync_host_v1* /*host*/,    \
                                                               const crmsync_connector_v1** out) { \
    static const crmsync_connector_v1 descriptor =                                                 \
        ::crmsync::sdk::internal::make_descriptor<T>(::crmsync::sdk::Descriptor __VA_ARGS__);      \
    *out = &descriptor;                                                                            \
    return CRMSYNC_OK;                                                                             \
  }

#endif  // CRMSYNC_CONNECTOR_HPP
