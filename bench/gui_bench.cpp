// gui_bench: a Fashion-MNIST run inside the window against the same script
// under neurite-run, and the UI event loop's latency meanwhile:
//   gui_fashion gui_samples_per_s=... cli_samples_per_s=... ratio=... ui_latency_p99_ms=... ui_latency_max_ms=...
// Targets: ratio >= 0.90 and latency under 50 ms. Runs offscreen.
#include "console.h"
#include "main_window.h"

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

double parse_rate(const QString &text)
{
    const auto m = QRegularExpression("BENCH samples_per_s=(\\d+)").match(text);
    return m.hasMatch() ? m.captured(1).toDouble() : 0;
}

} // namespace

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    const QString dir = QCoreApplication::applicationDirPath();
    const QString script_path = QString(NEURITE_SOURCE_DIR) + "/bench/gui_bench.lua";
    QFile file(script_path);
    if (!file.open(QIODevice::ReadOnly)) {
        std::fprintf(stderr, "gui_bench: cannot read %s\n", qPrintable(script_path));
        return 1;
    }
    const QString script = QString::fromUtf8(file.readAll());

    // The same script headless first, while nothing else of ours runs.
    QProcess cli;
    cli.start(dir + "/neurite-run", {"--quiet", script_path});
    cli.waitForFinished(-1);
    const double cli_rate = parse_rate(QString::fromUtf8(cli.readAllStandardOutput()));

    // The window: run, and sample the event loop every 10 ms meanwhile.
    neurite::gui::MainWindow window;
    window.resize(1400, 860);
    window.show();
    std::vector<double> lateness;
    QElapsedTimer clock;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    qint64 last = 0;
    QObject::connect(&probe, &QTimer::timeout, [&] {
        const qint64 now = clock.elapsed();
        if (last)
            lateness.push_back(std::max<qint64>(0, now - last - 10));
        last = now;
    });
    bool done = false;
    QObject::connect(&window, &neurite::gui::MainWindow::run_finished, [&] { done = true; });
    window.run_script(script, "gui_bench.lua");
    clock.start();
    probe.start(10);
    while (!done)
        app.processEvents(QEventLoop::WaitForMoreEvents);
    probe.stop();
    const double gui_rate = parse_rate(window.console()->plain_text());


    std::sort(lateness.begin(), lateness.end());
    const double p99 = lateness.empty() ? 0 : lateness[lateness.size() * 99 / 100];
    const double worst = lateness.empty() ? 0 : lateness.back();
    std::printf("gui_fashion gui_samples_per_s=%.0f cli_samples_per_s=%.0f ratio=%.3f ui_latency_p99_ms=%.0f "
                "ui_latency_max_ms=%.0f\n",
                gui_rate, cli_rate, cli_rate > 0 ? gui_rate / cli_rate : 0, p99, worst);
    return gui_rate > 0 && cli_rate > 0 ? 0 : 1;
}
