// Conv2D and ConvTranspose2D: 2-D convolution and its transpose on oneDNN's
// (de)convolution primitives, forward (training) and both backward passes.
//
// Conv2D: dst = act(conv(src, W) + b), src [N, C, H, W], W {K, C/groups,
// kh, kw} (PyTorch's layout, kept plain in the host's arena), dst [N, K, H',
// W']. ConvTranspose2D is the gradient of a convolution with respect to its
// input, W {C, K/groups, kh, kw} (PyTorch's ConvTranspose2d), which grows
// the image: H' = (H - 1)·stride - 2·padding + dilation·(kh - 1) + 1 +
// output_padding.
//
// Layouts: the primitives choose their formats (format_tag::any) and the
// layer declares what they chose, so a chain of convolutions, activations
// and pools runs in oneDNN's blocked layout (nChw16c, or channels last for
// AMX's bf16 kernels) and the host converts only where a plain layer reads.
// A convolution over few input channels (few_channels.hpp) computes its
// forward and weight gradient itself and writes the layout the next
// convolution would read. Weights stay plain for the optimizer and
// checkpoints: each forward reorders them into the primitive's layout (a
// few thousand floats), and backward reorders the weight gradient back,
// adding when the host accumulates.
#include "conv_activation.hpp"
#include "conv_primitives.hpp"

#include "../common/spatial.hpp"

#include <neurite/plugin.hpp>
#include <neurite/plugin_dnnl.hpp>

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

namespace sdk = neurite::sdk;
namespace sp = neurite::spatial;
namespace cv = neurite::conv;

constexpr size_t kKeptShapes = 4;

sp::Window read_window(const sdk::Params &p)
{
    sp::Window w;
    w.kernel = sp::read_pair(p, "kernel");
    w.stride = sp::read_pair(p, "stride");
    w.dilation = sp::read_pair(p, "dilation");
    const sdk::IntPair pad = p.pair("padding");
    w.same = pad.word == "same";
    if (pad.word.empty())
        w.padding = {pad.h, pad.w};
    return w;
}

cv::ConvShape read_shape(const sdk::Params &p, const char *name, bool transposed)
{
    cv::ConvShape shape;
    shape.name = name;
    shape.transposed = transposed;
    shape.in = p.integer("inputs");
    shape.out = p.integer("outputs");
    shape.groups = p.integer("groups");
    shape.window = read_window(p);
    shape.bias = p.boolean("bias");
    const std::string precision = p.choice("precision", "auto|f32|bf16");
    shape.bf16 = precision == "bf16";
    shape.follows_model = precision == "auto";
    if (shape.in % shape.groups != 0 || shape.out % shape.groups != 0)
        sdk::fail(NRT_ERR_INVALID_ARGUMENT, std::string(name) + ": groups = " + std::to_string(shape.groups) +
                                                " must divide both inputs = " + std::to_string(shape.in) +
                                                " and outputs = " + std::to_string(shape.out));
    if (transposed) {
        shape.output_padding = sp::read_pair(p, "output_padding");
        const sp::Hw op = shape.output_padding, s = shape.window.stride, d = shape.window.dilation;
        // PyTorch's rule: output_padding picks one of the sizes a strided
        // convolution maps to the same input size, so it is below the stride
        // (or the dilation).
        if (op.h >= std::max(s.h, d.h) || op.w >= std::max(s.w, d.w))
            sdk::fail(NRT_ERR_INVALID_ARGUMENT, std::string(name) + ": output_padding " + sp::hw_text(op) +
                                                    " must be smaller than the stride " + sp::hw_text(s) +
                                                    " or the dilation " + sp::hw_text(d));
        if (op.h > shape.window.padding.h || op.w > shape.window.padding.w)
            sdk::fail(NRT_ERR_UNSUPPORTED, std::string(name) + ": output_padding " + sp::hw_text(op) +
                                               " larger than the padding " + sp::hw_text(shape.window.padding) +
                                               " is not supported");
    }
    return shape;
}

