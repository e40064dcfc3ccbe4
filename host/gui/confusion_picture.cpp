#include "confusion_picture.h"

#include <QFont>
#include <QFontMetrics>
#include <QPainter>

#include <algorithm>

namespace neurite::gui {

namespace {

constexpr int kMargin = 6;
constexpr int kHeaderHeight = 18;

} // namespace

QImage render_confusion(const std::vector<int64_t> &counts, int k, const QStringList &names)
{
    if (k < 1 || counts.size() != static_cast<size_t>(k) * static_cast<size_t>(k))
        return {};
    // Cells small enough for 20 classes, large enough to read a count.
    const int cell = std::clamp(360 / k, 18, 40);
    QFont font;
    font.setPixelSize(std::clamp(cell / 3, 8, 12));
    // Measured as the image paints (its resolution, not the screen's): a
    // label measured elsewhere may not fit and be elided to "...".
    QImage probe(1, 1, QImage::Format_RGB32);
    const QFontMetrics metrics(font, &probe);
    int label_width = 0;
    for (int c = 0; c < k; ++c) {
        const QString name = QString("%1 %2").arg(c + 1).arg(c < names.size() ? names[c] : QString());
        label_width = std::max(label_width, metrics.horizontalAdvance(name.trimmed()));
    }
    // Whole pixels, where the text is a fraction wider: a little slack.
    label_width = std::min(label_width + kMargin + 2, 160);
    const int width = kMargin + label_width + k * cell + kMargin;
    const int height = kMargin + kHeaderHeight + k * cell + kMargin;
    QImage image(width, height, QImage::Format_RGB32);
    image.fill(Qt::white);
    QPainter painter(&image);
    painter.setFont(font);
    const int left = kMargin + label_width, top = kMargin + kHeaderHeight;
    for (int g = 0; g < k; ++g)
        painter.drawText(QRect(left + g * cell, kMargin, cell, kHeaderHeight), Qt::AlignCenter,
                         QString::number(g + 1));
    for (int t = 0; t < k; ++t) {
        int64_t row_total = 0;
        for (int g = 0; g < k; ++g)
            row_total += counts[size_t(t) * size_t(k) + size_t(g)];
        const QString name = QString("%1 %2").arg(t + 1).arg(t < names.size() ? names[t] : QString()).trimmed();
        painter.setPen(Qt::black);
        painter.drawText(QRect(kMargin, top + t * cell, label_width - kMargin, cell), Qt::AlignVCenter | Qt::AlignRight,
                         metrics.elidedText(name, Qt::ElideRight, label_width - kMargin));
        for (int g = 0; g < k; ++g) {
            const int64_t n = counts[size_t(t) * size_t(k) + size_t(g)];
            const double share = row_total > 0 ? double(n) / double(row_total) : 0.0;
            // Right answers in blue, mistakes in red; the deeper, the larger the share.
            const QColor full = t == g ? QColor(31, 119, 180) : QColor(214, 39, 40);
            const QColor shade = QColor::fromRgbF(1 - share * (1 - full.redF()), 1 - share * (1 - full.greenF()),
                                                  1 - share * (1 - full.blueF()));
            const QRect r(left + g * cell, top + t * cell, cell, cell);
            painter.fillRect(r, shade);
            painter.setPen(QColor(220, 220, 220));
            painter.drawRect(r.adjusted(0, 0, -1, -1));
            if (n > 0) {
                painter.setPen(share > 0.55 ? Qt::white : Qt::black);
                painter.drawText(r, Qt::AlignCenter, QString::number(n));
            }
        }
    }
    return image;
}

} // namespace neurite::gui
