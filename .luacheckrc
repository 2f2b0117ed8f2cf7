-- luacheck configuration for lua-zuora.
std = "max"
max_line_length = 120
codes = true
exclude_files = { "build/**", "lua/zuora/catalog/**" }
ignore = {
  "212/self", -- unused self in methods is normal
}

files["spec/**"] = { std = "+busted" }
files["sim/**"] = { std = "max+ngx_lua" } -- ngx is a global with writable fields (status, header, ctx)
files["lua/zuora/transport/ngx.lua"] = { read_globals = { "ngx" } }
files["examples/openresty/**"] = { read_globals = { "ngx" } }
files["lua/zuora/catalog/**"] = { max_line_length = false }
files["tools/openapi-facts.lua"] = { max_line_length = false } -- generated data, one operation a line
files["sim/zuora_sim/shapes_gen.lua"] = { max_line_length = false } -- generated data, one operation a line
