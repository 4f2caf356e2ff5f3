-- bench/wrk/post_bodies.lua -- wrk script for bench_http: POSTs JSON
-- bodies read from a file (one body per line) to the URL's path, cycling
-- through them, so the server never sees one query repeated back to back
-- (a cache would flatter the figures). Each wrk thread starts at its own
-- offset in the list, and each connection of a thread sends the next
-- body when it is ready, so 64 connections carry 64 different queries.
-- Requests are formatted once in init(): request() then only picks one,
-- which keeps wrk's own CPU low on a 2-core machine.
-- done() prints one line "WRK_JSON {...}" with the request count,
-- duration, errors (socket errors, and wrk's status errors: replies with
-- a status above 399) and latency percentiles in microseconds.
-- Usage: wrk -s post_bodies.lua URL -- BODIES_FILE

local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

local reqs = {}
local nreq = 0
local pos = 1

function init(args)
  local path = args[1]
  if not path then
    error("post_bodies.lua: usage: wrk -s post_bodies.lua URL -- FILE")
  end
  local f = assert(io.open(path, "r"))
  local headers = { ["Content-Type"] = "application/json" }
  for line in f:lines() do
    if #line > 0 then
      nreq = nreq + 1
      reqs[nreq] = wrk.format("POST", wrk.path, headers, line)
    end
  end
  f:close()
  if nreq == 0 then
    error("post_bodies.lua: no bodies in " .. path)
  end
  -- Thread t starts 61*(t-1) bodies in (a prime stride: threads do not
  -- start on the same body whatever the list's length).
  local t = tonumber(tid) or 1
  pos = ((t - 1) * 61) % nreq + 1
end

function request()
  local r = reqs[pos]
  pos = pos % nreq + 1
  return r
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
