// Freezes the layout of ABI v1 (1.0 and the fields 1.1 appended): the size of every struct in
// connector.h and the offset of every field, as compiled on x86_64 Linux (LP64). A change here
// breaks every connector already built; new fields go at the end of a struct (its size may grow,
// offsets never move).
#include <crmsync/connector.h>

#include <doctest/doctest.h>
#include <cstddef>
#include <string>

namespace {

struct Layout {
  const char* type;
  const char* field;  // "sizeof" for the struct's size
  size_t actual;
  size_t frozen;
};

#define SIZE(T, frozen)             \
  Layout {                          \
#T, "sizeof", sizeof(T), frozen \
  }
#define FIELD(T, f, frozen)        \
  Layout {                         \
#T, #f, offsetof(T, f), frozen \
  }

// clang-format off
const Layout kV1[] = {
    // crmsync_str
    SIZE(crmsync_str, 16),
    FIELD(crmsync_str, ptr, 0),
    FIELD(crmsync_str, len, 8),
    // crmsync_http_header
    SIZE(crmsync_http_header, 32),
    FIELD(crmsync_http_header, name, 0),
    FIELD(crmsync_http_header, value, 16),
    // crmsync_http_request_v1
    SIZE(crmsync_http_request_v1, 80),
    FIELD(crmsync_http_request_v1, struct_size, 0),
    FIELD(crmsync_http_request_v1, method, 8),
    FIELD(crmsync_http_request_v1, url, 24),
    FIELD(crmsync_http_request_v1, headers, 40),
    FIELD(crmsync_http_request_v1, header_count, 48),
    FIELD(crmsync_http_request_v1, body, 56),
    FIELD(crmsync_http_request_v1, timeout_ms, 72),
    FIELD(crmsync_http_request_v1, flags, 76),
    // crmsync_http_response_v1
    SIZE(crmsync_http_response_v1, 40),
    FIELD(crmsync_http_response_v1, struct_size, 0),
    FIELD(crmsync_http_response_v1, status, 4),
    FIELD(crmsync_http_response_v1, headers, 8),
    FIELD(crmsync_http_response_v1, header_count, 16),
    FIELD(crmsync_http_response_v1, body, 24),
    // crmsync_host_v1
    SIZE(crmsync_host_v1, 88),
    FIELD(crmsync_host_v1, struct_size, 0),
    FIELD(crmsync_host_v1, abi_minor, 4),
    FIELD(crmsync_host_v1, host_version, 8),
    FIELD(crmsync_host_v1, http, 16),
    FIELD(crmsync_host_v1, log, 24),
    FIELD(crmsync_host_v1, now_ms, 32),
    FIELD(crmsync_host_v1, state_get, 40),
    FIELD(crmsync_host_v1, state_cas, 48),
    FIELD(crmsync_host_v1, secret_get, 56),
    FIELD(crmsync_host_v1, is_cancelled, 64),
    FIELD(crmsync_host_v1, set_error, 72),
    FIELD(crmsync_host_v1, get_service, 80),
    // crmsync_line_item_v1
    SIZE(crmsync_line_item_v1, 72),
    FIELD(crmsync_line_item_v1, struct_size, 0),
    FIELD(crmsync_line_item_v1, name, 8),
    FIELD(crmsync_line_item_v1, quantity, 24),
    FIELD(crmsync_line_item_v1, amount_kind, 40),
    FIELD(crmsync_line_item_v1, amount, 48),
    FIELD(crmsync_line_item_v1, amount_minor, 64),
    // crmsync_record_v1
    SIZE(crmsync_record_v1, 192),
    FIELD(crmsync_record_v1, struct_size, 0),
    FIELD(crmsync_record_v1, external_id, 8),
    FIELD(crmsync_record_v1, occurred_at, 24),
    FIELD(crmsync_record_v1, amount_kind, 40),
    FIELD(crmsync_record_v1, amount, 48),
    FIELD(crmsync_record_v1, amount_minor, 64),
    FIELD(crmsync_record_v1, currency, 72),
    FIELD(crmsync_record_v1, customer_phone, 88),
    FIELD(crmsync_record_v1, customer_ref, 104),
    FIELD(crmsync_record_v1, description, 120),
    FIELD(crmsync_record_v1, items, 136),
    FIELD(crmsync_record_v1, item_count, 144),
    FIELD(crmsync_record_v1, flags, 152),
    FIELD(crmsync_record_v1, raw_json, 160),
    FIELD(crmsync_record_v1, locator, 176),
    // crmsync_sink_v1
    SIZE(crmsync_sink_v1, 56),
    FIELD(crmsync_sink_v1, struct_size, 0),
    FIELD(crmsync_sink_v1, host_data, 8),
    FIELD(crmsync_sink_v1, record, 16),
    FIELD(crmsync_sink_v1, skip, 24),
    FIELD(crmsync_sink_v1, fail, 32),
    FIELD(crmsync_sink_v1, refetch, 40),
    FIELD(crmsync_sink_v1, checkpoint, 48),
    // crmsync_text_out_v1
    SIZE(crmsync_text_out_v1, 24),
    FIELD(crmsync_text_out_v1, struct_size, 0),
    FIELD(crmsync_text_out_v1, host_data, 8),
    FIELD(crmsync_text_out_v1, set, 16),
    // crmsync_webhook_request_v1
    SIZE(crmsync_webhook_request_v1, 72),
    FIELD(crmsync_webhook_request_v1, struct_size, 0),
    FIELD(crmsync_webhook_request_v1, content_type, 8),
    FIELD(crmsync_webhook_request_v1, headers, 24),
    FIELD(crmsync_webhook_request_v1, header_count, 32),
    FIELD(crmsync_webhook_request_v1, query, 40),
    FIELD(crmsync_webhook_request_v1, body, 56),
    // crmsync_bonus_event_v1
    SIZE(crmsync_bonus_event_v1, 80),
    FIELD(crmsync_bonus_event_v1, struct_size, 0),
    FIELD(crmsync_bonus_event_v1, kind, 4),
    FIELD(crmsync_bonus_event_v1, external_id, 8),
    FIELD(crmsync_bonus_event_v1, customer_phone, 24),
    FIELD(crmsync_bonus_event_v1, amount_minor, 40),
    FIELD(crmsync_bonus_event_v1, currency, 48),
    FIELD(crmsync_bonus_event_v1, occurred_at, 64),
    // crmsync_open_args_v1
    SIZE(crmsync_open_args_v1, 88),
    FIELD(crmsync_open_args_v1, struct_size, 0),
    FIELD(crmsync_open_args_v1, host, 8),
    FIELD(crmsync_open_args_v1, ctx, 16),
    FIELD(crmsync_open_args_v1, integration_id, 24),
    FIELD(crmsync_open_args_v1, config_json, 40),
    FIELD(crmsync_open_args_v1, timezone, 56),
    FIELD(crmsync_open_args_v1, currency, 72),
    // crmsync_connector_v1
    SIZE(crmsync_connector_v1, 152),
    FIELD(crmsync_connector_v1, struct_size, 0),
    FIELD(crmsync_connector_v1, abi_major, 4),
    FIELD(crmsync_connector_v1, abi_minor_required, 8),
    FIELD(crmsync_connector_v1, id, 16),
    FIELD(crmsync_connector_v1, display_name, 24),
    FIELD(crmsync_connector_v1, vendor, 32),
    FIELD(crmsync_connector_v1, version, 40),
    FIELD(crmsync_connector_v1, config_schema, 48),
    FIELD(crmsync_connector_v1, capabilities, 56),
    FIELD(crmsync_connector_v1, open, 64),
    FIELD(crmsync_connector_v1, close, 72),
    FIELD(crmsync_connector_v1, health_check, 80),
    FIELD(crmsync_connector_v1, fetch, 88),
    FIELD(crmsync_connector_v1, fetch_object, 96),
    FIELD(crmsync_connector_v1, parse_webhook, 104),
    FIELD(crmsync_connector_v1, map_response, 112),
    FIELD(crmsync_connector_v1, configure_webhook, 120),
    FIELD(crmsync_connector_v1, push_bonus, 128),
    FIELD(crmsync_connector_v1, rate_limits, 136),
    FIELD(crmsync_connector_v1, rate_limit_count, 144),
    // crmsync_rate_limit_v1 (since 1.1)
    SIZE(crmsync_rate_limit_v1, 8),
    FIELD(crmsync_rate_limit_v1, requests, 0),
    FIELD(crmsync_rate_limit_v1, per_ms, 4),
};
// clang-format on

}  // namespace

