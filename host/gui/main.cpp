// neurite: the workbench window. `neurite [script.lua] [--run] [--screenshot FILE]`
//
// Without a display it says so and runs the script headless with neurite-run.
#include "code_editor.h"
#include "editor_autosave.h"
#include "editor_tabs.h"
#include "main_window.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/crash_report.h"
#include "neurite/core/version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QMessageBox>
#include <QPushButton>
#include <QTimer>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

// The default experiment: beside the build tree, or in the install prefix.
QString find_default_script(const QString &app_dir)
{
    for (const QString &candidate : {app_dir + "/../../scripts/fashion_mnist_mlp.lua",
                                     app_dir + "/../share/neurite/scripts/fashion_mnist_mlp.lua"})
        if (QFileInfo::exists(candidate))
            return QFileInfo(candidate).canonicalFilePath();
    return QString();
}

// Scripts a window that crashed or was killed left in its autosave: offered
// back, with the unsaved ones named.
void offer_recovery(neurite::gui::MainWindow &window)
{
    neurite::gui::EditorAutosave *autosave = window.autosave();
    const std::vector<neurite::gui::RecoveredScript> scripts = autosave->recoverable();
    if (scripts.empty())
        return;
    QStringList names;
    for (const auto &s : scripts)
        names << (s.path.isEmpty() ? s.title : s.path) +
                     (s.modified ? QObject::tr(" (unsaved changes)") : QString());
    QMessageBox box(QMessageBox::Question, QObject::tr("Restore scripts"),
                    QObject::tr("Neurite did not close cleanly last time (it crashed or was killed). "
                                "Restore the scripts it had open?\n\n%1").arg(names.join('\n')),
                    QMessageBox::NoButton, &window);
    QPushButton *restore = box.addButton(QObject::tr("Restore"), QMessageBox::AcceptRole);
    box.addButton(QObject::tr("Discard"), QMessageBox::DestructiveRole);
    box.setDefaultButton(restore);
    box.exec();
    if (box.clickedButton() == restore)
        autosave->restore(scripts);
    else
        autosave->discard_recoverable();
}

bool have_display()
{
    const char *platform = std::getenv("QT_QPA_PLATFORM");
    if (platform && *platform)
        return true; // offscreen, xcb, wayland: the user chose
    const char *x = std::getenv("DISPLAY");
    const char *wayland = std::getenv("WAYLAND_DISPLAY");
    return (x && *x) || (wayland && *wayland);
}

// Replaces this process with neurite-run on the same script.
int run_headless(const char *argv0, const std::string &script, bool keep_denormals)
{
    const std::string runner = QFileInfo(QString::fromLocal8Bit(argv0)).absolutePath().toStdString() + "/neurite-run";
    std::fprintf(stderr, "neurite: no display (DISPLAY and WAYLAND_DISPLAY are not set); running %s headless with neurite-run\n",
                 script.c_str());
    std::vector<char *> args = {const_cast<char *>(runner.c_str())};
    if (keep_denormals)
        args.push_back(const_cast<char *>("--keep-denormals"));
    args.insert(args.end(), {const_cast<char *>(script.c_str()), nullptr});
    execv(runner.c_str(), args.data());
    std::fprintf(stderr, "neurite: cannot start %s\n", runner.c_str());
    return 1;
}

// The command line, read the same with or without a display, so that
// --help and --version answer rather than start a headless run.
void read_command_line(QCommandLineParser &parser, const QCoreApplication &app)
{
    QCoreApplication::setOrganizationName("Neurite");
    QCoreApplication::setApplicationName("neurite");
    QCoreApplication::setApplicationVersion(neurite::version());
    parser.setApplicationDescription("Neurite: a neural-network workbench");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("script", "Lua scripts to open (default: scripts/fashion_mnist_mlp.lua)");
    parser.addOptions({{"run", "Run the first script at once."},
                       {"screenshot", "After the run, save the window as a PNG and quit.", "file"},
                       {"quit-after-run", "Quit when the run ends (exit code of the run)."},
                       {"keep-denormals", "Compute with subnormal floats instead of flushing them to zero "
                                          "(FTZ/DAZ, the default; slower on many x86 cores)."}});
    parser.process(app);
}

} // namespace

int main(int argc, char **argv)
{
    if (!have_display()) {
        QCoreApplication probe(argc, argv);
        QCommandLineParser parser;
        read_command_line(parser, probe);
        std::string script;
        if (!parser.positionalArguments().isEmpty())
            script = parser.positionalArguments().first().toStdString();
        else
            script = find_default_script(QCoreApplication::applicationDirPath()).toStdString();
        if (script.empty()) {
            std::fprintf(stderr, "neurite: no display and no script to run headless\n");
            return 2;
        }
        return run_headless(argv[0], script, parser.isSet("keep-denormals"));
    }

    QApplication app(argc, argv);
    // Scripts run in a child process, which a crashing plugin ends instead
    // of the window; should the window itself crash, the line on stderr
    // says where, and the autosave offers the scripts to the next window.
    neurite::crash::install_handlers("neurite");
    QCommandLineParser parser;
    read_command_line(parser, app);
    if (parser.isSet("keep-denormals"))
        neurite::ComputeContext::set_flush_denormals(false);

    neurite::gui::MainWindow window;
    QStringList scripts = parser.positionalArguments();
    if (scripts.isEmpty()) {
        const QString fallback = find_default_script(QCoreApplication::applicationDirPath());
        if (!fallback.isEmpty())
            scripts << fallback;
    }
    for (const QString &path : scripts) {
        QString error;
        if (!window.editor()->open_file(path, &error))
            std::fprintf(stderr, "neurite: %s\n", qPrintable(error));
    }
    if (window.editor()->count() == 0)
        window.editor()->new_script("-- A new experiment. Press F5 to run it.\n");
    window.show();

    const QString screenshot = parser.value("screenshot");
    const bool quit_after = parser.isSet("quit-after-run") || !screenshot.isEmpty();
    int run_exit = 0;
    QObject::connect(&window, &neurite::gui::MainWindow::run_finished, &app, [&](int code, bool) {
        run_exit = code;
        // After the charts' deferred layout (their tick labels) has run.
        QTimer::singleShot(200, &app, [&] {
            if (!screenshot.isEmpty())
                window.grab().save(screenshot, "PNG");
            if (quit_after)
                app.quit();
        });
    });
    if (parser.isSet("run") || quit_after)
        QTimer::singleShot(300, &window, &neurite::gui::MainWindow::run_current);
    else // automated runs leave what they find for a window a person opens
        QTimer::singleShot(0, &window, [&window] { offer_recovery(window); });
    const int status = app.exec();
    return quit_after ? run_exit : status;
}
