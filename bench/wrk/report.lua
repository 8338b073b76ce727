-- wrk script for bench/run.mjs: optional POST body, and one JSON result line printed by done().
--
-- BENCH_BODY_BYTES=N (environment) turns every request into a POST of N bytes (wrk adds the
-- Content-Length). done() prints "BENCH_RESULT {...}" with wrk's own counters; latencies are in
-- microseconds, "status" counts responses outside 2xx/3xx (nginx's 502s land there).

local body_bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "0") or 0
if body_bytes > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", body_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
