/*
 * crmsync connector ABI, major version 1.
 *
 * This is the whole contract between the crmsync host and a CRM connector built as a shared
 * library. A connector exports exactly one symbol, `crmsync_connector_entry_v1`, which hands the
 * host a static descriptor (`crmsync_connector_v1`). Through it the host opens instances (one per
 * configured integration), fetches bounded batches of sale records, parses webhooks and pushes
 * bonus events back. Everything a connector needs from the outside world (HTTP, time, durable
 * state, secrets, logging) it asks of the host through `crmsync_host_v1`, so that timeouts, rate
 * limits, retries, redaction and recording are the same for every CRM.
 *
 * The header is C99 with standard headers only, and also compiles as C11, C++17 and C++20.
 *
 * Rules that hold for every type below:
 *  - Versioning. Every struct begins with `uint32_t struct_size` (the `sizeof` the producer was
 *    compiled with) and only ever grows at the end. A reader copies `min(struct_size, sizeof)`
 *    bytes into a zeroed struct, so fields newer than the producer read as 0 / NULL. Signatures
 *    never change: a changed function is added as `name_v2`. `CRMSYNC_ABI_MINOR` counts the
 *    additions within major 1; a connector states the minor it needs in its descriptor and a host
 *    with an older minor refuses it with a clear message.
 *  - Strings are UTF-8 `crmsync_str` views `{ptr, len}`, not NUL-terminated (except the
 *    descriptor's static `const char*` fields). `ptr` may be NULL only when `len` is 0.
 *  - Memory. What a connector passes to the host is borrowed for the duration of that call: the
 *    host copies what it keeps. What the host passes to a connector stays valid until the
 *    connector's entry point that received it returns (narrower lifetimes are stated where they
 *    apply). No allocator crosses the boundary: each side frees only what it allocated.
 *  - Errors are `int32_t` codes (`CRMSYNC_OK` and the `CRMSYNC_E_*` values). The host owns retry
 *    policy: a connector reports what happened and never sleeps and retries on its own. A detail
 *    message and a retry hint go through `crmsync_host_v1.set_error`. Unknown codes are treated as
 *    `CRMSYNC_E_INTERNAL`.
 *  - Threading. The host never runs two calls on the same instance at once, and never calls a
 *    connector on its network I/O thread. Different instances may run in parallel on different
 *    threads. `parse_webhook` may run concurrently with any other call and must be thread-safe.
 *    Host services may be called from any thread. Nothing may unwind (C++ exceptions,
 *    longjmp) across the boundary.
 *  - Nesting. JSON and XML from outside (CRM responses, webhook bodies, settings, samples) may
 *    nest arrays, objects or elements at most 256 levels deep: the host refuses deeper API bodies
 *    and settings, and a connector refuses deeper responses and webhooks with
 *    `CRMSYNC_E_INVALID_INPUT` ("… nests deeper than 256 levels") before walking them, so no
 *    recursion over them is unbounded (`connector_json.hpp`: `kMaxJsonDepth`, `parse_json`).
 */
#ifndef CRMSYNC_CONNECTOR_H
#define CRMSYNC_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI major version: part of the entry symbol's and the structs' names. */
#define CRMSYNC_ABI_MAJOR 1
/* ABI minor version of this header: how many append-only revisions major 1 has had. */
#define CRMSYNC_ABI_MINOR 2

/* Marks the entry symbol for export: build with -fvisibility=hidden and link with the SDK's version
 * script crmsync-connector.map (crmsync::sdk adds it) so that it is the only symbol exported. */
#if defined(_WIN32)
#define CRMSYNC_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define CRMSYNC_EXPORT __attribute__((visibility("default")))
#else
#define CRMSYNC_EXPORT
#endif

/* ---------------------------------------------------------------------------------------------
 * Basic types
 * ------------------------------------------------------------------------------------------- */

/* A borrowed UTF-8 string view. Ownership and lifetime are those of the struct or call that
 * carries it (see the memory rule above). */
typedef struct crmsync_str {
  const char* ptr;
  size_t len;
} crmsync_str;

/* Error codes. 0 is success; 1xx are retryable (the host may try the same call again later);
 * 2xx are permanent (retrying the same input will not help); 300 means the host asked to stop. */
