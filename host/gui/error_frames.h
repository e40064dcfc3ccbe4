#pragma once

// The stack of a failed run as the window gets it from its kernel (the last
// field of the Failed frame, kernel_protocol.h): which frames are the user's
// code, which are Neurite's own Lua (train.lua, ...). The console collapses
// the library's frames; the editor marks the innermost line of the user's.
#include <QDataStream>
#include <QList>
#include <QString>

namespace neurite::gui {

struct ErrorFrame {
    QString source;   // the file's full path, or the chunk's name ("xor experiment")
    qint32 line = 0;  // 0: a C function
    QString function; // "local 'go'", "method 'save'", "main chunk", ...
    bool library = false;

    bool is_user_code() const { return !library && line > 0; }
};
using ErrorFrames = QList<ErrorFrame>;

inline QDataStream &operator<<(QDataStream &s, const ErrorFrame &f)
{
    return s << f.source << f.line << f.function << f.library;
}

inline QDataStream &operator>>(QDataStream &s, ErrorFrame &f)
{
    return s >> f.source >> f.line >> f.function >> f.library;
}

// The innermost frame of the user's code, or nullptr.
inline const ErrorFrame *innermost_user_frame(const ErrorFrames &frames)
{
    for (const ErrorFrame &f : frames)
        if (f.is_user_code())
            return &f;
    return nullptr;
}

} // namespace neurite::gui
