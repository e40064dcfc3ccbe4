// The window's panels that stand on their own: the training monitor's
// smoothing, decimation and export, the plugin browser, the activation
// explorer, the quick-experiment form and the console's error links.
#include "test_support.h"

#include "activation_explorer.h"
#include "console.h"
#include "metric_chart.h"
#include "metric_series.h"
#include "plugin_browser.h"
#include "quick_experiment.h"
#include "training_monitor.h"

#include <QLegend>
#include <QLegendMarker>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <thread>

using namespace neurite;
using namespace neurite::gui;

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

        // Validation is dashed and left out of the legend, which lists runs.
        MetricSeries val;
        for (int i = 0; i <= 1600; i += 100)
            val.append({double(i), i / 100.0, 2.5 / (1 + i * 0.01)});
        chart.draw({{"run 1", "loss", &s, 0}, {"run 1", "val_loss", &val, 0}}, XAxis::Step, false);
        QCOMPARE(chart.chart()->title(), QString("loss (dashed: validation)"));
        QVERIFY(QTest::qWaitForWindowExposed(&chart)); // markers show once the legend is laid out
        QTest::qWait(20);
        QStringList listed;
        for (QLegendMarker *m : chart.chart()->legend()->markers())
            if (m->isVisible())
                listed << m->label();
        QCOMPARE(listed, QStringList{"run 1"});
        QCOMPARE(chart.drawn_points("run 1", "val_loss"), 17);

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
        QCOMPARE(PluginBrowser::constructor_call(*test::registry().find("SGD")),
                 QString("optim.SGD(model:parameters(), {lr = 0.01})"));
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
        QVERIFY(QuickExperiment::script(s, {"notes.csv", 3, 0, false, false}, error).isEmpty());
        QVERIFY2(error.contains("notes.csv has no targets"), qPrintable(error));
        const QString table = QuickExperiment::script(s, {"iris.csv", 4, 3, false, true}, error);
        QVERIFY(table.contains("data.current():split(0.8"));
        QVERIFY(table.contains("validation_set:normalize(train_set)"));
        QVERIFY(table.contains("nn.Dense{inputs = 4, outputs = 256, activation = \"relu\"}"));
        QVERIFY(table.contains("nn.Dense{inputs = 128, outputs = 3}"));
        QVERIFY(table.contains("nn.CrossEntropyLoss()"));
        const QString odd = QuickExperiment::script(s, {"two\nlines.csv", 4, 3, false, true}, error);
        QVERIFY(odd.contains("-- Dataset: two lines.csv, as opened"));
        const QString values = QuickExperiment::script(s, {"prices.csv", 5, 2, true, true}, error);
        QVERIFY(values.contains("nn.Dense{inputs = 128, outputs = 2}"));
        QVERIFY(values.contains("nn.MSELoss()"));
        QVERIFY(table.contains("metrics = {\"accuracy\"}") && !values.contains("metrics"));
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
