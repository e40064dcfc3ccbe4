// Conv2D and the pools against values computed by hand, the layouts a chain
// of them keeps, and the errors bad input gets. Gradient checks are in
// tests/auto/gradcheck; the CNN trained from Lua in tests/lua/cnn.lua.
#include "test_support.h"

#include "neurite/core/error.h"
#include "neurite/core/precision.h"
#include "neurite/core/sequential.h"

#include <QtTest>

#include <algorithm>
#include <cmath>

using namespace neurite;

namespace {

std::shared_ptr<Module> make(const std::string &name, const ParamList &params, uint64_t seed = 1)
{
    return test::registry().create_layer(name, params, test::context(), seed);
}

// 1..n in the given shape.
Tensor counting(const Shape &shape)
{
    Tensor t(shape);
    for (int64_t i = 0; i < t.numel(); ++i)
        t[i] = static_cast<float>(i + 1);
    return t;
}

// The message of the Error fn throws, or "" when it throws none.
template <class Fn> std::string error_of(Fn &&fn)
{
    try {
        fn();
    } catch (const std::exception &e) {
        return e.what();
    }
    return "";
}

} // namespace

class TestConv : public QObject {
    Q_OBJECT

private slots:
    // Weights 1..9, bias 0.5 on the 4x4 input 1..16:
    // out[i][j] = Σ_ab w[a][b] x[i+a][j+b] + 0.5 = 45 (4i + j + 1) + 303.5.
    // With d out = 1: dW[a][b] = Σ_ij x[i+a][j+b] = 16a + 4b + 14, db = 4,
    // and dx[r][c] sums the weights that touch (r, c).
    void conv3x3_by_hand()
    {
        auto conv = make("Conv2D", {{"inputs", 1.0}, {"outputs", 1.0}, {"kernel", 3.0}});
        auto params = conv->parameters();
        Tensor(params[0].value).copy_from(counting(Shape{1, 1, 3, 3}));
        Tensor(params[1].value).fill(0.5f);
        LayerRunner runner(conv);
        const Tensor x = counting(Shape{1, 1, 4, 4});
        const Tensor &y = runner.forward(x);
        QCOMPARE(y.shape(), Shape({1, 1, 2, 2}));
        const float expected[] = {348.5f, 393.5f, 528.5f, 573.5f};
        for (int i = 0; i < 4; ++i)
            QCOMPARE(y[i], expected[i]);

        conv->zero_grad();
        const Tensor dx = runner.backward(x, Tensor::full(Shape{1, 1, 2, 2}, 1.0f)).clone();
        params = conv->parameters();
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b)
                QCOMPARE(params[0].grad[a * 3 + b], static_cast<float>(16 * a + 4 * b + 14));
        QCOMPARE(params[1].grad[0], 4.0f);
        // Corners see one weight each; the centre four see a 2x2 block.
        QCOMPARE(dx[0], 1.0f);                   // w[0][0]
        QCOMPARE(dx[3], 3.0f);                   // w[0][2]
        QCOMPARE(dx[5], 1.0f + 2 + 4 + 5);       // (1, 1): w[0..1][0..1]
        QCOMPARE(dx[15], 9.0f);                  // w[2][2]
        QCOMPARE(dx[1], 1.0f + 2);               // (0, 1): w[0][0..1]

