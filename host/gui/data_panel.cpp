#include "data_panel.h"

#include "metric_chart.h"

#include "neurite/core/data/csv.h"
#include "neurite/core/data/idx.h"
#include "neurite/core/data/image_folder.h"
#include "neurite/core/data/npy.h"
#include "neurite/core/error.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QDirIterator>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHorizontalBarSeries>
#include <QImageReader>
#include <QHeaderView>
#include <QLabel>
#include <QMimeData>
#include <QPainter>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QStackedWidget>
#include <QTableWidget>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace neurite::gui {

namespace {

constexpr int kGridImages = 48;

// Small images are magnified to about 56 pixels: 28x28 digits show at 2x.
int tile_scale(const Shape &shape)
{
    const auto w = static_cast<int>(shape[shape.size() - 1]), h = static_cast<int>(shape[shape.size() - 2]);
    return std::max(1, 56 / std::max(1, std::max(w, h)));
}
constexpr int kMaxFeatureRows = 2000;
constexpr int kMaxNamedClasses = 12;
constexpr int kClassChartHeight = 180;

// Whether a folder of class folders holds colour images: any of its first
// few images with a pixel that is not grey. A grey folder stays [1, H, W].
bool folder_in_colour(const QString &folder)
{
    constexpr int kLooked = 8;
    int looked = 0;
    QDirIterator files(folder, QDir::Files, QDirIterator::Subdirectories);
    while (files.hasNext() && looked < kLooked) {
        QImageReader reader(files.next());
        if (!reader.canRead())
            continue;
        ++looked;
        if (const QImage image = reader.read(); !image.isNull() && !image.allGray())
            return true;
    }
    return false;
}

// The labels file beside an images file, by the IDX naming convention.
QString labels_for(const QString &images)
{
    QString labels = images;
    labels.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1");
    return labels != images && QFileInfo::exists(labels) ? labels : QString();
}

// y.npy beside x.npy, X.npy beside... the usual ways people name the pair.
QString targets_for(const QString &x)
{
    const QFileInfo info(x);
    const QString base = info.completeBaseName();
    for (const auto &[from, to] : {std::pair{"x", "y"}, {"X", "y"}, {"_x", "_y"}, {"_X", "_y"},
                                   {"features", "labels"}, {"inputs", "targets"}}) {
        if (!base.endsWith(from))
            continue;
        const QString candidate = info.dir().filePath(base.left(base.size() - int(strlen(from))) + to + ".npy");
        if (QFileInfo::exists(candidate))
            return candidate;
    }
    return QString();
}

} // namespace

DataPanel::DataPanel(QWidget *parent)
    : QWidget(parent), m_summary(new QLabel), m_error(new QLabel), m_classes(new QChartView),
      m_detail(new QStackedWidget), m_features(new QTableWidget), m_images(new QLabel)
{
    setAcceptDrops(true);
    auto *buttons = new QHBoxLayout;
    // Short labels keep the panel narrow enough for a laptop screen.
    for (const QString &kind : {tr("IDX…"), tr("CSV…"), tr("NPY…"), tr("Images…")}) {
        auto *b = new QPushButton(kind);
        b->setMinimumWidth(40);
        b->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed);
        if (kind.startsWith("Images"))
            b->setToolTip(tr("A folder with one subfolder of images per class"));
        buttons->addWidget(b);
        connect(b, &QPushButton::clicked, this, [this, kind] { open_dialog(kind); });
    }
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_summary->setText(tr("Open a dataset, or drop a file or folder here."));
    m_error->setWordWrap(true);
    m_error->setStyleSheet("color: #b00020");
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_classes->chart()->setTitle(tr("Samples per class"));
    m_classes->chart()->legend()->hide();
    m_classes->chart()->setAnimationOptions(QChart::NoAnimation);
    m_classes->setMinimumHeight(kClassChartHeight);
    m_features->setColumnCount(4);
    m_features->setHorizontalHeaderLabels({tr("feature"), tr("min"), tr("mean"), tr("max")});
    m_features->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_features->verticalHeader()->hide();
    m_features->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_images->setAlignment(Qt::AlignCenter);
    // The pixmap's width must not hold the panel wide: a narrower panel
    // redraws the grid with fewer columns (resizeEvent) instead of clipping.
    m_images->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_detail->addWidget(m_features);
    m_detail->addWidget(m_images);
    // The chart and the grid scroll, so the dock (and the window) can be
    // smaller than their natural height on a small screen.
    auto *content = new QWidget;
    auto *content_layout = new QVBoxLayout(content);
    content_layout->setContentsMargins(0, 0, 0, 0);
    content_layout->addWidget(m_classes, 1);
    content_layout->addWidget(m_detail, 2);
    auto *scroll = m_scroll = new QScrollArea;
    scroll->setWidget(content);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(buttons);
    layout->addWidget(m_summary);
    layout->addWidget(m_error);
    layout->addWidget(scroll, 1);
}

