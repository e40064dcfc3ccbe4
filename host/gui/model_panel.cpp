#include "model_panel.h"

#include <QFontDatabase>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QVBoxLayout>

namespace neurite::gui {

ModelPanel::ModelPanel(QWidget *parent)
    : QWidget(parent), m_summary(new QPlainTextEdit), m_picture(new QLabel), m_caption(new QLabel),
      m_confusion_picture(new QLabel), m_confusion_caption(new QLabel)
{
    m_summary->setReadOnly(true);
    m_summary->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_summary->setPlaceholderText(tr("Run a script that builds a model to see its layers here."));
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
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_summary, 1);
    layout->addWidget(scroll, 4); // the pictures matter more than blank lines under the summary
    clear();
}

QString ModelPanel::summary() const
{
    return m_summary->toPlainText();
}

void ModelPanel::set_summary(const QString &text)
{
    m_summary->setPlainText(text);
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
    m_boundary = QImage();
    m_picture->setText(tr("While a model trains: its decision boundary on 2-D class data,\n"
                          "or its fitted curve on 1-D regression data.\n"
                          "When a run that used train.fit on class data ends: the confusion matrix."));
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
