// Models as graphs: gradients through fan-out and fan-in, nesting, the
// parameter arena, checkpoints v2 (and v1), and the errors of bad graphs.
#include "test_support.h"

#include "neurite/core/arena.h"
#include "neurite/core/checkpoint.h"
#include "neurite/core/model.h"
#include "neurite/core/precision.h"
#include "neurite/core/sequential.h"

#include <QtTest>

#include <bit>
#include <cmath>
#include <fstream>
#include <limits>

using namespace neurite;

namespace {

constexpr double kTolerance = 2e-2;

std::shared_ptr<Module> dense(int in, int out, const char *act, uint64_t seed)
{
    return test::registry().create_layer(
        "Dense", {{"inputs", double(in)}, {"outputs", double(out)}, {"activation", std::string(act)}},
        test::context(), seed);
}

std::shared_ptr<Module> layer(const char *name, uint64_t seed = 0, ParamList config = {})
{
    return test::registry().create_layer(name, config, test::context(), seed);
}

// bf16 by round to nearest even, the reference for round_to_bf16: the top
// half plus one when the dropped half is over 0x8000, or exactly 0x8000 with
// an odd top half; a NaN keeps its sign and top payload, quieted.
uint16_t reference_bf16(float x)
{
    const uint32_t bits = std::bit_cast<uint32_t>(x);
    if (std::isnan(x))
        return static_cast<uint16_t>((bits >> 16) | 0x40u);
    const uint32_t top = bits >> 16, dropped = bits & 0xffffu;
    return static_cast<uint16_t>(top + (dropped > 0x8000u || (dropped == 0x8000u && (top & 1u))));
}

Model::Ref in(int i) { return {Model::kInput, i}; }
Model::Ref node(int n, int out = 0) { return {n, out}; }

// x -> Dense(relu) -> h; h -> Dense -> r; Add(h, r) -> Dense: a residual block.
std::shared_ptr<Model> residual(uint64_t seed)
{
    auto m = std::make_shared<Model>();
    m->add_input(Shape{6});
    const int h = m->add_node(dense(6, 8, "tanh", seed), {in(0)});
    const int r = m->add_node(dense(8, 8, "identity", seed + 1), {node(h)});
    const int sum = m->add_node(layer("Add"), {node(h), node(r)});
    const int out = m->add_node(dense(8, 3, "identity", seed + 2), {node(sum)});
    m->set_outputs({node(out)});
    return m;
}

void check(const test::GradError &err)
{
    QVERIFY2(err.max_rel < kTolerance, err.where.c_str());
}

std::string message_of(const std::function<void()> &fn)
{
    try {
        fn();
    } catch (const Error &e) {
        return e.what();
    }
    return "no error";
}

#define QVERIFY_ERROR(call, part)                                                                  \
    do {                                                                                           \
        const std::string said_ = message_of([&] { call; });                                       \
        QVERIFY2(said_.find(part) != std::string::npos, said_.c_str());                            \
    } while (0)

} // namespace

class TestGraph : public QObject {
    Q_OBJECT

private slots:
    void residual_block_gradient()
    {
        auto m = residual(1);
        check(test::check_layer_gradient(*m, {test::random_tensor(Shape{5, 6}, 2)}, 3));
    }

    // One tensor read by three nodes; their gradients add up.
    void fan_out_and_fan_in_gradient()
    {
        auto m = std::make_shared<Model>();
        m->add_input(Shape{4});
        const int h = m->add_node(dense(4, 5, "tanh", 4), {in(0)});
        const int a = m->add_node(dense(5, 5, "sigmoid", 5), {node(h)});
        const int b = m->add_node(layer("Multiply"), {node(h), node(a)});
        const int c = m->add_node(layer("Concat"), {node(h), node(b), node(a)});
        m->set_outputs({node(c)});
        check(test::check_layer_gradient(*m, {test::random_tensor(Shape{3, 4}, 6)}, 7));
    }

