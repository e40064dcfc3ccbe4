// libneurite-lua through its C++ API: values and exact messages, the print
// sink, cancellation from another thread, os.exit, the monitor stream,
// Lua-defined layers driven by the core, and checkpoints that are damaged.
#include "test_support.h"

#include "neurite/core/checkpoint.h"
#include "neurite/core/memory_budget.h"
#include "neurite/core/monitor.h"
#include "neurite/core/sequential.h"
#include "neurite/lua/runtime.h"

#include <lua.hpp>
#include <zlib.h>

#include <QtTest>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

using neurite::lua::LuaRuntime;
using neurite::lua::RunResult;
using neurite::lua::RuntimeOptions;

namespace {

// Runs code and returns the global `result` as a number.
double number(LuaRuntime &rt, const std::string &code)
{
    const RunResult r = rt.run_string(code, "=test");
    if (r.status != RunResult::Status::Ok)
        throw std::runtime_error(r.message);
    lua_State *L = rt.state();
    lua_getglobal(L, "result");
    const double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

std::string error_of(LuaRuntime &rt, const std::string &code, const std::string &chunk = "=test")
{
    const RunResult r = rt.run_string(code, chunk);
    return r.status == RunResult::Status::Error ? r.message : std::string("(no error)");
}

} // namespace

class TestLua : public QObject {
    Q_OBJECT

private slots:
    void seed002_through_lua()
    {
        LuaRuntime rt;
        const std::string net = R"(
            net = nn.Sequential{nn.Dense{inputs=3, outputs=3, bias=false, activation="sigmoid"},
                                nn.Dense{inputs=3, outputs=2, bias=false, activation="sigmoid"}}
            net[1].weight:copy{{1, -2, 2}, {2, 1, -4}, {1, -1, 0}}
            net[2].weight:copy{{-3, 1, -3}, {0, 1, 2}}
            x = tensor{{0.5, 0.9, -0.3}}
            out = net:forward(x)
            mse = nn.MSELoss{reduction="half_sum"}
            target = tensor{{0.9, out:get(1, 2)}}
            net:zero_grad()
            net:backward(x, mse:backward(out, target))
        )";
        QVERIFY(rt.run_string(net).status == RunResult::Status::Ok);
        QVERIFY(std::fabs(number(rt, "result = out:get(1, 1)") - 0.346) < 5e-4);
        QVERIFY(std::fabs(number(rt, "result = out:get(1, 2)") - 0.853) < 5e-4);
        const double dw = number(rt, "result = net[2].weight.grad:get(1, 1)");
        QVERIFY2(std::fabs(dw - (-0.01631)) < 5e-5, qPrintable(QString::number(dw, 'g', 8)));
    }

    void live_views_change_the_model()
    {
        LuaRuntime rt;
        QCOMPARE(number(rt, R"(
            local l = nn.Dense{inputs=2, outputs=1, bias=true}
            l.weight:copy{{2, 3}}
            l.bias:fill(1)
            result = l:forward(tensor{{1, 1}}):get(1, 1))"),
                 6.0);
        // A view outlives the Lua variable that held its layer.
        QCOMPARE(number(rt, R"(
            local w = nn.Dense(2, 2).weight
            collectgarbage(); collectgarbage()
            w:fill(4)
            result = w:sum())"),
                 16.0);
        // zero_grad is deferred in the core; reading a gradient from Lua sees zeros.
        QCOMPARE(number(rt, R"(
            local m = nn.Sequential{nn.Dense(2, 2)}
            local x = tensor{{1, 2}}
            m:backward(x, m:forward(x))
            local p = m:parameters()[1]
            assert(p.grad:abs():sum() > 0)
            m:zero_grad()
            result = p.grad:abs():sum())"),
                 0.0);
    }

    void optimizer_options()
    {
        LuaRuntime rt;
        QCOMPARE(number(rt, "local o = optim.SGD(nn.Dense(2, 2), {lr = 0.25}); result = o.lr"), 0.25);
        QCOMPARE(number(rt, "local o = optim.Adam(nn.Dense(2, 2)); o.lr = 0.5; result = o.lr"), 0.5);
        QCOMPARE(number(rt, "local o = optim.SGD(nn.Dense(2, 2), 0.125); result = o.lr"), 0.125);
    }

