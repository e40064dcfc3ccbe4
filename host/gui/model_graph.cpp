#include "model_graph.h"

#include "neurite/core/model.h"
#include "neurite/core/module.h"
#include "neurite/core/monitor.h"

#include <QLocale>
#include <QStringList>

#include <algorithm>
#include <variant>

namespace neurite::gui {

namespace {

constexpr double kRankGap = 34;    // between ranks: room for a shape label
constexpr double kColumnGap = 28;  // between two boxes of a rank
constexpr double kLaneGap = 14;    // beside an edge passing through a rank
constexpr double kLaneWidth = 8;   // an edge passing through a rank
constexpr double kLaneHeight = 24; // a rank of passing edges only
constexpr double kMargin = 12;
constexpr int kOrderSweeps = 8;
constexpr int kPlaceSweeps = 8;

Shape with_batch_one(const Shape &sample)
{
    Shape s{1};
    for (int i = 0; i < sample.size(); ++i)
        s.push_back(sample[i]);
    return s;
}

// The batch dimension as N: the graph holds for every batch size.
QString shape_text(const Shape &shape)
{
    QStringList dims{"N"};
    for (int i = 1; i < shape.size(); ++i)
        dims << QString::number(shape[i]);
    return "[" + dims.join(", ") + "]";
}

// A first layer that reads the model's input and says how wide it is.
std::vector<Shape> first_layer_shapes(const Model &model)
{
    for (int i = 0; i < model.node_count(); ++i) {
        const Model::Node &n = model.node(i);
        if (n.inputs.size() != 1 || n.inputs[0].node != Model::kInput)
            continue;
        if (const auto *m = dynamic_cast<const Module *>(n.layer.get()))
            for (const auto &[name, value] : m->config())
                if (name == "inputs" && std::holds_alternative<double>(value))
                    return {Shape{1, static_cast<int64_t>(std::get<double>(value))}};
    }
    return {};
}

// Inputs, nodes and outputs, in that order; `params` by node, -1 if unknown.
std::vector<ModelGraph::Vertex> vertices_of(const Model &model, const std::vector<int64_t> &params)
{
    std::vector<ModelGraph::Vertex> vertices;
    const int inputs = model.input_count(), outputs = model.output_count();
    for (int i = 0; i < inputs; ++i) {
        // Named by the script (nn.Input{name = ...}), or "input<n>" by the model: said once.
        QString name = QString::fromStdString(model.input(i).name);
        if (name == QString("input%1").arg(i + 1))
            name.clear();
        vertices.push_back({ModelGraph::Kind::Input,
                            !name.isEmpty() ? QString("Input '%1'").arg(name)
                            : inputs > 1    ? QString("Input %1").arg(i + 1)
                                            : QString("Input"),
                            {}});
    }
    const QLocale english(QLocale::English);
    for (int i = 0; i < model.node_count(); ++i) {
        QString title = QString::fromStdString(model.layer(i).type_name());
        if (const auto *inner = dynamic_cast<const Model *>(&model.layer(i)))
            title += QString(" (%1 nodes)").arg(inner->node_count());
        QString detail = QString("node %1").arg(i + 1);
        if (params[static_cast<size_t>(i)] >= 0)
            detail += QString(" · %1 params").arg(english.toString(qlonglong(params[static_cast<size_t>(i)])));
        vertices.push_back({ModelGraph::Kind::Node, title, detail});
    }
    for (int k = 0; k < outputs; ++k)
        vertices.push_back({ModelGraph::Kind::Output, outputs > 1 ? QString("Output %1").arg(k + 1) : "Output", {}});
    return vertices;
}

} // namespace

std::vector<Shape> describe_shapes(const Model &model, const WatchedData &data)
{
    std::vector<Shape> declared;
    for (int i = 0; i < model.input_count(); ++i)
        if (const auto &s = model.input(i).sample_shape)
            declared.push_back(with_batch_one(*s));
    if (!declared.empty() && static_cast<int>(declared.size()) == model.input_count())
        return declared;
    if (model.input_count() != 1)
        return {};
    if (!data.dataset.empty())
        return {with_batch_one(data.dataset.input_shape())};
    if (data.x.defined()) {
        Shape s{1};
        for (int i = 1; i < data.x.dim(); ++i)
            s.push_back(data.x.size(i));
        return {s};
    }
    return first_layer_shapes(model);
}

ModelGraph describe_model(Model &model, std::span<const Shape> input_shapes)
{
    const int inputs = model.input_count(), nodes = model.node_count(), outputs = model.output_count();
    std::vector<std::vector<Desc>> produced(static_cast<size_t>(nodes));
    std::vector<int64_t> params(static_cast<size_t>(nodes), -1);
    bool known = static_cast<int>(input_shapes.size()) == inputs;
    if (known) {
        try {
            for (const Model::SummaryRow &row : model.summary(input_shapes)) {
                produced[static_cast<size_t>(row.index - 1)] = row.outputs;
                params[static_cast<size_t>(row.index - 1)] = row.parameters;
            }
        } catch (const std::exception &) {
            known = false; // shapes the model refuses: the graph without them
        }
    }
    // A node's outputs: as many as it produced, or at least as many as are read.
    std::vector<int> ports(static_cast<size_t>(nodes), 1);
    auto note_read = [&](const Model::Ref &r) {
        if (r.node != Model::kInput && r.node < nodes)
            ports[static_cast<size_t>(r.node)] = std::max(ports[static_cast<size_t>(r.node)], r.index + 1);
    };
    for (int i = 0; i < nodes; ++i)
        for (const Model::Ref &r : model.node(i).inputs)
            note_read(r);
    for (const Model::Ref &r : model.outputs())
        note_read(r);
    for (int i = 0; i < nodes; ++i)
        ports[static_cast<size_t>(i)] = std::max<int>(ports[static_cast<size_t>(i)],
                                                      static_cast<int>(produced[static_cast<size_t>(i)].size()));

    ModelGraph g;
    g.vertices = vertices_of(model, params);
    auto add_edge = [&](const Model::Ref &r, int to, int to_port, int to_ports) {
        ModelGraph::Edge e;
        e.to = to;
        e.to_port = to_port;
        e.to_ports = to_ports;
        if (r.node == Model::kInput) {
            e.from = r.index;
            if (known)
                e.shape = shape_text(input_shapes[static_cast<size_t>(r.index)]);
        } else {
            e.from = inputs + r.node;
            e.from_port = r.index;
            e.from_ports = ports[static_cast<size_t>(r.node)];
            const auto &descs = produced[static_cast<size_t>(r.node)];
            if (known && r.index < static_cast<int>(descs.size()))
                e.shape = shape_text(descs[static_cast<size_t>(r.index)].shape);
        }
        g.edges.push_back(e);
    };
    for (int i = 0; i < nodes; ++i) {
        const auto &reads = model.node(i).inputs;
        for (size_t p = 0; p < reads.size(); ++p)
            add_edge(reads[p], inputs + i, static_cast<int>(p), static_cast<int>(reads.size()));
    }
    for (int k = 0; k < outputs; ++k)
        add_edge(model.outputs()[static_cast<size_t>(k)], inputs + nodes + k, 0, 1);
    return g;
}

double port_x(const QRectF &box, int port, int ports)
{
    return box.left() + box.width() * (port + 0.5) / std::max(ports, 1);
}

namespace {

// The layout's working graph: the vertices, then one waypoint per rank an
// edge passes through; segments join slots of consecutive ranks.
struct Segment {
    int upper, lower;           // slots
    double upper_port = 0;      // where on the upper slot's bottom, -0.5 .. 0.5 of its width
    double lower_port = 0;      // where on the lower slot's top
};

struct Layers {
    std::vector<int> rank;                     // by slot
    std::vector<double> width;                 // by slot
    std::vector<std::vector<int>> order;       // slots by rank, left to right
    std::vector<int> position;                 // by slot: index within its rank
    std::vector<Segment> segments;
    std::vector<std::vector<int>> above, below; // by slot: its segments