        // A second backward adds to the parameter gradients.
        runner.backward(x, Tensor::full(Shape{1, 1, 2, 2}, 1.0f));
        params = conv->parameters();
        QCOMPARE(params[0].grad[0], 28.0f);
        QCOMPARE(params[1].grad[0], 8.0f);
    }

    // Each output gradient goes to the position of its window's maximum, in
    // a plain layout (1 channel) and in oneDNN's blocked one (16 channels).
    void max_pool_routes_gradients()
    {
        const float image[16] = {1, 5, 2, 0, 3, 4, 8, 7, 9, 6, 1, 2, 0, 2, 3, 4};
        for (int channels : {1, 16}) {
            auto pool = make("MaxPool2D", {{"kernel", 2.0}});
            LayerRunner runner(pool);
            Tensor x(Shape{1, channels, 4, 4});
            for (int c = 0; c < channels; ++c)
                for (int i = 0; i < 16; ++i)
                    x[c * 16 + i] = image[i] + static_cast<float>(c); // the same winners per channel
            const Tensor &y = runner.forward(x);
            QCOMPARE(y.shape(), Shape({1, channels, 2, 2}));
            Tensor dy(y.shape());
            for (int c = 0; c < channels; ++c)
                for (int i = 0; i < 4; ++i)
                    dy[c * 4 + i] = 10.0f * static_cast<float>(i + 1) + static_cast<float>(c);
            const Tensor &dx = runner.backward(x, dy);
            for (int c = 0; c < channels; ++c) {
                QCOMPARE(y[c * 4 + 0], 5.0f + c);
                QCOMPARE(y[c * 4 + 3], 4.0f + c);
                const float want[16] = {0, 10, 0, 0, 0, 0, 20, 0, 30, 0, 0, 0, 0, 0, 0, 40};
                for (int i = 0; i < 16; ++i)
                    QCOMPARE(dx[c * 16 + i], want[i] == 0 ? 0.0f : want[i] + static_cast<float>(c));
            }
        }
    }

    // Conv, pool, conv in a model: oneDNN's blocked layout passes between
    // them with no conversion, and the results equal the layers run alone
    // on plain tensors.
    void chain_keeps_blocked_layout()
    {
        auto conv1 = make("Conv2D", {{"inputs", 3.0}, {"outputs", 16.0}, {"activation", std::string("relu")}}, 3);
        auto pool = make("MaxPool2D", {});
        auto conv2 = make("Conv2D", {{"inputs", 16.0}, {"outputs", 32.0}, {"padding", std::string("same")}}, 4);
        Sequential model;
        model.add(conv1);
        model.add(pool);
        model.add(conv2);
        const Shape in{2, 3, 10, 9};
        const auto descs = model.node_outputs(std::span<const Shape>(&in, 1));
        QVERIFY2(descs[0][0].format != NRT_FORMAT_PLAIN, "the convolution writes oneDNN's blocked layout");
        QCOMPARE(descs[1][0].format, descs[0][0].format); // the pool keeps it
        QCOMPARE(descs[1][0].shape, Shape({2, 16, 4, 3}));
        const Tensor x = test::random_tensor(in, 9);
        const Tensor chained = model.forward(x).clone();

        Tensor step = x;
        for (const auto &layer : {conv1, pool, conv2}) {
            LayerRunner alone(layer);
            step = alone.forward(step).clone();
        }
        QCOMPARE(chained.shape(), step.shape());
        for (int64_t i = 0; i < step.numel(); ++i)
            QVERIFY(std::fabs(chained[i] - step[i]) <= 1e-5f * (1 + std::fabs(step[i])));
    }

    // In a bf16 model, bf16 convolutions and pools hand each other bf16
    // tensors in the blocked layout (no conversion to f32 between them), and
    // the chain's output and input gradient stay close to the f32 model's.
    void bf16_chain_exchanges_bf16()
    {
        if (!bf16_kernels().supported)
            QSKIP("this CPU runs no bf16 kernels");
        Sequential model;
        model.add(make("Conv2D", {{"inputs", 3.0}, {"outputs", 16.0}, {"activation", std::string("tanh")}}, 3));
        model.add(make("AvgPool2D", {}));
        model.add(make("Conv2D", {{"inputs", 16.0}, {"outputs", 32.0}, {"activation", std::string("tanh")}}, 4));
        model.add(make("AvgPool2D", {}));
        const Shape in{4, 3, 14, 13};
        const Tensor x = test::random_tensor(in, 9);
        auto run = [&](Tensor &dx) {
            model.zero_grad();
            const Tensor y = model.forward(x).clone();
            dx = model.backward(x, Tensor::full(y.shape(), 1.0f), true).clone();
            return y;
        };
        Tensor dx32, dx16;
        const Tensor y32 = run(dx32);
        model.set_precision(DType::BF16);
        const auto descs = model.node_outputs(std::span<const Shape>(&in, 1));
        for (size_t n = 0; n < descs.size(); ++n) {
            QVERIFY2(descs[n][0].dtype == DType::BF16, qPrintable(QString("node %1 writes %2").arg(n + 1).arg(
                                                                      QString::fromStdString(descs[n][0].to_string()))));
            QVERIFY2(descs[n][0].format != NRT_FORMAT_PLAIN, "the blocked layout passes through");
        }
        const Tensor y16 = run(dx16);
        auto close = [](const Tensor &a, const Tensor &b, const char *what) {
            QCOMPARE(a.shape(), b.shape());
            double scale = 0, worst = 0;
            for (int64_t i = 0; i < a.numel(); ++i) {
                scale = std::max(scale, double(std::fabs(a[i])));
                worst = std::max(worst, double(std::fabs(a[i] - b[i])));
            }
            QVERIFY2(scale > 0 && worst > 0 && worst <= 0.03 * scale,
                     qPrintable(QString("%1: largest difference %2 at scale %3").arg(what).arg(worst).arg(scale)));
        };
        close(y32, y16, "output"); // worst > 0: it did compute in bf16
        close(dx32, dx16, "input gradient");
        // Max pooling too (not compared: rounding may move a maximum, and
        // its gradient with it).
        model.add(make("MaxPool2D", {{"kernel", 1.0}}));
        const auto with_max = model.node_outputs(std::span<const Shape>(&in, 1));
        QVERIFY(with_max.back()[0].dtype == DType::BF16);
        QCOMPARE(with_max.back()[0].format, with_max[3][0].format);
    }

    // A bf16 MaxPool2D routes its gradients itself (max_route): on values
    // bf16 holds exactly, with no ties, it must give the f32 model's output
    // and input gradient bit for bit.
    void bf16_max_pool_routes_like_f32()
    {
        if (!bf16_kernels().supported)
            QSKIP("this CPU runs no bf16 kernels");
        Sequential model;
        model.add(make("MaxPool2D", {{"kernel", 2.0}}));
        const Shape in{2, 16, 6, 7};
        Tensor x(in), dy(Shape{2, 16, 3, 3});
        // Integers below 256 (exact in bf16); the four of a 2x2 window are
        // i, i+1, i+7, i+8, which (i * 37) % 251 keeps apart: no ties.
        for (int64_t i = 0; i < x.numel(); ++i)
            x[i] = static_cast<float>((i * 37) % 251);
        for (int64_t i = 0; i < dy.numel(); ++i)
            dy[i] = static_cast<float>(i % 97 + 1);
        auto run = [&](Tensor &dx) {
            const Tensor y = model.forward(x).clone();
            dx = model.backward(x, dy, true).clone();
            return y;
        };
        Tensor dx32, dx16;
        const Tensor y32 = run(dx32);
        model.set_precision(DType::BF16);
        QCOMPARE(model.node_outputs(std::span<const Shape>(&in, 1))[0][0].dtype, DType::BF16);
        const Tensor y16 = run(dx16);
        int64_t routed = 0;
        for (int64_t i = 0; i < y32.numel(); ++i)
            QCOMPARE(y16[i], y32[i]);
        for (int64_t i = 0; i < dx32.numel(); ++i) {
            QCOMPARE(dx16[i], dx32[i]);
            routed += dx32[i] != 0;
        }
        QCOMPARE(routed, dy.numel()); // every output's gradient landed once
    }

    // A fused activation gives what the convolution followed by the
    // activation layer gives, outputs and every gradient: relu (a post-op,
    // differentiated from the output) and gelu (kept pre-activation).
    void fused_activation_equals_separate_layer()
    {
        for (const char *act : {"relu", "gelu"}) {
            const ParamList conv{{"inputs", 3.0}, {"outputs", 16.0}, {"padding", 1.0}, {"init", std::string("uniform")}};
            ParamList fused_params = conv;
            fused_params.emplace_back("activation", std::string(act));
            auto fused = make("Conv2D", fused_params, 5);
            auto plain = make("Conv2D", conv, 5);
            Sequential separate;
            separate.add(plain);
            separate.add(make(act == std::string("relu") ? "ReLU" : "GELU", {}));
            LayerRunner alone(fused);
            const Tensor x = test::random_tensor(Shape{2, 3, 6, 5}, 8);
            const Tensor dy = test::random_tensor(Shape{2, 16, 6, 5}, 9);
            const Tensor y1 = alone.forward(x).clone(), y2 = separate.forward(x).clone();
            fused->zero_grad();
            separate.zero_grad();
            const Tensor dx1 = alone.backward(x, dy).clone(), dx2 = separate.backward(x, dy).clone();
            auto same = [&](const Tensor &a, const Tensor &b, const char *what) {
                QCOMPARE(a.shape(), b.shape());
                for (int64_t i = 0; i < a.numel(); ++i)
                    QVERIFY2(std::fabs(a[i] - b[i]) <= 1e-5f * (1 + std::fabs(b[i])),
                             qPrintable(QString("%1 %2[%3]: %4 vs %5").arg(act).arg(what).arg(i).arg(a[i]).arg(b[i])));
            };
            same(y1, y2, "output");
            same(dx1, dx2, "input gradient");
            same(fused->parameters()[0].grad, plain->parameters()[0].grad, "weight gradient");
            same(fused->parameters()[1].grad, plain->parameters()[1].grad, "bias gradient");
        }
    }

    // precision = "bf16" multiplies bfloat16 copies: outputs and every
    // gradient agree with f32 to bf16's precision (8 bits of mantissa, here
    // over sums of 288 products), for a convolution and its transpose.
    void bf16_agrees_with_f32()
    {
        for (const char *entry : {"Conv2D", "ConvTranspose2D"}) {
            // No relu: outputs near 0 may fall on either side of its kink in
            // bf16 and f32, which changes gradients by more than rounding.
            ParamList params{{"inputs", 32.0}, {"outputs", 16.0}, {"padding", 1.0}, {"stride", 2.0}};
            auto f32 = make(entry, params, 5);
            params.emplace_back("precision", std::string("bf16"));
            auto bf16 = make(entry, params, 5);
            LayerRunner a(f32), b(bf16);
            const Tensor x = test::random_tensor(Shape{4, 32, 9, 7}, 8);
            const Tensor ya = a.forward(x).clone(), yb = b.forward(x).clone();
            const Tensor dy = test::random_tensor(ya.shape(), 9);
            f32->zero_grad();
            bf16->zero_grad();
            const Tensor dxa = a.backward(x, dy).clone(), dxb = b.backward(x, dy).clone();
            // Relative to the tensor's scale: bf16 rounds each factor to 2^-9.
            auto close = [&](const Tensor &p, const Tensor &q, const char *what) {
                QCOMPARE(p.shape(), q.shape());
                double scale = 0, worst = 0;
                for (int64_t i = 0; i < p.numel(); ++i) {
                    scale = std::max(scale, double(std::fabs(p[i])));
                    worst = std::max(worst, double(std::fabs(p[i] - q[i])));
                }
                QVERIFY2(worst <= 0.02 * scale && scale > 0,
                         qPrintable(QString("%1 %2: largest difference %3 at scale %4").arg(entry).arg(what).arg(worst).arg(scale)));
            };
            close(ya, yb, "output");
            close(dxa, dxb, "input gradient");
            close(f32->parameters()[0].grad, bf16->parameters()[0].grad, "weight gradient");
            close(f32->parameters()[1].grad, bf16->parameters()[1].grad, "bias gradient");
        }
    }

    // Bad input: clear errors naming the layer, the shapes and the value.
    void errors()
    {
        Sequential model;
        model.add(make("Conv2D", {{"inputs", 1.0}, {"outputs", 16.0}}));
        model.add(make("MaxPool2D", {}));
        model.add(make("Conv2D", {{"inputs", 32.0}, {"outputs", 8.0}}));
        const std::string mismatch = error_of([&] { model.forward(Tensor(Shape{64, 1, 28, 28})); });
        QVERIFY2(mismatch.find("Conv2D") != std::string::npos, mismatch.c_str());
        QVERIFY2(mismatch.find("3") != std::string::npos, mismatch.c_str()); // its position
        QVERIFY2(mismatch.find("expects 32 channels, input [64, 16, 13, 13]") != std::string::npos, mismatch.c_str());

        auto conv = make("Conv2D", {{"inputs", 1.0}, {"outputs", 1.0}, {"kernel", 5.0}, {"padding", 1.0}});
        const std::string big = error_of([&] { conv->prepare(Shape{1, 1, 2, 2}); });
        QVERIFY2(big.find("kernel 5 is larger than the padded input 4x4 (input [1, 1, 2, 2], padding 1)") !=
                     std::string::npos,
                 big.c_str());
        auto dilated = make("Conv2D", {{"inputs", 1.0}, {"outputs", 1.0}, {"dilation", 3.0}});
        const std::string span = error_of([&] { dilated->prepare(Shape{1, 1, 6, 6}); });
        QVERIFY2(span.find("kernel 3 (spanning 7 with dilation 3)") != std::string::npos, span.c_str());

        const std::string flat = error_of([&] { make("Conv2D", {{"inputs", 1.0}, {"outputs", 1.0}})->prepare(Shape{4, 784}); });
        QVERIFY2(flat.find("expects a 4-D input [N, C, H, W], got 2-D [4, 784]") != std::string::npos, flat.c_str());

        const std::string stride = error_of([&] { make("Conv2D", {{"inputs", 1.0}, {"outputs", 1.0}, {"stride", 0.0}}); });
        QVERIFY2(stride.find("Conv2D: parameter 'stride' = 0 is outside its range [1, 1024]") != std::string::npos,
                 stride.c_str());
        const std::string pad = error_of([&] {
            make("Conv2D", {{"inputs", 1.0}, {"outputs", 1.0}, {"padding", std::vector<double>{1, -2}}});
        });
        QVERIFY2(pad.find("parameter 'padding' = -2 is outside its range") != std::string::npos, pad.c_str());
        const std::string groups = error_of([&] { make("Conv2D", {{"inputs", 4.0}, {"outputs", 6.0}, {"groups", 3.0}}); });
        QVERIFY2(groups.find("groups = 3 must divide both inputs = 4 and outputs = 6") != std::string::npos,
                 groups.c_str());
        const std::string pool_pad = error_of([&] { make("AvgPool2D", {{"kernel", 3.0}, {"padding", 2.0}}); });
        QVERIFY2(pool_pad.find("padding 2 is more than half the kernel 3") != std::string::npos, pool_pad.c_str());
    }
};

QTEST_GUILESS_MAIN(TestConv)
#include "tst_conv.moc"
