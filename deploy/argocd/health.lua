-- Argo CD health check for mailroom.dev/EmailSender.
--
-- Install it in argocd-cm:
--   data:
--     resource.customizations.health.mailroom.dev_EmailSender: |
--       <this file>
--
-- The rules are kstatus's, which Flux applies to the same status:
--   Progressing  the controller has not yet observed the current generation, or Reconciling=True
--   Degraded     Stalled=True (nothing changes until the user acts) or Ready=False
--   Healthy      Ready=True for the current generation
--   Suspended    spec.suspend=true
-- Argo CD runs this with gopher-lua (Lua 5.1): nothing newer than 5.1 is used.

local hs = {}

local function condition(conditions, type)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == type then return c end
  end
  return nil
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
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end

local reconciling = condition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = reconciling.message or "Reconciling"
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
  hs.message = (ready.reason or "NotReady") .. ": " .. (ready.message or "")
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
