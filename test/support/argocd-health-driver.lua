-- Runs an Argo CD health script over objects the way Argo CD does: the object in the global
-- `obj`, the script's returned table read for status and message. Lua 5.1, as Argo CD's
-- gopher-lua. Usage: lua5.1 argocd-health-driver.lua SCRIPT < objects.json (a JSON array);
-- prints a JSON array of {status, message}, one per object, in order.
local cjson = require("cjson")

-- JSON null becomes nil, as in the tables Argo CD hands its scripts.
local function denull(v)
  if v == cjson.null then
    return nil
  end
  if type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do
      out[k] = denull(x)
    end
    return out
  end
  return v
end

local script = assert(loadfile(arg[1]))
local objects = denull(cjson.decode(io.read("*a")))
local results = {}
for i, o in ipairs(objects) do
  -- A fresh global table per object, so nothing one run leaves behind leaks into the next.
  local env = setmetatable({ obj = o }, { __index = _G })
  setfenv(script, env)
  local ok, hs = pcall(script)
  if not ok then
    results[i] = { status = "Error", message = tostring(hs) }
  elseif type(hs) ~= "table" then
    results[i] = { status = "Error", message = "script returned " .. type(hs) }
  else
    results[i] = { status = hs.status or cjson.null, message = hs.message or cjson.null }
  end
end
if #results == 0 then
  io.write("[]")
else
  io.write(cjson.encode(results))
end