    void two_inputs_two_outputs_gradient()
    {
        auto m = std::make_shared<Model>();
        m->add_input(Shape{3});
        m->add_input(Shape{2});
        const int a = m->add_node(dense(3, 4, "tanh", 8), {in(0)});
        const int b = m->add_node(dense(2, 4, "tanh", 9), {in(1)});
        const int sum = m->add_node(layer("Add"), {node(a), node(b)});
        const int head1 = m->add_node(dense(4, 2, "identity", 10), {node(sum)});
        const int head2 = m->add_node(dense(4, 1, "identity", 11), {node(a)});
        m->set_outputs({node(head1), node(head2)});
        check(test::check_layer_gradient(*m, {test::random_tensor(Shape{5, 3}, 12), test::random_tensor(Shape{5, 2}, 13)},
                                         14));
        QCOMPARE(m->forward(std::vector<Tensor>{Tensor(Shape{5, 3}), Tensor(Shape{5, 2})}).size(), size_t(2));
    }

    // A model as a node of another, and the same tensor read twice by one node.
    void nested_model_gradient()
    {
        auto inner = residual(20);
        auto outer = std::make_shared<Model>();
        outer->add_input(Shape{6});
        const int n = outer->add_node(inner, {in(0)});
        const int twice = outer->add_node(layer("Add"), {node(n), node(n)});
        outer->set_outputs({node(twice)});
        check(test::check_layer_gradient(*outer, {test::random_tensor(Shape{4, 6}, 21)}, 22));
        // Every parameter of the nested model lives in the outer model's arena.
        auto arena = outer->arena();
        for (const Parameter &p : outer->parameters())
            QCOMPARE(p.arena.get(), arena.get());
        QCOMPARE(arena->values().numel() >= outer->parameter_count(), true);
    }

    // Written as a chain or as a graph, the same layers compute the same.
    void sequential_and_model_agree()
    {
        Sequential seq;
        seq.add(dense(6, 8, "relu", 30));
        seq.add(layer("Tanh"));
        seq.add(dense(8, 3, "identity", 31));
        auto graph = std::make_shared<Model>();
        graph->add_input(Shape{6});
        const int a = graph->add_node(dense(6, 8, "relu", 30), {in(0)});
        const int t = graph->add_node(layer("Tanh"), {node(a)});
        graph->set_outputs({node(graph->add_node(dense(8, 3, "identity", 31), {node(t)}))});
        const Tensor x = test::random_tensor(Shape{7, 6}, 32), dy = test::random_tensor(Shape{7, 3}, 33);
        auto opt_a = test::registry().create_optimizer("SGD", {{"lr", 0.1}, {"momentum", 0.9}}, test::context());
        auto opt_b = test::registry().create_optimizer("SGD", {{"lr", 0.1}, {"momentum", 0.9}}, test::context());
        opt_a->attach(seq.parameters());
        opt_b->attach(graph->parameters());
        for (int step = 0; step < 3; ++step) {
            opt_a->zero_grad();
            opt_b->zero_grad();
            const Tensor ya = seq.forward(x).clone(), yb = graph->forward(x).clone();
            QCOMPARE(ya.to_vector(), yb.to_vector());
            const Tensor ga = seq.backward(x, dy).clone(), gb = graph->backward(x, dy).clone();
            QCOMPARE(ga.to_vector(), gb.to_vector());
            opt_a->step();
            opt_b->step();
        }
        const auto pa = seq.parameters(), pb = graph->parameters();
        QCOMPARE(pa.size(), pb.size());
        for (size_t i = 0; i < pa.size(); ++i)
            QCOMPARE(pa[i].value.to_vector(), pb[i].value.to_vector());
    }

    // The arena is one block of values and one of gradients.
    void parameters_are_contiguous()
    {
        auto m = residual(40);
        const auto params = m->parameters();
        auto arena = m->arena();
        const float *base = arena->values().data();
        const float *grads = arena->grads().data();
        for (const Parameter &p : params) {
            QVERIFY(p.value.data() >= base && p.value.data() + p.value.numel() <= base + arena->values().numel());
            QCOMPARE(p.grad.data() - grads, p.value.data() - base);
        }
    }

