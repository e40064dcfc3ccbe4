#pragma once

// Shared by the tests that drive the real window (gui_window, gui_kernel).
#include <QList>
#include <QSignalSpy>
#include <QVariant>

#include <utility>

namespace neurite::test {

// Waits for the window's run to end (MainWindow::run_finished caught by
// `spy`); returns {exit code, interrupted}, or {-1, false} on a timeout.
inline std::pair<int, bool> wait_for_run(QSignalSpy &spy, int timeout_ms = 120000)
{
    if (spy.isEmpty() && !spy.wait(timeout_ms))
        return {-1, false};
    const QList<QVariant> args = spy.takeFirst();
    return {args[0].toInt(), args[1].toBool()};
}

} // namespace neurite::test
