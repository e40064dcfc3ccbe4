// The Lua state of a session: libraries (all, or the sandbox's safe subset),
// the Neurite modules, print routing, the cancel hook and running scripts
// the way lua.c does (arg table, message handler with traceback).
#include "neurite/lua/runtime.h"

#include "binding.h"
#include "error_location.h"
#include "interrupts.h"
#include "memory_limit.h"
#include "sandbox.h"

#include "neurite/core/memory_budget.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#ifndef NEURITE_INSTALL_LUA_DIR
#define NEURITE_INSTALL_LUA_DIR ""
#endif

namespace neurite::lua {

// resources/lua/neurite/train.lua, callbacks.lua, diagnostics.lua and
// parallel.lua, built in
extern const char *const kEmbeddedTrainLua;
extern const char *const kEmbeddedParallelLua;
extern const char *const kEmbeddedCallbacksLua;
extern const char *const kEmbeddedDiagnosticsLua;
extern const char *const kEmbeddedSchedulesLua;
extern const char *const kEmbeddedMetricsLua;
extern const char *const kEmbeddedOptimizersLua;
extern const char *const kEmbeddedLayersLua;
extern const char *const kEmbeddedSweepLua;
extern const char *const kEmbeddedAutogradLua;

namespace {

namespace fs = std::filesystem;

// os.exit raises this (as a light userdata) so the script unwinds and the
// host decides what exiting means, instead of the process ending under it.
char kExitSentinel;

int message_handler(lua_State *L)
{
    if (lua_touserdata(L, 1) == &kExitSentinel)
        return 1;
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    detail::SessionState &s = detail::session(L);
    s.error_frames = detail::stack_frames(L, 1);
    s.error_message = detail::at_user_line(msg, s.error_frames);
    luaL_traceback(L, L, nullptr, 1);
    return 1;
}

int lua_print(lua_State *L)
{
    const std::string line = joined_arguments(L);
    detail::SessionState &s = detail::session(L);
    return guarded(L, [&] {
        if (s.print)
            s.print(line);
        return 0;
    });
}

int lua_exit(lua_State *L)
{
    detail::SessionState &s = detail::session(L);
    if (lua_isboolean(L, 1))
        s.exit_code = lua_toboolean(L, 1) ? 0 : 1;
    else
        s.exit_code = static_cast<int>(luaL_optinteger(L, 1, 0));
    s.exiting = true;
    raise_exit(L);
}

// load() that refuses binary chunks: precompiled bytecode can break the VM.
int text_only_load(lua_State *L)
{
    const int n = lua_gettop(L);
    if (n <= 3) {
        lua_settop(L, 2);
        lua_pushliteral(L, "t");
    } else {
        lua_pushliteral(L, "t");
        lua_replace(L, 3);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

int sandbox_require(lua_State *L)
{
    const std::string name = luaL_checkstring(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, name.c_str());
    if (!lua_isnil(L, -1))
        return 1;
    raise(L, "require \"" + name + "\": only the Neurite modules (require \"neurite\") can be "
                                    "loaded in sandbox mode");
}

std::string read_text(const fs::path &path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The train module's Lua files are shipped readable next to the executable
// or in the install prefix, so a user can read and copy them; the built-in
// copies are the fallback. Runs resources/lua/neurite/<file> with the
// `nargs` values on top of the stack as its arguments, leaving one result.
void run_shipped_lua(lua_State *L, const char *file, const char *embedded, int nargs)
{
    std::vector<fs::path> dirs;
    if (const char *env = std::getenv("NEURITE_LUA_PATH"); env && *env)
        dirs.emplace_back(env);
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
        dirs.push_back(exe.parent_path() / ".." / "share" / "neurite" / "lua");
    if (*NEURITE_INSTALL_LUA_DIR)
        dirs.emplace_back(NEURITE_INSTALL_LUA_DIR);
    std::string code, chunk_name;
    for (const fs::path &dir : dirs) {
        const fs::path path = dir / "neurite" / file;
        if (fs::is_regular_file(path, ec)) {
            code = read_text(path);
            chunk_name = "@" + fs::weakly_canonical(path, ec).string();
            break;
        }
    }
    if (code.empty()) {
        code = embedded;
        chunk_name = std::string("=[built-in neurite/") + file + "]";
    }
    detail::register_library_chunk(chunk_name);
    if (luaL_loadbufferx(L, code.data(), code.size(), chunk_name.c_str(), "t") != LUA_OK)
        lua_error(L);
    lua_insert(L, -nargs - 1);
    lua_call(L, nargs, 1);
}

// train.lua makes the train table from the modules and parallel.lua's
// table (data-parallel runs); callbacks.lua adds resume and the callbacks
// to it, diagnostics.lua gradient_check, curvature and confusion,
// metrics.lua the metrics beside accuracy; schedules.lua (learning-rate
// schedules, gradient clipping) and optimizers.lua (LBFGS, Newton) add to
// optim, layers.lua nn.Normalize, sweep.lua train.sweep. Leaves the table on
// the stack.
void load_train_module(lua_State *L, int neurite)
{
    lua_pushvalue(L, neurite);
    run_shipped_lua(L, "parallel.lua", kEmbeddedParallelLua, 1);
    lua_pushvalue(L, neurite);
    lua_insert(L, -2);
    run_shipped_lua(L, "train.lua", kEmbeddedTrainLua, 2);
    const std::pair<const char *, const char *> extensions[] = {{"callbacks.lua", kEmbeddedCallbacksLua},
                                                                {"diagnostics.lua", kEmbeddedDiagnosticsLua},
                                                                {"metrics.lua", kEmbeddedMetricsLua},
                                                                {"schedules.lua", kEmbeddedSchedulesLua},
                                                                {"optimizers.lua", kEmbeddedOptimizersLua},
                                                                {"layers.lua", kEmbeddedLayersLua},
                                                                {"sweep.lua", kEmbeddedSweepLua}};
    for (const auto &[file, embedded] : extensions) {
        lua_pushvalue(L, neurite);
        lua_pushvalue(L, -2);
        run_shipped_lua(L, file, embedded, 2);
        lua_pop(L, 1);
    }
}

void open_safe_libraries(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},       {LUA_COLIBNAME, luaopen_coroutine},
                                    {LUA_TABLIBNAME, luaopen_table}, {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_MATHLIBNAME, luaopen_math}, {LUA_UTF8LIBNAME, luaopen_utf8},
                                    {nullptr, nullptr}};
    for (const luaL_Reg *lib = libs; lib->func; ++lib) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    // Files and compiled chunks are out of reach; load() keeps text chunks.
    for (const char *name : {"dofile", "loadfile"}) {
        lua_pushnil(L);
        lua_setglobal(L, name);
    }
    lua_getglobal(L, "load");
    lua_pushcclosure(L, text_only_load, 1);
    lua_setglobal(L, "load");
    lua_pushcfunction(L, sandbox_require);
    lua_setglobal(L, "require");
}

int open_all(lua_State *L)
{
    detail::SessionState &s = detail::session(L);
    if (s.options.sandbox) {
        open_safe_libraries(L);
    } else {
        luaL_openlibs(L);
        lua_getglobal(L, "os");
        lua_pushcfunction(L, lua_exit);
        lua_setfield(L, -2, "exit");
        lua_pop(L, 1);
    }
    lua_pushcfunction(L, lua_print);
    lua_setglobal(L, "print");
    // The library's Lua (train.lua and friends) keeps Lua's own pcall: the
    // exit guard's wrapper is one more frame on the stack, which would shift
    // every error level the library counts to name the script's line. The
    // library rethrows what it catches, so an os.exit still gets through.
    lua_newtable(L);
    const int neurite = lua_gettop(L);
    lua_getglobal(L, "pcall");
    lua_setfield(L, neurite, "_library_pcall");
    install_exit_guards(L);
    open_tensor(L);
    open_tensor_linalg(L, -1);
    lua_setfield(L, neurite, "tensor");
    open_nn(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, kNnRegistryKey);
    lua_setfield(L, neurite, "nn");
    open_optim(L);
    lua_setfield(L, neurite, "optim");
    open_monitor(L);
    open_run_store_functions(L, -1);
    lua_setfield(L, neurite, "monitor");
    open_data(L);
    lua_setfield(L, neurite, "data");
    open_json(L);
    lua_setfield(L, neurite, "json");
    open_dist(L);
    lua_setfield(L, neurite, "dist");
    register_option_checks(L, neurite);
    open_sweep_functions(L, neurite);
    load_train_module(L, neurite);
    lua_setfield(L, neurite, "train");
    // autograd.lua: autograd.grad over the recording of autograd_binding.cpp;
    // it also gives nn.define's layers without a backward one.
    lua_pushvalue(L, neurite);
    lua_getfield(L, neurite, "tensor");
    push_autograd_core(L, -1);
    lua_remove(L, -2);
    run_shipped_lua(L, "autograd.lua", kEmbeddedAutogradLua, 2);
    lua_setfield(L, neurite, "autograd");

    for (const char *name : {"tensor", "nn", "optim", "monitor", "data", "train", "dist", "autograd"}) {
        lua_getfield(L, neurite, name);
        lua_setglobal(L, name);
    }
    // require "neurite" returns the same table of modules, in any mode.
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, neurite);
    lua_setfield(L, -2, "neurite");
    lua_getfield(L, neurite, "train");
    lua_setfield(L, -2, "neurite.train");
    lua_pop(L, 1);
    return 0;
}

int lua_panic(lua_State *L)
{
    const char *message = lua_tostring(L, -1);
    std::fprintf(stderr, "neurite: Lua error outside a protected call: %s\n", message ? message : "?");
    return 0; // Lua aborts
}

void write_stdout(const std::string &line)
{
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
}

// The store checks every run directory as the sandbox checks a script's
// writes (symbolic links followed); a refused --runs folder is an error
// before the script starts, not a warning per run.
void open_run_store(detail::SessionState &s)
{
    RunStore::WriteCheck check;
    if (s.options.sandbox && !s.options.runs_dir.empty()) {
        if (const std::string refusal = sandbox_write_refusal(s.options.runs_dir, "--runs"); !refusal.empty())
            throw Error(refusal);
        check = [](const std::string &path) { return sandbox_write_refusal(path, "run store"); };
    }
    const nrt_host *host = s.context.host(); // warnings go where the plugins' go
    s.run_store = std::make_unique<RunStore>(s.options.runs_dir, s.options.seed, std::move(check),
                                             [host](const std::string &m) { host->log(host->context, 1, m.c_str()); });
    RunStore *store = s.run_store.get();
    s.monitor.subscribe([store](const MonitorEvent &e) { store->handle(e); });
}

// run.json's status: os.exit(0) finished, another exit code failed.
void record_outcome(RunStore &store, const RunResult &result)
{
    switch (result.status) {
    case RunResult::Status::Ok: break;
    case RunResult::Status::Exit:
        if (result.exit_code != 0)
            store.set_outcome("failed", "os.exit(" + std::to_string(result.exit_code) + ")");
        break;
    case RunResult::Status::Interrupted: store.set_outcome("stopped", result.message); break;
    case RunResult::Status::Error: store.set_outcome("failed", result.message); break;
    }
}

} // namespace

void raise_exit(lua_State *L)
{
    lua_pushlightuserdata(L, &kExitSentinel);
    lua_error(L);
    std::terminate(); // lua_error does not return
}

LuaRuntime::LuaRuntime(const RuntimeOptions &options)
    : m_state(std::make_unique<detail::SessionState>(options))
{
    detail::SessionState &s = *m_state;
    if (options.load_plugins)
        s.registry.load_default_paths();
    s.print = write_stdout;
    s.read_check = sandbox_read_check(options);
    memory::set_limit(options.max_memory_bytes); // process-wide, as the budget is
    open_run_store(s);
    s.L = lua_newstate(session_alloc, &s);
    if (!s.L)
        throw Error("cannot create a Lua state: out of memory");
    lua_atpanic(s.L, lua_panic);
    *static_cast<detail::SessionState **>(lua_getextraspace(s.L)) = &s;
    lua_pushcfunction(s.L, open_all);
    if (lua_pcall(s.L, 0, 0, 0) != LUA_OK) {
        const std::string message = lua_tostring(s.L, -1) ? lua_tostring(s.L, -1) : "unknown error";
        lua_close(s.L);
        s.L = nullptr;
        throw Error("cannot set up the Lua runtime: " + message);
    }
    lua_sethook(s.L, interrupt_hook, LUA_MASKCOUNT, kHookCount);
}

LuaRuntime::~LuaRuntime()
{
    if (m_state->L)
        lua_close(m_state->L); // finalizers destroy modules while the registry lives
    close_definitions(*m_state);
}

ComputeContext &LuaRuntime::context() { return m_state->context; }
Registry &LuaRuntime::registry() { return m_state->registry; }
Monitor &LuaRuntime::monitor() { return m_state->monitor; }
lua_State *LuaRuntime::state() { return m_state->L; }
std::string LuaRuntime::run_dir() const { return m_state->run_store->run_dir(); }
const RuntimeOptions &LuaRuntime::options() const { return m_state->options; }

void LuaRuntime::set_print_sink(PrintSink sink)
{
    m_state->print = sink ? std::move(sink) : PrintSink(write_stdout);
}

void LuaRuntime::request_cancel() { m_state->context.request_cancel(); }
bool LuaRuntime::cancel_requested() const { return m_state->context.cancel_requested(); }

void LuaRuntime::clear_cancel()
{
    m_state->context.clear_cancel();
    m_state->cancel_seen = false;
    m_state->interrupted = false;
    m_state->cancel_noticed = false;
    m_state->cancel_reason = detail::SessionState::CancelReason::Interrupt;
}

void LuaRuntime::set_stuck_handler(StuckHandler handler) { m_stuck = std::move(handler); }

RunResult LuaRuntime::run_file(const std::string &path, const std::vector<std::string> &args,
                               const std::vector<std::string> &interpreter)
{
    lua_State *L = m_state->L;
    lua_createtable(L, static_cast<int>(args.size()), static_cast<int>(interpreter.size()) + 1);
    for (size_t i = 0; i < interpreter.size(); ++i) {
        lua_pushstring(L, interpreter[i].c_str());
        lua_rawseti(L, -2, -static_cast<lua_Integer>(interpreter.size() - i));
    }
    lua_pushstring(L, path.c_str());
    lua_rawseti(L, -2, 0);
    for (size_t i = 0; i < args.size(); ++i) {
        lua_pushstring(L, args[i].c_str());
        lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
    }
    lua_setglobal(L, "arg");
    // The arguments are also the chunk's `...`: room for them first (Lua
    // guarantees only LUA_MINSTACK free slots; writing past them corrupts
    // the heap, as 100 arguments did).
    if (args.size() > 100000 || !lua_checkstack(L, static_cast<int>(args.size()) + LUA_MINSTACK)) {
        RunResult result;
        result.status = RunResult::Status::Error;
        result.exit_code = 1;
        result.message = "too many script arguments (" + std::to_string(args.size()) + ")";
        return result;
    }
    const int status = luaL_loadfilex(L, path.c_str(), m_state->options.sandbox ? "t" : nullptr);
    for (const std::string &a : args)
        lua_pushstring(L, a.c_str());
    const std::string stem = fs::path(path).stem().string();
    m_state->run_store->set_script(path, args);
    m_state->script_interpreter_size = interpreter.size();
    m_state->monitor.begin_run(stem.empty() ? "script" : stem);
    return run_loaded(status, static_cast<int>(args.size()));
}

RunResult LuaRuntime::run_string(const std::string &code, const std::string &chunk_name)
{
    lua_State *L = m_state->L;
    const int status = luaL_loadbufferx(L, code.data(), code.size(), chunk_name.c_str(),
                                        m_state->options.sandbox ? "t" : nullptr);
    // A script's text (chunk "@file.lua") is a run of its own in the event
    // stream, as with run_file; a console line ("=...") is not.
    if (!chunk_name.empty() && chunk_name[0] == '@') {
        const std::string stem = fs::path(chunk_name.substr(1)).stem().string();
        m_state->run_store->set_script(chunk_name.substr(1), {}, &code); // what ran, not the file
        m_state->monitor.begin_run(stem.empty() ? "script" : stem);
    }
    return run_loaded(status, 0);
}

RunResult LuaRuntime::run_loaded(int load_status, int nargs)
{
    detail::SessionState &s = *m_state;
    lua_State *L = s.L;
    RunResult result;
    if (load_status != LUA_OK) {
        // The chunk failed to load: its message is below the arguments.
        lua_pop(L, nargs);
        result.status = RunResult::Status::Error;
        result.exit_code = 1;
        result.message = lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot load the script";
        lua_pop(L, 1);
        s.run_store->set_outcome("failed", result.message);
        s.monitor.end_run(false);
        return result;
    }
    s.interrupted = false;
    s.cancel_seen = false;
    s.cancel_noticed = false;
    s.over_memory = false;
    s.refused_allocation = 0;
    s.cooperative = 0;
    s.collective = 0;
    s.exit_code = -1;
    s.exiting = false;
    s.error_message.clear();
    s.error_frames.clear();
    lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, kHookCount);
    const int base = lua_gettop(L) - nargs; // the chunk
    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);
    int status = LUA_OK;
    {
        RunSupervisor supervisor(s, m_stuck);
        status = lua_pcall(L, nargs, 0, base);
    }
    if (status == LUA_OK) {
        lua_remove(L, base);
    } else {
        const bool exited = s.exiting || lua_touserdata(L, -1) == &kExitSentinel;
        if (exited) {
            result.status = RunResult::Status::Exit;
            result.exit_code = s.exit_code;
        } else {
            result.status = RunResult::Status::Error;
            result.exit_code = 1;
            result.message = s.error_message.empty()
                                 ? std::string(lua_tostring(L, -1) ? lua_tostring(L, -1) : "error")
                                 : s.error_message;
            result.traceback = lua_tostring(L, -1) ? lua_tostring(L, -1) : "";
            result.frames = std::move(s.error_frames);
            if (status == LUA_ERRMEM) { // no message handler ran: no line, no traceback
                result.message = refused_allocation_message(s);
                result.traceback.clear();
                result.frames.clear();
            }
        }
        lua_pop(L, 2); // the error and the handler
    }
    const bool time_limit = s.cancel_reason == detail::SessionState::CancelReason::TimeLimit;
    if (s.context.cancel_requested() && time_limit && result.status != RunResult::Status::Exit) {
        result.status = RunResult::Status::Error;
        result.exit_code = 1;
        const std::string what = time_limit_text(s.options.time_limit_seconds);
        if (result.message.find(what) == std::string::npos) // train.fit's own "interrupted" message
            result.message = what + ": " + result.message;
    } else if (s.context.cancel_requested() && result.status != RunResult::Status::Exit) {
        result.status = RunResult::Status::Interrupted;
        result.exit_code = 130;
        if (result.message.empty())
            result.message = "interrupted";
    }
    s.cooperative = 0;
    s.collective = 0;
    record_outcome(*s.run_store, result);
    s.monitor.end_run(result.status == RunResult::Status::Ok);
    return result;
}

} // namespace neurite::lua
