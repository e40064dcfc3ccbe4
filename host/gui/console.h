#pragma once

#include "error_frames.h"

#include <QHash>
#include <QStringList>
#include <QWidget>

class QLineEdit;
class QTextBrowser;

namespace neurite::gui {

// Script output and errors; each "file.lua:12:" in an error is a link that
// opens the file at that line. Below, a one-line Lua prompt that evaluates
// in the last run's state when nothing runs (with ↑/↓ history).
class Console : public QWidget {
    Q_OBJECT

public:
    explicit Console(QWidget *parent = nullptr);

    void print(const QString &text);
    void error(const QString &text);
    // A failed run: its message, then its stack with each run of Neurite's
    // own frames (train.lua, C functions) collapsed into one link, "… 3
    // library frames", that shows them when clicked. Without frames (the
    // run never reached Lua) the traceback's text as it is.
    void failure(const QString &message, const QString &traceback, const ErrorFrames &frames);
    void info(const QString &text);
    void clear();
    QString plain_text() const;
    // The links in the output, in order ("source:...", "library:...", "frames:...").
    QStringList links() const;
    void set_prompt_enabled(bool enabled);

    // Splits "path.lua:12: message" into its path and line; false if absent.
    static bool parse_location(const QString &text, QString &path, int &line);

signals:
    void location_activated(const QString &path, int line);
    // A link to a line of Neurite's own Lua: opened to read, not to edit.
    void library_location_activated(const QString &path, int line);
    void evaluate_requested(const QString &code);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void append_html(const QString &html);
    // Replaces the "… N library frames" link `href` by the frames it hides.
    void expand_frames(const QString &href);

    QTextBrowser *m_output;
    QLineEdit *m_prompt;
    bool m_refocus = false; // the prompt had the focus when it was disabled
    QStringList m_history;
    int m_history_pos = 0;
    QHash<QString, QString> m_collapsed; // "frames:N" -> the HTML of the frames it hides
    int m_next_group = 0;
};

} // namespace neurite::gui
