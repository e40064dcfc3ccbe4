#pragma once

#include "model_graph.h"

#include <QGraphicsView>
#include <QStringList>

class QGraphicsScene;

namespace neurite::gui {

// Draws a ModelGraph: boxes for the inputs (green), nodes (type, node
// number, parameters) and outputs (orange); arrows for the tensors, each
// labelled once with its shape where it leaves its producer. A graph
// larger than the view shrinks to fit it, down to kMinScale, and then
// scrolls (and pans by dragging).
class GraphView : public QGraphicsView {
    Q_OBJECT

public:
    static constexpr double kMinScale = 0.6;

    explicit GraphView(QWidget *parent = nullptr);

    void set_graph(const ModelGraph &graph);
    void clear_graph();
    const ModelGraph &graph() const { return m_graph; }
    const GraphLayout &graph_layout() const { return m_layout; }

    // What the scene shows, top to bottom and left to right: each box's
    // text ("Dense\nnode 1 · 24 params") and each shape label ("[N, 8]").
    QStringList box_texts() const;
    QStringList shape_labels() const;
    // The scale the view draws at: 1, or less to fit a large graph.
    double scale_factor() const { return transform().m11(); }

protected:
    void resizeEvent(QResizeEvent *event) override;

private:
    void add_edges(const QFont &small);
    void add_shape_label(const ModelGraph::Edge &edge, const QPointF &start, const QFont &small);
    void add_boxes(const QFont &title, const QFont &small);
    void fit_view();
    QStringList texts_of(int role) const;

    QGraphicsScene *m_scene;
    ModelGraph m_graph;
    GraphLayout m_layout;
};

} // namespace neurite::gui
