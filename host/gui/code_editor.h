#pragma once

#include <QPlainTextEdit>

namespace neurite::gui {

class LuaHighlighter;

// A Lua editor: line numbers in a gutter, the current line tinted, and one
// marked error line (set from a script's file:line) that clears on edit.
class CodeEditor : public QPlainTextEdit {
    Q_OBJECT

public:
    explicit CodeEditor(QWidget *parent = nullptr);

    QString path() const { return m_path; }
    void set_path(const QString &path) { m_path = path; }
    // The text is work no file holds (a script the quick form wrote, a buffer
    // restored after a crash): closing it asks, though nothing was edited.
    void set_holds_work(bool on) { m_holds_work = on; }
    bool holds_work() const { return m_holds_work; }
    // A name for the tab: the file name, or "untitled".
    QString display_name() const;

    void mark_error_line(int line); // 1-based; 0 clears
    int error_line() const { return m_error_line; }
    void go_to_line(int line);
    // Inserts `code` (a constructor call such as "nn.Dense{inputs = 1, ...}")
    // as Lua that still compiles: on a line of its own at the cursor's
    // indentation; inside a table constructor with the commas a list needs
    // (after the item before it, and after itself); then selects the first
    // placeholder value ("1" of "inputs = 1") for the user to type over.
    void insert_snippet(const QString &code);

    int gutter_width() const;
    void paint_gutter(QPaintEvent *event);

protected:
    void resizeEvent(QResizeEvent *event) override;
    void keyPressEvent(QKeyEvent *event) override;

private:
    void update_gutter(const QRect &rect, int dy);
    void update_selections();

    QWidget *m_gutter;
    LuaHighlighter *m_highlighter;
    QString m_path;
    int m_error_line = 0;
    bool m_holds_work = false;
};

} // namespace neurite::gui
