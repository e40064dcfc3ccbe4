#pragma once

#include "kernel_protocol.h"
#include "model_graph.h"

#include <QImage>
#include <QWidget>

class QLabel;
class QPlainTextEdit;
class QScrollArea;
class QSpinBox;
class QSplitter;
class QTabWidget;

namespace neurite::gui {

class GraphView;

// The model a run trains: its graph (nodes, the shapes on the edges) or its
// summary table; for two-input classification data, the decision boundary,
// for one-input regression the fitted curve, updated live while it trains;
// after the run, on class data, the confusion matrix. For a convolutional
// model, the first convolution's filters and a chosen sample's feature
// maps; for an autoencoder, originals beside reconstructions (all drawn in
// the run process). Above them, the precision the run computes in.
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
    // The last picture of this kind (TilePicture::Kind); tiles == 0 when none came.
    kernel::TilePicture tiles(quint8 kind) const;
    QSpinBox *sample_box() const { return m_sample; }
    QString run_info() const;

signals:
    // The person chose the sample (from 0) whose feature maps to show.
    void sample_chosen(qint64 sample);

public slots:
    void set_model(const QString &summary, const neurite::gui::ModelGraph &graph);
    void set_boundary(const QImage &image, const QString &caption);
    void set_confusion(const QImage &image, const QString &caption);
    void set_tiles(const neurite::gui::kernel::TilePicture &picture);
    void set_precision(const QString &precision);
    void clear();

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    QScrollArea *build_pictures();
    QWidget *build_sample_row();
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
    // Filters, feature maps, reconstructions: by TilePicture::Kind.
    static constexpr int kTileKinds = 3;
    kernel::TilePicture m_tiles[kTileKinds];
    QLabel *m_tile_picture[kTileKinds];
    QLabel *m_tile_caption[kTileKinds];
    QWidget *m_sample_row;
    QSpinBox *m_sample;
    QLabel *m_sample_picture; // the chosen sample itself
    QLabel *m_run_info;
};

} // namespace neurite::gui