    void messages_carry_file_line_and_shapes()
    {
        LuaRuntime rt;
        const RunResult r = rt.run_string("local m = nn.Dense(3, 3)\nm:forward(tensor{{1, 2, 3, 4}})\n",
                                          "@experiment.lua");
        QCOMPARE(r.status, RunResult::Status::Error);
        QCOMPARE(r.exit_code, 1);
        QCOMPARE(QString::fromStdString(r.message),
                 QString("experiment.lua:2: Dense: input [1, 4] does not fit: Dense expects 3 input "
                         "features per sample, got 4 (input shape [1, 4])"));
        QVERIFY(r.traceback.find("stack traceback:") == 0);
        QVERIFY(r.traceback.find("experiment.lua:2: in main chunk") != std::string::npos);

        QCOMPARE(QString::fromStdString(error_of(rt, "local a = tensor{1, 2} + tensor{{1, 2, 3}}")),
                 QString("test:1: tensor +: shapes [2] and [1, 3] do not match (dimension 2 is 2 "
                         "against 3; sizes must be equal or 1)"));
        QCOMPARE(QString::fromStdString(error_of(rt, "tensor{1}:matmul(5)")),
                 QString("test:1: t:matmul: argument 1 must be a tensor, got a number"));
        QCOMPARE(QString::fromStdString(error_of(rt, "nn.Sequential{nn.Dense(2, 3), nn.Dense(2, 1)}"
                                                     ":forward(tensor{{1, 2}})")),
                 QString("test:1: layer 2 (Dense): input [1, 3] does not fit: Dense expects 2 input "
                         "features per sample, got 3 (input shape [1, 3])"));
        QCOMPARE(QString::fromStdString(error_of(rt, "nn.Dense(3, 3, {bias = 1})")),
                 QString("test:1: Dense: parameter 'bias' must be true or false, got a number (1)"));
        QCOMPARE(QString::fromStdString(error_of(rt, "nn.Dense(2, 2, nil, nil, nil, nil, 1)")),
                 QString("test:1: nn.Dense takes at most 6 parameters (inputs, outputs, bias, "
                         "activation, init, approximate), got 7 positional arguments"));
        QCOMPARE(QString::fromStdString(error_of(rt, "error({})")),
                 QString("(error object is a table value)"));
    }

    void print_goes_to_the_sink()
    {
        LuaRuntime rt;
        std::vector<std::string> lines;
        rt.set_print_sink([&](const std::string &line) { lines.push_back(line); });
        QVERIFY(rt.run_string("print('a', 1, true, nil)\nprint(tensor{1, 2})").status ==
                RunResult::Status::Ok);
        QCOMPARE(lines.size(), size_t(2));
        QCOMPARE(QString::fromStdString(lines[0]), QString("a\t1\ttrue\tnil"));
        QCOMPARE(QString::fromStdString(lines[1]), QString("tensor [2]\n  1 2"));
    }

