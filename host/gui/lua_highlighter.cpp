#include "lua_highlighter.h"

namespace neurite::gui {

namespace {

enum BlockState { Normal = -1, InLongComment = 1, InLongString = 2 };

QTextCharFormat text_format(const QColor &colour, bool bold = false, bool italic = false)
{
    QTextCharFormat f;
    f.setForeground(colour);
    if (bold)
        f.setFontWeight(QFont::Bold);
    f.setFontItalic(italic);
    return f;
}

} // namespace

LuaHighlighter::LuaHighlighter(QTextDocument *document)
    : QSyntaxHighlighter(document), m_comment(text_format(QColor(110, 120, 110), false, true)),
      m_string(text_format(QColor(160, 60, 30)))
{
    const QString keywords = "and|break|do|else|elseif|end|false|for|function|goto|if|in|local|nil|"
                             "not|or|repeat|return|then|true|until|while";
    m_rules.append({QRegularExpression("\\b(" + keywords + ")\\b"), text_format(QColor(30, 60, 160), true)});
    m_rules.append({QRegularExpression("\\b(tensor|nn|optim|data|train|monitor|print|require|"
                                       "pairs|ipairs|assert|error|pcall|tostring|tonumber|type|"
                                       "math|string|table)\\b"),
                    text_format(QColor(120, 40, 140))});
    m_rules.append({QRegularExpression("\\b(0[xX][0-9a-fA-F]+|\\d+\\.?\\d*([eE][-+]?\\d+)?|\\.\\d+([eE][-+]?\\d+)?)\\b"),
                    text_format(QColor(20, 120, 120))});
    m_rules.append({QRegularExpression("\"(\\\\.|[^\"\\\\])*\"|'(\\\\.|[^'\\\\])*'"), m_string});
}

void LuaHighlighter::highlightBlock(const QString &text)
{
    for (const Rule &rule : std::as_const(m_rules)) {
        auto it = rule.pattern.globalMatch(text);
        while (it.hasNext()) {
            const auto m = it.next();
            setFormat(static_cast<int>(m.capturedStart()), static_cast<int>(m.capturedLength()), rule.format);
        }
    }
    // Comments and long brackets last: they override what they contain.
    setCurrentBlockState(Normal);
    int start = 0;
    if (previousBlockState() == InLongComment || previousBlockState() == InLongString) {
        const int close = static_cast<int>(text.indexOf("]]"));
        const QTextCharFormat &f = previousBlockState() == InLongComment ? m_comment : m_string;
        if (close < 0) {
            setFormat(0, static_cast<int>(text.size()), f);
            setCurrentBlockState(previousBlockState());
            return;
        }
        setFormat(0, close + 2, f);
        start = close + 2;
    }
    while (start < text.size()) {
        const int comment = static_cast<int>(text.indexOf("--", start));
        const int long_string = static_cast<int>(text.indexOf("[[", start));
        if (comment < 0 && long_string < 0)
            break;
        const bool is_comment = comment >= 0 && (long_string < 0 || comment < long_string);
        const int at = is_comment ? comment : long_string;
        const bool long_form = is_comment ? text.mid(at + 2, 2) == "[[" : true;
        if (is_comment && !long_form) {
            setFormat(at, static_cast<int>(text.size()) - at, m_comment);
            return;
        }
        const int open_len = is_comment ? 4 : 2;
        const int close = static_cast<int>(text.indexOf("]]", at + open_len));
        const QTextCharFormat &f = is_comment ? m_comment : m_string;
        if (close < 0) {
            setFormat(at, static_cast<int>(text.size()) - at, f);
            setCurrentBlockState(is_comment ? InLongComment : InLongString);
            return;
        }
        setFormat(at, close + 2 - at, f);
        start = close + 2;
    }
}

} // namespace neurite::gui
