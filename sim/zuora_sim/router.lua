--- Route table: "METHOD /path/{param}" templates matched against raw (still percent-encoded)
-- request paths; each parameter is decoded on its own, so an id holding "%2F" stays one segment.
local util = require "zuora_sim.util"

local M = {}

local routes = {}
local by_length = {} -- segment count -> routes with that many segments (only those can match)

local function split(path)
  local segs = {}
  for seg in path:gmatch("[^/]+") do segs[#segs + 1] = seg end
  return segs
end
M.split = split

--- Registers `handler` for `method` and `template`. `opts.family` picks the error shape
-- ("v1" default, "crud" for Actions and /v1/object).
function M.add(method, template, handler, opts)
  local segs = split(template)
  local literal = 0
  local pattern = {}
  for i, s in ipairs(segs) do
    local name = s:match("^{(.+)}$")
    if name then pattern[i] = { param = name } else pattern[i] = { lit = s }; literal = literal + 1 end
  end
  opts = opts or {}
  -- Hand-written routes always beat generic catalogue routes; among equals, more literals win.
  local route = { method = method, template = template, segs = pattern,
    score = (opts.generic and 0 or 1000) + literal, handler = handler, opts = opts }
  routes[#routes + 1] = route
  local bucket = by_length[#pattern]
  if not bucket then
    bucket = {}
    by_length[#pattern] = bucket
  end
  bucket[#bucket + 1] = route
end

local function match_route(r, segs)
  local rsegs = r.segs
  -- Literals first, without allocating: most routes fail here.
  for i = 1, #rsegs do
    local lit = rsegs[i].lit
    if lit and lit ~= segs[i] then return nil end
  end
  local params = {}
  for i = 1, #rsegs do
    local p = rsegs[i]
    if p.param then params[p.param] = util.unescape(segs[i]) end
  end
  return params
end

--- Finds the most specific route for method + raw path. Returns route, params; or nil and
-- whether some other method matches the path (for 405-style answers).
function M.find(method, path)
  local segs = split(path)
  local best, best_params
  local other_method = false
  for _, r in ipairs(by_length[#segs] or {}) do
    local params = match_route(r, segs)
    if params then
      if r.method == method then
        if not best or r.score > best.score then best, best_params = r, params end
      else
        other_method = true
      end
    end
  end
  if best then return best, best_params end
  return nil, other_method
end

function M.routes() return routes end

return M
