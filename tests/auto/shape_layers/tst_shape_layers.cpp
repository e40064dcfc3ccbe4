// Dropout, Flatten and Reshape: gradient checks (batch 1 and odd sizes),
// Dropout's seeded masks, scaling and evaluation identity, its state, and
// the errors bad parameters and shapes get.
#include "data_test_support.h"

#include <QtTest>

#include <oneapi/dnnl/dnnl_types.h>

#include <cmath>
#include <cstring>

using namespace neurite;

namespace {

constexpr double kTolerance = 2e-2;

std::shared_ptr<Module> dropout(double p, uint64_t seed)
{
    return test::registry().create_layer("Dropout", {{"p", p}}, test::context(), seed);
}

// The message of the Error fn raises (test::error_of), as a std::string.
std::string error_of(const std::function<void()> &fn) { return test::error_of(fn).toStdString(); }

bool bitwise_equal(const Tensor &a, const Tensor &b)
{
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), size_t(a.numel()) * sizeof(float)) == 0;
}

Tensor train_forward(Module &layer, const Tensor &x)
{
    Tensor y(layer.prepare(x.shape()));
    layer.forward_plain(x, y, true);
    return y;
}

} // namespace

class TestShapeLayers : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        for (const char *name : {"Dropout", "Flatten", "Reshape"})
            QVERIFY2(test::registry().find(name), name);
    }

    void dropout_gradient_data()
    {
        QTest::addColumn<QList<qint64>>("shape");
        QTest::addColumn<double>("p");
        QTest::newRow("[1, 7] p 0.3, batch 1") << QList<qint64>{1, 7} << 0.3;
        QTest::newRow("[3, 5, 2] p 0.5") << QList<qint64>{3, 5, 2} << 0.5;
        QTest::newRow("[2, 3, 3, 5] p 0.1") << QList<qint64>{2, 3, 3, 5} << 0.1;
        QTest::newRow("[4, 3] p 0") << QList<qint64>{4, 3} << 0.0;
    }

    // In training: the same mask in every evaluation of the check (the
    // check restores the layer's state), so the gradient is mask / (1 − p).
    void dropout_gradient()
    {
        QFETCH(QList<qint64>, shape);
        QFETCH(double, p);
        Shape s;
        for (qint64 d : shape)
            s.push_back(d);
        auto layer = dropout(p, 5);
        const test::GradError err = test::check_layer_gradient(*layer, test::random_tensor(s, 6, -2.0f, 2.0f), 7);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }

    // The mask comes from the creation seed (the run's seed, through the
    // host) and the count of training forwards: the same seed gives the
    // same masks, another seed others, and each step a new one.
    void dropout_same_seed_same_mask()
    {
        const Tensor x = Tensor::full(Shape{8, 50}, 1.0f);
        auto a = dropout(0.5, 11), b = dropout(0.5, 11), c = dropout(0.5, 12);
        const Tensor a1 = train_forward(*a, x), b1 = train_forward(*b, x), c1 = train_forward(*c, x);
        QVERIFY(bitwise_equal(a1, b1));
        QVERIFY(!bitwise_equal(a1, c1));
        const Tensor a2 = train_forward(*a, x), b2 = train_forward(*b, x);
        QVERIFY(bitwise_equal(a2, b2));
        QVERIFY(!bitwise_equal(a1, a2));
        // The count is the layer's state: a copy loaded with it continues the sequence.
        auto d = dropout(0.5, 11);
        d->load_extra_state(a->save_extra_state());
        QVERIFY(bitwise_equal(train_forward(*d, x), train_forward(*a, x)));
        // Threads do not change the mask: one thread gives the same values.
        const int saved = ComputeContext::num_threads();
        ComputeContext::set_num_threads(1);
        ComputeContext one;
        ComputeContext::set_num_threads(saved);
        auto single = test::registry().create_layer("Dropout", {{"p", 0.5}}, one, 11);
        const Tensor big = Tensor::full(Shape{64, 1024}, 1.0f); // large enough to split between threads
        auto multi = dropout(0.5, 11);
        QVERIFY(bitwise_equal(train_forward(*single, big), train_forward(*multi, big)));
    }

    // Training keeps a value with probability 1 − p and scales it by 1 / (1 − p).
    void dropout_scales_in_training()
    {
        const double p = 0.25;
        auto layer = dropout(p, 21);
        const Tensor x = test::random_tensor(Shape{40, 500}, 22, 0.5f, 1.5f);
        const Tensor y = train_forward(*layer, x);
        int64_t zeros = 0;
        for (int64_t i = 0; i < x.numel(); ++i) {
            if (y[i] == 0.0f) {
                ++zeros;
                continue;
            }
            QVERIFY2(std::fabs(y[i] - x[i] / 0.75f) <= 1e-6f * std::fabs(y[i]),
                     qPrintable(QString("%1 kept as %2").arg(x[i]).arg(y[i])));
        }
        // 20,000 draws: the fraction dropped is p within 4 standard deviations (0.0122).
        const double dropped = double(zeros) / double(x.numel());
        QVERIFY2(std::fabs(dropped - p) < 0.0122, qPrintable(QString::number(dropped)));
        // Backward passes the gradient through the same mask and scale.
        const Tensor dy = Tensor::full(y.shape(), 2.0f);
        Tensor dx(x.shape());
        layer->backward_plain(x, y, dy, &dx);
        for (int64_t i = 0; i < x.numel(); ++i)
            QCOMPARE(dx[i], y[i] == 0.0f ? 0.0f : 2.0f / 0.75f);
    }

    void dropout_is_the_identity_in_evaluation()
    {
        auto layer = dropout(0.7, 31);
        const Tensor x = test::random_tensor(Shape{3, 4, 5}, 32);
        Tensor y(layer->prepare(x.shape()));
        layer->forward_plain(x, y, false);
        QVERIFY(bitwise_equal(x, y));
        const Tensor dy = test::random_tensor(y.shape(), 33);
        Tensor dx(x.shape());
        layer->set_training(false);
        layer->backward_plain(x, y, dy, &dx);
        QVERIFY(bitwise_equal(dx, dy));
    }

    // Elementwise: a blocked layout (after a convolution) is kept, and the
    // mask covers every stored value, the padding of the channel blocks too.
    void dropout_keeps_a_blocked_layout()
    {
        auto layer = dropout(0.5, 41);
        std::vector<Desc> src{Desc(Shape{2, 3, 4, 5}, DType::F32, dnnl_nChw16c)}, dst;
        const size_t workspace = layer->prepare(src, dst);
        QCOMPARE(src[0].format, int32_t(dnnl_nChw16c));
        QCOMPARE(dst[0].format, int32_t(dnnl_nChw16c));
        QCOMPARE(workspace, size_t(2 * 16 * 4 * 5) * sizeof(float)); // 3 channels padded to 16
        std::vector<Desc> plain{Desc(Shape{2, 3, 4, 5})};
        QCOMPARE(layer->prepare(plain, dst), size_t(2 * 3 * 4 * 5) * sizeof(float));
        QCOMPARE(dst[0].format, int32_t(NRT_FORMAT_PLAIN));
    }

    void dropout_bad_p()
    {
        for (double p : {1.0, 1.5, -0.1}) {
            const std::string e = error_of([&] { dropout(p, 1); });
            QVERIFY2(e.find("Dropout") != std::string::npos, e.c_str());
            QVERIFY2(e.find(p == 1.0 ? "p = 1 " : p > 1 ? "1.5" : "-0.1") != std::string::npos, e.c_str());
        }
        QVERIFY(error_of([] { dropout(1.0, 1); }).find("[0, 1)") != std::string::npos);
    }

    void flatten_and_reshape_gradients_data()
    {
        QTest::addColumn<QString>("layer");
        QTest::addColumn<QList<qint64>>("shape");
        QTest::newRow("Flatten [1, 3, 4, 5]") << "Flatten" << QList<qint64>{1, 3, 4, 5};
        QTest::newRow("Flatten [3, 7]") << "Flatten" << QList<qint64>{3, 7};
        QTest::newRow("Reshape [1, 60]") << "Reshape" << QList<qint64>{1, 60};
        QTest::newRow("Reshape [3, 4, 15]") << "Reshape" << QList<qint64>{3, 4, 15};
    }

    void flatten_and_reshape_gradients()
    {
        QFETCH(QString, layer);
        QFETCH(QList<qint64>, shape);
        Shape s;
        for (qint64 d : shape)
            s.push_back(d);
        const ParamList config = layer == "Reshape" ? ParamList{{"shape", std::vector<double>{3, -1, 5}}} : ParamList{};
        auto m = test::registry().create_layer(layer.toStdString(), config, test::context(), 1);
        const test::GradError err = test::check_layer_gradient(*m, test::random_tensor(s, 41), 42);
        QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
    }

    // Same values, same order, new sample shape; the batch dimension stays.
    void flatten_and_reshape_shapes()
    {
        auto flatten = test::registry().create_layer("Flatten", {}, test::context(), 1);
        QCOMPARE(flatten->prepare(Shape{64, 1, 28, 28}), (Shape{64, 784}));
        QCOMPARE(flatten->prepare(Shape{5, 3}), (Shape{5, 3}));
        auto reshape = test::registry().create_layer("Reshape", {{"shape", std::vector<double>{1, 28, 28}}},
                                                     test::context(), 1);
        QCOMPARE(reshape->prepare(Shape{7, 784}), (Shape{7, 1, 28, 28}));
        auto inferred = test::registry().create_layer("Reshape", {{"shape", std::vector<double>{-1, 4}}},
                                                      test::context(), 1);
        QCOMPARE(inferred->prepare(Shape{2, 3, 4}), (Shape{2, 3, 4}));
        QCOMPARE(inferred->prepare(Shape{1, 24}), (Shape{1, 6, 4}));
        const Tensor x = test::random_tensor(Shape{2, 3, 4}, 51);
        Tensor y(flatten->prepare(x.shape()));
        flatten->forward_plain(x, y, true);
        QCOMPARE(y.shape(), (Shape{2, 12}));
        QCOMPARE(y.to_vector(), x.to_vector());
    }

    void flatten_and_reshape_bad_input()
    {
        auto flatten = test::registry().create_layer("Flatten", {}, test::context(), 1);
        const std::string rank = error_of([&] { flatten->prepare(Shape{5}); });
        QVERIFY2(rank.find("Flatten") != std::string::npos && rank.find("[5]") != std::string::npos, rank.c_str());
        auto reshape = test::registry().create_layer("Reshape", {{"shape", std::vector<double>{10, 10}}},
                                                     test::context(), 1);
        const std::string values = error_of([&] { reshape->prepare(Shape{64, 1, 28, 28}); });
        QVERIFY2(values.find("Reshape") != std::string::npos && values.find("[1, 28, 28] (784 values)") != std::string::npos &&
                     values.find("{10, 10} (100 values)") != std::string::npos &&
                     values.find("[64, 1, 28, 28]") != std::string::npos,
                 values.c_str());
        auto inferred = test::registry().create_layer("Reshape", {{"shape", std::vector<double>{-1, 5}}},
                                                      test::context(), 1);
        const std::string multiple = error_of([&] { inferred->prepare(Shape{2, 12}); });
        QVERIFY2(multiple.find("a multiple of 5 values") != std::string::npos, multiple.c_str());
        for (const auto &[shape, says] : std::vector<std::pair<std::vector<double>, std::string>>{
                 {{-1, -1}, "only one can be inferred"}, {{0, 4}, "holds 0"}, {{2.5}, "holds 2.5"}}) {
            const std::string e = error_of([&] {
                test::registry().create_layer("Reshape", {{"shape", shape}}, test::context(), 1);
            });
            QVERIFY2(e.find("Reshape") != std::string::npos && e.find(says) != std::string::npos, e.c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestShapeLayers)
#include "tst_shape_layers.moc"
