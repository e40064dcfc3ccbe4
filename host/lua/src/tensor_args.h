#pragma once

// Shared by the tensor binding files (tensor_*.cpp): arguments checked with
// errors that name the function and the bad value, and the conventions of
// the Lua API: dimensions and indices count from 1, negative ones from the
// end (-1 is the last), as PyTorch counts from 0.
#include "binding.h"

#include "neurite/core/strided.h"

#include <atomic>
#include <vector>

namespace neurite::lua {

// The value at idx as a message shows it: 3, 1.5, "abc", a table.
std::string value_text(lua_State *L, int idx);

// The integer at idx, else "<fn>: <what> is 1.5; it must be an integer".
int64_t check_int(lua_State *L, int idx, const char *fn, const char *what);
int64_t opt_int(lua_State *L, int idx, int64_t fallback, const char *fn, const char *what);
// The number at idx, else "<fn>: <what> must be a number, got a string".
double check_num(lua_State *L, int idx, const char *fn, const char *what);
double opt_num(lua_State *L, int idx, double fallback, const char *fn, const char *what);

// A dimension as a script gives it, made 0-based. ndim counts the tensor's
// dimensions; extra = 1 also allows the place after the last (unsqueeze, stack).
int dim_index(lua_State *L, int64_t dim, int ndim, const char *fn, int extra = 0);
int check_dim(lua_State *L, int idx, int ndim, const char *fn, int extra = 0);
// An index into dimension d (0-based) of size `size`, made 0-based.
int64_t element_index(lua_State *L, int64_t i, int64_t size, int d, const char *fn);

// Indices for index(), index_add(): a table of integers, a tensor of whole
// numbers or one integer, each in 1..size; made 0-based. Compared as
// integers: a float cannot tell 16777217 from 16777216.
std::vector<int64_t> check_index_list(lua_State *L, int idx, int64_t size, int d, const char *fn);
// Raises the error for an index value that is not a whole number in 1..size.
[[noreturn]] void bad_index_value(lua_State *L, float v, int64_t size, int d, const char *fn);
// One value of an index tensor (gather, scatter) made 0-based, or an error.
// Compared as an integer; inline, since gather and scatter check every element.
inline int64_t checked_index_value(lua_State *L, float v, int64_t size, int d, const char *fn)
{
    if (v > -9.0e15f && v < 9.0e15f) { // below 2^53 the conversion is exact; NaN fails
        const auto i = static_cast<int64_t>(v);
        if (static_cast<float>(i) == v && i >= 1 && i <= size)
            return i - 1;
    }
    bad_index_value(L, v, size, d, fn);
}

// A contiguous tensor seen as [outer, n, inner] around dimension d (a 0-d
// tensor as [1, 1, 1]), for loops that run along contiguous memory.
struct Layout {
    int64_t outer = 1, n = 1, inner = 1;
};
Layout layout_along(const Tensor &t, int d);

// Fills a contiguous tensor with draws of `dist` from the session's generator
// (tensor.seed decides them).
template <class Dist>
void fill_random(lua_State *L, Tensor &t, Dist dist)
{
    auto &rng = detail::session(L).rng;
    for (float &v : t)
        v = dist(rng);
}

// Whether a tensor of shape `from` broadcasts to `to` (for writes into `to`).
bool broadcasts_to(const Shape &from, const Shape &to);
// The shape a and b broadcast to, or an Error naming fn and both shapes.
Shape broadcast_shape(const Shape &a, const Shape &b, const char *fn);
// The tensor or number at idx; a number becomes a 0-d tensor over *scalar.
Tensor operand(lua_State *L, int idx, const char *fn, float &scalar);
// A new contiguous result on the stack, for the caller to fill.
Tensor new_result(lua_State *L, const Shape &shape);
// Raises when t cannot be written element by element (an expanded view).
void check_writable(lua_State *L, const Tensor &t, const char *fn);

// The shape of a new tensor: as check_shape_args, and also {} for a 0-d
// tensor (tensor.zeros{} holds one number, as torch.zeros(())).
Shape new_tensor_shape(lua_State *L, int idx, const char *fn);

// keepdim as the argument at idx: a boolean, or a table {keepdim = true}.
bool keepdim_arg(lua_State *L, int idx, const char *fn);

namespace autograd {
// How many tapes record right now, in any Lua state (autograd_binding.cpp):
// while none does, guard's only extra cost is this one test.
extern std::atomic<int> recording_tapes;
// guard's path while a tape records: runs fn, and puts the call on the
// state's tape when an argument is a recorded tensor. `key` is the function
// as registered (guard<fn>), which names the operation.
int recorded_call(lua_State *L, lua_CFunction fn, lua_CFunction key);
} // namespace autograd

// Every tensor function is registered as guard<fn>: a C++ exception it lets
// through (an allocation that fails, an Error of the core) becomes a Lua
// error at the script's line, as in guarded, never an exception crossing Lua.
// While autograd.grad records, the call also goes on its tape.
template <lua_CFunction F>
int guard(lua_State *L)
{
    if (autograd::recording_tapes.load(std::memory_order_relaxed) != 0) [[unlikely]]
        return autograd::recorded_call(L, F, &guard<F>);
    return guarded(L, [L] { return F(L); });
}

// The methods named in `fns` go into the table at `methods`.
void add_methods(lua_State *L, int methods, const luaL_Reg *fns);

} // namespace neurite::lua
