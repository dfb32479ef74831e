-- Argo CD health of a maaslab.dev object (Hypervisor, VirtNetwork, MaasNode, MaasLab).
--
-- The one source of the four resource.customizations.health.maaslab.dev_<Kind> entries:
-- hack/gen-argocd-health.ts copies it into argocd-cm-patch.yaml, and a test fails when the two
-- differ. Argo CD runs it under gopher-lua (Lua 5.1) with the object in the global `obj`.
--
-- The order is kstatus's, so Argo CD and Flux (kstatus through `wait: true`) agree:
--   1. status.observedGeneration behind metadata.generation: the controller has not seen the
--      latest spec yet (also when there is no status at all)        -> Progressing
--   2. Stalled=True: a retry cannot help, a human must act           -> Degraded
--   3. Reconciling=True: work in progress                            -> Progressing
--   4. Ready=True                                                    -> Healthy
--   5. otherwise                                                     -> Progressing
-- Ready means "as declared": a MaasNode its runStrategy (or MAAS, or its BMC under Manual)
-- keeps off is Ready=True with reason Halted, so it is Healthy like any other settled object.

local hs = {}

local function field(t, key)
  if type(t) ~= "table" then
    return nil
  end
  return t[key]
end

local function condition(status, kind)
  local conditions = field(status, "conditions")
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if type(c) == "table" and c.type == kind then
      return c
    end
  end
  return nil
end

local function why(c, default)
  if c ~= nil and type(c.message) == "string" and c.message ~= "" then
    return c.message
  end
  if c ~= nil and type(c.reason) == "string" and c.reason ~= "" then
    return c.reason
  end
  return default
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local status = field(obj, "status")
local generation = field(field(obj, "metadata"), "generation")
local observed = field(status, "observedGeneration")

if type(generation) == "number" and observed ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. generation
  return hs
end

local stalled = condition(status, "Stalled")
if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = why(stalled, "Stalled")
  return hs
end

local reconciling = condition(status, "Reconciling")
if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = why(reconciling, "Reconciling")
  return hs
end

local ready = condition(status, "Ready")
if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = why(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
