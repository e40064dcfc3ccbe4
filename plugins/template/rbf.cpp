// RBF: a radial-basis-function layer, the template third-party plugin.
//
//   y[i][j] = exp(-γ_j · ‖x_i − c_j‖²),   γ_j = exp(log_gamma_j)
//
// It shows everything a layer plugin does: a parameter schema with docs and
// ranges; learnable parameters it declares and the host allocates (in one
// arena per model) and binds, which the layer fills once in initialise();
// gradients that accumulate, or are written when the host says they are
// zero; extra state that is not a parameter (whether the centres were
// already placed on data) saved and restored for checkpoints; and errors
// that name the shapes; and its ONNX form, for nn.export_onnx. It needs nothing but the Neurite SDK headers: no Qt,
// no Lua, not even oneDNN (a plugin may build oneDNN primitives with
// plugin_dnnl.hpp). It is an ABI 1.1 layer (sdk::GraphLayer); ABI 1.0
// layers (sdk::Layer, owning their parameters) still load.
#include <neurite/plugin.hpp>

#include <cmath>
#include <cstring>
#include <random>

namespace {

namespace sdk = neurite::sdk;

class Rbf final : public sdk::GraphLayer {
public:
    Rbf(sdk::Host, sdk::Params params, uint64_t seed)
        : m_in(params.integer("inputs")), m_units(params.integer("units")),
          m_gamma(params.number("gamma")), m_init_from_data(params.boolean("init_from_data")), m_rng(seed)
    {
        // Shapes only: the host allocates the memory and binds it.
        const int64_t cdims[] = {m_units, m_in}, gdims[] = {m_units};
        declare_param("centers", cdims);
        declare_param("log_gamma", gdims);
    }

    // Once, when the host has bound the parameters for the first time.
    void initialise() override
    {
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (int64_t i = 0; i < param_size(kCenters); ++i)
            value(kCenters)[i] = u(m_rng);
        std::fill_n(value(kLogGamma), m_units, static_cast<float>(std::log(m_gamma)));
    }

    void prepare(sdk::Prepare &p) override
    {
        p.require_inputs("RBF", 1, 1);
        const auto src = p.src_dims(0);
        if (src.size() != 2 || src[1] != m_in)
            sdk::fail(NRT_ERR_SHAPE, "RBF expects input {batch, " + std::to_string(m_in) + "}, got " +
                                         p.src_shape(0));
        const int64_t dst[] = {src[0], m_units};
        p.add_output(dst);
    }

    void forward(const sdk::Call &call) override
    {
        const nrt_tensor &src = call.src(0);
        nrt_tensor &dst = call.dst(0);
        const bool training = call.training();
        const int64_t n = src.dims[0];
        // Centres on data: the first training batch places them on samples.
        if (training && m_init_from_data && !m_placed) {
            std::uniform_int_distribution<int64_t> pick(0, n - 1);
            for (int64_t j = 0; j < m_units; ++j)
                std::memcpy(value(kCenters) + j * m_in, sdk::f32(src) + pick(m_rng) * m_in,
                            static_cast<size_t>(m_in) * sizeof(float));
            m_placed = true;
        }
        const float *x = sdk::f32(src);
        float *y = sdk::f32(dst);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < m_units; ++j)
                y[i * m_units + j] = std::exp(-gamma(j) * distance2(x + i * m_in, j));
    }

