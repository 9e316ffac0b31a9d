-- wrk script of bench/webhooks: POSTs the body in $WEBHOOK_BODY with the signature header in
-- $WEBHOOK_SIGNATURE ("sha256=<hex HMAC-SHA256>"), and prints one WRKJSON line of results.
local file = assert(io.open(assert(os.getenv("WEBHOOK_BODY"), "WEBHOOK_BODY unset"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Signature"] = assert(os.getenv("WEBHOOK_SIGNATURE"), "WEBHOOK_SIGNATURE unset")

done = function(summary, latency, requests)
  local errors = summary.errors
  local fields = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"err_connect":%d', errors.connect),
    string.format('"err_read":%d', errors.read),
    string.format('"err_write":%d', errors.write),
    string.format('"err_status":%d', errors.status),
    string.format('"err_timeout":%d', errors.timeout),
    string.format('"lat_mean_us":%.1f', latency.mean),
    string.format('"lat_p50_us":%d', latency:percentile(50)),
    string.format('"lat_p90_us":%d', latency:percentile(90)),
    string.format('"lat_p99_us":%d', latency:percentile(99)),
    string.format('"lat_max_us":%d', latency.max),
  }
  io.write("WRKJSON {" .. table.concat(fields, ",") .. "}\n")
end
