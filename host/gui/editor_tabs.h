#pragma once

#include "error_frames.h"

#include <QTabWidget>

namespace neurite::gui {

class CodeEditor;

// The script editor: one tab per file, open/save/save-as, a recent-files
// list kept in QSettings, and a prompt before closing unsaved work.
class EditorTabs : public QTabWidget {
    Q_OBJECT

public:
    explicit EditorTabs(QWidget *parent = nullptr);

    CodeEditor *current() const;
    CodeEditor *open_file(const QString &path, QString *error = nullptr);
    CodeEditor *new_script(const QString &text = QString(), const QString &title = QString());
    bool save(CodeEditor *editor, QString *error = nullptr);
    bool save_as(CodeEditor *editor);
    // Finds the tab of path (opening it if needed) and marks/jumps to line;
    // false when no tab or file is path.
    bool show_location(const QString &path, int line, bool as_error);
    void clear_error_marks();
    // Marks where a run failed: the line its message names when that is the
    // user's code, else the innermost frame of the user's code (an error
    // inside train.fit marks the script's line that called it, never
    // train.lua's). A script without a file is found by its tab's title.
    void show_error(const QString &message, const ErrorFrames &frames);
    // Opens a file of Neurite's own Lua at `line`, read-only: it is there
    // to read, and an edit would change every script's train.fit.
    void show_library_location(const QString &path, int line);
    bool close_all(); // false if the user cancelled
    // Work that closing would lose: changes not saved, or a buffer without a
    // file that holds work (CodeEditor::holds_work).
    static bool unsaved(const CodeEditor *editor);

    QStringList recent_files() const;

signals:
    void recent_files_changed();
    // A script's text, file or unsaved state changed, or a tab came or went
    // (what the autosave keeps).
    void scripts_changed();

private:
    void remember(const QString &path);
    void update_title(CodeEditor *editor);
    bool maybe_close(int index);
};

} // namespace neurite::gui
