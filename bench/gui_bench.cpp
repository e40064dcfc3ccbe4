// gui_bench: a Fashion-MNIST run inside the window against the same script
// under neurite-run, and the UI event loop's latency meanwhile. The two
// alternate (--pairs N, 5 by default) so a noisy machine slows both alike;
// the figures are medians over the pairs:
//   gui_fashion pairs=... gui_samples_per_s=... cli_samples_per_s=... ratio=...
//               ui_latency_p99_ms=... ui_latency_max_ms=... ui_cpu_share=...
// Then a long run, 100,000 steps of XOR (gui_long.lua), in the window alone:
//   gui_long steps=... steps_per_s=... ui_latency_p99_ms=... ui_latency_max_ms=...
//            ui_cpu_share=... dropped_points=... drawn_points=...
// Targets: ratio >= 0.90 and latency under 50 ms. Runs offscreen.
#include "console.h"
#include "main_window.h"
#include "training_monitor.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace {

// The number after "BENCH ... key=" in a script's output, 0 if none.
double parse_bench(const QString &text, const QString &key = "samples_per_s")
{
    const auto m = QRegularExpression("BENCH .*\\b" + key + "=(\\d+)").match(text);
    return m.hasMatch() ? m.captured(1).toDouble() : 0;
}

QString read_script(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        std::fprintf(stderr, "gui_bench: cannot read %s\n", qPrintable(path));
        return {};
    }
    return QString::fromUtf8(file.readAll());
}

double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct GuiRun {
    QString output;
    double ui_cpu_share = 0;
};

// One run of the script in the window while a 10 ms timer records how late
// the event loop serves it.
GuiRun run_in_window(QApplication &app, neurite::gui::MainWindow &window, const QString &script,
                     const QString &name, std::vector<double> &lateness)
{
    QElapsedTimer clock;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    qint64 last = 0;
    QObject::connect(&probe, &QTimer::timeout, [&] {
        const qint64 now = clock.elapsed();
        if (last)
            lateness.push_back(double(std::max<qint64>(0, now - last - 10)));
        last = now;
    });
    bool done = false;
    const auto connection =
        QObject::connect(&window, &neurite::gui::MainWindow::run_finished, [&] { done = true; });
    window.console()->clear();
    window.run_script(script, name);
    const double ui_cpu_before = neurite::gui::TrainingMonitor::thread_cpu_ms();
    clock.start();
    probe.start(10);
    while (!done)
        app.processEvents(QEventLoop::WaitForMoreEvents);
    probe.stop();
    QObject::disconnect(connection);
    GuiRun run;
    // The UI thread's CPU time during the run: each of its milliseconds takes
    // a core from one of the two training threads, and the other waits.
    run.ui_cpu_share = (neurite::gui::TrainingMonitor::thread_cpu_ms() - ui_cpu_before) / std::max<qint64>(1, clock.elapsed());
    run.output = window.console()->plain_text();
    return run;
}

} // namespace

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    int pairs = 5;
    const QStringList args = app.arguments();
    if (const qsizetype i = args.indexOf("--pairs"); i >= 0 && i + 1 < args.size())
        pairs = std::max(1, args[i + 1].toInt());

    const QString dir = QCoreApplication::applicationDirPath();
    const QString script_path = QString(NEURITE_SOURCE_DIR) + "/bench/gui_bench.lua";
    const QString script = read_script(script_path), long_script = read_script(QString(NEURITE_SOURCE_DIR) + "/bench/gui_long.lua");
    if (script.isEmpty() || long_script.isEmpty())
        return 1;

    neurite::gui::MainWindow window;
    window.resize(1400, 860);
    window.show();
    // A person sees the window before pressing Run: its first layout and
    // paint are not part of the run.
    QElapsedTimer settle;
    settle.start();
    while (settle.elapsed() < 500)
        app.processEvents(QEventLoop::AllEvents, 50);

    std::vector<double> cli_rates, gui_rates, ratios, shares, lateness;
    for (int pair = 0; pair < pairs; ++pair) {
        // The headless run while the window is idle, as a user would compare.
        QProcess cli;
        cli.start(dir + "/neurite-run", {"--quiet", script_path});
        cli.waitForFinished(-1);
        const double cli_rate = parse_bench(QString::fromUtf8(cli.readAllStandardOutput()));
        const GuiRun run = run_in_window(app, window, script, "gui_bench.lua", lateness);
        const struct {
            double rate, ui_cpu_share;
        } gui{parse_bench(run.output), run.ui_cpu_share};
        if (cli_rate <= 0 || gui.rate <= 0) {
            std::fprintf(stderr, "gui_bench: pair %d printed no rate (neurite-run %.0f, window %.0f)\n", pair + 1,
                         cli_rate, gui.rate);
            return 1;
        }
        std::printf("pair %d: window %.0f samples/s, neurite-run %.0f, ratio %.3f, ui cpu %.3f\n", pair + 1,
                    gui.rate, cli_rate, gui.rate / cli_rate, gui.ui_cpu_share);
        std::fflush(stdout);
        cli_rates.push_back(cli_rate);
        gui_rates.push_back(gui.rate);
        ratios.push_back(gui.rate / cli_rate);
        shares.push_back(gui.ui_cpu_share);
    }

    std::sort(lateness.begin(), lateness.end());
    const double p99 = lateness.empty() ? 0 : lateness[lateness.size() * 99 / 100];
    const double worst = lateness.empty() ? 0 : lateness.back();
    std::printf("gui_fashion pairs=%d gui_samples_per_s=%.0f cli_samples_per_s=%.0f ratio=%.3f "
                "ui_latency_p99_ms=%.0f ui_latency_max_ms=%.0f ui_cpu_share=%.3f\n",
                pairs, median(gui_rates), median(cli_rates), median(ratios), p99, worst, median(shares));
    std::fflush(stdout);

    // Every chart grows to 100,000 points; the window must stay responsive
    // and lose none of them.
    std::vector<double> long_lateness;
    const GuiRun long_run = run_in_window(app, window, long_script, "gui_long.lua", long_lateness);
    window.monitor()->refresh();
    std::sort(long_lateness.begin(), long_lateness.end());
    const QString long_name = window.monitor()->runs().isEmpty() ? QString() : window.monitor()->runs().last();
    const neurite::gui::MetricSeries *losses = window.monitor()->series(long_name, "batch_loss");
    std::printf("gui_long steps=%.0f steps_per_s=%.0f ui_latency_p99_ms=%.0f ui_latency_max_ms=%.0f "
                "ui_cpu_share=%.3f dropped_points=%llu batch_loss_points=%lld drawn_points=%d\n",
                parse_bench(long_run.output, "steps"), parse_bench(long_run.output, "steps_per_s"),
                long_lateness.empty() ? 0 : long_lateness[long_lateness.size() * 99 / 100],
                long_lateness.empty() ? 0 : long_lateness.back(), long_run.ui_cpu_share,
                static_cast<unsigned long long>(window.monitor()->dropped_points()),
                static_cast<long long>(losses ? losses->size() : 0),
                window.monitor()->drawn_points(long_name, "batch_loss"));
    return 0;
}
