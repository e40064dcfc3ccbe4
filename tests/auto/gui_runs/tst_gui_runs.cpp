// The runs list of the real window, offscreen (issue 17 §1): runs kept
// apart (a colour and a name each, the same in the list and every chart),
// kept across a restart of the window through the run store, shown,
// hidden, renamed and deleted on the charts and on disk, and a sweep
// ranked by its metric. A screenshot of the list with 7 runs is saved
// under build/screenshots/ for a person to look at.
#include "code_editor.h"
#include "editor_tabs.h"
#include "main_window.h"
#include "metric_chart.h"
#include "runs_list.h"
#include "sweep_table.h"
#include "training_monitor.h"

#include <QAbstractButton>
#include <QApplication>
#include <QChart>
#include <QFileInfo>
#include <QInputDialog>
#include <QDir>
#include <QDockWidget>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLegend>
#include <QMessageBox>
#include <QSettings>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <QTreeWidget>
#include <QtTest>

#include "gui_test_support.h"

#include <memory>

using namespace neurite;
using namespace neurite::gui;
using test::kXorScript;
using test::wait_for_run;

namespace {

// A train.sweep of `lrs.size()` variants of XOR, ranked by loss.
QString sweep_script(const QStringList &lrs, int epochs = 40, int batch_size = 4)
{
    return QString(R"(
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{1, 2, 2, 1}
train.sweep{grid = {lr = {%1}}, metric = "loss", name = "lrs", verbose = 0, run = function(cfg)
  local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 6, activation = "tanh"}, nn.Dense{inputs = 6, outputs = 2}}
  train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = cfg.lr}),
            data = {x = x, y = y}, epochs = %2, batch_size = %3, verbose = 0}
end}
)")
        .arg(lrs.join(", "))
        .arg(epochs)
        .arg(batch_size);
}

QJsonObject run_json(const QString &dir)
{
    QFile f(dir + "/run.json");
    return f.open(QIODevice::ReadOnly) ? QJsonDocument::fromJson(f.readAll()).object() : QJsonObject();
}

// The runs that trained (have a loss), in order of arrival.
QStringList trained(const TrainingMonitor *m)
{
    QStringList out;
    for (const QString &run : m->runs())
        if (m->series(run, "loss"))
            out << run;
    return out;
}

QTreeWidgetItem *row_of(RunsList *list, const QString &key)
{
    const int row = static_cast<int>(list->keys_in_order().indexOf(key));
    return row < 0 ? nullptr : list->tree()->topLevelItem(row);
}

} // namespace

class TestGuiRuns : public QObject {
    Q_OBJECT

    std::unique_ptr<QTemporaryDir> m_store;

    // A window keeping its runs in this test's store.
    std::unique_ptr<MainWindow> window()
    {
        QSettings().setValue("run/runs_dir", m_store->path());
        QSettings().remove("window/state");
        auto w = std::make_unique<MainWindow>();
        w->resize(1400, 900);
        w->show();
        return w;
    }

    void run(MainWindow &w, const QString &code, const QString &name)
    {
        QSignalSpy done(&w, &MainWindow::run_finished);
        w.run_script(code, name);
        QCOMPARE(wait_for_run(done).first, 0);
        w.monitor()->refresh();
    }

private slots:
    void init() { m_store = std::make_unique<QTemporaryDir>(); }

