#include "model_panel.h"

#include "graph_view.h"

#include <QFontDatabase>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>

namespace neurite::gui {

ModelPanel::ModelPanel(QWidget *parent)
    : QWidget(parent), m_views(new QTabWidget), m_graph(new GraphView), m_summary(new QPlainTextEdit), m_picture(new QLabel), m_caption(new QLabel),
      m_confusion_picture(new QLabel), m_confusion_caption(new QLabel)
{
    m_summary->setReadOnly(true);
    m_summary->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_summary->setPlaceholderText(tr("Run a script that trains a model to see its layers here."));
    m_summary->setFrameShape(QFrame::NoFrame);
    m_views->addTab(m_graph, tr("Graph"));
    m_views->addTab(m_summary, tr("Summary"));
    m_views->setDocumentMode(true);
    m_picture->setAlignment(Qt::AlignCenter);
    m_picture->setMinimumSize(200, 200);
    m_caption->setAlignment(Qt::AlignCenter);
    m_caption->setWordWrap(true);
    m_confusion_picture->setAlignment(Qt::AlignCenter);
    m_confusion_caption->setAlignment(Qt::AlignCenter);
    m_confusion_caption->setWordWrap(true);
    // The pictures scroll: a 20-class matrix must not make the dock tall.
    auto *pictures = new QWidget;
    auto *boundary_column = new QVBoxLayout;
    boundary_column->addWidget(m_picture, 1);
    boundary_column->addWidget(m_caption);
    auto *confusion_column = new QVBoxLayout;
    confusion_column->addWidget(m_confusion_picture, 1);
    confusion_column->addWidget(m_confusion_caption);
    // Side by side at their natural sizes, centred: a hidden one takes no room.
    auto *pictures_layout = new QHBoxLayout(pictures);
    pictures_layout->addStretch();
    pictures_layout->addLayout(boundary_column);
    pictures_layout->addLayout(confusion_column);
    pictures_layout->addStretch();
    auto *scroll = new QScrollArea;
    scroll->setWidget(pictures);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    // The graph above the pictures; the person drags the split.
    auto *split = new QSplitter(Qt::Vertical);
    split->addWidget(m_views);
    split->addWidget(scroll);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    split->setChildrenCollapsible(false);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(split);
    clear();
}

QString ModelPanel::summary() const
{
    return m_summary->toPlainText();
}

void ModelPanel::set_model(const QString &summary, const ModelGraph &graph)
{
    m_summary->setPlainText(summary);
    m_graph->set_graph(graph);
}

void ModelPanel::set_boundary(const QImage &image, const QString &caption)
{
    m_picture->show();
    m_caption->show();
    m_boundary = image;
    m_picture->setPixmap(QPixmap::fromImage(image));
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
    m_confusion_picture->setPixmap(QPixmap::fromImage(image));
    m_confusion_caption->setText(tr("Confusion matrix (rows: true class, columns: predicted), %1").arg(caption));
}

QString ModelPanel::confusion_caption() const { return m_confusion_caption->text(); }

void ModelPanel::clear()
{
    m_summary->clear();
    m_graph->clear_graph();
    m_boundary = QImage();
    m_picture->setText(tr("While a model trains: its decision boundary on 2-D class data,\n"
                          "or its fitted curve on 1-D regression data.\n"
                          "When a run that trained on class data ends: the confusion matrix."));
    m_caption->clear();
    m_confusion = QImage();
    m_confusion_picture->clear();
    m_confusion_caption->clear();
    m_picture->show();
    m_caption->show();
    m_confusion_picture->hide();
    m_confusion_caption->hide();
}

QString ModelPanel::boundary_caption() const { return m_caption->text(); }

} // namespace neurite::gui
