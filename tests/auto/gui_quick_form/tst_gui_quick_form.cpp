// The quick-experiment form and the window's error path (issues 17 §4, 13,
// 18). Each dataset's defaults are run as the form writes them (through
// neurite-run, or the window for the Data panel's table) and must reach 95%
// validation accuracy; the CNN and the precision choice write scripts that
// train; an error inside train.fit marks the user's line, the console
// collapses the library's frames, and a library file opens read-only.
#include "test_support.h"

#include "code_editor.h"
#include "console.h"
#include "data_panel.h"
#include "editor_tabs.h"
#include "main_window.h"
#include "quick_experiment.h"

#include "neurite/core/precision.h"

#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QtTest>

#include <random>

#include "gui_test_support.h"

using namespace neurite;
using namespace neurite::gui;
using test::wait_for_run;

namespace {

struct ScriptRun {
    int exit_code = -1;
    QString output;
    double seconds = 0;
};

// Runs a script the form wrote through neurite-run, as a user who saved it would.
ScriptRun run_script(const QString &code)
{
    QTemporaryDir dir;
    const QString path = dir.filePath("experiment.lua");
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return {};
    file.write(code.toUtf8());
    file.close();
    QProcess process;
    process.setWorkingDirectory(dir.path());
    process.setProcessChannelMode(QProcess::MergedChannels);
    QElapsedTimer clock;
    clock.start();
    process.start(NEURITE_RUN, {"--no-runs", path});
    if (!process.waitForFinished(240000))
        process.kill();
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            QString::fromUtf8(process.readAll()), clock.elapsed() / 1000.0};
}

// "validation accuracy 0.9833", printed by the form's script; -1 if absent.
double validation_accuracy(const QString &output)
{
    const auto m = QRegularExpression(R"(validation accuracy ([0-9.]+))").match(output);
    return m.hasMatch() ? m.captured(1).toDouble() : -1;
}

// An iris-like table: 4 measurements of 3 species, 100 rows each, drawn
// around the means and deviations of Fisher's iris data.
QString write_iris_like(const QString &dir)
{
    const double mean[3][4] = {{5.006, 3.428, 1.462, 0.246}, {5.936, 2.770, 4.260, 1.326}, {6.588, 2.974, 5.552, 2.026}};
    const double sd[3][4] = {{0.352, 0.379, 0.174, 0.105}, {0.516, 0.314, 0.470, 0.198}, {0.636, 0.322, 0.552, 0.275}};
    const char *species[3] = {"setosa", "versicolor", "virginica"};
    std::mt19937 rng(7);
    std::normal_distribution<double> normal;
    QString text = "sepal_length,sepal_width,petal_length,petal_width,species\n";
    for (int row = 0; row < 300; ++row) {
        const int c = row % 3;
        for (int f = 0; f < 4; ++f)
            text += QString::number(std::max(0.1, mean[c][f] + sd[c][f] * normal(rng)), 'f', 1) + ",";
        text += QString(species[c]) + "\n";
    }
    const QString path = dir + "/iris_like.csv";
    QFile file(path);
    file.open(QIODevice::WriteOnly);
    file.write(text.toUtf8());
    return path;
}

void write_file(const QString &path, const QString &text)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(text.toUtf8());
}

void write_file_bytes(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

QTextBrowser *console_view(MainWindow &w) { return w.console()->findChild<QTextBrowser *>(); }

} // namespace

class TestGuiQuickForm : public QObject {
    Q_OBJECT

private slots:
    void init() { neurite::test::use_fresh_run_store(); }

