-- Phase "healthz": GET /healthz (one SELECT 1 on a fresh database connection), the ceiling.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "GET"
wrk.path = "/healthz"

function done(summary, latency, requests)
  bench.report("healthz", summary, latency)
end
