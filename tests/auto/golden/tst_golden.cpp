// The lecture notes' worked examples (the seeds), reproduced exactly.
#include "test_support.h"

#include "neurite/core/sequential.h"

#include <QtTest>

using namespace neurite;

namespace {

std::shared_ptr<Module> dense(int in, int out, bool bias, const char *act)
{
    return test::registry().create_layer(
        "Dense", {{"inputs", double(in)}, {"outputs", double(out)}, {"bias", bias},
                  {"activation", std::string(act)}},
        test::context(), 1);
}

void set_weights(Module &layer, std::initializer_list<float> w, std::initializer_list<float> b = {})
{
    layer.parameters()[0].value.copy_from(Tensor::from(layer.parameters()[0].value.shape(), w));
    if (b.size())
        layer.parameters()[1].value.copy_from(Tensor::from(layer.parameters()[1].value.shape(), b));
}

// One perceptron as the lecture writes it: y = step(w·x + b).
std::shared_ptr<Sequential> perceptron(float w1, float w2, float b)
{
    auto m = std::make_shared<Sequential>();
    m->add(dense(2, 1, true, "identity"));
    set_weights(m->module_at(0), {w1, w2}, {b});
    m->add(test::registry().create_layer("BinaryStep", {}, test::context(), 0));
    return m;
}

std::vector<float> truth_table(Sequential &m)
{
    const Tensor x = Tensor::from(Shape{4, 2}, {0, 0, 1, 0, 0, 1, 1, 1});
    return m.forward(x).to_vector();
}

} // namespace

class TestGolden : public QObject {
    Q_OBJECT

private slots:
    // Seed 002: the 3-3-2 sigmoid network, forward and one weight's gradient.
    void seed002_forward_and_backprop()
    {
        Sequential net;
        net.add(dense(3, 3, false, "sigmoid"));
        net.add(dense(3, 2, false, "sigmoid"));
        set_weights(net.module_at(0), {1, -2, 2, 2, 1, -4, 1, -1, 0});
        set_weights(net.module_at(1), {-3, 1, -3, 0, 1, 2});
        const Tensor x = Tensor::from(Shape{1, 3}, {0.5f, 0.9f, -0.3f});
        const Tensor &out = net.forward(x);
        const Tensor hidden = net.node_output(0);
        QVERIFY(std::fabs(hidden[0] - 0.130) < 5e-4);
        QVERIFY(std::fabs(hidden[1] - 0.957) < 5e-4);
        QVERIFY(std::fabs(hidden[2] - 0.401) < 5e-4);
        QVERIFY(std::fabs(out[0] - 0.346) < 5e-4);
        QVERIFY(std::fabs(out[1] - 0.853) < 5e-4);

        // E = ½Σ(t−a)² with t = 0.9 on O1 (O2's target is its own output: no error).
        auto mse = test::registry().create_loss("MSELoss", {{"reduction", std::string("half_sum")}},
                                                test::context());
        const Tensor t = Tensor::from(Shape{1, 2}, {0.9f, out[1]});
        const double e = mse->forward(out, t);
        QVERIFY(std::fabs(e - 0.5 * (0.9 - out[0]) * (0.9 - out[0])) < 1e-7);
        Tensor dy(out.shape());
        mse->backward(out, t, dy);
        net.zero_grad();
        net.backward(x, dy);
        const float dw = net.module_at(1).parameters()[0].grad.at(0, 0); // O1 <- H1
        QVERIFY2(std::fabs(dw - (-0.01631f)) < 5e-5f, qPrintable(QString::number(dw, 'g', 8)));
        // The slide's rounded form: .13·(.35 − .9)·.35·(1 − .35) = −0.0163
        QVERIFY(std::fabs(dw - (-0.0163f)) < 1e-4f);
    }

