// A steady-state training step allocates nothing: every buffer is made once
// per shape and reused (fresh memory costs ~10 µs per 4 KiB page here).
//
// malloc and friends are interposed for the whole process, so allocations in
// plugins and libraries count too. oneDNN 2.6's dnnl_primitive_execute builds
// a small std::unordered_map of its arguments on every call, which no user of
// its API can avoid; those allocations are counted apart (the call is wrapped
// below) and must stay small and constant. So are the allocations its own
// OpenMP workers make while an execute runs (some convolution kernels
// allocate per call on each thread): oneDNN's, not ours, and constant.
// Everything else must be zero.
#include "test_support.h"

#include "neurite/core/arena.h"
#include "neurite/core/precision.h"
#include "neurite/core/sequential.h"
#include "neurite/lua/runtime.h"

#include <lua.hpp>

#include <QtTest>

#include <atomic>
#include <cstdlib>

#include <dlfcn.h>
#include <dnnl.h>

// AddressSanitizer replaces malloc itself (make check-sanitize): counting
// calls to it there would measure the sanitizer, so the test is skipped.
#if defined(__SANITIZE_ADDRESS__)
#define NEURITE_COUNT_ALLOCATIONS 0
#else
#define NEURITE_COUNT_ALLOCATIONS 1
#endif

#if NEURITE_COUNT_ALLOCATIONS
extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);
}
#endif

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_outside{0};   // allocations outside oneDNN's execute
std::atomic<long> g_inside{0};    // allocations inside dnnl_primitive_execute
std::atomic<size_t> g_largest{0}; // the largest single allocation
thread_local int t_in_dnnl = 0;
std::atomic<int> g_executing{0}; // dnnl_primitive_execute calls in progress, on any thread

[[maybe_unused]] void note(size_t bytes)
{
    if (!g_counting.load(std::memory_order_relaxed))
        return;
    const bool in_dnnl = t_in_dnnl || g_executing.load(std::memory_order_relaxed) > 0;
    (in_dnnl ? g_inside : g_outside).fetch_add(1, std::memory_order_relaxed);
    size_t seen = g_largest.load(std::memory_order_relaxed);
    while (bytes > seen && !g_largest.compare_exchange_weak(seen, bytes)) {
    }
}

} // namespace

