--- Where the older OpenAPI spec (as Prism reads it) and the catalogue legitimately disagree. Each entry
-- names the checks of spec/prism_spec.lua it concerns ("accept": a call with values from the spec must
-- be accepted; "required": a bare call must be refused for exactly the catalogue's required fields),
-- the reason, and the catalogue operations ("METHOD /path") it explains. The spec fails on a refusal not
-- listed here and on a listed operation that passes; tools/gen-catalog.lua renders this list into
-- docs/api.md.
return {
  {
    checks = { "accept", "required" },
    reason = "the older spec contradicts itself: it declares this job id a UUID but requires exactly 64"
      .. " characters (the GET of the same path says 36), so no id satisfies it",
    operations = { "DELETE /query/jobs/{job-id}" },
  },
}
