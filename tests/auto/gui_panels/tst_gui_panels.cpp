// The window's panels that stand on their own: the training monitor's
// smoothing, decimation and export, the plugin browser, the activation
// explorer, the quick-experiment form, the console's error links, the
// "model" events the window learns from and the Model panel's graph.
#include "test_support.h"

#include "activation_explorer.h"
#include "code_editor.h"
#include "console.h"
#include "graph_view.h"
#include "model_graph.h"
#include "metric_chart.h"
#include "metric_series.h"
#include "plugin_browser.h"
#include "quick_experiment.h"
#include "save_location.h"
#include "training_monitor.h"

#include "neurite/core/model.h"
#include "neurite/core/monitor.h"
#include "neurite/lua/interop.h"
#include "neurite/lua/runtime.h"

#include <lua.hpp>

#include <QLegend>
#include <QRegularExpression>
#include <QScrollBar>
#include <QLegendMarker>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QCategoryAxis>
#include <QtTest>

#include <cmath>
#include <thread>

using namespace neurite;
using namespace neurite::gui;

namespace {

// Runs Lua in rt; the test fails with the script's message.
bool run_lua(lua::LuaRuntime &rt, const char *code)
{
    const lua::RunResult r = rt.run_string(code, "=test");
    if (r.status != lua::RunResult::Status::Ok)
        qWarning("%s", r.message.c_str());
    return r.status == lua::RunResult::Status::Ok;
}

// The model behind the script's global `name`.
Model *global_model(lua::LuaRuntime &rt, const char *name)
{
    lua_State *L = rt.state();
    lua_getglobal(L, name);
    Model *m = lua::to_model(L, -1);
    lua_pop(L, 1);
    return m;
}

ModelGraph graph_of(lua::LuaRuntime &rt, const char *name)
{
    Model *m = global_model(rt, name);
    return m ? describe_model(*m, describe_shapes(*m, WatchedData{})) : ModelGraph{};
}

QStringList titles(const ModelGraph &g)
{
    QStringList t;
    for (const auto &v : g.vertices)
        t << v.title;
    return t;
}

bool boxes_overlap(const GraphLayout &layout)
{
    for (size_t i = 0; i < layout.boxes.size(); ++i)
        for (size_t j = i + 1; j < layout.boxes.size(); ++j)
            if (layout.boxes[i].intersects(layout.boxes[j]))
                return true;
    return false;
}

} // namespace

class TestGuiPanels : public QObject {
    Q_OBJECT

private slots:
    // TensorBoard's debiased EMA: constant input stays constant from the start.
    void smoothing_is_debiased()
    {
        MetricSeries s;
        s.set_smoothing(0.9);
        for (int i = 0; i < 5; ++i)
            s.append({double(i), 0, 2.0});
        for (int i = 0; i < 5; ++i)
            QVERIFY(std::fabs(s.smoothed(i) - 2.0) < 1e-12);
        MetricSeries t;
        t.set_smoothing(0.5);
        t.append({0, 0, 1.0});
        t.append({1, 0, 3.0});
        // ema: 0.5, then 0.5·0.5 + 0.5·3 = 1.75; debias 1 − 0.25 = 0.75
        QVERIFY(std::fabs(t.smoothed(1) - 1.75 / 0.75) < 1e-12);
    }

    // 100,000 points draw as at most two per pixel column, spikes kept.
    void decimation_keeps_extremes()
    {
        MetricSeries s;
        for (int i = 0; i < 100000; ++i)
            s.append({double(i), i / 1000.0, i == 54321 ? 50.0 : std::sin(i * 0.01)});
        const QList<QPointF> drawn = s.render(XAxis::Step, 0, 99999, 500, false);
        QVERIFY(drawn.size() <= 1000);
        QVERIFY(drawn.size() >= 500);
        double top = -1;
        for (const QPointF &p : drawn)
            top = std::max(top, p.y());
        QCOMPARE(top, 50.0);
        // Log scale leaves out values <= 0 rather than drawing nonsense.
        for (const QPointF &p : s.render(XAxis::Step, 0, 99999, 500, true))
            QVERIFY(p.y() > 0);
    }

