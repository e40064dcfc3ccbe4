// BatchNorm and LayerNorm: gradient checks for inputs and parameters (batch
// 1, odd and non-square sizes, 2-D and 4-D), outputs against values
// computed by hand from the formulas, the running statistics in training
// and evaluation, their bitwise checkpoint round trip, and the errors bad
// input gets.
#include "data_test_support.h"

#include "neurite/core/checkpoint.h"
#include "neurite/core/sequential.h"

#include <QtTest>

#include <oneapi/dnnl/dnnl_types.h>

#include <cmath>
#include <cstring>

using namespace neurite;

namespace {

constexpr double kTolerance = 2e-2; // relative, float precision

std::shared_ptr<Module> batch_norm(int64_t features, double momentum = 0.1)
{
    return test::registry().create_layer("BatchNorm", {{"features", double(features)}, {"momentum", momentum}},
                                         test::context(), 3);
}

std::shared_ptr<Module> layer_norm(std::vector<double> shape)
{
    return test::registry().create_layer("LayerNorm", {{"shape", shape}}, test::context(), 4);
}

// Non-trivial scale and shift, so their gradients and effect are tested.
void randomize_affine(Module &layer, uint64_t seed)
{
    auto params = layer.parameters();
    for (size_t i = 0; i < 2; ++i) {
        Tensor v = params[i].value;
        v.copy_from(test::random_tensor(v.shape(), seed + i, 0.5f, 1.5f));
    }
}

// The message of the Error fn raises (test::error_of), as a std::string.
std::string error_of(const std::function<void()> &fn) { return test::error_of(fn).toStdString(); }

// Batch norm by its formula, in double: channel c of x [N, C, S...] (S the
// product of the spatial dims) normalized by mean[c] and var[c].
std::vector<double> reference_batch_norm(const Tensor &x, const std::vector<double> &mean, const std::vector<double> &var,
                                         const Tensor &weight, const Tensor &bias, double eps)
{
    const int64_t n = x.size(0), c = x.size(1), s = x.numel() / (n * c);
    std::vector<double> out(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t k = 0; k < s; ++k) {
                const int64_t at = (i * c + ch) * s + k;
                out[static_cast<size_t>(at)] = (x[at] - mean[static_cast<size_t>(ch)]) /
                                                   std::sqrt(var[static_cast<size_t>(ch)] + eps) * weight[ch] +
                                               bias[ch];
            }
    return out;
}

// Per-channel mean and biased variance of x [N, C, S...].
void channel_statistics(const Tensor &x, std::vector<double> &mean, std::vector<double> &var)
{
    const int64_t n = x.size(0), c = x.size(1), s = x.numel() / (n * c);
    mean.assign(static_cast<size_t>(c), 0.0);
    var.assign(static_cast<size_t>(c), 0.0);
    for (int64_t ch = 0; ch < c; ++ch) {
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t k = 0; k < s; ++k) {
                const double v = x[(i * c + ch) * s + k];
                sum += v;
                sq += v * v;
            }
        const double m = sum / double(n * s);
        mean[static_cast<size_t>(ch)] = m;
        var[static_cast<size_t>(ch)] = sq / double(n * s) - m * m;
    }
}

void expect_close(const Tensor &got, const std::vector<double> &want, double tol, const char *what)
{
    QCOMPARE(got.numel(), int64_t(want.size()));
    for (int64_t i = 0; i < got.numel(); ++i)
        QVERIFY2(std::fabs(got[i] - want[static_cast<size_t>(i)]) <= tol * (1 + std::fabs(want[static_cast<size_t>(i)])),
                 qPrintable(QString("%1[%2]: %3, expected %4").arg(what).arg(i).arg(got[i]).arg(want[static_cast<size_t>(i)])));
}

// nChw16c, the layout oneDNN's convolutions write: channels in blocks of
// 16 (the last block padded with zeros), each block [H, W, 16].
int64_t blocked_index(const Shape &s, int64_t n, int64_t c, int64_t hw)
{
    const int64_t blocks = (s[1] + 15) / 16, spatial = s[2] * s[3];
    return ((n * blocks + c / 16) * spatial + hw) * 16 + c % 16;
}

std::vector<float> to_blocked(const Tensor &x)
{
    const Shape &s = x.shape();
    const int64_t spatial = s[2] * s[3];
    std::vector<float> out(static_cast<size_t>(s[0] * ((s[1] + 15) / 16) * 16 * spatial), 0.0f);
    for (int64_t n = 0; n < s[0]; ++n)
        for (int64_t c = 0; c < s[1]; ++c)
            for (int64_t hw = 0; hw < spatial; ++hw)
                out[static_cast<size_t>(blocked_index(s, n, c, hw))] = x[(n * s[1] + c) * spatial + hw];
    return out;
}

