#pragma once

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
    // Finds the tab of path (opening it if needed) and marks/jumps to line.
    void show_location(const QString &path, int line, bool as_error);
    void clear_error_marks();
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
