// Every optimizer on seed 001's f(θ) = θ1² + θ2² from (3, −4): a hand-computed
// first step, convergence, live learning-rate changes and state round trips.
#include "test_support.h"

#include "neurite/core/optimizer.h"

#include <QtTest>

using namespace neurite;

Q_DECLARE_METATYPE(neurite::ParamList)

namespace {

struct Problem {
    Tensor theta = Tensor::from(Shape{2}, {3.0f, -4.0f});
    Tensor grad = Tensor(Shape{2});
    std::vector<Parameter> params() { return {{"theta", theta, grad}}; }
    void compute_grad() // ∇f = 2θ, written as a backward pass would: +=
    {
        for (int i = 0; i < 2; ++i)
            grad[i] += 2 * theta[i];
    }
    double f() const { return theta[0] * theta[0] + theta[1] * theta[1]; }
};

std::unique_ptr<Optimizer> make(const QString &name, const ParamList &options)
{
    return test::registry().create_optimizer(name.toStdString(), options, test::context());
}

void step(Optimizer &opt, Problem &p)
{
    opt.zero_grad();
    p.compute_grad();
    opt.step();
}

ParamList options_for(const QString &name, double lr)
{
    ParamList o{{"lr", lr}};
    if (name == "SGD")
        o.push_back({"momentum", 0.5});
    return o;
}

} // namespace

