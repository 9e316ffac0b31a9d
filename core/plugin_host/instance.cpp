// Instance: connector calls, the host services table forwarded to HostServices, and the sink that
// turns a connector's C callbacks into RecordSink calls.
#include <cstddef>
#include <optional>

#include "plugin_host/internal.h"
#include "plugin_host/plugin_host.h"

#ifndef CRMSYNC_HOST_VERSION
#error "CRMSYNC_HOST_VERSION must be defined by the build"
#endif

namespace crmsync::plugin_host {
namespace internal {

namespace {
thread_local Frame* top_frame = nullptr;
}  // namespace

Frame::Frame(Context& context) noexcept : context_(context), outer_(top_frame) {
  top_frame = this;
}

Frame::~Frame() {
  top_frame = outer_;
}

Frame* Frame::find(const Context& context) noexcept {
  for (Frame* frame = top_frame; frame != nullptr; frame = frame->outer_) {
    if (&frame->context_ == &context) return frame;
  }
  return nullptr;
}

// What parts of the sink an entry point may use.
enum class SinkUse : int { kFetch, kFetchObject, kWebhook, kMapResponse };

// The host side of a crmsync_sink_v1 for one call.
struct SinkBridge {
  SinkBridge(RecordSink& sink, SinkUse use) : sink(sink), use(use) {}
  RecordSink& sink;
  SinkUse use;
  int checkpoints = 0;
  std::string misuse;            // the first way the connector broke the sink's contract
  std::optional<Error> refusal;  // the first error the RecordSink returned
};

namespace {

Context& context_of(crmsync_host_ctx* ctx) {
  return *reinterpret_cast<Context*>(ctx);
}

// ----- host services ---------------------------------------------------------------------------

// Records a connector bug as the detail of the current call and returns INTERNAL.
int32_t connector_bug(Context& context, std::string message) {
  Frame::with_scratch(context, [&](Scratch& scratch) {
    scratch.detail = ErrorDetail{true, CRMSYNC_E_INTERNAL, std::move(message), 0};
  });
  return CRMSYNC_E_INTERNAL;
}

constexpr size_t kHttpResponseV1_0Size =
    offsetof(crmsync_http_response_v1, body) + sizeof(crmsync_http_response_v1::body);

int32_t host_http(crmsync_host_ctx* ctx, const crmsync_http_request_v1* request,
                  crmsync_http_response_v1* out) noexcept {
  if (ctx == nullptr) return CRMSYNC_E_INTERNAL;
  Context& context = context_of(ctx);
  if (request == nullptr || out == nullptr) return connector_bug(context, "http() with NULL");
  if (out->struct_size < kHttpResponseV1_0Size) {
    return connector_bug(context, "http(): response struct_size " +
                                      std::to_string(out->struct_size) + " is smaller than v1.0");
  }
  const crmsync_http_request_v1 r = copy_struct(request);
  if (!well_formed(r.method) || !well_formed(r.url) || !well_formed(r.body) ||
      (r.header_count > 0 && r.headers == nullptr)) {
    return connector_bug(context, "http(): malformed request");
  }
  HttpRequest owned{std::string(view(r.method)),
                    std::string(view(r.url)),
                    {},
                    std::string(view(r.body)),
                    r.timeout_ms,
                    (r.flags & CRMSYNC_HTTP_NO_RETRY) != 0,
                    (r.flags & CRMSYNC_HTTP_SENSITIVE) != 0};
  for (size_t i = 0; i < r.header_count; ++i) {
    if (!well_formed(r.headers[i].name) || !well_formed(r.headers[i].value)) {
      return connector_bug(context, "http(): malformed header");
    }
    owned.headers.emplace_back(view(r.headers[i].name), view(r.headers[i].value));
  }
  Result<HttpResponse> response = context.services->http(context.integration_id, owned);
  return Frame::with_scratch(context, [&](Scratch& scratch) {
    if (!response) {
      // A default detail; the connector's own set_error, if any, replaces it.
      scratch.detail = ErrorDetail{true, response.error().code, response.error().message, 0};
      return response.error().code;
    }
    const HttpResponse& kept = scratch.responses.emplace_back(std::move(response.value()));
    auto& headers = scratch.headers.emplace_back();
    for (const auto& [name, value] : kept.headers) headers.push_back({str(name), str(value)});
    crmsync_http_response_v1 answer;
    std::memset(&answer, 0, sizeof answer);
    answer.struct_size = std::min<uint32_t>(out->struct_size, sizeof answer);
    answer.status = kept.status;
    answer.headers = headers.data();
    answer.header_count = headers.size();
    answer.body = str(kept.body);
    std::memcpy(out, &answer, answer.struct_size);
    return int32_t{CRMSYNC_OK};
  });
}

void host_log(crmsync_host_ctx* ctx, int32_t level, crmsync_str message) noexcept {
  if (ctx == nullptr || !well_formed(message)) return;
  Context& context = context_of(ctx);
  context.services->log(context.integration_id, level, view(message));
}

int64_t host_now_ms(crmsync_host_ctx* ctx) noexcept {
  if (ctx == nullptr) return 0;
  return context_of(ctx).services->now_ms();
}

int32_t host_state_get(crmsync_host_ctx* ctx, crmsync_str key, crmsync_str* value,
                       uint64_t* version) noexcept {
  if (ctx == nullptr) return CRMSYNC_E_INTERNAL;
  Context& context = context_of(ctx);
  if (!well_formed(key) || value == nullptr || version == nullptr) {
    return connector_bug(context, "state_get(): malformed arguments");
  }
  Result<StateValue> state = context.services->state_get(context.integration_id, view(key));
  if (!state) return state.error().code;
  Frame::with_scratch(context, [&](Scratch& scratch) {
    *value = str(scratch.strings.emplace_back(std::move(state->value)));
  });
  *version = state->version;
  return CRMSYNC_OK;
}

int32_t host_state_cas(crmsync_host_ctx* ctx, crmsync_str key, uint64_t expected_version,
                       crmsync_str value, uint64_t* new_version) noexcept {
  if (ctx == nullptr) return CRMSYNC_E_INTERNAL;
  Context& context = context_of(ctx);
  if (!well_formed(key) || !well_formed(value)) {
    return connector_bug(context, "state_cas(): malformed arguments");
  }
  Result<uint64_t> version =
      context.services->state_cas(context.integration_id, view(key), expected_version, view(value));
  if (!version) return version.error().code;
  if (new_version != nullptr) *new_version = *version;
  return CRMSYNC_OK;
}

int32_t host_secret_get(crmsync_host_ctx* ctx, crmsync_str name, crmsync_str* value) noexcept {
  if (ctx == nullptr) return CRMSYNC_E_INTERNAL;
  Context& context = context_of(ctx);
  if (!well_formed(name) || value == nullptr) {
    return connector_bug(context, "secret_get(): malformed arguments");
  }
  // Secrets are immutable after open, so the stored string outlives every entry point.
  auto it = context.secrets.find(view(name));
  if (it == context.secrets.end()) return CRMSYNC_E_NOT_FOUND;
  *value = str(it->second);
  return CRMSYNC_OK;
}

int32_t host_is_cancelled(crmsync_host_ctx* ctx) noexcept {
  if (ctx == nullptr) return 0;
  Context& context = context_of(ctx);
  return context.services->is_cancelled(context.integration_id) ? 1 : 0;
}

void host_set_error(crmsync_host_ctx* ctx, int32_t code, crmsync_str message,
                    uint32_t retry_after_ms) noexcept {
  if (ctx == nullptr) return;
  Context& context = context_of(ctx);
  std::string text = well_formed(message) ? std::string(view(message)) : std::string();
  Frame::with_scratch(context, [&](Scratch& scratch) {
    scratch.detail = ErrorDetail{true, code, std::move(text), retry_after_ms};
  });
}

// No optional services exist yet; connectors must cope with NULL.
const void* host_get_service(const char* /*id*/) noexcept {
  return nullptr;
}

// ----- sink ------------------------------------------------------------------------------------

SinkBridge& bridge_of(const crmsync_sink_v1* sink) {
  return *static_cast<SinkBridge*>(sink->host_data);
}

int32_t misuse(SinkBridge& bridge, std::string what) {
  if (bridge.misuse.empty()) bridge.misuse = std::move(what);
  return CRMSYNC_E_INTERNAL;
}

int32_t deliver(SinkBridge& bridge, Result<void> accepted) {
  if (accepted) return CRMSYNC_OK;
  if (!bridge.refusal) bridge.refusal = accepted.error();
  return accepted.error().code;
}

bool all_well_formed(std::initializer_list<crmsync_str> fields) {
  for (crmsync_str field : fields) {
    if (!well_formed(field)) return false;
  }
  return true;
}

int32_t sink_record(const crmsync_sink_v1* sink, const crmsync_record_v1* record) noexcept {
  SinkBridge& bridge = bridge_of(sink);
  if (bridge.use == SinkUse::kFetch && bridge.checkpoints > 0) {
    return misuse(bridge, "record() after checkpoint()");
  }
  if (record == nullptr) return misuse(bridge, "record() with NULL");
  crmsync_record_v1 copy = copy_struct(record);
  if (!all_well_formed({copy.external_id, copy.occurred_at, copy.amount, copy.currency,
                        copy.customer_phone, copy.customer_ref, copy.description, copy.raw_json,
                        copy.locator}) ||
      (copy.item_count > 0 && copy.items == nullptr)) {
    return misuse(bridge, "record() with a malformed field (NULL pointer with a length)");
  }
  std::vector<crmsync_line_item_v1> items;
  items.reserve(copy.item_count);
  for (size_t i = 0; i < copy.item_count; ++i) {
    if (copy.items[i] == nullptr) return misuse(bridge, "record() with a NULL item");
    crmsync_line_item_v1& item = items.emplace_back(copy_struct(copy.items[i]));
    if (!all_well_formed({item.name, item.quantity, item.amount})) {
      return misuse(bridge, "record() with a malformed item");
    }
    item.struct_size = sizeof item;
  }
  std::vector<const crmsync_line_item_v1*> pointers;
  for (const crmsync_line_item_v1& item : items) pointers.push_back(&item);
  copy.items = pointers.empty() ? nullptr : pointers.data();
  copy.struct_size = sizeof copy;
  return deliver(bridge, bridge.sink.on_record(copy));
}

int32_t sink_skip(const crmsync_sink_v1* sink, crmsync_str external_id,
                  crmsync_str reason) noexcept {
  SinkBridge& bridge = bridge_of(sink);
  if (!all_well_formed({external_id, reason}))
    return misuse(bridge, "skip() with a malformed string");
  return deliver(bridge, bridge.sink.on_skip(view(external_id), view(reason)));
}

int32_t sink_fail(const crmsync_sink_v1* sink, crmsync_str external_id, crmsync_str reason,
                  crmsync_str raw_json) noexcept {
  SinkBridge& bridge = bridge_of(sink);
  if (!all_well_formed({external_id, reason, raw_json})) {
    return misuse(bridge, "fail() with a malformed string");
  }
  return deliver(bridge, bridge.sink.on_fail(view(external_id), view(reason), view(raw_json)));
}

int32_t sink_refetch(const crmsync_sink_v1* sink, crmsync_str object_id) noexcept {
  SinkBridge& bridge = bridge_of(sink);
  if (bridge.use != SinkUse::kWebhook) return misuse(bridge, "refetch() outside parse_webhook");
  if (!well_formed(object_id)) return misuse(bridge, "refetch() with a malformed string");
  return deliver(bridge, bridge.sink.on_refetch(view(object_id)));
}

int32_t sink_checkpoint(const crmsync_sink_v1* sink, crmsync_str next_cursor,
                        int32_t more) noexcept {
  SinkBridge& bridge = bridge_of(sink);
  if (bridge.use != SinkUse::kFetch) return misuse(bridge, "checkpoint() outside fetch");
  if (++bridge.checkpoints > 1) return misuse(bridge, "checkpoint() called twice");
  if (!well_formed(next_cursor)) return misuse(bridge, "checkpoint() with a malformed cursor");
  return deliver(bridge, bridge.sink.on_checkpoint(view(next_cursor), more != 0));
}

crmsync_sink_v1 make_sink(SinkBridge& bridge) {
  crmsync_sink_v1 sink;
  std::memset(&sink, 0, sizeof sink);
  sink.struct_size = sizeof sink;
  sink.host_data = &bridge;
  sink.record = &sink_record;
  sink.skip = &sink_skip;
  sink.fail = &sink_fail;
  sink.refetch = &sink_refetch;
  sink.checkpoint = &sink_checkpoint;
  return sink;
}

void text_set(const crmsync_text_out_v1* out, crmsync_str text) noexcept {
  if (out == nullptr || !well_formed(text)) return;
  static_cast<std::string*>(out->host_data)->assign(view(text));
}

// The Result of an entry point that returned outcome.code.
Result<void> to_result(const char* what, const Outcome& outcome) {
  if (outcome.code == CRMSYNC_OK) return {};
  const bool known =
      outcome.code == CRMSYNC_E_INTERNAL || std::string_view(code_name(outcome.code)) != "INTERNAL";
  const int32_t code = known ? outcome.code : CRMSYNC_E_INTERNAL;
  std::string message = std::string(code_name(code)) + ": ";
  message += outcome.detail.set && !outcome.detail.message.empty() ? outcome.detail.message
                                                                   : std::string(what) + " failed";
  if (!known) message += " (unknown code " + std::to_string(outcome.code) + ")";
  if (outcome.detail.retry_after_ms > 0) {
    message += " (retry after " + std::to_string(outcome.detail.retry_after_ms) + " ms)";
  }
  return fail(code, std::move(message));
}

}  // namespace

const crmsync_host_v1& host_table() noexcept {
  static const crmsync_host_v1 table = {sizeof(crmsync_host_v1),
                                        CRMSYNC_ABI_MINOR,
                                        CRMSYNC_HOST_VERSION,
                                        &host_http,
                                        &host_log,
                                        &host_now_ms,
                                        &host_state_get,
                                        &host_state_cas,
                                        &host_secret_get,
                                        &host_is_cancelled,
                                        &host_set_error,
                                        &host_get_service};
  return table;
}

}  // namespace internal

Instance::Instance(std::shared_ptr<internal::Library> library,
                   const crmsync_connector_v1& descriptor,
                   std::unique_ptr<internal::Context> context)
    : library_(std::move(library)),
      descriptor_(descriptor),
      connector_id_(descriptor.id),
      context_(std::move(context)) {}

Instance::~Instance() {
  if (handle_ == nullptr) return;
  std::lock_guard lock(mutex_);
  internal::Frame frame(*context_);
  descriptor_.close(handle_);
}

const std::string& Instance::integration_id() const noexcept {
  return context_->integration_id;
}

template <class Fn>
internal::Outcome Instance::run(internal::SinkBridge* sink, Fn&& fn) {
  internal::Outcome outcome;
  {
    internal::Frame frame(*context_);
    outcome.code = fn();
    outcome.detail = std::move(frame.scratch().detail);
  }
  if (!outcome.detail.set) {
    // set_error from one of the connector's own threads during this call.
    std::lock_guard lock(context_->stray_mutex);
    outcome.detail = std::exchange(context_->stray.detail, internal::ErrorDetail{});
  }
  if (sink == nullptr) return outcome;
  if (!sink->misuse.empty()) {
    return {CRMSYNC_E_INTERNAL, {true, CRMSYNC_E_INTERNAL, "sink misuse: " + sink->misuse, 0}};
  }
  if (outcome.code == CRMSYNC_OK && sink->refusal) {
    // The connector ignored the host's refusal; the host's error stands.
    return {sink->refusal->code, {true, sink->refusal->code, sink->refusal->message, 0}};
  }
  if (outcome.code == CRMSYNC_OK && sink->use == internal::SinkUse::kFetch &&
      sink->checkpoints == 0) {
    return {CRMSYNC_E_INTERNAL,
            {true, CRMSYNC_E_INTERNAL, "fetch returned without calling checkpoint()", 0}};
  }
  return outcome;
}

template <class Fn>
Result<void> Instance::run_with_sink(const char* what, bool present, internal::SinkUse use,
                                     RecordSink& sink, Fn&& fn) {
  if (!present) {
    return fail(CRMSYNC_E_UNSUPPORTED, std::string("UNSUPPORTED: connector ") + connector_id_ +
                                           " does not provide " + what);
  }
  internal::SinkBridge bridge(sink, use);
  const crmsync_sink_v1 c_sink = internal::make_sink(bridge);
  std::unique_lock lock(mutex_, std::defer_lock);
  if (use != internal::SinkUse::kWebhook) lock.lock();
  return internal::to_result(what, run(&bridge, [&] { return fn(&c_sink); }));
}

Result<std::unique_ptr<Instance>> Instance::open(
    const std::filesystem::path& path, std::shared_ptr<internal::Library> library,
    const crmsync_connector_v1& descriptor, std::unique_ptr<internal::Context> context,
    std::string_view config_json, std::string_view timezone, std::string_view currency) {
  std::unique_ptr<Instance> instance(
      new Instance(std::move(library), descriptor, std::move(context)));
  crmsync_open_args_v1 args;
  std::memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.host = &internal::host_table();
  args.ctx = internal::as_ctx(*instance->context_);
  args.integration_id = internal::str(instance->context_->integration_id);
  args.config_json = internal::str(config_json);
  args.timezone = internal::str(timezone);
  args.currency = internal::str(currency);
  crmsync_instance* handle = nullptr;
  const internal::Outcome outcome =
      instance->run(nullptr, [&] { return descriptor.open(&args, &handle); });
  if (Result<void> opened = internal::to_result("open", outcome); !opened) {
    return fail(opened.error().code, path.string() + ": open: " + opened.error().message);
  }
  if (handle == nullptr) {
    return fail(CRMSYNC_E_INTERNAL, path.string() + ": open: returned OK without an instance");
  }
  instance->handle_ = handle;
  return instance;
}

Result<std::string> Instance::health_check() {
  std::lock_guard lock(mutex_);
  std::string text;
  crmsync_text_out_v1 out;
  std::memset(&out, 0, sizeof out);
  out.struct_size = sizeof out;
  out.host_data = &text;
  out.set = &internal::text_set;
  internal::Outcome outcome = run(nullptr, [&] { return descriptor_.health_check(handle_, &out); });
  // A connector that only wrote its admin message still explains the failure.
  if (!outcome.detail.set && !text.empty()) outcome.detail = {true, outcome.code, text, 0};
  if (Result<void> checked = internal::to_result("health_check", outcome); !checked) {
    return checked.error();
  }
  return text;
}

Result<void> Instance::fetch(std::string_view cursor, RecordSink& sink) {
  return run_with_sink("fetch", descriptor_.fetch != nullptr, internal::SinkUse::kFetch, sink,
                       [&](const crmsync_sink_v1* s) {
                         return descriptor_.fetch(handle_, internal::str(cursor), s);
                       });
}

Result<void> Instance::fetch_object(std::string_view object_id, RecordSink& sink) {
  return run_with_sink("fetch_object", descriptor_.fetch_object != nullptr,
                       internal::SinkUse::kFetchObject, sink, [&](const crmsync_sink_v1* s) {
                         return descriptor_.fetch_object(handle_, internal::str(object_id), s);
                       });
}

Result<void> Instance::parse_webhook(const WebhookRequest& request, RecordSink& sink) {
  std::vector<crmsync_http_header> headers;
  for (const auto& [name, value] : request.headers) {
    headers.push_back({internal::str(name), internal::str(value)});
  }
  crmsync_webhook_request_v1 c_request;
  std::memset(&c_request, 0, sizeof c_request);
  c_request.struct_size = sizeof c_request;
  c_request.content_type = internal::str(request.content_type);
  c_request.headers = headers.empty() ? nullptr : headers.data();
  c_request.header_count = headers.size();
  c_request.query = internal::str(request.query);
  c_request.body = internal::str(request.body);
  return run_with_sink(
      "parse_webhook", descriptor_.parse_webhook != nullptr, internal::SinkUse::kWebhook, sink,
      [&](const crmsync_sink_v1* s) { return descriptor_.parse_webhook(handle_, &c_request, s); });
}

Result<void> Instance::map_response(std::string_view body, RecordSink& sink) {
  return run_with_sink("map_response", descriptor_.map_response != nullptr,
                       internal::SinkUse::kMapResponse, sink, [&](const crmsync_sink_v1* s) {
                         return descriptor_.map_response(handle_, internal::str(body), s);
                       });
}

Result<void> Instance::configure_webhook(std::string_view url) {
  if (descriptor_.configure_webhook == nullptr) {
    return fail(CRMSYNC_E_UNSUPPORTED,
                "UNSUPPORTED: connector " + connector_id_ + " does not provide configure_webhook");
  }
  std::lock_guard lock(mutex_);
  return internal::to_result("configure_webhook", run(nullptr, [&] {
                               return descriptor_.configure_webhook(handle_, internal::str(url));
                             }));
}

Result<void> Instance::push_bonus(const BonusEvent& event, std::string_view idempotency_key) {
  if (descriptor_.push_bonus == nullptr) {
    return fail(CRMSYNC_E_UNSUPPORTED,
                "UNSUPPORTED: connector " + connector_id_ + " does not provide push_bonus");
  }
  crmsync_bonus_event_v1 c_event;
  std::memset(&c_event, 0, sizeof c_event);
  c_event.struct_size = sizeof c_event;
  c_event.kind = event.kind;
  c_event.external_id = internal::str(event.external_id);
  c_event.customer_phone = internal::str(event.customer_phone);
  c_event.amount_minor = event.amount_minor;
  c_event.currency = internal::str(event.currency);
  c_event.occurred_at = internal::str(event.occurred_at);
  std::lock_guard lock(mutex_);
  return internal::to_result("push_bonus", run(nullptr, [&] {
                               return descriptor_.push_bonus(handle_, &c_event,
                                                             internal::str(idempotency_key));
                             }));
}

}  // namespace crmsync::plugin_host
