// Conv2D over inputs of few channels, which the plugin computes itself
// (plugins/layer/conv/few_channels.cpp) instead of oneDNN: outputs and every
// gradient against a reference summed in double here, over geometries that
// take each path of its loops (windows of 8 outputs and single ones, 16 and
// 32 channels at a time, padding, stride, dilation, several channels), in
// f32, as a bf16 layer in an f32 model and in a bf16 model, on one and two
// threads; and the layout it hands the next convolution.
#include "test_support.h"

#include "neurite/core/precision.h"
#include "neurite/core/sequential.h"

#include <oneapi/dnnl/dnnl_types.h>
#include <omp.h>

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace neurite;

namespace {

struct Case {
    const char *name;
    Shape input;
    int64_t out, kh, kw, sh, sw, ph, pw, dh, dw;
    bool relu;
    bool bias = true;
    bool same = false; // padding "same" (ph, pw unused): any odd pad goes at the end

    ParamList params(const char *precision) const
    {
        ParamList p{{"inputs", static_cast<double>(input[1])},
                    {"outputs", static_cast<double>(out)},
                    {"kernel", std::vector<double>{double(kh), double(kw)}},
                    {"stride", std::vector<double>{double(sh), double(sw)}},
                    {"dilation", std::vector<double>{double(dh), double(dw)}},
                    {"activation", std::string(relu ? "relu" : "identity")},
                    {"bias", bias},
                    {"precision", std::string(precision)}};
        if (same)
            p.emplace_back("padding", std::string("same"));
        else
            p.emplace_back("padding", std::vector<double>{double(ph), double(pw)});
        return p;
    }
    // The output size and the padding before it along one side.
    struct Side {
        int64_t out, pad;
    };
    Side side(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p) const
    {
        const int64_t extent = d * (k - 1) + 1;
        if (!same)
            return {(in + 2 * p - extent) / s + 1, p};
        const int64_t out = (in + s - 1) / s;
        return {out, std::max<int64_t>((out - 1) * s + extent - in, 0) / 2};
    }
    Side rows() const { return side(input[2], kh, sh, dh, ph); }
    Side cols() const { return side(input[3], kw, sw, dw, pw); }
};

// What the layer should compute, in double from the values it multiplies.
struct Expected {
    std::vector<double> y, dw, db, dx;
};

Expected reference(const Case &c, const Tensor &x, const Tensor &w, const Tensor &b, const Tensor &dy,
                   const Tensor &y_layer)
{
    const int64_t N = c.input[0], C = c.input[1], H = c.input[2], W = c.input[3], K = c.out, OH = c.rows().out,
                  OW = c.cols().out, top = c.rows().pad, left = c.cols().pad;
    Expected e;
    e.y.assign(static_cast<size_t>(N * K * OH * OW), 0.0);
    e.dw.assign(static_cast<size_t>(w.numel()), 0.0);
    e.db.assign(static_cast<size_t>(K), 0.0);
    e.dx.assign(static_cast<size_t>(x.numel()), 0.0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                    const int64_t o = ((n * K + k) * OH + oh) * OW + ow;
                    // ReLU's gradient follows the layer's own output, so that
                    // an output near 0 is masked alike.
                    const double g = c.relu && !(y_layer[o] > 0.0f) ? 0.0 : dy[o];
                    double sum = c.bias ? b[k] : 0.0;
                    e.db[k] += g;
                    for (int64_t ch = 0; ch < C; ++ch)
                        for (int64_t i = 0; i < c.kh; ++i)
                            for (int64_t j = 0; j < c.kw; ++j) {
                                const int64_t h = oh * c.sh + i * c.dh - top, v = ow * c.sw + j * c.dw - left;
                                if (h < 0 || h >= H || v < 0 || v >= W)
                                    continue;
                                const int64_t xi = ((n * C + ch) * H + h) * W + v;
                                const int64_t wi = ((k * C + ch) * c.kh + i) * c.kw + j;
                                sum += double(w[wi]) * x[xi];
                                e.dw[wi] += g * x[xi];
                                e.dx[xi] += g * w[wi];
                            }
                    e.y[o] = c.relu ? std::max(sum, 0.0) : sum;
                }
    return e;
}

// bf16's value of every element (a bf16 layer multiplies these).
Tensor bf16_values(const Tensor &t)
{
    Tensor r = t.clone();
    for (int64_t i = 0; i < r.numel(); ++i)
        r[i] = sdk::bf16_value(r[i]);
    return r;
}

// Every element within tolerance · (1 + the largest |expected|).
void expect_close(const Tensor &got, const std::vector<double> &want, double tolerance, const QString &what)
{
    QCOMPARE(static_cast<size_t>(got.numel()), want.size());
    double scale = 1;
    for (double v : want)
        scale = std::max(scale, std::fabs(v));
    for (int64_t i = 0; i < got.numel(); ++i)
        QVERIFY2(std::fabs(got[i] - want[static_cast<size_t>(i)]) <= tolerance * scale,
                 qPrintable(QString("%1[%2]: %3, expected %4").arg(what).arg(i).arg(got[i]).arg(want[size_t(i)])));
}

enum class Mode { F32, Bf16Layer, Bf16Model };

} // namespace

class TestFewChannels : public QObject {
    Q_OBJECT

private slots:
    void against_reference_data()
    {
        QTest::addColumn<int>("index");
        for (int i = 0; i < static_cast<int>(cases().size()); ++i)
            QTest::newRow(cases()[i].name) << i;
    }

