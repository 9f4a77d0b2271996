-- wrk script: order placement, POST /api/v1/orders with Prefer: wait=10, so a
-- response means the whole saga ran (reserve, authorize, capture, confirm).
--
-- $SF_TOKENS_FILE: one customer access token per line; $SF_PRODUCTS: product
-- ids separated by commas. SF_ORDER_WAIT=0: no Prefer header; a response
-- then means the order was durably placed (201, "status":"pending") and the
-- saga finishes it afterwards (bench/run.sh waits for that and counts). Each request buys one unit of one product with the
-- sandbox success card. response() counts orders that came back settled and
-- paid ("status":"paid"); done() prints one line for bench/run.sh:
--   ORDER_RESULT paid=<n> other=<n> duration_us=<...> statuses=<code:count,...>

local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(os.getenv("SF_TOKENS_FILE")) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  products = {}
  for p in string.gmatch(os.getenv("SF_PRODUCTS") or "", "[^,]+") do products[#products + 1] = p end
  if #tokens == 0 or #products == 0 then error("order.lua: set SF_TOKENS_FILE and SF_PRODUCTS") end
  idx = (tid * 7) % #tokens
  n = 0
  paid = 0
  other = 0
  statuses = ""
  bad = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wait = os.getenv("SF_ORDER_WAIT") ~= "0"
  if wait then wrk.headers["Prefer"] = "wait=10" end
end

function request()
  n = n + 1
  idx = idx % #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[idx]
  local p = products[(n + tid) % #products + 1]
  return wrk.format(nil, "/api/v1/orders", nil,
    '{"items":[{"product_id":"' .. p .. '","quantity":1}],"payment":{"card_number":"4242424242424242"}}')
end

function response(status, headers, body)
  if status == 201 and (string.find(body, '"status":"paid"', 1, true) or
                        (not wait and string.find(body, '"status":"pending"', 1, true))) then
    paid = paid + 1
  else
    other = other + 1
    local key = status == 201 and "201-unpaid" or tostring(status)
    bad[key] = (bad[key] or 0) + 1
    local parts = {}
    for code, count in pairs(bad) do parts[#parts + 1] = code .. ":" .. count end
    statuses = table.concat(parts, ",")
    if other <= 3 then io.stderr:write("order.lua: HTTP " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local tpaid, tother, codes = 0, 0, {}
  for _, t in ipairs(threads) do
    tpaid = tpaid + (t:get("paid") or 0)
    tother = tother + (t:get("other") or 0)
    local s = t:get("statuses") or ""
    if s ~= "" then codes[#codes + 1] = s end
  end
  io.write(string.format("ORDER_RESULT paid=%d other=%d duration_us=%d statuses=%s\n",
    tpaid, tother, summary.duration, #codes > 0 and table.concat(codes, ",") or "-"))
end
