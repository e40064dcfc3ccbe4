#include "model_panel.h"

#include <QFontDatabase>
#include <QLabel>
#include <QPlainTextEdit>
#include <QVBoxLayout>

namespace neurite::gui {

ModelPanel::ModelPanel(QWidget *parent)
    : QWidget(parent), m_summary(new QPlainTextEdit), m_picture(new QLabel), m_caption(new QLabel)
{
    m_summary->setReadOnly(true);
    m_summary->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_summary->setPlaceholderText(tr("Run a script that builds a model to see its layers here."));
    m_picture->setAlignment(Qt::AlignCenter);
    m_picture->setMinimumSize(200, 200);
    m_caption->setAlignment(Qt::AlignCenter);
    m_caption->setWordWrap(true);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_summary, 1);
    layout->addWidget(m_picture, 2);
    layout->addWidget(m_caption);
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
    m_boundary = image;
    m_picture->setPixmap(QPixmap::fromImage(image));
    m_caption->setText(caption);
}

void ModelPanel::clear()
{
    m_summary->clear();
    m_boundary = QImage();
    m_picture->setText(tr("Decision boundary: shown while a model trains on 2-D classification data."));
    m_caption->clear();
}

QString ModelPanel::boundary_caption() const { return m_caption->text(); }

} // namespace neurite::gui
