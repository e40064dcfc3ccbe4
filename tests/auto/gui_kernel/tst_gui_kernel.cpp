// The window survives any script (issue 11 §2): scripts run in a child
// process, `neurite-run --kernel`. A plugin that dereferences null, one that
// calls abort(), a script that eats the memory, one killed as the OOM killer
// would, and one stuck in a C loop that only Stop ends: in each, the window
// stays up, names the cause in its console, keeps the editor's text, and the
// next run trains and draws points. The real window, offscreen, with the
// crashing plugins of tests/auto/registry/fixtures on the plugin path.
#include "code_editor.h"
#include "console.h"
#include "editor_tabs.h"
#include "kernel_protocol.h"
#include "main_window.h"
#include "run_worker.h"
#include "training_monitor.h"

#include "neurite/core/data/dataset.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QDir>
#include <QLineEdit>
#include <QtTest>

#include "gui_test_support.h"

#include <csignal>

using namespace neurite::gui;

namespace {

using neurite::test::wait_for_run;

// The shared XOR script, and a global the console reads after the run.
const QString kXorScript = QString(neurite::test::kXorScript) + "kept_after_the_run = 42\n";

// A layer of the crashing fixture in a model, trained one step on a batch of 4.
QString crashing_layer_script(const QString &entry)
{
    return QString(R"(-- unsaved work that must survive
assert(nn.%1, "the crashing fixture is not loaded; is NEURITE_PLUGIN_PATH set?")
print("printed before the crash")
local layer = nn.%1()
print("batch 1 gives " .. layer:forward(tensor{{0.5, 0.25}}):sum())
layer:forward(tensor.zeros{4, 2})
print("never printed")
)")
        .arg(entry);
}

class Fixture {
public:
    Fixture() : saved(qgetenv("NEURITE_PLUGIN_PATH")) { qputenv("NEURITE_PLUGIN_PATH", FIXTURE_DIR); }
    ~Fixture() { qputenv("NEURITE_PLUGIN_PATH", saved); }

private:
    QByteArray saved;
};

// Runs `code` from a new editor tab, as F5 would; returns {exit code, interrupted}.
std::pair<int, bool> run_in_editor(MainWindow &w, const QString &code, const QString &title)
{
    w.editor()->new_script(code, title);
    QSignalSpy done(&w, &MainWindow::run_finished);
    w.run_current();
    return wait_for_run(done);
}

// After a failed run: the editor still holds `code`, the window takes a
// normal run in a fresh kernel, which trains and draws its points.
void next_run_trains(MainWindow &w, const QString &code, qint64 dead_kernel)
{
    QCOMPARE(w.editor()->current()->toPlainText(), code);
    QVERIFY(!w.running());
    QSignalSpy done(&w, &MainWindow::run_finished);
    w.run_script(kXorScript, "xor");
    const auto [exit_code, interrupted] = wait_for_run(done);
    QVERIFY2(exit_code == 0, qPrintable(w.console()->plain_text().right(800)));
    QVERIFY(!interrupted);
    QVERIFY(w.worker()->kernel_pid() != 0 && w.worker()->kernel_pid() != dead_kernel);
    w.monitor()->refresh();
    const QString run = w.monitor()->runs().last();
    const MetricSeries *loss = w.monitor()->series(run, "loss");
    QVERIFY(loss);
    QCOMPARE(loss->size(), 150);
    QVERIFY(loss->points().back().value < loss->points().front().value);
    QVERIFY(w.monitor()->drawn_points(run, "loss") > 0);
    // A new kernel's Qt start-up notes are not the script's output.
    QVERIFY2(!w.console()->plain_text().contains("QStandardPaths"), qPrintable(w.console()->plain_text()));
    // The console evaluates in the state of that run.
    w.console()->clear();
    emit w.console()->evaluate_requested("kept_after_the_run * 2");
    QCOMPARE(wait_for_run(done).first, 0);
    QVERIFY2(w.console()->plain_text().contains("84"), qPrintable(w.console()->plain_text()));
}

} // namespace

