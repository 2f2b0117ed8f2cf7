local M = {}
function M.register() end
return M
