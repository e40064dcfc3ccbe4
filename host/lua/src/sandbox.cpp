// What a sandboxed script may touch on disk, and os.exit that no pcall can
// swallow.
//
// Paths are judged by where they really lead: every symbolic link is
// followed (also a dangling one, which a write would create the target of),
// so a link in the working directory cannot carry a read or a write out of it.
#include "sandbox.h"

#include "binding.h"

#include "neurite/core/data/idx.h"

#include <filesystem>
#include <deque>

#include <sys/stat.h>

namespace neurite::lua {

namespace {

namespace fs = std::filesystem;

constexpr int kMaxLinks = 40; // as the kernel's ELOOP limit

// The absolute path `path` leads to, with every symlink resolved, whether or
// not the file (or the link's target) exists.
fs::path real_path(const std::string &path)
{
    std::error_code ec;
    const fs::path absolute = fs::absolute(path, ec);
    std::deque<fs::path> todo;
    for (const fs::path &part : absolute.relative_path())
        todo.push_back(part);
    fs::path out = absolute.root_path();
    int links = 0;
    while (!todo.empty()) {
        const fs::path part = todo.front();
        todo.pop_front();
        if (part.empty() || part == ".")
            continue;
        if (part == "..") {
            out = out.parent_path();
            continue;
        }
        const fs::path next = out / part;
        struct stat st {};
        if (lstat(next.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
            if (++links > kMaxLinks)
                throw Error("'" + path + "': too many levels of symbolic links");
            const fs::path target = fs::read_symlink(next, ec);
            if (ec)
                throw Error("'" + path + "': cannot read the symbolic link " + next.string());
            std::deque<fs::path> parts;
            for (const fs::path &p : target.relative_path())
                parts.push_back(p);
            todo.insert(todo.begin(), parts.begin(), parts.end());
            if (target.is_absolute())
                out = target.root_path();
            continue;
        }
        out = next;
    }
    return out;
}

bool is_within(const fs::path &path, const fs::path &root)
{
    auto p = path.begin();
    for (auto r = root.begin(); r != root.end(); ++r, ++p) {
        if (r->empty())
            continue; // a trailing separator
        if (p == path.end() || *p != *r)
            return false;
    }
    return true;
}

fs::path working_directory()
{
    std::error_code ec;
    return real_path(fs::current_path(ec).string());
}

// The folder above the dataset packages' own (/usr/share/datasets).
fs::path datasets_root() { return fs::path(data::kFashionMnistDir).parent_path(); }

std::string read_rule(const RuntimeOptions &options)
{
    std::string rule = "in sandbox mode files are read only below the working directory, the installed "
                       "datasets (" + datasets_root().string() + ")";
    for (const std::string &dir : options.allowed_read_dirs)
        rule += ", " + dir;
    return rule + " and folders given with --allow-read";
}

// ---- os.exit through pcall, xpcall and coroutines

// After os.exit, a call that caught an error passes the exit on instead of
// returning it: the first result false and the session exiting.
int pass_exit_on(lua_State *L, int status, lua_KContext)
{
    (void)status;
    if (detail::session(L).exiting && lua_gettop(L) >= 1 && lua_isboolean(L, 1) && !lua_toboolean(L, 1))
        raise_exit(L);
    return lua_gettop(L);
}

// The original function (upvalue 1) called with every argument, yieldable,
// as pcall and coroutine.resume are themselves.
int exit_aware_call(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, pass_exit_on);
    return pass_exit_on(L, LUA_OK, 0);
}

void wrap(lua_State *L, int table, const char *name)
{
    lua_getfield(L, table, name);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_pushcclosure(L, exit_aware_call, 1);
    lua_setfield(L, table, name);
}

} // namespace

std::string sandbox_write_refusal(const std::string &path, const char *what)
{
    try {
        const fs::path real = real_path(path);
        if (!path.empty() && is_within(real, working_directory()))
            return {};
        std::string message = std::string(what) + ": in sandbox mode files are written only below the working "
                              "directory; '" + path + "' is outside it";
        if (!path.empty() && real != fs::absolute(path).lexically_normal())
            message += " (it leads to " + real.string() + ")";
        return message;
    } catch (const std::exception &e) {
        return std::string(what) + ": " + e.what();
    }
}

void check_write_path(lua_State *L, const std::string &path, const char *fn)
{
    if (!detail::session(L).options.sandbox)
        return;
    const std::string message = sandbox_write_refusal(path, fn);
    if (!message.empty())
        raise(L, message);
}

data::ReadCheck sandbox_read_check(const RuntimeOptions &options)
{
    if (!options.sandbox)
        return {};
    return [options](const std::string &path) {
        const fs::path real = real_path(path);
        if (is_within(real, working_directory()) || is_within(real, real_path(datasets_root().string())))
            return;
        for (const std::string &dir : options.allowed_read_dirs)
            if (is_within(real, real_path(dir)))
                return;
        throw Error("'" + path + "' cannot be read: " + read_rule(options));
    };
}

void check_read_path(lua_State *L, const std::string &path, const char *fn)
{
    const data::ReadCheck &check = detail::session(L).read_check;
    if (!check)
        return;
    std::string message;
    try {
        check(path);
        return;
    } catch (const std::exception &e) {
        message = std::string(fn) + ": " + e.what();
    }
    raise(L, message);
}

void install_exit_guards(lua_State *L)
{
    lua_pushglobaltable(L);
    wrap(L, lua_gettop(L), "pcall");
    wrap(L, lua_gettop(L), "xpcall");
    lua_getfield(L, -1, LUA_COLIBNAME);
    if (lua_istable(L, -1)) {
        wrap(L, lua_gettop(L), "resume");
        wrap(L, lua_gettop(L), "close");
    }
    lua_pop(L, 2);
}

} // namespace neurite::lua
