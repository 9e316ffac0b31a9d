/* hello: an example crmsync connector in plain C99.
 *
 * It talks to no real CRM: fetch serves five made-up sales, two per batch, and keeps a cursor so
 * that the host resumes where the last batch ended. It shows every piece a real connector uses:
 * the descriptor with its JSON Schema (one secret field), open/close with per-instance state,
 * a secret read through the host, health_check's admin message, records through the sink,
 * checkpoints, durable state with compare-and-set, log lines and set_error.
 *
 * Settings (see kSchema): greeting (string, required) goes into each sale's description;
 * api_token (secret) must be present. Ownership follows connector.h: everything the host passes
 * is borrowed for the call, so the instance copies what it keeps. */
#include <crmsync/connector.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELLO_SALES 5
#define HELLO_BATCH 2

static const char kSchema[] =
    "{\"type\": \"object\","
    " \"required\": [\"greeting\", \"api_token\"],"
    " \"properties\": {"
    "   \"greeting\": {\"type\": \"string\", \"minLength\": 1},"
    "   \"api_token\": {\"type\": \"string\", \"x-secret\": true}"
    " }}";

struct crmsync_instance {
  const crmsync_host_v1* host;
  crmsync_host_ctx* ctx;
  char* config_json; /* copy of the (secret-free) settings; the greeting is read from it */
};

static crmsync_str cstr(const char* s) {
  crmsync_str out;
  out.ptr = s;
  out.len = strlen(s);
  return out;
}

static int32_t fail(crmsync_instance* self, int32_t code, const char* message) {
  self->host->set_error(self->ctx, code, cstr(message), 0);
  return code;
}

/* Finds the greeting in the settings JSON. A real connector would use a JSON parser; the host
 * has already validated the settings against kSchema, so a plain search is enough here. */
static crmsync_str greeting(const crmsync_instance* self) {
  static const char kKey[] = "\"greeting\":\"";
  const char* start = strstr(self->config_json, kKey);
  crmsync_str out = {NULL, 0};
  if (start != NULL) {
    const char* end;
    start += sizeof kKey - 1;
    end = strchr(start, '"');
    if (end != NULL) {
      out.ptr = start;
      out.len = (size_t)(end - start);
    }
  }
  return out;
}

static int32_t hello_open(const crmsync_open_args_v1* args, crmsync_instance** out) {
  crmsync_instance* self = (crmsync_instance*)calloc(1, sizeof *self);
  crmsync_str token;
  if (self == NULL) return CRMSYNC_E_INTERNAL;
  self->host = args->host;
  self->ctx = args->ctx;
  if (args->host->secret_get(args->ctx, cstr("api_token"), &token) != CRMSYNC_OK ||
      token.len == 0) {
    int32_t code = fail(self, CRMSYNC_E_INVALID_CONFIG, "api_token is not set");
    free(self);
    return code;
  }
  self->config_json = (char*)malloc(args->config_json.len + 1);
  if (self->config_json == NULL) {
    free(self);
    return CRMSYNC_E_INTERNAL;
  }
  memcpy(self->config_json, args->config_json.ptr, args->config_json.len);
  self->config_json[args->config_json.len] = '\0';
  *out = self;
  return CRMSYNC_OK;
}

static void hello_close(crmsync_instance* self) {
  free(self->config_json);
  free(self);
}

static int32_t hello_health_check(crmsync_instance* self, const crmsync_text_out_v1* out) {
  (void)self;
  out->set(out, cstr("\xE2\x9C\x85 Connected to Hello"));
  return CRMSYNC_OK;
}

/* Counts fetch calls in durable state: a read, then a compare-and-set that fails with CONFLICT
 * when another host got there first (the host then retries the call). */
static int32_t count_fetch(crmsync_instance* self) {
  crmsync_str value;
  uint64_t version = 0;
  char next[24];
  long count = 0;
  int32_t code = self->host->state_get(self->ctx, cstr("fetches"), &value, &version);
  if (code == CRMSYNC_OK) {
    char text[24] = {0};
    memcpy(text, value.ptr, value.len < sizeof text - 1 ? value.len : sizeof text - 1);
    count = strtol(text, NULL, 10);
  } else if (code != CRMSYNC_E_NOT_FOUND) {
    return code;
  }
  snprintf(next, sizeof next, "%ld", count + 1);
  return self->host->state_cas(self->ctx, cstr("fetches"), version, cstr(next), NULL);
}

static int32_t hello_fetch(crmsync_instance* self, crmsync_str cursor,
                           const crmsync_sink_v1* sink) {
  char digits[16] = {0};
  long first = 0;
  long i;
  int32_t code;
  if (cursor.len >= sizeof digits) return fail(self, CRMSYNC_E_INVALID_INPUT, "bad cursor");
  memcpy(digits, cursor.ptr, cursor.len);
  first = cursor.len == 0 ? 0 : strtol(digits, NULL, 10);
  if (first < 0 || first > HELLO_SALES) return fail(self, CRMSYNC_E_INVALID_INPUT, "bad cursor");
  if (self->host->is_cancelled(self->ctx)) return CRMSYNC_E_CANCELLED;
  code = count_fetch(self);
  if (code != CRMSYNC_OK) return code;

  for (i = first; i < first + HELLO_BATCH && i < HELLO_SALES; ++i) {
    char id[16];
    char when[32];
    crmsync_record_v1 record;
    memset(&record, 0, sizeof record);
    record.struct_size = sizeof record;
    snprintf(id, sizeof id, "%ld", 1000 + i);
    snprintf(when, sizeof when, "2025-11-%02ld 12:00", 10 + i);
    record.external_id = cstr(id);
    record.occurred_at = cstr(when); /* local time in the integration's zone */
    record.amount_kind = CRMSYNC_AMOUNT_MINOR;
    record.amount_minor = 150000 + 100 * i;
    record.customer_phone = cstr("+7 999 123-45-67");
    record.description = greeting(self);
    code = sink->record(sink, &record);
    if (code != CRMSYNC_OK) return code;
  }
  {
    char next[16];
    snprintf(next, sizeof next, "%ld", i);
    self->host->log(self->ctx, CRMSYNC_LOG_DEBUG, cstr("hello: batch done"));
    return sink->checkpoint(sink, cstr(next), i < HELLO_SALES);
  }
}

static const crmsync_connector_v1 kDescriptor = {
    sizeof(crmsync_connector_v1),
    CRMSYNC_ABI_MAJOR,
    0, /* needs nothing newer than ABI 1.0 */
    "hello",
    "Hello",
    "crmsync examples",
    "1.0.0",
    kSchema,
    CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL,
    hello_open,
    hello_close,
    hello_health_check,
    hello_fetch,
    NULL, /* fetch_object */
    NULL, /* parse_webhook */
    NULL, /* map_response */
    NULL, /* configure_webhook */
    NULL, /* push_bonus */
    NULL, /* rate_limits: the example talks to no provider */
    0};

CRMSYNC_EXPORT int32_t crmsync_connector_entry_v1(const crmsync_host_v1* host,
                                                  const crmsync_connector_v1** out) {
  (void)host;
  *out = &kDescriptor;
  return CRMSYNC_OK;
}