    // Seed 003: AND, OR, NAND perceptrons and XOR as NAND, OR -> AND.
    void seed003_logic_gates()
    {
        auto gate_and = perceptron(0.5f, 0.5f, -0.7f);
        auto gate_or = perceptron(0.5f, 0.5f, -0.2f);
        auto gate_nand = perceptron(-0.5f, -0.5f, 0.7f);
        QCOMPARE(truth_table(*gate_and), (std::vector<float>{0, 0, 0, 1}));
        QCOMPARE(truth_table(*gate_or), (std::vector<float>{0, 1, 1, 1}));
        QCOMPARE(truth_table(*gate_nand), (std::vector<float>{1, 1, 1, 0}));

        Sequential xor_net;
        xor_net.add(dense(2, 2, true, "identity"));
        set_weights(xor_net.module_at(0), {-0.5f, -0.5f, 0.5f, 0.5f}, {0.7f, -0.2f}); // s1 = NAND, s2 = OR
        xor_net.add(test::registry().create_layer("BinaryStep", {}, test::context(), 0));
        xor_net.add(dense(2, 1, true, "identity"));
        set_weights(xor_net.module_at(2), {0.5f, 0.5f}, {-0.7f}); // AND
        xor_net.add(test::registry().create_layer("BinaryStep", {}, test::context(), 0));
        QCOMPARE(truth_table(xor_net), (std::vector<float>{0, 1, 1, 0}));
        // The slide's intermediate columns s1 (NAND) and s2 (OR).
        QCOMPARE(xor_net.node_output(1).to_vector(), (std::vector<float>{1, 0, 1, 1, 1, 1, 0, 1}));
    }

    // Seed 003's loss table: model 2 is better, cross-entropy sees it.
    void seed003_loss_table()
    {
        const Tensor truth = Tensor::from(Shape{3, 3}, {0, 0, 1, 0, 1, 0, 1, 0, 0});
        const Tensor model1 = Tensor::from(Shape{3, 3}, {.3f, .3f, .4f, .3f, .4f, .3f, .1f, .2f, .7f});
        const Tensor model2 = Tensor::from(Shape{3, 3}, {.1f, .2f, .7f, .1f, .7f, .2f, .3f, .4f, .3f});
        auto cce = test::registry().create_loss("CategoricalCrossEntropyLoss", {}, test::context());
        QVERIFY(std::fabs(cce->forward(model1, truth) - 1.3784) < 1e-3); // slide: ≈1.38
        QVERIFY(std::fabs(cce->forward(model2, truth) - 0.6391) < 1e-3); // slide: ≈0.64

        // The slide's MSE (0.38 vs 0.08) follows from no usual reduction of its
        // own table; the mean over samples of Σ(y−t)² is 0.81 vs 0.34.
        auto per_sample = test::registry().create_loss(
            "MSELoss", {{"reduction", std::string("batch_mean")}}, test::context());
        QVERIFY(std::fabs(per_sample->forward(model1, truth) - 0.80667) < 1e-4);
        QVERIFY(std::fabs(per_sample->forward(model2, truth) - 0.34) < 1e-4);
        auto total = test::registry().create_loss("MSELoss", {{"reduction", std::string("sum")}},
                                                  test::context());
        QVERIFY(std::fabs(total->forward(model1, truth) - 2.42) < 1e-4);
        QVERIFY(std::fabs(total->forward(model2, truth) - 1.02) < 1e-4);

        // Classification error cannot tell them apart: both get 1 of 3 wrong.
        auto errors = [&](const Tensor &p) {
            int wrong = 0;
            for (int i = 0; i < 3; ++i) {
                const float *row = p.data() + i * 3;
                const float *t = truth.data() + i * 3;
                wrong += (std::max_element(row, row + 3) - row) != (std::max_element(t, t + 3) - t);
            }
            return wrong;
        };
        QCOMPARE(errors(model1), 1);
        QCOMPARE(errors(model2), 1);
    }

    // Seed 003: sigmoid(1.0) ≈ 0.731, sigmoid(2.0) ≈ 0.880.
    void seed003_sigmoid_values()
    {
        auto sigmoid = test::registry().create_layer("Sigmoid", {}, test::context(), 0);
        const Tensor x = Tensor::from(Shape{2}, {1.0f, 2.0f});
        Tensor y(sigmoid->prepare(x.shape()));
        sigmoid->forward_plain(x, y, false);
        QVERIFY(std::fabs(y[0] - 0.7311) < 1e-4);
        QVERIFY(std::fabs(y[1] - 0.8808) < 1e-4); // the slide truncates to 0.880
    }
};

QTEST_GUILESS_MAIN(TestGolden)
#include "tst_golden.moc"
