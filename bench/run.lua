--- `make bench [BENCH="json request ..."]`: runs the named benchmarks (bench/<name>.lua), or all.
-- Each benchmark prints its own table; results worth keeping go to docs/benchmarks.md by hand,
-- with the command that produced them.
local names = {}
for name in (arg[1] or ""):gmatch("%S+") do names[#names + 1] = name end
if #names == 0 then
  local p = assert(io.popen("ls bench/*.lua | LC_ALL=C sort"))
  for path in p:lines() do
    local name = path:match("bench/([%w_%-]+)%.lua$")
    if name and name ~= "run" and not name:match("^lib") then names[#names + 1] = name end
  end
  p:close()
end
local failed = 0
for _, name in ipairs(names) do
  print(("== bench/%s.lua =="):format(name))
  local ok = os.execute("lua5.4 bench/" .. name .. ".lua")
  if not ok then failed = failed + 1 end
end
os.exit(failed == 0 and 0 or 1)
