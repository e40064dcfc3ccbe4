// neurite-run's parts: the command line, --plot's charts (grouped and ranged
// by the rules the window follows too) and --log's JSON lines.
#include "command_line.h"
#include "metrics_log.h"
#include "run_plot.h"
#include "training_monitor.h"

#include "neurite/core/error.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <limits>

using namespace neurite;
using namespace neurite::cli;

namespace {

MonitorEvent scalar(const std::string &run, const std::string &name, int64_t step, double value)
{
    MonitorEvent e;
    e.type = MonitorEvent::Type::Scalar;
    e.run = run;
    e.name = name;
    e.step = step;
    e.epoch = 1 + step / 10;
    e.value = value;
    e.time = step * 0.25;
    return e;
}

using Args = std::vector<std::string>;

} // namespace

class TestCli : public QObject {
    Q_OBJECT

private slots:
    void options_come_before_the_script()
    {
        Options o;
        QVERIFY(!parse_command_line({"neurite-run", "--seed", "3", "-q", "--plot=run.jpg", "s.lua", "10", "-1"}, o));
        QCOMPARE(o.seed, uint64_t(3));
        QVERIFY(o.quiet && !o.sandbox && !o.plot_log);
        QCOMPARE(o.plot, std::string("run.jpg"));
        QCOMPARE(o.script, std::string("s.lua"));
        QCOMPARE(o.args, (Args{"10", "-1"})); // a negative number is no option
        QCOMPARE(o.interpreter, (Args{"neurite-run", "--seed", "3", "-q", "--plot=run.jpg"}));
    }

    // `neurite-run script.lua --sandbox` ran the script unsandboxed, with
    // "--sandbox" as arg[1].
    void an_option_after_the_script_is_refused()
    {
        Options o;
        const auto exit = parse_command_line({"neurite-run", "s.lua", "--sandbox"}, o);
        QVERIFY(exit);
        QCOMPARE(exit->code, kExitUsage);
        QVERIFY2(exit->text.find("option --sandbox after the script name; put it before s.lua, or after -- to "
                                 "pass it to the script") != std::string::npos,
                 exit->text.c_str());
        Options p;
        const auto value = parse_command_line({"neurite-run", "s.lua", "--seed=4"}, p);
        QVERIFY(value && value->text.find("option --seed after the script name") != std::string::npos);
        Options q;
        const auto unknown = parse_command_line({"neurite-run", "s.lua", "--epochs", "5"}, q);
        QVERIFY(unknown && unknown->code == kExitUsage);
        QVERIFY2(unknown->text.find("s.lua -- --epochs") != std::string::npos, unknown->text.c_str());
    }

    void after_double_dash_everything_is_the_scripts()
    {
        Options o;
        QVERIFY(!parse_command_line({"neurite-run", "--quiet", "s.lua", "a", "--", "--sandbox", "--", "-q"}, o));
        QCOMPARE(o.args, (Args{"a", "--sandbox", "--", "-q"}));
        QVERIFY(!o.sandbox);
        Options p; // "--" before the script ends neurite-run's options there
        QVERIFY(!parse_command_line({"neurite-run", "--", "-odd.lua", "--sandbox"}, p));
        QCOMPARE(p.script, std::string("-odd.lua"));
        QCOMPARE(p.args, (Args{"--sandbox"}));
        QVERIFY(!p.sandbox);
    }