    void against_reference()
    {
        QFETCH(int, index);
        const Case &c = cases()[index];
        for (Mode mode : {Mode::F32, Mode::Bf16Layer, Mode::Bf16Model}) {
            if (mode != Mode::F32 && !bf16_kernels().supported)
                continue;
            for (int threads : {1, 2})
                run_case(c, mode, threads);
        }
    }

    // A bf16 model's first convolution writes the layout the second reads
    // (channels last on AMX), through the pool: no conversion between them.
    void hands_the_next_convolution_its_layout()
    {
        for (DType precision : {DType::F32, DType::BF16}) {
            if (precision == DType::BF16 && !bf16_kernels().supported)
                continue;
            Sequential model;
            model.add(make(Case{"first", {64, 1, 28, 28}, 32, 3, 3, 1, 1, 0, 0, 1, 1, true}.params("auto")));
            model.add(test::registry().create_layer("MaxPool2D", {}, test::context(), 1));
            model.add(make(Case{"second", {64, 32, 13, 13}, 64, 3, 3, 1, 1, 0, 0, 1, 1, true}.params("auto")));
            model.set_precision(precision);
            const Shape in{64, 1, 28, 28};
            const auto descs = model.node_outputs(std::span<const Shape>(&in, 1));
            QVERIFY(descs[0][0].format != NRT_FORMAT_PLAIN);
            QCOMPARE(descs[1][0].format, descs[0][0].format);
            // What the second convolution writes is what it reads (oneDNN
            // picks one layout for both here).
            QCOMPARE(descs[2][0].format, descs[0][0].format);
            if (precision == DType::BF16 && bf16_kernels().name == "AMX")
                QCOMPARE(descs[0][0].format, int32_t(dnnl_acdb));
        }
    }

private:
    static const std::vector<Case> &cases()
    {
        static const std::vector<Case> all = {
            // The CNN's first layer: windows of 8 and 3 single outputs, 32 channels at once.
            {"grey 3x3 relu", {3, 1, 12, 13}, 32, 3, 3, 1, 1, 0, 0, 1, 1, true},
            // 16 channels at a time, padding, stride 2, 27 taps (8 + 8 + 8 + 1 + 1 + 1).
            {"colour padded strided", {2, 3, 9, 8}, 16, 3, 3, 2, 2, 1, 1, 1, 1, true},
            // 48 channels (16 at a time), dilation, no activation, 25 taps.
            {"dilated 5x5", {2, 1, 14, 11}, 48, 5, 5, 1, 1, 2, 2, 2, 2, false},
            // One sample, uneven window and stride, more padding than the kernel's half.
            {"uneven", {1, 2, 7, 9}, 32, 3, 2, 1, 2, 2, 0, 1, 1, true},
            // Rows wider than many windows: 8 windows of 8 per row.
            {"wide", {2, 1, 5, 66}, 32, 3, 3, 1, 1, 0, 0, 1, 1, true},
            // No bias; "same" padding of an even kernel: 1 before, 2 after.
            {"same, no bias", {2, 1, 9, 10}, 16, 4, 4, 1, 1, 0, 0, 1, 1, true, false, true},
        };
        return all;
    }

    static std::shared_ptr<Module> make(const ParamList &params)
    {
        return test::registry().create_layer("Conv2D", params, test::context(), 7);
    }

    void run_case(const Case &c, Mode mode, int threads)
    {
        const QString what = QString("%1, %2, %3 thread(s)")
                                 .arg(c.name)
                                 .arg(mode == Mode::F32 ? "f32" : mode == Mode::Bf16Layer ? "bf16 layer" : "bf16 model")
                                 .arg(threads);
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
        auto conv = make(c.params(mode == Mode::Bf16Layer ? "bf16" : "auto"));
        Sequential model;
        model.add(conv);
        if (mode == Mode::Bf16Model)
            model.set_precision(DType::BF16);
        auto params = conv->parameters();
        if (c.bias)
            Tensor(params[1].value).copy_from(test::random_tensor(Shape{c.out}, 3));
        const Tensor x = test::random_tensor(c.input, 11);
        const Tensor y = model.forward(x).clone();
        const Tensor dy = test::random_tensor(y.shape(), 12);
        model.zero_grad();
        const Tensor dx = model.backward(x, dy, true).clone();
        // A second backward adds to the parameters' gradients.
        model.backward(x, dy, false);
        omp_set_num_threads(saved);
        params = conv->parameters(); // the gradients as the model left them

        const bool bf16 = mode != Mode::F32;
        const Tensor w(params[0].value), b = c.bias ? Tensor(params[1].value) : Tensor();
        // A bf16 model hands the layer bf16 inputs and output gradients.
        const Expected e = bf16 ? reference(c, bf16_values(x), bf16_values(w), b, bf16_values(dy), y)
                                : reference(c, x, w, b, dy, y);
        // Sums of at most 50 products in f32; a bf16 model rounds what the
        // layer writes to bf16 (2^-9 relative).
        const double exact = 1e-5, rounded = mode == Mode::Bf16Model ? 5e-3 : exact;
        expect_close(y, e.y, rounded, what + " output");
        std::vector<double> twice_dw(e.dw), twice_db(e.db);
        for (double &v : twice_dw)
            v *= 2;
        for (double &v : twice_db)
            v *= 2;
        expect_close(Tensor(params[0].grad), twice_dw, exact, what + " weight gradient");
        if (c.bias)
            expect_close(Tensor(params[1].grad), twice_db, exact, what + " bias gradient");
        else
            QCOMPARE(params.size(), size_t{1});
        // The input's gradient is oneDNN's (bf16 rounds it in a bf16 model).
        expect_close(dx, e.dx, rounded, what + " input gradient");
    }
};

QTEST_GUILESS_MAIN(TestFewChannels)
#include "tst_few_channels.moc"