enum {
  CRMSYNC_OK = 0,

  /* Retryable band. */
  CRMSYNC_E_UNAVAILABLE = 100,  /* provider down, 5xx, connection refused or reset */
  CRMSYNC_E_RATE_LIMITED = 101, /* 429 or a provider quota; give retry_after_ms if known */
  CRMSYNC_E_TIMEOUT = 102,      /* the provider did not answer in time */
  CRMSYNC_E_CONFLICT = 103,     /* a compare-and-set lost a race; read again and retry */

  /* Permanent band. */
  CRMSYNC_E_INVALID_CONFIG = 200,    /* the integration's settings are wrong */
  CRMSYNC_E_UNAUTHENTICATED = 201,   /* credentials refused; an admin must reconnect */
  CRMSYNC_E_PERMISSION_DENIED = 202, /* credentials valid but not allowed to do this */
  CRMSYNC_E_NOT_FOUND = 203,         /* the object or account does not exist */
  CRMSYNC_E_INVALID_INPUT = 204,     /* a payload that cannot be read (bad JSON, wrong type) */
  CRMSYNC_E_UNSUPPORTED = 205,       /* the operation or version is not supported */
  CRMSYNC_E_INTERNAL = 206,          /* a bug in the connector or the host */

  CRMSYNC_E_CANCELLED = 300 /* the host asked the call to stop (see is_cancelled) */
};

/* True for codes in the retryable band. */
#define CRMSYNC_IS_RETRYABLE(code) ((code) >= 100 && (code) < 200)

/* Log levels for crmsync_host_v1.log. */
enum {
  CRMSYNC_LOG_DEBUG = 0,
  CRMSYNC_LOG_INFO = 1,
  CRMSYNC_LOG_WARNING = 2,
  CRMSYNC_LOG_ERROR = 3
};

/* Capability flags of a connector (crmsync_connector_v1.capabilities). Each one requires the
 * function pointers named with it; the host refuses a connector that declares a capability
 * without them. */
#define CRMSYNC_CAP_FETCH ((uint64_t)1 << 0)       /* fetch */
#define CRMSYNC_CAP_INCREMENTAL ((uint64_t)1 << 1) /* fetch honours the cursor it checkpoints */
#define CRMSYNC_CAP_WEBHOOK ((uint64_t)1 << 2)     /* parse_webhook */
#define CRMSYNC_CAP_PUSH_BONUS ((uint64_t)1 << 3)  /* push_bonus */

/* An opaque connector-owned instance: one per configured integration. */
typedef struct crmsync_instance crmsync_instance;

/* An opaque host-owned context identifying one instance to the host services (its integration,
 * rate limiter, durable state, secrets and log). Valid from open() until close() returns. */
typedef struct crmsync_host_ctx crmsync_host_ctx;

/* ---------------------------------------------------------------------------------------------
 * HTTP, run by the host
 * ------------------------------------------------------------------------------------------- */

/* One HTTP header. Borrowed like the struct that carries it. */
typedef struct crmsync_http_header {
  crmsync_str name;
  crmsync_str value;
} crmsync_http_header;

/* Flags of crmsync_http_request_v1.flags. */
#define CRMSYNC_HTTP_NO_RETRY ((uint32_t)1 << 0) /* non-idempotent request: never resend */
/* Since 1.2. The exchange carries personal or medical data: the host keeps its bodies out of
 * recordings, logs and error messages (method, URL and status only). A connector that relies on
 * it requires minor 2, since an older host ignores the flag. */
#define CRMSYNC_HTTP_SENSITIVE ((uint32_t)1 << 1)

/* A request the connector asks the host to run. Borrowed for the duration of the http() call.
 * The host adds TLS, timeouts, the integration's rate limit, retries of 429/5xx/timeouts/resets
 * (unless CRMSYNC_HTTP_NO_RETRY), and redacts secrets from every log line and recording. */
typedef struct crmsync_http_request_v1 {
  uint32_t struct_size;
  crmsync_str method; /* "GET", "POST", ... */
  crmsync_str url;    /* absolute URL, already percent-encoded */
  const crmsync_http_header* headers;
  size_t header_count;
  crmsync_str body;    /* may be empty */
  uint32_t timeout_ms; /* total timeout; 0 means the host's default */
  uint32_t flags;      /* CRMSYNC_HTTP_* */
} crmsync_http_request_v1;

