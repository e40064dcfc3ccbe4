#pragma once

#include <QRegularExpression>
#include <QSyntaxHighlighter>
#include <QTextCharFormat>

namespace neurite::gui {

// Lua 5.4 syntax colours: keywords, the Neurite globals, strings, numbers,
// comments (including --[[ long ]] comments and [[ long strings ]] that span
// lines, tracked through the block state).
class LuaHighlighter : public QSyntaxHighlighter {
    Q_OBJECT

public:
    explicit LuaHighlighter(QTextDocument *document);

protected:
    void highlightBlock(const QString &text) override;

private:
    struct Rule {
        QRegularExpression pattern;
        QTextCharFormat format;
    };
    QList<Rule> m_rules;
    QTextCharFormat m_comment, m_string;
};

} // namespace neurite::gui
