#include "console.h"

#include <QFileInfo>
#include <QFontDatabase>
#include <QKeyEvent>
#include <QLineEdit>
#include <QRegularExpression>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextCursor>
#include <QTextDocument>
#include <QUrl>
#include <QUrlQuery>
#include <QVBoxLayout>

namespace neurite::gui {

namespace {

constexpr int kMaxLines = 20000; // older output scrolls away

const QRegularExpression &location_pattern()
{
    static const QRegularExpression re(R"(([^\s:'"\[\]]+\.lua):(\d+):)");
    return re;
}

// Escapes text and turns every file.lua:N: into a link.
QString linkify(const QString &text)
{
    QString html;
    qsizetype last = 0;
    auto it = location_pattern().globalMatch(text);
    while (it.hasNext()) {
        const auto m = it.next();
        html += text.mid(last, m.capturedStart() - last).toHtmlEscaped();
        QUrl url;
        url.setScheme("source");
        url.setPath(m.captured(1));
        url.setFragment(m.captured(2));
        html += "<a href=\"" + url.toString().toHtmlEscaped() + "\">" + m.captured(0).toHtmlEscaped() + "</a>";
        last = m.capturedEnd();
    }
    html += text.mid(last).toHtmlEscaped();
    return html.replace('\n', "<br>");
}

constexpr const char *kErrorStyle = "color:#b00020; white-space:pre-wrap";

// A link to a file and line; `shown` is its text.
QString location_link(const QString &scheme, const QString &path, int line, const QString &shown)
{
    QUrl url;
    url.setScheme(scheme);
    url.setPath(path);
    url.setFragment(QString::number(line));
    return "<a href=\"" + url.toString().toHtmlEscaped() + "\">" + shown.toHtmlEscaped() + "</a>";
}

// One traceback line, as Lua prints it ("train.lua:308: in upvalue 'call_at'"),
// its location a link when there is a file to open.
QString frame_html(const ErrorFrame &f)
{
    const QString in = ": in " + f.function;
    if (f.line <= 0)
        return "&nbsp;&nbsp;&nbsp;&nbsp;[C]" + in.toHtmlEscaped();
    const QString shown = QString("%1:%2").arg(f.source.contains('/') ? QFileInfo(f.source).fileName() : f.source)
                              .arg(f.line);
    QString where = shown.toHtmlEscaped();
    if (!f.library)
        where = location_link("source", f.source, f.line, shown);
    else if (QFileInfo::exists(f.source)) // a built-in copy has no file to show
        where = location_link("library", f.source, f.line, shown);
    return "&nbsp;&nbsp;&nbsp;&nbsp;" + where + in.toHtmlEscaped();
}

} // namespace

Console::Console(QWidget *parent) : QWidget(parent), m_output(new QTextBrowser), m_prompt(new QLineEdit)
{
    const QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    m_output->setFont(mono);
    m_output->setOpenLinks(false);
    m_output->document()->setMaximumBlockCount(kMaxLines);
    m_prompt->setFont(mono);
    m_prompt->setPlaceholderText(tr("Lua> evaluate in the last run's state (when no script runs)"));
    m_prompt->installEventFilter(this);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_output, 1);
    layout->addWidget(m_prompt);
    connect(m_output, &QTextBrowser::anchorClicked, this, [this](const QUrl &url) {
        if (url.scheme() == "source")
            emit location_activated(url.path(), url.fragment().toInt());
        else if (url.scheme() == "library")
            emit library_location_activated(url.path(), url.fragment().toInt());
        else if (url.scheme() == "frames")
            expand_frames(url.toString());
    });
    connect(m_prompt, &QLineEdit::returnPressed, this, [this] {
        const QString code = m_prompt->text().trimmed();
        if (code.isEmpty())
            return;
        m_history.append(code);
        m_history_pos = static_cast<int>(m_history.size());
        m_prompt->clear();
        append_html("<span style='color:#666'>&gt; " + code.toHtmlEscaped() + "</span>");
        emit evaluate_requested(code);
    });
}

bool Console::parse_location(const QString &text, QString &path, int &line)
{
    const auto m = location_pattern().match(text);
    if (!m.hasMatch())
        return false;
    path = m.captured(1);
    line = m.captured(2).toInt();
    return true;
}