    void cancel_from_another_thread_stops_a_loop()
    {
        RuntimeOptions o;
        o.interrupt_grace_seconds = 0.2;
        LuaRuntime rt(o);
        std::thread stopper([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            rt.request_cancel();
        });
        const auto start = std::chrono::steady_clock::now();
        const RunResult r = rt.run_string("while true do end", "@loop.lua");
        stopper.join();
        QCOMPARE(r.status, RunResult::Status::Interrupted);
        QCOMPARE(r.exit_code, 130);
        QCOMPARE(QString::fromStdString(r.message), QString("loop.lua:1: interrupted"));
        QVERIFY(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
        // Swallowing the error does not keep the script alive.
        rt.clear_cancel();
        std::thread again([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            rt.request_cancel();
        });
        const RunResult r2 = rt.run_string("while true do pcall(function() while true do end end) end");
        again.join();
        QCOMPARE(r2.exit_code, 130);
        rt.clear_cancel();
        QCOMPARE(number(rt, "result = 2"), 2.0); // usable again
    }

    void os_exit_returns_to_the_host()
    {
        LuaRuntime rt;
        const RunResult r = rt.run_string("os.exit(3)");
        QCOMPARE(r.status, RunResult::Status::Exit);
        QCOMPARE(r.exit_code, 3);
        QCOMPARE(rt.run_string("os.exit(false)").exit_code, 1);
        QCOMPARE(number(rt, "result = 5"), 5.0);
    }

    // A run that ends by os.exit or an interrupt still frees every tensor
    // when the runtime closes: the tensors' __gc must not raise the pending
    // exit again (it did, and each tensor, with the model its parameters
    // keep alive, leaked at the end of such a run).
    void runs_ended_abruptly_free_their_tensors()
    {
        const uint64_t before = neurite::memory::tensor_bytes();
        {
            LuaRuntime rt;
            const RunResult r = rt.run_string("t = tensor.zeros{1000, 100}; m = nn.Sequential{nn.Dense(100, 50)};"
                                              "m:forward(t); os.exit(4)");
            QCOMPARE(r.exit_code, 4);
            QVERIFY(neurite::memory::tensor_bytes() >= before + 400000);
        }
        QCOMPARE(neurite::memory::tensor_bytes(), before);
        {
            RuntimeOptions o;
            o.interrupt_grace_seconds = 0.2;
            LuaRuntime rt(o);
            std::thread stopper([&] {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                rt.request_cancel();
            });
            const RunResult r = rt.run_string("keep = tensor.ones{500, 100}; while true do end", "@loop.lua");
            stopper.join();
            QCOMPARE(r.exit_code, 130);
        }
        QCOMPARE(neurite::memory::tensor_bytes(), before);
    }

    void sandbox_has_no_io_os_package_debug()
    {
        RuntimeOptions o;
        o.sandbox = true;
        LuaRuntime rt(o);
        QCOMPARE(number(rt, "result = (io == nil and os == nil and package == nil and debug == nil) and 1 or 0"),
                 1.0);
        QCOMPARE(QString::fromStdString(error_of(rt, "io.open('/etc/passwd')")),
                 QString("test:1: attempt to index a nil value (global 'io')"));
        QCOMPARE(number(rt, "result = select('#', load(string.dump(function() end)))"), 2.0);
        QCOMPARE(number(rt, "result = require('neurite').nn == nn and 1 or 0"), 1.0);
    }

    void monitor_events_reach_subscribers()
    {
        LuaRuntime rt;
        std::vector<neurite::MonitorEvent> events;
        rt.monitor().subscribe([&](const neurite::MonitorEvent &e) { events.push_back(e); });
        QVERIFY(rt.run_string(R"(
            local run <close> = monitor.run("probe")
            monitor.step(10); monitor.epoch(2)
            monitor.log("loss", 0.5)
            monitor.scalar("acc", 12, 0.75)
            monitor.progress(3, 4, "epoch 2")
            monitor.text("hello", 1)
        )").status == RunResult::Status::Ok);
        std::vector<neurite::MonitorEvent> scalars;
        for (const auto &e : events)
            if (e.type == neurite::MonitorEvent::Type::Scalar)
                scalars.push_back(e);
        QCOMPARE(scalars.size(), size_t(2));
        QCOMPARE(QString::fromStdString(scalars[0].name), QString("loss"));
        QCOMPARE(scalars[0].step, int64_t(10));
        QCOMPARE(scalars[0].epoch, int64_t(2));
        QCOMPARE(scalars[0].value, 0.5);
        QCOMPARE(QString::fromStdString(scalars[0].run), QString("probe-1"));
        QCOMPARE(scalars[1].step, int64_t(12));
        QCOMPARE(events.front().type, neurite::MonitorEvent::Type::RunBegin);
        QCOMPARE(events.back().type, neurite::MonitorEvent::Type::RunEnd);
        bool text = false;
        for (const auto &e : events)
            text = text || (e.type == neurite::MonitorEvent::Type::Text && e.text == "hello\t1");
        QVERIFY(text);
    }

    // x by epoch: train.fit's batches fall at fractions of their epoch, the
    // epoch's own values at its end (issue 17: batch_loss was a sawtooth
    // shifted by one epoch).
    void batches_fall_at_fractions_of_their_epoch()
    {
        LuaRuntime rt;
        std::vector<neurite::MonitorEvent> events;
        rt.monitor().subscribe([&](const neurite::MonitorEvent &e) {
            if (e.type == neurite::MonitorEvent::Type::Scalar)
                events.push_back(e);
        });
        QVERIFY(rt.run_string(R"(
            local m = nn.Sequential{nn.Dense(2, 1)}
            train.fit{model = m, loss = nn.MSELoss(), optimizer = optim.SGD(m, {lr = 0.1}),
                      data = {x = tensor.rand{8, 2}, y = tensor.rand{8, 1}}, epochs = 2, batch_size = 2,
                      verbose = 0, shuffle = false}
            monitor.epoch(7)
            monitor.log("custom", 1) -- a loop of one's own that reports no progress: at its epoch
        )").status == RunResult::Status::Ok);
        std::vector<double> batches, losses;
        double custom = -1;
        for (const auto &e : events) {
            if (e.name == "batch_loss")
                batches.push_back(e.epoch_position);
            else if (e.name == "loss")
                losses.push_back(e.epoch_position);
            else if (e.name == "custom")
                custom = e.epoch_position;
        }
        QCOMPARE(batches, (std::vector<double>{0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2}));
        QCOMPARE(losses, (std::vector<double>{1, 2}));
        QCOMPARE(custom, 7.0);
    }

    // The GUI subscribes from its own thread while a run publishes.
    void monitor_is_thread_safe()
    {
        neurite::Monitor monitor;
        std::atomic<int> seen{0};
        std::atomic<bool> done{false};
        std::thread publisher([&] {
            for (int i = 0; i < 20000; ++i)
                monitor.scalar("loss", i, 0.5);
            done = true;
        });
        int subscriptions = 0;
        do { // at least once, even when the publisher finishes first
            const int id = monitor.subscribe([&](const neurite::MonitorEvent &) { ++seen; });
            monitor.unsubscribe(id);
            ++subscriptions;
        } while (!done);
        publisher.join();
        QVERIFY(subscriptions > 0);
        const int id = monitor.subscribe([&](const neurite::MonitorEvent &e) {
            if (e.name == "last")
                monitor.unsubscribe(id); // a callback may unsubscribe itself
        });
        monitor.scalar("last", 1.0);
        monitor.scalar("after", 1.0);
    }

    void train_fit_logs_through_the_monitor()
    {
        LuaRuntime rt;
        std::vector<std::string> names;
        rt.monitor().subscribe([&](const neurite::MonitorEvent &e) {
            if (e.type == neurite::MonitorEvent::Type::Scalar)
                names.push_back(e.name);
        });
        QVERIFY(rt.run_string(R"(
            local x, y = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}, tensor{1, 2, 2, 1}
            local m = nn.Sequential{nn.Dense(2, 8, {activation = "tanh"}), nn.Dense(8, 2)}
            history = train.fit{model = m, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(m, {lr = 0.05}),
                                data = {x = x, y = y}, validation = {x = x, y = y}, epochs = 150,
                                batch_size = 4, metrics = {"accuracy"}, verbose = 0}
            result = history.val_accuracy[#history.val_accuracy]
        )").status == RunResult::Status::Ok);
        QCOMPARE(number(rt, "result = result"), 1.0);
        for (const char *n : {"batch_loss", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s"})
            QVERIFY2(std::find(names.begin(), names.end(), n) != names.end(), n);
    }

    // A Lua-defined layer is a registry entry like any plugin: the core
    // drives it through its vtable and it passes the plugins' gradient check.
    void lua_layer_passes_the_core_gradient_check()
    {
        LuaRuntime rt;
        QVERIFY(rt.run_string(R"(
            nn.define{kind = "layer", name = "Affine",
              params = {{name = "n", type = "int", min = 1, doc = "Width."}},
              parameters = {"weight"},
              init = function(self) self.weight = tensor.randn{self.n, self.n} end,
              forward = function(self, x) return x:matmul(self.weight:t()):tanh() end,
              backward = function(self, x, g, y)
                local dz = g * (1 - y * y)
                self.grads.weight:add_(dz:t():matmul(x))
                return dz:matmul(self.weight)
              end}
        )").status == RunResult::Status::Ok);
        const neurite::Entry *e = rt.registry().find("Affine");
        QVERIFY(e);
        QCOMPARE(QString::fromStdString(e->origin), QString("lua"));
        auto layer = rt.registry().create_layer("Affine", {{"n", 4.0}}, rt.context(), 3);
        QCOMPARE(layer->parameters().size(), size_t(1));
        const auto err = neurite::test::check_layer_gradient(
            *layer, neurite::test::random_tensor(neurite::Shape{3, 4}, 7), 11);
        QVERIFY2(err.max_rel < 2e-2, err.where.c_str());
        QVERIFY_THROWS_EXCEPTION(neurite::Error,
                                 rt.registry().create_layer("Affine", {{"n", 0.0}}, rt.context(), 1));
    }

    // A plugin whose forward fails stops train.fit with its message and the
    // layer's name; the same runtime then runs another script to the end.
    void failing_plugin_stops_fit_and_the_runtime_goes_on()
    {
        qputenv("NEURITE_PLUGIN_PATH", FIXTURE_DIR);
        LuaRuntime rt;
        qunsetenv("NEURITE_PLUGIN_PATH");
        const std::string message = error_of(rt, R"(
            local x, y = tensor{{0, 0}, {1, 1}}, tensor{{0}, {1}}
            local model = nn.Sequential{nn.Dense(2, 2), nn.FixtureFailing()}
            train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
                      data = {x = x, y = y}, epochs = 3, verbose = 0})");
        for (const char *part : {"layer 2 (FixtureFailing)", "deliberate failure in forward"})
            QVERIFY2(message.find(part) != std::string::npos, message.c_str());
        QCOMPARE(number(rt, R"(
            local x, y = tensor{{0, 0}, {1, 1}}, tensor{{0}, {1}}
            local model = nn.Sequential{nn.Dense(2, 1)}
            local h = train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
                                data = {x = x, y = y}, epochs = 20, verbose = 0}
            result = #h.loss)"), 20.0);
    }

    void checkpoint_damage_never_crashes()
    {
        LuaRuntime rt;
        auto model = std::make_unique<neurite::Sequential>();
        model->add(rt.registry().create_layer("Dense", {{"inputs", 3.0}, {"outputs", 2.0}}, rt.context(), 1));
        model->add(rt.registry().create_layer("PReLU", {{"channels", 2.0}}, rt.context(), 1));
        neurite::Checkpoint c = neurite::Checkpoint::capture(*model);
        c.set_section("meta", {1, 2, 3});
        const std::vector<uint8_t> bytes = c.serialize();
        const auto back = neurite::Checkpoint::parse(bytes, "ok.nrt");
        QCOMPARE(back.model.nodes.size(), size_t(2));
        QCOMPARE(back.section("meta")->size(), size_t(3));
        // The header's checksum (byte 24) is the standard CRC-32 of the
        // payload, so other tools (zlib, Python's zlib.crc32) can verify it.
        uint32_t stored = 0;
        std::memcpy(&stored, bytes.data() + 24, sizeof stored);
        QCOMPARE(stored, static_cast<uint32_t>(crc32_z(0, bytes.data() + 32, bytes.size() - 32)));
        for (size_t cut = 0; cut < bytes.size(); ++cut) {
            try {
                neurite::Checkpoint::parse(std::span(bytes.data(), cut), "cut.nrt");
                QFAIL("a truncated checkpoint was accepted");
            } catch (const neurite::Error &e) {
                const std::string m = e.what();
                QVERIFY2(m.find("cut.nrt") != std::string::npos && m.find("byte") != std::string::npos,
                         m.c_str());
            }
        }
        // Damage behind a valid checksum reaches the parser itself: it must
        // answer with an Error, never read outside the bytes.
        std::mt19937 rng(5);
        for (int round = 0; round < 3000; ++round) {
            std::vector<uint8_t> bad = bytes;
            const int changes = 1 + static_cast<int>(rng() % 4);
            for (int k = 0; k < changes; ++k)
                bad[32 + rng() % (bad.size() - 32)] = static_cast<uint8_t>(rng());
            // Forged: the damage gets a valid checksum.
            const uint32_t crc = static_cast<uint32_t>(crc32_z(0, bad.data() + 32, bad.size() - 32));
            std::memcpy(bad.data() + 24, &crc, sizeof crc);
            try {
                neurite::Checkpoint::parse(bad, "fuzz.nrt");
            } catch (const neurite::Error &) {
            }
        }
        std::vector<uint8_t> flipped = bytes;
        flipped[40] ^= 0x10;
        QVERIFY_THROWS_EXCEPTION(neurite::Error, neurite::Checkpoint::parse(flipped, "flip.nrt"));
        try {
            neurite::Checkpoint::parse(std::span(bytes.data(), 20), "short.nrt");
        } catch (const neurite::Error &e) {
            QCOMPARE(QString(e.what()), QString("checkpoint 'short.nrt' is truncated: the header needs 32 "
                                                "bytes, the file has 20"));
        }
    }

    // The tensors of a checkpoint section (early stopping's best weights)
    // round-trip exactly; a cut or crafted section is an Error, never a read
    // outside its bytes.
    void tensor_sections_round_trip_and_refuse_damage()
    {
        neurite::Tensor a(neurite::Shape{2, 3}), b(neurite::Shape{1});
        for (int64_t i = 0; i < a.numel(); ++i)
            a[i] = 0.1f * static_cast<float>(i) - 0.25f;
        b[0] = -7.5f;
        const std::vector<uint8_t> bytes = neurite::Checkpoint::encode_tensors({a, b});
        const auto back = neurite::Checkpoint::decode_tensors(bytes, "t.nrt", "section 'w'");
        QCOMPARE(back.size(), size_t(2));
        QVERIFY(back[0].shape() == a.shape() && back[1].shape() == b.shape());
        QCOMPARE(std::memcmp(back[0].data(), a.data(), sizeof(float) * 6), 0);
        QCOMPARE(back[1][0], -7.5f);
        for (size_t cut = 0; cut < bytes.size(); ++cut) {
            try {
                neurite::Checkpoint::decode_tensors(std::span(bytes.data(), cut), "t.nrt", "section 'w'");
                QFAIL("a cut section was accepted");
            } catch (const neurite::Error &e) {
                QVERIFY2(std::string(e.what()).find("section 'w'") != std::string::npos, e.what());
            }
        }
        std::vector<uint8_t> huge = bytes;
        const int64_t rows = int64_t(1) << 40;
        std::memcpy(huge.data() + 8, &rows, sizeof rows); // tensor 1's first dimension
        QVERIFY_THROWS_EXCEPTION(neurite::Error, neurite::Checkpoint::decode_tensors(huge, "t.nrt", "w"));
    }

    // Models saved while GELU was the tanh approximation by default (GELU's
    // `approximation`, Dense's gelu without `approximate`) load as trained.
    void checkpoints_from_before_erf_gelu_keep_tanh()
    {
        using neurite::Shape;
        using neurite::Tensor;
        LuaRuntime rt;
        neurite::Sequential model;
        model.add(rt.registry().create_layer(
            "Dense", {{"inputs", 2.0}, {"outputs", 3.0}, {"activation", std::string("gelu")}}, rt.context(), 1));
        model.add(rt.registry().create_layer("GELU", {}, rt.context(), 2));
        model.add(rt.registry().create_layer("GELU", {}, rt.context(), 3));
        neurite::Checkpoint old = neurite::Checkpoint::capture(model);
        auto rename = [](neurite::ParamList &config, const char *from, const char *to, const char *value) {
            for (auto &[name, v] : config)
                if (name == from) {
                    name = to;
                    v = std::string(value);
                }
        };
        std::erase_if(old.model.nodes[0].config, [](const auto &p) { return p.first == "approximate"; });
        rename(old.model.nodes[1].config, "approximate", "approximation", "tanh");
        rename(old.model.nodes[2].config, "approximate", "approximation", "erf");
        const auto built = neurite::Checkpoint::parse(old.serialize(), "old.nrt")
                               .build(rt.registry(), rt.context(), 0, "old.nrt");
        auto &loaded = static_cast<neurite::Sequential &>(*built);
        auto form = [&](int i) {
            for (const auto &[name, v] : loaded.module_at(i).config())
                if (name == "approximate")
                    return std::get<std::string>(v);
            return std::string("(none)");
        };
        QCOMPARE(form(0), std::string("tanh"));
        QCOMPARE(form(1), std::string("tanh"));
        QCOMPARE(form(2), std::string("none"));
        // The weights came along: the same outputs as a tanh-GELU Dense with them.
        auto tanh_dense = rt.registry().create_layer(
            "Dense", {{"inputs", 2.0}, {"outputs", 3.0}, {"activation", std::string("gelu")},
                      {"approximate", std::string("tanh")}}, rt.context(), 9);
        tanh_dense->parameters()[0].value.copy_from(model.module_at(0).parameters()[0].value);
        const Tensor x = Tensor::from(Shape{1, 2}, {-1.5f, 0.7f});
        Tensor want(tanh_dense->prepare(x.shape()));
        tanh_dense->forward_plain(x, want, false);
        Tensor got(loaded.module_at(0).prepare(x.shape()));
        loaded.module_at(0).forward_plain(x, got, false);
        QCOMPARE(got.to_vector(), want.to_vector());
    }

    void seed_makes_runs_reproducible()
    {
        const std::string code = "result = nn.Dense(4, 4).weight:sum() + tensor.randn{10}:sum()";
        RuntimeOptions o;
        o.seed = 42;
        LuaRuntime a(o), b(o);
        o.seed = 43;
        LuaRuntime c(o);
        const double va = number(a, code);
        QCOMPARE(number(b, code), va);
        QVERIFY(number(c, code) != va);
    }
};

QTEST_GUILESS_MAIN(TestLua)
#include "tst_lua.moc"