    // The rounding a bf16 model's inputs and its weights' copy go through:
    // nearest even (ties included), in the vector body and the tail, and the
    // finite answer for NaN and Inf anywhere.
    void bf16_rounding_and_finite_check()
    {
        std::vector<float> src(77);
        for (size_t i = 0; i < src.size(); ++i)
            src[i] = std::sin(static_cast<float>(i)) * 3.0f;
        src[3] = std::bit_cast<float>(0x3f808000u);  // a tie: stays 0x3f80
        src[40] = std::bit_cast<float>(0x3f818000u); // a tie: goes up to the even 0x3f82
        src[70] = -std::bit_cast<float>(0x3f818001u); // above the tie
        std::vector<uint16_t> dst(src.size());
        QVERIFY(round_to_bf16(src.data(), dst.data(), src.size()));
        for (size_t i = 0; i < src.size(); ++i)
            QCOMPARE(dst[i], reference_bf16(src[i]));
        QCOMPARE(dst[3], uint16_t{0x3f80});
        QCOMPARE(dst[40], uint16_t{0x3f82});
        QCOMPARE(dst[70], uint16_t{0xbf82});
        for (size_t at : {size_t{5}, size_t{63}, size_t{76}}) { // in the 32-wide body and the tail
            for (float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
                std::vector<float> with = src;
                with[at] = bad;
                QVERIFY(!round_to_bf16(with.data(), dst.data(), with.size()));
                QCOMPARE(dst[at] & 0x7f80u, 0x7f80u); // still NaN or Inf in bf16
            }
        }
        QVERIFY(round_to_bf16(src.data(), dst.data(), 0));
    }

    // A bf16 model's copy of its weights follows the f32 master values after
    // every change, rounded to nearest even, in the parallel refresh too (the
    // arena is larger than the size it splits from between threads).
    void bf16_copy_follows_master_values()
    {
        if (!bf16_kernels().supported)
            QSKIP("this CPU runs no bf16 kernels");
        Sequential model;
        model.add(dense(300, 256, "relu", 60));
        model.add(dense(256, 10, "identity", 61));
        model.set_precision(DType::BF16);
        auto arena = model.arena();
        QVERIFY(arena->values().numel() > 65536);
        const Tensor x = test::random_tensor(Shape{4, 300}, 62);
        for (float scale : {1.0f, -0.37f}) {
            for (const Parameter &p : model.parameters()) {
                Tensor v = p.value;
                for (int64_t i = 0; i < v.numel(); ++i)
                    v[i] = v[i] * scale + 1e-3f * static_cast<float>(i % 7);
            }
            model.forward(x); // refreshes the copy first
            const Tensor values = arena->values();
            for (int64_t i = 0; i < values.numel(); ++i)
                if (arena->value_bf16(i) != reference_bf16(values[i]))
                    QFAIL(qPrintable(QString("bf16 copy of value %1 is %2, not %3")
                                         .arg(i).arg(arena->value_bf16(i)).arg(reference_bf16(values[i]))));
        }
    }

    void checkpoint_round_trip_is_bitwise()
    {
        auto m = residual(50);
        const Tensor x = test::random_tensor(Shape{3, 6}, 51);
        const Tensor y = m->forward(x).clone();
        const Checkpoint saved = Checkpoint::capture(*m);
        const std::vector<uint8_t> bytes = saved.serialize();
        const Checkpoint back = Checkpoint::parse(bytes, "round.nrt");
        QCOMPARE(back.serialize(), bytes);
        auto built = back.build(test::registry(), test::context(), 99, "round.nrt");
        QCOMPARE(built->forward(x).to_vector(), y.to_vector());
        QCOMPARE(built->node_count(), m->node_count());
        QCOMPARE(built->type_name(), std::string("Model"));
    }

    void version_1_checkpoint_loads()
    {
        const std::string dir = NEURITE_TEST_DATA;
        const Checkpoint c = Checkpoint::read(dir + "/v1_mlp.nrt");
        auto model = c.build(test::registry(), test::context(), 1, "v1_mlp.nrt");
        QCOMPARE(model->type_name(), std::string("Sequential"));
        const Tensor &y = model->forward(Tensor::from(Shape{2, 3}, {0.5f, -1, 2, 1, 0, -0.5f}));
        std::ifstream expected(dir + "/v1_mlp_outputs.txt");
        for (int64_t i = 0; i < 4; ++i) {
            double v = 0;
            expected >> v;
            QVERIFY2(std::fabs(y[i] - v) < 1e-6, qPrintable(QString("%1 vs %2").arg(y[i]).arg(v)));
        }
    }