TEST_CASE("ABI v1 struct sizes and field offsets are frozen (x86_64 LP64)") {
  static_assert(sizeof(void*) == 8 && sizeof(size_t) == 8, "the frozen table is for LP64");
  for (const Layout& row : kV1) {
    INFO(row.type << "." << row.field);
    CHECK(row.actual == row.frozen);
  }
}

TEST_CASE("ABI version macros and error code bands are those of v1.2") {
  CHECK(CRMSYNC_ABI_MAJOR == 1);
  CHECK(CRMSYNC_ABI_MINOR == 2);
  CHECK(CRMSYNC_HTTP_NO_RETRY == 1u);
  CHECK(CRMSYNC_HTTP_SENSITIVE == 2u);
  CHECK(std::string(CRMSYNC_CONNECTOR_ENTRY_V1_SYMBOL) == "crmsync_connector_entry_v1");
  CHECK(CRMSYNC_IS_RETRYABLE(CRMSYNC_E_UNAVAILABLE));
  CHECK(CRMSYNC_IS_RETRYABLE(CRMSYNC_E_CONFLICT));
  CHECK_FALSE(CRMSYNC_IS_RETRYABLE(CRMSYNC_E_INVALID_CONFIG));
  CHECK_FALSE(CRMSYNC_IS_RETRYABLE(CRMSYNC_E_CANCELLED));
  CHECK(CRMSYNC_CAP_FETCH == 1u);
  CHECK(CRMSYNC_CAP_INCREMENTAL == 2u);
  CHECK(CRMSYNC_CAP_WEBHOOK == 4u);
  CHECK(CRMSYNC_CAP_PUSH_BONUS == 8u);
}
