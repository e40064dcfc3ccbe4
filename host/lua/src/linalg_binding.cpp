// tensor.cholesky(A) and tensor.cholesky_solve(B, L): the dense solves of
// optim.Newton (resources/lua/neurite/optimizers.lua), by LAPACK's
// dpotrf and dpotrs in double precision. Named and shaped as PyTorch's
// torch.linalg.cholesky and torch.cholesky_solve: A = L Lᵀ with L lower
// triangular, and X = A⁻¹ B from L.
//
// LAPACK is column-major; a row-major symmetric A reads the same either
// way, and the column-major upper factor U (A = UᵀU) read row-major is L.
#include "tensor_args.h" // guard: on autograd's tape a recorded argument is an error (no gradient)

#include <cmath>
#include <string>
#include <vector>

extern "C" {
// Reference LAPACK (liblapack-dev), Fortran calling convention.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b,
             const int *ldb, int *info);
}

namespace neurite::lua {

namespace {

// The largest n for which an n×n matrix is handed to LAPACK (a 32-bit int
// counts its elements there).
constexpr int64_t kMaxOrder = 46340;

// The square matrix at idx as doubles, row-major; `fn` names the call in errors.
std::vector<double> square_matrix(lua_State *L, int idx, const char *fn, int &n)
{
    const Tensor a = check_tensor(L, idx);
    if (a.dim() != 2 || a.size(0) != a.size(1))
        raise(L, std::string(fn) + ": expects a square matrix, got a tensor of shape " + a.shape().to_string());
    if (a.size(0) > kMaxOrder)
        raise(L, std::string(fn) + ": a matrix of order " + std::to_string(a.size(0)) + " is above the limit of " +
                     std::to_string(kMaxOrder));
    n = static_cast<int>(a.size(0));
    const float *src = a.data();
    std::vector<double> out(static_cast<size_t>(n) * static_cast<size_t>(n));
    for (size_t i = 0; i < out.size(); ++i) {
        if (!std::isfinite(src[i]))
            raise(L, std::string(fn) + ": the matrix holds " + std::to_string(src[i]) + " at row " +
                         std::to_string(i / static_cast<size_t>(n) + 1) + ", column " +
                         std::to_string(i % static_cast<size_t>(n) + 1));
        out[i] = src[i];
    }
    return out;
}

// tensor.cholesky(A) -> L, lower triangular with A = L Lᵀ. A must be
// symmetric positive definite (only its lower triangle is read); else the
// error names the order of the first leading minor that is not.
int tensor_cholesky(lua_State *L)
{
    const char *fn = "tensor.cholesky";
    int n = 0;
    std::vector<double> a = square_matrix(L, 1, fn, n);
    int info = 0;
    const char upper = 'U';
    if (n > 0)
        dpotrf_(&upper, &n, a.data(), &n, &info);
    if (info > 0)
        raise(L, std::string(fn) + ": the matrix is not positive definite (its leading minor of order " +
                     std::to_string(info) + " is not positive)");
    if (info < 0)
        raise(L, std::string(fn) + ": LAPACK dpotrf refused argument " + std::to_string(-info));
    TensorBox *box = push_new_tensor(L, Shape({n, n}), true);
    float *dst = box->value.data();
    for (int r = 0; r < n; ++r)
        for (int c = 0; c <= r; ++c)
            dst[r * n + c] = static_cast<float>(a[static_cast<size_t>(r) * n + c]);
    return 1;
}

// tensor.cholesky_solve(B, L) -> X with (L Lᵀ) X = B; B is a vector of n
// or an n×k matrix, and X has its shape.
int tensor_cholesky_solve(lua_State *L)
{
    const char *fn = "tensor.cholesky_solve";
    const Tensor b = check_tensor(L, 1);
    int n = 0;
    const std::vector<double> lower = square_matrix(L, 2, fn, n);
    if (b.dim() < 1 || b.dim() > 2 || b.size(0) != n)
        raise(L, std::string(fn) + ": B of shape " + b.shape().to_string() + " does not fit L of shape [" +
                     std::to_string(n) + ", " + std::to_string(n) + "]; B needs " + std::to_string(n) +
                     " rows");
    for (int i = 0; i < n; ++i)
        if (!(lower[static_cast<size_t>(i) * n + i] > 0))
            raise(L, std::string(fn) + ": L is not a Cholesky factor (its diagonal element " + std::to_string(i + 1) +
                         " is not positive)");
    const int k = b.dim() == 2 ? static_cast<int>(b.size(1)) : 1;
    // B column-major: column j of B is right-hand side j.
    std::vector<double> x(static_cast<size_t>(n) * static_cast<size_t>(k));
    const float *src = b.data();
    for (int r = 0; r < n; ++r)
        for (int j = 0; j < k; ++j)
            x[static_cast<size_t>(j) * n + r] = src[static_cast<size_t>(r) * k + j];
    int info = 0;
    const char upper = 'U';
    if (n > 0 && k > 0)
        dpotrs_(&upper, &n, &k, lower.data(), &n, x.data(), &n, &info);
    if (info != 0)
        raise(L, std::string(fn) + ": LAPACK dpotrs refused argument " + std::to_string(-info));
    TensorBox *box = push_new_tensor(L, b.shape(), false);
    float *dst = box->value.data();
    for (int r = 0; r < n; ++r)
        for (int j = 0; j < k; ++j)
            dst[static_cast<size_t>(r) * k + j] = static_cast<float>(x[static_cast<size_t>(j) * n + r]);
    return 1;
}

} // namespace

void open_tensor_linalg(lua_State *L, int module)
{
    module = lua_absindex(L, module);
    static const luaL_Reg functions[] = {{"cholesky", guard<tensor_cholesky>},
                                         {"cholesky_solve", guard<tensor_cholesky_solve>},
                                         {nullptr, nullptr}};
    lua_pushvalue(L, module);
    luaL_setfuncs(L, functions, 0);
    lua_pop(L, 1);
}

} // namespace neurite::lua
