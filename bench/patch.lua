-- wrk script: durable writes, PATCH /api/v1/users/me {"name":"bench-<thread>-<counter>"}.
--
-- SF_METHOD=GET turns it into the authenticated read load (GET /users/me with the same tokens,
-- one per request round-robin: every user's session is checked, not one cached token).
--
-- Tokens: $SF_TOKENS_FILE (one access token per line, one per user), or $SF_TOKEN (one user).
-- wrk gives a script no connection identity, so instead of one token per connection each
-- thread walks the token list round-robin, one token per request, starting at a different
-- offset per thread. With 64 users and -c64 every user has about one write in flight.
--
-- Every response's status is checked in response(); done() prints one machine-readable line
--   PATCH_RESULT ok=<200s> non200=<others> duration_us=<...> statuses=<code:count,...>
-- that bench/run.sh parses (committed writes/s = ok / duration).

local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  local path = os.getenv("SF_TOKENS_FILE")
  if path and path ~= "" then
    for line in io.lines(path) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  if #tokens == 0 then
    local t = os.getenv("SF_TOKEN")
    if t and t ~= "" then tokens[1] = t end
  end
  if #tokens == 0 then error("patch.lua: set SF_TOKENS_FILE or SF_TOKEN") end
  idx = (tid * 7) % #tokens
  n = 0
  ok = 0
  non200 = 0
  statuses = ""          -- "code:count," pairs for non-200 codes (strings copy safely)
  bad = {}
  wrk.method = os.getenv("SF_METHOD") or "PATCH"
  if wrk.method ~= "GET" then wrk.headers["Content-Type"] = "application/json" end
end

function request()
  n = n + 1
  idx = idx % #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[idx]
  if wrk.method == "GET" then return wrk.format() end
  return wrk.format(nil, nil, nil, '{"name":"bench-' .. tid .. '-' .. n .. '"}')
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
    if non200 <= 3 then
      io.stderr:write("patch.lua: HTTP " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local tok, tbad, codes = 0, 0, {}
  for _, t in ipairs(threads) do
    tok = tok + (t:get("ok") or 0)
    tbad = tbad + (t:get("non200") or 0)
    local s = t:get("statuses") or ""
    if s ~= "" then codes[#codes + 1] = s end
  end
  io.write(string.format("PATCH_RESULT ok=%d non200=%d duration_us=%d statuses=%s\n",
    tok, tbad, summary.duration, #codes > 0 and table.concat(codes, ",") or "-"))
end