    void renumber(int r)
    {
        for (size_t i = 0; i < order[static_cast<size_t>(r)].size(); ++i)
            position[static_cast<size_t>(order[static_cast<size_t>(r)][i])] = static_cast<int>(i);
    }

    int crossings() const
    {
        int total = 0;
        for (size_t i = 0; i < segments.size(); ++i)
            for (size_t j = i + 1; j < segments.size(); ++j) {
                const Segment &a = segments[i], &b = segments[j];
                if (rank[static_cast<size_t>(a.upper)] != rank[static_cast<size_t>(b.upper)])
                    continue;
                const double top = position[static_cast<size_t>(a.upper)] + a.upper_port -
                                   position[static_cast<size_t>(b.upper)] - b.upper_port;
                const double bottom = position[static_cast<size_t>(a.lower)] + a.lower_port -
                                      position[static_cast<size_t>(b.lower)] - b.lower_port;
                total += top * bottom < 0;
            }
        return total;
    }

    // Sorts rank r by the mean position of each slot's neighbours in the
    // rank above (downward) or below; a slot without any keeps its place.
    void sort_by_barycenter(int r, bool downward)
    {
        std::vector<std::pair<double, int>> keyed;
        for (int slot : order[static_cast<size_t>(r)]) {
            double sum = 0;
            int count = 0;
            for (int s : downward ? above[static_cast<size_t>(slot)] : below[static_cast<size_t>(slot)]) {
                const Segment &seg = segments[static_cast<size_t>(s)];
                sum += downward ? position[static_cast<size_t>(seg.upper)] + seg.upper_port - seg.lower_port
                                : position[static_cast<size_t>(seg.lower)] + seg.lower_port - seg.upper_port;
                ++count;
            }
            keyed.emplace_back(count ? sum / count : position[static_cast<size_t>(slot)], slot);
        }
        std::stable_sort(keyed.begin(), keyed.end(),
                         [](const auto &a, const auto &b) { return a.first < b.first; });
        for (size_t i = 0; i < keyed.size(); ++i)
            order[static_cast<size_t>(r)][i] = keyed[i].second;
        renumber(r);
    }