// The output size of a transposed convolution, whose padding crops the
// output (less at the end by output_padding).
sp::Geometry transposed_geometry(const cv::ConvShape &shape, sp::Hw in, const std::string &input_shape)
{
    const sp::Window &w = shape.window;
    const sp::Hw ext = w.extent(), op = shape.output_padding;
    sp::Geometry g;
    g.pads.begin = w.padding;
    g.pads.end = {w.padding.h - op.h, w.padding.w - op.w};
    g.out = {(in.h - 1) * w.stride.h - 2 * w.padding.h + ext.h + op.h,
             (in.w - 1) * w.stride.w - 2 * w.padding.w + ext.w + op.w};
    if (g.out.h < 1 || g.out.w < 1)
        sdk::fail(NRT_ERR_SHAPE, "padding " + sp::hw_text(w.padding) + " crops the whole output of input " + input_shape + " (it would be " +
                                     std::to_string(g.out.h) + "x" + std::to_string(g.out.w) + ")");
    return g;
}

// One class for both kinds: they differ in the primitives (ConvShape says
// which), the weight layout and how the output size follows from the input.
class Convolution : public sdk::GraphLayer {
public:
    void initialise() override
    {
        // PyTorch's fan-in: the weight's second dimension times the kernel.
        const sp::Hw k = m_shape.window.kernel;
        const int64_t per_group = m_shape.transposed ? m_shape.out : m_shape.in;
        const int64_t other = m_shape.transposed ? m_shape.in : m_shape.out;
        const float fan_in = static_cast<float>(per_group / m_shape.groups * k.h * k.w);
        const float fan_out = static_cast<float>(other / m_shape.groups * k.h * k.w);
        std::string how = m_init;
        if (how == "auto")
            how = m_act.name == std::string("sigmoid") || m_act.name == std::string("tanh") || m_act.identity()
                      ? "xavier"
                      : "he";
        std::mt19937_64 rng(m_seed);
        float *w = value(kWeight);
        const int64_t n = param_size(kWeight);
        if (how == "he") {
            std::normal_distribution<float> d(0.0f, std::sqrt(2.0f / fan_in));
            for (int64_t i = 0; i < n; ++i)
                w[i] = d(rng);
        } else if (how == "zeros") {
            std::fill_n(w, n, 0.0f);
        } else {
            const float a = how == "xavier" ? std::sqrt(6.0f / (fan_in + fan_out)) : 1.0f / std::sqrt(fan_in);
            std::uniform_real_distribution<float> d(-a, a);
            for (int64_t i = 0; i < n; ++i)
                w[i] = d(rng);
        }
        if (m_shape.bias)
            std::fill_n(value(kBias), m_shape.out, 0.0f);
    }

    void prepare(sdk::Prepare &p) override
    {
        const char *name = m_shape.name;
        p.require_inputs(name, 1, 1);
        const std::span<const int64_t> dims = p.src_dims(0);
        sp::require_images(dims, m_shape.in);
        const sp::Hw in{dims[2], dims[3]};
        const sp::Geometry g = m_shape.transposed ? transposed_geometry(m_shape, in, p.src_shape(0))
                                                  : sp::resolve(m_shape.window, in, p.src_shape(0));
        // A bf16 model offers its tensors as bf16. There a bf16 convolution
        // (precision "bf16", or "auto" following the model) reads and writes
        // bf16, so that it hands bf16 to the next bf16 layer; elsewhere it
        // reads and writes f32 (converting to bf16 copies inside, for "bf16").
        const bool model_bf16 = p.src_dtype(0) == NRT_DTYPE_BF16;
        cv::ConvShape shape = m_shape;
        shape.bf16 = m_shape.bf16 || (m_shape.follows_model && model_bf16);
        shape.exchange_bf16 = shape.bf16 && model_bf16;
        const int32_t offered = p.src_dtype(0) == NRT_DTYPE_F32 || shape.exchange_bf16 ? p.src_format(0)
                                                                                         : NRT_FORMAT_PLAIN;
        m_cur = nullptr;
        cv::ConvPrimitives *b = find(dims, offered, shape.bf16, shape.exchange_bf16);
        if (!b) {
            if (m_built.size() == kKeptShapes)
                m_built.erase(m_built.begin());
            m_built.push_back(sdk::with_dnnl(name, [&] { return cv::build_conv(shape, m_act, dims, offered, g, m_engine, m_threads); }));
            b = m_built.back().get();
        }
        const nrt_dtype io = b->exchange_bf16 ? NRT_DTYPE_BF16 : NRT_DTYPE_F32;
        p.want_src(0, b->src_format, io); // the host converts what differs
        const int64_t out_dims[] = {dims[0], m_shape.out, g.out.h, g.out.w};
        p.add_output(out_dims, b->dst_format, io);
        p.set_workspace(b->workspace_bytes);
        m_cur = b;
    }

