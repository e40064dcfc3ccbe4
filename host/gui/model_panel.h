#pragma once

#include "model_graph.h"

#include <QImage>
#include <QWidget>

class QLabel;
class QPlainTextEdit;
class QScrollArea;
class QSplitter;
class QTabWidget;

namespace neurite::gui {

class GraphView;

// The model a run trains: its graph (nodes, the shapes on the edges) or its
// summary table; for two-input classification data, the decision boundary,
// for one-input regression the fitted curve, updated live while it trains;
// after the run, on class data, the confusion matrix.
class ModelPanel : public QWidget {
    Q_OBJECT

public:
    explicit ModelPanel(QWidget *parent = nullptr);

    QString summary() const;
    GraphView *graph_view() const { return m_graph; }
    bool has_boundary() const { return !m_boundary.isNull(); }
    QImage boundary() const { return m_boundary; }
    QString boundary_caption() const;
    bool has_confusion() const { return !m_confusion.isNull(); }
    QImage confusion() const { return m_confusion; }
    QString confusion_caption() const;
    // Where the matrix and its caption are shown (in the pictures' column), and its size on screen.
    QRect confusion_shown() const;
    QRect confusion_caption_shown() const;
    QSize confusion_pixmap_size() const;

public slots:
    void set_model(const QString &summary, const neurite::gui::ModelGraph &graph);
    void set_boundary(const QImage &image, const QString &caption);
    void set_confusion(const QImage &image, const QString &caption);
    void clear();

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    QScrollArea *build_pictures();
    void show_pictures();
    void size_columns();

    QSplitter *m_split;
    QScrollArea *m_pictures;
    bool m_split_moved = false; // the person chose the columns' widths
    QTabWidget *m_views;
    GraphView *m_graph;
    QPlainTextEdit *m_summary;
    QLabel *m_picture;
    QLabel *m_caption;
    QLabel *m_confusion_picture;
    QLabel *m_confusion_caption;
    QImage m_boundary;
    QImage m_confusion;
};

} // namespace neurite::gui
