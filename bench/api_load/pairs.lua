-- Phase "pairs": approve + complete of fresh invoices, by id.
--
-- Each wrk thread takes a disjoint slice of invoices.txt. request() sends the next invoice's approve
-- (POST …/invoices/{id}/approve with a unique document_id and its billing_date) unless an approved invoice
-- is waiting for its complete (POST …/invoices/{id}/complete with the same document_id). The complete is
-- queued in response(), when the approve's 200 has arrived: a thread's connections share one queue, and a
-- complete sent before its approve had committed would be refused (INVOICE-0102).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  threads[#threads + 1] = thread
end

local invoices, prefix, headers
local next_invoice = 0
local awaiting_approval = {}  -- invoice id -> invoice, approve sent and not answered
local to_complete, head, tail = {}, 1, 0  -- FIFO of approved invoices
approves_ok, completes_ok, refused, unmatched, exhausted, first_refusal = 0, 0, 0, 0, 0, ""

function init(args)
  local thread_count = tonumber(args[1])
  assert(thread_count, "pass the wrk thread count after --")
  invoices = bench.read_invoices(bench.env("BENCH_INVOICES"), thread_number, thread_count)
  prefix = "/api/v3/resellers/" .. bench.env("BENCH_RESELLER_ID") .. "/invoices/"
  headers = {["X-Api-Token"] = bench.env("BENCH_TOKEN"), ["Content-Type"] = "application/json",
             ["Accept"] = "application/vnd.api+json"}
end

local function body_of(invoice)
  return '{"document_id":"BENCH-' .. invoice.id .. '","billing_date":"' .. invoice.billing_date .. '"}'
end

function request()
  if head <= tail then
    local invoice = to_complete[head]
    to_complete[head] = nil
    head = head + 1
    return wrk.format("POST", prefix .. invoice.id .. "/complete", headers, body_of(invoice))
  end
  next_invoice = next_invoice + 1
  local invoice = invoices[next_invoice]
  if invoice == nil then
    -- Out of fresh invoices: a harmless request, counted, and the shell script fails the run.
    exhausted = exhausted + 1
    return wrk.format("GET", "/healthz")
  end
  awaiting_approval[invoice.id] = invoice
  return wrk.format("POST", prefix .. invoice.id .. "/approve", headers, body_of(invoice))
end

function response(status, response_headers, body)
  if status ~= 200 then
    refused = refused + 1
    if first_refusal == "" then
      first_refusal = status .. " " .. string.sub(body or "", 1, 300):gsub("%s", "_")
    end
    return
  end
  local id = body:match('^{"data":{"id":"(%d+)"')
  if id == nil then
    unmatched = unmatched + 1  -- the /healthz answers after exhaustion
    return
  end
  local invoice = awaiting_approval[id]
  if invoice ~= nil then
    awaiting_approval[id] = nil
    approves_ok = approves_ok + 1
    tail = tail + 1
    to_complete[tail] = invoice
  else
    completes_ok = completes_ok + 1
  end
end

function done(summary, latency, requests)
  local totals = {approves_ok = 0, completes_ok = 0, refused = 0, unmatched = 0, exhausted = 0}
  local refusal = ""
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
    if refusal == "" then refusal = thread:get("first_refusal") end
  end
  bench.report("pairs", summary, latency, {
    {"approves_ok", totals.approves_ok}, {"completes_ok", totals.completes_ok}, {"refused", totals.refused},
    {"unmatched", totals.unmatched}, {"exhausted", totals.exhausted},
    {"first_refusal", refusal == "" and "-" or refusal}})
end
