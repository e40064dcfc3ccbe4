#pragma once

#include <QMainWindow>
#include <QPointer>

#include <memory>

class QAction;
class QDockWidget;
class QLabel;
class QMenu;
class QTimer;

namespace neurite {
class ComputeContext;
class Registry;
}

namespace neurite::gui {

class ActivationExplorer;
class Console;
class DataPanel;
class CodeEditor;
class EditorTabs;
class EditorAutosave;
class ModelPanel;
class PluginBrowser;
class QuickExperiment;
class RunWorker;
class TrainingMonitor;

// The workbench: the script editor in the middle, panels in docks whose
// layout persists. Scripts run in a child process (RunWorker, a client of
// `neurite-run --kernel`), so no script or plugin can close the window; the
// window queues work to the worker and reacts to its signals.
class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    MainWindow();
    ~MainWindow() override;

    EditorTabs *editor() const { return m_editor; }
    EditorAutosave *autosave() const { return m_autosave.get(); }
    Console *console() const { return m_console; }
    TrainingMonitor *monitor() const { return m_monitor; }
    PluginBrowser *plugins() const { return m_plugins; }
    ModelPanel *model_panel() const { return m_model; }
    QuickExperiment *quick_form() const { return m_quick; }
    DataPanel *data_panel() const { return m_data; }
    RunWorker *worker() const { return m_worker; }
    bool running() const;

    // The layout: the editor on the left (with the console), the panels as
    // tabs on the right taking kPanelShare of the width, the charts in front.
    // saveState() carries kLayoutVersion; another version is refused.
    static constexpr int kLayoutVersion = 2;
    static constexpr double kPanelShare = 0.57;
    static constexpr double kMinEditorShare = 0.40;
    static constexpr double kMinPanelShare = 0.15; // a saved share outside these is refused
    static constexpr double kMaxPanelShare = 0.85;
    double editor_share() const;
    double panel_share() const { return m_panel_share; }
    // True when this window refused a saved layout for the default one.
    bool layout_refused() const { return m_layout_refused; }
    QAction *reset_layout_action() const { return m_reset_layout; }

public slots:
    void run_current();
    void stop();
    void run_script(const QString &code, const QString &name);
    // Saves the model the last train.fit trained (in the run process, where
    // it lives); the console says where, or why not. Ends with run_finished.
    void save_trained_model(const QString &path);
    void export_onnx(const QString &path);
    // A .nrt or .onnx file: its graph in the Model panel, `model` at the prompt.
    void open_model(const QString &path);
    void reset_layout();

signals:
    void run_finished(int exit_code, bool interrupted);

protected:
    void closeEvent(QCloseEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;
    bool event(QEvent *event) override;

private:
    // Asks the worker (the run process) for slot(path), as a run (Stop disabled).
    void worker_call(const char *slot, const QString &path);
    void build_docks();
    void build_actions();
    void update_recent_menu();
    void set_running(bool running);
    void restore_layout();
    bool restore_saved_state(const QByteArray &state);
    static bool on_a_screen(const QRect &rect);
    QDockWidget *panel_column(bool shown_only) const;
    void apply_panel_share();
    void remember_panel_share();
    void show_charts_over_inputs();
    // Run > Memory limit: asks for the limit of each run, kept in QSettings.
    void ask_memory_limit();
    void ask_runs_dir();
    void run_quick_script(const QString &code, const QString &title);
    // The current script's file, or empty (unsaved, or no script open).
    QString script_path() const;

    std::unique_ptr<ComputeContext> m_context; // for the UI's own panels
    std::unique_ptr<Registry> m_registry;
    EditorTabs *m_editor;
    std::unique_ptr<EditorAutosave> m_autosave; // reset before the editor goes
    Console *m_console;
    TrainingMonitor *m_monitor;
    PluginBrowser *m_plugins;
    ModelPanel *m_model;
    QuickExperiment *m_quick;
    QPointer<CodeEditor> m_quick_editor; // the tab the form wrote last, while it exists
    QString m_quick_text;                // what the form wrote there
    ActivationExplorer *m_activations;
    DataPanel *m_data;
    RunWorker *m_worker;
    QAction *m_run, *m_stop, *m_save_model, *m_export_onnx, *m_open_model;
    QAction *m_reset_layout = nullptr;
    QByteArray m_default_state;
    double m_panel_share = kPanelShare;
    bool m_reset_console = false;
    bool m_layout_refused = false;
    bool m_shown_once = false;
    QMenu *m_recent;
    QLabel *m_status;
    QTimer *m_elapsed_timer;
    qint64 m_run_started = 0;
};

} // namespace neurite::gui
