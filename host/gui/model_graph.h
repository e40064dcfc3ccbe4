#pragma once

#include "neurite/core/shape.h"

#include <QMetaType>
#include <QPolygonF>
#include <QRectF>
#include <QSizeF>
#include <QString>

#include <span>
#include <vector>

namespace neurite {
class Model;
struct WatchedData;
}

namespace neurite::gui {

// A model's graph as the Model panel draws it: the model's inputs, nodes
// and outputs are vertices; the tensors between them are edges labelled
// with their shapes. Made in the run process, which may ask the model for
// shapes; drawn on the UI thread, which must not touch the model.
struct ModelGraph {
    enum class Kind { Input, Node, Output };
    struct Vertex {
        Kind kind = Kind::Node;
        QString title;  // "Dense", "Sequential (3 nodes)", "Input 'pixels'", "Output 2"
        QString detail; // "node 3 · 1,568 params"; empty for inputs and outputs
    };
    struct Edge {
        int from = 0, to = 0;              // vertex indices
        int from_port = 0, from_ports = 1; // which output of `from`, of how many
        int to_port = 0, to_ports = 1;     // which input of `to`, of how many
        QString shape;                     // "[N, 256]"; empty when the shapes are unknown
    };
    std::vector<Vertex> vertices;
    std::vector<Edge> edges;
};

// The input shapes (batch 1) to describe a model with: those its nn.Input
// declared, else one sample of the data it trains on, else the first
// layer's `inputs` option; empty when none is known.
std::vector<Shape> describe_shapes(const Model &model, const WatchedData &data);

// The graph of a model. Without shapes (none known, or the model refuses
// them) the edges carry none and the nodes no parameter count.
ModelGraph describe_model(Model &model, std::span<const Shape> input_shapes);

// A layered drawing: vertices ranked by their longest path from the
// inputs, so a chain is a vertical list and branches sit side by side;
// edges that skip ranks pass through waypoints of their own (Sugiyama's
// dummy vertices), and the order within each rank is chosen by barycenter
// sweeps to reduce crossings. Coordinates are in pixels, origin top left.
struct GraphLayout {
    std::vector<QRectF> boxes;     // by vertex
    std::vector<int> ranks;        // by vertex
    std::vector<QPolygonF> routes; // by edge: start, (waypoint top, waypoint bottom)..., end
    int crossings = 0;             // edge crossings between consecutive ranks
    QSizeF size;
};

GraphLayout layout_graph(const ModelGraph &graph, const std::vector<QSizeF> &box_sizes);

// Where edge ports sit along a box's side: `port` of `ports`, evenly spread.
double port_x(const QRectF &box, int port, int ports);

} // namespace neurite::gui

Q_DECLARE_METATYPE(neurite::gui::ModelGraph)
