#include "main_window.h"
#include "save_location.h"

#include "activation_explorer.h"
#include "code_editor.h"
#include "console.h"
#include "data_panel.h"
#include "editor_autosave.h"
#include "editor_tabs.h"
#include "model_panel.h"
#include "plugin_browser.h"
#include "quick_experiment.h"
#include "run_worker.h"
#include "training_monitor.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/data/current.h"
#include "neurite/core/registry.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDateTime>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QInputDialog>
#include <QLabel>
#include <QMenuBar>
#include <QDir>
#include <QEvent>
#include <QMessageBox>
#include <QPushButton>
#include <QGuiApplication>
#include <QScreen>
#include <QSettings>
#include <QStatusBar>
#include <QStyle>
#include <QTimer>
#include <QToolBar>

#include <unistd.h>

#include <algorithm>
#include <tuple>
#include <utility>

namespace neurite::gui {

namespace {

constexpr int kStopWaitMs = 5000; // closing waits this long for a run to stop
constexpr double kConsoleShare = 0.25; // of the height, under the editor
constexpr int kRestoredStateMs = 300;  // Qt re-applies a restored layout for 150 ms after it shows

QDockWidget *dock(QMainWindow *window, const QString &title, const QString &name, QWidget *widget,
                  Qt::DockWidgetArea area)
{
    auto *d = new QDockWidget(title, window);
    d->setObjectName(name); // saveState() needs stable names
    d->setWidget(widget);
    window->addDockWidget(area, d);
    return d;
}

// Three quarters of the machine's memory: a script that grows without end
// stops with an error at its line before the system's OOM killer steps in.
quint64 default_memory_limit()
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? quint64(pages) * quint64(page) / 4 * 3 : 0;
}

} // namespace

