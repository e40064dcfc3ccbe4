#pragma once

#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>
#include <QString>

namespace neurite::gui {

// Where a save dialog starts: beside `near` (the current script's path) when
// there is one, else in the user's documents folder; never the process's
// working directory, which for a window started from a desktop is arbitrary.
inline QString save_location(const QString &file_name, const QString &near = QString())
{
    const QString folder = near.isEmpty() ? QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation)
                                          : QFileInfo(near).absolutePath();
    return QDir(folder).filePath(file_name);
}

} // namespace neurite::gui
