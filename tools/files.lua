--- Small file-system helpers shared by the generators in tools/ and by specs (no lfs needed).
local M = {}

--- Files under `dir` whose names match the Lua pattern `pat`, sorted, as paths relative to the cwd.
function M.list(dir, pat)
  local out = {}
  local p = assert(io.popen("find '" .. dir .. "' -type f 2>/dev/null | LC_ALL=C sort"))
  for line in p:lines() do
    if line:match(pat) then out[#out + 1] = line end
  end
  p:close()
  return out
end

function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

--- Writes `data` to `path` only if it differs, so reruns leave timestamps alone. Returns true if written.
function M.write_if_changed(path, data)
  if M.read(path) == data then return false end
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  return true
end

return M