    // Issue 17 §4: the form's defaults solve each dataset (spirals reached 61%).
    void defaults_reach_their_accuracy_data()
    {
        QTest::addColumn<QString>("dataset");
        for (const char *key : {"xor", "and", "moons", "spirals", "gaussians"})
            QTest::newRow(key) << QString(key);
    }
    void defaults_reach_their_accuracy()
    {
        QFETCH(QString, dataset);
        QString error;
        const QString code = QuickExperiment::script(QuickExperiment::defaults(dataset), {}, error);
        QVERIFY2(!code.isEmpty(), qPrintable(error));
        QVERIFY(code.contains("validation = validation_set,"));
        const ScriptRun run = run_script(code);
        QVERIFY2(run.exit_code == 0, qPrintable(run.output));
        const double accuracy = validation_accuracy(run.output);
        qInfo("%s: validation accuracy %.4f in %.1f s", qPrintable(dataset), accuracy, run.seconds);
        QVERIFY2(accuracy >= 0.95, qPrintable(run.output.right(600)));
    }

    // The sine (regression) gets a validation fifth too, and its loss is printed.
    void regression_defaults_fit_the_sine()
    {
        QString error;
        const QString code = QuickExperiment::script(QuickExperiment::defaults("sine"), {}, error);
        QVERIFY(code.contains("nn.MSELoss()") && !code.contains("metrics"));
        const ScriptRun run = run_script(code);
        QVERIFY2(run.exit_code == 0, qPrintable(run.output));
        const auto m = QRegularExpression(R"(validation loss ([0-9.e-]+))").match(run.output);
        QVERIFY2(m.hasMatch(), qPrintable(run.output.right(600)));
        qInfo("sine: validation loss %s in %.1f s", qPrintable(m.captured(1)), run.seconds);
        QVERIFY2(m.captured(1).toDouble() < 0.01, qPrintable(m.captured(1))); // sin x has variance 0.5
    }

    // The Data panel's iris-like table, through the window as a user does it:
    // open the file, pick the panel's dataset (its defaults come with it), run.
    void defaults_reach_their_accuracy_on_a_table()
    {
        QTemporaryDir dir;
        MainWindow w;
        QVERIFY(w.data_panel()->open_path(write_iris_like(dir.path())));
        QuickExperiment *form = w.quick_form();
        auto *datasets = form->findChildren<QComboBox *>().first();
        datasets->setCurrentIndex(datasets->findData(QString(QuickExperiment::kPanelKey)));
        const QuickExperiment::Settings s = form->settings();
        QCOMPARE(s.hidden, QuickExperiment::defaults(QuickExperiment::kPanelKey).hidden);
        QCOMPARE(s.model, QString(QuickExperiment::kDense)); // a table: no CNN
        QSignalSpy done(&w, &MainWindow::run_finished);
        form->findChildren<QPushButton *>().last()->click();
        QCOMPARE(wait_for_run(done).first, 0);
        const double accuracy = validation_accuracy(w.console()->plain_text());
        qInfo("iris-like table: validation accuracy %.4f", accuracy);
        QVERIFY2(accuracy >= 0.95, qPrintable(w.console()->plain_text().right(600)));
    }

    // The CNN is offered for images only: picking Fashion-MNIST, or images
    // in the Data panel, brings it as the default; a 2-D set takes it away.
    void model_choice_follows_images()
    {
        QuickExperiment form(test::registry());
        QComboBox *datasets = form.findChildren<QComboBox *>().first(), *model = nullptr;
        for (QComboBox *box : form.findChildren<QComboBox *>())
            if (box->findData(QString(QuickExperiment::kCnn)) >= 0)
                model = box;
        QVERIFY(model);
        QVERIFY(!model->isEnabled()); // XOR first
        datasets->setCurrentIndex(datasets->findData("fashion_mnist"));
        QVERIFY(model->isEnabled());
        QCOMPARE(form.settings().model, QString(QuickExperiment::kCnn));
        QCOMPARE(form.settings().hidden, QList<int>{128});
        datasets->setCurrentIndex(datasets->findData("spirals"));
        QVERIFY(!model->isEnabled());
        QCOMPARE(form.settings().model, QString(QuickExperiment::kDense));
        QCOMPARE(form.settings().hidden, (QList<int>{64, 64}));
        form.set_panel_data({"pets", 360, 2, false, true, {3, 32, 32}});
        datasets->setCurrentIndex(datasets->findData(QString(QuickExperiment::kPanelKey)));
        QVERIFY(model->isEnabled());
        QCOMPARE(form.settings().model, QString(QuickExperiment::kCnn));
        form.set_panel_data({"iris.csv", 4, 3, false, true, {4}});
        QVERIFY(!model->isEnabled());
        QCOMPARE(form.settings().model, QString(QuickExperiment::kDense));
    }

