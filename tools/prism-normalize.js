// Writes a copy of the older OpenAPI spec for Prism's proxy check (spec/prism_proxy_spec.lua).
// The spec keeps each JSON schema under "application/json; charset=utf-8" and bare examples under
// "application/json"; Prism picks the first media type whose type/subtype matches the answer's
// Content-Type (parameters ignored), lands on the examples-only entry and validates nothing. The
// copy moves the schema onto the "application/json" entry and drops the charset twin, so every JSON
// body is checked against its schema. Nothing else changes.
// Usage: node tools/prism-normalize.js <spec.json> <out.json>   (tools/prism-check.sh runs it)
'use strict';
const fs = require('fs');
const [src, dst] = process.argv.slice(2);
if (!src || !dst) {
  console.error('usage: node tools/prism-normalize.js <spec.json> <out.json>');
  process.exit(2);
}
const doc = JSON.parse(fs.readFileSync(src, 'utf8'));
const CHARSET = 'application/json; charset=utf-8';
let moved = 0;
function fix(content) {
  if (!content || !content[CHARSET]) return;
  const twin = content[CHARSET];
  const plain = content['application/json'] || {};
  content['application/json'] = Object.assign({}, twin, plain, { schema: plain.schema || twin.schema });
  delete content[CHARSET];
  moved++;
}
for (const item of Object.values(doc.paths || {})) {
  for (const op of Object.values(item)) {
    if (!op || typeof op !== 'object') continue;
    for (const r of Object.values(op.responses || {})) fix(r.content);
    if (op.requestBody) fix(op.requestBody.content);
  }
}
const comps = doc.components || {};
for (const r of Object.values(comps.responses || {})) fix(r.content);
for (const r of Object.values(comps.requestBodies || {})) fix(r.content);
fs.writeFileSync(dst, JSON.stringify(doc));
console.log(`prism-normalize: ${moved} media type entries merged into application/json`);
