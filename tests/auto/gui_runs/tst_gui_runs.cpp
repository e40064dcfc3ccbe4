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
#include <QSaveFile>
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

// A number cell in full (its tooltip), where the cell shows 4 digits.
QString full_number(RunsList *list, const QString &key, const QString &column)
{
    QTreeWidgetItem *row = row_of(list, key);
    const int index = static_cast<int>(list->columns().indexOf(column));
    return row && index >= 0 ? row->toolTip(index) : QString();
}

bool write_file(const QString &path, const QByteArray &bytes, bool append = false)
{
    if (append) {
        QFile f(path);
        return f.open(QIODevice::WriteOnly | QIODevice::Append) && f.write(bytes) == bytes.size();
    }
    QSaveFile f(path); // as the run store writes run.json: a temporary file renamed
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size() && f.commit();
}

} // namespace

class TestGuiRuns : public QObject {
    Q_OBJECT

    std::unique_ptr<QTemporaryDir> m_store;

    // A window keeping its runs in this test's store.
    std::unique_ptr<MainWindow> window(const QString &runs_dir = QString())
    {
        QSettings().setValue("run/runs_dir", runs_dir.isEmpty() ? m_store->path() : runs_dir);
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

    // Issue 17 §1 gaps: a live run's hyperparameter columns fill as
    // train.fit starts (from the run.json its kernel writes then), and its
    // final metrics follow its curves while it trains.
    void live_run_fills_its_columns_as_it_trains()
    {
        auto w = window();
        TrainingMonitor *m = w->monitor();
        RunsList *list = m->runs_list();
        QSignalSpy done(w.get(), &MainWindow::run_finished);
        w->run_script(QString(kXorScript).replace("epochs = 150", "epochs = 200000"), "long_xor.lua");
        QString key;
        QTRY_VERIFY_WITH_TIMEOUT(!(key = trained(m).value(0)).isEmpty(), 30000);
        QTRY_COMPARE_WITH_TIMEOUT(list->cell(key, "optimizer"), QString("Adam"), 5000);
        QVERIFY2(done.isEmpty(), "the run ended before its columns filled");
        QCOMPARE(list->cell(key, "Status"), QString("running"));
        QCOMPARE(list->cell(key, "lr"), QString("0.05"));
        QCOMPARE(list->cell(key, "batch_size"), QString("4"));
        QCOMPARE(full_number(list, key, "epochs"), QString("200000"));
        QVERIFY2(m->run_dir(key).startsWith(m_store->path()), qPrintable(m->run_dir(key)));
        // The loss column: a value the loss curve has had, changing as it trains.
        QTRY_VERIFY_WITH_TIMEOUT(!list->cell(key, "loss").isEmpty(), 5000);
        const QString first = full_number(list, key, "loss");
        QTRY_VERIFY_WITH_TIMEOUT(full_number(list, key, "loss") != first, 5000);
        QVERIFY(done.isEmpty());
        const QString shown = full_number(list, key, "loss");
        const auto &points = m->series(key, "loss")->points();
        QVERIFY2(std::any_of(points.begin(), points.end(),
                             [&](const MetricPoint &p) { return QString::number(p.value, 'g', 9) == shown; }),
                 qPrintable(shown));
        w->stop();
        QVERIFY(wait_for_run(done).second);
        // Ended: run.json's record, its final loss the curve's last point.
        QCOMPARE(list->cell(key, "Status"), QString("stopped"));
        const double loss = run_json(m->run_dir(key)).value("final_metrics").toObject().value("loss").toDouble();
        QCOMPARE(full_number(list, key, "loss"), QString::number(loss, 'g', 9));
        QCOMPARE(m->runs().size(), 1);
    }

    // Run > Clear charts empties the charts; the stored runs stay listed,
    // unticked, and a tick draws them again from the store.
    void clear_charts_keeps_stored_runs()
    {
        auto w = window();
        run(*w, kXorScript, "xor.lua");
        TrainingMonitor *m = w->monitor();
        RunsList *list = m->runs_list();
        const QString key = trained(m).value(0);
        const int64_t points = m->series(key, "loss")->size();
        const QString loss = list->cell(key, "loss");
        QAction *clear = nullptr;
        for (QAction *a : w->findChildren<QAction *>())
            if (a->text() == "&Clear charts")
                clear = a;
        QVERIFY(clear);
        clear->trigger();
        QVERIFY(m->charts().isEmpty());
        QVERIFY(!m->series(key, "loss"));
        QCOMPARE(m->runs(), QStringList{key});
        QCOMPARE(list->row_count(), 1);
        QVERIFY(!m->run_visible(key));
        QCOMPARE(row_of(list, key)->checkState(0), Qt::Unchecked);
        QCOMPARE(list->cell(key, "loss"), loss);
        QCOMPARE(list->cell(key, "optimizer"), QString("Adam"));
        row_of(list, key)->setCheckState(0, Qt::Checked);
        QVERIFY(m->run_visible(key));
        QCOMPARE(m->series(key, "loss")->size(), points);
        m->refresh();
        QVERIFY(m->drawn_points(key, "loss") > 0);
        // A second run of the window after the clear is listed under it.
        run(*w, kXorScript, "xor.lua");
        QCOMPARE(m->runs().size(), 2);
        QCOMPARE(list->cell(m->runs().last(), "Status"), QString("finished"));
    }

    // A run stored by another process (a neurite-run in a terminal) while
    // the window is open joins the list, and its row follows it to its end.
    void runs_of_another_process_join_the_list()
    {
        auto w = window();
        TrainingMonitor *m = w->monitor();
        RunsList *list = m->runs_list();
        QCOMPARE(m->runs().size(), 0);
        const QString id = "20261201-170000-1-terminal-1";
        const QString dir = m_store->path() + "/" + id;
        QVERIFY(QDir().mkpath(dir));
        QJsonObject record{{"format", 1}, {"id", id}, {"name", "terminal-1"}, {"status", "running"},
                           {"started", QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs)},
                           {"hyperparameters", QJsonObject{{"batch_size", 32}, {"epochs", 4}}},
                           {"final_metrics", QJsonObject{}}, {"metrics_file", "metrics.jsonl"}};
        QByteArray lines;
        for (int epoch = 1; epoch <= 3; ++epoch)
            lines += QString(R"({"step":%1,"epoch":%2,"name":"loss","value":%3,"time":%2})" "\n")
                         .arg(epoch * 10).arg(epoch).arg(1.0 / epoch).toUtf8();
        QVERIFY(write_file(dir + "/metrics.jsonl", lines));
        QVERIFY(write_file(dir + "/run.json", QJsonDocument(record).toJson()));
        QTRY_COMPARE_WITH_TIMEOUT(m->runs().size(), 1, 5000);
        const QString key = m->runs()[0];
        QCOMPARE(m->run_name(key), QString("terminal-1"));
        QCOMPARE(list->cell(key, "Status"), QString("running"));
        QCOMPARE(list->cell(key, "batch_size"), QString("32"));
        QVERIFY(m->run_visible(key));
        QVERIFY(m->load_pending_curves());
        QCOMPARE(m->series(key, "loss")->size(), int64_t(3));
        // It ends: one more epoch, and run.json replaced with its end.
        QVERIFY(write_file(dir + "/metrics.jsonl", R"({"step":40,"epoch":4,"name":"loss","value":0.2,"time":4})" "\n", true));
        record["status"] = "finished";
        record["final_metrics"] = QJsonObject{{"loss", 0.2}};
        QVERIFY(write_file(dir + "/run.json", QJsonDocument(record).toJson()));
        QTRY_COMPARE_WITH_TIMEOUT(list->cell(key, "Status"), QString("finished"), 5000);
        QCOMPARE(list->cell(key, "loss"), QString("0.2"));
        QVERIFY(m->load_pending_curves());
        m->refresh();
        QCOMPARE(m->series(key, "loss")->size(), int64_t(4));
        QCOMPARE(m->series(key, "loss")->points().back().value, 0.2);
        QVERIFY(m->drawn_points(key, "loss") > 0);
        QCOMPARE(m->runs().size(), 1);
    }