MainWindow::MainWindow()
    : m_context(std::make_unique<ComputeContext>()), m_registry(std::make_unique<Registry>()),
      m_editor(new EditorTabs), m_console(new Console), m_monitor(new TrainingMonitor),
      m_model(new ModelPanel), m_data(new DataPanel), m_status(new QLabel),
      m_elapsed_timer(new QTimer(this))
{
    setWindowTitle(tr("Neurite"));
    // The UI thread's own computations (the activation explorer) are tiny:
    // one thread. An OpenMP team here would count against the cores, and
    // libgomp then stops spinning at the run's barriers and sleeps instead,
    // which cost training in the window a third of its speed.
    ComputeContext::set_num_threads(1);
    m_registry->load_default_paths();
    m_plugins = new PluginBrowser(*m_registry);
    m_quick = new QuickExperiment(*m_registry);
    m_activations = new ActivationExplorer(*m_registry, *m_context);
    setCentralWidget(m_editor);
    m_autosave = std::make_unique<EditorAutosave>(m_editor);
    build_docks();
    build_actions();
    statusBar()->addPermanentWidget(m_status);
    m_status->setText(tr("Ready"));

    m_worker = new RunWorker(m_monitor, this);
    m_worker->set_max_memory(QSettings().value("run/max_memory", default_memory_limit()).toULongLong());
    // As neurite-run: runs/ in the working directory unless the user chose another folder or none.
    m_worker->set_runs_dir(QSettings().value("run/runs_dir", QDir::current().absoluteFilePath("runs")).toString());
    // Past runs in the runs list (their curves read as they are drawn).
    m_monitor->set_runs_dir(m_worker->runs_dir());
    m_monitor->load_store();
    connect(m_worker, &RunWorker::started, m_monitor, &TrainingMonitor::begin_live);
    connect(m_monitor, &TrainingMonitor::open_script_requested, this, [this](const QString &path) {
        QString error;
        if (!m_editor->open_file(path, &error))
            m_console->error(error);
    });

    connect(m_worker, &RunWorker::output, m_console, &Console::print);
    connect(m_worker, &RunWorker::failed, this,
            [this](const QString &message, const QString &traceback, const ErrorFrames &frames) {
                m_console->failure(message, traceback, frames);
                m_editor->show_error(message, frames);
            });
    connect(m_worker, &RunWorker::finished, this, [this](int code, bool interrupted, double seconds) {
        set_running(false);
        m_monitor->refresh(); // the last points now, not at the next tick
        m_monitor->sync_store(); // the run's record: hyperparameters and final metrics in the runs list
        if (interrupted)
            m_console->info(tr("Stopped after %1 s.").arg(seconds, 0, 'f', 1));
        else if (code == 0 && seconds > 0)
            m_console->info(tr("Finished in %1 s.").arg(seconds, 0, 'f', 1));
        emit run_finished(code, interrupted);
    });
    connect(m_worker, &RunWorker::model_changed, m_model, &ModelPanel::set_model);
    connect(m_worker, &RunWorker::boundary_changed, m_model, &ModelPanel::set_boundary);
    connect(m_worker, &RunWorker::confusion_changed, m_model, &ModelPanel::set_confusion);
    connect(m_worker, &RunWorker::tiles_changed, m_model, &ModelPanel::set_tiles);
    connect(m_worker, &RunWorker::precision_changed, m_model, &ModelPanel::set_precision);
    connect(m_model, &ModelPanel::sample_chosen, m_worker, &RunWorker::set_picture_sample);
    connect(m_console, &Console::location_activated, this,
            [this](const QString &path, int line) { m_editor->show_location(path, line, false); });
    connect(m_console, &Console::library_location_activated, m_editor, &EditorTabs::show_library_location);
    connect(m_console, &Console::evaluate_requested, this, [this](const QString &code) {
        if (running()) {
            m_console->error(tr("A script is running; the prompt evaluates when it has finished."));
            return;
        }
        set_running(true);
        QMetaObject::invokeMethod(m_worker, "evaluate", Qt::QueuedConnection, Q_ARG(QString, code));
    });
    connect(m_plugins, &PluginBrowser::insert_requested, this, [this](const QString &code) {
        CodeEditor *e = m_editor->current() ? m_editor->current() : m_editor->new_script();
        e->insert_snippet(code);
        e->setFocus();
    });
    connect(m_quick, &QuickExperiment::run_requested, this, &MainWindow::run_quick_script);
    connect(m_data, &DataPanel::dataset_changed, this, [this](const data::Dataset &d) {
        data::set_current_dataset(d);
        m_worker->set_dataset(d); // data.current() in the run process
        const bool classes = d.target_kind() == data::TargetKind::Classes;
        m_quick->set_panel_data({QFileInfo(QString::fromStdString(d.source())).fileName(), d.feature_count(),
                                 classes ? d.class_count() : d.target_width(),
                                 d.target_kind() == data::TargetKind::Values,
                                 d.target_kind() != data::TargetKind::None,
                                 QList<qint64>(d.input_shape().begin(), d.input_shape().end())});
    });
    connect(m_elapsed_timer, &QTimer::timeout, this, [this] {
        const double s = (QDateTime::currentMSecsSinceEpoch() - m_run_started) / 1000.0;
        m_status->setText(tr("Running… %1 s").arg(s, 0, 'f', 0));
    });
    restore_layout();
}

MainWindow::~MainWindow()
{
    m_worker->shut_down(0); // ends the run process
    m_autosave.reset(); // saves what is unsaved, while the editor still exists
}

