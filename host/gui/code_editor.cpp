#include "code_editor.h"

#include "lua_highlighter.h"

#include <QFileInfo>
#include <QFontDatabase>
#include <QPainter>
#include <QRegularExpression>
#include <QTextBlock>

#include <algorithm>

namespace neurite::gui {

namespace {

// The gutter is a plain widget that asks the editor to paint it.
class Gutter : public QWidget {
public:
    explicit Gutter(CodeEditor *editor) : QWidget(editor), m_editor(editor) {}
    QSize sizeHint() const override { return {m_editor->gutter_width(), 0}; }

protected:
    void paintEvent(QPaintEvent *event) override { m_editor->paint_gutter(event); }

private:
    CodeEditor *m_editor;
};

} // namespace

CodeEditor::CodeEditor(QWidget *parent)
    : QPlainTextEdit(parent), m_gutter(new Gutter(this)), m_highlighter(new LuaHighlighter(document()))
{
    QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    mono.setPointSize(std::max(mono.pointSize(), 10));
    setFont(mono);
    setLineWrapMode(QPlainTextEdit::NoWrap);
    setTabStopDistance(fontMetrics().horizontalAdvance(' ') * 4);
    connect(this, &QPlainTextEdit::blockCountChanged, this, [this] { setViewportMargins(gutter_width(), 0, 0, 0); });
    connect(this, &QPlainTextEdit::updateRequest, this, &CodeEditor::update_gutter);
    connect(this, &QPlainTextEdit::cursorPositionChanged, this, &CodeEditor::update_selections);
    connect(document(), &QTextDocument::contentsChange, this, [this](int, int removed, int added) {
        if ((removed || added) && m_error_line)
            mark_error_line(0); // the marked line may have moved: an edit clears it
    });
    setViewportMargins(gutter_width(), 0, 0, 0);
    update_selections();
}

QString CodeEditor::display_name() const
{
    return m_path.isEmpty() ? tr("untitled") : QFileInfo(m_path).fileName();
}

int CodeEditor::gutter_width() const
{
    int digits = 1;
    for (int n = std::max(1, blockCount()); n >= 10; n /= 10)
        ++digits;
    return 12 + fontMetrics().horizontalAdvance(QLatin1Char('9')) * std::max(digits, 3);
}

void CodeEditor::resizeEvent(QResizeEvent *event)
{
    QPlainTextEdit::resizeEvent(event);
    const QRect r = contentsRect();
    m_gutter->setGeometry(QRect(r.left(), r.top(), gutter_width(), r.height()));
}

void CodeEditor::keyPressEvent(QKeyEvent *event)
{
    // Enter keeps the indentation of the line above, as most code editors do.
    if (event->key() == Qt::Key_Return || event->key() == Qt::Key_Enter) {
        const QString line = textCursor().block().text();
        int indent = 0;
        while (indent < line.size() && (line[indent] == ' ' || line[indent] == '\t'))
            ++indent;
        QPlainTextEdit::keyPressEvent(event);
        textCursor().insertText(line.left(indent));
        return;
    }
    if (event->key() == Qt::Key_Tab && !(event->modifiers() & Qt::ControlModifier)) {
        textCursor().insertText("    ");
        return;
    }
    QPlainTextEdit::keyPressEvent(event);
}

void CodeEditor::update_gutter(const QRect &rect, int dy)
{
    if (dy)
        m_gutter->scroll(0, dy);
    else
        m_gutter->update(0, rect.y(), m_gutter->width(), rect.height());
}

void CodeEditor::paint_gutter(QPaintEvent *event)
{
    QPainter painter(m_gutter);
    painter.fillRect(event->rect(), palette().color(QPalette::AlternateBase));
    QTextBlock block = firstVisibleBlock();
    int top = qRound(blockBoundingGeometry(block).translated(contentOffset()).top());
    const int height = fontMetrics().height();
    while (block.isValid() && top <= event->rect().bottom()) {
        const int line = block.blockNumber() + 1;
        if (block.isVisible()) {
            if (line == m_error_line) {
                painter.fillRect(0, top, m_gutter->width(), height, QColor(220, 60, 60));
                painter.setPen(Qt::white);
            } else {
                painter.setPen(palette().color(QPalette::PlaceholderText));
            }
            painter.drawText(0, top, m_gutter->width() - 6, height, Qt::AlignRight, QString::number(line));
        }
        block = block.next();
        top += qRound(blockBoundingRect(block).height());
    }
}

void CodeEditor::mark_error_line(int line)
{
    m_error_line = line;
    update_selections();
    m_gutter->update();
}

void CodeEditor::go_to_line(int line)
{
    const QTextBlock block = document()->findBlockByNumber(std::max(0, line - 1));
    if (!block.isValid())
        return;
    QTextCursor c(block);
    setTextCursor(c);
    centerCursor();
    setFocus();
}

void CodeEditor::update_selections()
{
    QList<QTextEdit::ExtraSelection> selections;
    QTextEdit::ExtraSelection current;
    current.format.setBackground(QColor(232, 242, 254));
    current.format.setProperty(QTextFormat::FullWidthSelection, true);
    current.cursor = textCursor();
    current.cursor.clearSelection();
    selections.append(current);
    if (m_error_line > 0) {
        const QTextBlock block = document()->findBlockByNumber(m_error_line - 1);
        if (block.isValid()) {
            QTextEdit::ExtraSelection error;
            error.format.setBackground(QColor(255, 220, 220));
            error.format.setProperty(QTextFormat::FullWidthSelection, true);
            error.cursor = QTextCursor(block);
            selections.append(error);
        }
    }
    setExtraSelections(selections);
}

namespace {

// How many table constructors are open at the end of `text`: braces outside
// strings and comments ("--" to the end of the line; long brackets are rare
// in a model's definition and not followed).
int open_tables(const QString &text)
{
    int depth = 0;
    QChar quote;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (!quote.isNull()) {
            if (c == '\\')
                ++i;
            else if (c == quote)
                quote = QChar();
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {
            while (i < text.size() && text[i] != '\n')
                ++i;
        } else if (c == '{') {
            ++depth;
        } else if (c == '}') {
            depth = std::max(0, depth - 1);
        }
    }
    return depth;
}

} // namespace

void CodeEditor::insert_snippet(const QString &code)
{
    QTextCursor cursor = textCursor();
    cursor.beginEditBlock();
    cursor.clearSelection();
    const QString line = cursor.block().text();
    const QString indent = line.left(line.size() - QString(line).remove(QRegularExpression("^\\s+")).size());
    const QString before = line.left(cursor.positionInBlock()).trimmed();
    const bool in_table = open_tables(toPlainText().left(cursor.position())) > 0;
    if (!before.isEmpty()) { // the cursor follows code: the snippet goes on a new line after it
        cursor.movePosition(QTextCursor::EndOfBlock);
        const QString whole = line.trimmed();
        if (in_table && !whole.endsWith(',') && !whole.endsWith('{'))
            cursor.insertText(",");
        cursor.insertText("\n" + indent);
    }
    const int start = cursor.position();
    cursor.insertText(code + (in_table ? "," : ""));
    cursor.endEditBlock();
    // The first placeholder: the value after the first " = ".
    const QRegularExpressionMatch value = QRegularExpression(" = ([^,}]+)").match(code);
    if (value.hasMatch()) {
        cursor.setPosition(start + static_cast<int>(value.capturedStart(1)));
        cursor.setPosition(start + static_cast<int>(value.capturedEnd(1)), QTextCursor::KeepAnchor);
    }
    setTextCursor(cursor);
}

} // namespace neurite::gui
