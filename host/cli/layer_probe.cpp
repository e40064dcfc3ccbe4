#include "layer_probe.h"

#include "neurite/core/error.h"

#include <oneapi/dnnl/dnnl_types.h>

namespace neurite::cli::check {

namespace {

int64_t floats_of(const Desc &d) { return static_cast<int64_t>((d.bytes() + sizeof(float) - 1) / sizeof(float)); }

std::vector<float> snapshot(const GuardedBuffer &b) { return std::vector<float>(b.data(), b.data() + b.size()); }

bool same_bytes(const GuardedBuffer &b, const std::vector<float> &copy)
{
    return std::memcmp(b.data(), copy.data(), copy.size() * sizeof(float)) == 0;
}

std::string buffer_name(const char *what, size_t i, const Desc &d)
{
    return std::string(what) + " " + std::to_string(i + 1) + " " + d.to_string();
}

// Plain f32 copy of a buffer laid out as d.
Tensor to_plain(const Desc &d, const void *data)
{
    Tensor out(d.shape);
    convert(d, data, Desc(d.shape), out.data());
    return out;
}

std::string read_text(const std::vector<Desc> &read)
{
    std::vector<std::string> parts;
    for (const Desc &d : read) {
        std::string s = format_name(d.format);
        if (d.dtype != DType::F32)
            s += std::string(" ") + dtype_name(d.dtype);
        if (parts.empty() || parts.back() != s)
            parts.push_back(s);
    }
    return join(parts);
}

} // namespace

std::string case_text(const Case &c)
{
    std::string s;
    for (size_t i = 0; i < c.size(); ++i)
        s += (i == 0 ? "" : i + 1 == c.size() ? " and " : ", ") + c[i].to_string();
    return s;
}

Case with_batch(int64_t n, const Shape &tail, int inputs)
{
    Shape s{n};
    for (int64_t d : tail)
        s.push_back(d);
    return Case(static_cast<size_t>(inputs), s);
}

std::vector<Tensor> inputs_for(const Case &c, uint64_t seed)
{
    std::vector<Tensor> x;
    for (size_t i = 0; i < c.size(); ++i)
        x.push_back(input_for(c[i], seed + 1000 * i));
    return x;
}

std::vector<Tensor> outputs_copy(const std::vector<Tensor> &outputs)
{
    std::vector<Tensor> out;
    for (const Tensor &t : outputs)
        out.push_back(t.clone());
    return out;
}

std::vector<Desc> plain_offer(const Case &c) { return std::vector<Desc>(c.begin(), c.end()); }

std::vector<int32_t> blocked_formats(int rank)
{
    switch (rank) {
    case 3: return {dnnl_aBc8b, dnnl_aBc16b};
    case 4: return {dnnl_aBcd8b, dnnl_aBcd16b};
    case 5: return {dnnl_aBcde8b, dnnl_aBcde16b};
    default: return {};
    }
}

GuardedCall::GuardedCall(Module &layer, const Case &c, std::vector<Desc> offered)
    : m_layer(layer), m_read(std::move(offered))
{
    if (m_read.size() != c.size())
        throw Error("internal: " + std::to_string(m_read.size()) + " descriptors for " + case_text(c));
    m_workspace_bytes = layer.prepare(m_read, m_dst);
    layer.ensure_bound();
    for (size_t i = 0; i < m_read.size(); ++i) {
        m_src.emplace_back(floats_of(m_read[i]), buffer_name("src", i, m_read[i]));
        m_diff_src.emplace_back(floats_of(m_read[i]), buffer_name("diff_src", i, m_read[i]));
    }
    for (size_t j = 0; j < m_dst.size(); ++j) {
        m_out.emplace_back(floats_of(m_dst[j]), buffer_name("dst", j, m_dst[j]));
        m_diff_dst.emplace_back(floats_of(m_dst[j]), buffer_name("diff_dst", j, m_dst[j]));
    }
    const auto ws_floats = static_cast<int64_t>((m_workspace_bytes + sizeof(float) - 1) / sizeof(float));
    m_workspace = std::make_unique<GuardedBuffer>(ws_floats, "workspace (" + std::to_string(m_workspace_bytes) +
                                                                 " bytes)");
}

void GuardedCall::fill(const std::vector<Tensor> &inputs, uint64_t seed)
{
    m_src_copy.clear();
    for (size_t i = 0; i < m_src.size(); ++i) {
        convert(Desc(inputs[i].shape()), inputs[i].data(), m_read[i], m_src[i].data());
        m_src_copy.push_back(snapshot(m_src[i]));
    }
    m_diff_dst_copy.clear();
    for (size_t j = 0; j < m_dst.size(); ++j) {
        const Tensor dy = random_tensor(m_dst[j].shape, seed + j);
        convert(Desc(dy.shape()), dy.data(), m_dst[j], m_diff_dst[j].data());
        m_diff_dst_copy.push_back(snapshot(m_diff_dst[j]));
    }
}

nrt_layer_call GuardedCall::make_call(bool with_gradients)
{
    m_src_t.clear();
    m_dst_t.clear();
    m_diff_dst_t.clear();
    m_diff_src_t.clear();
    for (size_t i = 0; i < m_src.size(); ++i) {
        m_src_t.push_back(tensor_view(m_read[i], m_src[i].data()));
        m_diff_src_t.push_back(tensor_view(m_read[i], m_diff_src[i].data()));
    }
    for (size_t j = 0; j < m_out.size(); ++j) {
        m_dst_t.push_back(tensor_view(m_dst[j], m_out[j].data()));
        m_diff_dst_t.push_back(tensor_view(m_dst[j], m_diff_dst[j].data()));
    }
    nrt_layer_call c{};
    c.struct_size = sizeof c;
    c.src_count = static_cast<int32_t>(m_src_t.size());
    c.dst_count = static_cast<int32_t>(m_dst_t.size());
    c.training = m_training ? 1 : 0;
    c.src = m_src_t.data();
    c.dst = m_dst_t.data();
    if (with_gradients) {
        c.diff_dst = m_diff_dst_t.data();
        c.diff_src = m_diff_src_t.data();
    }
    if (m_workspace_bytes) {
        c.workspace = m_workspace->data();
        c.workspace_bytes = m_workspace_bytes;
    }
    return c;
}

void GuardedCall::forward(bool training)
{
    m_training = training;
    m_layer.forward(make_call(false));
    m_out_copy.clear();
    for (const GuardedBuffer &b : m_out)
        m_out_copy.push_back(snapshot(b));
}

void GuardedCall::backward()
{
    m_layer.zero_grad(/*deferred=*/true); // the layer writes its gradients
    m_layer.backward(make_call(true));
}

std::string GuardedCall::damage(const std::string &call, bool after_backward) const
{
    auto guards = [&](const std::vector<GuardedBuffer> &buffers) -> std::string {
        for (const GuardedBuffer &b : buffers)
            if (std::string d = b.damage(); !d.empty())
                return call + " " + d;
        return {};
    };
    auto unchanged = [&](const std::vector<GuardedBuffer> &buffers, const std::vector<std::vector<float>> &copies,
                         const char *what) -> std::string {
        for (size_t i = 0; i < buffers.size(); ++i)
            if (!same_bytes(buffers[i], copies[i]))
                return call + " changed its " + what + " " + std::to_string(i + 1);
        return {};
    };
    for (const std::string &d : {guards(m_src), guards(m_out), guards(m_diff_src), guards(m_diff_dst),
                                 m_workspace->damage().empty() ? std::string() : call + " " + m_workspace->damage(),
                                 unchanged(m_src, m_src_copy, "input"),
                                 unchanged(m_diff_dst, m_diff_dst_copy, "output gradient"),
                                 after_backward ? unchanged(m_out, m_out_copy, "output") : std::string()})
        if (!d.empty())
            return d;
    return {};
}

LayoutRun run_offered(Module &layer, const Case &c, int32_t offer, const std::vector<Tensor> &inputs,
                      uint64_t seed)
{
    std::vector<Desc> offered;
    for (const Shape &s : c)
        offered.emplace_back(s, DType::F32, offer);
    std::vector<Desc> read = offered, dst;
    const size_t workspace_bytes = layer.prepare(read, dst);
    layer.ensure_bound();
    // What the host does: the producer writes the offered format, a
    // conversion gives the layer the one it reads.
    std::vector<Tensor> src, diff_src, out, diff_dst;
    std::vector<nrt_tensor> src_t, diff_src_t, out_t, diff_dst_t;
    for (size_t i = 0; i < read.size(); ++i) {
        Tensor produced(Shape{floats_of(offered[i])}), converted(Shape{floats_of(read[i])});
        convert(Desc(c[i]), inputs[i].data(), offered[i], produced.data());
        convert(offered[i], produced.data(), read[i], converted.data());
        src.push_back(converted);
        diff_src.push_back(Tensor(Shape{floats_of(read[i])}));
        src_t.push_back(tensor_view(read[i], src.back().data()));
        diff_src_t.push_back(tensor_view(read[i], diff_src.back().data()));
    }
    for (size_t j = 0; j < dst.size(); ++j) {
        const Tensor dy = random_tensor(dst[j].shape, seed + j);
        out.push_back(Tensor(Shape{floats_of(dst[j])}));
        diff_dst.push_back(Tensor(Shape{floats_of(dst[j])}));
        convert(Desc(dy.shape()), dy.data(), dst[j], diff_dst.back().data());
        out_t.push_back(tensor_view(dst[j], out.back().data()));
        diff_dst_t.push_back(tensor_view(dst[j], diff_dst.back().data()));
    }
    Tensor workspace(Shape{static_cast<int64_t>(workspace_bytes / sizeof(float) + 1)});
    nrt_layer_call call{};
    call.struct_size = sizeof call;
    call.src_count = static_cast<int32_t>(src_t.size());
    call.dst_count = static_cast<int32_t>(out_t.size());
    call.training = 0;
    call.src = src_t.data();
    call.dst = out_t.data();
    call.workspace = workspace_bytes ? workspace.data() : nullptr;
    call.workspace_bytes = workspace_bytes;
    layer.forward(call);
    call.diff_dst = diff_dst_t.data();
    call.diff_src = diff_src_t.data();
    layer.zero_grad(/*deferred=*/true);
    layer.backward(call);

    LayoutRun run;
    run.read = read_text(read);
    for (size_t j = 0; j < dst.size(); ++j)
        run.outputs.push_back(to_plain(dst[j], out[j].data()));
    for (size_t i = 0; i < read.size(); ++i)
        run.input_grads.push_back(to_plain(read[i], diff_src[i].data()));
    for (const Parameter &p : layer.parameters())
        if (!p.buffer) {
            run.param_grads.push_back(p.grad.clone());
            run.param_names.push_back(p.name);
        }
    return run;
}

std::string compare_runs(const LayoutRun &a, const LayoutRun &b, double &worst)
{
    // Blocked kernels may sum in another order: float rounding, not more.
    constexpr double kTolerance = 1e-4;
    auto differs = [&](const Tensor &x, const Tensor &y, const std::string &what) -> std::string {
        if (!(x.shape() == y.shape()))
            return what + " shapes " + x.shape().to_string() + " and " + y.shape().to_string();
        double scale = 1e-6, largest = 0;
        int64_t where = -1;
        for (int64_t i = 0; i < x.numel(); ++i)
            scale = std::max(scale, static_cast<double>(std::fabs(x[i])));
        for (int64_t i = 0; i < x.numel(); ++i) {
            const double d = std::fabs(static_cast<double>(x[i]) - y[i]) / scale;
            if (d > largest || std::isnan(d)) {
                largest = std::isnan(d) ? INFINITY : d;
                where = i;
            }
        }
        worst = std::max(worst, largest);
        if (largest <= kTolerance)
            return {};
        return what + " (relative difference " + number(largest) + " at flat index " + std::to_string(where) +
               ": " + number(x[where]) + " plain, " + number(y[where]) + " here)";
    };
    if (a.outputs.size() != b.outputs.size())
        return "the number of outputs (" + std::to_string(b.outputs.size()) + " vs " +
               std::to_string(a.outputs.size()) + ")";
    for (size_t j = 0; j < a.outputs.size(); ++j)
        if (std::string d = differs(a.outputs[j], b.outputs[j], "output " + std::to_string(j + 1)); !d.empty())
            return d;
    for (size_t i = 0; i < a.input_grads.size(); ++i)
        if (std::string d = differs(a.input_grads[i], b.input_grads[i], "the gradient of input " + std::to_string(i + 1));
            !d.empty())
            return d;
    for (size_t p = 0; p < a.param_grads.size() && p < b.param_grads.size(); ++p)
        if (std::string d = differs(a.param_grads[p], b.param_grads[p], "the gradient of '" + a.param_names[p] + "'");
            !d.empty())
            return d;
    return {};
}

} // namespace neurite::cli::check
