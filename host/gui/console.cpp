#include "console.h"

#include <QFontDatabase>
#include <QKeyEvent>
#include <QLineEdit>
#include <QRegularExpression>
#include <QScrollBar>
#include <QTextBrowser>
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
