-- wrk script: durable workflow transitions, POST /api/v1/requests/{id}/transitions
-- {"action":"touch"} on a self-loop state, so every request is a full
-- transition (state check, role check, Lua guard, on_exit/on_enter actions,
-- events, row) committed by the writer before the 200.
--
-- $SF_PAIRS_FILE: "<access token> <request id>" per line (one request per
-- customer). Each thread walks the pairs round-robin from its own offset.
-- done() prints: TRANSITION_RESULT ok=<200s> non200=<others> duration_us=<...> statuses=<code:count,...>

local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

function init(args)
  pairs_ = {}
  for line in io.lines(os.getenv("SF_PAIRS_FILE")) do
    local tok, id = string.match(line, "^(%S+)%s+(%S+)$")
    if tok then pairs_[#pairs_ + 1] = {tok, id} end
  end
  if #pairs_ == 0 then error("transition.lua: set SF_PAIRS_FILE") end
  idx = (tid * 7) % #pairs_
  ok, non200, statuses, bad = 0, 0, "", {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  idx = idx % #pairs_ + 1
  wrk.headers["Authorization"] = "Bearer " .. pairs_[idx][1]
  return wrk.format(nil, "/api/v1/requests/" .. pairs_[idx][2] .. "/transitions", nil, '{"action":"touch"}')
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    non200 = non200 + 1
    bad[status] = (bad[status] or 0) + 1
    local parts = {}
    for code, count in pairs(bad) do parts[#parts + 1] = code .. ":" .. count end
    statuses = table.concat(parts, ",")
    if non200 <= 3 then io.stderr:write("transition.lua: HTTP " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local tok, tnon, codes = 0, 0, {}
  for _, t in ipairs(threads) do
    tok = tok + (t:get("ok") or 0)
    tnon = tnon + (t:get("non200") or 0)
    local s = t:get("statuses") or ""
    if s ~= "" then codes[#codes + 1] = s end
  end
  io.write(string.format("TRANSITION_RESULT ok=%d non200=%d duration_us=%d statuses=%s\n", tok, tnon,
    summary.duration, #codes > 0 and table.concat(codes, ",") or "-"))
end
