#pragma once

// Shared by the tests that drive the real window (gui_window, gui_kernel, ...).
#include "main_window.h"
#include "quick_experiment.h"

#include <QList>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QVariant>

#include <memory>
#include <utility>

namespace neurite::test {

// XOR trained by train.fit for 150 epochs of one batch, as run name "xor".
inline constexpr const char *kXorScript = R"(
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{1, 2, 2, 1}
local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 6, activation = "tanh"}, nn.Dense{inputs = 6, outputs = 2}}
train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = 0.05}),
          data = {x = x, y = y}, epochs = 150, batch_size = 4, verbose = 0, name = "xor"}
)";

// The window lists the run store's past runs at start: each test program
// keeps its runs in an empty folder of its own, removed when it ends, so
// earlier tests' runs are not listed (call from init(), before each test).
inline void use_fresh_run_store()
{
    static std::unique_ptr<QTemporaryDir> store;
    store = std::make_unique<QTemporaryDir>();
    QSettings().setValue("run/runs_dir", store->path());
}

// Waits for the window's run to end (MainWindow::run_finished caught by
// `spy`); returns {exit code, interrupted}, or {-1, false} on a timeout.
inline std::pair<int, bool> wait_for_run(QSignalSpy &spy, int timeout_ms = 120000)
{
    if (spy.isEmpty() && !spy.wait(timeout_ms))
        return {-1, false};
    const QList<QVariant> args = spy.takeFirst();
    return {args[0].toInt(), args[1].toBool()};
}

// Fills the quick-experiment form, presses its button as a user would, and
// returns the run's exit code (-2: the form has no button).
inline int run_quick(gui::MainWindow &w, const gui::QuickExperiment::Settings &s)
{
    w.quick_form()->set_settings(s);
    QSignalSpy done(&w, &gui::MainWindow::run_finished);
    const auto buttons = w.quick_form()->findChildren<QPushButton *>();
    if (buttons.isEmpty())
        return -2;
    buttons.last()->click();
    return wait_for_run(done).first;
}

} // namespace neurite::test
