#include "confusion_picture.h"

#include <QFont>
#include <QFontMetrics>
#include <QPainter>

#include <algorithm>

namespace neurite::gui {

namespace {

constexpr int kMargin = 12;

// "3 Pullover": the class's number (as the columns are numbered) and its
// name, unless the name is only the class's index from 0 ("1 0", "2 1" read
// as a mistake).
QString row_name(int c, const QStringList &names)
{
    const QString name = c < names.size() && names[c] != QString::number(c) ? names[c] : QString();
    return QString("%1 %2").arg(c + 1).arg(name).trimmed();
}

} // namespace

QImage render_confusion(const std::vector<int64_t> &counts, int k, const QStringList &names)
{
    if (k < 1 || counts.size() != static_cast<size_t>(k) * static_cast<size_t>(k))
        return {};
    // Drawn at about twice the size it is read at: the window scales it to
    // the room it has, down on a laptop, up to this on a large screen, and
    // stays sharp. Cells fit 20 classes and a four-digit count.
    const int cell = std::clamp(960 / k, 40, 96);
    QFont font;
    font.setPixelSize(std::clamp(cell / 3, 14, 30));
    // Measured as the image paints (its resolution, not the screen's); the
    // names are never elided ("Ankle b…"): the picture grows to hold them.
    QImage probe(1, 1, QImage::Format_RGB32);
    const QFontMetrics metrics(font, &probe);
    int label_width = 0;
    for (int c = 0; c < k; ++c)
        label_width = std::max(label_width, metrics.horizontalAdvance(row_name(c, names)));
    // Whole pixels, where the text is a fraction wider: a little slack.
    label_width += kMargin + 4;
    const int header = metrics.height() + kMargin / 2;
    const int width = kMargin + label_width + k * cell + kMargin;
    const int height = kMargin + header + k * cell + kMargin;
    QImage image(width, height, QImage::Format_RGB32);
    image.fill(Qt::white);
    QPainter painter(&image);
    painter.setFont(font);
    painter.setRenderHint(QPainter::TextAntialiasing);
    const int left = kMargin + label_width, top = kMargin + header;
    for (int g = 0; g < k; ++g)
        painter.drawText(QRect(left + g * cell, kMargin, cell, header), Qt::AlignCenter, QString::number(g + 1));
    for (int t = 0; t < k; ++t) {
        int64_t row_total = 0;
        for (int g = 0; g < k; ++g)
            row_total += counts[size_t(t) * size_t(k) + size_t(g)];
        painter.setPen(Qt::black);
        painter.drawText(QRect(kMargin, top + t * cell, label_width - kMargin, cell), Qt::AlignVCenter | Qt::AlignRight,
                         row_name(t, names));
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
