-- Compute threads flush denormals (FTZ/DAZ) unless the user opts out, and
-- nn.set_flush_denormal switches them during a run. Run as
--   neurite-run denormals.lua flush
--   neurite-run --keep-denormals denormals.lua keep
-- with the probe plugin of tests/auto/denormals on NEURITE_PLUGIN_PATH; the
-- window's test runs it too, with NEURITE_EXPECT_DENORMALS saying which.
local expected = (arg and arg[1]) or os.getenv("NEURITE_EXPECT_DENORMALS")
assert(expected == "flush" or expected == "keep", "give flush or keep, not " .. tostring(expected))

-- The smallest subnormal double, from its bits: a thread with DAZ reads it as
-- 0, so Lua's own arithmetic shows the mode of the thread running the script.
local tiny = string.unpack("<d", string.pack("<i8", 1))
local function script_thread_flushes() return tiny * 1 == 0 end

-- The probe reports FTZ (1) + DAZ (2) per thread (tests/auto/denormals/mxcsr_probe.cpp).
local probe = nn.MxcsrProbe()
local function check(mode)
  local code = mode == "flush" and 3 or 0
  local counted = mode == "flush" and 3 or 4 -- the column counting threads in that mode
  assert(script_thread_flushes() == (mode == "flush"), "the script's thread does not " .. mode)
  local x = tensor.zeros(2, 9)
  local y = probe:forward(x)
  local dx = probe:backward(x, tensor.zeros(2, 9))
  for call, report in pairs{forward = y, backward = dx} do
    local r = report:totable()[2]
    local where = call .. " expecting " .. mode .. ": "
    assert(r[1] == code, where .. "the calling thread has mode " .. r[1])
    assert(r[2] >= 2 and r[counted] == r[2], where .. r[counted] .. " of the team's " .. r[2] .. " threads")
    assert(r[5] == r[2] + 2 and r[counted + 3] == r[5],
           where .. r[counted + 3] .. " of the grown team's " .. r[5] .. " threads")
    assert(r[8] == code, where .. "the plugin's own thread has mode " .. r[8])
    assert(r[9] == 3 - code, where .. "the probe cannot tell a thread of the other mode")
  end
end

check(expected)
local other = expected == "flush" and "keep" or "flush"
assert(nn.set_flush_denormal(other == "flush") == (expected == "flush"), "returns the previous setting")
check(other)
assert(nn.set_flush_denormal(expected == "flush") == (other == "flush"))
check(expected)

local ok, message = pcall(nn.set_flush_denormal, "yes")
assert(not ok and message:find("boolean expected", 1, true), message)
print("denormals: " .. expected .. " ok")
