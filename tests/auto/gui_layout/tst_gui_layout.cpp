// The window's layout (issue 17 §3), the real MainWindow offscreen: the
// editor keeps at least 40% of the width and the charts the rest at 1024×700,
// 1400×900 and 2560×1440; View > Reset layout brings that back; a saved
// layout of another version, garbage, or one without the charts is refused;
// the labels that were cut (CSV feature names, the plugin parameter table,
// the class chart's ticks, the activation axes, the confusion matrix's class
// names) have their room. Screenshots of every panel at the three sizes after
// seven runs, one on Fashion-MNIST: build/screenshots/layout_<size>_<panel>.png.
#include "test_support.h"

#include "activation_explorer.h"
#include "confusion_picture.h"
#include "data_panel.h"
#include "main_window.h"
#include "model_panel.h"
#include "plugin_browser.h"
#include "quick_experiment.h"
#include "training_monitor.h"

#include "neurite/core/data/idx.h"

#include <QAbstractBarSeries>
#include <QAction>
#include <QChart>
#include <QChartView>
#include <QDir>
#include <QDockWidget>
#include <QHeaderView>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextLayout>
#include <QValueAxis>
#include <QtTest>

#include "gui_test_support.h"

using namespace neurite;
using namespace neurite::gui;

namespace {

const QString kFashion = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const QList<QSize> kSizes = {{1024, 700}, {1400, 900}, {2560, 1440}};
const char *const kPanels[] = {"training", "model", "activations", "data", "plugins", "quick"};

// Lets the window lay itself out (docks, deferred redraws) after a change.
void settle()
{
    for (int i = 0; i < 4; ++i) {
        QCoreApplication::processEvents();
        QTest::qWait(15);
    }
}

QDockWidget *dock(MainWindow &w, const char *name) { return w.findChild<QDockWidget *>(name); }

void show_at(MainWindow &w, QSize size)
{
    w.resize(size);
    if (!w.isVisible()) {
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
    }
    settle();
    QCOMPARE(w.size(), size);
}

// The editor has ≥ 40% of the width, the charts (in front, full) the rest.
void check_layout(MainWindow &w, const QString &where)
{
    const QString at = QString("%1 at %2x%3").arg(where).arg(w.width()).arg(w.height());
    QDockWidget *training = dock(w, "training");
    QVERIFY2(w.editor_share() >= MainWindow::kMinEditorShare,
             qPrintable(at + QString(": the editor has %1 of the width").arg(w.editor_share())));
    QVERIFY2(training->isVisible() && !w.monitor()->visibleRegion().isEmpty(), qPrintable(at + ": no charts"));
    QCOMPARE(w.dockWidgetArea(training), Qt::RightDockWidgetArea);
    // The charts take the rest: editor and charts fill the width between them.
    const int rest = w.width() - w.centralWidget()->width() - training->width();
    QVERIFY2(rest >= 0 && rest <= 16, qPrintable(at + QString(": %1 px are neither editor nor charts").arg(rest)));
    QVERIFY2(w.monitor()->width() >= w.monitor()->minimumSizeHint().width(), qPrintable(at + ": charts squeezed"));
    for (QScrollArea *scroll : w.monitor()->findChildren<QScrollArea *>())
        QVERIFY2(!scroll->horizontalScrollBar()->isVisible(), qPrintable(at + ": the charts scroll sideways"));
    QCOMPARE(w.monitor()->columns(), TrainingMonitor::columns_for(w.monitor()->width()));
}

// Every text of a column fits the column's width: nothing is elided.
void check_column_fits(const QTableWidget *table, int column, const QString &what)
{
    const int section = table->horizontalHeader()->sectionSize(column);
    const QString header = table->horizontalHeaderItem(column)->text();
    const int header_width = QFontMetrics(table->horizontalHeader()->font()).horizontalAdvance(header);
    QVERIFY2(section >= header_width, qPrintable(QString("%1: header '%2' is %3 px in %4").arg(what, header).arg(header_width).arg(section)));
    for (int r = 0; r < table->rowCount(); ++r) {
        const QTableWidgetItem *item = table->item(r, column);
        const int text = QFontMetrics(item->font()).horizontalAdvance(item->text());
        QVERIFY2(section >= text, qPrintable(QString("%1: '%2' is %3 px in %4").arg(what, item->text()).arg(text).arg(section)));
    }
}

// Every text of a wrapping column fits its row's height, wrapped at word
// boundaries as item views wrap (a word too long for the column is elided).
void check_wrapped_fits(const QTableWidget *table, int column, const QString &what)
{
    const int width = table->horizontalHeader()->sectionSize(column) - 8; // the cell's margins
    for (int r = 0; r < table->rowCount(); ++r) {
        const QTableWidgetItem *item = table->item(r, column);
        QTextLayout layout(item->text(), item->font());
        QTextOption option;
        option.setWrapMode(QTextOption::WordWrap);
        layout.setTextOption(option);
        qreal height = 0, widest = 0;
        layout.beginLayout();
        for (QTextLine line = layout.createLine(); line.isValid(); line = layout.createLine()) {
            line.setLineWidth(width);
            height += line.height();
            widest = std::max(widest, line.naturalTextWidth());
        }
        layout.endLayout();
        QVERIFY2(height <= table->rowHeight(r) && widest <= width,
                 qPrintable(QString("%1: '%2' needs %3x%4 in %5x%6").arg(what, item->text()).arg(widest)
                                .arg(height).arg(width).arg(table->rowHeight(r))));
    }
}

// Tick labels side by side with room between them ("200040006000" ran together).
void check_ticks_apart(QChart *chart, Qt::Orientation orientation, const QString &what)
{
    const QList<QAbstractAxis *> axes = chart->axes(orientation);
    QVERIFY2(!axes.isEmpty(), qPrintable(what));
    auto *axis = qobject_cast<QValueAxis *>(axes.first());
    QVERIFY2(axis, qPrintable(what));
    QVERIFY2(!axis->truncateLabels(), qPrintable(what + ": labels may be cut"));
    const QFontMetrics metrics(axis->labelsFont());
    int widest = 0;
    for (int i = 0; i < axis->tickCount(); ++i) {
        const double v = axis->min() + (axis->max() - axis->min()) * i / std::max(1, axis->tickCount() - 1);
        widest = std::max(widest, metrics.horizontalAdvance(QString::number(v, 'g', 6)));
    }
    const double spacing = chart->plotArea().width() / std::max(1, axis->tickCount() - 1);
    QVERIFY2(spacing >= widest + 4,
             qPrintable(QString("%1: %2 ticks %3 px apart for labels %4 px wide").arg(what).arg(axis->tickCount()).arg(spacing).arg(widest)));
}

int run(MainWindow &w, const QString &code, const QString &name)
{
    QSignalSpy done(&w, &MainWindow::run_finished);
    w.run_script(code, name);
    return test::wait_for_run(done).first;
}

// The quick form on the Data panel's dataset, by its button.
int run_quick_on_panel(MainWindow &w)
{
    QuickExperiment::Settings s;
    s.dataset = QuickExperiment::kPanelKey;
    s.hidden = {32};
    s.activation = "relu";
    s.lr = 0.003;
    s.batch_size = 64;
    s.epochs = 2;
    return test::run_quick(w, s);
}

} // namespace