class TestGuiKernel : public QObject {
    Q_OBJECT

private slots:
    void init() { neurite::test::use_fresh_run_store(); }

    // Frames come out whole however the pipe splits them; a length past
    // the limit marks the stream broken instead of asking for 4 GB.
    void frames_survive_any_split()
    {
        QByteArray stream;
        for (int i = 0; i < 3; ++i) {
            kernel::FrameWriter w;
            w.stream() << quint8(kernel::Reply::Output) << QString("line %1 ").arg(i).repeated(i * 50);
            stream += w.frame();
        }
        QByteArray pending;
        QStringList texts;
        for (const char byte : stream) {
            pending += byte;
            bool broken = true;
            while (const auto body = kernel::take_frame(pending, broken)) {
                kernel::FrameReader r(*body);
                quint8 type = 0;
                QString text;
                r.stream() >> type >> text;
                QCOMPARE(type, quint8(kernel::Reply::Output));
                texts << text;
            }
            QVERIFY(!broken);
        }
        QCOMPARE(texts.size(), 3);
        QCOMPARE(texts[2], QString("line 2 ").repeated(100));
        QVERIFY(pending.isEmpty());
        QByteArray absurd("\xff\xff\xff\xff", 4);
        bool broken = false;
        QVERIFY(!kernel::take_frame(absurd, broken));
        QVERIFY(broken);
    }

    // The Data panel's dataset crosses to the kernel as its samples,
    // classes and names; a subset view crosses as the rows it shows.
    void dataset_crosses_whole()
    {
        neurite::Tensor x(neurite::Shape{5, 2}), y(neurite::Shape{5});
        for (int64_t i = 0; i < 5; ++i) {
            x[i * 2] = float(i), x[i * 2 + 1] = float(-i);
            y[i] = float(i % 3);
        }
        const auto all = neurite::data::Dataset::from_tensors(x, y, neurite::data::TargetKind::Classes,
                                                              {"low", "mid", "high"});
        const std::vector<int64_t> rows = {4, 1, 2};
        const auto view = all.subset(rows);
        QByteArray bytes;
        {
            QDataStream out(&bytes, QIODevice::WriteOnly);
            kernel::write_dataset(out, view);
        }
        QDataStream in(bytes);
        const auto copy = kernel::read_dataset(in);
        QCOMPARE(copy.size(), 3);
        QCOMPARE(copy.class_count(), 3);
        QCOMPARE(copy.class_names()[2], std::string("high"));
        QCOMPARE(copy.label(0), 1); // row 4: 4 % 3
        QCOMPARE(copy.raw_floats(0)[1], -4.0f);
        QCOMPARE(copy.raw_floats(2)[0], 2.0f);
        QDataStream truncated(bytes.left(bytes.size() / 2));
        QVERIFY_THROWS_EXCEPTION(std::exception, kernel::read_dataset(truncated));
    }

    void segfaulting_plugin_is_named_and_survived()
    {
        Fixture fixture;
        MainWindow w;
        w.show();
        const QString code = crashing_layer_script("FixtureNullForward");
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script("x = 1", "warm-up"); // a kernel to crash
        QCOMPARE(wait_for_run(done).first, 0);
        const qint64 kernel = w.worker()->kernel_pid();
        QVERIFY(kernel > 0);
        const auto [exit_code, interrupted] = run_in_editor(w, code, "segv.lua");
        const QString console = w.console()->plain_text();
        QCOMPARE(exit_code, 128 + SIGSEGV);
        QVERIFY(!interrupted);
        QVERIFY2(console.contains("The run crashed: SIGSEGV in plugin crashing.so, entry FixtureNullForward, "
                                  "forward (batch 4)."),
                 qPrintable(console));
        QVERIFY(console.contains("printed before the crash"));
        QVERIFY(console.contains("batch 1 gives 0.75"));
        QVERIFY(!console.contains("never printed"));
        QVERIFY(w.isVisible());
        next_run_trains(w, code, kernel);
    }

