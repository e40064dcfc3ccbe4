# Turns a Lua file into a C++ string constant, so the runtime has a built-in
# copy when the readable file is not installed next to it.
# cmake -DINPUT=file.lua -DOUTPUT=file.cpp -DSYMBOL=name -P embed_lua.cmake
file(READ "${INPUT}" content)
file(WRITE "${OUTPUT}"
    "// Generated from ${INPUT} by embed_lua.cmake; edit the .lua file instead.\n"
    "namespace neurite::lua {\n"
    "extern const char *const ${SYMBOL};\n"
    "const char *const ${SYMBOL} = R\"NEURITE_LUA(${content})NEURITE_LUA\";\n"
    "} // namespace neurite::lua\n")