/* The host's answer to a request. Host-owned; valid until the next http() call on the same
 * context or until the connector entry point that made the call returns, whichever comes first. */
typedef struct crmsync_http_response_v1 {
  uint32_t struct_size;
  int32_t status; /* HTTP status code */
  const crmsync_http_header* headers;
  size_t header_count;
  crmsync_str body;
} crmsync_http_response_v1;

/* ---------------------------------------------------------------------------------------------
 * Host services
 * ------------------------------------------------------------------------------------------- */

/* Services the host offers to connectors. Host-owned and immutable; valid for as long as the
 * library is loaded. Every function is thread-safe. The ctx arguments are the ones the host passed
 * to open(); a function that receives a ctx may be called only during a connector entry point
 * running on that instance. */
typedef struct crmsync_host_v1 {
  uint32_t struct_size;
  uint32_t abi_minor;      /* CRMSYNC_ABI_MINOR the host was built with */
  const char* host_version; /* NUL-terminated semver of the host, e.g. "0.1.0" */

  /* Runs an HTTP request. Returns CRMSYNC_OK when any HTTP response arrived (whatever its
   * status: the connector interprets 4xx), or UNAVAILABLE / TIMEOUT / RATE_LIMITED / CANCELLED
   * when none did after the host's retries. The caller sets out->struct_size (the host fills
   * only what that size holds); on success *out is filled (see its lifetime). */
  int32_t (*http)(crmsync_host_ctx* ctx, const crmsync_http_request_v1* request,
                  crmsync_http_response_v1* out);

  /* Writes a log line attributed to the integration. The message is copied. */
  void (*log)(crmsync_host_ctx* ctx, int32_t level, crmsync_str message);

  /* The current time as Unix milliseconds (UTC). Use it instead of the system clock: tests and
   * recordings control it. */
  int64_t (*now_ms)(crmsync_host_ctx* ctx);

  /* Reads the integration's durable value for key. Returns NOT_FOUND when absent. On success
   * *value (host-owned, valid until the current entry point returns) and *version are set. */
  int32_t (*state_get)(crmsync_host_ctx* ctx, crmsync_str key, crmsync_str* value,
                       uint64_t* version);

  /* Durably sets key to value if its current version is expected_version (0: the key must not
   * exist). Returns CONFLICT when another writer got there first; on success *new_version (may
   * be NULL) receives the new version. The write is committed before this returns: use it for
   * rotating refresh tokens before using the new access token. */
  int32_t (*state_cas)(crmsync_host_ctx* ctx, crmsync_str key, uint64_t expected_version,
                       crmsync_str value, uint64_t* new_version);

  /* Reads a secret setting of the integration (a config field the schema marks
   * "x-secret": true), which is never part of the config_json given to open(). Returns NOT_FOUND
   * when unset. *value is host-owned, valid until the current entry point returns; never log it. */
  int32_t (*secret_get)(crmsync_host_ctx* ctx, crmsync_str name, crmsync_str* value);

  /* Nonzero when the host wants the current call to stop (shutdown, run deadline). A connector
   * checks it between requests and returns CRMSYNC_E_CANCELLED. */
  int32_t (*is_cancelled)(crmsync_host_ctx* ctx);

  /* Attaches a human-readable detail and an optional retry hint (0: none) to the error code the
   * current entry point is about to return. The message is copied; the last call wins. */
  void (*set_error)(crmsync_host_ctx* ctx, int32_t code, crmsync_str message,
                    uint32_t retry_after_ms);

  /* Looks up an optional host service by id and revision, e.g. "crmsync.metrics/1". Returns NULL
   * when the host does not offer it. The returned table is host-owned and lives as long as the
   * host; its layout is defined by the service's own header. */
  const void* (*get_service)(const char* id);
} crmsync_host_v1;

/* ---------------------------------------------------------------------------------------------
 * Records and the sink that receives them
 * ------------------------------------------------------------------------------------------- */