    void abort_in_a_plugin_is_named_and_survived()
    {
        Fixture fixture;
        MainWindow w;
        w.show();
        const QString code = crashing_layer_script("FixtureAbortForward");
        const auto [exit_code, interrupted] = run_in_editor(w, code, "abort.lua");
        QCOMPARE(exit_code, 128 + SIGABRT);
        QVERIFY2(w.console()->plain_text().contains(
                     "The run crashed: SIGABRT in plugin crashing.so, entry FixtureAbortForward, forward"),
                 qPrintable(w.console()->plain_text()));
        next_run_trains(w, code, 0);
    }

    // Past the window's memory limit: an error at the script's line.
    void memory_limit_stops_a_growing_script()
    {
        MainWindow w;
        w.show();
        w.worker()->set_max_memory(256ull << 20);
        const QString code = "local kept = {}\nfor i = 1, 100000 do\n  kept[i] = tensor.zeros{512, 1024}\nend\n";
        const auto [exit_code, interrupted] = run_in_editor(w, code, "greedy.lua");
        QCOMPARE(exit_code, 1);
        QVERIFY(!interrupted);
        const QString console = w.console()->plain_text();
        QVERIFY2(console.contains("greedy.lua:3") && console.contains("memory limit"), qPrintable(console));
        next_run_trains(w, code, 0);
    }

    // The system's OOM killer sends SIGKILL: the script sends it to itself.
    void killed_run_is_survived()
    {
        MainWindow w;
        w.show();
        const QString code = "local stat = io.open('/proc/self/stat')\nlocal pid = stat:read('n')\nstat:close()\n"
                             "os.execute('kill -9 ' .. pid)\nprint('never printed')\n";
        const auto [exit_code, interrupted] = run_in_editor(w, code, "killed.lua");
        QCOMPARE(exit_code, 128 + SIGKILL);
        QVERIFY(!interrupted);
        QVERIFY2(w.console()->plain_text().contains("The run was killed by SIGKILL: the system ran out of memory"),
                 qPrintable(w.console()->plain_text()));
        QVERIFY(!w.console()->plain_text().contains("never printed"));
        next_run_trains(w, code, 0);
    }

    // os.exit ends the run with its code, not the kernel: the console still
    // evaluates in the state the script left.
    void os_exit_ends_the_run_only()
    {
        MainWindow w;
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script("left_behind = 7\nos.exit(3)\nleft_behind = 8\n", "exits");
        QCOMPARE(wait_for_run(done).first, 3);
        const qint64 kernel = w.worker()->kernel_pid();
        QVERIFY(kernel > 0);
        emit w.console()->evaluate_requested("left_behind * 6");
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY2(w.console()->plain_text().contains("42"), qPrintable(w.console()->plain_text()));
        QCOMPARE(w.worker()->kernel_pid(), kernel);
    }

    // string.find backtracking on a long text: C code no hook interrupts.
    void stop_ends_a_run_stuck_in_c()
    {
        MainWindow w;
        w.show();
        const QString code = "print('looping')\nlocal text = string.rep('a', 200000)\n"
                             "print(text:find('.-.-.-.-b'))\n";
        w.editor()->new_script(code, "stuck.lua");
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_current();
        QTRY_VERIFY_WITH_TIMEOUT(w.console()->plain_text().contains("looping"), 30000);
        QTest::qWait(500); // well inside string.find
        QVERIFY(w.running());
        QElapsedTimer clock;
        clock.start();
        w.stop();
        const auto [exit_code, interrupted] = wait_for_run(done, 15000);
        const qint64 took = clock.elapsed();
        QVERIFY2(interrupted, qPrintable(w.console()->plain_text()));
        QCOMPARE(exit_code, 130);
        QVERIFY2(took < RunWorker::kStopGraceMs + 1000, qPrintable(QString::number(took)));
        QVERIFY2(w.console()->plain_text().contains("Stopped"), qPrintable(w.console()->plain_text()));
        qInfo("Stop ended the stuck run in %lld ms", static_cast<long long>(took));
        next_run_trains(w, code, 0);
    }