    // Images opened in the Data panel (IDX, [1, 8, 8]) train through the
    // window with the CNN the form picks for them.
    void panel_images_train_the_cnn_in_the_window()
    {
        // 60 images: class 1 bright on the left half, class 2 on the right.
        const auto be32 = [](quint32 v) {
            const char bytes[] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
            return QByteArray(bytes, 4);
        };
        QByteArray images = be32(0x803) + be32(60) + be32(8) + be32(8), labels = be32(0x801) + be32(60);
        for (int i = 0; i < 60; ++i) {
            for (int y = 0; y < 8; ++y)
                for (int x = 0; x < 8; ++x)
                    images += char((x < 4) == (i % 2 == 0) ? 200 + (x * y + i) % 50 : (x + y + i) % 40);
            labels += char(i % 2);
        }
        QTemporaryDir dir;
        write_file_bytes(dir.filePath("halves-images-idx3-ubyte"), images);
        write_file_bytes(dir.filePath("halves-labels-idx1-ubyte"), labels);
        MainWindow w;
        QVERIFY(w.data_panel()->open_path(dir.filePath("halves-images-idx3-ubyte")));
        QuickExperiment *form = w.quick_form();
        auto *datasets = form->findChildren<QComboBox *>().first();
        datasets->setCurrentIndex(datasets->findData(QString(QuickExperiment::kPanelKey)));
        QCOMPARE(form->settings().model, QString(QuickExperiment::kCnn));
        QSignalSpy done(&w, &MainWindow::run_finished);
        form->findChildren<QPushButton *>().last()->click();
        QVERIFY2(wait_for_run(done).first == 0, qPrintable(w.console()->plain_text().right(800)));
        const QString code = w.editor()->current()->toPlainText();
        QVERIFY(code.contains("nn.Conv2D{inputs = 1, outputs = 32, kernel = 3, padding = \"same\"}"));
        QVERIFY(code.contains("nn.Dense{inputs = 256, outputs = 128")); // 64 × 2 × 2
        const double accuracy = validation_accuracy(w.console()->plain_text());
        qInfo("panel images, CNN: validation accuracy %.4f", accuracy);
        QVERIFY2(accuracy >= 0.9, qPrintable(w.console()->plain_text().right(800)));
    }

    // Issue 18: bf16 is offered and accepted only where the CPU computes it.
    void precision_follows_the_cpu()
    {
        QuickExperiment form(test::registry());
        const bool bf16 = bf16_kernels().supported;
        QCOMPARE(QuickExperiment::bf16_available(), bf16);
        QComboBox *precision = nullptr;
        for (QComboBox *box : form.findChildren<QComboBox *>())
            if (box->findData("bf16") >= 0)
                precision = box;
        QVERIFY(precision);
        auto *items = qobject_cast<QStandardItemModel *>(precision->model());
        QCOMPARE(items->item(precision->findData("bf16"))->isEnabled(), bf16);
        QuickExperiment::Settings s = QuickExperiment::defaults("moons");
        s.precision = "bf16";
        form.set_settings(s);
        QCOMPARE(form.settings().precision, QString(bf16 ? "bf16" : "f32"));
        QString error;
        const QString code = QuickExperiment::script(s, {}, error);
        if (bf16) {
            QVERIFY(code.contains("precision = \"bf16\","));
        } else {
            QVERIFY(code.isEmpty());
            QVERIFY2(error.contains("needs bfloat16 instructions") && error.contains("AVX512-BF16"), qPrintable(error));
        }
    }