    // Issue 17: re-runs of one script merged into one line of one colour.
    void two_runs_of_a_script_are_two_series()
    {
        auto w = window();
        run(*w, kXorScript, "xor.lua");
        run(*w, kXorScript, "xor.lua");
        TrainingMonitor *m = w->monitor();
        const QStringList runs = trained(m);
        QCOMPARE(runs.size(), 2);
        QVERIFY(m->run_name(runs[0]) != m->run_name(runs[1]));
        QVERIFY(m->run_colour(runs[0]) != m->run_colour(runs[1]));
        for (const QString &run : runs) {
            // The chart's line has the run's colour and name, as its row has.
            QCOMPARE(m->line_colour(run, "loss"), m->run_colour(run));
            QCOMPARE(m->runs_list()->colour(run), m->run_colour(run));
            QCOMPARE(m->line_name(run, "loss"), m->run_name(run));
            QCOMPARE(m->runs_list()->cell(run, "Run"), m->run_name(run));
            QVERIFY(m->drawn_points(run, "loss") > 0);
            // The store's record fills the columns.
            const QString dir = m->run_dir(run);
            QVERIFY2(dir.startsWith(m_store->path()), qPrintable(dir));
            const QJsonObject json = run_json(dir);
            QCOMPARE(json.value("name").toString(), m->run_name(run));
            const QString tip = row_of(m->runs_list(), run)->toolTip(0);
            QVERIFY2(tip.contains(QDir::toNativeSeparators(dir)) && tip.contains("Adam(lr=0.05"), qPrintable(tip));
            QCOMPARE(m->runs_list()->cell(run, "optimizer"), QString("Adam"));
            QCOMPARE(m->runs_list()->cell(run, "lr"), QString("0.05"));
            QCOMPARE(m->runs_list()->cell(run, "batch_size"), QString("4"));
            QCOMPARE(m->runs_list()->cell(run, "epochs"), QString("150"));
            QCOMPARE(m->runs_list()->cell(run, "Status"), QString("finished"));
            const double loss = json.value("final_metrics").toObject().value("loss").toDouble();
            QCOMPARE(m->runs_list()->cell(run, "loss"), QString::number(loss, 'g', 4));
            QCOMPARE(m->series(run, "loss")->points().back().value, loss);
        }
        // No chart has a legend of its own: the runs list is the legend.
        const auto charts = w->findChildren<MetricChart *>();
        QVERIFY(!charts.isEmpty());
        for (MetricChart *c : charts)
            QVERIFY(!c->chart()->legend()->isVisible());
    }

    // The run store round-trips through a restart of the window.
    void runs_survive_a_restart()
    {
        QString name;
        std::vector<MetricPoint> curve;
        {
            auto w = window();
            run(*w, kXorScript, "xor.lua");
            const QString key = trained(w->monitor()).value(0);
            name = w->monitor()->run_name(key);
            curve = w->monitor()->series(key, "loss")->points();
        }
        auto w = window();
        TrainingMonitor *m = w->monitor();
        const QStringList runs = m->runs();
        QCOMPARE(runs.size(), 1);
        const QString key = runs[0];
        QCOMPARE(m->run_name(key), name);
        QCOMPARE(m->runs_list()->cell(key, "optimizer"), QString("Adam"));
        QCOMPARE(m->runs_list()->cell(key, "epochs"), QString("150"));
        QVERIFY(!m->runs_list()->cell(key, "loss").isEmpty());
        QVERIFY(m->load_pending_curves());
        m->refresh();
        const MetricSeries *loss = m->series(key, "loss");
        QVERIFY(loss);
        QCOMPARE(loss->size(), int64_t(curve.size()));
        QCOMPARE(loss->points().back().value, curve.back().value);
        QCOMPARE(loss->points().back().step, curve.back().step);
        QVERIFY(m->drawn_points(key, "loss") > 0);
        // Per-batch points sit at fractional epochs, as the live ones do.
        QVERIFY(m->series(key, "batch_loss"));
        QCOMPARE(m->line_colour(key, "loss"), m->run_colour(key));
    }

