#pragma once

#include <QImage>
#include <QWidget>

class QLabel;
class QPlainTextEdit;

namespace neurite::gui {

// The current model: its summary (layers, output shapes, parameter counts)
// and, for two-input classification data, the decision boundary, updated
// live while it trains.
class ModelPanel : public QWidget {
    Q_OBJECT

public:
    explicit ModelPanel(QWidget *parent = nullptr);

    QString summary() const;
    bool has_boundary() const { return !m_boundary.isNull(); }
    QImage boundary() const { return m_boundary; }
    QString boundary_caption() const;
    bool has_confusion() const { return !m_confusion.isNull(); }
    QImage confusion() const { return m_confusion; }
    QString confusion_caption() const;

public slots:
    void set_summary(const QString &text);
    void set_boundary(const QImage &image, const QString &caption);
    void set_confusion(const QImage &image, const QString &caption);
    void clear();

private:
    QPlainTextEdit *m_summary;
    QLabel *m_picture;
    QLabel *m_caption;
    QLabel *m_confusion_picture;
    QLabel *m_confusion_caption;
    QImage m_boundary;
    QImage m_confusion;
};

} // namespace neurite::gui