    void backward(const sdk::Call &call) override
    {
        const nrt_tensor &src = call.src(0), &dst = call.dst(0), &diff_dst = call.diff_dst(0);
        nrt_tensor *diff_src = call.diff_src(0);
        // The host says whether the gradients hold anything yet; this layer adds.
        clear_grads_unless_accumulating(call);
        const int64_t n = src.dims[0];
        const float *x = sdk::f32(src), *y = sdk::f32(dst), *dy = sdk::f32(diff_dst);
        float *dx = diff_src ? sdk::f32(*diff_src) : nullptr;
        if (dx)
            std::memset(dx, 0, static_cast<size_t>(n * m_in) * sizeof(float));
        for (int64_t i = 0; i < n; ++i) {
            const float *xi = x + i * m_in;
            for (int64_t j = 0; j < m_units; ++j) {
                const float g = gamma(j);
                // dL/d(‖x − c‖²) = dL/dy · y · (−γ)
                const float t = dy[i * m_units + j] * y[i * m_units + j];
                const float *c = value(kCenters) + j * m_in;
                float *dc = grad(kCenters) + j * m_in;
                for (int64_t k = 0; k < m_in; ++k) {
                    const float diff = xi[k] - c[k];
                    dc[k] += 2.0f * g * t * diff;
                    if (dx)
                        dx[i * m_in + k] -= 2.0f * g * t * diff;
                }
                // dγ/dlog γ = γ, so dL/dlog γ = dL/dy · y · (−d) · γ
                grad(kLogGamma)[j] -= t * distance2(xi, j) * g;
            }
        }
    }

    // The one piece of state that is not a parameter.
    void save_state(const sdk::Writer &w) const override
    {
        w.value<uint32_t>(kStateVersion);
        w.value<uint8_t>(m_placed ? 1 : 0);
    }

    void load_state(sdk::Reader &r) override
    {
        const auto version = r.value<uint32_t>();
        if (version != kStateVersion)
            sdk::fail(NRT_ERR_STATE, "RBF state version " + std::to_string(version) + " is not " +
                                         std::to_string(kStateVersion));
        m_placed = r.value<uint8_t>() != 0;
    }

    // For nn.export_onnx (plugin ABI 1.2): the layer in ONNX operators, in
    // ONNX's textual syntax. X0 is the input [N, in], Y0 the output [N, units];
    // "centers" and "log_gamma" are the declared parameters. The same text
    // serves opsets 13 to 17 (Unsqueeze and ReduceSum take axes as inputs).
    std::string onnx_form(int) const override
    {
        return "{ axis1 = Constant <value = int64[1] {1}> ()\n"
               "  x3 = Unsqueeze(X0, axis1)\n"                  // [N, 1, in]
               "  diff = Sub(x3, centers)\n"                     // [N, units, in]
               "  squares = Mul(diff, diff)\n"
               "  axis2 = Constant <value = int64[1] {2}> ()\n"
               "  distance2 = ReduceSum <keepdims = 0> (squares, axis2)\n" // [N, units]
               "  gamma = Exp(log_gamma)\n"
               "  scaled = Mul(distance2, gamma)\n"
               "  exponent = Neg(scaled)\n"
               "  Y0 = Exp(exponent) }";
    }

private:
    static constexpr uint32_t kStateVersion = 1;
    static constexpr int kCenters = 0, kLogGamma = 1; // declaration order

    float gamma(int64_t j) const { return std::exp(value(kLogGamma)[j]); }

    float distance2(const float *x, int64_t j) const
    {
        const float *c = value(kCenters) + j * m_in;
        float d = 0;
        for (int64_t k = 0; k < m_in; ++k)
            d += (x[k] - c[k]) * (x[k] - c[k]);
        return d;
    }

    int64_t m_in, m_units;
    double m_gamma;
    bool m_init_from_data;
    bool m_placed = false;
    std::mt19937_64 m_rng;
};

constexpr nrt_param_spec kParams[] = {
    sdk::required_int_param("inputs", 1, 1 << 20, "Number of input features per sample."),
    sdk::required_int_param("units", 1, 1 << 20, "Number of radial units (outputs)."),
    sdk::float_param("gamma", 1.0, 1e-6, 1e6, "Initial width γ of every unit; y = exp(-γ‖x − c‖²)."),
    sdk::bool_param("init_from_data", true,
                    "Place the centres on samples of the first training batch instead of at random."),
};

const nrt_entry kRbf = sdk::make_entry<Rbf>(NRT_KIND_LAYER, "RBF", "1.1.0",
                                            "Radial basis functions: y = exp(-γ_j‖x − c_j‖²)", kParams);

} // namespace

NEURITE_PLUGIN("neurite-rbf", "1.1.0", &kRbf)
