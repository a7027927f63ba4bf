-- Phase "get": GET /api/v3/resellers/{reseller}/invoices/{id} of random existing invoices, with the token.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local threads = {}
local invoices, prefix, headers

function setup(thread)
  thread:set("thread_number", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  invoices = bench.read_invoices(bench.env("BENCH_INVOICES"), 0, 1)
  assert(#invoices > 0, "no invoices")
  prefix = "/api/v3/resellers/" .. bench.env("BENCH_RESELLER_ID") .. "/invoices/"
  headers = {["X-Api-Token"] = bench.env("BENCH_TOKEN"), ["Accept"] = "application/vnd.api+json"}
  math.randomseed(1000 + thread_number)
end

function request()
  return wrk.format("GET", prefix .. invoices[math.random(#invoices)].id, headers)
end

function done(summary, latency, requests)
  bench.report("get", summary, latency)
end