    void help_version_and_usage_errors()
    {
        Options o;
        const auto help = parse_command_line({"neurite-run", "--help"}, o);
        QVERIFY(help && help->code == kExitOk);
        QVERIFY(help->text.rfind("usage: neurite-run [options] script.lua", 0) == 0);
        QVERIFY(help->text.find("--plot-log") != std::string::npos);
        QVERIFY(help->text.find("<executable_name>") == std::string::npos);
        const auto version = parse_command_line({"neurite-run", "-v"}, o);
        QVERIFY(version && version->code == kExitOk && version->text.rfind("neurite-run 0.", 0) == 0);
        const auto threads = parse_command_line({"neurite-run", "--threads", "0", "s.lua"}, o);
        QVERIFY(threads && threads->code == kExitUsage &&
                threads->text.find("--threads needs a positive whole number, got '0'") != std::string::npos);
        const auto bogus = parse_command_line({"neurite-run", "--bogus", "s.lua"}, o);
        QVERIFY(bogus && bogus->text.find("unknown option '--bogus'") != std::string::npos);
        const auto plot = parse_command_line({"neurite-run", "--plot", "run.gif", "s.lua"}, o);
        QVERIFY(plot && plot->code == kExitUsage && plot->text.find("cannot write .gif images") != std::string::npos);
        QVERIFY(parse_command_line({"neurite-run", "--plot-log", "s.lua"}, o));
        const auto stdin_script = parse_command_line({"neurite-run", "-", "--log", "x.csv", "a"}, o);
        QVERIFY(stdin_script && stdin_script->code == kExitUsage);
        QVERIFY(parse_command_line({"neurite-run"}, o));
        Options listing;
        QVERIFY(!parse_command_line({"neurite-run", "--list-plugins"}, listing));
        QVERIFY(listing.list_plugins && listing.script.empty());
    }

    // --plot drew lr = 0.01 on -1 .. 1: its own padding of a constant series.
    void plot_draws_a_constant_series_around_its_value()
    {
        RunPlot plot;
        for (int step = 1; step <= 50; ++step)
            plot.handle(scalar("run", "lr", step, 0.01));
        const std::vector<RunPlot::Chart> laid_out = plot.layout();
        QCOMPARE(laid_out.size(), size_t(1));
        const charts::AxisRange y = laid_out[0].y;
        QVERIFY2(y.lo >= 0.005 && y.lo < 0.01 && y.hi > 0.01 && y.hi <= 0.015,
                 qPrintable(QString("%1 .. %2").arg(y.lo).arg(y.hi)));
        QCOMPARE(laid_out[0].y_ticks.size(), size_t(y.ticks));
    }

    // The window and --plot put the same metrics on the same charts (the
    // CLI used to draw batch_loss with loss, the window on its own).
    void plot_and_window_group_metrics_alike()
    {
        const std::vector<std::string> names = {"batch_loss", "loss", "accuracy", "lr", "val_loss", "val_accuracy",
                                                "samples_per_s"};
        RunPlot plot;
        gui::TrainingMonitor window;
        for (int step = 1; step <= 20; ++step)
            for (const std::string &name : names) {
                plot.handle(scalar("run", name, step, 1.0 / step));
                window.post("run", QString::fromStdString(name), {double(step), 1, 1.0 / step});
            }
        window.refresh();
        QSet<QString> plotted;
        for (const RunPlot::Chart &c : plot.layout())
            plotted.insert(QString::fromStdString(c.title));
        const QStringList shown = window.charts();
        QCOMPARE(plotted, QSet<QString>(shown.begin(), shown.end()));
        QCOMPARE(plotted, (QSet<QString>{"batch_loss", "loss", "accuracy", "lr", "samples_per_s"}));
        for (const RunPlot::Chart &c : plot.layout())
            if (c.title == "loss") {
                QCOMPARE(c.series.size(), size_t(2));
                QCOMPARE(c.series[1]->name, std::string("val_loss"));
            }
    }