void DataPanel::open_dialog(const QString &kind)
{
    QString path, second;
    if (kind.startsWith("IDX")) {
        path = QFileDialog::getOpenFileName(this, tr("IDX images"), "/usr/share/datasets",
                                            tr("IDX files (*idx* *.gz);;All files (*)"));
        if (!path.isEmpty() && labels_for(path).isEmpty())
            second = QFileDialog::getOpenFileName(this, tr("IDX labels (cancel for none)"),
                                                  QFileInfo(path).path(), tr("IDX files (*idx* *.gz);;All files (*)"));
    } else if (kind.startsWith("CSV")) {
        path = QFileDialog::getOpenFileName(this, tr("CSV or TSV"), QString(), tr("Tables (*.csv *.tsv *.txt)"));
    } else if (kind.startsWith("NPY")) {
        path = QFileDialog::getOpenFileName(this, tr("NumPy inputs X"), QString(), tr("NumPy arrays (*.npy)"));
        if (!path.isEmpty() && targets_for(path).isEmpty())
            second = QFileDialog::getOpenFileName(this, tr("NumPy targets y (cancel for none)"),
                                                  QFileInfo(path).path(), tr("NumPy arrays (*.npy)"));
    } else {
        path = QFileDialog::getExistingDirectory(this, tr("A folder with one subfolder per class"));
    }
    if (!path.isEmpty())
        open_path(path, second);
}

bool DataPanel::open_path(const QString &path, const QString &second_path)
{
    const QFileInfo info(path);
    const QString suffix = info.suffix().toLower();
    try {
        data::Dataset loaded;
        if (info.isDir()) {
            data::ImageFolderOptions options;
            options.width = options.height = 28;
            options.grayscale = !folder_in_colour(path); // RGB samples [3, H, W] for colour photos
            loaded = data::load_image_folder(path.toStdString(), options);
        } else if (suffix == "csv" || suffix == "tsv" || suffix == "txt") {
            loaded = data::load_csv(path.toStdString());
        } else if (suffix == "npy") {
            const QString y = second_path.isEmpty() ? targets_for(path) : second_path;
            loaded = data::load_npy(path.toStdString(), y.toStdString());
        } else {
            const QString labels = second_path.isEmpty() ? labels_for(path) : second_path;
            data::IdxOptions options;
            if (path.contains("fashion"))
                options.class_names = data::fashion_mnist_class_names();
            loaded = data::load_idx(path.toStdString(), labels.toStdString(), options);
        }
        set_dataset(loaded);
        return true;
    } catch (const std::exception &e) {
        // The dataset shown before stays: a bad file loses nothing.
        m_error->setText(QString::fromUtf8(e.what()));
        return false;
    }
}

void DataPanel::set_dataset(const data::Dataset &dataset)
{
    m_dataset = dataset;
    m_error->clear();
    QString text = tr("<b>%1</b><br>%2 samples, input %3, target: %4")
                       .arg(QFileInfo(QString::fromStdString(dataset.source())).fileName().toHtmlEscaped())
                       .arg(dataset.size())
                       .arg(QString::fromStdString(dataset.input_shape().to_string()))
                       .arg(data::target_kind_name(dataset.target_kind()));
    if (dataset.target_kind() == data::TargetKind::Classes)
        text += tr(" (%1 classes)").arg(dataset.class_count());
    if (!dataset.warnings().empty())
        text += tr("<br><span style='color:#a06000'>%1 warning(s): %2</span>")
                    .arg(dataset.warnings().size())
                    .arg(QString::fromStdString(dataset.warnings().front()).toHtmlEscaped());
    m_summary->setText(text);
    show_classes();
    if (dataset.input_shape().size() >= 2)
        show_images();
    else
        show_features();
    m_scroll->verticalScrollBar()->setValue(0); // a new file is read from its top, not where the last one was left
    emit dataset_changed(dataset);
}

