// Every layer, activation and loss in the registry passes a central-difference
// gradient check, for its input and its parameters, on shapes that include
// batch 1 and odd sizes. New plugins are covered by iterating the registry.
#include "test_support.h"

#include <QtTest>

#include <algorithm>
#include <random>

using namespace neurite;

namespace {

constexpr double kTolerance = 2e-2; // relative, float precision

// Values at least `margin` away from 0, so kinks (ReLU, |x|) are not straddled.
Tensor away_from_zero(const Shape &shape, uint64_t seed, float margin = 0.05f)
{
    Tensor t = test::random_tensor(shape, seed, -2.0f, 2.0f);
    for (float &v : t)
        v = v < 0 ? v - margin : v + margin;
    return t;
}

bool zero_derivative(const std::string &name) { return name == "BinaryStep" || name == "Sign"; }

// A spatial size as the schema takes it: one number, or {h, w}.
ParamValue pair(int h, int w)
{
    if (h == w)
        return double(h);
    return std::vector<double>{double(h), double(w)};
}

// Distinct values at least 0.05 apart, shuffled: no two in a pooling window
// are within a finite difference's reach of each other, so the maximum of
// every window stays where it is while the check perturbs it.
Tensor distinct_values(const Shape &shape, uint64_t seed)
{
    Tensor t(shape);
    std::vector<float> values(static_cast<size_t>(t.numel()));
    for (size_t i = 0; i < values.size(); ++i)
        values[i] = -2.0f + 0.05f * static_cast<float>(i);
    std::shuffle(values.begin(), values.end(), std::mt19937_64(seed));
    std::copy(values.begin(), values.end(), t.begin());
    return t;
}

} // namespace

