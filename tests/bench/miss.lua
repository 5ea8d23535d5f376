-- wrk script for the cache-miss read benchmark (used by tests/bench/hot_get.sh).
--   wrk ... --script tests/bench/miss.lua URL -- PREFIX COUNT [SIZE]
-- Each request GETs PREFIX .. string.format("k%06d", n) with n uniform in
-- 1..COUNT (different seed per wrk thread). Headers given with -H are sent.
-- Every response must be 200 with a SIZE-byte body (default 100); the number
-- of other responses is printed as "miss.lua: bad responses N" at the end.

local prefix, count, size = "/", 100000, 100
local threads, nthreads = {}, 0

function setup(thread)
   nthreads = nthreads + 1
   thread:set("tid", nthreads)
   table.insert(threads, thread)
end

function init(args)
   prefix = args[1] or prefix
   count = tonumber(args[2] or count)
   size = tonumber(args[3] or size)
   bad = 0
   math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
   return wrk.format(nil, prefix .. string.format("k%06d", math.random(1, count)))
end

function response(status, headers, body)
   if status ~= 200 or #body ~= size then
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local total = 0
   for _, t in ipairs(threads) do
      total = total + (t:get("bad") or 0)
   end
   io.write(string.format("miss.lua: bad responses %d\n", total))
end
