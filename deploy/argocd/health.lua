-- Argo CD health check for mailroom.dev/EmailSender and mailroom.dev/ClusterEmailSender (both
-- kinds carry the same status).
--
-- Install it in argocd-cm, once per kind:
--   data:
--     resource.customizations.health.mailroom.dev_EmailSender: |
--       <this file>
--     resource.customizations.health.mailroom.dev_ClusterEmailSender: |
--       <this file>
--
-- The rules, first match wins (kstatus's, and Argo CD's own for cert-manager Certificates, where
-- Ready=False is Degraded):
--   Suspended    spec.suspend=true
--   Progressing  the controller has not yet observed the current generation
--   Degraded     Stalled=True (nothing changes until the user acts)
--   Progressing  the Ready condition was computed for an older generation
--   Healthy      Ready=True for the current generation
--   Degraded     Ready=False: the probe failed; still Degraded while it is retried with backoff
--                (Reconciling=True, reason ProgressingWithRetry), else a sender that never works
--                would show Progressing forever
--   Progressing  anything else: Ready=Unknown while a new generation is probed, or no Ready yet
-- Argo CD runs this with gopher-lua (Lua 5.1, base/table/string/math only): nothing newer is used.

local hs = {}

local function condition(conditions, type)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == type then return c end
  end
  return nil
end

local function describe(c, fallback)
  return (c.reason or fallback) .. ": " .. (c.message or "")
end

local generation = obj.metadata and obj.metadata.generation or 0
local status = obj.status or {}
local conditions = status.conditions

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Probing is suspended (spec.suspend); the last published config stays"
  return hs
end

if status.observedGeneration == nil or status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local ready = condition(conditions, "Ready")
-- A condition computed from an older generation says nothing about this one.
if ready ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition of generation " .. tostring(generation)
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready, "NotReady")
  local reconciling = condition(conditions, "Reconciling")
  if reconciling ~= nil and reconciling.status == "True" then
    hs.message = hs.message .. " (retrying with backoff)"
  end
  return hs
end

local reconciling = condition(conditions, "Reconciling")
hs.status = "Progressing"
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.message or "Reconciling"
else
  hs.message = "Waiting for the Ready condition"
end
return hs