    // Hide, rename and delete act on every chart and on the run's folder.
    void hide_rename_delete()
    {
        auto w = window();
        run(*w, kXorScript, "xor.lua");
        run(*w, kXorScript, "xor.lua");
        TrainingMonitor *m = w->monitor();
        const QStringList runs = trained(m);
        QCOMPARE(runs.size(), 2);
        const QString a = runs[0], b = runs[1];

        // Unticking a's row hides its lines in every chart, b's stay.
        row_of(m->runs_list(), a)->setCheckState(0, Qt::Unchecked);
        QVERIFY(!m->run_visible(a));
        for (const char *metric : {"loss", "batch_loss", "lr"}) {
            QCOMPARE(m->drawn_points(a, metric), 0);
            QVERIFY(m->drawn_points(b, metric) > 0);
        }
        row_of(m->runs_list(), a)->setCheckState(0, Qt::Checked);
        QVERIFY(m->drawn_points(a, "loss") > 0);

        // Rename (the context menu's dialog): the charts' lines, the list and run.json.
        QTimer::singleShot(200, [] {
            auto *dialog = qobject_cast<QInputDialog *>(QApplication::activeModalWidget());
            QVERIFY(dialog);
            dialog->setTextValue("from the dialog");
            dialog->accept();
        });
        emit m->runs_list()->rename_requested(a);
        QCOMPARE(m->run_name(a), QString("from the dialog"));
        QCOMPARE(run_json(m->run_dir(a)).value("name").toString(), QString("from the dialog"));
        QVERIFY(m->rename_run(a, "baseline"));
        QCOMPARE(m->line_name(a, "loss"), QString("baseline"));
        QCOMPARE(m->line_name(a, "batch_loss"), QString("baseline")); // every chart
        QCOMPARE(m->runs_list()->cell(a, "Run"), QString("baseline"));
        QCOMPARE(run_json(m->run_dir(a)).value("name").toString(), QString("baseline"));
        QString error;
        QVERIFY(!m->rename_run(a, "  ", &error));
        QVERIFY(!error.isEmpty());

        // Delete asks first: Cancel keeps everything.
        const QString dir = m->run_dir(b);
        QVERIFY(QFileInfo::exists(dir + "/run.json"));
        auto answer = [dir](QMessageBox::StandardButton button) {
            QTimer::singleShot(200, [button, dir] {
                auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget());
                QVERIFY(box && box->objectName() == "delete-run");
                QVERIFY(box->informativeText().contains(QDir::toNativeSeparators(dir)));
                box->button(button)->click();
            });
        };
        answer(QMessageBox::Cancel);
        emit m->runs_list()->delete_requested(b);
        QVERIFY(QFileInfo::exists(dir));
        QVERIFY(m->runs().contains(b));
        answer(QMessageBox::Yes);
        emit m->runs_list()->delete_requested(b);
        QVERIFY(!QFileInfo::exists(dir));
        QVERIFY(!m->runs().contains(b));
        QVERIFY(!m->runs_list()->keys_in_order().contains(b));
        QVERIFY(!m->series(b, "loss"));
        QCOMPARE(m->drawn_points(b, "loss"), 0);
        QVERIFY(m->drawn_points(a, "loss") > 0);