/* How an amount is given. Floats are never used for money. */
enum {
  CRMSYNC_AMOUNT_DECIMAL = 0, /* amount is a decimal string: "1500", "1500.50", "1 500,50" */
  CRMSYNC_AMOUNT_MINOR = 1    /* amount_minor holds integer minor units (kopecks) */
};

/* Flags of crmsync_record_v1.flags. */
#define CRMSYNC_RECORD_MEDICAL ((uint32_t)1 << 0) /* medical sale: kept out of analytics */

/* One line of a sale. Borrowed for the sink call. */
typedef struct crmsync_line_item_v1 {
  uint32_t struct_size;
  crmsync_str name;
  crmsync_str quantity; /* decimal string; empty means 1 */
  uint32_t amount_kind; /* CRMSYNC_AMOUNT_* */
  crmsync_str amount;   /* line total, when amount_kind is DECIMAL */
  int64_t amount_minor; /* line total, when amount_kind is MINOR */
} crmsync_line_item_v1;

/* One sale as the CRM gave it. The host normalizes (phone to E.164, amount to minor units, time
 * to UTC), prefixes external_id with the connector id in upper case ("YCLIENTS-67890"), dedups
 * and stores it. Borrowed for the sink call.
 *
 * Limits: the host checks every record before anything of it is stored. A record outside them
 * is not stored; it counts as failed, with a reason that names the field ("description is not
 * valid UTF-8 (at byte 15)"), like a record the connector reported through sink->fail.
 *   - Every string is well-formed UTF-8 (no overlong forms, no surrogates), and at most, in
 *     bytes: external_id 256, occurred_at 64, amount 64, currency 16, customer_phone 64,
 *     customer_ref 256, description 4096, locator 256, raw_json 1 MiB; per item: name 1024,
 *     quantity 64, amount 64. At most 500 items.
 *   - The amount is 1 .. 1,000,000,000,000 minor units (ten billion roubles), however given. A
 *     sum of nine million such amounts still fits a signed 64-bit integer.
 *   - occurred_at is not before 2000-01-01T00:00:00Z and not more than 24 hours ahead of the
 *     host's clock.
 * What a connector reports through skip and fail is logged cut to these lengths, with bytes that
 * are not UTF-8 replaced by U+FFFD. */
typedef struct crmsync_record_v1 {
  uint32_t struct_size;
  crmsync_str external_id; /* the CRM's own id of the sale, without prefix; empty: the host
                              derives one from date, phone and amount */
  crmsync_str occurred_at; /* RFC 3339 with an offset ("2025-11-17T14:30:00+03:00"), or local
                              "YYYY-MM-DD HH:MM[:SS]" in the integration's time zone */
  uint32_t amount_kind;    /* CRMSYNC_AMOUNT_* */
  crmsync_str amount;      /* when amount_kind is DECIMAL */
  int64_t amount_minor;    /* when amount_kind is MINOR */
  crmsync_str currency;    /* ISO 4217; empty: the integration's currency */
  crmsync_str customer_phone; /* as the CRM gave it; empty when unknown */
  crmsync_str customer_ref;   /* card number or hashed patient id; may be empty */
  crmsync_str description;
  const crmsync_line_item_v1* const* items; /* item_count pointers; may be NULL when 0 */
  size_t item_count;
  uint32_t flags;       /* CRMSYNC_RECORD_* */
  crmsync_str raw_json; /* the CRM object, for logs of failures; empty for medical records */
  crmsync_str locator;  /* where the object sits in its source, for error reports ("Row 7");
                           may be empty */
} crmsync_record_v1;

/* Where a connector delivers what it found. Host-owned; valid during the entry point that
 * received it. Functions return CRMSYNC_OK, or an error the connector must return at once
 * (CANCELLED, INTERNAL when the host could not accept the data). */