void DataPanel::show_classes()
{
    QChart *chart = m_classes->chart();
    chart->removeAllSeries();
    for (QAbstractAxis *a : chart->axes()) {
        chart->removeAxis(a);
        delete a;
    }
    m_bar_counts.clear();
    if (m_dataset.target_kind() != data::TargetKind::Classes) {
        chart->setTitle(tr("No classes (targets: %1)").arg(data::target_kind_name(m_dataset.target_kind())));
        return;
    }
    chart->setTitle(tr("Samples per class"));
    auto *set = new QBarSet(tr("samples"));
    QStringList names;
    int top = 0;
    const std::vector<int64_t> counts = m_dataset.class_counts();
    // Horizontal bars stack upwards: listed last to first, class 0 is on top.
    const bool named = counts.size() <= size_t(kMaxNamedClasses);
    for (size_t i = 0; i < counts.size(); ++i) {
        const size_t c = named ? counts.size() - 1 - i : i;
        *set << static_cast<double>(counts[c]);
        names << QString::fromStdString(m_dataset.class_names()[c]);
        top = std::max(top, static_cast<int>(counts[c]));
    }
    for (int64_t n : counts)
        m_bar_counts << static_cast<int>(n);
    // Up to a dozen classes read best as horizontal bars named on the side
    // (names like "T-shirt/top" do not fit under a bar); more get plain columns.
    QAbstractBarSeries *series = named ? static_cast<QAbstractBarSeries *>(new QHorizontalBarSeries)
                                       : static_cast<QAbstractBarSeries *>(new QBarSeries);
    series->append(set);
    chart->addSeries(series);
    auto *classes = new QBarCategoryAxis;
    if (named) {
        classes->append(names);
        classes->setTruncateLabels(false); // the chart is sized to fit them below
    } else {
        for (qsizetype c = 0; c < names.size(); ++c)
            classes->append(QString::number(c));
        classes->setLabelsVisible(false);
        chart->setTitle(tr("Samples per class (%1 classes)").arg(names.size()));
    }
    auto *count = new QValueAxis;
    const MetricChart::AxisRange range = MetricChart::nice_range(0, std::max(top, 1), 4);
    count->setRange(range.lo, range.hi);
    count->setTickCount(range.ticks);
    count->setLabelFormat("%d");
    chart->addAxis(classes, named ? Qt::AlignLeft : Qt::AlignBottom);
    chart->addAxis(count, named ? Qt::AlignBottom : Qt::AlignLeft);
    series->attachAxis(classes);
    series->attachAxis(count);
    m_classes->setMinimumHeight(named ? std::max(kClassChartHeight, 80 + 20 * int(names.size())) : kClassChartHeight);
}

void DataPanel::show_features()
{
    m_detail->setCurrentWidget(m_features);
    m_shown_images = 0;
    const int64_t features = std::min<int64_t>(m_dataset.feature_count(), kMaxFeatureRows);
    std::vector<double> lo(size_t(features), INFINITY), hi(size_t(features), -INFINITY), sum(size_t(features), 0);
    const Tensor inputs = m_dataset.inputs(); // normalized as a model sees them
    const int64_t n = m_dataset.size(), stride = m_dataset.feature_count();
    for (int64_t i = 0; i < n; ++i)
        for (int64_t f = 0; f < features; ++f) {
            const double v = inputs[i * stride + f];
            lo[size_t(f)] = std::min(lo[size_t(f)], v);
            hi[size_t(f)] = std::max(hi[size_t(f)], v);
            sum[size_t(f)] += v;
        }
    m_features->setRowCount(static_cast<int>(features));
    for (int64_t f = 0; f < features; ++f) {
        const auto &names = m_dataset.feature_names();
        const QString name = size_t(f) < names.size() ? QString::fromStdString(names[size_t(f)]) : QString::number(f + 1);
        const int row = static_cast<int>(f);
        m_features->setItem(row, 0, new QTableWidgetItem(name));
        m_features->setItem(row, 1, new QTableWidgetItem(QString::number(lo[size_t(f)], 'g', 5)));
        m_features->setItem(row, 2, new QTableWidgetItem(QString::number(n ? sum[size_t(f)] / double(n) : 0, 'g', 5)));
        m_features->setItem(row, 3, new QTableWidgetItem(QString::number(hi[size_t(f)], 'g', 5)));
    }
}

