// RBF: a radial-basis-function layer, the template third-party plugin.
//
//   y[i][j] = exp(-γ_j · ‖x_i − c_j‖²),   γ_j = exp(log_gamma_j)
//
// It shows everything a layer plugin does: a parameter schema with docs and
// ranges, learnable parameters with gradients that accumulate until zeroed,
// extra state that is not a parameter (whether the centres were already
// placed on data) saved and restored for checkpoints, and errors that name
// the shapes. It needs nothing but the Neurite SDK headers: no Qt, no Lua,
// not even oneDNN (a plugin may build oneDNN primitives with plugin_dnnl.hpp).
#include <neurite/plugin.hpp>

#include <cmath>
#include <cstring>
#include <random>

namespace {

namespace sdk = neurite::sdk;

class Rbf final : public sdk::Layer {
public:
    Rbf(sdk::Host, sdk::Params params, uint64_t seed)
        : m_in(params.integer("inputs")), m_units(params.integer("units")),
          m_init_from_data(params.boolean("init_from_data")), m_rng(seed)
    {
        m_centers.resize(static_cast<size_t>(m_units * m_in));
        m_d_centers.resize(static_cast<size_t>(m_units * m_in));
        m_log_gamma.resize(static_cast<size_t>(m_units));
        m_d_log_gamma.resize(static_cast<size_t>(m_units));
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (size_t i = 0; i < m_centers.size(); ++i)
            m_centers[i] = u(m_rng);
        const float log_gamma = static_cast<float>(std::log(params.number("gamma")));
        for (int64_t j = 0; j < m_units; ++j)
            m_log_gamma[static_cast<size_t>(j)] = log_gamma;
        const int64_t cdims[] = {m_units, m_in}, gdims[] = {m_units};
        add_param("centers", m_centers.data(), m_d_centers.data(), cdims);
        add_param("log_gamma", m_log_gamma.data(), m_d_log_gamma.data(), gdims);
    }

    void prepare(std::span<const int64_t> src, std::vector<int64_t> &dst) override
    {
        if (src.size() != 2 || src[1] != m_in)
            sdk::fail(NRT_ERR_SHAPE, "RBF expects input {batch, " + std::to_string(m_in) + "}, got " +
                                         sdk::shape_string(src));
        dst = {src[0], m_units};
    }

    void forward(const nrt_tensor &src, nrt_tensor &dst, bool training) override
    {
        sdk::require_contiguous(src, "input");
        sdk::require_contiguous(dst, "output");
        const int64_t n = src.dims[0];
        // Centres on data: the first training batch places them on samples.
        if (training && m_init_from_data && !m_placed) {
            std::uniform_int_distribution<int64_t> pick(0, n - 1);
            for (int64_t j = 0; j < m_units; ++j)
                std::memcpy(&m_centers[static_cast<size_t>(j * m_in)], sdk::f32(src) + pick(m_rng) * m_in,
                            static_cast<size_t>(m_in) * sizeof(float));
            m_placed = true;
        }
        const float *x = sdk::f32(src);
        float *y = sdk::f32(dst);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < m_units; ++j)
                y[i * m_units + j] = std::exp(-gamma(j) * distance2(x + i * m_in, j));
    }

    void backward(const nrt_tensor &src, const nrt_tensor &dst, const nrt_tensor &diff_dst,
                  nrt_tensor *diff_src) override
    {
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
                const float *c = &m_centers[static_cast<size_t>(j * m_in)];
                float *dc = &m_d_centers[static_cast<size_t>(j * m_in)];
                for (int64_t k = 0; k < m_in; ++k) {
                    const float diff = xi[k] - c[k];
                    dc[k] += 2.0f * g * t * diff;
                    if (dx)
                        dx[i * m_in + k] -= 2.0f * g * t * diff;
                }
                // dγ/dlog γ = γ, so dL/dlog γ = dL/dy · y · (−d) · γ
                m_d_log_gamma[static_cast<size_t>(j)] -= t * distance2(xi, j) * g;
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

private:
    static constexpr uint32_t kStateVersion = 1;

    float gamma(int64_t j) const { return std::exp(m_log_gamma[static_cast<size_t>(j)]); }

    float distance2(const float *x, int64_t j) const
    {
        const float *c = &m_centers[static_cast<size_t>(j * m_in)];
        float d = 0;
        for (int64_t k = 0; k < m_in; ++k)
            d += (x[k] - c[k]) * (x[k] - c[k]);
        return d;
    }

    int64_t m_in, m_units;
    bool m_init_from_data;
    bool m_placed = false;
    std::mt19937_64 m_rng;
    sdk::Buffer m_centers, m_d_centers, m_log_gamma, m_d_log_gamma;
};

constexpr nrt_param_spec kParams[] = {
    sdk::required_int_param("inputs", 1, 1 << 20, "Number of input features per sample."),
    sdk::required_int_param("units", 1, 1 << 20, "Number of radial units (outputs)."),
    sdk::float_param("gamma", 1.0, 1e-6, 1e6, "Initial width γ of every unit; y = exp(-γ‖x − c‖²)."),
    sdk::bool_param("init_from_data", true,
                    "Place the centres on samples of the first training batch instead of at random."),
};

const nrt_entry kRbf = sdk::make_entry<Rbf>(NRT_KIND_LAYER, "RBF", "1.0.0",
                                            "Radial basis functions: y = exp(-γ_j‖x − c_j‖²)", kParams);

} // namespace

NEURITE_PLUGIN("neurite-rbf", "1.0.0", &kRbf)