class TestGuiLayout : public QObject {
    Q_OBJECT

    QTemporaryDir m_settings_dir;

    // Each test starts from no saved layout and keeps no runs.
    static void fresh_settings()
    {
        QSettings settings;
        settings.clear();
        settings.setValue("run/runs_dir", QString());
        settings.sync();
    }

private slots:
    void initTestCase()
    {
        QVERIFY(m_settings_dir.isValid());
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, m_settings_dir.path());
        QCoreApplication::setOrganizationName("NeuriteLayoutTest");
        QCoreApplication::setApplicationName("gui_layout");
    }

    void init() { fresh_settings(); }

    void default_layout_at_three_sizes()
    {
        for (const QSize size : kSizes) {
            MainWindow w;
            show_at(w, size);
            check_layout(w, "default");
            QVERIFY(!w.layout_refused());
        }
        // One window made larger and smaller: the panels keep their share
        // (QMainWindow alone gave every added pixel to the editor).
        MainWindow w;
        show_at(w, kSizes[0]);
        for (const QSize size : {kSizes[2], kSizes[1], kSizes[0]}) {
            show_at(w, size);
            check_layout(w, "resized");
            QVERIFY2(std::abs(w.editor_share() - (1 - MainWindow::kPanelShare)) < 0.04,
                     qPrintable(QString::number(w.editor_share())));
        }
        // Chart columns follow the width: one at 1024, three at 2560.
        QCOMPARE(w.monitor()->columns(), 1);
        show_at(w, kSizes[2]);
        QCOMPARE(w.monitor()->columns(), 3);
    }

    void reset_layout_restores_the_default()
    {
        MainWindow w;
        show_at(w, kSizes[1]);
        // Undo everything: the charts closed, Data floating, the editor squeezed.
        dock(w, "data")->setFloating(true);
        dock(w, "plugins")->close();
        dock(w, "training")->close();
        w.resizeDocks({dock(w, "model")}, {1200}, Qt::Horizontal);
        settle();
        QVERIFY(!dock(w, "training")->isVisible());
        QVERIFY(w.reset_layout_action());
        QVERIFY(w.reset_layout_action()->text().contains("Reset layout"));
        w.reset_layout_action()->trigger();
        settle();
        check_layout(w, "after Reset layout");
        for (const char *name : kPanels) {
            QVERIFY2(!dock(w, name)->isFloating() && dock(w, name)->toggleViewAction()->isChecked(), name);
            QCOMPARE(w.dockWidgetArea(dock(w, name)), Qt::RightDockWidgetArea);
        }
        QVERIFY(dock(w, "console")->isVisible());
        QCOMPARE(w.dockWidgetArea(dock(w, "console")), Qt::BottomDockWidgetArea);
    }

    void a_kept_layout_is_restored()
    {
        {
            MainWindow w;
            show_at(w, kSizes[1]);
            w.resizeDocks({dock(w, "training")}, {int(w.width() * 0.45)}, Qt::Horizontal);
            settle();
            QTest::mouseRelease(&w, Qt::LeftButton); // the end of a separator's drag
            settle();
            QVERIFY2(std::abs(w.panel_share() - 0.45) < 0.02, qPrintable(QString::number(w.panel_share())));
            dock(w, "model")->raise(); // the charts behind another tab are still there
            settle();
            QVERIFY(w.close());
        }
        QCOMPARE(QSettings().value("window/layout_version").toInt(), MainWindow::kLayoutVersion);
        MainWindow again;
        QVERIFY(!again.layout_refused());
        QVERIFY2(std::abs(again.panel_share() - 0.45) < 0.02, qPrintable(QString::number(again.panel_share())));
        // Shown at another size than it was saved at: the share, not the pixels.
        show_at(again, kSizes[2]);
        QTest::qWait(400); // Qt re-fits a restored layout for 150 ms after showing it
        QVERIFY(!dock(again, "model")->visibleRegion().isEmpty());
        dock(again, "training")->raise();
        settle();
        check_layout(again, "kept");
        QVERIFY2(std::abs(1 - again.editor_share() - 0.45) < 0.02, qPrintable(QString::number(again.editor_share())));
    }

    void saved_layouts_of_another_version_or_garbage_are_refused()
    {
        QByteArray old_state, closed_charts;
        {
            // As the older version saved it: the inputs in a third column, the
            // charts closed, no version.
            MainWindow w;
            show_at(w, kSizes[0]);
            for (const char *name : {"data", "plugins", "quick"})
                w.addDockWidget(Qt::LeftDockWidgetArea, dock(w, name));
            w.resizeDocks({dock(w, "data")}, {600}, Qt::Horizontal);
            old_state = w.saveState();
            dock(w, "training")->close();
            closed_charts = w.saveState(MainWindow::kLayoutVersion);
        }
        const QList<std::tuple<QString, QByteArray, QVariant>> cases = {
            {"an older version's", old_state, QVariant()},
            {"garbage", QByteArray("\x00\x01not a layout at all", 21), MainWindow::kLayoutVersion},
            {"one without the charts", closed_charts, MainWindow::kLayoutVersion},
        };
        for (const auto &[what, state, version] : cases) {
            fresh_settings();
            QSettings settings;
            settings.setValue("window/state", state);
            if (version.isValid())
                settings.setValue("window/layout_version", version);
            settings.sync();
            MainWindow w;
            QVERIFY2(w.layout_refused(), qPrintable(what));
            show_at(w, kSizes[0]);
            check_layout(w, what);
            QCOMPARE(w.dockWidgetArea(dock(w, "data")), Qt::RightDockWidgetArea);
        }
    }

    void labels_have_their_room()
    {
        MainWindow w;
        show_at(w, kSizes[0]);
        // CSV feature names, whole, and the target column named.
        QTemporaryDir dir;
        QFile csv(dir.filePath("flowers.csv"));
        QVERIFY(csv.open(QIODevice::WriteOnly));
        csv.write("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm),species\n");
        for (int i = 0; i < 30; ++i)
            csv.write(QString("%1,%2,%3,%4,%5\n").arg(4.5 + i * 0.1).arg(3.0 + (i % 5) * 0.1).arg(1.0 + (i % 3) * 2)
                          .arg(0.2 + (i % 3)).arg(QStringList{"setosa", "versicolor", "virginica"}[i % 3]).toUtf8());
        csv.close();
        QVERIFY(w.data_panel()->open_path(csv.fileName()));
        dock(w, "data")->raise();
        settle();
        QVERIFY2(w.data_panel()->summary_text().contains("species"), qPrintable(w.data_panel()->summary_text()));
        QTableWidget *features = w.data_panel()->feature_table();
        QCOMPARE(features->rowCount(), 4);
        for (int c = 0; c < 4; ++c)
            check_column_fits(features, c, "features");
        QCOMPARE(features->item(0, 0)->toolTip(), QString("sepal length (cm)"));
        QVERIFY(features->horizontalHeader()->length() <= features->viewport()->width());
        check_ticks_apart(w.data_panel()->class_chart()->chart(), Qt::Horizontal, "class counts of the CSV");
        QDir().mkpath(NEURITE_SCREENSHOT_DIR);
        QVERIFY(w.grab().save(QString(NEURITE_SCREENSHOT_DIR) + "/layout_1024x700_data_csv.png", "PNG"));

        // The class chart: counts on the bars, ticks apart, at 1024 and on Fashion-MNIST.
        QVERIFY(w.data_panel()->open_path(kFashion));
        settle();
        QChart *classes = w.data_panel()->class_chart()->chart();
        const auto series = classes->series();
        QCOMPARE(series.size(), 1);
        QVERIFY(static_cast<QAbstractBarSeries *>(series.first())->isLabelsVisible());
        check_ticks_apart(classes, Qt::Horizontal, "class counts");

        // The plugin parameter table: every column as wide as its texts, or wrapped.
        dock(w, "plugins")->raise();
        for (const char *entry : {"Dense", "Conv2D", "Adam"}) {
            QVERIFY(w.plugins()->select(entry));
            settle();
            QTableWidget *params = w.plugins()->parameter_table();
            QVERIFY(params->isVisible() && params->rowCount() >= 2);
            for (int c = 0; c < 3; ++c)
                check_column_fits(params, c, QString("%1's parameters").arg(entry));
            check_wrapped_fits(params, 3, QString("%1's parameter ranges").arg(entry));
            check_wrapped_fits(params, 4, QString("%1's parameter meanings").arg(entry));
            QVERIFY2(params->horizontalHeader()->sectionSize(4) >= 100,
                     qPrintable(QString("%1: the meaning column squeezed to %2").arg(entry).arg(params->horizontalHeader()->sectionSize(4))));
            QVERIFY(!params->item(0, 4)->toolTip().isEmpty());
        }

        // The activation explorer's axes: whole labels ("-…" before), apart.
        dock(w, "activations")->raise();
        settle();
        auto *explorer = w.findChild<ActivationExplorer *>();
        check_ticks_apart(explorer->f_view()->chart(), Qt::Horizontal, "activation x");

        // Confusion-matrix class names are never elided: the picture grows to hold them.
        QStringList names;
        for (const std::string &n : data::fashion_mnist_class_names())
            names << QString::fromStdString(n);
        std::vector<int64_t> counts(100, 3);
        const QImage matrix = render_confusion(counts, 10, names);
        names[9] += " (a very long class name)";
        const QImage wider = render_confusion(counts, 10, names);
        QVERIFY2(wider.width() > matrix.width() + 100, qPrintable(QString("%1 -> %2").arg(matrix.width()).arg(wider.width())));
        QCOMPARE(wider.height(), matrix.height());
    }

    // A square decision boundary with axes: labels left of and below the map.
    void decision_boundary_is_square_with_axes()
    {
        MainWindow w;
        show_at(w, kSizes[1]);
        // A run started over an input panel (they share the charts' tabs) brings the charts up.
        dock(w, "quick")->raise();
        settle();
        QVERIFY(w.monitor()->visibleRegion().isEmpty());
        QCOMPARE(run(w, R"(local moons = data.moons{count = 200, noise = 0.2, seed = 1}
local m = nn.Sequential{nn.Dense{inputs = 2, outputs = 16, activation = "tanh"}, nn.Dense{inputs = 16, outputs = 2}}
train.fit{model = m, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(m, {lr = 0.02}), data = moons,
          epochs = 5, batch_size = 20, verbose = 0})",
                     "moons.lua"),
                 0);
        QVERIFY(!w.monitor()->visibleRegion().isEmpty());
        QTRY_VERIFY(w.model_panel()->has_boundary());
        const QImage b = w.model_panel()->boundary();
        QVERIFY2(std::abs(b.width() - b.height()) < b.width() / 10, qPrintable(QString("%1x%2").arg(b.width()).arg(b.height())));
        // Text in the left margin (the x2 labels) and the bottom one (x1).
        auto ink = [&b](QRect r) {
            int dark = 0;
            for (int y = r.top(); y <= r.bottom(); ++y)
                for (int x = r.left(); x <= r.right(); ++x)
                    dark += qGray(b.pixel(x, y)) < 128;
            return dark;
        };
        QVERIFY(ink(QRect(0, 0, b.width() / 12, b.height() * 4 / 5)) > 30);
        QVERIFY(ink(QRect(b.width() / 8, b.height() * 23 / 25, b.width() * 3 / 4, b.height() / 25)) > 30);
        dock(w, "model")->raise();
        settle();
        QDir().mkpath(NEURITE_SCREENSHOT_DIR);
        QVERIFY(w.grab().save(QString(NEURITE_SCREENSHOT_DIR) + "/layout_boundary.png", "PNG"));
    }

    // Seven runs, the last on Fashion-MNIST with its confusion matrix, and
    // every panel at the three sizes.
    void screenshots_of_every_panel()
    {
        MainWindow w;
        show_at(w, kSizes[0]);
        for (int i = 0; i < 6; ++i)
            QCOMPARE(run(w, QString(test::kXorScript).replace("name = \"xor\"", QString("name = \"xor-%1\"").arg(i + 1)),
                         "xor.lua"),
                     0);
        QVERIFY(w.data_panel()->open_path(kFashion));
        QCOMPARE(run_quick_on_panel(w), 0);
        QTRY_VERIFY(w.model_panel()->has_confusion());
        QVERIFY2(w.monitor()->runs().size() >= 7, qPrintable(w.monitor()->runs().join(", ")));
        QVERIFY(w.plugins()->select("Conv2D")); // its parameter table in the pictures
        QDir().mkpath(NEURITE_SCREENSHOT_DIR);
        QList<int> matrix_widths;
        for (const QSize size : kSizes) {
            dock(w, "training")->raise();
            show_at(w, size);
            check_layout(w, "seven runs");
            for (const char *name : kPanels) {
                dock(w, name)->raise();
                settle();
                const QString path = QString("%1/layout_%2x%3_%4.png").arg(NEURITE_SCREENSHOT_DIR).arg(size.width()).arg(size.height()).arg(name);
                QVERIFY(w.grab().save(path, "PNG"));
                if (QString(name) == "model") {
                    // The caption on top; the matrix within its column, and larger on a larger screen.
                    const QRect caption = w.model_panel()->confusion_caption_shown(), matrix = w.model_panel()->confusion_shown();
                    QVERIFY(caption.isValid() && matrix.isValid());
                    QVERIFY(caption.bottom() < matrix.top());
                    QVERIFY(w.model_panel()->confusion_pixmap_size().width() <= w.model_panel()->width());
                    matrix_widths << w.model_panel()->confusion_pixmap_size().width();
                }
            }
        }
        QVERIFY2(matrix_widths[2] > matrix_widths[0] * 3 / 2,
                 qPrintable(QString("the matrix is %1 px at 1024, %2 at 2560").arg(matrix_widths[0]).arg(matrix_widths[2])));
        QVERIFY(matrix_widths[2] <= w.model_panel()->confusion().width());
    }
};

QTEST_MAIN(TestGuiLayout)
#include "tst_gui_layout.moc"