        // A restart lists the renamed run, not the deleted one.
        w.reset();
        w = window();
        QCOMPARE(w->monitor()->runs().size(), 1);
        QCOMPARE(w->monitor()->run_name(w->monitor()->runs()[0]), QString("baseline"));
    }

    // "Open the script of this run": the copy in its folder, in a tab.
    void open_the_script_of_a_run()
    {
        auto w = window();
        run(*w, kXorScript, "xor.lua");
        TrainingMonitor *m = w->monitor();
        const QString key = trained(m).value(0);
        const QString copy = m_store->path() + "/" + QFileInfo(m->run_dir(key)).fileName() + "/" +
                             run_json(m->run_dir(key)).value("script").toObject().value("copy").toString();
        QVERIFY(QFileInfo::exists(copy));
        emit m->runs_list()->open_script_requested(key);
        QVERIFY(w->editor()->current());
        QCOMPARE(QFileInfo(w->editor()->current()->path()).canonicalFilePath(), QFileInfo(copy).canonicalFilePath());
        QVERIFY(w->editor()->current()->toPlainText().contains("train.fit"));
    }

    // A sweep of 4 variants: 4 stored runs, a table sorted by its metric,
    // the variants' curves overlaid.
    void sweep_of_four_is_a_sorted_table()
    {
        auto w = window();
        run(*w, sweep_script({"0.002", "0.2", "0.02", "0.05"}), "sweep.lua");
        TrainingMonitor *m = w->monitor();
        QCOMPARE(QDir(m_store->path()).entryList(QDir::Dirs | QDir::NoDotAndDotDot).size(), 4);
        SweepTable *table = m->sweep_table();
        QCOMPARE(table->sweep_count(), 1);
        QVERIFY(m->runs_tabs()->isTabEnabled(1));
        QCOMPARE(m->runs_tabs()->currentWidget(), table);
        const QStringList keys = table->keys_in_order();
        QCOMPARE(keys.size(), 4);
        QVERIFY(table->columns().contains("loss"));
        QVERIFY(table->columns().contains("lr"));
        double previous = -1;
        for (int row = 0; row < 4; ++row) {
            const QString key = keys[row];
            const double loss = run_json(m->run_dir(key)).value("final_metrics").toObject().value("loss").toDouble();
            QCOMPARE(table->cell(row, "loss"), QString::number(loss, 'g', 5));
            QVERIFY2(loss >= previous, "best (lowest loss) first");
            previous = loss;
            QVERIFY(m->drawn_points(key, "loss") > 0); // overlaid in the loss chart
        }
        // The smallest learning rate learns least in 40 epochs: ranked last.
        QCOMPARE(table->cell(3, "lr"), QString("0.002"));
        // The runs list sorts by any column too.
        m->runs_list()->sort_by("lr", Qt::DescendingOrder);
        QStringList lrs;
        for (const QString &key : m->runs_list()->keys_in_order())
            lrs << m->runs_list()->cell(key, "lr");
        QCOMPARE(lrs, QStringList({"0.2", "0.05", "0.02", "0.002"}));
        // "Show only this sweep" hides the others.
        run(*w, kXorScript, "xor.lua");
        const QString other = trained(m).last();
        QVERIFY(m->run_visible(other));
        emit table->show_only(keys);
        QVERIFY(!m->run_visible(other));
        QCOMPARE(m->drawn_points(other, "loss"), 0);
    }

    // Many stored runs: the newest kShownAtStart ticked, the others' curves
    // read only when ticked; a sweep's table is rebuilt from the store.
    void many_stored_runs_load_lazily()
    {
        QStringList lrs;
        for (int i = 1; i <= 12; ++i)
            lrs << QString::number(0.01 * i);
        {
            auto w = window();
            run(*w, sweep_script(lrs, 5, 1), "twelve.lua");
        }
        auto w = window();
        TrainingMonitor *m = w->monitor();
        const QStringList runs = m->runs();
        QCOMPARE(runs.size(), 12);
        QCOMPARE(TrainingMonitor::kShownAtStart, 10);
        for (int i = 0; i < 12; ++i)
            QCOMPARE(m->run_visible(runs[i]), i >= 2); // oldest first: the first two unticked
        QVERIFY(m->load_pending_curves());
        QVERIFY(!m->series(runs[0], "loss")); // not read
        QCOMPARE(m->series(runs[11], "loss")->size(), int64_t(5));
        row_of(m->runs_list(), runs[0])->setCheckState(0, Qt::Checked);
        QVERIFY(m->series(runs[0], "loss"));
        QCOMPARE(m->series(runs[0], "loss")->size(), int64_t(5));
        QVERIFY(m->drawn_points(runs[0], "loss") > 0);
        // One-sample batches: batch_loss has 4 points an epoch, read back at
        // fractional epochs as the live charts place them.
        const MetricSeries *batch = m->series(runs[0], "batch_loss");
        QVERIFY(batch && batch->size() == 20);
        QCOMPARE(batch->points()[0].epoch, 0.25);
        QCOMPARE(batch->points()[5].epoch, 1.5);
        QCOMPARE(batch->points()[19].epoch, 5.0);
        QCOMPARE(m->sweep_table()->sweep_count(), 1);
        QCOMPARE(m->sweep_table()->keys_in_order().size(), 12);
    }

    // build/screenshots/runs_list_7.png: the list with 7 runs, to look at.
    void screenshot_of_seven_runs()
    {
        auto w = window();
        run(*w, sweep_script({"0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"}, 60), "seven.lua");
        TrainingMonitor *m = w->monitor();
        QCOMPARE(trained(m).size(), 7);
        m->runs_tabs()->setCurrentIndex(0);
        QTest::qWait(200);
        QDir().mkpath(NEURITE_SCREENSHOT_DIR);
        QVERIFY(w->grab().save(QString(NEURITE_SCREENSHOT_DIR) + "/runs_list_7.png", "PNG"));
        QVERIFY(m->grab().save(QString(NEURITE_SCREENSHOT_DIR) + "/runs_list_7_monitor.png", "PNG"));
        m->runs_tabs()->setCurrentIndex(1);
        QTest::qWait(100);
        QVERIFY(m->grab().save(QString(NEURITE_SCREENSHOT_DIR) + "/sweep_table_7.png", "PNG"));
        // Seven colours, all different.
        QSet<QRgb> colours;
        for (const QString &run : trained(m))
            colours.insert(m->run_colour(run).rgb());
        QCOMPARE(colours.size(), 7);
    }
};

QTEST_MAIN(TestGuiRuns)
#include "tst_gui_runs.moc"
