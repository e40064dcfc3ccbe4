// The whole window, offscreen: a run delivers chart points, Stop ends a run
// within a second, the data panel loads files and reports broken ones, the
// quick form writes a script that runs, an error marks its line, and a
// screenshot after a short run is saved for a person to look at.
#include "test_support.h"

#include "code_editor.h"
#include "console.h"
#include "data_panel.h"
#include "editor_tabs.h"
#include "graph_view.h"
#include "main_window.h"
#include "model_panel.h"
#include "quick_experiment.h"
#include "training_monitor.h"

#include <neurite/plugin.hpp>

#include <QDir>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QMessageBox>
#include <QTimer>
#include <QApplication>
#include <QScrollArea>
#include <QScrollBar>
#include <QtTest>

#include "gui_test_support.h"

using namespace neurite;
using namespace neurite::gui;

namespace {

using test::run_quick;
using test::wait_for_run;

void write_file(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

QByteArray be32(uint32_t v)
{
    const char bytes[] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    return QByteArray(bytes, 4);
}

using test::kXorScript;

// XOR trained by a loop of the script's own: no train.fit. `extra` runs
// before the loop (e.g. monitor.watch), `each_step` inside it.
QString own_loop(const QString &extra, const QString &each_step)
{
    return QString(R"(
local x, y = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}, tensor{1, 2, 2, 1}
local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 8, activation = "tanh"}, nn.Dense{inputs = 8, outputs = 2}}
local opt = optim.Adam(model, {lr = 0.05})
local loss = nn.CrossEntropyLoss()
%1
for step = 1, 200 do
  opt:zero_grad()
  local pred = model:forward(x)
  local value = loss:forward(pred, y)
  model:backward(x, loss:backward(pred, y), false)
  opt:step()
  %2
end)")
        .arg(extra, each_step);
}

// A residual MLP on two spirals: a graph model, one input, one output.
const char *kResidualScript = R"(
local ds = data.spirals{count = 300, seed = 3}
local x = nn.Input{2}
local h = nn.Dense{inputs = 2, outputs = 32, activation = "tanh"}(x)
local r = nn.Dense{inputs = 32, outputs = 32, activation = "tanh"}(h)
local model = nn.Model{inputs = x, outputs = nn.Dense{inputs = 32, outputs = 2}(nn.Add()(h, r))}
train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model, {lr = 0.01}),
          data = ds, epochs = 20, batch_size = 30, verbose = 0}
)";

// Two named inputs, two heads, Concat and Add, trained by a plain loop.
const char *kTwoInputScript = R"(
local a, b = nn.Input{shape = {4}, name = "left"}, nn.Input{shape = {3}, name = "right"}
local ha = nn.Dense{inputs = 4, outputs = 8, activation = "relu"}(a)
local hb = nn.Dense{inputs = 3, outputs = 8, activation = "relu"}(b)
local trunk = nn.Dense{inputs = 16, outputs = 16, activation = "relu"}(nn.Concat{axis = 2}(ha, hb))
local class = nn.Dense{inputs = 16, outputs = 3}(trunk)
local value = nn.Dense{inputs = 16, outputs = 1}(nn.Add()(trunk, nn.Dense{inputs = 8, outputs = 16}(hb)))
local model = nn.Model{inputs = {a, b}, outputs = {class, value}}
local opt = optim.SGD(model, {lr = 0.01})
local xa, xb, mse = tensor.randn{16, 4}, tensor.randn{16, 3}, nn.MSELoss()
for step = 1, 20 do
  opt:zero_grad()
  local out = model:forward{xa, xb}
  model:backward({xa, xb}, {mse:backward(out[1], tensor.zeros{16, 3}), mse:backward(out[2], tensor.zeros{16, 1})}, false)
  opt:step()
end
)";

void save_screenshot(MainWindow &w, const QString &name)
{
    w.findChild<QDockWidget *>("model")->raise();
    QTest::qWait(100);
    QDir().mkpath(NEURITE_SCREENSHOT_DIR);
    QVERIFY(w.grab().save(QString(NEURITE_SCREENSHOT_DIR) + "/" + name, "PNG"));
}

