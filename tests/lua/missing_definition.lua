-- Loading a model whose Lua layer has not been defined in this run says
-- which definition is missing. (save_load.lua wrote the file with "Cube".)
local ok, err = pcall(nn.load, arg[1] or "save_load.nrt")
assert(not ok, "loading must fail without the Cube definition")
assert(err:find("needs layer 2 (Cube) but 'Cube' is not registered: it was defined in Lua; " ..
                "run its nn.define{name=\"Cube\", ...} before loading the model", 1, true), err)
print("missing definition ok")