    void forward(const sdk::Call &c) override
    {
        cv::ConvPrimitives &b = current(c.src(0));
        b.forward(c, value(kWeight), m_shape.bias ? value(kBias) : nullptr, m_stream);
    }

    void backward(const sdk::Call &c) override
    {
        cv::ConvPrimitives &b = current(c.src(0));
        b.backward(c, value(kWeight), grad(kWeight), m_shape.bias ? grad(kBias) : nullptr, m_stream);
    }

protected:
    Convolution(const sdk::Host &host, const sdk::Params &p, uint64_t seed, const char *name, bool transposed)
        : m_engine(sdk::dnnl_engine(host)), m_stream(sdk::dnnl_stream(host)),
          m_threads(host.raw() && host.raw()->num_threads > 0 ? host.raw()->num_threads : omp_get_max_threads()),
          m_seed(seed),
          m_act(cv::find_activation(name, p.string("activation"))), m_init(p.string("init")),
          m_shape(read_shape(p, name, transposed))
    {
        const sp::Hw k = m_shape.window.kernel;
        const int64_t g = m_shape.groups;
        const std::array<int64_t, 4> weight_dims = transposed ? std::array<int64_t, 4>{m_shape.in, m_shape.out / g, k.h, k.w}
                                                              : std::array<int64_t, 4>{m_shape.out, m_shape.in / g, k.h, k.w};
        declare_param("weight", weight_dims);
        if (m_shape.bias) {
            const int64_t bdims[] = {m_shape.out};
            declare_param("bias", bdims);
        }
    }

private:
    static constexpr int kWeight = 0, kBias = 1;

    cv::ConvPrimitives *find(std::span<const int64_t> dims, int32_t offered, bool bf16, bool exchange_bf16)
    {
        for (auto &b : m_built)
            if (b->offered == offered && b->bf16 == bf16 && b->exchange_bf16 == exchange_bf16 &&
                std::equal(dims.begin(), dims.end(), b->dims.begin(), b->dims.end()))
                return b.get();
        return nullptr;
    }

    // The primitives of the call's shape: the last prepared, or one kept.
    cv::ConvPrimitives &current(const nrt_tensor &src)
    {
        const std::span<const int64_t> dims(src.dims, static_cast<size_t>(src.ndims));
        if (m_cur && std::equal(dims.begin(), dims.end(), m_cur->dims.begin(), m_cur->dims.end()))
            return *m_cur;
        const bool bf16_src = src.dtype == NRT_DTYPE_BF16;
        for (auto &b : m_built)
            if (b->src_format == src.format && b->exchange_bf16 == bf16_src && std::equal(dims.begin(), dims.end(), b->dims.begin(), b->dims.end()))
                return *b;
        sdk::fail(NRT_ERR_STATE, std::string(m_shape.name) + ": input " + sdk::shape_string(src) + " was not prepared");
    }

    dnnl::engine m_engine;
    dnnl::stream m_stream;
    int m_threads; // the most FewChannelConv's passes split into
    uint64_t m_seed;
    const cv::Activation &m_act;
    std::string m_init;
    cv::ConvShape m_shape;
    std::vector<std::unique_ptr<cv::ConvPrimitives>> m_built;
    cv::ConvPrimitives *m_cur = nullptr;
};