// The form on the Data panel's dataset: one ReLU hidden layer, Adam.
QuickExperiment::Settings panel_settings(int hidden, double lr, int batch_size, int epochs)
{
    QuickExperiment::Settings s;
    s.dataset = QuickExperiment::kPanelKey;
    s.hidden = {hidden};
    s.activation = "relu";
    s.lr = lr;
    s.batch_size = batch_size;
    s.epochs = epochs;
    return s;
}

int run_quick_xor(MainWindow &w, int hidden, int epochs)
{
    QuickExperiment::Settings s;
    s.dataset = "xor";
    s.hidden = {hidden};
    s.epochs = epochs;
    return run_quick(w, s);
}

} // namespace

class TestGuiWindow : public QObject {
    Q_OBJECT

private slots:
    void init() { neurite::test::use_fresh_run_store(); }

    void run_delivers_chart_points()
    {
        MainWindow w;
        w.show();
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(kXorScript, "xor");
        const auto [code, interrupted] = wait_for_run(done);
        QCOMPARE(code, 0);
        QVERIFY(!interrupted);
        w.monitor()->refresh();
        QVERIFY(!w.monitor()->runs().isEmpty());
        const QString run = w.monitor()->runs().first();
        const MetricSeries *loss = w.monitor()->series(run, "loss");
        QVERIFY(loss);
        QVERIFY2(loss->size() >= 150, qPrintable(QString::number(loss->size())));
        QVERIFY(loss->points().back().value < loss->points().front().value);
        QVERIFY(w.monitor()->drawn_points(run, "loss") > 0);
    }

    // Running a script again is a run of its own (issue 17: re-runs merged
    // into one series, named fashion_mnist_mlp-1 every time).
    void a_second_run_is_a_run_of_its_own()
    {
        MainWindow w;
        w.show();
        QSignalSpy done(&w, &MainWindow::run_finished);
        for (int i = 0; i < 2; ++i) {
            w.run_script(kXorScript, "xor.lua");
            QCOMPARE(wait_for_run(done).first, 0);
        }
        w.monitor()->refresh();
        // train.fit{name = "xor"} starts a run of its own inside the script's:
        // two runs of the script give two runs with a loss, named apart.
        QStringList trained;
        for (const QString &run : w.monitor()->runs())
            if (w.monitor()->series(run, "loss"))
                trained << run;
        QCOMPARE(trained.size(), 2);
        QVERIFY2(trained[0] != trained[1] && trained[0].startsWith("xor-") && trained[1].startsWith("xor-"),
                 qPrintable(trained.join(", ")));
    }