    double gap(int left, int right, int vertices) const
    {
        const bool lanes = left >= vertices || right >= vertices;
        return (width[static_cast<size_t>(left)] + width[static_cast<size_t>(right)]) / 2 +
               (lanes ? kLaneGap : kColumnGap);
    }
};

// Ranks by the longest path from the inputs. The graph has no cycle (the
// model checked); the pass limit only guards against a malformed one.
std::vector<int> longest_path_ranks(const ModelGraph &graph)
{
    std::vector<int> rank(graph.vertices.size(), 0);
    for (size_t pass = 0; pass <= graph.vertices.size(); ++pass) {
        bool changed = false;
        for (const ModelGraph::Edge &e : graph.edges)
            if (rank[static_cast<size_t>(e.to)] < rank[static_cast<size_t>(e.from)] + 1) {
                rank[static_cast<size_t>(e.to)] = rank[static_cast<size_t>(e.from)] + 1;
                changed = true;
            }
        if (!changed)
            break;
    }
    return rank;
}

double port_fraction(int port, int ports) { return (port + 0.5) / std::max(ports, 1) - 0.5; }

// Slots, waypoints and segments; chains[e] lists the slots edge e passes.
Layers build_layers(const ModelGraph &graph, const std::vector<QSizeF> &sizes, std::vector<std::vector<int>> &chains)
{
    Layers L;
    L.rank = longest_path_ranks(graph);
    for (size_t v = 0; v < graph.vertices.size(); ++v)
        L.width.push_back(v < sizes.size() ? sizes[v].width() : 80);
    chains.assign(graph.edges.size(), {});
    for (size_t i = 0; i < graph.edges.size(); ++i) {
        const ModelGraph::Edge &e = graph.edges[i];
        std::vector<int> &chain = chains[i];
        chain.push_back(e.from);
        for (int r = L.rank[static_cast<size_t>(e.from)] + 1; r < L.rank[static_cast<size_t>(e.to)]; ++r) {
            chain.push_back(static_cast<int>(L.rank.size()));
            L.rank.push_back(r);
            L.width.push_back(kLaneWidth);
        }
        chain.push_back(e.to);
        for (size_t k = 0; k + 1 < chain.size(); ++k)
            L.segments.push_back({chain[k], chain[k + 1], k == 0 ? port_fraction(e.from_port, e.from_ports) : 0,
                                  k + 2 == chain.size() ? port_fraction(e.to_port, e.to_ports) : 0});
    }
    const size_t slot_count = L.rank.size();
    L.above.resize(slot_count);
    L.below.resize(slot_count);
    for (size_t s = 0; s < L.segments.size(); ++s) {
        L.below[static_cast<size_t>(L.segments[s].upper)].push_back(static_cast<int>(s));
        L.above[static_cast<size_t>(L.segments[s].lower)].push_back(static_cast<int>(s));
    }
    const int ranks = *std::max_element(L.rank.begin(), L.rank.end()) + 1;
    L.order.resize(static_cast<size_t>(ranks));
    L.position.resize(slot_count);
    for (size_t s = 0; s < slot_count; ++s)
        L.order[static_cast<size_t>(L.rank[s])].push_back(static_cast<int>(s));
    for (int r = 0; r < ranks; ++r)
        L.renumber(r);
    return L;
}

// Barycenter sweeps, down and up, keeping the order with fewest crossings.
void reduce_crossings(Layers &L)
{
    const int ranks = static_cast<int>(L.order.size());
    auto best = L.order;
    int fewest = L.crossings();
    for (int sweep = 0; sweep < kOrderSweeps && fewest > 0; ++sweep) {
        const bool downward = sweep % 2 == 0;
        for (int i = 1; i < ranks; ++i)
            L.sort_by_barycenter(downward ? i : ranks - 1 - i, downward);
        if (const int c = L.crossings(); c < fewest) {
            fewest = c;
            best = L.order;
        }
    }
    L.order = best;
    for (int r = 0; r < ranks; ++r)
        L.renumber(r);
}

// Places each slot of rank r under (or over) its neighbours, then pushes
// neighbours apart: once left to right, once right to left, and takes the
// mean of the two, which keeps every gap (both satisfy the same linear
// constraints) and is symmetric.
void place_rank(const Layers &L, int r, bool downward, int vertices, std::vector<double> &x)
{
    const std::vector<int> &row = L.order[static_cast<size_t>(r)];
    std::vector<double> want;
    for (int slot : row) {
        double sum = 0;
        int count = 0;
        for (int s : downward ? L.above[static_cast<size_t>(slot)] : L.below[static_cast<size_t>(slot)]) {
            const Segment &seg = L.segments[static_cast<size_t>(s)];
            const int other = downward ? seg.upper : seg.lower;
            const double other_port = downward ? seg.upper_port : seg.lower_port;
            const double own_port = downward ? seg.lower_port : seg.upper_port;
            sum += x[static_cast<size_t>(other)] + other_port * L.width[static_cast<size_t>(other)] -
                   own_port * L.width[static_cast<size_t>(slot)];
            ++count;
        }
        want.push_back(count ? sum / count : x[static_cast<size_t>(slot)]);
    }
    const size_t n = row.size();
    std::vector<double> left(want), right(want);
    for (size_t i = 1; i < n; ++i)
        left[i] = std::max(want[i], left[i - 1] + L.gap(row[i - 1], row[i], vertices));
    for (size_t i = n - 1; i-- > 0;)
        right[i] = std::min(want[i], right[i + 1] - L.gap(row[i], row[i + 1], vertices));
    for (size_t i = 0; i < n; ++i)
        x[static_cast<size_t>(row[i])] = (left[i] + right[i]) / 2;
}

} // namespace

GraphLayout layout_graph(const ModelGraph &graph, const std::vector<QSizeF> &box_sizes)
{
    GraphLayout out;
    const int vertices = static_cast<int>(graph.vertices.size());
    out.boxes.resize(graph.vertices.size());
    out.routes.resize(graph.edges.size());
    if (vertices == 0)
        return out;
    std::vector<std::vector<int>> chains;
    Layers L = build_layers(graph, box_sizes, chains);
    reduce_crossings(L);
    out.crossings = L.crossings();
    const int ranks = static_cast<int>(L.order.size());

    // Each rank packed and centred on 0, then moved under its neighbours.
    std::vector<double> x(L.rank.size(), 0);
    for (const std::vector<int> &row : L.order) {
        double at = 0;
        for (size_t i = 0; i < row.size(); ++i) {
            if (i > 0)
                at += L.gap(row[i - 1], row[i], vertices);
            x[static_cast<size_t>(row[i])] = at;
        }
        for (int slot : row)
            x[static_cast<size_t>(slot)] -= at / 2;
    }
    for (int sweep = 0; sweep < kPlaceSweeps; ++sweep) {
        const bool downward = sweep % 2 == 0;
        for (int i = 1; i < ranks; ++i)
            place_rank(L, downward ? i : ranks - 1 - i, downward, vertices, x);
    }

    std::vector<double> top(static_cast<size_t>(ranks)), height(static_cast<size_t>(ranks), 0);
    for (int v = 0; v < vertices; ++v)
        if (static_cast<size_t>(v) < box_sizes.size())
            height[static_cast<size_t>(L.rank[static_cast<size_t>(v)])] =
                std::max(height[static_cast<size_t>(L.rank[static_cast<size_t>(v)])], box_sizes[static_cast<size_t>(v)].height());
    double y = kMargin;
    for (int r = 0; r < ranks; ++r) {
        if (height[static_cast<size_t>(r)] == 0)
            height[static_cast<size_t>(r)] = kLaneHeight;
        top[static_cast<size_t>(r)] = y;
        y += height[static_cast<size_t>(r)] + kRankGap;
    }
    double left = 0, right = 0;
    for (size_t s = 0; s < x.size(); ++s) {
        left = std::min(left, x[s] - L.width[s] / 2);
        right = std::max(right, x[s] + L.width[s] / 2);
    }
    const double shift = kMargin - left;
    for (int v = 0; v < vertices; ++v) {
        const size_t r = static_cast<size_t>(L.rank[static_cast<size_t>(v)]);
        const QSizeF size = static_cast<size_t>(v) < box_sizes.size() ? box_sizes[static_cast<size_t>(v)] : QSizeF(80, 30);
        out.boxes[static_cast<size_t>(v)] = QRectF(x[static_cast<size_t>(v)] + shift - size.width() / 2,
                                                   top[r] + (height[r] - size.height()) / 2, size.width(), size.height());
        out.ranks.push_back(static_cast<int>(r));
    }
    for (size_t i = 0; i < graph.edges.size(); ++i) {
        const ModelGraph::Edge &e = graph.edges[i];
        const QRectF &from = out.boxes[static_cast<size_t>(e.from)], &to = out.boxes[static_cast<size_t>(e.to)];
        QPolygonF &route = out.routes[i];
        route << QPointF(port_x(from, e.from_port, e.from_ports), from.bottom());
        for (size_t k = 1; k + 1 < chains[i].size(); ++k) {
            const size_t slot = static_cast<size_t>(chains[i][k]);
            const size_t r = static_cast<size_t>(L.rank[slot]);
            route << QPointF(x[slot] + shift, top[r]) << QPointF(x[slot] + shift, top[r] + height[r]);
        }
        route << QPointF(port_x(to, e.to_port, e.to_ports), to.top());
    }
    out.size = QSizeF(right - left + 2 * kMargin, y - kRankGap + kMargin);
    return out;
}

} // namespace neurite::gui
