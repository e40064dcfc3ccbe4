// MxcsrProbe: a test layer that reports the floating-point mode of every
// thread it computes in, as a plugin sees them, read from MXCSR itself (not
// through the SDK's helpers, which are under test).
//
// Input and output are {n, 9}; forward writes the report into every row of
// its output, backward into the input gradient. A thread's mode is coded
// FTZ (1) + DAZ (2): 3 flushes denormals, 0 computes with them (IEEE).
// Columns (0-based here, 1-based in Lua):
//   0 the calling thread
//   1 threads in an OpenMP region of the host's thread count, 2 of them
//     flushing, 3 of them IEEE
//   4-6 the same for a region two threads larger (a team that grows later)
//   7 a thread the plugin creates, born with the opposite of the caller's
//     mode, after sdk::init_compute_thread(host)
//   8 the same thread without that call: shows the probe sees a wrong mode
#include <neurite/plugin.hpp>

#include <omp.h>
#include <xmmintrin.h>

#include <thread>

namespace {

namespace sdk = neurite::sdk;

constexpr uint32_t kFtz = 0x8000u;
constexpr uint32_t kDaz = 0x0040u;
constexpr int64_t kColumns = 9;

float mode_code()
{
    const uint32_t csr = _mm_getcsr();
    return static_cast<float>(((csr & kFtz) ? 1 : 0) + ((csr & kDaz) ? 2 : 0));
}

struct Team {
    int size = 0, flushing = 0, ieee = 0;
};

Team probe_team(int threads)
{
    Team team;
#pragma omp parallel num_threads(threads)
    {
        const float code = mode_code();
#pragma omp critical(mxcsr_probe)
        {
            ++team.size;
            team.flushing += code == 3.0f;
            team.ieee += code == 0.0f;
        }
    }
    return team;
}

// A new thread copies its creator's mode, so the caller flips its own for
// the moment of the creation: the thread then starts as one in a plugin's
// pool would after the user changed the setting.
float probe_own_thread(const sdk::Host &host, bool init)
{
    const uint32_t saved = _mm_getcsr();
    _mm_setcsr(saved ^ (kFtz | kDaz));
    float code = -1;
    std::thread worker([&] {
        if (init)
            sdk::init_compute_thread(host);
        code = mode_code();
    });
    _mm_setcsr(saved);
    worker.join();
    return code;
}

class MxcsrProbe final : public sdk::Layer {
public:
    MxcsrProbe(sdk::Host host, sdk::Params, uint64_t) : m_host(host) {}

    void prepare(std::span<const int64_t> src, std::vector<int64_t> &dst) override
    {
        if (src.size() != 2 || src[1] != kColumns)
            sdk::fail(NRT_ERR_SHAPE, "MxcsrProbe expects {n, 9}, got " + sdk::shape_string(src));
        dst.assign(src.begin(), src.end());
    }

    void forward(const nrt_tensor &, nrt_tensor &dst, bool) override { report(dst); }

    void backward(const nrt_tensor &, const nrt_tensor &, const nrt_tensor &, nrt_tensor *diff_src) override
    {
        if (diff_src)
            report(*diff_src);
    }

private:
    void report(nrt_tensor &out) const
    {
        const int threads = m_host.raw()->num_threads > 0 ? m_host.raw()->num_threads : omp_get_max_threads();
        const Team team = probe_team(threads);
        const Team grown = probe_team(threads + 2);
        const float row[kColumns] = {mode_code(),
                                     float(team.size), float(team.flushing), float(team.ieee),
                                     float(grown.size), float(grown.flushing), float(grown.ieee),
                                     probe_own_thread(m_host, true), probe_own_thread(m_host, false)};
        for (int64_t r = 0; r < out.dims[0]; ++r)
            for (int64_t c = 0; c < kColumns; ++c)
                sdk::f32(out)[r * kColumns + c] = row[c];
    }

    sdk::Host m_host;
};

const nrt_entry kProbe = sdk::make_entry<MxcsrProbe>(
    NRT_KIND_LAYER, "MxcsrProbe", "1.0.0",
    "Test layer: reports FTZ/DAZ of the threads it computes in (tests/auto/denormals).");

} // namespace

NEURITE_PLUGIN("mxcsr-probe", "1.0.0", &kProbe)
