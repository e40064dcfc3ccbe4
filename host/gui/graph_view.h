#pragma once

#include "model_graph.h"

#include <QGraphicsView>
#include <QStringList>

class QGraphicsScene;

namespace neurite::gui {

// Draws a ModelGraph: boxes for the inputs (green), nodes (type, node
// number, parameters) and outputs (orange); arrows for the tensors, each
// labelled once with its shape where it leaves its producer. Small graphs
// fit the view; a wide one shrinks down to kMinScale and then scrolls, as a
// long one does.
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
    // The scale the view draws at: 1, or less to fit a wide graph.
    double scale_factor() const { return transform().m11(); }

protected:
    void resizeEvent(QResizeEvent *event) override;

private:
    void fit_width();
    QStringList texts_of(int role) const;

    QGraphicsScene *m_scene;
    ModelGraph m_graph;
    GraphLayout m_layout;
};

} // namespace neurite::gui