    // Every step's point arrives, even when the run posts them faster than
    // the charts redraw (5 points a step, one step an epoch).
    void fast_run_loses_no_points()
    {
        MainWindow w;
        w.show();
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(R"(
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 4, activation = "tanh"}, nn.Dense{inputs = 4, outputs = 2}}
train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model:parameters(), {lr = 0.1}),
          data = {x = x, y = tensor{1, 2, 2, 1}}, epochs = 20000, batch_size = 4, verbose = 0, name = "fast"})",
                     "fast");
        QCOMPARE(wait_for_run(done).first, 0);
        w.monitor()->refresh();
        const QString run = w.monitor()->runs().last();
        QCOMPARE(w.monitor()->dropped_points(), uint64_t(0));
        for (const char *name : {"batch_loss", "loss", "lr", "samples_per_s"}) {
            const MetricSeries *s = w.monitor()->series(run, name);
            QVERIFY2(s && s->size() == 20000, name);
            QCOMPARE(s->points().back().step, 20000.0);
        }
    }

    void stop_ends_a_run_within_a_second()
    {
        MainWindow w;
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script("while true do end", "spin");
        QTest::qWait(400);
        QVERIFY(w.running());
        QElapsedTimer clock;
        clock.start();
        w.stop();
        const auto [code, interrupted] = wait_for_run(done, 5000);
        QVERIFY2(clock.elapsed() < 1000, qPrintable(QString::number(clock.elapsed())));
        QVERIFY(interrupted);
        QCOMPARE(code, 130);
        // The window goes on: the next run works.
        w.run_script("print('after stop')", "after");
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY(w.console()->plain_text().contains("after stop"));
    }

    void error_marks_its_line()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath("broken.lua");
        write_file(path, "local a = 1\nlocal b = a + nil\n");
        MainWindow w;
        QVERIFY(w.editor()->open_file(path));
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_current();
        QCOMPARE(wait_for_run(done).first, 1);
        QCOMPARE(w.editor()->current()->error_line(), 2);
        QVERIFY(w.console()->plain_text().contains("broken.lua:2:"));
    }

    // train.fit's own errors point at the script's line in the window too.
    void fit_error_marks_the_scripts_line()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath("no_loss.lua");
        write_file(path, "local model = nn.Sequential{nn.Dense(2, 1)}\n"
                         "local x = tensor{{0, 1}}\n"
                         "train.fit{model = model, data = {x = x, y = tensor{{1}}}, epochs = 1}\n");
        MainWindow w;
        QVERIFY(w.editor()->open_file(path));
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_current();
        QCOMPARE(wait_for_run(done).first, 1);
        QVERIFY2(w.console()->plain_text().contains("no_loss.lua:3: train.fit: 'loss' is required"),
                 qPrintable(w.console()->plain_text()));
        QCOMPARE(w.editor()->current()->error_line(), 3);
        QVERIFY(!w.model_panel()->has_confusion()); // no fit finished: nothing to show
    }

    void data_panel_loads_and_reports()
    {
        QTemporaryDir dir;
        // Three 2×2 images and their labels, IDX as MNIST writes it.
        write_file(dir.filePath("tiny-images-idx3-ubyte"),
                   be32(0x803) + be32(3) + be32(2) + be32(2) + QByteArray(12, char(7)));
        write_file(dir.filePath("tiny-labels-idx1-ubyte"), be32(0x801) + be32(3) + QByteArray("\x00\x01\x01", 3));
        write_file(dir.filePath("table.csv"), "a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n");
        write_file(dir.filePath("broken-images-idx3-ubyte"), be32(0x803) + be32(3) + be32(2));

        MainWindow w;
        DataPanel *panel = w.data_panel();
        QVERIFY(panel->open_path(dir.filePath("tiny-images-idx3-ubyte")));
        QCOMPARE(panel->current().size(), int64_t(3));
        QCOMPARE(panel->bar_counts(), (QList<int>{1, 2}));
        QCOMPARE(panel->shown_images(), 3);
        // A narrower panel regrids with fewer columns rather than clipping.
        DataPanel alone;
        alone.resize(700, 700);
        alone.show();
        QVERIFY(alone.open_path(dir.filePath("tiny-images-idx3-ubyte")));
        QTest::qWait(50);
        const int wide = alone.grid_columns();
        alone.resize(260, 700);
        QTest::qWait(50);
        QVERIFY2(wide >= 8 && alone.grid_columns() < wide && alone.grid_columns() >= 2,
                 qPrintable(QString("%1 -> %2").arg(wide).arg(alone.grid_columns())));
        // Scrolled down in one file, the next one is shown from its top (issue 17).
        alone.resize(260, 220);
        QTest::qWait(50);
        QScrollBar *bar = alone.findChild<QScrollArea *>()->verticalScrollBar();
        QVERIFY2(bar->maximum() > 0, "the panel should scroll at 260 x 220");
        bar->setValue(bar->maximum());
        QVERIFY(alone.open_path(dir.filePath("table.csv")));
        QCOMPARE(bar->value(), 0);

        QVERIFY(panel->open_path(dir.filePath("table.csv")));
        QCOMPARE(panel->current().size(), int64_t(3));
        QCOMPARE(panel->feature_rows(), 2);
        QCOMPARE(panel->bar_counts(), (QList<int>{2, 1}));

        QVERIFY(!panel->open_path(dir.filePath("broken-images-idx3-ubyte")));
        QVERIFY2(panel->error_text().contains("broken-images-idx3-ubyte"), qPrintable(panel->error_text()));
        QCOMPARE(panel->current().size(), int64_t(3)); // the table stays

        // What the panel shows is data.current() in a script.
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script("local ds = data.current()\nassert(#ds == 3, #ds)\nprint('classes', #ds.classes)", "current");
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY(w.console()->plain_text().contains("classes\t2"));
    }

    void quick_form_script_runs()
    {
        MainWindow w;
        QCOMPARE(run_quick_xor(w, 4, 30), 0);
        QVERIFY(w.editor()->current()->toPlainText().contains("train.fit{"));
        QVERIFY(w.model_panel()->summary().contains("Dense"));
        // Two inputs, two classes: the lecture's XOR picture, drawn while training.
        QTest::qWait(100);
        QVERIFY(w.model_panel()->has_boundary());
        QVERIFY(w.model_panel()->boundary().width() >= 200);
        // 30 epochs of one batch: the last picture is of step 30, and the run
        // is named after what the form tried.
        QCOMPARE(w.model_panel()->boundary_caption(), QString("after 30 steps"));
        // A truth table is its own validation set: the confusion matrix of its 4 rows.
        QVERIFY2(w.model_panel()->confusion_caption().contains("validation samples: accuracy") &&
                     w.model_panel()->confusion_caption().endsWith("over 4"),
                 qPrintable(w.model_panel()->confusion_caption()));
        QVERIFY2(w.monitor()->runs().last().startsWith("xor 4 tanh Adam lr="),
                 qPrintable(w.monitor()->runs().join(", ")));
    }

    // Seed 004's function approximation: one input, one value, the data as
    // dots and the model's curve, live; build/screenshots/panel_fit.png.
    void regression_draws_its_fitted_curve()
    {
        MainWindow w;
        w.resize(1400, 860);
        w.show();
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(R"(
local train_ds = data.sine{count = 200, seed = 1}
local model = nn.Sequential{nn.Dense(1, 20, {activation = "tanh"}), nn.Dense(20, 1)}
train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.Adam(model, {lr = 0.01}),
          data = train_ds, epochs = 300, batch_size = 20, verbose = 0})",
                     "sine");
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY(w.model_panel()->has_boundary());
        QCOMPARE(w.model_panel()->boundary_caption(), QString("after 3000 steps"));
        QVERIFY(!w.model_panel()->has_confusion()); // regression: no classes to confuse
        const QImage fit = w.model_panel()->boundary();
        // The fitted curve is drawn in blue over most of the width.
        int blue_columns = 0;
        for (int x = 0; x < fit.width(); ++x)
            for (int y = 0; y < fit.height(); ++y)
                if (fit.pixelColor(x, y).blue() > 150 && fit.pixelColor(x, y).red() < 100) {
                    ++blue_columns;
                    break;
                }
        QVERIFY2(blue_columns > fit.width() * 8 / 10, qPrintable(QString::number(blue_columns)));
        w.findChild<QDockWidget *>("model")->raise();
        QTest::qWait(50);
        QDir().mkpath(NEURITE_SCREENSHOT_DIR);
        QVERIFY(w.grab().save(QString(NEURITE_SCREENSHOT_DIR) + "/panel_fit.png", "PNG"));
    }

    // The window asks the one rule (data.target_kind) whether data holds
    // classes: one-hot rows do, a regression target [N] of real values does
    // not, whatever its shape.
    void class_pictures_follow_the_data_kind()
    {
        MainWindow w;
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(R"(
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{{1, 0}, {0, 1}, {0, 1}, {1, 0}}
local model = nn.Sequential{nn.Dense(2, 8, {activation = "tanh"}), nn.Dense(8, 2), nn.Softmax()}
train.fit{model = model, loss = nn.CategoricalCrossEntropyLoss(), optimizer = optim.Adam(model, {lr = 0.05}),
          data = {x = x, y = y}, epochs = 40, batch_size = 4, verbose = 0})",
                     "onehot");
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY(w.model_panel()->has_boundary());
        QVERIFY2(w.model_panel()->has_confusion() &&
                     w.model_panel()->confusion_caption().contains("training samples: accuracy") &&
                     w.model_panel()->confusion_caption().endsWith("over 4"),
                 qPrintable(w.model_panel()->confusion_caption()));

        MainWindow regression;
        QSignalSpy finished(&regression, &MainWindow::run_finished);
        regression.run_script(R"(
tensor.seed(1)
local x = tensor.rand{16, 2}
local y = x:matmul(tensor{{1}, {0.5}}):reshape{16}
local model = nn.Sequential{nn.Dense(2, 1)}
train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
          data = {x = x, y = y}, epochs = 20, batch_size = 4, verbose = 0})",
                              "plane");
        QCOMPARE(wait_for_run(finished).first, 0);
        QVERIFY(!regression.model_panel()->has_boundary()); // values: no class regions to draw
        QVERIFY(!regression.model_panel()->has_confusion());
    }

    // Run → Export model as ONNX… and File → Open model… (issue 14): the
    // trained XOR model goes out as a checked ONNX file and comes back as
    // the Model panel's graph, with `model` at the console prompt.
    void exports_onnx_and_opens_models()
    {
        QTemporaryDir dir;
        MainWindow w;
        w.show();
        QSignalSpy done(&w, &MainWindow::run_finished);
        const QString onnx = dir.filePath("xor.onnx"), nrt = dir.filePath("xor.nrt");
        w.export_onnx(onnx); // nothing trained yet: a clear error, no file
        QCOMPARE(wait_for_run(done).first, 1);
        QVERIFY(w.console()->plain_text().contains("No trained model to export"));
        QVERIFY(!QFile::exists(onnx));

        w.run_script(kXorScript, "xor");
        QCOMPARE(wait_for_run(done).first, 0);
        w.export_onnx(onnx);
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY2(w.console()->plain_text().contains("Exported the trained model to " + onnx),
                 qPrintable(w.console()->plain_text()));
        QFile file(onnx);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QVERIFY(file.size() > 100);
        w.save_trained_model(nrt);
        QCOMPARE(wait_for_run(done).first, 0);

        for (const QString &path : {onnx, nrt}) {
            w.model_panel()->clear();
            w.open_model(path);
            QCOMPARE(wait_for_run(done).first, 0);
            QVERIFY2(w.console()->plain_text().contains("Opened " + path + ": 32 parameters"),
                     qPrintable(w.console()->plain_text()));
            // Two Dense layers (2 -> 6 -> 2) between the input and the output
            // (the ONNX file has the fused tanh as a node of its own).
            const QStringList boxes = w.model_panel()->graph_view()->box_texts();
            QVERIFY2(boxes.first() == "Input" && boxes.last() == "Output", qPrintable(boxes.join(" | ")));
            QCOMPARE(boxes.filter(QRegularExpression("^Dense\\n")).size(), 2);
            QVERIFY2(w.model_panel()->summary().contains("Dense"), qPrintable(w.model_panel()->summary()));
        }
        w.open_model(dir.filePath("missing.onnx"));
        QCOMPARE(wait_for_run(done).first, 1);
        QVERIFY(w.console()->plain_text().contains("missing.onnx"));
    }

    // A loop of one's own, with no train.fit and no extra call, still shows
    // the model: the optimizer announced it. With monitor.watch(model, data)
    // and a scalar a step, it gets the live boundary and the confusion matrix.
    void own_training_loop_gets_the_model_picture()
    {
        MainWindow w;
        w.resize(1400, 860);
        w.show();
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(own_loop("", ""), "own loop");
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY2(w.model_panel()->summary().contains("Dense"), qPrintable(w.model_panel()->summary()));
        GraphView *graph = w.model_panel()->graph_view();
        QCOMPARE(graph->box_texts(), (QStringList{"Input", "Dense\nnode 1 · 24 params",
                                                  "Dense\nnode 2 · 18 params", "Output"}));
        QCOMPARE(graph->shape_labels(), (QStringList{"[N, 2]", "[N, 8]", "[N, 2]"}));
        QVERIFY(!w.model_panel()->has_boundary()); // no data was named: no picture of it
        QVERIFY(!w.model_panel()->has_confusion());

        w.run_script(own_loop("monitor.watch(model, {x = x, y = y})", "monitor.step() monitor.log(\"loss\", value)"),
                     "own loop, watched");
        QCOMPARE(wait_for_run(done).first, 0);
        QCOMPARE(graph->box_texts().size(), 4);
        QVERIFY(w.model_panel()->has_boundary());
        QCOMPARE(w.model_panel()->boundary_caption(), QString("after 200 steps"));
        QVERIFY2(w.model_panel()->confusion_caption().contains("training samples: accuracy") &&
                     w.model_panel()->confusion_caption().endsWith("over 4"),
                 qPrintable(w.model_panel()->confusion_caption()));
        // Watched but never a step counted: the picture as the run left it.
        w.run_script(own_loop("monitor.watch(model, {x = x, y = y})", ""), "own loop, no steps");
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY(w.model_panel()->has_boundary());
        QCOMPARE(w.model_panel()->boundary_caption(), QString("as the run left it"));
        // Save trained model takes the watched model too.
        QTemporaryDir dir;
        done.clear();
        w.save_trained_model(dir.filePath("own.nrt"));
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY(w.console()->plain_text().contains("Saved the trained model (42 parameters)"));
    }

    // A graph model: its nodes, the merge and the shapes on the edges; its
    // decision boundary as for a Sequential (one input, one output); and a
    // two-input, two-output model drawn with no picture to make.
    // build/screenshots/panel_graph_residual.png, panel_graph_two_inputs.png.
    void graph_model_is_drawn_with_its_shapes()
    {
        MainWindow w;
        w.resize(1400, 860);
        w.show();
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(kResidualScript, "residual");
        QCOMPARE(wait_for_run(done).first, 0);
        GraphView *graph = w.model_panel()->graph_view();
        QCOMPARE(graph->box_texts(), (QStringList{"Input", "Dense\nnode 1 · 96 params", "Dense\nnode 2 · 1,056 params",
                                                  "Add\nnode 3 · 0 params", "Dense\nnode 4 · 66 params", "Output"}));
        QCOMPARE(graph->shape_labels(), (QStringList{"[N, 2]", "[N, 32]", "[N, 32]", "[N, 32]", "[N, 2]"}));
        QCOMPARE(graph->graph_layout().crossings, 0);
        QVERIFY(w.model_panel()->has_boundary());
        QCOMPARE(w.model_panel()->boundary_caption(), QString("after 200 steps"));
        QVERIFY(w.model_panel()->has_confusion());
        save_screenshot(w, "panel_graph_residual.png");

        w.run_script(kTwoInputScript, "two inputs");
        QCOMPARE(wait_for_run(done).first, 0);
        const QStringList boxes = graph->box_texts();
        for (const char *box : {"Input 'left'", "Input 'right'", "Output 1", "Output 2"})
            QVERIFY2(boxes.contains(box), qPrintable(boxes.join(" | ")));
        QVERIFY2(boxes.filter("Concat\nnode").size() == 1 && boxes.filter("Add\nnode").size() == 1,
                 qPrintable(boxes.join(" | ")));
        QCOMPARE(boxes.size(), 12); // 2 inputs, 8 nodes, 2 outputs
        for (const char *shape : {"[N, 4]", "[N, 3]", "[N, 16]", "[N, 1]"})
            QVERIFY2(graph->shape_labels().contains(shape), qPrintable(graph->shape_labels().join(" ")));
        QCOMPARE(graph->graph_layout().crossings, 0);
        QVERIFY(!w.model_panel()->has_boundary());
        QVERIFY(!w.model_panel()->has_confusion());
        save_screenshot(w, "panel_graph_two_inputs.png");
    }

    // A GUI user keeps what the form trained: Save trained model, then the
    // file loads in a script. Before any training there is nothing to save.
    void trained_model_is_saved()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath("xor.nrt");
        MainWindow w;
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.save_trained_model(path);
        QCOMPARE(wait_for_run(done).first, 1);
        QVERIFY(w.console()->plain_text().contains("No trained model to save"));
        QVERIFY(!QFile::exists(path));

        QCOMPARE(run_quick_xor(w, 4, 30), 0);
        done.clear(); // that run's end is not the save's
        w.save_trained_model(path);
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY2(w.console()->plain_text().contains("Saved the trained model (22 parameters) to " + path),
                 qPrintable(w.console()->plain_text().right(300)));
        w.run_script(QString("local m = nn.load('%1')\nprint('loaded', m:parameter_count(), #m)").arg(path), "load");
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY(w.console()->plain_text().contains("loaded\t22\t2"));

        // An unwritable place: the error names it, and the window goes on.
        QCOMPARE(run_quick_xor(w, 4, 5), 0);
        done.clear();
        const QString bad = dir.filePath("no/such/folder/xor.nrt");
        w.save_trained_model(bad);
        QCOMPARE(wait_for_run(done).first, 1);
        QVERIFY2(w.console()->plain_text().contains(bad), qPrintable(w.console()->plain_text().right(300)));
    }

    // The form reuses its own tab run after run, opens a new one when the user
    // edited it (nothing of theirs is overwritten), and makes no tab for a
    // run it is refused (issue 17).
    void quick_form_reuses_its_tab()
    {
        MainWindow w;
        const int before = w.editor()->count();
        QCOMPARE(run_quick_xor(w, 4, 5), 0);
        QCOMPARE(w.editor()->count(), before + 1);
        QCOMPARE(run_quick_xor(w, 8, 5), 0);
        QCOMPARE(w.editor()->count(), before + 1);
        QVERIFY(w.editor()->current()->toPlainText().contains("outputs = 8"));
        w.editor()->current()->appendPlainText("-- a note of mine");
        QCOMPARE(run_quick_xor(w, 6, 5), 0);
        QCOMPARE(w.editor()->count(), before + 2);
        QVERIFY(qobject_cast<CodeEditor *>(w.editor()->widget(before))->toPlainText().contains("-- a note of mine"));
        // While a run goes on, the form's run is refused, without a tab.
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script("local t = monitor.elapsed() while monitor.elapsed() - t < 2 do end", "busy");
        QTRY_VERIFY(w.running());
        w.quick_form()->findChildren<QPushButton *>().last()->click();
        QCOMPARE(w.editor()->count(), before + 2);
        QVERIFY(w.console()->plain_text().contains("A script is already running"));
        QCOMPARE(wait_for_run(done).first, 0);
    }

    // Quitting asks before it loses the form's script (never saved, though
    // nobody edited it); Cancel keeps the window open (issue 17).
    void quitting_asks_about_the_forms_script()
    {
        MainWindow w;
        w.show();
        QCOMPARE(run_quick_xor(w, 4, 5), 0);
        QString question;
        QTimer::singleShot(200, &w, [&] {
            if (auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget())) {
                question = box->text();
                box->button(QMessageBox::Cancel)->click();
            }
        });
        QVERIFY(!w.close());
        QVERIFY2(question.contains("was never saved"), qPrintable(question));
        QVERIFY(w.isVisible());
        QVERIFY(w.editor()->current()->toPlainText().contains("train.fit"));
    }

    // A table opened in the Data panel, trained from the form: the
    // "load a dataset, build a model without code" path.
    void quick_form_trains_the_data_panels_dataset()
    {
        QTemporaryDir dir;
        QByteArray csv = "x,y,side\n";
        for (int i = 0; i < 80; ++i) {
            const double x = (i % 9) - 4, y = (i % 7) - 3 + 0.5;
            csv += QByteArray::number(x) + ',' + QByteArray::number(y) + ',' + (x + y > 0 ? "right" : "left") + '\n';
        }
        write_file(dir.filePath("sides.csv"), csv);
        MainWindow w;
        QVERIFY(w.data_panel()->open_path(dir.filePath("sides.csv")));
        QCOMPARE(run_quick(w, panel_settings(8, 0.05, 8, 40)), 0);
        const QString code = w.editor()->current()->toPlainText();
        QVERIFY(code.contains("-- Dataset: sides.csv, as opened in the Data panel"));
        QVERIFY(code.contains("nn.Dense{inputs = 2, outputs = 8"));
        w.monitor()->refresh();
        const MetricSeries *accuracy = w.monitor()->series(w.monitor()->runs().last(), "val_accuracy");
        QVERIFY(accuracy && accuracy->size() == 40);
        QVERIFY2(accuracy->points().back().value >= 0.9, qPrintable(QString::number(accuracy->points().back().value)));
        // After the fit: the confusion matrix of the 16 validation samples.
        QVERIFY(w.model_panel()->has_confusion());
        QVERIFY2(w.model_panel()->confusion_caption().endsWith("validation samples: accuracy 1.0000 over 16"),
                 qPrintable(w.model_panel()->confusion_caption()));
    }

    // Every dock together still fits a 1024x700 laptop screen.
    void window_fits_a_small_screen()
    {
        MainWindow w;
        w.show();
        const QSize least = w.minimumSizeHint();
        QVERIFY2(least.width() <= 1000 && least.height() <= 680,
                 qPrintable(QString("%1x%2").arg(least.width()).arg(least.height())));
    }

    // The run thread, which the UI thread created before the setting was
    // made (in the other mode here), computes in the chosen mode, and so
    // does its OpenMP team: tests/lua/denormals.lua with the probe plugin,
    // by default and after the call --keep-denormals makes.
    void run_thread_follows_the_denormal_setting()
    {
#ifndef MXCSR_PROBE_DIR
        QSKIP("the probe plugin reads MXCSR: x86 only");
#else
        QFile file(DENORMALS_SCRIPT);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QString code = QString::fromUtf8(file.readAll());
        const QByteArray saved_path = qgetenv("NEURITE_PLUGIN_PATH");
        qputenv("NEURITE_PLUGIN_PATH", MXCSR_PROBE_DIR);
        for (const bool flush : {true, false}) {
            sdk::set_flush_denormals(!flush); // the run thread copies it at its birth
            MainWindow w;
            ComputeContext::set_flush_denormals(flush);
            qputenv("NEURITE_EXPECT_DENORMALS", flush ? "flush" : "keep");
            QSignalSpy done(&w, &MainWindow::run_finished);
            w.run_script(code, "denormals.lua");
            const int exit_code = wait_for_run(done).first;
            ComputeContext::set_flush_denormals(true);
            QVERIFY2(exit_code == 0, qPrintable(w.console()->plain_text()));
            QVERIFY(w.console()->plain_text().contains(flush ? "denormals: flush ok" : "denormals: keep ok"));
        }
        qputenv("NEURITE_PLUGIN_PATH", saved_path);
        qunsetenv("NEURITE_EXPECT_DENORMALS");
#endif
    }

    // A picture a person can look at: build/screenshots/main_window.png.
    void screenshot_after_a_short_run()
    {
        MainWindow w;
        w.resize(1400, 860);
        w.show();
        w.editor()->new_script(kXorScript, "xor.lua");
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_current();
        QCOMPARE(wait_for_run(done).first, 0);
        w.monitor()->refresh();
        QTest::qWait(200);
        QDir().mkpath(NEURITE_SCREENSHOT_DIR);
        const QString path = QString(NEURITE_SCREENSHOT_DIR) + "/main_window.png";
        QVERIFY(w.grab().save(path, "PNG"));
        QVERIFY(QImage(path).width() >= 1000);

        // Per-step series smoothed over their faint raw values, x by epoch,
        // a log scale: build/screenshots/training_log_epochs.png.
        w.run_script(R"(local moons = data.moons{count = 400, noise = 0.2, seed = 1}
local m = nn.Sequential{nn.Dense{inputs = 2, outputs = 16, activation = "tanh"}, nn.Dense{inputs = 16, outputs = 2}}
train.fit{model = m, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(m, {lr = 0.1}), data = moons,
          epochs = 20, batch_size = 10, verbose = 0, metrics = {"accuracy"}, name = "moons"})",
                     "moons.lua");
        QCOMPARE(wait_for_run(done).first, 0);
        w.monitor()->set_x_axis(XAxis::Epoch);
        w.monitor()->set_log_y(true);
        w.monitor()->set_smoothing(0.9);
        w.monitor()->refresh();
        QTest::qWait(200);
        const QString log_path = QString(NEURITE_SCREENSHOT_DIR) + "/training_log_epochs.png";
        QVERIFY(w.monitor()->grab().save(log_path, "PNG"));
    }

    // Every tabbed panel in front once, after the quick form trained on
    // Fashion-MNIST's test set from the data panel: build/screenshots/panel_*.png.
    void screenshot_of_each_panel()
    {
        MainWindow w;
        w.resize(1400, 860);
        w.show();
        QVERIFY(w.data_panel()->open_path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"));
        QCOMPARE(w.data_panel()->current().size(), int64_t(10000));
        // The form trains on the panel's dataset: 10 classes in the confusion matrix.
        QCOMPARE(run_quick(w, panel_settings(32, 0.003, 64, 2)), 0);
        QDir().mkpath(NEURITE_SCREENSHOT_DIR);
        for (const char *name : {"plugins", "quick", "model", "activations", "data"}) {
            auto *dock = w.findChild<QDockWidget *>(name);
            QVERIFY2(dock, name);
            dock->raise();
            QTest::qWait(100);
            const QString path = QString(NEURITE_SCREENSHOT_DIR) + "/panel_" + name + ".png";
            QVERIFY(w.grab().save(path, "PNG"));
        }
        QVERIFY(w.model_panel()->has_confusion());
        QVERIFY2(w.model_panel()->confusion_caption().contains("validation samples: accuracy") &&
                     w.model_panel()->confusion_caption().endsWith("over 2000"), // 20% of 10,000
                 qPrintable(w.model_panel()->confusion_caption()));
        QVERIFY2(w.monitor()->runs().last().startsWith("panel 32 relu Adam lr=0.003"),
                 qPrintable(w.monitor()->runs().join(", ")));
    }
};

QTEST_MAIN(TestGuiWindow)
#include "tst_gui_window.moc"
