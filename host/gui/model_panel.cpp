#include "model_panel.h"

#include "graph_view.h"

#include <QEvent>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>

#include <algorithm>

namespace neurite::gui {

namespace {

constexpr int kMinColumn = 180;
constexpr int kGraphSlack = 24; // the graph's scroll bar and a margin

} // namespace

ModelPanel::ModelPanel(QWidget *parent)
    : QWidget(parent), m_views(new QTabWidget), m_graph(new GraphView), m_summary(new QPlainTextEdit), m_picture(new QLabel), m_caption(new QLabel),
      m_confusion_picture(new QLabel), m_confusion_caption(new QLabel), m_sample(new QSpinBox), m_run_info(new QLabel)
{
    for (int k = 0; k < kTileKinds; ++k) {
        m_tile_picture[k] = new QLabel;
        m_tile_picture[k]->setAlignment(Qt::AlignCenter);
        m_tile_caption[k] = new QLabel;
        m_tile_caption[k]->setAlignment(Qt::AlignCenter);
        m_tile_caption[k]->setWordWrap(true);
    }
    m_run_info->setWordWrap(true);
    m_run_info->setContentsMargins(6, 2, 6, 2);
    m_run_info->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed); // one line; the rest for the model
    m_summary->setReadOnly(true);
    m_summary->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_summary->setPlaceholderText(tr("Run a script that trains a model to see its layers here."));
    m_summary->setFrameShape(QFrame::NoFrame);
    m_views->addTab(m_graph, tr("Graph"));
    m_views->addTab(m_summary, tr("Summary"));
    m_views->setDocumentMode(true);
    m_picture->setAlignment(Qt::AlignCenter);
    m_picture->setWordWrap(true); // the hint before the first picture
    m_caption->setAlignment(Qt::AlignCenter);
    m_caption->setWordWrap(true);
    m_confusion_picture->setAlignment(Qt::AlignCenter);
    m_confusion_caption->setAlignment(Qt::AlignCenter);
    m_confusion_caption->setWordWrap(true);
    // The graph beside the pictures, each column as tall as the dock: a
    // chain is a vertical list, and the pictures stack.
    m_split = new QSplitter(Qt::Horizontal);
    m_pictures = build_pictures();
    m_split->addWidget(m_views);
    m_split->addWidget(m_pictures);
    m_split->setStretchFactor(0, 2);
    m_split->setStretchFactor(1, 3);
    m_split->setChildrenCollapsible(false);
    connect(m_split, &QSplitter::splitterMoved, this, [this] { m_split_moved = true; });
    m_pictures->viewport()->installEventFilter(this);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_run_info);
    layout->addWidget(m_split, 1);
    clear();
}

QScrollArea *ModelPanel::build_pictures()
{
    // The pictures scroll: a 20-class matrix must not make the dock tall.
    auto *pictures = new QWidget;
    auto *column = new QVBoxLayout(pictures);
    column->addWidget(m_picture);
    column->addWidget(m_caption);
    column->addSpacing(8);
    using Kind = kernel::TilePicture::Kind;
    column->addWidget(m_tile_picture[Kind::Filters]);
    column->addWidget(m_tile_caption[Kind::Filters]);
    m_sample_row = build_sample_row();
    column->addWidget(m_sample_row);
    column->addWidget(m_tile_picture[Kind::FeatureMaps]);
    column->addWidget(m_tile_caption[Kind::FeatureMaps]);
    column->addWidget(m_tile_picture[Kind::Reconstructions]);
    column->addWidget(m_tile_caption[Kind::Reconstructions]);
    column->addWidget(m_confusion_picture);
    column->addWidget(m_confusion_caption);
    column->addStretch();
    auto *scroll = new QScrollArea;
    scroll->setWidget(pictures);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    return scroll;
}

// "Feature maps of sample [ 3 ]": the sample counts from 1, as Lua does.
QWidget *ModelPanel::build_sample_row()
{
    auto *row = new QWidget;
    auto *line = new QHBoxLayout(row);
    line->setContentsMargins(0, 0, 0, 0);
    line->addStretch();
    line->addWidget(new QLabel(tr("Feature maps of sample")));
    m_sample->setRange(1, 1);
    m_sample->setAccelerated(true);
    m_sample->setToolTip(tr("Which training sample goes through the model (from 1); redrawn while it trains, "
                            "and at once after the run"));
    line->addWidget(m_sample);
    m_sample_picture = new QLabel;
    line->addWidget(m_sample_picture);
    line->addStretch();
    connect(m_sample, &QSpinBox::valueChanged, this, [this](int value) { emit sample_chosen(value - 1); });
    return row;
}

QString ModelPanel::summary() const
{
    return m_summary->toPlainText();
}

void ModelPanel::set_model(const QString &summary, const ModelGraph &graph)
{
    m_summary->setPlainText(summary);
    m_graph->set_graph(graph);
    size_columns();
}

