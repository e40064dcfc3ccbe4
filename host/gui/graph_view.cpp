#include "graph_view.h"

#include <QFontMetricsF>
#include <QGraphicsPathItem>
#include <QGraphicsScene>
#include <QGraphicsSimpleTextItem>
#include <QPainterPath>
#include <QResizeEvent>

#include <algorithm>
#include <set>
#include <utility>

namespace neurite::gui {

namespace {

// Item data: what an item shows, for box_texts() and shape_labels().
constexpr int kRoleKey = 0, kTextKey = 1;
constexpr int kBoxRole = 1, kShapeRole = 2;

constexpr double kPadX = 10, kPadY = 5;
constexpr double kMinBoxWidth = 96;
constexpr double kPortSpacing = 72; // a shape label per output port fits beside the next
constexpr double kArrowLength = 7, kArrowHalfWidth = 4;
constexpr double kLabelOffset = 4;

struct BoxColours {
    QColor fill, border;
};

// Inputs green, outputs orange, nodes blue-grey.
BoxColours colours_of(ModelGraph::Kind kind)
{
    switch (kind) {
    case ModelGraph::Kind::Input: return {QColor(222, 242, 222), QColor(70, 140, 70)};
    case ModelGraph::Kind::Output: return {QColor(253, 230, 204), QColor(200, 120, 40)};
    case ModelGraph::Kind::Node: break;
    }
    return {QColor(234, 240, 249), QColor(90, 110, 140)};
}

QFont title_font(const QFont &base)
{
    QFont f(base);
    f.setBold(true);
    return f;
}

QFont small_font(const QFont &base)
{
    QFont f(base);
    f.setPointSizeF(std::max(6.0, base.pointSizeF() - 1.5));
    return f;
}

// S-curves between ranks, straight lines through the ranks an edge passes
// (the route alternates: start, then a waypoint's top and bottom per rank).
QPainterPath edge_path(const QPolygonF &route)
{
    QPainterPath path(route.first());
    for (qsizetype i = 0; i + 1 < route.size(); ++i) {
        const QPointF a = route[i], b = route[i + 1];
        if (i % 2 == 1) {
            path.lineTo(b);
            continue;
        }
        const QPointF bend(0, (b.y() - a.y()) / 2);
        path.cubicTo(a + bend, b - bend, b);
    }
    return path;
}

QPolygonF arrow_head(const QPointF &tip)
{
    return QPolygonF({tip, tip + QPointF(-kArrowHalfWidth, -kArrowLength), tip + QPointF(kArrowHalfWidth, -kArrowLength)});
}

} // namespace

GraphView::GraphView(QWidget *parent) : QGraphicsView(parent), m_scene(new QGraphicsScene(this))
{
    setScene(m_scene);
    setRenderHint(QPainter::Antialiasing);
    setAlignment(Qt::AlignHCenter | Qt::AlignTop);
    setDragMode(QGraphicsView::ScrollHandDrag);
    setFrameShape(QFrame::NoFrame);
    clear_graph();
}

void GraphView::clear_graph()
{
    m_graph = {};
    m_layout = {};
    m_scene->clear();
    auto *hint = m_scene->addSimpleText(tr("The graph of the model a run trains shows here."));
    hint->setBrush(palette().color(QPalette::PlaceholderText));
    m_scene->setSceneRect(hint->boundingRect().adjusted(-8, -8, 8, 8));
    resetTransform();
}

void GraphView::set_graph(const ModelGraph &graph)
{
    m_scene->clear();
    m_graph = graph;
    const QFont title = title_font(font()), small = small_font(font());
    const QFontMetricsF title_metrics(title), small_metrics(small);
    std::vector<int> out_ports(graph.vertices.size(), 1);
    for (const ModelGraph::Edge &e : graph.edges)
        out_ports[static_cast<size_t>(e.from)] = std::max(out_ports[static_cast<size_t>(e.from)], e.from_ports);
    std::vector<QSizeF> sizes;
    for (size_t v = 0; v < graph.vertices.size(); ++v) {
        const ModelGraph::Vertex &vertex = graph.vertices[v];
        double width = title_metrics.horizontalAdvance(vertex.title);
        double height = title_metrics.height();
        if (!vertex.detail.isEmpty()) {
            width = std::max(width, small_metrics.horizontalAdvance(vertex.detail));
            height += small_metrics.height();
        }
        width = std::max({width + 2 * kPadX, kMinBoxWidth, out_ports[v] * kPortSpacing});
        sizes.emplace_back(width, height + 2 * kPadY);
    }
    m_layout = layout_graph(graph, sizes);

    add_edges(small);
    add_boxes(title, small);
    m_scene->setSceneRect(QRectF(QPointF(0, 0), m_layout.size));
    fit_view();
}

void GraphView::add_edges(const QFont &small)
{
    const QPen pen(QColor(110, 122, 140), 1.3);
    std::set<std::pair<int, int>> labelled; // a tensor's shape once, however many read it
    for (size_t i = 0; i < m_graph.edges.size(); ++i) {
        const ModelGraph::Edge &e = m_graph.edges[i];
        const QPolygonF &route = m_layout.routes[i];
        m_scene->addPath(edge_path(route), pen)->setZValue(0);
        m_scene->addPolygon(arrow_head(route.last()), Qt::NoPen, pen.color())->setZValue(0);
        if (!e.shape.isEmpty() && labelled.insert({e.from, e.from_port}).second)
            add_shape_label(e, route.first(), small);
    }
}

// Where the tensor leaves its producer, on the side none of its edges bends
// to when there is one, on a white ground that edges pass behind.
void GraphView::add_shape_label(const ModelGraph::Edge &edge, const QPointF &start, const QFont &small)
{
    bool bends_right = false, bends_left = false;
    for (size_t i = 0; i < m_graph.edges.size(); ++i) {
        const ModelGraph::Edge &e = m_graph.edges[i];
        const QPolygonF &route = m_layout.routes[i];
        if (e.from != edge.from || e.from_port != edge.from_port || route.size() < 2)
            continue;
        bends_right = bends_right || route[1].x() > start.x() + 1;
        bends_left = bends_left || route[1].x() < start.x() - 1;
    }
    auto *label = new QGraphicsSimpleTextItem(edge.shape);
    label->setFont(small);
    label->setBrush(QColor(40, 55, 75));
    const QRectF text = label->boundingRect();
    const double x = bends_right && !bends_left ? start.x() - kLabelOffset - text.width() : start.x() + kLabelOffset;
    auto *ground = m_scene->addRect(QRectF(x - 1, start.y() + 2, text.width() + 2, text.height()), Qt::NoPen,
                                    QColor(255, 255, 255, 225));
    ground->setZValue(1.5);
    label->setPos(x, start.y() + 2);
    label->setZValue(2);
    label->setData(kRoleKey, kShapeRole);
    label->setData(kTextKey, edge.shape);
    m_scene->addItem(label);
}

void GraphView::add_boxes(const QFont &title, const QFont &small)
{
    const QFontMetricsF title_metrics(title), small_metrics(small);
    for (size_t v = 0; v < m_graph.vertices.size(); ++v) {
        const ModelGraph::Vertex &vertex = m_graph.vertices[v];
        const QRectF &box = m_layout.boxes[v];
        QPainterPath outline;
        outline.addRoundedRect(box, 6, 6);
        const BoxColours colours = colours_of(vertex.kind);
        auto *item = m_scene->addPath(outline, QPen(colours.border, 1.2), colours.fill);
        item->setZValue(1);
        item->setData(kRoleKey, kBoxRole);
        item->setData(kTextKey, vertex.detail.isEmpty() ? vertex.title : vertex.title + "\n" + vertex.detail);
        auto *title_item = m_scene->addSimpleText(vertex.title, title);
        title_item->setPos(box.center().x() - title_metrics.horizontalAdvance(vertex.title) / 2, box.top() + kPadY);
        title_item->setZValue(2);
        if (!vertex.detail.isEmpty()) {
            auto *detail_item = m_scene->addSimpleText(vertex.detail, small);
            detail_item->setBrush(QColor(85, 95, 110));
            detail_item->setPos(box.center().x() - small_metrics.horizontalAdvance(vertex.detail) / 2,
                                box.top() + kPadY + title_metrics.height());
            detail_item->setZValue(2);
        }
    }
}

void GraphView::fit_view()
{
    if (m_layout.size.isEmpty()) {
        resetTransform();
        return;
    }
    const double width = std::max(1, viewport()->width() - 2), height = std::max(1, viewport()->height() - 2);
    const double scale =
        std::clamp(std::min(width / m_layout.size.width(), height / m_layout.size.height()), kMinScale, 1.0);
    setTransform(QTransform::fromScale(scale, scale));
}

void GraphView::resizeEvent(QResizeEvent *event)
{
    QGraphicsView::resizeEvent(event);
    fit_view();
}

QStringList GraphView::texts_of(int role) const
{
    std::vector<std::pair<QPointF, QString>> found;
    for (const QGraphicsItem *item : m_scene->items())
        if (item->data(kRoleKey).toInt() == role) {
            const QPointF at = item->sceneBoundingRect().topLeft();
            found.emplace_back(at, item->data(kTextKey).toString());
        }
    std::sort(found.begin(), found.end(), [](const auto &a, const auto &b) {
        return a.first.y() != b.first.y() ? a.first.y() < b.first.y() : a.first.x() < b.first.x();
    });
    QStringList texts;
    for (const auto &f : found)
        texts << f.second;
    return texts;
}

QStringList GraphView::box_texts() const { return texts_of(kBoxRole); }

QStringList GraphView::shape_labels() const { return texts_of(kShapeRole); }

} // namespace neurite::gui
