#pragma once

#include <QImage>
#include <QStringList>

#include <cstdint>
#include <vector>

namespace neurite::gui {

// A confusion matrix as a picture: rows the true class (named on the left),
// columns the predicted class (numbered on top), each cell its count, shaded
// by its share of the row, so a class's mistakes stand out whatever its size.
// Drawn at about twice its reading size, for the window to scale to its room;
// class names are never elided.
// counts has k * k entries, row-major. QImage only: safe off the UI thread.
QImage render_confusion(const std::vector<int64_t> &counts, int k, const QStringList &names);

} // namespace neurite::gui