void DataPanel::show_images()
{
    m_detail->setCurrentWidget(m_images);
    const Shape &shape = m_dataset.input_shape();
    const bool rgb = shape.size() == 3 && shape[0] == 3;
    const int h = static_cast<int>(shape[shape.size() - 2]), w = static_cast<int>(shape[shape.size() - 1]);
    const int shown = static_cast<int>(std::min<int64_t>(m_dataset.size(), kGridImages));
    const int scale = tile_scale(shape);
    const int cell_w = w * scale, cell_h = h * scale + 14;
    // As many columns as the panel is wide: the grid never needs a sideways scroll.
    m_grid_columns = grid_columns_for(cell_w);
    const int columns = m_grid_columns;
    QImage grid(columns * cell_w, ((shown + columns - 1) / columns) * cell_h, QImage::Format_RGB32);
    grid.fill(Qt::white);
    QPainter painter(&grid);
    QFont font = painter.font();
    font.setPixelSize(10);
    painter.setFont(font);
    for (int s = 0; s < shown; ++s) {
        const data::Sample sample = m_dataset.sample(s);
        // Stretch each image to its own range so normalized data shows too.
        const auto [lo_it, hi_it] = std::minmax_element(sample.input.begin(), sample.input.end());
        const float lo = *lo_it, span = std::max(*hi_it - *lo_it, 1e-6f);
        QImage tile(w, h, QImage::Format_RGB32);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                auto at = [&](int plane) { return int(255 * (sample.input[(int64_t(plane) * h + y) * w + x] - lo) / span); };
                tile.setPixel(x, y, rgb ? qRgb(at(0), at(1), at(2)) : qRgb(at(0), at(0), at(0)));
            }
        const int cx = (s % columns) * cell_w, cy = (s / columns) * cell_h;
        painter.drawImage(QRect(cx, cy, cell_w, h * scale), tile);
        if (sample.label >= 0) {
            const QString name = QString::fromStdString(m_dataset.class_names()[size_t(sample.label)]);
            painter.drawText(QRect(cx, cy + h * scale, cell_w, 14), Qt::AlignCenter,
                             painter.fontMetrics().elidedText(name, Qt::ElideRight, cell_w));
        }
    }
    painter.end();
    m_grid = grid;
    m_images->setPixmap(QPixmap::fromImage(grid));
    m_shown_images = shown;
}

int DataPanel::grid_columns_for(int cell_width) const
{
    return std::clamp(m_detail->width() / std::max(1, cell_width), 2, 16);
}

void DataPanel::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    if (m_shown_images > 0 && m_detail->currentWidget() == m_images) {
        const Shape &shape = m_dataset.input_shape();
        if (grid_columns_for(static_cast<int>(shape[shape.size() - 1]) * tile_scale(shape)) != m_grid_columns)
            show_images();
    }
}

QString DataPanel::error_text() const { return m_error->text(); }

QString DataPanel::summary_text() const { return m_summary->text(); }

int DataPanel::feature_rows() const { return m_features->rowCount(); }

QList<int> DataPanel::bar_counts() const { return m_bar_counts; }

void DataPanel::dragEnterEvent(QDragEnterEvent *event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void DataPanel::dropEvent(QDropEvent *event)
{
    const QList<QUrl> urls = event->mimeData()->urls();
    if (urls.isEmpty() || !urls.first().isLocalFile())
        return;
    // Two dropped files: inputs and targets (images and labels, X and y).
    QString first = urls.first().toLocalFile(), second = urls.size() > 1 ? urls[1].toLocalFile() : QString();
    if (!second.isEmpty() && (first.contains("label") || QFileInfo(first).completeBaseName().endsWith('y')))
        std::swap(first, second);
    open_path(first, second);
    event->acceptProposedAction();
}

} // namespace neurite::gui