    void bad_graphs_are_refused()
    {
        { // a cycle: two nodes reading each other
            Model m;
            m.add_input(Shape{2});
            m.add_node(dense(2, 2, "identity", 1), {node(1)});
            m.add_node(dense(2, 2, "identity", 2), {node(0)});
            m.set_outputs({node(1)});
            QVERIFY_ERROR(m.finalize(), "cycle through node 1 (Dense), node 2 (Dense)");
        }
        { // an input no output uses
            Model m;
            m.add_input(Shape{2});
            m.add_input(Shape{3}, "unused");
            m.set_outputs({node(m.add_node(dense(2, 2, "identity", 1), {in(0)}))});
            QVERIFY_ERROR(m.finalize(), "input 2 ('unused') is not used by any output");
        }
        { // a node no output uses
            Model m;
            m.add_input(Shape{2});
            const int a = m.add_node(dense(2, 2, "identity", 1), {in(0)});
            m.add_node(dense(2, 2, "identity", 2), {in(0)});
            m.set_outputs({node(a)});
            QVERIFY_ERROR(m.finalize(), "node 2 (Dense) is not used by any output");
        }
        { // an output that is an input, not computed from it
            Model m;
            m.add_input(Shape{2});
            m.add_node(dense(2, 2, "identity", 1), {in(0)});
            m.set_outputs({in(0), node(0)});
            QVERIFY_ERROR(m.forward(Tensor(Shape{1, 2})), "outputs must come from layers");
        }
        { // Add of mismatched shapes names the node and both shapes
            Model m;
            m.add_input(Shape{4});
            const int a = m.add_node(dense(4, 256, "identity", 1), {in(0)});
            const int b = m.add_node(dense(4, 128, "identity", 2), {in(0)});
            m.set_outputs({node(m.add_node(layer("Add"), {node(a), node(b)}))});
            QVERIFY_ERROR(m.forward(Tensor(Shape{64, 4})), "Add (node 3): inputs [64, 256] and [64, 128]");
        }
        { // the wrong number of inputs
            auto m = residual(3);
            const Tensor x(Shape{2, 6});
            QVERIFY_ERROR(m->forward(std::vector<Tensor>{x, x}), "forward takes 1 input, got 2");
        }
        { // a layer in two models
            auto d = dense(2, 2, "identity", 1);
            Model a, b;
            a.add_input();
            a.add_node(d, {in(0)});
            b.add_input();
            QVERIFY_ERROR(b.add_node(d, {in(0)}), "already belongs to a model");
        }
    }

    void unknown_plugin_in_checkpoint()
    {
        auto m = residual(60);
        Checkpoint c = Checkpoint::capture(*m);
        c.model.nodes[2].entry = "Addd";
        c.model.nodes[2].library = "neurite-extra";
        c.model.nodes[2].version = "2.0.0";
        const Checkpoint back = Checkpoint::parse(c.serialize(), "odd.nrt");
        QVERIFY_ERROR(back.build(test::registry(), test::context(), 1, "odd.nrt"),
                      "checkpoint 'odd.nrt' needs node 3 (Addd) but 'Addd' is not registered: it comes from "
                      "the plugin library neurite-extra (Addd 2.0.0)");
    }

    // A model rebuilt after its optimizer was made must not train stale memory.
    void stale_optimizer_is_refused()
    {
        Sequential m;
        m.add(dense(2, 2, "identity", 1));
        auto opt = test::registry().create_optimizer("SGD", {}, test::context());
        opt->attach(m.parameters());
        m.add(dense(2, 2, "identity", 2));
        m.forward(Tensor(Shape{1, 2}));
        QVERIFY_ERROR(opt->step(), "the model was rebuilt");
    }
};

QTEST_GUILESS_MAIN(TestGraph)
#include "tst_graph.moc"