    // Issue 13: for images the form builds a small CNN; the script it writes
    // trains one short epoch on a subset, in each precision the CPU offers.
    void cnn_script_trains_one_short_epoch()
    {
        QuickExperiment::Settings s = QuickExperiment::defaults("fashion_mnist");
        QCOMPARE(s.model, QString(QuickExperiment::kCnn));
        s.epochs = 1;
        s.max_samples = 256;
        QStringList precisions{"f32"};
        if (QuickExperiment::bf16_available())
            precisions << "bf16";
        for (const QString &precision : precisions) {
            s.precision = precision;
            QString error;
            const QString code = QuickExperiment::script(s, {}, error);
            QVERIFY2(!code.isEmpty(), qPrintable(error));
            QVERIFY(code.contains("nn.Conv2D{inputs = 1, outputs = 32, kernel = 3, padding = \"same\"}"));
            QVERIFY(code.contains("nn.Conv2D{inputs = 32, outputs = 64, kernel = 3, padding = \"same\"}"));
            QCOMPARE(code.count("nn.MaxPool2D{kernel = 2}"), 2);
            QVERIFY(code.contains("nn.Dense{inputs = 3136, outputs = 128, activation = \"relu\"}"));
            QVERIFY(code.contains("train_set:slice(1, math.min(256, #train_set))"));
            QVERIFY(code.contains(QString("precision = \"%1\",").arg(precision)));
            const ScriptRun run = run_script(code);
            QVERIFY2(run.exit_code == 0, qPrintable(run.output));
            const double accuracy = validation_accuracy(run.output);
            qInfo("CNN, %s, 1 epoch of 256 images: validation accuracy %.4f in %.1f s", qPrintable(precision),
                  accuracy, run.seconds);
            QVERIFY2(accuracy > 0.25, qPrintable(run.output.right(600))); // 10 classes: chance is 0.1
        }
        // Dense data gets no CNN: the form says why.
        s = QuickExperiment::defaults("moons");
        s.model = QuickExperiment::kCnn;
        QString error;
        QVERIFY(QuickExperiment::script(s, {}, error).isEmpty());
        QVERIFY2(error.contains("images") && error.contains("[2]"), qPrintable(error));
        // The panel's images ([3, 12, 10]) get the CNN with their own sizes.
        s = QuickExperiment::defaults("fashion_mnist");
        s.dataset = QuickExperiment::kPanelKey;
        const QString folder =
            QuickExperiment::script(s, {"pets", 360, 2, false, true, {3, 12, 10}}, error);
        QVERIFY(folder.contains("nn.Conv2D{inputs = 3, outputs = 32"));
        QVERIFY(folder.contains("nn.Dense{inputs = 384, outputs = 128")); // 64 × 3 × 2
        QVERIFY(folder.contains("model:summary{1, 3, 12, 10}"));
    }