    void ring_drops_oldest_when_full()
    {
        MetricRing ring(4);
        for (int i = 0; i < 6; ++i)
            ring.push({"run", "loss", {double(i), 0, double(i)}});
        std::vector<MetricEvent> out;
        ring.drain(out);
        QCOMPARE(out.size(), size_t(4));
        QCOMPARE(out.front().point.step, 2.0);
        QCOMPARE(ring.dropped(), uint64_t(2));
    }

    void monitor_draws_runs_from_another_thread()
    {
        TrainingMonitor monitor;
        monitor.resize(900, 600);
        monitor.show();
        std::thread producer([&] {
            for (int i = 0; i < 20000; ++i) {
                monitor.post("run 1", "loss", {double(i), i / 1000.0, 1.0 / (1 + i)});
                if (i % 100 == 0)
                    monitor.post("run 1", "val_loss", {double(i), i / 1000.0, 1.2 / (1 + i)});
            }
            monitor.post("run 2", "loss", {0, 0, 2.0});
        });
        producer.join();
        monitor.refresh();
        QCOMPARE(monitor.runs(), (QStringList{"run 1", "run 2"}));
        QCOMPARE(monitor.charts(), QStringList{"loss"}); // val_loss shares the loss chart
        QCOMPARE(monitor.series("run 1", "loss")->size(), int64_t(20000));
        const int drawn = monitor.drawn_points("run 1", "loss");
        QVERIFY2(drawn > 0 && drawn <= 2 * 2000, qPrintable(QString::number(drawn)));
        monitor.set_run_visible("run 1", false);
        QCOMPARE(monitor.drawn_points("run 1", "loss"), 0);
        QVERIFY(monitor.drawn_points("run 2", "loss") > 0);
        monitor.set_log_y(true);
        monitor.set_x_axis(XAxis::Epoch);
        monitor.set_run_visible("run 1", true);
        QVERIFY(monitor.drawn_points("run 1", "val_loss") > 0);


        QTemporaryDir dir;
        QVERIFY(monitor.export_png("loss", dir.filePath("loss.png")));
        QVERIFY(QImage(dir.filePath("loss.png")).width() > 100);
        // Columns follow the width: 900 px hold two charts of 420.
        QCOMPARE(monitor.columns(), 2);
        QCOMPARE(TrainingMonitor::columns_for(300), 1);
        QCOMPARE(TrainingMonitor::columns_for(2560), 4);
        QVERIFY(monitor.export_csv("loss", dir.filePath("loss.csv")));
        QFile csv(dir.filePath("loss.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QList<QByteArray> lines = csv.readAll().split('\n');
        QCOMPARE(lines.first(), QByteArray("run,metric,step,epoch,value,smoothed"));
        QCOMPARE(lines.size() - 2, 20000 + 200 + 1); // header and trailing newline

        // Behind another tab the charts are not drawn; shown, they catch up.
        monitor.hide();
        monitor.post("run 3", "loss", {0, 0, 1.0});
        monitor.post("run 3", "loss", {1, 0, 0.5});
        monitor.refresh();
        QCOMPARE(monitor.series("run 3", "loss")->size(), int64_t(2));
        QCOMPARE(monitor.drawn_points("run 3", "loss"), 0);
        monitor.show();
        monitor.refresh();
        QCOMPARE(monitor.drawn_points("run 3", "loss"), 2);
    }

    // Axes move in round steps, and only when the data leaves them: every
    // change re-lays out the tick labels, the costliest part of a redraw.
    void axes_are_round_and_move_only_when_outgrown()
    {
        // (The rounding itself is tested with the shared rules, tst_chart_rules.)
        using R = MetricChart::AxisRange;
        MetricChart chart("loss");
        chart.resize(500, 300);
        chart.show();
        MetricSeries s;
        auto draw_up_to = [&](int last_step) {
            for (int i = int(s.size()); i <= last_step; ++i)
                s.append({double(i), i / 100.0, 2.0 / (1 + i * 0.01)});
            chart.draw({{"run 1", "loss", &s, 0}}, XAxis::Step, false);
        };
        draw_up_to(1100);
        QCOMPARE(chart.x_axis_range(), (R{0, 1500, 4}));
        const R y = chart.y_axis_range();
        QVERIFY(y.lo == 0 && y.hi >= 2.09 && y.hi <= 3); // 0.17 .. 2 padded by 5%
        draw_up_to(1400);
        QCOMPARE(chart.x_axis_range(), (R{0, 1500, 4}));
        QCOMPARE(chart.y_axis_range(), y);
        draw_up_to(1600);
        QCOMPARE(chart.x_axis_range(), (R{0, 2000, 5}));
        chart.draw({{"run 1", "loss", &s, 0}}, XAxis::Step, true);
        QCOMPARE(chart.y_axis_range().lo, 0.1); // whole decades around 0.12 .. 2
        QCOMPARE(chart.y_axis_range().hi, 10.0);
        // Exported at twice its size on screen by default, drawn again, not magnified.
        QTemporaryDir png_dir;
        QVERIFY(chart.export_png(png_dir.filePath("2x.png")));
        QCOMPARE(QImage(png_dir.filePath("2x.png")).size(), QSize(1000, 600));
        QVERIFY(chart.export_png(png_dir.filePath("3x.png"), 3));
        QCOMPARE(QImage(png_dir.filePath("3x.png")).size(), QSize(1500, 900));
        // Labelled at 1, 2 and 5 of each decade, not a lone "1".
        auto *log_axis = qobject_cast<QCategoryAxis *>(chart.chart()->axes(Qt::Vertical).value(0));
        QVERIFY(log_axis);
        QCOMPARE(log_axis->categoriesLabels(), (QStringList{"0.1", "0.2", "0.5", "1", "2", "5", "10"}));
        QCOMPARE(log_axis->endValue("2"), std::log10(2.0));
        chart.draw({{"run 1", "loss", &s, 0}}, XAxis::Step, false);

        // Validation is dashed. No legend of its own: the runs list is every
        // chart's legend, and a line has its run's colour and name.
        MetricSeries val;
        for (int i = 0; i <= 1600; i += 100)
            val.append({double(i), i / 100.0, 2.5 / (1 + i * 0.01)});
        const QColor colour(214, 39, 40);
        chart.draw({{"run 1", "loss", &s, "baseline", colour}, {"run 1", "val_loss", &val, "baseline", colour}},
                   XAxis::Step, false);
        QCOMPARE(chart.chart()->title(), QString("loss (dashed: validation)"));
        QVERIFY(!chart.chart()->legend()->isVisible());
        QCOMPARE(chart.line_name("run 1", "loss"), QString("baseline"));
        QCOMPARE(chart.line_name("run 1", "val_loss"), QString("val_loss (baseline)"));
        QCOMPARE(chart.line_colour("run 1", "val_loss"), colour);
        QCOMPARE(chart.drawn_points("run 1", "val_loss"), 17);
        chart.remove_run("run 1"); // a run deleted from the runs list
        QCOMPARE(chart.drawn_points("run 1", "loss"), 0);
        QVERIFY(chart.line_name("run 1", "loss").isEmpty());

        // A constant learning rate, smoothed to within rounding of itself.
        MetricChart lr_chart("lr");
        lr_chart.resize(500, 300);
        MetricSeries lr;
        for (int i = 0; i < 100; ++i)
            lr.append({double(i), 0, i % 2 ? 0.05 : 0.05 * (1 + 1e-12)});
        lr_chart.draw({{"run 1", "lr", &lr, 0}}, XAxis::Step, false);
        const R lr_y = lr_chart.y_axis_range();
        QVERIFY2(lr_y.lo <= 0.045 && lr_y.hi >= 0.055 && lr_y.ticks >= 3,
                 qPrintable(QString("%1 .. %2, %3 ticks").arg(lr_y.lo).arg(lr_y.hi).arg(lr_y.ticks)));
    }

    // TensorBoard's smoothing: per-step series only, with the raw values drawn
    // faintly behind; an epoch's values and the learning rate as they are.
    void smoothing_is_for_per_step_series()
    {
        TrainingMonitor monitor;
        monitor.resize(900, 600);
        monitor.show();
        const double accuracy[] = {0.80, 0.86, 0.89, 0.91, 0.92};
        for (int epoch = 1; epoch <= 5; ++epoch) {
            for (int b = 1; b <= 10; ++b) {
                const double step = (epoch - 1) * 10 + b;
                monitor.post("r", "batch_loss", {step, epoch - 1 + b / 10.0, 1.0 / step + (b % 2) * 0.1});
                monitor.post("r", "lr", {step, epoch - 1 + b / 10.0, epoch < 3 ? 0.1 : 0.01});
            }
            monitor.post("r", "accuracy", {epoch * 10.0, double(epoch), accuracy[epoch - 1]});
        }
        monitor.set_smoothing(0.9);
        monitor.refresh();
        QCOMPARE(monitor.series("r", "batch_loss")->smoothing(), 0.9);
        QCOMPARE(monitor.series("r", "accuracy")->smoothing(), 0.0);
        QCOMPARE(monitor.series("r", "lr")->smoothing(), 0.0);
        QCOMPARE(monitor.series("r", "accuracy")->smoothed(4), 0.92); // the run's true end
        QVERIFY(monitor.drawn_points("r", "batch_loss", true) > 0);    // raw, behind the smoothed
        QCOMPARE(monitor.drawn_points("r", "accuracy", true), 0);
        monitor.set_smoothing(0);
        monitor.refresh();
        QCOMPARE(monitor.drawn_points("r", "batch_loss", true), 0);
    }

    // Save dialogs start beside the script, or in the documents folder:
    // never in the process's working directory (issue 17).
    void save_dialogs_start_beside_the_script()
    {
        QCOMPARE(save_location("model.nrt", "/tmp/experiments/mnist.lua"), QString("/tmp/experiments/model.nrt"));
        const QString documents = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
        QCOMPARE(save_location("loss.png"), QDir(documents).filePath("loss.png"));
    }

    // A costly redraw (here: a UI thread that computed for 40 ms) spaces the
    // next ones out; a cheap one brings back 20 a second.
    void redraws_stay_within_the_ui_cpu_budget()
    {
        QCOMPARE(TrainingMonitor::redraw_interval_ms(0), TrainingMonitor::kMinRedrawMs);
        QCOMPARE(TrainingMonitor::redraw_interval_ms(5), 200);
        QCOMPARE(TrainingMonitor::redraw_interval_ms(500), TrainingMonitor::kMaxRedrawMs);

        TrainingMonitor monitor;
        monitor.refresh();
        volatile double sink = 0;
        for (const double start = TrainingMonitor::thread_cpu_ms(); TrainingMonitor::thread_cpu_ms() - start < 40;)
            sink = sink + std::sqrt(sink + 1);
        monitor.refresh();
        QCOMPARE(monitor.current_redraw_interval_ms(), TrainingMonitor::kMaxRedrawMs);
        monitor.refresh();
        QVERIFY(monitor.current_redraw_interval_ms() < 200);
    }

    void plugin_browser_lists_builtins()
    {
        PluginBrowser browser(test::registry());
        QCOMPARE(browser.entry_count(), int(test::registry().entries().size()));
        QVERIFY(browser.select("Dense"));
        QVERIFY(browser.details().contains("inputs"));
        QVERIFY(browser.details().contains("xavier"));
        QSignalSpy inserted(&browser, &PluginBrowser::insert_requested);
        QCOMPARE(PluginBrowser::constructor_call(*test::registry().find("Dense")),
                 QString("nn.Dense{inputs = 1, outputs = 1}"));
        QCOMPARE(PluginBrowser::constructor_call(*test::registry().find("ReLU")), QString("nn.ReLU()"));
        QCOMPARE(PluginBrowser::constructor_call(*test::registry().find("Reshape")),
                 QString("nn.Reshape{shape = {1}}"));
        QCOMPARE(PluginBrowser::constructor_call(*test::registry().find("SGD")),
                 QString("optim.SGD(model:parameters(), {lr = 0.01})"));
    }

    // Insert into editor writes Lua that compiles: a line of its own, the
    // commas of a table's list, the first placeholder selected (issue 17:
    // it wrote "nn.Dense{...}optim.Adam(...)" on one line).
    void insert_writes_valid_lua()
    {
        CodeEditor editor;
        editor.setPlainText("local model = nn.Sequential{\n    nn.Dense{inputs = 2, outputs = 3}\n}\n");
        QTextCursor c = editor.textCursor();
        c.setPosition(editor.toPlainText().indexOf("}\n}") + 1); // after the Dense, inside the list
        editor.setTextCursor(c);
        editor.insert_snippet(PluginBrowser::constructor_call(*test::registry().find("ReLU")));
        editor.insert_snippet(PluginBrowser::constructor_call(*test::registry().find("Dense")));
        QCOMPARE(editor.textCursor().selectedText(), QString("1")); // inputs = [1]
        editor.textCursor().insertText("3");
        c = editor.textCursor();
        c.movePosition(QTextCursor::End);
        editor.setTextCursor(c);
        editor.insert_snippet(PluginBrowser::constructor_call(*test::registry().find("SGD")));
        const QString text = editor.toPlainText();
        QCOMPARE(text, QString("local model = nn.Sequential{\n"
                               "    nn.Dense{inputs = 2, outputs = 3},\n"
                               "    nn.ReLU(),\n"
                               "    nn.Dense{inputs = 3, outputs = 1},\n"
                               "}\n"
                               "optim.SGD(model:parameters(), {lr = 0.01})"));
        lua::LuaRuntime runtime;
        const lua::RunResult run = runtime.run_string(text.toStdString() + "\nassert(#model == 3)", "@inserted.lua");
        QVERIFY2(run.status == lua::RunResult::Status::Ok, run.message.c_str());
    }

    // Seed 001's table: the plotted derivatives are the formulas'.
    void activation_explorer_matches_formulas()
    {
        ActivationExplorer explorer(test::registry(), test::context());
        QVERIFY(explorer.activations().contains("Sigmoid"));
        QVERIFY(explorer.activations().contains("ArcTan"));
        const auto sig = explorer.evaluate("Sigmoid", -4, 4, 9);
        for (size_t i = 0; i < sig.x.size(); ++i) {
            const double f = 1 / (1 + std::exp(-sig.x[i]));
            QVERIFY(std::fabs(sig.f[i] - f) < 1e-6);
            QVERIFY(std::fabs(sig.df[i] - f * (1 - f)) < 1e-6);
        }
        const auto atan = explorer.evaluate("ArcTan", -2, 2, 5);
        for (size_t i = 0; i < atan.x.size(); ++i)
            QVERIFY(std::fabs(atan.df[i] - 1 / (1 + atan.x[i] * atan.x[i])) < 1e-6);
        const auto softmax = explorer.evaluate("Softmax", -3, 3, 7); // over (x, 0): the sigmoid
        for (size_t i = 0; i < softmax.x.size(); ++i)
            QVERIFY(std::fabs(softmax.f[i] - 1 / (1 + std::exp(-softmax.x[i]))) < 1e-6);
    }

    void quick_form_writes_a_script()
    {
        QuickExperiment form(test::registry());
        QuickExperiment::Settings s;
        s.dataset = "fashion_mnist";
        s.hidden = {256, 128};
        s.activation = "relu";
        s.optimizer = "SGD";
        s.lr = 0.05;
        QString error;
        const QString lua = QuickExperiment::script(s, {}, error);
        QVERIFY(lua.contains("nn.Dense{inputs = 784, outputs = 256, activation = \"relu\"}"));
        QVERIFY(lua.contains("nn.Dense{inputs = 128, outputs = 10}"));
        QVERIFY(lua.contains("nn.CrossEntropyLoss()"));
        QVERIFY(lua.contains("optim.SGD(model:parameters(), {lr = 0.05})"));
        QList<int> sizes;
        QVERIFY(!QuickExperiment::parse_hidden("256, x", sizes, error));
        QVERIFY(error.contains("'x' is not a layer size"));

        // The Data panel's dataset: data.current(), split and standardized.
        s.dataset = QuickExperiment::kPanelKey;
        QVERIFY(QuickExperiment::script(s, {}, error).isEmpty());
        QVERIFY2(error.contains("Open a dataset in the Data panel first"), qPrintable(error));
        QVERIFY(QuickExperiment::script(s, {"notes.csv", 3, 0, false, false, {}}, error).isEmpty());
        QVERIFY2(error.contains("notes.csv has no targets"), qPrintable(error));
        const QString table = QuickExperiment::script(s, {"iris.csv", 4, 3, false, true, {}}, error);
        QVERIFY(table.contains("data.current():split(0.8"));
        QVERIFY(table.contains("validation_set:normalize(train_set)"));
        QVERIFY(table.contains("nn.Dense{inputs = 4, outputs = 256, activation = \"relu\"}"));
        QVERIFY(table.contains("nn.Dense{inputs = 128, outputs = 3}"));
        QVERIFY(table.contains("nn.CrossEntropyLoss()"));
        const QString odd = QuickExperiment::script(s, {"two\nlines.csv", 4, 3, false, true, {}}, error);
        QVERIFY(odd.contains("-- Dataset: two lines.csv, as opened"));
        const QString values = QuickExperiment::script(s, {"prices.csv", 5, 2, true, true, {}}, error);
        QVERIFY(values.contains("nn.Dense{inputs = 128, outputs = 2}"));
        QVERIFY(values.contains("nn.MSELoss()"));
        QVERIFY(table.contains("metrics = {\"accuracy\"}") && !values.contains("metrics"));
    }

    // The form's generated datasets keep the size it writes: their options
    // tables refuse unknown keys, so `n = 400` (ignored before) would fail.
    void quick_form_datasets_have_their_size()
    {
        lua::LuaRuntime rt;
        int checked = 0;
        for (const auto &[key, label] : QuickExperiment::datasets()) {
            QuickExperiment::Settings s;
            s.dataset = key;
            QString error;
            const QString lua = QuickExperiment::script(s, {}, error);
            const QRegularExpressionMatch call =
                QRegularExpression(R"(data\.(moons|spirals|gaussians|sine|xor)\{[^}]*count = (\d+)[^}]*\})").match(lua);
            if (!call.hasMatch())
                continue; // gates, Fashion-MNIST: no size to give
            const QString check = "local ds = " + call.captured(0) + "\nassert(#ds == " + call.captured(2) +
                                  ", 'the form asked for " + call.captured(2) + " samples, got ' .. #ds)";
            QVERIFY2(run_lua(rt, check.toUtf8().constData()), qPrintable(key + ": " + call.captured(0)));
            ++checked;
        }
        QCOMPARE(checked, 4); // gaussians, moons, spirals, sine
        QVERIFY(!run_lua(rt, "data.moons{n = 400}")); // the form's old text
    }

    // What the window subscribes to: the "model" event says which model
    // trains on what, whether train.fit, monitor.watch or an optimizer said it.
    void model_events_say_what_trains()
    {
        lua::LuaRuntime rt;
        std::vector<std::shared_ptr<const WatchedModel>> seen; // dropped before rt: its plugins run them
        rt.monitor().subscribe([&](const MonitorEvent &e) {
            if (e.type == MonitorEvent::Type::Model)
                seen.push_back(e.watched);
        });
        QVERIFY(run_lua(rt, "model = nn.Sequential{nn.Dense(2, 4), nn.Dense(4, 2)}\n"
                            "opt = optim.SGD(model, {lr = 0.1})"));
        QCOMPARE(seen.size(), size_t(1)); // the optimizer announced its model, without data
        QCOMPARE(seen[0]->model.get(), global_model(rt, "model"));
        QVERIFY(!seen[0]->data.defined());

        QVERIFY(run_lua(rt, "x, y = tensor.randn{30, 2}, tensor.ones{30}\n"
                            "monitor.watch(model, {x = x, y = y}, {x:narrow(1, 1, 10), y:narrow(1, 1, 10)})\n"
                            "opt2 = optim.Adam(model:parameters(), {lr = 0.01})\n"
                            "x:fill(5)"));
        QCOMPARE(seen.size(), size_t(2)); // the second optimizer's model was watched already
        const WatchedModel &w = *seen[1];
        QCOMPARE(w.data.rows, int64_t(30));
        QCOMPARE(w.data.x.shape(), (Shape{30, 2}));
        QVERIFY(w.data.x[0] != 5.0f); // a copy: what the script does to x later is not seen
        QCOMPARE(w.validation.rows, int64_t(10));
        QCOMPARE(w.validation.y.shape(), Shape{10});

        // A layer alone or a model written in Lua has no graph: nothing.
        QVERIFY(run_lua(rt, "local d = nn.Dense(2, 2)\noptim.SGD(d, {lr = 0.1})\nmonitor.watch(d)\nmonitor.watch({})"));
        QCOMPARE(seen.size(), size_t(2));
        const lua::RunResult bad = rt.run_string("monitor.watch(42)", "=probe");
        QCOMPARE(bad.status, lua::RunResult::Status::Error);
        QVERIFY2(QString::fromStdString(bad.message).startsWith("probe:1: monitor.watch: argument 1 must be a model"),
                 bad.message.c_str());

        // train.fit watches its model, its data and its validation data.
        QVERIFY(run_lua(rt, "ds = data.xor{count = 40}\n"
                            "train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = opt, data = ds,\n"
                            "          validation = ds, epochs = 1, verbose = 0}"));
        QCOMPARE(seen.size(), size_t(3));
        QCOMPARE(seen[2]->model.get(), global_model(rt, "model"));
        QCOMPARE(seen[2]->data.dataset.size(), int64_t(40));
        QCOMPARE(seen[2]->validation.rows, int64_t(40));
    }

    // A chain is a vertical list: one box per layer, the shapes between.
    void chain_graph_is_a_vertical_list()
    {
        lua::LuaRuntime rt;
        QVERIFY(run_lua(rt, "model = nn.Sequential{nn.Dense(2, 8), nn.ReLU(), nn.Dense(8, 3)}"));
        const ModelGraph g = graph_of(rt, "model"); // shapes from the first layer's inputs
        QCOMPARE(titles(g), (QStringList{"Input", "Dense", "ReLU", "Dense", "Output"}));
        QCOMPARE(g.vertices[1].detail, QString("node 1 · 24 params"));
        QCOMPARE(g.vertices[2].detail, QString("node 2 · 0 params"));
        GraphView view;
        view.resize(400, 700);
        view.set_graph(g);
        const GraphLayout &layout = view.graph_layout();
        for (size_t v = 1; v < layout.boxes.size(); ++v) {
            QCOMPARE(layout.boxes[v].center().x(), layout.boxes[0].center().x());
            QVERIFY(layout.boxes[v].top() > layout.boxes[v - 1].bottom());
        }
        QCOMPARE(layout.crossings, 0);
        QCOMPARE(view.box_texts(), (QStringList{"Input", "Dense\nnode 1 · 24 params", "ReLU\nnode 2 · 0 params",
                                                "Dense\nnode 3 · 27 params", "Output"}));
        QCOMPARE(view.shape_labels(), (QStringList{"[N, 2]", "[N, 8]", "[N, 8]", "[N, 3]"}));
        QCOMPARE(view.scale_factor(), 1.0);
    }

    // A residual block shows its branch and merge; two inputs read in the
    // "wrong" order are untangled; nothing overlaps.
    void graph_branches_sit_side_by_side()
    {
        lua::LuaRuntime rt;
        QVERIFY(run_lua(rt, R"(
            local x = nn.Input{2}
            local h = nn.Dense(2, 8)(x)
            local r = nn.Dense(8, 8)(h)
            residual = nn.Model{inputs = x, outputs = nn.Dense(8, 2)(nn.Add()(h, r))}
            local a, b = nn.Input{shape = {3}, name = "a"}, nn.Input{shape = {5}, name = "b"}
            crossed = nn.Model{inputs = {a, b}, outputs = {nn.Dense(5, 4)(b), nn.Dense(3, 4)(a)}})"));
        const ModelGraph res = graph_of(rt, "residual");
        QCOMPARE(titles(res), (QStringList{"Input", "Dense", "Dense", "Add", "Dense", "Output"}));
        QCOMPARE(res.vertices[3].detail, QString("node 3 · 0 params"));
        GraphView view;
        view.resize(500, 700);
        view.set_graph(res);
        const GraphLayout &layout = view.graph_layout();
        QCOMPARE(layout.ranks, (std::vector<int>{0, 1, 2, 3, 4, 5}));
        QCOMPARE(layout.crossings, 0);
        QVERIFY(!boxes_overlap(layout));
        // The skip connection h -> Add passes rank 2 beside the second Dense, not through it.
        const auto skip = std::find_if(res.edges.begin(), res.edges.end(),
                                       [](const ModelGraph::Edge &e) { return e.from == 1 && e.to == 3; });
        QVERIFY(skip != res.edges.end());
        const QPolygonF &route = layout.routes[static_cast<size_t>(skip - res.edges.begin())];
        QCOMPARE(route.size(), qsizetype(4));
        QVERIFY(route[1].x() < layout.boxes[2].left() || route[1].x() > layout.boxes[2].right());
        QCOMPARE(skip->to_port, 0);
        QCOMPARE(skip->to_ports, 2);
        // Each tensor's shape once, though h feeds two nodes.
        QCOMPARE(view.shape_labels().size(), 5);
        QCOMPARE(view.shape_labels().count("[N, 8]"), 3);

        const ModelGraph crossed = graph_of(rt, "crossed");
        QCOMPARE(titles(crossed), (QStringList{"Input 'a'", "Input 'b'", "Dense", "Dense", "Output 1", "Output 2"}));
        view.set_graph(crossed);
        QCOMPARE(view.graph_layout().crossings, 0);
        QVERIFY(!boxes_overlap(view.graph_layout()));
        QCOMPARE(view.shape_labels(), (QStringList{"[N, 3]", "[N, 5]", "[N, 4]", "[N, 4]"}));
    }

    // A wide graph shrinks to fit, down to a floor, then scrolls; so does a long one.
    void large_graphs_scroll()
    {
        lua::LuaRuntime rt;
        QVERIFY(run_lua(rt, R"(
            local x = nn.Input{2}
            local branches = {}
            for i = 1, 14 do branches[i] = nn.Dense(2, 4)(x) end
            wide = nn.Model{inputs = x, outputs = nn.Concat{axis = 2}(branches)}
            long = nn.Sequential()
            for i = 1, 40 do long:add(nn.Dense(4, 4)) end)"));
        GraphView view;
        view.resize(420, 500);
        view.show();
        view.set_graph(graph_of(rt, "wide"));
        QCOMPARE(view.graph_layout().crossings, 0);
        QCOMPARE(view.scale_factor(), GraphView::kMinScale);
        QVERIFY(view.horizontalScrollBar()->maximum() > 0);
        view.resize(3000, 500);
        QTest::qWait(20);
        QCOMPARE(view.scale_factor(), 1.0);
        view.set_graph(graph_of(rt, "long"));
        QCOMPARE(view.box_texts().size(), 42);
        QVERIFY(view.verticalScrollBar()->maximum() > 0);
    }

    void console_links_error_locations()
    {
        QString path;
        int line = 0;
        QVERIFY(Console::parse_location("scripts/xor.lua:12: attempt to call a nil value", path, line));
        QCOMPARE(path, QString("scripts/xor.lua"));
        QCOMPARE(line, 12);
        QVERIFY(!Console::parse_location("no location here", path, line));
        Console console;
        console.error("scripts/xor.lua:12: boom");
        QVERIFY(console.plain_text().contains("scripts/xor.lua:12: boom"));
        console.print("a -> b & <c>"); // shown as typed, not as markup
        QVERIFY(console.plain_text().contains("a -> b & <c>"));
    }
};

QTEST_MAIN(TestGuiPanels)
#include "tst_gui_panels.moc"