class TestGradcheck : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        for (const Refusal &r : test::registry().refusals())
            qWarning("refused %s: %s", r.file.c_str(), r.reason.c_str());
        QVERIFY(test::registry().find("Dense"));
    }

    void dense_data()
    {
        QTest::addColumn<QString>("activation");
        QTest::addColumn<bool>("bias");
        QTest::addColumn<int>("batch");
        QTest::addColumn<int>("inputs");
        QTest::addColumn<int>("outputs");
        const char *acts[] = {"identity", "relu", "sigmoid", "tanh", "elu", "softplus", "gelu", "swish"};
        int i = 0;
        for (const char *a : acts) {
            const int batch = (i % 3 == 0) ? 1 : 2 + i;
            QTest::newRow(qPrintable(QString("%1 b%2").arg(a).arg(batch)))
                << QString(a) << (i % 2 == 0) << batch << 3 + i << 5 - i % 3;
            // Above 512 multiply-adds the layer runs on oneDNN, below on plain loops.
            // (Not ReLU: with 20 inputs some pre-activation lands within the
            // difference step of its kink; small_loops_match_onednn covers it.)
            if (std::string(a) != "relu")
                QTest::newRow(qPrintable(QString("%1 b9 large").arg(a))) << QString(a) << (i % 2 == 1) << 9 << 20 << 7;
            ++i;
        }
    }

    void dense()
    {
        QFETCH(QString, activation);
        QFETCH(bool, bias);
        QFETCH(int, batch);
        QFETCH(int, inputs);
        QFETCH(int, outputs);
        auto layer = test::registry().create_layer(
            "Dense", {{"inputs", double(inputs)}, {"outputs", double(outputs)}, {"bias", bias},
                      {"activation", activation.toStdString()}, {"init", std::string("uniform")}},
            test::context(), 7);
        QCOMPARE(layer->parameters().size(), bias ? size_t(2) : size_t(1));
        const Tensor x = away_from_zero(Shape{batch, inputs}, 11);
        test::GradError err = test::check_layer_gradient(*layer, x, 13);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }

    // Gradients accumulate across backward calls until zero_grad.
    void dense_accumulates()
    {
        auto layer = test::registry().create_layer(
            "Dense", {{"inputs", 4.0}, {"outputs", 3.0}, {"activation", std::string("tanh")}},
            test::context(), 3);
        const Tensor x = test::random_tensor(Shape{5, 4}, 1);
        Tensor out(layer->prepare(x.shape()));
        const Tensor dy = test::random_tensor(out.shape(), 2);
        layer->forward_plain(x, out, true);
        layer->zero_grad();
        layer->backward_plain(x, out, dy, nullptr);
        const Tensor once = layer->parameters()[0].grad.clone();
        layer->backward_plain(x, out, dy, nullptr);
        const Tensor twice = layer->parameters()[0].grad; // a handle: the list is a temporary
        for (int64_t i = 0; i < once.numel(); ++i)
            QVERIFY(std::fabs(twice[i] - 2 * once[i]) <= 1e-5f * (1 + std::fabs(once[i])));
        layer->zero_grad();
        const Tensor zeroed = layer->parameters()[0].grad; // not a range over the temporary list
        for (float g : zeroed)
            QCOMPARE(g, 0.0f);
    }

    // Big layers split their neurons across threads; the result must equal
    // the single-threaded layer's (which the checks above verify).
    void dense_threads_agree()
    {
        const int saved = ComputeContext::num_threads();
        ComputeContext::set_num_threads(1);
        ComputeContext one;
        ComputeContext::set_num_threads(2);
        ComputeContext two;
        ComputeContext::set_num_threads(saved);
        const ParamList config{{"inputs", 300.0}, {"outputs", 200.0}, {"activation", std::string("relu")}};
        auto a = test::registry().create_layer("Dense", config, one, 42);
        auto b = test::registry().create_layer("Dense", config, two, 42);
        const Tensor x = test::random_tensor(Shape{33, 300}, 3);
        Tensor ya(a->prepare(x.shape())), yb(b->prepare(x.shape()));
        const Tensor dy = test::random_tensor(ya.shape(), 4);
        Tensor dxa(x.shape()), dxb(x.shape());
        for (int round = 0; round < 2; ++round) { // the second backward accumulates
            a->forward_plain(x, ya, true);
            b->forward_plain(x, yb, true);
            a->backward_plain(x, ya, dy, &dxa);
            b->backward_plain(x, yb, dy, &dxb);
        }
        auto same = [](const Tensor &p, const Tensor &q, const char *what) {
            for (int64_t i = 0; i < p.numel(); ++i)
                QVERIFY2(std::fabs(p[i] - q[i]) <= 1e-4f * (1.0f + std::fabs(p[i])),
                         qPrintable(QString("%1[%2]: %3 vs %4").arg(what).arg(i).arg(p[i]).arg(q[i])));
        };
        same(ya, yb, "output");
        same(dxa, dxb, "input gradient");
        same(a->parameters()[0].grad, b->parameters()[0].grad, "weight gradient");
        same(a->parameters()[1].grad, b->parameters()[1].grad, "bias gradient");
        b->zero_grad(true); // deferred: the next backward overwrites
        b->backward_plain(x, yb, dy, &dxb);
        a->zero_grad();
        a->backward_plain(x, ya, dy, &dxa);
        same(a->parameters()[0].grad, b->parameters()[0].grad, "weight gradient after deferred zero");
        same(a->parameters()[1].grad, b->parameters()[1].grad, "bias gradient after deferred zero");
    }

    // Tiny layers and activations run as plain loops (oneDNN's fixed cost per
    // call is more than their work); the same rows inside a batch big enough
    // for oneDNN must give the same values and gradients.
    void small_loops_match_onednn_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("activation"); // Dense's fused one
        for (const char *a : {"identity", "relu", "sigmoid", "tanh", "elu"})
            QTest::newRow(qPrintable(QString("Dense ") + a)) << "Dense" << a;
        for (const char *name : {"Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU"})
            QTest::newRow(name) << name << "";
    }

    void small_loops_match_onednn()
    {
        QFETCH(QString, name);
        QFETCH(QString, activation);
        const bool dense = name == "Dense";
        const ParamList params = dense ? ParamList{{"inputs", 4.0}, {"outputs", 3.0},
                                                   {"activation", activation.toStdString()}}
                                       : ParamList{};
        auto small = test::registry().create_layer(name.toStdString(), params, test::context(), 9);
        auto large = test::registry().create_layer(name.toStdString(), params, test::context(), 9);
        const int64_t width = dense ? 4 : 8, rows = 4, big_rows = 200; // 4·4·3 and 32 vs 200·4·3 and 1,600
        const Tensor big_x = away_from_zero(Shape{big_rows, width}, 21);
        const Tensor x = big_x.narrow(0, 0, rows).contiguous();
        Tensor y(small->prepare(x.shape())), big_y(large->prepare(big_x.shape()));
        Tensor dy = test::random_tensor(y.shape(), 22), big_dy = Tensor::zeros(big_y.shape());
        big_dy.narrow(0, 0, rows).copy_from(dy); // the other rows add nothing to the weights' gradient
        Tensor dx(x.shape()), big_dx(big_x.shape());
        small->forward_plain(x, y, true);
        large->forward_plain(big_x, big_y, true);
        small->zero_grad();
        large->zero_grad();
        small->backward_plain(x, y, dy, &dx);
        large->backward_plain(big_x, big_y, big_dy, &big_dx);
        auto same = [](const Tensor &p, const Tensor &q, const char *what) {
            for (int64_t i = 0; i < p.numel(); ++i)
                QVERIFY2(std::fabs(p[i] - q[i]) <= 1e-6f * (1.0f + std::fabs(q[i])),
                         qPrintable(QString("%1[%2]: %3 (loops) vs %4 (oneDNN)").arg(what).arg(i).arg(p[i]).arg(q[i])));
        };
        same(y, big_y.narrow(0, 0, rows).contiguous(), "output");
        same(dx, big_dx.narrow(0, 0, rows).contiguous(), "input gradient");
        for (size_t i = 0; i < small->parameters().size(); ++i)
            same(small->parameters()[i].grad, large->parameters()[i].grad, "parameter gradient");
    }

    // Conv2D across stride, padding ("same" included), dilation, groups,
    // batch 1, odd and non-square sizes, fused and unfused activations.
    void conv2d_data()
    {
        QTest::addColumn<QVector<int>>("shape"); // N, C, H, W
        QTest::addColumn<int>("outputs");
        QTest::addColumn<QVector<int>>("window"); // kh, kw, sh, sw, dh, dw, ph, pw (ph < 0: "same")
        QTest::addColumn<int>("groups");
        QTest::addColumn<bool>("bias");
        QTest::addColumn<QString>("activation");
        auto row = [](const char *name, QVector<int> shape, int outputs, QVector<int> window, int groups,
                      bool bias, const char *act) {
            QTest::newRow(name) << shape << outputs << window << groups << bias << QString(act);
        };
        row("batch 1, 3x3", {1, 2, 5, 5}, 3, {3, 3, 1, 1, 1, 1, 0, 0}, 1, true, "identity");
        row("stride 2, padding 1, odd non-square", {2, 3, 7, 6}, 4, {3, 3, 2, 2, 1, 1, 1, 1}, 1, true, "identity");
        row("same, kernel {3, 2}", {2, 2, 6, 5}, 2, {3, 2, 1, 1, 1, 1, -1, -1}, 1, false, "identity");
        row("same, stride 2", {1, 2, 7, 7}, 3, {3, 3, 2, 2, 1, 1, -1, -1}, 1, true, "identity");
        row("dilation 2", {2, 2, 7, 8}, 2, {3, 3, 1, 1, 2, 2, 1, 1}, 1, true, "identity");
        row("dilation {2, 1}, stride {1, 2}", {1, 2, 8, 7}, 3, {2, 3, 1, 2, 2, 1, 0, 1}, 1, true, "sigmoid");
        row("groups 2", {2, 4, 5, 5}, 6, {3, 3, 1, 1, 1, 1, 0, 0}, 2, true, "identity");
        row("depthwise, no bias", {1, 3, 5, 4}, 3, {3, 3, 1, 1, 1, 1, 1, 1}, 3, false, "identity");
        // relu's kink sits where finite differences straddle it; tst_conv
        // checks the fused relu against Conv2D followed by ReLU instead.
        row("tanh fused", {2, 2, 5, 5}, 3, {3, 3, 1, 1, 1, 1, 0, 0}, 1, true, "tanh");
        row("elu fused", {3, 2, 4, 6}, 2, {2, 2, 1, 1, 1, 1, 0, 0}, 1, true, "elu");
        row("gelu unfused", {2, 2, 5, 5}, 2, {3, 3, 1, 1, 1, 1, 1, 1}, 1, true, "gelu");
        row("16 channels (blocked layout)", {2, 16, 5, 5}, 16, {3, 3, 1, 1, 1, 1, 1, 1}, 1, true, "identity");
    }

    void conv2d()
    {
        QFETCH(QVector<int>, shape);
        QFETCH(int, outputs);
        QFETCH(QVector<int>, window);
        QFETCH(int, groups);
        QFETCH(bool, bias);
        QFETCH(QString, activation);
        const ParamValue padding =
            window[6] < 0 ? ParamValue(std::string("same")) : pair(window[6], window[7]);
        auto layer = test::registry().create_layer(
            "Conv2D", {{"inputs", double(shape[1])}, {"outputs", double(outputs)},
                       {"kernel", pair(window[0], window[1])}, {"stride", pair(window[2], window[3])},
                       {"dilation", pair(window[4], window[5])}, {"padding", padding},
                       {"groups", double(groups)}, {"bias", bias}, {"activation", activation.toStdString()},
                       {"init", std::string("uniform")}},
            test::context(), 7);
        const Tensor x = away_from_zero(Shape{shape[0], shape[1], shape[2], shape[3]}, 11);
        test::GradError err = test::check_layer_gradient(*layer, x, 13);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }

    void conv_transpose2d_data()
    {
        QTest::addColumn<QVector<int>>("shape"); // N, C, H, W
        QTest::addColumn<int>("outputs");
        QTest::addColumn<QVector<int>>("window"); // kh, kw, sh, sw, ph, pw, output padding h, w
        QTest::addColumn<int>("groups");
        auto row = [](const char *name, QVector<int> shape, int outputs, QVector<int> window, int groups) {
            QTest::newRow(name) << shape << outputs << window << groups;
        };
        row("batch 1, 3x3", {1, 2, 3, 3}, 3, {3, 3, 1, 1, 0, 0, 0, 0}, 1);
        row("stride 2, padding 1, output padding 1", {2, 3, 4, 3}, 2, {3, 3, 2, 2, 1, 1, 1, 1}, 1);
        row("kernel {2, 3}, stride {2, 1}", {1, 2, 3, 4}, 2, {2, 3, 2, 1, 0, 1, 0, 0}, 1);
        row("groups 2", {2, 4, 3, 3}, 6, {3, 3, 2, 2, 0, 0, 0, 0}, 2);
    }

    void conv_transpose2d()
    {
        QFETCH(QVector<int>, shape);
        QFETCH(int, outputs);
        QFETCH(QVector<int>, window);
        QFETCH(int, groups);
        auto layer = test::registry().create_layer(
            "ConvTranspose2D", {{"inputs", double(shape[1])}, {"outputs", double(outputs)},
                                {"kernel", pair(window[0], window[1])}, {"stride", pair(window[2], window[3])},
                                {"padding", pair(window[4], window[5])}, {"output_padding", pair(window[6], window[7])},
                                {"groups", double(groups)}, {"init", std::string("uniform")}},
            test::context(), 7);
        const Tensor x = away_from_zero(Shape{shape[0], shape[1], shape[2], shape[3]}, 11);
        test::GradError err = test::check_layer_gradient(*layer, x, 13);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }

    void upsample_data()
    {
        QTest::addColumn<QString>("mode");
        QTest::addColumn<QVector<int>>("shape");
        QTest::addColumn<QVector<int>>("scale");
        QTest::newRow("nearest 2") << QString("nearest") << QVector<int>{2, 3, 3, 4} << QVector<int>{2, 2};
        QTest::newRow("nearest {1, 3}, 16 channels") << QString("nearest") << QVector<int>{1, 16, 2, 3}
                                                     << QVector<int>{1, 3};
        QTest::newRow("bilinear 2") << QString("bilinear") << QVector<int>{2, 2, 3, 3} << QVector<int>{2, 2};
    }

    void upsample()
    {
        QFETCH(QString, mode);
        QFETCH(QVector<int>, shape);
        QFETCH(QVector<int>, scale);
        auto layer = test::registry().create_layer(
            "Upsample", {{"scale", pair(scale[0], scale[1])}, {"mode", mode.toStdString()}}, test::context(), 5);
        const Tensor x = away_from_zero(Shape{shape[0], shape[1], shape[2], shape[3]}, 17);
        test::GradError err = test::check_layer_gradient(*layer, x, 19);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }

    void pools_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QVector<int>>("shape");
        QTest::addColumn<QVector<int>>("window"); // kh, kw, sh, sw (0: the kernel), ph, pw
        auto row = [](const char *label, const char *name, QVector<int> shape, QVector<int> window) {
            QTest::newRow(label) << QString(name) << shape << window;
        };
        row("max 2, batch 1", "MaxPool2D", {1, 2, 4, 4}, {2, 2, 0, 0, 0, 0});
        row("max 3 stride 2 padding 1, odd", "MaxPool2D", {2, 3, 7, 5}, {3, 3, 2, 2, 1, 1});
        row("max {2, 3} stride 1", "MaxPool2D", {2, 2, 5, 6}, {2, 3, 1, 1, 0, 0});
        row("avg 2", "AvgPool2D", {2, 3, 6, 6}, {2, 2, 0, 0, 0, 0});
        row("avg 3 stride 2 padding 1", "AvgPool2D", {1, 2, 7, 6}, {3, 3, 2, 2, 1, 1});
        row("max 2 on 16 channels", "MaxPool2D", {2, 16, 4, 6}, {2, 2, 0, 0, 0, 0});
        row("global avg", "GlobalAvgPool2D", {3, 4, 5, 3}, {});
    }

    void pools()
    {
        QFETCH(QString, name);
        QFETCH(QVector<int>, shape);
        QFETCH(QVector<int>, window);
        ParamList params;
        if (!window.isEmpty()) {
            params = {{"kernel", pair(window[0], window[1])}, {"padding", pair(window[4], window[5])}};
            if (window[2] > 0)
                params.emplace_back("stride", pair(window[2], window[3]));
        }
        auto layer = test::registry().create_layer(name.toStdString(), params, test::context(), 5);
        const Tensor x = distinct_values(Shape{shape[0], shape[1], shape[2], shape[3]}, 17);
        test::GradError err = test::check_layer_gradient(*layer, x, 19);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }

    void activations_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("shape");
        for (const Entry &e : test::registry().entries()) {
            if (e.kind != Kind::Activation)
                continue;
            for (int s = 0; s < 4; ++s)
                QTest::newRow(qPrintable(QString::fromStdString(e.name) + " shape" + QString::number(s)))
                    << QString::fromStdString(e.name) << s;
        }
    }

    void activations()
    {
        QFETCH(QString, name);
        QFETCH(int, shape);
        // Up to 64 elements some run as plain loops, above on oneDNN.
        const Shape shapes[] = {Shape{1, 5}, Shape{3, 7}, Shape{2, 3, 4}, Shape{5, 20}};
        auto layer = test::registry().create_layer(name.toStdString(), {}, test::context(), 5);
        const Tensor x = away_from_zero(shapes[shape], 17 + static_cast<uint64_t>(shape));
        if (zero_derivative(name.toStdString())) {
            // Documented: the derivative is 0 (undefined at 0), nothing flows back.
            Tensor out(layer->prepare(x.shape()));
            layer->forward_plain(x, out, true);
            Tensor diff_src = Tensor::full(x.shape(), 7.0f);
            layer->backward_plain(x, out, Tensor::full(out.shape(), 1.0f), &diff_src);
            for (float g : diff_src)
                QCOMPARE(g, 0.0f);
            return;
        }
        test::GradError err = test::check_layer_gradient(*layer, x, 19);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }

    void losses_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("batch");
        QTest::addColumn<int>("classes");
        for (const Entry &e : test::registry().entries()) {
            if (e.kind != Kind::Loss)
                continue;
            const int shapes[][2] = {{1, 3}, {4, 5}, {7, 2}};
            for (const auto &s : shapes)
                QTest::newRow(qPrintable(QString("%1 %2x%3").arg(QString::fromStdString(e.name)).arg(s[0]).arg(s[1])))
                    << QString::fromStdString(e.name) << s[0] << s[1];
        }
    }

    void losses()
    {
        QFETCH(QString, name);
        QFETCH(int, batch);
        QFETCH(int, classes);
        const std::string n = name.toStdString();
        auto loss = test::registry().create_loss(n, {}, test::context());
        const Shape shape{batch, classes};
        Tensor pred = test::random_tensor(shape, 23, -2.0f, 2.0f);
        Tensor target;
        std::mt19937_64 rng(29);
        if (n == "CrossEntropyLoss") {
            target = Tensor(Shape{batch});
            for (float &t : target)
                t = static_cast<float>(rng() % static_cast<uint64_t>(classes));
        } else if (n == "BCELoss") {
            pred = test::random_tensor(shape, 23, 0.05f, 0.95f);
            target = test::random_tensor(shape, 31, 0.0f, 1.0f);
        } else if (n == "CategoricalCrossEntropyLoss" || n == "KLDivLoss") {
            pred = test::random_tensor(shape, 23, 0.1f, 1.0f);
            target = test::random_tensor(shape, 31, 0.05f, 1.0f);
            for (int b = 0; b < batch; ++b) { // each target row a distribution
                float s = 0;
                for (int c = 0; c < classes; ++c)
                    s += target.at(b, c);
                for (int c = 0; c < classes; ++c)
                    target.at(b, c) /= s;
            }
        } else { // regression: keep |pred - target| away from the |x| kink
            target = pred.clone();
            Tensor offset = away_from_zero(shape, 37, 0.1f);
            for (int64_t i = 0; i < pred.numel(); ++i)
                target[i] += offset[i];
        }
        const test::GradError err = test::check_loss_gradient(*loss, pred, target);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }
};

QTEST_GUILESS_MAIN(TestGradcheck)
#include "tst_gradcheck.moc"
