// t:matmul(u) with PyTorch's rules: matrices, vectors (a row on the left, a
// column on the right, dropped again in the result), and batches of
// matrices whose leading dimensions broadcast. Each product is one oneDNN
// sgemm, which reads transposed views (t:t(), t:transpose) in place.
#include "tensor_args.h"

#include <dnnl.h>

namespace neurite::lua {

namespace {

// How sgemm reads the last two dimensions of t: 'N' for rows in memory
// order, 'T' for a transposed layout; ld is the leading dimension.
struct GemmOperand {
    char trans = 'N';
    int64_t ld = 1;
};

bool gemm_layout(const Tensor &t, GemmOperand &g)
{
    const int nd = t.dim();
    const int64_t r = t.size(nd - 2), c = t.size(nd - 1);
    const int64_t rs = t.stride(nd - 2), cs = t.stride(nd - 1);
    if ((c == 1 || cs == 1) && (r == 1 || rs >= std::max<int64_t>(c, 1))) {
        g = {'N', r == 1 ? std::max<int64_t>(c, 1) : rs};
        return true;
    }
    if ((r == 1 || rs == 1) && (c == 1 || cs >= std::max<int64_t>(r, 1))) {
        g = {'T', c == 1 ? std::max<int64_t>(r, 1) : cs};
        return true;
    }
    return false;
}

Shape batch_of(const Tensor &t)
{
    return Shape(t.shape().span().first(static_cast<size_t>(t.dim() - 2)));
}

// The batch part of t (its leading dimensions) as a tensor of its own with
// the same strides, for broadcast_strides.
Tensor batch_view(const Tensor &t)
{
    Tensor b = t.select(t.dim() - 1, 0);
    return b.select(b.dim() - 1, 0);
}

// Element offset of matrix `flat` of the batch; strides are 0 where the
// operand's batch dimensions repeat.
int64_t batch_offset(const int64_t *strides, const Shape &batch, int64_t flat)
{
    int64_t offset = 0;
    for (int d = batch.size() - 1; d >= 0; --d) {
        offset += flat % batch[d] * strides[d];
        flat /= batch[d];
    }
    return offset;
}

void multiply(const Tensor &a, const Tensor &b, Tensor &out, const Shape &batch, const char *fn)
{
    const int nd = a.dim();
    const int64_t m = a.size(nd - 2), k = a.size(nd - 1), n = b.size(b.dim() - 1);
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        out.fill(0.0f);
        return;
    }
    // Layouts sgemm cannot read (an expanded matrix, a narrowed-then-transposed one) are copied.
    GemmOperand ga, gb;
    const Tensor ac = gemm_layout(a, ga) ? a : a.contiguous();
    const Tensor bc = gemm_layout(b, gb) ? b : b.contiguous();
    gemm_layout(ac, ga);
    gemm_layout(bc, gb);
    int64_t sa[Shape::kMaxDims], sb[Shape::kMaxDims];
    strided::broadcast_strides(batch_view(ac), batch, sa);
    strided::broadcast_strides(batch_view(bc), batch, sb);
    const int64_t count = batch.numel();
    for (int64_t i = 0; i < count; ++i) {
        const float *pa = ac.data_ptr() + batch_offset(sa, batch, i);
        const float *pb = bc.data_ptr() + batch_offset(sb, batch, i);
        float *pc = out.data_ptr() + i * m * n;
        if (dnnl_sgemm(ga.trans, gb.trans, m, n, k, 1.0f, pa, ga.ld, pb, gb.ld, 0.0f, pc, n) !=
            dnnl_success)
            throw Error(std::string(fn) + ": oneDNN sgemm failed for shapes " + a.shape().to_string() +
                        " and " + b.shape().to_string());
    }
}

int t_matmul(lua_State *L)
{
    const char *fn = "t:matmul";
    const Tensor &a0 = check_any_tensor(L, 1);
    const Tensor &b0 = check_any_tensor(L, 2);
    if (a0.dim() < 1 || b0.dim() < 1)
        raise(L, std::string(fn) + " multiplies tensors of at least 1 dimension, got shapes " +
                     a0.shape().to_string() + " and " + b0.shape().to_string());
    // A vector on the left is a row, on the right a column.
    const Tensor a = a0.dim() == 1 ? a0.unsqueeze(0) : a0;
    const Tensor b = b0.dim() == 1 ? b0.unsqueeze(1) : b0;
    const int64_t m = a.size(a.dim() - 2), k = a.size(a.dim() - 1);
    const int64_t kb = b.size(b.dim() - 2), n = b.size(b.dim() - 1);
    if (k != kb)
        raise(L, std::string(fn) + ": shapes " + a0.shape().to_string() + " and " +
                     b0.shape().to_string() + " do not fit (" + std::to_string(k) +
                     " columns against " + std::to_string(kb) + " rows)");
    const Shape batch_a = batch_of(a), batch_b = batch_of(b);
    const Shape batch = guarded(L, [&] {
        try {
            return broadcast_shape(batch_a, batch_b, fn);
        } catch (const Error &) {
            throw Error(std::string(fn) + ": the batch dimensions " + batch_a.to_string() + " of " +
                        a0.shape().to_string() + " and " + batch_b.to_string() + " of " +
                        b0.shape().to_string() + " do not broadcast (sizes must be equal or 1)");
        }
    });
    return guarded(L, [&] {
        Shape shape = batch;
        if (a0.dim() > 1)
            shape.push_back(m);
        if (b0.dim() > 1)
            shape.push_back(n);
        check_shape_size(L, shape, fn);
        Tensor out = new_result(L, shape);
        multiply(a, b, out, batch, fn);
        return 1;
    });
}

} // namespace

void open_tensor_matmul(lua_State *L, int methods)
{
    static const luaL_Reg fns[] = {{"matmul", t_matmul}, {nullptr, nullptr}};
    add_methods(L, methods, fns);
}

} // namespace neurite::lua