    // The runs folder made by another process after the window opened (the
    // window watches its parent until then).
    void runs_folder_made_while_the_window_is_open()
    {
        const QString runs = m_store->path() + "/runs";
        auto w = window(runs);
        TrainingMonitor *m = w->monitor();
        QCOMPARE(m->runs().size(), 0);
        const QString id = "20261201-170500-1-first-1";
        QVERIFY(QDir().mkpath(runs + "/" + id));
        const QJsonObject record{{"format", 1}, {"id", id}, {"name", "first-1"}, {"status", "failed"},
                                 {"message", "first.lua:3: boom"},
                                 {"started", QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs)}};
        QVERIFY(write_file(runs + "/" + id + "/run.json", QJsonDocument(record).toJson()));
        QTRY_COMPARE_WITH_TIMEOUT(m->runs(), QStringList{id}, 5000);
        QCOMPARE(m->run_name(id), QString("first-1"));
        QCOMPARE(m->runs_list()->cell(id, "Status"), QString("failed"));
        QCOMPARE(m->run_dir(id), QDir(runs + "/" + id).absolutePath());
    }

    // A stored run's metrics.jsonl is read on the thread pool: the event
    // loop goes on (a 5 ms timer keeps ticking) while a long one is read.
    void stored_curves_are_read_off_the_ui_thread()
    {
        const QString id = "20261201-120000-1-long-1";
        const QString dir = m_store->path() + "/" + id;
        QVERIFY(QDir().mkpath(dir));
        const QJsonObject record{{"format", 1}, {"id", id}, {"name", "long-1"}, {"status", "finished"},
                                 {"started", "2026-12-01T12:00:00.000Z"}, {"metrics_file", "metrics.jsonl"}};
        QVERIFY(write_file(dir + "/run.json", QJsonDocument(record).toJson()));
        constexpr int kLines = 100000;
        QByteArray lines;
        for (int i = 1; i <= kLines; ++i)
            lines += QString(R"({"step":%1,"epoch":%2,"name":"batch_loss","value":%3,"time":%1})" "\n")
                         .arg(i).arg(i / 1000 + 1).arg(QString::number(1.0 / i, 'g', 17)).toUtf8();
        QVERIFY(write_file(dir + "/metrics.jsonl", lines));
        auto w = window();
        TrainingMonitor *m = w->monitor();
        QCOMPARE(m->runs(), QStringList{id});
        QVERIFY(!m->series(id, "batch_loss"));
        QTRY_COMPARE_WITH_TIMEOUT(m->curve_reads_in_flight(), 1, 2000);
        int ticks = 0;
        QTimer ticker;
        connect(&ticker, &QTimer::timeout, [&] { ++ticks; });
        ticker.start(5);
        QTRY_VERIFY_WITH_TIMEOUT(m->series(id, "batch_loss"), 30000);
        QCOMPARE(m->curve_reads_in_flight(), 0);
        QVERIFY2(ticks >= 3, qPrintable(QString("the event loop ticked %1 times during the read").arg(ticks)));
        const MetricSeries *loss = m->series(id, "batch_loss");
        QCOMPARE(loss->size(), int64_t(kLines));
        QCOMPARE(loss->points().back().value, 1.0 / kLines);
        QCOMPARE(loss->points().back().step, double(kLines));
        m->refresh();
        QVERIFY(m->drawn_points(id, "batch_loss") > 0);
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
