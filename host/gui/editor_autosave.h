#pragma once

#include <QLockFile>
#include <QObject>
#include <QString>
#include <QTimer>

#include <memory>
#include <vector>

namespace neurite::gui {

class EditorTabs;

// A script as an autosave kept it: its file, and its text when it had
// unsaved changes.
struct RecoveredScript {
    QString path;  // empty for a script never saved
    QString title; // the tab's name
    QString text;  // the editor's text when modified (else empty)
    bool modified = false;
};

// Keeps every open script of this window (its file, and its text while it
// has unsaved changes) in a session folder of its own under `root`, at
// most a second and a half after each change and before every run. A clean
// close removes the folder. A window that crashes or is killed leaves it,
// with a lock whose process is gone: the next window finds it and offers
// the scripts back. Several windows at once each keep their own session.
class EditorAutosave : public QObject {
    Q_OBJECT

public:
    // Not a child of tabs: it must go before them (its destructor saves).
    explicit EditorAutosave(EditorTabs *tabs, const QString &root = default_root());
    ~EditorAutosave() override;

    // <AppLocalDataLocation>/autosave ($XDG_DATA_HOME/neurite/autosave).
    static QString default_root();
    QString session_dir() const { return m_dir; }

    // Writes the session now (before a run, which may crash the window).
    void save_now();
    // The window closed cleanly: nothing to recover, the folder goes.
    void finish();

    // Scripts of sessions whose window is gone without a clean close.
    std::vector<RecoveredScript> recoverable() const;
    // Opens them as tabs (unsaved text comes back marked modified) and
    // forgets those sessions; or just forgets them.
    void restore(const std::vector<RecoveredScript> &scripts);
    void discard_recoverable();

private:
    QStringList stale_sessions() const;

    EditorTabs *m_tabs;
    QString m_root, m_dir;
    std::unique_ptr<QLockFile> m_lock;
    QTimer m_debounce;
    bool m_finished = false;
};

} // namespace neurite::gui
