-- The rockspec lists exactly the modules and C sources in the tree, so `luarocks make` builds what we ship.
describe("rockspec", function()
  local function load_rockspec()
    local env = {}
    local chunk = assert(loadfile("rockspec/zuora-scm-1.rockspec", "t", env))
    chunk()
    return env
  end

  local function find(dir, pat)
    local out = {}
    for line in io.popen("find " .. dir .. " -type f | LC_ALL=C sort"):lines() do
      if line:match(pat) then out[#out + 1] = line end
    end
    return out
  end

  it("lists every Lua module under lua/zuora with its file", function()
    local spec = load_rockspec()
    local expected = {}
    for _, path in ipairs(find("lua/zuora", "%.lua$")) do
      local mod = path:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      expected[mod] = path
    end
    local listed = {}
    for mod, v in pairs(spec.build.modules) do
      if mod ~= "zuora.core" then listed[mod] = v end
    end
    assert.same(expected, listed)
  end)

  it("builds zuora.core from every C source, linking curl, OpenSSL, zlib and hiredis", function()
    local spec = load_rockspec()
    local core = spec.build.modules["zuora.core"]
    assert.same(find("src", "%.c$"), core.sources)
    assert.same({ "curl", "ssl", "crypto", "z", "hiredis" }, core.libraries)
    assert.is_table(spec.external_dependencies.CURL)
    assert.is_table(spec.external_dependencies.OPENSSL)
    assert.is_table(spec.external_dependencies.ZLIB)
    assert.is_table(spec.external_dependencies.HIREDIS)
  end)
end)