class Conv2D final : public Convolution {
public:
    Conv2D(sdk::Host host, sdk::Params p, uint64_t seed) : Convolution(host, p, seed, "Conv2D", false) {}
};

class ConvTranspose2D final : public Convolution {
public:
    ConvTranspose2D(sdk::Host host, sdk::Params p, uint64_t seed) : Convolution(host, p, seed, "ConvTranspose2D", true)
    {
    }
};

constexpr double kKernelDefault[] = {3, 3};
constexpr double kOne[] = {1, 1};
constexpr double kZero[] = {0, 0};

#define NEURITE_CONV_PARAMS(PADDING_DOC, PADDING_WORDS)                                                          \
    sdk::required_int_param("inputs", 1, 1 << 20, "Input channels C of the [N, C, H, W] input."),                  \
        sdk::required_int_param("outputs", 1, 1 << 20, "Output channels K (filters)."),                           \
        sdk::int_pair_param("kernel", kKernelDefault, 1, 1024, "Filter size: a number or {h, w}."),               \
        sdk::int_pair_param("stride", kOne, 1, 1024, "Step between windows: a number or {h, w}."),                \
        sdk::int_pair_param("padding", kZero, 0, 1024, PADDING_DOC, PADDING_WORDS),                               \
        sdk::int_pair_param("dilation", kOne, 1, 1024, "Spacing between filter taps: a number or {h, w}."),       \
        sdk::int_param("groups", 1, 1, 1 << 20,                                                                   \
                       "Channel groups convolved separately; divides inputs and outputs (inputs = groups is "    \
                       "depthwise)."),                                                                            \
        sdk::bool_param("bias", true, "Add a learnable bias per output channel."),                                 \
        sdk::choice_param("activation", "identity", neurite::conv::kActivationChoices,                            \
                          "Activation applied to the output, fused into the convolution where oneDNN can."),      \
        sdk::choice_param("init", "auto", "auto|xavier|he|uniform|zeros",                                         \
                          "Weight initialisation over PyTorch's fan-in (the weight's second dimension times "     \
                          "kh·kw); auto is he for ReLU-like activations, else xavier. Biases start at zero."),  \
        sdk::choice_param("precision", "auto", "auto|f32|bf16",                                                   \
                          "f32 multiplies in single precision; bf16 multiplies bfloat16 copies of the input, "    \
                          "weights and output gradient (8 bits of mantissa, sums in f32; in a bf16 model it reads " \
                          "and writes bf16 tensors, else f32), several times faster on CPUs with AMX, less "      \
                          "exact; auto follows the model's precision.")

constexpr nrt_param_spec kConvParams[] = {NEURITE_CONV_PARAMS(
    "Zeros added on each side: a number, {h, w}, or \"same\" for ceil(size / stride) outputs (any extra row "
    "or column goes at the bottom and right).",
    "same|valid")};

constexpr nrt_param_spec kTransposedParams[] = {
    NEURITE_CONV_PARAMS("Rows and columns cropped from each side of the output: a number or {h, w}.", nullptr),
    sdk::int_pair_param("output_padding", kZero, 0, 1024,
                        "Added to the output's bottom and right (below the stride), to pick one of the sizes a "
                        "strided convolution maps to the same input size."),
};

const nrt_entry kConv2D = sdk::make_entry<Conv2D>(
    NRT_KIND_LAYER, "Conv2D", "1.0.0",
    "2-D convolution: dst = act(conv(src, W) + b), src [N, C, H, W], W {K, C/groups, kh, kw}", kConvParams);
const nrt_entry kConvTranspose2D = sdk::make_entry<ConvTranspose2D>(
    NRT_KIND_LAYER, "ConvTranspose2D", "1.0.0",
    "2-D transposed convolution (the gradient of Conv2D for its input): W {C, K/groups, kh, kw}", kTransposedParams);

} // namespace

NEURITE_PLUGIN("neurite-layer-conv", "1.0.0", &kConv2D, &kConvTranspose2D)
