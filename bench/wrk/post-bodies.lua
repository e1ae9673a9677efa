-- wrk script: POST a different form body on every request.
--
--   WRK_JSON_OUT=result.json wrk -t2 -c32 -d10s --latency -s post-bodies.lua \
--       http://127.0.0.1:18080/sdk/mobile/jwt -- bodies-sdk.txt 2
--
-- Arguments after `--`: <body file> (one urlencoded body per line) and the number of
-- wrk threads (-t). Every thread reads the whole file in init(), pre-formats one
-- HTTP request per body (so the generator spends no time building requests), and
-- starts at its own offset (thread i at i*N/threads), then walks the list in order,
-- wrapping around: consecutive requests on a thread never repeat a body, and the
-- threads do not send the same body at the same time.
--
-- With GET in place of the body file, every request is a plain GET of the URL
-- (the HTTP floor: `GET /healthz` through the same server).
--
-- done() writes a JSON summary to $WRK_JSON_OUT (or prints it on stdout prefixed by
-- "WRK_JSON "): requests, duration, rate, latency percentiles (microseconds) and wrk's
-- error counters (status = responses with status >= 400; connect/read/write/timeout
-- = socket errors).

local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

local requests = {}
local n = 0
local idx = 0

function init(args)
   local path = args[1]
   local nthreads = tonumber(args[2]) or 1
   if path == nil then
      error("usage: wrk ... -s post-bodies.lua <url> -- <body file> <threads>")
   end
   if path == "GET" then
      n = 1
      requests[1] = wrk.format("GET")
      return
   end
   local f = assert(io.open(path, "r"))
   local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
   for line in f:lines() do
      if #line > 0 then
         n = n + 1
         requests[n] = wrk.format("POST", nil, headers, line)
      end
   end
   f:close()
   if n == 0 then
      error("no bodies in " .. path)
   end
   local tid = id or 0
   idx = math.floor(tid * n / nthreads) % n
end

function request()
   idx = idx + 1
   if idx > n then
      idx = 1
   end
   return requests[idx]
end

function done(summary, latency, reqs)
   local e = summary.errors
   local secs = summary.duration / 1e6
   local parts = {
      string.format('"requests":%d', summary.requests),
      string.format('"duration_us":%d', summary.duration),
      string.format('"bytes":%d', summary.bytes),
      string.format('"rps":%.3f', summary.requests / secs),
      string.format('"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}',
         latency.min, latency.mean, latency.stdev, latency.max,
         latency:percentile(50), latency:percentile(75), latency:percentile(90),
         latency:percentile(99), latency:percentile(99.9)),
      string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
         e.connect, e.read, e.write, e.status, e.timeout),
   }
   local json = "{" .. table.concat(parts, ",") .. "}"
   local out = os.getenv("WRK_JSON_OUT")
   if out and #out > 0 then
      local f = assert(io.open(out, "w"))
      f:write(json, "\n")
      f:close()
   else
      io.write("WRK_JSON ", json, "\n")
   end
end