    void plot_log_scale()
    {
        RunPlot plot(true);
        for (int step = 1; step <= 30; ++step) {
            plot.handle(scalar("run", "loss", step, 2.0 / step));
            plot.handle(scalar("run", "margin", step, step % 2 ? 0.0 : -1.0)); // nothing above 0
        }
        const std::vector<RunPlot::Chart> laid_out = plot.layout();
        QCOMPARE(laid_out.size(), size_t(2));
        QVERIFY(laid_out[0].log_y);
        QVERIFY(qFuzzyCompare(laid_out[0].y.lo, 0.01) && qFuzzyCompare(laid_out[0].y.hi, 10.0));
        QCOMPARE(laid_out[0].y_ticks.size(), size_t(4)); // 0.01, 0.1, 1, 10
        QVERIFY(!laid_out[1].log_y);                     // drawn linear rather than empty
        QTemporaryDir dir;
        const std::string path = dir.filePath("log.png").toStdString();
        plot.write(path);
        QVERIFY(QImage(QString::fromStdString(path)).width() >= 1280);
    }

    void plot_writes_the_format_its_suffix_names()
    {
        RunPlot plot;
        plot.handle(scalar("run", "loss", 1, 0.5));
        QTemporaryDir dir;
        for (const char *name : {"a.jpg", "b.JPEG", "c.bmp", "d.png"}) {
            const QString path = dir.filePath(name);
            plot.write(path.toStdString());
            QFile f(path);
            QVERIFY(f.open(QIODevice::ReadOnly));
            const QByteArray head = f.read(4);
            const QString suffix = QFileInfo(path).suffix().toLower();
            if (suffix == "png")
                QCOMPARE(head, QByteArray("\x89PNG"));
            else if (suffix == "bmp")
                QCOMPARE(head.left(2), QByteArray("BM"));
            else
                QCOMPARE(head.left(3), QByteArray("\xff\xd8\xff"));
        }
        QVERIFY(RunPlot::path_problem("x.png").empty());
        QVERIFY(RunPlot::path_problem("x.xyz").find("cannot write .xyz images") != std::string::npos);
        QVERIFY(RunPlot::path_problem("plot").find("no suffix") != std::string::npos);
        QVERIFY_THROWS_EXCEPTION(neurite::Error, plot.write(dir.filePath("e.xyz").toStdString()));
    }

    void log_lines_are_json()
    {
        MonitorEvent e = scalar("xor", "loss", 40, 0.5);
        QCOMPARE(json_line(e),
                 std::string("{\"epoch\":5,\"name\":\"loss\",\"run\":\"xor\",\"step\":40,\"time\":10,\"value\":0.5}\n"));
        e.run = "a \"quoted\"\nrun\t\x01";
        e.value = 0.1;
        const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(json_line(e))).object();
        QCOMPARE(o.value("run").toString(), QString::fromStdString(e.run));
        QCOMPARE(o.value("value").toDouble(), 0.1); // every digit, not %.9g's
        QVERIFY(!o.contains("non_finite"));
    }

    // JSON has no NaN or infinity: null, and "non_finite" says which.
    void non_finite_values_in_json()
    {
        const std::pair<double, const char *> cases[] = {{std::nan(""), "nan"},
                                                         {std::numeric_limits<double>::infinity(), "inf"},
                                                         {-std::numeric_limits<double>::infinity(), "-inf"}};
        for (const auto &[value, text] : cases) {
            const std::string line = json_line(scalar("run", "loss", 3, value));
            QJsonParseError error;
            const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(line), &error).object();
            QVERIFY2(error.error == QJsonParseError::NoError, line.c_str());
            QVERIFY(o.value("value").isNull());
            QCOMPARE(o.value("non_finite").toString(), QString(text));
            QCOMPARE(o.value("step").toInt(), 3);
        }
    }

    void csv_log_is_unchanged()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("run.csv").toStdString();
        {
            MetricsLog log(path);
            log.handle(scalar("xor", "loss", 40, 0.5));
            log.handle(scalar("a,b", "loss", 41, -std::numeric_limits<double>::infinity()));
            log.flush();
        }
        QFile f(QString::fromStdString(path));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), QByteArray("run,step,epoch,name,value,time\n"
                                         "xor,40,5,loss,0.5,10\n"
                                         "\"a,b\",41,5,loss,-inf,10.25\n"));
    }
};

QTEST_MAIN(TestCli)
#include "tst_cli.moc"
