-- A call whose local files fail (issue 25): an output that cannot be written is found before
-- anything is sent (a POST is not done with its answer lost), and a local failure is kind "file"
-- with no HTTP status, never a "transport error 200" left over from the call before.
local simh = require "spec.support.sim"
local zuora = require "zuora"

describe("local file failures", function()
  local s, client
  local BODY = { name = "Local Co", currency = "USD",
    billToContact = { firstName = "Ada", lastName = "Lovelace", country = "US" } }
  lazy_setup(function()
    s = simh.start()
    client = zuora.new{ base_url = s.url, client_id = s.client_id, client_secret = s.client_secret }
  end)
  lazy_teardown(function()
    if client then client:close() end
    if s then s:stop() end
  end)

  it("an output that cannot be written: nothing is sent, kind file, no status", function()
    assert(client.catalog.list_products()) -- a call that answered 200 first
    s:clear_requests()
    local r, err = client.accounts.create(BODY, { output = "/nonexistent-zuora-dir/answer.json" })
    assert.is_nil(r)
    assert.equals("file", err.kind)
    assert.is_nil(err.status)
    assert.is_false(err.retryable)
    assert.is_nil(err.outcome_unknown)
    assert.equals("zuora file error: cannot write the answer to /nonexistent-zuora-dir/answer.json: No such file "
      .. "or directory [POST " .. s.url .. "/v1/accounts]", tostring(err))
    assert.equals(0, #s:requests{ path = "/v1/accounts" })
    assert.equals(0, #s:requests{ path = "/oauth/token" }) -- not even a token request
  end)

  it("a multipart or body file that cannot be read: kind file, no status from the call before", function()
    assert(client.catalog.list_products())
    local r, err = client:request("POST", "/v1/usage", { multipart = { { name = "file",
      path = "/nonexistent-zuora-dir/usage.csv" } } })
    assert.is_nil(r)
    assert.equals("file", err.kind)
    assert.is_nil(err.status)
    assert.matches("^zuora file error: cannot read multipart file /nonexistent%-zuora%-dir/usage%.csv", tostring(err))
    assert(client.catalog.list_products())
    r, err = client:request("POST", "/v1/accounts", { body_file = "/nonexistent-zuora-dir/a.json",
      content_type = "application/json" })
    assert.is_nil(r)
    assert.equals("file", err.kind)
    assert.is_nil(err.status)
    assert.not_matches("transport", tostring(err))
  end)
end)