#if NEURITE_COUNT_ALLOCATIONS
extern "C" {
void *malloc(size_t n) { note(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note(n); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { note(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(n); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n)
{
    note(n);
    *out = __libc_memalign(a, n);
    return *out ? 0 : ENOMEM;
}
void free(void *p) { __libc_free(p); }

// Plugins resolve oneDNN's entry point here first: mark what it allocates.
dnnl_status_t dnnl_primitive_execute(const_dnnl_primitive_t p, dnnl_stream_t s, int n,
                                     const dnnl_exec_arg_t *args)
{
    using Fn = dnnl_status_t (*)(const_dnnl_primitive_t, dnnl_stream_t, int, const dnnl_exec_arg_t *);
    static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "dnnl_primitive_execute"));
    ++t_in_dnnl;
    ++g_executing;
    const dnnl_status_t st = real(p, s, n, args);
    --g_executing;
    --t_in_dnnl;
    return st;
}
}
#endif

using namespace neurite;

class TestAllocations : public QObject {
    Q_OBJECT

    struct Counts {
        long outside, inside;
        size_t largest;
    };

    template <class Step> Counts count(Step &&step, int steps)
    {
        for (int i = 0; i < 3; ++i) // build primitives, touch buffers
            step();
        g_outside = 0;
        g_inside = 0;
        g_largest = 0;
        g_counting = true;
        for (int i = 0; i < steps; ++i)
            step();
        g_counting = false;
        return {g_outside.load(), g_inside.load(), g_largest.load()};
    }

    // Training steps of a 10-class classifier with cross-entropy and SGD
    // with momentum on random inputs of `shape`: nothing allocated outside
    // oneDNN, and the same inside it every step (nothing grows).
    Counts classifier_steps(Sequential &model, const Shape &shape, int steps)
    {
        Registry &reg = test::registry();
        auto loss = reg.create_loss("CrossEntropyLoss", {}, test::context());
        auto opt = reg.create_optimizer("SGD", {{"lr", 0.01}, {"momentum", 0.9}}, test::context());
        opt->attach(model.parameters());
        const Tensor x = test::random_tensor(shape, 1, 0.0f, 1.0f);
        const int64_t n = shape[0];
        Tensor y(Shape{n});
        for (int64_t i = 0; i < n; ++i)
            y[i] = static_cast<float>(i % 10);
        Tensor dlogits(Shape{n, 10});
        const Counts c = count([&] {
            model.zero_grad();
            const Tensor &logits = model.forward(x);
            loss->forward(logits, y);
            loss->backward(logits, y, dlogits);
            model.backward(x, dlogits, false);
            opt->step();
        }, steps);
        qInfo("%s per step: %.1f allocations outside oneDNN, %.1f inside dnnl_primitive_execute, largest %zu bytes",
              shape.to_string().c_str(), double(c.outside) / steps, double(c.inside) / steps, c.largest);
        [&] {
            QCOMPARE(c.outside, 0L);
            QVERIFY(c.inside % steps == 0);
        }();
        return c;
    }

private slots:
    void initTestCase()
    {
        if (!NEURITE_COUNT_ALLOCATIONS)
            QSKIP("built with AddressSanitizer, which replaces malloc");
    }

    void mlp_training_step()
    {
        Registry &reg = test::registry();
        ComputeContext &ctx = test::context();
        Sequential model;
        const int sizes[] = {784, 256, 128, 10};
        for (int l = 0; l < 3; ++l)
            model.add(reg.create_layer("Dense", {{"inputs", double(sizes[l])}, {"outputs", double(sizes[l + 1])},
                                                 {"activation", std::string(l < 2 ? "relu" : "identity")}},
                                       ctx, static_cast<uint64_t>(l)));
        const Counts c = classifier_steps(model, Shape{64, 784}, 20);
        QVERIFY2(c.largest < 4096, "an allocation touches a fresh page");
    }

    // Mixed precision (Model::set_precision): bf16 Dense (fused and unfused
    // activations) and activations, the host converting the f32 input to bf16
    // and the bf16 logits to f32 for the loss, the arena refreshing the bf16
    // copy of the weights before each forward: still nothing per step.
    void mlp_bf16_training_step()
    {
        if (!bf16_kernels().supported)
            QSKIP("this CPU runs no bf16 kernels");
        Registry &reg = test::registry();
        ComputeContext &ctx = test::context();
        Sequential model;
        const int sizes[] = {784, 256, 128, 10};
        const char *acts[] = {"relu", "gelu", "identity"};
        for (int l = 0; l < 3; ++l)
            model.add(reg.create_layer("Dense", {{"inputs", double(sizes[l])}, {"outputs", double(sizes[l + 1])},
                                                 {"activation", std::string(acts[l])}},
                                       ctx, static_cast<uint64_t>(l)));
        model.add(reg.create_layer("Tanh", {}, ctx, 0));
        model.set_precision(DType::BF16);
        classifier_steps(model, Shape{64, 784}, 20);
        QVERIFY(model.arena()->has_bf16());
    }

    // Convolutions and pools in oneDNN's blocked layout, the host converting
    // to plain before Dense: still nothing allocated per step, in f32, with
    // the convolutions multiplying bf16 copies, and in a bf16 model (precision
    // "auto"), where convolutions and pools hand each other bf16 tensors.
    void cnn_training_step()
    {
        Registry &reg = test::registry();
        ComputeContext &ctx = test::context();
        for (const char *precision : {"f32", "bf16", "auto"}) {
            const bool bf16_model = precision == std::string("auto");
            if (bf16_model && !bf16_kernels().supported)
                QSKIP("this CPU runs no bf16 kernels");
            Sequential model;
            auto conv = [&](int in, int out, uint64_t seed) {
                return reg.create_layer("Conv2D", {{"inputs", double(in)}, {"outputs", double(out)},
                                                   {"activation", std::string("relu")},
                                                   {"precision", std::string(precision)}},
                                        ctx, seed);
            };
            model.add(conv(1, 16, 1));
            model.add(reg.create_layer("MaxPool2D", {}, ctx, 0));
            model.add(conv(16, 32, 2));
            model.add(reg.create_layer("AvgPool2D", {}, ctx, 0));
            model.add(reg.create_layer("Dense", {{"inputs", 800.0}, {"outputs", 10.0}}, ctx, 3));
            if (bf16_model)
                model.set_precision(DType::BF16);
            classifier_steps(model, Shape{32, 1, 28, 28}, 10);
        }
    }

    // A graph: a residual block (fan-out, Add) and two heads, each with a
    // loss; in f32 and in bf16 (where the fan-out adds bf16 gradients).
    void graph_training_step_data()
    {
        QTest::addColumn<bool>("bf16");
        QTest::newRow("f32") << false;
        QTest::newRow("bf16") << true;
    }

    void graph_training_step()
    {
        QFETCH(bool, bf16);
        if (bf16 && !bf16_kernels().supported)
            QSKIP("this CPU runs no bf16 kernels");
        Registry &reg = test::registry();
        ComputeContext &ctx = test::context();
        auto dense = [&](int in, int out, const char *act, uint64_t seed) {
            return reg.create_layer("Dense", {{"inputs", double(in)}, {"outputs", double(out)},
                                              {"activation", std::string(act)}}, ctx, seed);
        };
        Model model;
        model.add_input(Shape{784});
        const int h = model.add_node(dense(784, 256, "relu", 1), {{Model::kInput, 0}});
        const int r = model.add_node(dense(256, 256, "relu", 2), {{h, 0}});
        const int sum = model.add_node(reg.create_layer("Add", {}, ctx, 0), {{h, 0}, {r, 0}});
        const int classes = model.add_node(dense(256, 10, "identity", 3), {{sum, 0}});
        const int value = model.add_node(dense(256, 1, "identity", 4), {{h, 0}});
        model.set_outputs({{classes, 0}, {value, 0}});
        if (bf16)
            model.set_precision(DType::BF16);
        auto ce = reg.create_loss("CrossEntropyLoss", {}, ctx);
        auto mse = reg.create_loss("MSELoss", {}, ctx);
        auto opt = reg.create_optimizer("Adam", {{"lr", 0.001}}, ctx);
        opt->attach(model.parameters());
        const Tensor x = test::random_tensor(Shape{64, 784}, 1, 0.0f, 1.0f);
        const Tensor t = test::random_tensor(Shape{64, 1}, 2);
        Tensor y(Shape{64});
        for (int i = 0; i < 64; ++i)
            y[i] = static_cast<float>(i % 10);
        std::vector<Tensor> grads{Tensor(Shape{64, 10}), Tensor(Shape{64, 1})};
        const std::vector<Tensor> inputs{x};
        const int steps = 20;
        const Counts c = count([&] {
            model.zero_grad();
            const std::vector<Tensor> &out = model.forward(inputs);
            ce->forward(out[0], y);
            ce->backward(out[0], y, grads[0]);
            mse->forward(out[1], t);
            mse->backward(out[1], t, grads[1]);
            model.backward(inputs, grads, false);
            opt->step();
        }, steps);
        qInfo("graph, per step: %.1f allocations outside oneDNN, %.1f inside dnnl_primitive_execute",
              double(c.outside) / steps, double(c.inside) / steps);
        QCOMPARE(c.outside, 0L);
        QVERIFY(c.inside % steps == 0);
    }

    // Batch and layer norm, dropout, flatten and reshape: a step on images.
    void normalization_and_shape_layers_step()
    {
        Registry &reg = test::registry();
        ComputeContext &ctx = test::context();
        Sequential model;
        model.add(reg.create_layer("BatchNorm", {{"features", 3.0}}, ctx, 0));
        model.add(reg.create_layer("Flatten", {}, ctx, 0));
        model.add(reg.create_layer("Dropout", {{"p", 0.3}}, ctx, 1));
        model.add(reg.create_layer("Reshape", {{"shape", std::vector<double>{3, 64}}}, ctx, 0));
        model.add(reg.create_layer("LayerNorm", {{"shape", std::vector<double>{64}}}, ctx, 0));
        model.add(reg.create_layer("Flatten", {}, ctx, 0));
        model.add(reg.create_layer("Dense", {{"inputs", 192.0}, {"outputs", 10.0}}, ctx, 2));
        classifier_steps(model, Shape{32, 3, 8, 8}, 20); // it checks the counts
    }

    // Plugins that do not use oneDNN allocate nothing at all.
    // The XOR loop of bench/xor_loop.lua, written as a Torch7 user writes it,
    // driven from Lua: m:forward, loss:backward and m:backward return views
    // of reused buffers, so the bindings, the Lua VM and the host allocate
    // nothing per step either (the collector has nothing to collect).
    void lua_loop_step()
    {
        lua::LuaRuntime rt;
        const lua::RunResult r = rt.run_string(R"(
            local x, y = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}, tensor{{0}, {1}, {1}, {0}}
            local model = nn.Sequential{nn.Dense(2, 4), nn.Sigmoid(), nn.Dense(4, 1), nn.Sigmoid()}
            local mse = nn.MSELoss()
            local opt = optim.SGD(model:parameters(), {lr = 2.0, momentum = 0.9})
            function step()
              opt:zero_grad()
              local pred = model:forward(x)
              mse:forward(pred, y)
              model:backward(x, mse:backward(pred, y), false)
              opt:step()
            end
            function loss() return mse:forward(model:forward(x), y) end
        )", "=xor");
        QVERIFY2(r.status == lua::RunResult::Status::Ok, r.message.c_str());
        lua_State *L = rt.state();
        auto call = [L](const char *fn) {
            lua_getglobal(L, fn);
            if (lua_pcall(L, 0, 1, 0) != LUA_OK)
                qFatal("%s", lua_tostring(L, -1));
            const double v = lua_tonumber(L, -1);
            lua_pop(L, 1);
            return v;
        };
        const double before = call("loss");
        const Counts c = count([&] { call("step"); }, 200);
        qInfo("XOR from Lua per step: %.2f allocations outside oneDNN, %.1f inside dnnl_primitive_execute",
              double(c.outside) / 200, double(c.inside) / 200);
        QCOMPARE(c.outside, 0L);
        QVERIFY(c.inside % 200 == 0);
        QVERIFY2(call("loss") < before, "the steps trained the network");
    }

    void plain_cpp_plugins_allocate_nothing()
    {
        Registry &reg = test::registry();
        Sequential model;
        model.add(reg.create_layer("PReLU", {{"channels", 6.0}}, test::context(), 0));
        model.add(reg.create_layer("ArcTan", {}, test::context(), 0));
        auto loss = reg.create_loss("MSELoss", {}, test::context());
        auto opt = reg.create_optimizer("Adam", {}, test::context());
        opt->attach(model.parameters());
        const Tensor x = test::random_tensor(Shape{16, 6}, 2);
        const Tensor t = test::random_tensor(Shape{16, 6}, 3);
        Tensor grad(Shape{16, 6});
        const Counts c = count([&] {
            opt->zero_grad();
            const Tensor &out = model.forward(x);
            loss->forward(out, t);
            loss->backward(out, t, grad);
            model.backward(x, grad);
            opt->step();
        }, 20);
        QCOMPARE(c.outside + c.inside, 0L);
    }
};

QTEST_GUILESS_MAIN(TestAllocations)
#include "tst_allocations.moc"