void MainWindow::build_docks()
{
    setDockOptions(AnimatedDocks | AllowTabbedDocks | AllowNestedDocks);
    // Two columns: the editor (with the console under it) and the panels as
    // tabs, the charts in front, full height. The inputs (Data, Plugins,
    // Quick experiment) are tabs there too: a third column left the editor
    // about 110 px at 1024 wide.
    setCorner(Qt::TopRightCorner, Qt::RightDockWidgetArea);
    setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
    QDockWidget *training = dock(this, tr("Training"), "training", m_monitor, Qt::RightDockWidgetArea);
    QDockWidget *previous = training;
    for (auto [title, name, widget] : {std::tuple{tr("Model"), "model", static_cast<QWidget *>(m_model)},
                                       {tr("Activations"), "activations", m_activations},
                                       {tr("Data"), "data", m_data},
                                       {tr("Plugins"), "plugins", m_plugins},
                                       {tr("Quick experiment"), "quick", m_quick}}) {
        QDockWidget *d = dock(this, title, name, widget, Qt::RightDockWidgetArea);
        tabifyDockWidget(previous, d);
        previous = d;
    }
    training->raise();
    dock(this, tr("Console"), "console", m_console, Qt::BottomDockWidgetArea);
    m_default_state = saveState(kLayoutVersion);
    // A dragged separator (a press and release on the window itself, not on
    // a child) is the person's choice of the panels' share.
    installEventFilter(this);
}

void MainWindow::build_actions()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *new_action = file->addAction(tr("&New script"), QKeySequence::New, this, [this] { m_editor->new_script(); });
    QAction *open = file->addAction(tr("&Open…"), QKeySequence::Open, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open script"), QString(), tr("Lua scripts (*.lua)"));
        QString error;
        if (!path.isEmpty() && !m_editor->open_file(path, &error))
            m_console->error(error);
    });
    m_recent = file->addMenu(tr("Open &recent"));
    connect(m_editor, &EditorTabs::recent_files_changed, this, &MainWindow::update_recent_menu);
    update_recent_menu();
    QAction *save = file->addAction(tr("&Save"), QKeySequence::Save, this, [this] { m_editor->save(m_editor->current()); });
    file->addAction(tr("Save &as…"), QKeySequence::SaveAs, this, [this] { m_editor->save_as(m_editor->current()); });
    file->addSeparator();
    m_open_model = file->addAction(tr("Open &model…"), this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open a model"), QString(),
                                                          tr("Models (*.nrt *.onnx);;Neurite models (*.nrt);;"
                                                             "ONNX models (*.onnx)"));
        if (!path.isEmpty())
            open_model(path);
    });
    m_open_model->setToolTip(tr("A Neurite checkpoint or an ONNX file: its graph in the Model panel, "
                                "and `model` in the console"));
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

    QMenu *run = menuBar()->addMenu(tr("&Run"));
    m_run = run->addAction(tr("&Run"), QKeySequence(Qt::Key_F5), this, &MainWindow::run_current);
    m_stop = run->addAction(tr("&Stop"), QKeySequence(Qt::SHIFT | Qt::Key_F5), this, &MainWindow::stop);
    m_stop->setEnabled(false);
    run->addAction(tr("&Clear charts"), this, [this] { m_monitor->clear(); });
    run->addAction(tr("&Memory limit…"), this, &MainWindow::ask_memory_limit)
        ->setToolTip(tr("Lua and tensors together, per run: beyond it the script stops with an error at its line"));
    run->addAction(tr("Keep runs &in…"), this, &MainWindow::ask_runs_dir)
        ->setToolTip(tr("The run store: each run's script, hyperparameters and metrics in a folder of its own"));
    run->addSeparator();
    m_save_model = run->addAction(tr("Save trained &model…"), this, [this] {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Save the trained model"), save_location("model.nrt", script_path()), tr("Neurite models (*.nrt)"));
        if (!path.isEmpty())
            save_trained_model(path);
    });
    m_save_model->setToolTip(tr("The model the last run trained; nn.load(path) reads it back"));
    m_export_onnx = run->addAction(tr("&Export model as ONNX…"), this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export the trained model as ONNX"),
                                                          save_location("model.onnx", script_path()),
                                                          tr("ONNX models (*.onnx)"));
        if (!path.isEmpty())
            export_onnx(path);
    });
    m_export_onnx->setToolTip(tr("The model the last run trained (or opened), for ONNX Runtime, PyTorch and others"));

    QMenu *view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget *d : findChildren<QDockWidget *>())
        view->addAction(d->toggleViewAction());
    view->addSeparator();
    m_reset_layout = view->addAction(tr("&Reset layout"), this, &MainWindow::reset_layout);
    m_reset_layout->setToolTip(tr("The editor on the left, the panels on the right with the charts in front"));

    QToolBar *bar = addToolBar(tr("Main"));
    bar->setObjectName("main-toolbar");
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    for (QAction *a : {new_action, open, save})
        bar->addAction(a);
    bar->addSeparator();
    m_run->setIcon(style()->standardIcon(QStyle::SP_MediaPlay));
    m_stop->setIcon(style()->standardIcon(QStyle::SP_MediaStop));
    bar->addAction(m_run);
    bar->addAction(m_stop);
}