typedef struct crmsync_sink_v1 {
  uint32_t struct_size;
  void* host_data; /* host-private */

  /* A sale. */
  int32_t (*record)(const struct crmsync_sink_v1* sink, const crmsync_record_v1* record);

  /* An object that is not a sale (unpaid, deleted, lost lead...), with the reason. */
  int32_t (*skip)(const struct crmsync_sink_v1* sink, crmsync_str external_id, crmsync_str reason);

  /* An object that could not be mapped: the host logs the reason with the raw object and,
   * for fetched data, queues it for an item-level retry. external_id may be empty when the
   * object has none; the reason then says where it is ("Row 7: amount is missing"). */
  int32_t (*fail)(const struct crmsync_sink_v1* sink, crmsync_str external_id, crmsync_str reason,
                  crmsync_str raw_json);

  /* From parse_webhook only: the body names an object to re-read through fetch_object. */
  int32_t (*refetch)(const struct crmsync_sink_v1* sink, crmsync_str object_id);

  /* From fetch only, once, after the batch's objects: the cursor to pass to the next fetch and
   * whether more data is waiting now (nonzero: the host calls fetch again at once). The host
   * commits the batch and the cursor in one transaction. */
  int32_t (*checkpoint)(const struct crmsync_sink_v1* sink, crmsync_str next_cursor, int32_t more);
} crmsync_sink_v1;

/* Text output of health_check. Host-owned; valid during the call that received it. */
typedef struct crmsync_text_out_v1 {
  uint32_t struct_size;
  void* host_data; /* host-private */
  /* Sets the message shown to the admin, e.g. "✅ Connected to YCLIENTS - Миндаль". Copied. */
  void (*set)(const struct crmsync_text_out_v1* out, crmsync_str text);
} crmsync_text_out_v1;

/* ---------------------------------------------------------------------------------------------
 * Inputs of the optional entry points
 * ------------------------------------------------------------------------------------------- */

/* A webhook request as received by the host (already authenticated). Borrowed for the call. */
typedef struct crmsync_webhook_request_v1 {
  uint32_t struct_size;
  crmsync_str content_type;
  const crmsync_http_header* headers; /* the headers that matter to connectors */
  size_t header_count;
  crmsync_str query; /* raw query string, without '?' */
  crmsync_str body;
} crmsync_webhook_request_v1;

/* Kinds of bonus events. */
enum { CRMSYNC_BONUS_ACCRUED = 0, CRMSYNC_BONUS_REDEEMED = 1 };

/* A bonus the platform accrued or redeemed for a sale, to write back to the CRM. Borrowed. */
typedef struct crmsync_bonus_event_v1 {
  uint32_t struct_size;
  int32_t kind;             /* CRMSYNC_BONUS_* */
  crmsync_str external_id;  /* the sale's CRM id, without the host's prefix */
  crmsync_str customer_phone; /* E.164 */
  int64_t amount_minor;     /* bonus amount in minor units, positive */
  crmsync_str currency;
  crmsync_str occurred_at;  /* RFC 3339, UTC */
} crmsync_bonus_event_v1;

/* Everything open() receives. Borrowed for the call, except host and ctx, which stay valid until
 * close() returns. */
typedef struct crmsync_open_args_v1 {
  uint32_t struct_size;
  const crmsync_host_v1* host;
  crmsync_host_ctx* ctx;
  crmsync_str integration_id; /* the host's id of the integration */
  crmsync_str config_json;    /* settings validated against config_schema, secrets removed */
  crmsync_str timezone;       /* IANA zone of the integration, e.g. "Europe/Moscow" */
  crmsync_str currency;       /* ISO 4217 default currency of the integration */
} crmsync_open_args_v1;

/* ---------------------------------------------------------------------------------------------
 * The connector descriptor
 * ------------------------------------------------------------------------------------------- */

/* A provider's request limit: at most `requests` requests in any window of `per_ms`
 * milliseconds (YCLIENTS: {5, 1000} and {200, 60000}). Since 1.1. A fixed two-field value, never
 * extended (a new shape would be crmsync_rate_limit_v2), so it carries no struct_size. */
typedef struct crmsync_rate_limit_v1 {
  uint32_t requests;
  uint32_t per_ms;
} crmsync_rate_limit_v1;

/* What a connector is and can do. Connector-owned, static and immutable for as long as the
 * library is loaded. The descriptor strings are NUL-terminated UTF-8. */