// The graph's column as wide as the graph (within limits), the pictures the
// rest, until the person drags the split.
void ModelPanel::size_columns()
{
    const int total = m_split->width();
    if (m_split_moved || total < 2 * kMinColumn)
        return;
    const int graph = std::clamp(static_cast<int>(m_graph->graph_layout().size.width()) + kGraphSlack, kMinColumn,
                                 total / 2);
    m_split->setSizes({graph, total - graph});
}

// The pictures at their own size, or smaller to fit their column: never cropped.
void ModelPanel::show_pictures()
{
    const QMargins margins = m_pictures->widget()->layout()->contentsMargins();
    const int room = std::max(kMinColumn / 2, m_pictures->viewport()->width() - margins.left() - margins.right());
    auto show = [room](QLabel *label, const QImage &image) {
        const QPixmap pixmap =
            QPixmap::fromImage(image.width() > room ? image.scaledToWidth(room, Qt::SmoothTransformation) : image);
        label->setPixmap(pixmap);
        label->setMinimumSize(pixmap.size()); // the column scrolls rather than squeeze it
    };
    if (has_boundary())
        show(m_picture, m_boundary);
    if (has_confusion())
        show(m_confusion_picture, m_confusion);
    for (int k = 0; k < kTileKinds; ++k)
        if (m_tiles[k].tiles > 0)
            show(m_tile_picture[k], m_tiles[k].image);
}

bool ModelPanel::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_pictures->viewport() && event->type() == QEvent::Resize)
        show_pictures();
    return QWidget::eventFilter(watched, event);
}

void ModelPanel::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    size_columns();
}

void ModelPanel::set_boundary(const QImage &image, const QString &caption)
{
    m_picture->show();
    m_caption->show();
    m_boundary = image;
    show_pictures();
    m_caption->setText(caption);
}

void ModelPanel::set_confusion(const QImage &image, const QString &caption)
{
    m_confusion = image;
    // Without a boundary picture, its placeholder would only take the room.
    m_picture->setVisible(has_boundary());
    m_caption->setVisible(has_boundary());
    m_confusion_picture->show();
    m_confusion_caption->show();
    show_pictures();
    m_confusion_caption->setText(tr("Confusion matrix (rows: true class, columns: predicted), %1").arg(caption));
}

QString ModelPanel::confusion_caption() const { return m_confusion_caption->text(); }

void ModelPanel::set_tiles(const kernel::TilePicture &picture)
{
    if (picture.kind >= kTileKinds)
        return; // a kind a newer kernel draws
    m_tiles[picture.kind] = picture;
    m_tile_picture[picture.kind]->show();
    m_tile_caption[picture.kind]->show();
    m_tile_caption[picture.kind]->setText(picture.caption);
    if (picture.kind == kernel::TilePicture::FeatureMaps) {
        m_sample_row->show();
        const QSignalBlocker quiet(m_sample); // the kernel's answer, not the person's choice
        m_sample->setMaximum(static_cast<int>(std::max<qint64>(1, picture.samples)));
        m_sample->setValue(static_cast<int>(picture.sample + 1));
        m_sample_picture->setPixmap(QPixmap::fromImage(picture.input));
    }
    // Without a boundary picture, its placeholder would only take the room.
    m_picture->setVisible(has_boundary());
    m_caption->setVisible(has_boundary());
    show_pictures();
}

kernel::TilePicture ModelPanel::tiles(quint8 kind) const
{
    return kind < kTileKinds ? m_tiles[kind] : kernel::TilePicture();
}

void ModelPanel::set_precision(const QString &precision)
{
    m_run_info->setText(precision == "bf16"
                            ? tr("Computes in <b>bf16</b> (mixed precision: bf16 layers, f32 master weights)")
                            : tr("Computes in <b>%1</b>").arg(precision.toHtmlEscaped()));
    m_run_info->show();
}

QString ModelPanel::run_info() const { return m_run_info->text(); }

void ModelPanel::clear()
{
    m_summary->clear();
    m_graph->clear_graph();
    m_boundary = QImage();
    m_picture->setMinimumSize(kMinColumn, kMinColumn);
    m_picture->setText(tr("While a model trains: its decision boundary on two-feature class data, or its "
                          "fitted curve on one-feature regression data; a convolution's filters and feature "
                          "maps; an autoencoder's reconstructions. When a run that trained on class "
                          "data ends: the confusion matrix."));
    m_caption->clear();
    m_confusion = QImage();
    m_confusion_picture->clear();
    m_confusion_caption->clear();
    m_picture->show();
    m_caption->show();
    m_confusion_picture->hide();
    m_confusion_caption->hide();
    for (int k = 0; k < kTileKinds; ++k) {
        m_tiles[k] = kernel::TilePicture();
        m_tile_picture[k]->clear();
        m_tile_caption[k]->clear();
        m_tile_picture[k]->hide();
        m_tile_caption[k]->hide();
    }
    m_sample_row->hide(); // the chosen sample stays for the next run
    m_run_info->clear();
    m_run_info->hide();
}

QString ModelPanel::boundary_caption() const { return m_caption->text(); }

} // namespace neurite::gui
