-- wrk script for scripts/bench-display.sh: each request signs in with the
-- next session token from the file given after "--" (one token a line).
local tokens = {}
local idx = 1

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  idx = math.random(#tokens)
end

function request()
  idx = idx % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[idx] })
end