QString MainWindow::script_path() const
{
    return m_editor->current() ? m_editor->current()->path() : QString();
}

void MainWindow::ask_runs_dir()
{
    const QString current = m_worker->runs_dir();
    QMessageBox box(QMessageBox::Question, tr("Run store"),
                    current.isEmpty() ? tr("Runs are not kept.")
                                      : tr("Each run is kept in a folder of its own under %1.")
                                            .arg(QDir::toNativeSeparators(current)),
                    QMessageBox::Cancel, this);
    QPushButton *choose = box.addButton(tr("Choose a folder…"), QMessageBox::AcceptRole);
    QPushButton *none = box.addButton(tr("Keep no runs"), QMessageBox::DestructiveRole);
    box.exec();
    QString dir = current;
    if (box.clickedButton() == none) {
        dir.clear();
    } else if (box.clickedButton() == choose) {
        dir = QFileDialog::getExistingDirectory(this, tr("Keep runs in"), current.isEmpty() ? QDir::homePath() : current);
        if (dir.isEmpty())
            return;
    } else {
        return;
    }
    m_worker->set_runs_dir(dir);
    QSettings().setValue("run/runs_dir", dir);
    m_monitor->set_runs_dir(dir);
    m_monitor->load_store();
    m_console->info(dir.isEmpty() ? tr("Runs are not kept from the next run on.")
                                  : tr("Runs are kept in %1 from the next run on.").arg(QDir::toNativeSeparators(dir)));
}

void MainWindow::ask_memory_limit()
{
    constexpr quint64 kMiB = 1 << 20;
    bool ok = false;
    const int mib = QInputDialog::getInt(this, tr("Memory limit"),
                                         tr("Memory a run may use (Lua and tensors), in MiB; 0 for no limit:"),
                                         int(m_worker->max_memory() / kMiB), 0, 1 << 30, 256, &ok);
    if (!ok)
        return;
    m_worker->set_max_memory(quint64(mib) * kMiB);
    QSettings().setValue("run/max_memory", m_worker->max_memory());
    m_console->info(mib ? tr("Runs may use up to %1 MiB from the next run on.").arg(mib)
                        : tr("Runs have no memory limit from the next run on."));
}

void MainWindow::update_recent_menu()
{
    m_recent->clear();
    for (const QString &path : m_editor->recent_files())
        m_recent->addAction(path, this, [this, path] {
            QString error;
            if (!m_editor->open_file(path, &error))
                m_console->error(error);
        });
    m_recent->setEnabled(!m_recent->isEmpty());
}

bool MainWindow::running() const
{
    return m_worker->running() || m_stop->isEnabled();
}

void MainWindow::run_current()
{
    CodeEditor *e = m_editor->current();
    if (!e)
        return;
    QString title = m_editor->tabText(m_editor->currentIndex());
    if (title.endsWith('*'))
        title.chop(1);
    run_script(e->toPlainText(), e->path().isEmpty() ? title : e->path());
}

