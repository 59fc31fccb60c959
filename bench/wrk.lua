-- wrk script of the load benchmark (see bench/README.md), used by bench.py
-- for every scenario:
--
--   WRK_METHOD=POST WRK_BODY='{"comment":{"body":"..."}}' WRK_TOKEN=... \
--       wrk -t 2 -c 32 -d 10s -s bench/wrk.lua URL
--
-- The request comes from the environment (each wrk thread runs this file in
-- its own Lua state, so every thread sends the same request):
--   WRK_METHOD  HTTP method (default GET)
--   WRK_BODY    request body, sent as application/json (default none)
--   WRK_TOKEN   sent as "Authorization: Token <WRK_TOKEN>" (default none)
--
-- done() prints one line "wrk-json: {...}" after wrk's own report, with the
-- responses, the run's duration, the latency percentiles (microseconds) and
-- the errors. wrk counts as "status" errors the responses with a status of
-- 400 or more (its "Non-2xx or 3xx responses" line); connect, read, write and
-- timeout errors are socket errors.

wrk.method = os.getenv("WRK_METHOD") or "GET"

local body = os.getenv("WRK_BODY")
if body and body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
end

local token = os.getenv("WRK_TOKEN")
if token and token ~= "" then
    wrk.headers["Authorization"] = "Token " .. token
end

function done(summary, latency, requests)
    local percentiles = {}
    for _, p in ipairs({ 50, 75, 90, 95, 99, 99.9 }) do
        percentiles[#percentiles + 1] =
            string.format('"p%s":%d', tostring(p), latency:percentile(p))
    end
    local e = summary.errors
    io.write(string.format(
        'wrk-json: {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"latency_us":{%s,"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f},' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
        summary.requests, summary.duration, summary.bytes,
        table.concat(percentiles, ","), latency.min, latency.max, latency.mean, latency.stdev,
        e.connect, e.read, e.write, e.status, e.timeout))
end
