-- core.url: percent-encoding, query strings and URL parsing as the client builds and reads URLs.
describe("core.url #luajit", function()
  local url = require "zuora.core".url

  describe("escape", function()
    it("keeps unreserved characters and encodes every other byte", function()
      assert.equals("AZaz09-._~", url.escape("AZaz09-._~"))
      assert.equals("A%201%2F..%2Fx%3Fy%23z", url.escape("A 1/../x?y#z"))
      assert.equals("%25%2B%26%3D%00%FF", url.escape("%+&=\0\255"))
      assert.equals("%C3%A9", url.escape("é"))
    end)

    it("round-trips through unescape", function()
      local all = {}
      for i = 0, 255 do all[#all + 1] = string.char(i) end
      all = table.concat(all)
      assert.equals(all, url.unescape(url.escape(all)))
    end)
  end)

  describe("unescape", function()
    it("decodes escapes in either case and leaves '+' alone", function()
      assert.equals("a b+c/", url.unescape("a%20b+c%2f"))
    end)

    it("rejects malformed escapes", function()
      for _, bad in ipairs { "%", "%4", "%zz", "abc%2" } do
        local v, err = url.unescape(bad)
        assert.is_nil(v)
        assert.matches("invalid percent%-escape", err)
      end
    end)
  end)

  describe("encode_query", function()
    it("sorts keys and encodes keys and values", function()
      assert.equals("a=1&b=x%20y&c%26d=%3D", url.encode_query{ b = "x y", a = 1, ["c&d"] = "=" })
    end)

    it("repeats the key for array values, in array order, with brackets encoded", function()
      assert.equals("filter%5B%5D=b&filter%5B%5D=a&pageSize=20",
        url.encode_query{ ["filter[]"] = { "b", "a" }, pageSize = 20 })
    end)

    it("writes numbers and booleans plainly and exactly", function()
      assert.equals("a=true&b=false&c=0.1&d=-3&e=1e%2B300", url.encode_query{ a = true, b = false, c = 0.1, d = -3,
        e = 1e300 })
      if math.type then -- Lua 5.4 integers beyond 2^53 stay exact
        assert.equals("n=9007199254740993", url.encode_query{ n = math.tointeger("9007199254740993") })
      end
      assert.equals("n=123456789012", url.encode_query{ n = 123456789012 })
      assert.equals("", url.encode_query{})
      assert.equals("", url.encode_query{ empty = {} })
    end)

    it("raises for values it cannot encode", function()
      assert.has_error(function() url.encode_query{ a = { b = 1 } } end)
      assert.has_error(function() url.encode_query{ a = { { 1 } } } end)
      assert.has_error(function() url.encode_query{ a = print } end)
      assert.has_error(function() url.encode_query{ [1] = "x" } end)
      assert.has_error(function() url.encode_query{ a = 0 / 0 } end)
      assert.has_error(function() url.encode_query{ a = math.huge } end)
    end)
  end)

  describe("decode_query", function()
    it("decodes pairs, '+' as space, and repeated keys as arrays", function()
      local q = url.decode_query("a=1&a=2&b=x+y%21&c&a=3&=e")
      assert.same({ a = { "1", "2", "3" }, b = "x y!", c = "", [""] = "e" }, q)
      assert.same({ x = "1" }, url.decode_query("?x=1"))
      assert.same({}, url.decode_query(""))
    end)

    it("round-trips encode_query", function()
      local t = { ["filter[]"] = { "a b", "c&d" }, cursor = "abc=", pageSize = "99" }
      assert.same(t, url.decode_query(url.encode_query(t)))
    end)

    it("rejects malformed escapes", function()
      local v, err = url.decode_query("a=%zz")
      assert.is_nil(v)
      assert.matches("invalid percent%-escape", err)
    end)
  end)

  describe("parse", function()
    it("splits a URL, lower-cases the host and fills the default port", function()
      assert.same({ scheme = "https", host = "rest.apisandbox.zuora.com", port = 443, path = "/v1/accounts/A%201",
        query = "x=1", fragment = "top" }, url.parse("https://REST.apisandbox.zuora.com/v1/accounts/A%201?x=1#top"))
      assert.same({ scheme = "http", host = "127.0.0.1", port = 8080, path = "/" }, url.parse("http://127.0.0.1:8080"))
    end)

    it("gives IPv6 hosts without brackets", function()
      local u = url.parse("http://[::1]:9000/x")
      assert.equals("::1", u.host)
      assert.equals(9000, u.port)
    end)

    it("returns nil, err for what is not a URL", function()
      for _, bad in ipairs { "", "no scheme", "/relative/path", "http://", "http://exa mple.com/" } do
        local v, err = url.parse(bad)
        assert.is_nil(v, bad)
        assert.matches("invalid URL", err)
      end
    end)
  end)

  describe("origin", function()
    it("is scheme://host:port", function()
      assert.equals("https://rest.zuora.com:443", url.origin("https://Rest.Zuora.com/v1/x?y"))
      assert.equals("http://[::1]:8080", url.origin("http://[::1]:8080/"))
      assert.are_not.equal(url.origin("https://a.example/x"), url.origin("https://b.example/x"))
      assert.is_nil(url.origin("nonsense"))
    end)
  end)

  describe("is_loopback", function()
    it("accepts localhost, 127.0.0.0/8 and ::1", function()
      for _, h in ipairs { "localhost", "LocalHost", "127.0.0.1", "127.255.0.9", "::1", "[::1]",
        "::ffff:127.0.0.1" } do
        assert.is_true(url.is_loopback(h), h)
      end
    end)

    it("refuses everything else, including look-alikes", function()
      for _, h in ipairs { "", "128.0.0.1", "10.0.0.1", "127.0.0.1.evil.com", "localhost.evil.com", "evil-localhost",
        "0.0.0.0", "::", "::2", "127.1", "1.127.0.0", "localhost\0",
        "localhost.", "LOCALHOST." } do -- (a trailing dot: libcurl and nginx ask DNS for it)
        assert.is_false(url.is_loopback(h), h)
      end
    end)
  end)
end)
