// runs_list_bench: what the run store costs the window at its start. Makes
// N stored runs (--runs N, 50 by default) with neurite-run: a train.sweep of
// N variants of XOR, each 1,200 epochs of 4 one-sample steps (4,800 steps, a
// metrics.jsonl of about 8,400 lines, as a 10-epoch Fashion-MNIST run has),
// then opens the window on them (--rounds R, 5 by default) and prints the
// medians:
//   runs_list runs=... window_ms=... (MainWindow with load_store: every run.json)
//             curves_ms=... (the ticked runs' metrics.jsonl: the newest 10)
//             redraw_ms=... (the charts with those curves)
//             tick_all_ms=... (ticking the other runs one by one: their files
//             read, the charts redrawn after each)
//             background_ms=... max_pause_ms=... (another window, left to
//             itself: until its ticked runs' curves are read on the thread
//             pool, and the longest pause of its event loop meanwhile)
//             read_pause_ms=... (the longest pause begun during a read)
// Runs offscreen.
#include "main_window.h"
#include "run_worker.h"
#include "training_monitor.h"

#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QProcess>
#include <QSettings>
#include <QTemporaryDir>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <vector>

using namespace neurite::gui;

namespace {

const char *kSweep = R"(
local n = tonumber(arg[1])
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{1, 2, 2, 1}
local lrs = {}
for i = 1, n do lrs[i] = 0.001 * i end
train.sweep{grid = {lr = lrs}, metric = "loss", name = "bench", verbose = 0, run = function(cfg)
  local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 6, activation = "tanh"}, nn.Dense{inputs = 6, outputs = 2}}
  train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = cfg.lr}),
            data = {x = x, y = y}, epochs = 1200, batch_size = 1, verbose = 0}
end}
)";

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool make_runs(const QString &dir, int count)
{
    QFile script(dir + "/sweep.lua");
    if (!script.open(QIODevice::WriteOnly) || script.write(kSweep) < 0)
        return false;
    script.close();
    QProcess run;
    run.setWorkingDirectory(dir);
    run.start(RunWorker::kernel_program(), {"--runs", dir + "/runs", dir + "/sweep.lua", QString::number(count)});
    return run.waitForFinished(-1) && run.exitCode() == 0;
}

// A window left to itself after it is shown: how long until every ticked
// run has its curves, and the longest wait of a 1 ms timer meanwhile (its
// first paint and the charts' paints included), and the longest one begun
// while a read was in flight.
struct Background {
    double total_ms, max_pause_ms, max_read_pause_ms;
};
Background background_load()
{
    MainWindow w;
    w.resize(1400, 900);
    w.show();
    TrainingMonitor *m = w.monitor();
    auto loaded = [m] {
        for (const QString &run : m->runs())
            if (m->run_visible(run) && !m->series(run, "loss"))
                return false;
        return true;
    };
    QElapsedTimer clock, since_tick;
    clock.start();
    since_tick.start();
    double max_pause_ms = 0, max_read_pause_ms = 0;
    bool reading = false; // a read was in flight at the last tick
    QEventLoop loop;
    QTimer ticker;
    QObject::connect(&ticker, &QTimer::timeout, [&] {
        const double pause = since_tick.nsecsElapsed() / 1e6;
        max_pause_ms = std::max(max_pause_ms, pause);
        if (reading)
            max_read_pause_ms = std::max(max_read_pause_ms, pause);
        reading = m->curve_reads_in_flight() > 0;
        since_tick.restart();
        if (loaded())
            loop.quit();
    });
    ticker.start(1);
    loop.exec();
    return {clock.nsecsElapsed() / 1e6, max_pause_ms, max_read_pause_ms};
}

} // namespace

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", qgetenv("QT_QPA_PLATFORM").isEmpty() ? "offscreen" : qgetenv("QT_QPA_PLATFORM"));
    QApplication app(argc, argv);
    QCoreApplication::setOrganizationName("neurite-bench");
    int count = 50, rounds = 5;
    const QStringList args = app.arguments();
    for (int i = 1; i + 1 < args.size(); ++i) {
        if (args[i] == "--runs")
            count = args[i + 1].toInt();
        else if (args[i] == "--rounds")
            rounds = args[i + 1].toInt();
    }
    QTemporaryDir dir;
    if (!make_runs(dir.path(), count)) {
        std::fprintf(stderr, "runs_list_bench: neurite-run could not make the runs\n");
        return 1;
    }
    QSettings().setValue("run/runs_dir", dir.path() + "/runs");
    std::vector<double> window_ms, curves_ms, redraw_ms, all_ms, background_ms, pause_ms, read_pause_ms;
    int listed = 0;
    for (int r = 0; r < rounds; ++r) {
        QElapsedTimer clock;
        clock.start();
        MainWindow w;
        window_ms.push_back(clock.nsecsElapsed() / 1e6);
        w.resize(1400, 900);
        w.show();
        QApplication::processEvents();
        TrainingMonitor *m = w.monitor();
        listed = static_cast<int>(m->runs().size());
        clock.restart();
        m->load_pending_curves();
        curves_ms.push_back(clock.nsecsElapsed() / 1e6);
        clock.restart();
        m->refresh();
        redraw_ms.push_back(clock.nsecsElapsed() / 1e6);
        clock.restart();
        for (const QString &run : m->runs())
            if (!m->run_visible(run))
                m->set_run_visible(run, true);
        all_ms.push_back(clock.nsecsElapsed() / 1e6);
        const Background b = background_load();
        background_ms.push_back(b.total_ms);
        pause_ms.push_back(b.max_pause_ms);
        read_pause_ms.push_back(b.max_read_pause_ms);
    }
    std::printf("runs_list runs=%d window_ms=%.1f curves_ms=%.1f redraw_ms=%.1f tick_all_ms=%.1f background_ms=%.1f "
                "max_pause_ms=%.1f read_pause_ms=%.1f\n",
                listed, median(window_ms), median(curves_ms), median(redraw_ms), median(all_ms),
                median(background_ms), median(pause_ms), median(read_pause_ms));
    return listed == count ? 0 : 1;
}