void Console::append_html(const QString &html)
{
    QScrollBar *bar = m_output->verticalScrollBar();
    const bool at_end = bar->value() >= bar->maximum() - 4;
    m_output->append(html);
    if (at_end)
        bar->setValue(bar->maximum());
}

void Console::print(const QString &text)
{
    // The span makes append() read the line as HTML (it guesses from the start).
    append_html("<span style='white-space:pre-wrap'>" + linkify(text) + "</span>");
}

void Console::error(const QString &text)
{
    append_html("<span style='color:#b00020; white-space:pre-wrap'>" + linkify(text) + "</span>");
}

void Console::failure(const QString &message, const QString &traceback, const ErrorFrames &frames)
{
    if (frames.isEmpty()) {
        error(traceback.isEmpty() ? message : message + "\n" + traceback);
        return;
    }
    QStringList lines{linkify(message), "stack traceback:"};
    QStringList hidden; // the library's frames since the last of the user's
    const auto collapse = [&] {
        if (hidden.isEmpty())
            return;
        const QString href = QString("frames:%1").arg(m_next_group++);
        // The link keeps the indentation; what replaces it starts after it.
        m_collapsed.insert(href, hidden.join("<br>").mid(QString("&nbsp;").size() * 4));
        lines << QString("&nbsp;&nbsp;&nbsp;&nbsp;<a href=\"%1\">%2</a>")
                     .arg(href, (hidden.size() == 1 ? tr("… 1 library frame")
                                                    : tr("… %1 library frames").arg(hidden.size()))
                                    .toHtmlEscaped());
        hidden.clear();
    };
    for (const ErrorFrame &f : frames) {
        if (f.is_user_code()) {
            collapse();
            lines << frame_html(f);
        } else {
            hidden << frame_html(f);
        }
    }
    collapse();
    append_html(QString("<span style='%1'>").arg(kErrorStyle) + lines.join("<br>") + "</span>");
}

void Console::expand_frames(const QString &href)
{
    const auto found = m_collapsed.constFind(href);
    if (found == m_collapsed.constEnd())
        return;
    for (QTextBlock block = m_output->document()->begin(); block.isValid(); block = block.next()) {
        for (auto it = block.begin(); !it.atEnd(); ++it) {
            const QTextFragment fragment = it.fragment();
            if (fragment.charFormat().anchorHref() != href)
                continue;
            QTextCursor cursor(m_output->document());
            cursor.setPosition(fragment.position());
            cursor.setPosition(fragment.position() + fragment.length(), QTextCursor::KeepAnchor);
            cursor.insertHtml(QString("<span style='%1'>").arg(kErrorStyle) + *found + "</span>");
            m_collapsed.erase(found);
            return;
        }
    }
}

QStringList Console::links() const
{
    QStringList out;
    for (QTextBlock block = m_output->document()->begin(); block.isValid(); block = block.next())
        for (auto it = block.begin(); !it.atEnd(); ++it)
            if (const QString href = it.fragment().charFormat().anchorHref(); !href.isEmpty())
                out << href;
    return out;
}

void Console::info(const QString &text)
{
    append_html("<span style='color:#2060a0'>" + text.toHtmlEscaped() + "</span>");
}

void Console::clear()
{
    m_output->clear();
}

QString Console::plain_text() const
{
    return m_output->toPlainText();
}

void Console::set_prompt_enabled(bool enabled)
{
    // A disabled prompt loses the keyboard focus; one that had it when its
    // evaluation began gets it back, so the next line can be typed at once.
    if (!enabled && m_prompt->hasFocus())
        m_refocus = true;
    m_prompt->setEnabled(enabled);
    if (enabled && m_refocus) {
        m_refocus = false;
        m_prompt->setFocus(Qt::OtherFocusReason);
    }
}

bool Console::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_prompt && event->type() == QEvent::KeyPress && !m_history.isEmpty()) {
        const int key = static_cast<QKeyEvent *>(event)->key();
        if (key == Qt::Key_Up || key == Qt::Key_Down) {
            m_history_pos = std::clamp(m_history_pos + (key == Qt::Key_Up ? -1 : 1), 0,
                                       static_cast<int>(m_history.size()));
            m_prompt->setText(m_history_pos < m_history.size() ? m_history[m_history_pos] : QString());
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

} // namespace neurite::gui