typedef struct crmsync_connector_v1 {
  uint32_t struct_size;
  uint32_t abi_major;          /* CRMSYNC_ABI_MAJOR the connector was built with */
  uint32_t abi_minor_required; /* the lowest host minor this connector works with */

  const char* id;            /* stable lower-case id, e.g. "yclients"; prefixes external ids */
  const char* display_name;  /* e.g. "YCLIENTS" */
  const char* vendor;        /* who maintains the connector */
  const char* version;       /* semver of the connector */
  const char* config_schema; /* JSON Schema (draft 2020-12 subset) of the settings; secret
                                fields carry "x-secret": true */
  uint64_t capabilities;     /* CRMSYNC_CAP_* */

  /* Creates an instance for one integration. Required. On success sets *out and returns OK; on
   * failure returns an error (set_error gives the detail) and leaves *out unset. */
  int32_t (*open)(const crmsync_open_args_v1* args, crmsync_instance** out);

  /* Destroys an instance. Required. Cannot fail; no other call on it runs or follows. */
  void (*close)(crmsync_instance* instance);

  /* Checks credentials and reachability with one cheap request and writes the admin-facing
   * message ("✅ Connected to ..." or "❌ Invalid API token or Company ID"). Required. */
  int32_t (*health_check)(crmsync_instance* instance, const crmsync_text_out_v1* out);

  /* Fetches one bounded batch (about one provider page) starting at cursor (empty: the first
   * run, from the integration's start date), calls sink->record / skip / fail for each object,
   * then sink->checkpoint exactly once. Required with CRMSYNC_CAP_FETCH. */
  int32_t (*fetch)(crmsync_instance* instance, crmsync_str cursor, const crmsync_sink_v1* sink);

  /* Re-reads one object named by a webhook (sink->refetch) and maps it like fetch, without
   * checkpoint. Optional; required when parse_webhook may call refetch. */
  int32_t (*fetch_object)(crmsync_instance* instance, crmsync_str object_id,
                          const crmsync_sink_v1* sink);

  /* Maps a webhook body to records, skips or refetches; no checkpoint. Must be thread-safe and
   * must not call http(). Required with CRMSYNC_CAP_WEBHOOK. */
  int32_t (*parse_webhook)(crmsync_instance* instance, const crmsync_webhook_request_v1* request,
                           const crmsync_sink_v1* sink);

  /* Maps a saved response body of the connector's list endpoint, offline (no http()), as fetch
   * would, without checkpoint. Used by `crmsync parse` and mapping tests. Optional. */
  int32_t (*map_response)(crmsync_instance* instance, crmsync_str body,
                          const crmsync_sink_v1* sink);

  /* Registers url as the provider's webhook target for this integration, or removes the
   * registration when url is empty. Idempotent. Optional. */
  int32_t (*configure_webhook)(crmsync_instance* instance, crmsync_str url);

  /* Writes a bonus event to the CRM. idempotency_key is stable across retries of the same
   * event. Required with CRMSYNC_CAP_PUSH_BONUS. */
  int32_t (*push_bonus)(crmsync_instance* instance, const crmsync_bonus_event_v1* event,
                        crmsync_str idempotency_key);

  /* Since 1.1. The provider's request limits; the host's HTTP service enforces all of them at
   * once, per integration, on every request the instance makes. Connector-owned static array of
   * rate_limit_count entries; NULL with count 0 means no limit. A 1.0 host ignores them. */
  const crmsync_rate_limit_v1* rate_limits;
  uint32_t rate_limit_count;
} crmsync_connector_v1;

/* The one exported symbol of a connector library, for ABI major 1. Cheap and free of side
 * effects: it may check host->abi_minor and must set *out to its static descriptor. Returns OK,
 * or UNSUPPORTED when the host is too old. Called on any thread, possibly more than once. */
typedef int32_t (*crmsync_connector_entry_v1_fn)(const crmsync_host_v1* host,
                                                  const crmsync_connector_v1** out);

/* The entry symbol's name, for hosts that look it up. */
#define CRMSYNC_CONNECTOR_ENTRY_V1_SYMBOL "crmsync_connector_entry_v1"

/* Declaration of the entry point; a connector defines it with CRMSYNC_EXPORT. */
CRMSYNC_EXPORT int32_t crmsync_connector_entry_v1(const crmsync_host_v1* host,
                                                  const crmsync_connector_v1** out);

/* Helper for building string views from literals and NUL-terminated strings. */
#define CRMSYNC_STR_LIT(s) \
  { (s), sizeof(s) - 1 }

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CRMSYNC_CONNECTOR_H */