class TestOptimizers : public QObject {
    Q_OBJECT

private slots:
    void first_step_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<ParamList>("options");
        QTest::addColumn<int>("steps");
        QTest::addColumn<double>("x");
        QTest::addColumn<double>("y");
        // θ − η∇f with ∇f = (6, −8)
        QTest::newRow("SGD") << "SGD" << ParamList{{"lr", 0.1}} << 1 << 2.4 << -3.2;
        // buf = g; then buf = 0.9·buf + g' with g' = (4.8, −6.4)
        QTest::newRow("SGD momentum, 2 steps")
            << "SGD" << ParamList{{"lr", 0.1}, {"momentum", 0.9}} << 2 << 1.38 << -1.84;
        // g + μ·buf = (11.4, −15.2)
        QTest::newRow("SGD Nesterov")
            << "SGD" << ParamList{{"lr", 0.1}, {"momentum", 0.9}, {"nesterov", true}} << 1 << 1.86 << -2.48;
        // g = (6,−8) + 0.5·(3,−4) = (7.5, −10)
        QTest::newRow("SGD weight decay")
            << "SGD" << ParamList{{"lr", 0.1}, {"weight_decay", 0.5}} << 1 << 2.25 << -3.0;
        // bias-corrected m̂/√v̂ = sign(g): a step of exactly lr
        QTest::newRow("Adam") << "Adam" << ParamList{{"lr", 0.1}} << 1 << 2.9 << -3.9;
        // decoupled decay first: θ(1 − η·λ) = θ·0.999, then the Adam step
        QTest::newRow("AdamW") << "AdamW" << ParamList{{"lr", 0.1}, {"weight_decay", 0.01}} << 1
                               << 2.897 << -3.896;
        // v = (1−α)g² → g/√v = 10·sign(g)
        QTest::newRow("RMSProp") << "RMSProp" << ParamList{{"lr", 0.01}} << 1 << 2.9 << -3.9;
        // G = g² → g/√G = sign(g)
        QTest::newRow("Adagrad") << "Adagrad" << ParamList{{"lr", 0.1}} << 1 << 2.9 << -3.9;
    }

    void first_step()
    {
        QFETCH(QString, name);
        QFETCH(ParamList, options);
        QFETCH(int, steps);
        QFETCH(double, x);
        QFETCH(double, y);
        Problem p;
        auto opt = make(name, options);
        opt->attach(p.params());
        for (int i = 0; i < steps; ++i)
            step(*opt, p);
        QVERIFY2(std::fabs(p.theta[0] - x) < 1e-5 && std::fabs(p.theta[1] - y) < 1e-5,
                 qPrintable(QString("got (%1, %2)").arg(p.theta[0], 0, 'g', 8).arg(p.theta[1], 0, 'g', 8)));
    }

    void converges_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<double>("lr");
        QTest::newRow("SGD") << "SGD" << 0.1;
        QTest::newRow("Adam") << "Adam" << 0.1;
        QTest::newRow("AdamW") << "AdamW" << 0.1;
        QTest::newRow("RMSProp") << "RMSProp" << 0.05;
        QTest::newRow("Adagrad") << "Adagrad" << 1.0;
    }

    void converges()
    {
        QFETCH(QString, name);
        QFETCH(double, lr);
        Problem p;
        const double f0 = p.f();
        auto opt = make(name, options_for(name, lr));
        opt->attach(p.params());
        for (int i = 0; i < 200; ++i)
            step(*opt, p);
        QVERIFY2(p.f() < f0 / 100, qPrintable(QString("f went from %1 to %2").arg(f0).arg(p.f())));
    }

    // A restored optimizer continues exactly as the uninterrupted one. The
    // state format is shared by all of them (plugins/optimizer/common).
    void state_round_trip_data() { converges_data(); }
    void state_round_trip()
    {
        QFETCH(QString, name);
        QFETCH(double, lr);
        Problem a, b;
        auto first = make(name, options_for(name, lr));
        first->attach(a.params());
        for (int i = 0; i < 5; ++i)
            step(*first, a);
        const std::vector<uint8_t> state = first->save_state();
        b.theta.copy_from(a.theta);
        auto second = make(name, options_for(name, lr));
        second->attach(b.params());
        second->load_state(state);
        step(*first, a);
        step(*second, b);
        QCOMPARE(b.theta.to_vector(), a.theta.to_vector());

        std::vector<uint8_t> truncated(state.begin(), state.end() - 3);
        auto third = make(name, options_for(name, lr));
        third->attach(b.params());
        try {
            third->load_state(truncated);
            QFAIL("a truncated state was accepted");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains(name), e.what());
        }
    }

    // ABI 1.3's shard slot, as two ranks use it: two optimizers over the same
    // parameter, each stepping one element, take the whole one's steps bit
    // for bit; their states, each zero outside its element, OR into the
    // whole one's, which a whole optimizer continues from.
    void sharded_step_data() { converges_data(); }
    void sharded_step()
    {
        QFETCH(QString, name);
        QFETCH(double, lr);
        Problem whole, split;
        auto one = make(name, options_for(name, lr));
        one->attach(whole.params());
        auto first = make(name, options_for(name, lr)), second = make(name, options_for(name, lr));
        first->attach(split.params());
        second->attach(split.params());
        QVERIFY(first->shard(0, 1));
        QVERIFY(second->shard(1, 2));
        QVERIFY(first->sharded() && second->sharded());
        QVERIFY_THROWS_EXCEPTION(Error, first->shard(1, 3)); // beyond its 2 elements
        for (int i = 0; i < 5; ++i) {
            step(*one, whole);
            first->zero_grad();
            split.compute_grad();
            first->step();
            second->step();
        }
        QCOMPARE(split.theta.to_vector(), whole.theta.to_vector());
        QVERIFY_THROWS_EXCEPTION(Error, first->save_state()); // a part is not the state
        std::vector<uint8_t> merged = first->save_part_state();
        const std::vector<uint8_t> other = second->save_part_state();
        QCOMPARE(merged.size(), other.size());
        for (size_t i = 0; i < merged.size(); ++i)
            merged[i] |= other[i];
        QVERIFY(merged == one->save_state());
        QVERIFY(first->shard(0, 2));
        QVERIFY(!first->sharded());
        first->load_state(merged);
        step(*one, whole);
        step(*first, split);
        QCOMPARE(split.theta.to_vector(), whole.theta.to_vector());
    }

    void learning_rate_is_live()
    {
        Problem p;
        auto opt = make("SGD", {{"lr", 0.1}});
        opt->attach(p.params());
        QCOMPARE(opt->option("lr"), 0.1);
        opt->set_option("lr", 0.25);
        QCOMPARE(opt->option("lr"), 0.25);
        step(*opt, p); // θ − 0.25·(6, −8)
        QCOMPARE(p.theta.to_vector(), (std::vector<float>{1.5f, -2.0f}));
        QVERIFY_THROWS_EXCEPTION(Error, opt->set_option("lr", -1.0));
        QVERIFY_THROWS_EXCEPTION(Error, opt->option("no_such_option"));
    }
};

QTEST_GUILESS_MAIN(TestOptimizers)
#include "tst_optimizers.moc"