Tensor from_blocked(const std::vector<float> &b, const Shape &s)
{
    Tensor x(s);
    const int64_t spatial = s[2] * s[3];
    for (int64_t n = 0; n < s[0]; ++n)
        for (int64_t c = 0; c < s[1]; ++c)
            for (int64_t hw = 0; hw < spatial; ++hw)
                x[(n * s[1] + c) * spatial + hw] = b[static_cast<size_t>(blocked_index(s, n, c, hw))];
    return x;
}

nrt_tensor blocked_tensor(const Shape &s, std::vector<float> &memory)
{
    nrt_tensor t{};
    t.struct_size = sizeof(nrt_tensor);
    t.dtype = NRT_DTYPE_F32;
    t.format = dnnl_nChw16c;
    t.ndims = s.size();
    for (int i = 0; i < s.size(); ++i)
        t.dims[i] = s[i];
    t.data = memory.data();
    return t;
}

} // namespace

class TestNormLayers : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        for (const char *name : {"BatchNorm", "LayerNorm"})
            QVERIFY2(test::registry().find(name), name);
    }

    void batch_norm_gradient_data()
    {
        QTest::addColumn<QList<qint64>>("shape");
        QTest::newRow("[5, 3] odd, 2-D") << QList<qint64>{5, 3};
        QTest::newRow("[1, 3, 4, 5] batch 1, non-square") << QList<qint64>{1, 3, 4, 5};
        QTest::newRow("[3, 2, 3, 5] odd, non-square") << QList<qint64>{3, 2, 3, 5};
        QTest::newRow("[2, 4, 3] 3-D") << QList<qint64>{2, 4, 3};
        QTest::newRow("[2, 1, 1, 1] two values per channel") << QList<qint64>{2, 1, 1, 1};
        QTest::newRow("[1, 4] one value per channel") << QList<qint64>{1, 4};
    }

    void batch_norm_gradient()
    {
        QFETCH(QList<qint64>, shape);
        Shape s;
        for (qint64 d : shape)
            s.push_back(d);
        auto layer = batch_norm(s[1]);
        randomize_affine(*layer, 21);
        const Tensor x = test::random_tensor(s, 22, -2.0f, 2.0f);
        const test::GradError err = test::check_layer_gradient(*layer, x, 23);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
        QVERIFY(err.index >= 0); // something was compared
    }

    // Training normalizes by the batch, evaluation by the running
    // statistics, which one training step moved by momentum towards the
    // batch's mean and unbiased variance.
    void batch_norm_train_vs_eval_values()
    {
        auto layer = batch_norm(2, 0.1);
        auto params = layer->parameters();
        QCOMPARE(params.size(), size_t(4));
        QCOMPARE(params[2].name, std::string("running_mean"));
        QVERIFY(params[2].buffer && params[3].buffer && !params[0].buffer);
        Tensor w = params[0].value, b = params[1].value;
        w.copy_from(Tensor::from(Shape{2}, {2.0f, 0.5f}));
        b.copy_from(Tensor::from(Shape{2}, {0.1f, -1.0f}));
        // [4, 2]: channel 0 holds 1, 2, 3, 4 (mean 2.5, variance 1.25); channel 1 holds -1, 0, 0, 5 (mean 1, variance 5.5).
        const Tensor x = Tensor::from(Shape{4, 2}, {1, -1, 2, 0, 3, 0, 4, 5});
        Tensor y(layer->prepare(x.shape()));
        layer->forward_plain(x, y, true);
        const double eps = 1e-5;
        // By hand: (1 − 2.5) / √1.25001 · 2 + 0.1 = −2.583271 and (5 − 1) / √5.50001 · 0.5 − 1 = −0.147197.
        QVERIFY(std::fabs(y[0] - (-2.5832708)) < 1e-5);
        QVERIFY(std::fabs(y[7] - (-0.1471976)) < 1e-5);
        expect_close(y, reference_batch_norm(x, {2.5, 1.0}, {1.25, 5.5}, w, b, eps), 1e-5, "training output");
        // running = 0.9 · initial + 0.1 · batch, the variance unbiased (× 4/3).
        const std::vector<double> running_mean{0.25, 0.1}, running_var{0.9 + 0.1 * 1.25 * 4 / 3, 0.9 + 0.1 * 5.5 * 4 / 3};
        expect_close(params[2].value, running_mean, 1e-6, "running_mean");
        expect_close(params[3].value, running_var, 1e-6, "running_var");
        layer->set_training(false); // the mode backward runs in
        layer->forward_plain(x, y, false);
        expect_close(y, reference_batch_norm(x, running_mean, running_var, w, b, eps), 1e-5, "evaluation output");
        // Evaluation changes no statistics.
        expect_close(params[2].value, running_mean, 1e-6, "running_mean after evaluation");

        // Evaluation's backward: the statistics are constants, dx = dy · w / √(var + eps).
        const Tensor dy = test::random_tensor(y.shape(), 5);
        Tensor dx(x.shape());
        layer->zero_grad();
        layer->backward_plain(x, y, dy, &dx);
        std::vector<double> want(8);
        for (int i = 0; i < 8; ++i)
            want[size_t(i)] = dy[i] * w[i % 2] / std::sqrt(running_var[size_t(i % 2)] + eps);
        expect_close(dx, want, 1e-5, "evaluation input gradient");
        // d bias = Σ dy per channel, in either mode.
        expect_close(params[1].grad, {dy[0] + dy[2] + dy[4] + dy[6], dy[1] + dy[3] + dy[5] + dy[7]}, 1e-5, "bias gradient");
    }

    // [N, C, H, W]: statistics per channel over the batch and both spatial dims.
    void batch_norm_4d_values()
    {
        auto layer = batch_norm(3);
        randomize_affine(*layer, 7);
        const Tensor x = test::random_tensor(Shape{2, 3, 2, 5}, 8, -3.0f, 3.0f);
        Tensor y(layer->prepare(x.shape()));
        layer->forward_plain(x, y, true);
        std::vector<double> mean, var;
        channel_statistics(x, mean, var);
        const auto params = layer->parameters();
        expect_close(y, reference_batch_norm(x, mean, var, params[0].value, params[1].value, 1e-5), 1e-4, "4-D output");
        for (size_t c = 0; c < 3; ++c) {
            QVERIFY(std::fabs(params[2].value[int64_t(c)] - 0.1 * mean[c]) < 1e-6);
            QVERIFY(std::fabs(params[3].value[int64_t(c)] - (0.9 + 0.1 * var[c] * 20.0 / 19.0)) < 1e-5);
        }
    }

    // After a convolution the input arrives blocked (nChw16c): BatchNorm reads
    // and writes it so, with the results of the plain layout.
    void batch_norm_keeps_a_blocked_layout()
    {
        const Shape s{2, 3, 4, 5};
        auto plain = batch_norm(3), blocked = batch_norm(3);
        randomize_affine(*plain, 71);
        randomize_affine(*blocked, 71);
        std::vector<Desc> src{Desc(s, DType::F32, dnnl_nChw16c)}, dst;
        const size_t workspace_bytes = blocked->prepare(src, dst);
        QCOMPARE(src[0].format, int32_t(dnnl_nChw16c)); // read as it comes, no conversion
        QCOMPARE(dst[0].format, int32_t(dnnl_nChw16c)); // and written so
        blocked->ensure_bound();
        const Tensor x = test::random_tensor(s, 72, -2.0f, 3.0f), dy = test::random_tensor(s, 73);
        std::vector<float> xb = to_blocked(x), yb(xb.size(), 7.0f), dyb = to_blocked(dy), dxb(xb.size(), 7.0f);
        std::vector<float> workspace(workspace_bytes / sizeof(float) + 16);
        nrt_tensor in = blocked_tensor(s, xb), out = blocked_tensor(s, yb), d_out = blocked_tensor(s, dyb),
                   d_in = blocked_tensor(s, dxb);
        nrt_layer_call call{};
        call.struct_size = sizeof call;
        call.src_count = call.dst_count = 1;
        call.training = 1;
        call.src = &in;
        call.dst = &out;
        call.diff_dst = &d_out;
        call.diff_src = &d_in;
        call.workspace = workspace.data();
        call.workspace_bytes = workspace_bytes;
        blocked->zero_grad();
        blocked->forward(call);
        blocked->backward(call);
        Tensor y(plain->prepare(s)), dx(s);
        plain->forward_plain(x, y, true);
        plain->zero_grad();
        plain->backward_plain(x, y, dy, &dx);
        auto same = [](const Tensor &a, const Tensor &b, const char *what) {
            for (int64_t i = 0; i < a.numel(); ++i)
                QVERIFY2(std::fabs(a[i] - b[i]) <= 1e-4f * (1 + std::fabs(b[i])),
                         qPrintable(QString("%1[%2]: %3 vs %4").arg(what).arg(i).arg(a[i]).arg(b[i])));
        };
        same(from_blocked(yb, s), y, "output");
        same(from_blocked(dxb, s), dx, "input gradient");
        const auto pb = blocked->parameters(), pp = plain->parameters();
        for (size_t i = 0; i < pp.size(); ++i)
            same(pb[i].buffer ? pb[i].value : pb[i].grad, pp[i].buffer ? pp[i].value : pp[i].grad, pp[i].name.c_str());
    }

    // Saved with the weights and restored bit for bit, with the outputs they give.
    void batch_norm_checkpoint_round_trip()
    {
        Sequential model;
        model.add(batch_norm(3, 0.3));
        model.add(test::registry().create_layer("Dense", {{"inputs", 12.0}, {"outputs", 2.0}}, test::context(), 9));
        for (uint64_t step = 0; step < 4; ++step)
            model.forward(test::random_tensor(Shape{5, 3, 2, 2}, 40 + step, -1.0f, 4.0f));
        model.set_training(false);
        const Tensor x = test::random_tensor(Shape{2, 3, 2, 2}, 50);
        const Tensor y = model.forward(x).clone();
        const auto before = model.parameters();
        QTemporaryDir dir;
        const std::string path = dir.filePath("bn.nrt").toStdString();
        Checkpoint::capture(model).write(path);
        auto loaded = Checkpoint::read(path).build(test::registry(), test::context(), 77, path);
        loaded->set_training(false);
        const auto after = loaded->parameters();
        QCOMPARE(after.size(), before.size());
        int buffers = 0;
        for (size_t i = 0; i < before.size(); ++i) {
            QCOMPARE(after[i].name, before[i].name);
            QCOMPARE(after[i].buffer, before[i].buffer);
            buffers += before[i].buffer;
            QVERIFY2(std::memcmp(after[i].value.data(), before[i].value.data(),
                                 size_t(before[i].value.numel()) * sizeof(float)) == 0,
                     before[i].name.c_str());
        }
        QCOMPARE(buffers, 2);
        QVERIFY(before[2].value[0] != 0.0f); // training moved the statistics
        const Tensor y2 = loaded->forward(x);
        QVERIFY(std::memcmp(y2.data(), y.data(), size_t(y.numel()) * sizeof(float)) == 0);
    }

    void batch_norm_bad_input()
    {
        auto layer = batch_norm(3);
        const std::string channels = error_of([&] { layer->prepare(Shape{2, 4, 5, 5}); });
        QVERIFY2(channels.find("BatchNorm") != std::string::npos && channels.find("expects 3 channels") != std::string::npos &&
                     channels.find("[2, 4, 5, 5]") != std::string::npos,
                 channels.c_str());
        const std::string rank = error_of([&] { layer->prepare(Shape{3}); });
        QVERIFY2(rank.find("BatchNorm") != std::string::npos && rank.find("[3]") != std::string::npos, rank.c_str());
        // One value per channel is its own mean: the output is the bias, the
        // running mean moves, the running variance (unknown) does not.
        const Tensor one = Tensor::from(Shape{1, 3}, {1, 2, 3});
        Tensor y(layer->prepare(one.shape()));
        layer->forward_plain(one, y, true);
        const auto params = layer->parameters();
        QCOMPARE(y.to_vector(), params[1].value.to_vector());
        QCOMPARE(params[2].value.to_vector(), (std::vector<float>{0.1f, 0.2f, 0.3f}));
        QCOMPARE(params[3].value.to_vector(), (std::vector<float>{1, 1, 1}));
        const std::string momentum = error_of([&] { batch_norm(3, 1.5); });
        QVERIFY2(momentum.find("momentum") != std::string::npos && momentum.find("1.5") != std::string::npos,
                 momentum.c_str());
    }

    void layer_norm_gradient_data()
    {
        QTest::addColumn<QList<qint64>>("input");
        QTest::addColumn<QList<double>>("shape");
        QTest::newRow("[1, 5] over {5}, batch 1") << QList<qint64>{1, 5} << QList<double>{5};
        QTest::newRow("[3, 7] over {7}") << QList<qint64>{3, 7} << QList<double>{7};
        QTest::newRow("[2, 3, 4] over {3, 4}") << QList<qint64>{2, 3, 4} << QList<double>{3, 4};
        QTest::newRow("[1, 2, 3, 5] over {5}") << QList<qint64>{1, 2, 3, 5} << QList<double>{5};
    }

    void layer_norm_gradient()
    {
        QFETCH(QList<qint64>, input);
        QFETCH(QList<double>, shape);
        Shape s;
        for (qint64 d : input)
            s.push_back(d);
        auto layer = layer_norm(std::vector<double>(shape.begin(), shape.end()));
        randomize_affine(*layer, 31);
        const test::GradError err = test::check_layer_gradient(*layer, test::random_tensor(s, 32, -2.0f, 2.0f), 33);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }

    // Each row by its own mean and variance, the same in training and evaluation.
    void layer_norm_values()
    {
        auto layer = layer_norm({2, 2});
        const auto params = layer->parameters();
        QCOMPARE(params[0].value.shape(), (Shape{2, 2}));
        Tensor w = params[0].value, b = params[1].value;
        w.copy_from(Tensor::from(Shape{2, 2}, {1, 2, 3, 4}));
        b.copy_from(Tensor::from(Shape{2, 2}, {0, 0, 0, 1}));
        // Sample 1 holds 1, 2, 3, 4 (mean 2.5, variance 1.25), sample 2 holds 2, 2, 2, 6 (mean 3, variance 3).
        const Tensor x = Tensor::from(Shape{2, 2, 2}, {1, 2, 3, 4, 2, 2, 2, 6});
        Tensor y(layer->prepare(x.shape()));
        const double s1 = std::sqrt(1.25 + 1e-5), s2 = std::sqrt(3.0 + 1e-5);
        const std::vector<double> want{-1.5 / s1 * 1, -0.5 / s1 * 2, 0.5 / s1 * 3, 1.5 / s1 * 4 + 1,
                                       -1.0 / s2 * 1, -1.0 / s2 * 2, -1.0 / s2 * 3, 3.0 / s2 * 4 + 1};
        for (bool training : {true, false}) {
            layer->forward_plain(x, y, training);
            expect_close(y, want, 1e-5, training ? "training output" : "evaluation output");
        }
    }

    void layer_norm_bad_input()
    {
        auto layer = layer_norm({4, 5});
        const std::string mismatch = error_of([&] { layer->prepare(Shape{3, 4, 6}); });
        QVERIFY2(mismatch.find("LayerNorm") != std::string::npos && mismatch.find("[4, 5]") != std::string::npos &&
                     mismatch.find("[3, 4, 6]") != std::string::npos,
                 mismatch.c_str());
        const std::string no_batch = error_of([&] { layer->prepare(Shape{4, 5}); });
        QVERIFY2(no_batch.find("batch dimension") != std::string::npos, no_batch.c_str());
        const std::string zero = error_of([&] { layer_norm({3, 0}); });
        QVERIFY2(zero.find("LayerNorm") != std::string::npos && zero.find("0") != std::string::npos, zero.c_str());
        const std::string fraction = error_of([&] { layer_norm({2.5}); });
        QVERIFY2(fraction.find("2.5") != std::string::npos, fraction.c_str());
        const std::string empty = error_of([&] { layer_norm({}); });
        QVERIFY2(empty.find("at least one number") != std::string::npos, empty.c_str());
    }

    // Gradients accumulate across backward calls until cleared, as every layer's do.
    void gradients_accumulate()
    {
        for (auto layer : {batch_norm(3), layer_norm({3})}) {
            const Tensor x = test::random_tensor(Shape{4, 3}, 61);
            Tensor y(layer->prepare(x.shape()));
            const Tensor dy = test::random_tensor(y.shape(), 62);
            layer->forward_plain(x, y, true);
            layer->zero_grad();
            layer->backward_plain(x, y, dy, nullptr);
            const Tensor once = layer->parameters()[0].grad.clone();
            layer->backward_plain(x, y, dy, nullptr);
            for (int64_t i = 0; i < once.numel(); ++i)
                QVERIFY(std::fabs(layer->parameters()[0].grad[i] - 2 * once[i]) <= 1e-5f * (1 + std::fabs(once[i])));
            layer->zero_grad(true); // deferred: the next backward writes
            layer->backward_plain(x, y, dy, nullptr);
            for (int64_t i = 0; i < once.numel(); ++i)
                QVERIFY(std::fabs(layer->parameters()[0].grad[i] - once[i]) <= 1e-5f * (1 + std::fabs(once[i])));
        }
    }
};

QTEST_GUILESS_MAIN(TestNormLayers)
#include "tst_norm_layers.moc"