// The form's script goes into the tab the form wrote last, while that tab
// still holds exactly what the form wrote (edits of the user's are never
// overwritten: then a new tab); a refused run makes no tab at all.
void MainWindow::run_quick_script(const QString &code, const QString &title)
{
    if (running()) {
        m_console->error(tr("A script is already running; stop it first (Shift+F5)."));
        return;
    }
    CodeEditor *editor = m_quick_editor;
    if (editor && m_editor->indexOf(editor) >= 0 && editor->toPlainText() == m_quick_text) {
        editor->setPlainText(code);
        editor->document()->setModified(false);
        m_editor->setTabText(m_editor->indexOf(editor), title);
        m_editor->setCurrentWidget(editor);
    } else {
        editor = m_editor->new_script(code, title);
    }
    editor->set_holds_work(true); // quitting asks before it loses the form's script
    m_quick_editor = editor;
    m_quick_text = code;
    run_script(code, title);
}

void MainWindow::run_script(const QString &code, const QString &name)
{
    if (running()) {
        m_console->error(tr("A script is already running; stop it first (Shift+F5)."));
        return;
    }
    m_editor->clear_error_marks();
    m_autosave->save_now(); // a script that crashes the window loses no editor text
    m_model->clear();
    show_charts_over_inputs();
    m_console->info(tr("Running %1").arg(QFileInfo(name).fileName()));
    set_running(true);
    QMetaObject::invokeMethod(m_worker, "run", Qt::QueuedConnection, Q_ARG(QString, code), Q_ARG(QString, name),
                              Q_ARG(QString, QFileInfo(name).absolutePath()));
}

// The charts come to the front when a run starts over an input panel
// (Data, Plugins, Quick experiment share the charts' tabs).
void MainWindow::show_charts_over_inputs()
{
    for (const char *input : {"data", "plugins", "quick"}) {
        const QDockWidget *d = findChild<QDockWidget *>(input);
        if (d && d->isVisible() && !d->visibleRegion().isEmpty() && !d->isFloating()) {
            findChild<QDockWidget *>("training")->raise();
            return;
        }
    }
}

void MainWindow::save_trained_model(const QString &path) { worker_call("save_model", path); }

void MainWindow::export_onnx(const QString &path) { worker_call("export_onnx", path); }

void MainWindow::open_model(const QString &path) { worker_call("open_model", path); }

void MainWindow::worker_call(const char *slot, const QString &path)
{
    if (running())
        return;
    set_running(true);
    QMetaObject::invokeMethod(m_worker, slot, Qt::QueuedConnection, Q_ARG(QString, path));
}

void MainWindow::stop()
{
    m_worker->request_stop();
    m_status->setText(tr("Stopping…"));
}

void MainWindow::set_running(bool running)
{
    m_run->setEnabled(!running);
    m_stop->setEnabled(running);
    m_save_model->setEnabled(!running);
    m_export_onnx->setEnabled(!running);
    m_open_model->setEnabled(!running);
    m_console->set_prompt_enabled(!running);
    if (running) {
        m_run_started = QDateTime::currentMSecsSinceEpoch();
        m_elapsed_timer->start(1000);
        m_status->setText(tr("Running…"));
    } else {
        m_elapsed_timer->stop();
        m_status->setText(tr("Ready"));
    }
}

// A layout saved by another version, or one this window cannot use (no
// charts to see, a panel off every screen), is refused for the default.
void MainWindow::restore_layout()
{
    QSettings settings;
    const bool current = settings.value("window/layout_version").toInt() == kLayoutVersion;
    if (!current || !restoreGeometry(settings.value("window/geometry").toByteArray()) || !on_a_screen(geometry())) {
        // 1400x860 where it fits; on a laptop screen, what the screen has.
        QSize size(1400, 860);
        if (const QScreen *screen = QGuiApplication::primaryScreen())
            size = size.boundedTo(screen->availableSize() * 0.95);
        resize(size);
    }
    const double share = settings.value("window/panel_share", kPanelShare).toDouble();
    if (current && restore_saved_state(settings.value("window/state").toByteArray()) && share >= kMinPanelShare &&
        share <= kMaxPanelShare) {
        m_panel_share = share;
    } else {
        m_layout_refused = settings.contains("window/state");
        reset_layout();
    }
}

