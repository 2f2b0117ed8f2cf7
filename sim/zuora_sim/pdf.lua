--- A small, valid PDF (one page, Helvetica text lines) for invoice files.
local M = {}

local function esc(s)
  return (tostring(s):gsub("[\\()]", "\\%0"):gsub("[^\32-\126]", "?"))
end

--- Returns the bytes of a one-page PDF showing `lines` (strings), the first one as a title.
function M.document(lines)
  local content = { "BT", "/F1 18 Tf", "50 790 Td", "(" .. esc(lines[1] or "") .. ") Tj", "/F1 11 Tf" }
  for i = 2, #lines do
    content[#content + 1] = (i == 2 and "0 -30 Td" or "0 -16 Td")
    content[#content + 1] = "(" .. esc(lines[i]) .. ") Tj"
  end
  content[#content + 1] = "ET"
  local stream = table.concat(content, "\n")
  local objects = {
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    "<< /Length " .. #stream .. " >>\nstream\n" .. stream .. "\nendstream",
  }
  local out = { "%PDF-1.4\n%\226\227\207\211\n" }
  local offsets, pos = {}, #out[1]
  for i, o in ipairs(objects) do
    offsets[i] = pos
    local chunk = i .. " 0 obj\n" .. o .. "\nendobj\n"
    out[#out + 1] = chunk
    pos = pos + #chunk
  end
  local xref = { "xref", "0 " .. (#objects + 1), "0000000000 65535 f " }
  for i = 1, #objects do xref[#xref + 1] = string.format("%010d 00000 n ", offsets[i]) end
  out[#out + 1] = table.concat(xref, "\n") .. "\n"
  out[#out + 1] = "trailer\n<< /Size " .. (#objects + 1) .. " /Root 1 0 R >>\nstartxref\n" .. pos .. "\n%%EOF\n"
  return table.concat(out)
end

return M