    // Closing the window ends its kernel, also mid-run.
    // x by epoch (issue 17): a batch's point lands at its fraction of the
    // epoch, across the kernel's pipe, and the epoch's own value at its end.
    void batches_fall_at_fractions_of_their_epoch()
    {
        MainWindow w;
        w.resize(1024, 700);
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(R"(local m = nn.Sequential{nn.Dense(2, 1)}
train.fit{model = m, loss = nn.MSELoss(), optimizer = optim.SGD(m, {lr = 0.1}), shuffle = false,
          data = {x = tensor.rand{8, 2}, y = tensor.rand{8, 1}}, epochs = 2, batch_size = 2, verbose = 0})",
                     "quarters");
        QCOMPARE(wait_for_run(done).first, 0);
        w.monitor()->refresh();
        const QString run = w.monitor()->runs().last();
        const MetricSeries *batches = w.monitor()->series(run, "batch_loss");
        const MetricSeries *epochs = w.monitor()->series(run, "loss");
        QVERIFY(batches && epochs);
        std::vector<double> at;
        for (const MetricPoint &p : batches->points())
            at.push_back(p.epoch);
        QCOMPARE(at, (std::vector<double>{0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2}));
        QCOMPARE(epochs->points().back().epoch, 2.0);
    }

    // Typing at the Lua prompt: Enter evaluates, and the prompt keeps the
    // keyboard focus for the next line (issue 17).
    void prompt_keeps_the_focus_after_enter()
    {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        auto *prompt = w.console()->findChild<QLineEdit *>();
        QVERIFY(prompt);
        prompt->setFocus();
        QVERIFY(prompt->hasFocus());
        QSignalSpy done(&w, &MainWindow::run_finished);
        QTest::keyClicks(prompt, "6 * 7");
        QTest::keyClick(prompt, Qt::Key_Return);
        QCOMPARE(wait_for_run(done).first, 0);
        QVERIFY2(w.console()->plain_text().contains("42"), qPrintable(w.console()->plain_text()));
        QVERIFY(prompt->isEnabled());
        QVERIFY(prompt->hasFocus());
    }

    // The window keeps its runs as neurite-run does (runs/<id>/run.json).
    void window_runs_are_stored()
    {
        QTemporaryDir store;
        MainWindow w;
        w.worker()->set_runs_dir(store.path());
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(kXorScript, "xor");
        QCOMPARE(wait_for_run(done).first, 0);
        const QStringList runs = QDir(store.path()).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        QCOMPARE(runs.size(), 1);
        QFile json(store.filePath(runs[0] + "/run.json"));
        QVERIFY(json.open(QIODevice::ReadOnly));
        const QJsonObject run = QJsonDocument::fromJson(json.readAll()).object();
        QCOMPARE(run.value("status").toString(), QString("finished"));
        QVERIFY2(QFile::exists(store.filePath(runs[0] + "/metrics.jsonl")), qPrintable(runs[0]));
    }

    void closing_ends_the_kernel()
    {
        qint64 kernel = 0;
        {
            MainWindow w;
            QSignalSpy done(&w, &MainWindow::run_finished);
            w.run_script("while true do end", "forever");
            QTRY_VERIFY_WITH_TIMEOUT(w.worker()->kernel_pid() > 0, 10000);
            kernel = w.worker()->kernel_pid();
            QTest::qWait(300);
        }
        QTRY_VERIFY_WITH_TIMEOUT(::kill(static_cast<pid_t>(kernel), 0) != 0, 5000);
    }
};

QTEST_MAIN(TestGuiKernel)
#include "tst_gui_kernel.moc"