bool MainWindow::restore_saved_state(const QByteArray &state)
{
    if (!restoreState(state, kLayoutVersion))
        return false;
    const QDockWidget *training = findChild<QDockWidget *>("training");
    // Not hidden (closed): the toggle actions follow only once the window is shown.
    bool usable = training && !training->isHidden() &&
                  (training->isFloating() || dockWidgetArea(const_cast<QDockWidget *>(training)) != Qt::NoDockWidgetArea);
    for (const QDockWidget *d : findChildren<QDockWidget *>())
        usable = usable && (!d->isFloating() || on_a_screen(d->geometry()));
    if (!usable)
        restoreState(m_default_state, kLayoutVersion);
    return usable;
}

bool MainWindow::on_a_screen(const QRect &rect)
{
    for (const QScreen *screen : QGuiApplication::screens())
        if (screen->availableGeometry().intersects(rect))
            return true;
    return QGuiApplication::screens().isEmpty();
}

void MainWindow::reset_layout()
{
    restoreState(m_default_state, kLayoutVersion);
    m_panel_share = kPanelShare;
    m_reset_console = true;
    apply_panel_share();
}

double MainWindow::editor_share() const
{
    return width() > 0 ? double(centralWidget()->width()) / width() : 0.0;
}

// A dock open in the panels' column (the right), the charts' if they are.
QDockWidget *MainWindow::panel_column(bool shown_only) const
{
    QList<QDockWidget *> docks = findChildren<QDockWidget *>();
    std::stable_partition(docks.begin(), docks.end(), [](const QDockWidget *d) { return d->objectName() == "training"; });
    for (QDockWidget *d : docks)
        if (d->toggleViewAction()->isChecked() && !d->isFloating() && dockWidgetArea(d) == Qt::RightDockWidgetArea &&
            (!shown_only || d->isVisible()))
            return d;
    return nullptr;
}

// The panels keep their share of the width as the window grows or shrinks
// (QMainWindow alone gives every added pixel to the editor).
void MainWindow::apply_panel_share()
{
    QDockWidget *panels = panel_column(false);
    if (!panels || width() <= 0)
        return;
    resizeDocks({panels}, {qRound(width() * m_panel_share)}, Qt::Horizontal);
    if (std::exchange(m_reset_console, false))
        if (QDockWidget *console = findChild<QDockWidget *>("console"))
            resizeDocks({console}, {qRound(height() * kConsoleShare)}, Qt::Vertical);
}

// The person's share, read after a separator was dragged.
void MainWindow::remember_panel_share()
{
    const QDockWidget *panels = panel_column(true);
    if (panels && width() > 0)
        m_panel_share = std::clamp(double(panels->width()) / width(), kMinPanelShare, 1.0);
}

void MainWindow::resizeEvent(QResizeEvent *event)
{
    QMainWindow::resizeEvent(event);
    apply_panel_share();
}

bool MainWindow::event(QEvent *event)
{
    // Presses on the window itself, not on a child, are on a separator.
    if (event->type() == QEvent::MouseButtonRelease)
        QTimer::singleShot(0, this, &MainWindow::remember_panel_share);
    // A restored layout is fitted again to the window for a while after it
    // shows (QMainWindowLayout's restored state, in pixels): the share once more after that.
    if (event->type() == QEvent::Show && !std::exchange(m_shown_once, true))
        QTimer::singleShot(kRestoredStateMs, this, &MainWindow::apply_panel_share);
    return QMainWindow::event(event);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (!m_editor->close_all()) {
        event->ignore();
        return;
    }
    m_autosave->finish();
    if (running()) {
        // Stop cleanly: the run ends at its next step, its files are written
        // atomically, so nothing half-written is left behind.
        m_worker->shut_down(kStopWaitMs);
    }
    QSettings settings;
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState(kLayoutVersion));
    settings.setValue("window/layout_version", kLayoutVersion);
    settings.setValue("window/panel_share", m_panel_share);
    event->accept();
}

} // namespace neurite::gui
