-- Shared by the wrk scripts of bench/api_load.sh (loaded with dofile; BENCH_LUA_DIR names this folder).
-- Every phase ends with one machine-readable line that the shell script parses:
--   BENCH_RESULT phase=NAME requests=N duration_us=N non2xx=N socket_errors=N p50_us=N p99_us=N max_us=N [k=v …]

bench = {}

-- The invoices of invoices.txt ("id billing_date" a line); with `every` > 1 only those whose line
-- number (from 0) is `slice` modulo `every`, so that each wrk thread gets a disjoint share.
function bench.read_invoices(path, slice, every)
  local invoices = {}
  local file = assert(io.open(path, "r"), "cannot read " .. tostring(path))
  local line_number = 0
  for line in file:lines() do
    local id, billing_date = line:match("^(%d+) (%d%d%d%d%-%d%d%-%d%d)$")
    if id and line_number % every == slice then
      invoices[#invoices + 1] = {id = id, billing_date = billing_date}
    end
    line_number = line_number + 1
  end
  file:close()
  return invoices
end

function bench.env(name)
  return assert(os.getenv(name), name .. " is not set (run bench/api_load.sh)")
end

function bench.report(phase, summary, latency, extra)
  local errors = summary.errors
  local line = string.format(
    "BENCH_RESULT phase=%s requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d max_us=%d",
    phase, summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max)
  for _, pair in ipairs(extra or {}) do
    line = line .. string.format(" %s=%s", pair[1], tostring(pair[2]))
  end
  io.write(line .. "\n")
end