    // Issue 17 §4: a shape mismatch thrown inside train.fit marks the user's
    // line (the call in the user's function), not train.lua's.
    void fit_error_marks_the_users_line()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath("mismatch.lua");
        write_file(path, "local x = tensor.randn{16, 3}\n"
                         "local y = tensor{1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}\n"
                         "local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 4}, nn.Dense{inputs = 4, outputs = 2}}\n"
                         "local function go()\n"
                         "  local history = train.fit{model = model, loss = nn.CrossEntropyLoss(),\n"
                         "    optimizer = optim.SGD(model, {lr = 0.1}), data = {x = x, y = y}, epochs = 1, verbose = 0}\n"
                         "  return history\n"
                         "end\n"
                         "go()\n");
        MainWindow w;
        QVERIFY(w.editor()->open_file(path));
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_current();
        QCOMPARE(wait_for_run(done).first, 1);
        CodeEditor *script = w.editor()->current();
        QCOMPARE(QFileInfo(script->path()).fileName(), QString("mismatch.lua"));
        QCOMPARE(script->error_line(), 5);
        const QString text = w.console()->plain_text();
        QVERIFY2(text.contains("mismatch.lua:5: layer 1 (Dense): input [16, 3] does not fit"), qPrintable(text));
        // The user's frames are shown, the library's collapsed into one link.
        QVERIFY2(text.contains("mismatch.lua:5: in local 'go'") && text.contains("mismatch.lua:9: in main chunk"),
                 qPrintable(text));
        const QRegularExpressionMatch collapsed = QRegularExpression(R"(… (\d+) library frames)").match(text);
        QVERIFY2(collapsed.hasMatch() && collapsed.captured(1).toInt() >= 3, qPrintable(text));
        QVERIFY(!text.contains("train.lua:"));
        // For a person to look at: build/screenshots/console_library_frames.png.
        w.resize(1024, 700);
        w.show();
        QTest::qWait(100);
        QDir().mkpath(NEURITE_SCREENSHOT_DIR);
        QVERIFY(w.console()->grab().save(QString(NEURITE_SCREENSHOT_DIR) + "/console_library_frames.png", "PNG"));
        QStringList links = w.console()->links();
        const auto group = std::find_if(links.begin(), links.end(), [](const QString &l) { return l.startsWith("frames:"); });
        QVERIFY(group != links.end());
        // Clicked, the link shows them.
        emit console_view(w)->anchorClicked(QUrl(*group));
        const QString expanded = w.console()->plain_text();
        QVERIFY2(expanded.contains(QRegularExpression(R"(train\.lua:\d+: in )")) && !expanded.contains("library frames"),
                 qPrintable(expanded));
        // A library frame's link opens its file read-only at that line.
        links = w.console()->links();
        const auto library = std::find_if(links.begin(), links.end(), [](const QString &l) { return l.startsWith("library:"); });
        QVERIFY2(library != links.end(), qPrintable(links.join(", ")));
        const QUrl url(*library);
        emit console_view(w)->anchorClicked(url);
        CodeEditor *opened = w.editor()->current();
        QVERIFY(opened != script);
        QCOMPARE(QFileInfo(opened->path()).fileName(), QFileInfo(url.path()).fileName());
        QVERIFY(opened->isReadOnly());
        QVERIFY(w.editor()->tabText(w.editor()->currentIndex()).contains("read-only"));
        QCOMPARE(opened->textCursor().blockNumber() + 1, url.fragment().toInt());
        QCOMPARE(script->error_line(), 5); // the user's mark stays
    }

    // An error from callbacks.lua (a checkpoint that cannot be written) in a
    // script without a file, as the form writes one: its tab gets the mark.
    void callback_error_marks_the_unsaved_scripts_line()
    {
        const QString code = "local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 2}}\n"
                             "local x, y = tensor.randn{8, 2}, tensor{1, 2, 1, 2, 1, 2, 1, 2}\n"
                             "train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model, {lr = 0.1}),\n"
                             "          data = {x = x, y = y}, epochs = 1, verbose = 0,\n"
                             "          callbacks = {train.checkpoint{path = \"/nonexistent/dir/m.nrt\"}}}\n";
        MainWindow w;
        w.editor()->new_script("print('another tab')", "other");
        CodeEditor *editor = w.editor()->new_script(code, "my experiment");
        w.editor()->setCurrentIndex(0);
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(code, "my experiment");
        QCOMPARE(wait_for_run(done).first, 1);
        const QString text = w.console()->plain_text();
        QVERIFY2(text.contains("my experiment:3: cannot write checkpoint"), qPrintable(text));
        QCOMPARE(w.editor()->current(), editor);
        QCOMPARE(editor->error_line(), 3);
        QVERIFY(!text.contains("callbacks.lua:"));
    }
};

QTEST_MAIN(TestGuiQuickForm)
#include "tst_gui_quick_form.moc"
