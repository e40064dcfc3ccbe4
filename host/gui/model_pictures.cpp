#include "model_pictures.h"

#include "confusion_picture.h"
#include "decision_boundary.h"

#include "neurite/core/error.h"
#include "neurite/core/model.h"

#include <QCoreApplication>
#include <QStringList>

#include <algorithm>
#include <vector>

namespace neurite::gui {

namespace {

constexpr int64_t kConfusionBatch = 1000;
constexpr int kMostClasses = 20; // a bigger matrix is no picture a person reads

QString tr(const char *text) { return QCoreApplication::translate("ModelPictures", text); }

// Class numbers from 0, from targets in the encoding the one rule found:
// class numbers from 1 (as Lua counts), one-hot rows, or a 0/1 column.
Tensor class_labels(const Tensor &y, int64_t rows, data::TargetEncoding encoding)
{
    Tensor labels(Shape{rows});
    const int64_t width = y.numel() / rows;
    for (int64_t i = 0; i < rows; ++i) {
        const float *row = y.data() + i * width;
        switch (encoding) {
        case data::TargetEncoding::OneHot:
            labels[i] = float(std::max_element(row, row + width) - row);
            break;
        case data::TargetEncoding::IndexColumn:
            labels[i] = row[0];
            break;
        default:
            labels[i] = row[0] - 1;
        }
    }
    return labels;
}

// The samples a confusion matrix counts: their inputs batch by batch and
// their true classes counted from 0.
struct ClassSamples {
    const data::Dataset *dataset = nullptr; // or:
    Tensor x;
    std::vector<int64_t> truth;
    QStringList names;

    int64_t size() const { return static_cast<int64_t>(truth.size()); }
    Tensor batch(int64_t first, int64_t count) const
    {
        return dataset ? dataset->slice(first, count).inputs() : x.rows(first, count);
    }
};

// Class data only: a dataset of classes, or 1-D class numbers (from 1).
std::optional<ClassSamples> class_samples(const WatchedData &d, int64_t limit)
{
    ClassSamples s;
    if (!d.dataset.empty() && d.dataset.target_kind() == data::TargetKind::Classes) {
        s.dataset = &d.dataset;
        const int64_t n = std::min(d.dataset.size(), limit);
        for (int64_t i = 0; i < n; ++i)
            s.truth.push_back(d.dataset.label(i));
        for (const std::string &name : d.dataset.class_names())
            s.names << QString::fromStdString(name);
        return s;
    }
    if (!d.x.defined() || d.kind != data::TargetKind::Classes)
        return std::nullopt;
    s.x = d.x.rows(0, std::min(d.x.size(0), limit));
    const Tensor labels = class_labels(d.y, d.y.size(0), d.encoding);
    for (int64_t i = 0; i < s.x.size(0); ++i)
        s.truth.push_back(static_cast<int64_t>(labels[i]));
    return s;
}

} // namespace

void ModelPictures::reset()
{
    m_watched.reset();
    m_layers.reset();
    m_live = m_boundary = false;
    m_inputs = m_labels = Tensor();
    m_problem.clear();
}

void ModelPictures::watch(std::shared_ptr<const WatchedModel> watched)
{
    reset();
    m_watched = std::move(watched);
    m_layers.watch(m_watched);
    m_live = m_layers.live();
    const Model &model = *m_watched->model;
    if (model.input_count() != 1 || model.output_count() != 1)
        return; // a picture of one input against one output only
    // Two features and classes: the lecture's decision boundaries. One
    // feature and one target value: the fitted curve.
    const WatchedData &d = m_watched->data;
    if (!d.dataset.empty()) {
        const data::Dataset part = d.dataset.slice(0, std::min(d.dataset.size(), WatchedData::kWatchedRows));
        if (part.feature_count() == 1 && part.target_kind() == data::TargetKind::Values && part.target_width() == 1) {
            m_inputs = part.inputs().reshape(Shape{part.size(), 1});
            m_labels = part.targets().reshape(Shape{part.size()});
            m_fit = true;
        } else if (part.feature_count() == 2 && part.target_kind() == data::TargetKind::Classes) {
            m_inputs = part.inputs().reshape(Shape{part.size(), 2});
            m_labels = Tensor(Shape{part.size()});
            for (int64_t i = 0; i < part.size(); ++i)
                m_labels[i] = static_cast<float>(part.label(i));
            m_fit = false;
        }
    } else if (d.x.defined() && d.x.dim() == 2) {
        const int64_t rows = d.x.size(0);
        if (d.x.size(1) == 1 && d.y.numel() == rows && d.kind == data::TargetKind::Values) {
            m_inputs = d.x;
            m_labels = d.y.reshape(Shape{rows});
            m_fit = true;
        } else if (d.x.size(1) == 2 && d.kind == data::TargetKind::Classes) {
            m_inputs = d.x;
            m_labels = class_labels(d.y, rows, d.encoding);
            m_fit = false;
        }
    }
    m_boundary = m_inputs.defined();
    m_live = m_boundary || m_layers.live();
    if (m_boundary && !m_fit)
        m_domain = boundary_domain(m_inputs);
    m_since_drawn.invalidate();
}

std::optional<ModelPictures::Picture> ModelPictures::draw(int64_t step, bool now,
                                                          std::vector<kernel::TilePicture> &tiles)
{
    if (!m_live || m_watched->model->running())
        return std::nullopt;
    if (!now && m_since_drawn.isValid() && m_since_drawn.elapsed() < kIntervalMs)
        return std::nullopt;
    m_since_drawn.start();
    if (m_layers.live()) {
        try {
            tiles = m_layers.draw();
        } catch (const std::exception &e) {
            m_layers.reset(); // say it once, then stop trying
            m_live = m_boundary;
            m_problem = tr("(no pictures of the layers: %1)").arg(QString::fromUtf8(e.what()));
        }
    }
    if (!m_boundary)
        return std::nullopt;
    Model &model = *m_watched->model;
    Picture p;
    // A loop that never calls monitor.step() has no step to tell.
    p.caption = step > 0 ? tr("after %1 steps").arg(step) : now ? tr("as the run left it") : tr("while it trains");
    try {
        BoundaryData data{&m_inputs, &m_labels};
        p.image = m_fit ? render_function_fit(model, m_inputs, m_labels) : render_decision_boundary(model, data, m_domain);
    } catch (const std::exception &e) {
        m_boundary = false; // say it once, then stop trying
        m_live = m_layers.live();
        // A 1-input model with several outputs (classes of one feature) has
        // no curve to draw; that is no news to its author.
        if (!m_fit)
            m_problem = tr("(no decision boundary: %1)").arg(QString::fromUtf8(e.what()));
        return std::nullopt;
    }
    return p;
}

std::optional<kernel::TilePicture> ModelPictures::feature_maps()
{
    if (!m_layers.live() || !m_watched || m_watched->model->running())
        return std::nullopt;
    try {
        return m_layers.feature_maps();
    } catch (const std::exception &) {
        return std::nullopt; // the script changed the model since: no picture
    }
}

QString ModelPictures::take_problem()
{
    return std::exchange(m_problem, QString());
}

std::optional<ModelPictures::Picture> ModelPictures::confusion()
{
    if (!m_watched)
        return std::nullopt;
    Model &model = *m_watched->model;
    if (model.input_count() != 1 || model.output_count() != 1 || model.running())
        return std::nullopt;
    const bool validation = m_watched->validation.defined();
    const WatchedData &d = validation ? m_watched->validation : m_watched->data;
    const std::optional<ClassSamples> samples = class_samples(d, validation ? d.rows : kConfusionRows);
    if (!samples || samples->size() == 0)
        return std::nullopt;
    const int64_t n = samples->size();
    std::vector<int64_t> counts;
    int64_t k = 0, correct = 0;
    try {
        const EvalMode eval_mode(model);
        for (int64_t first = 0; first < n; first += kConfusionBatch) {
            const int64_t count = std::min(kConfusionBatch, n - first);
            const Tensor &scores = model.forward(samples->batch(first, count));
            if (scores.dim() != 2 || scores.size(0) != count || scores.size(1) < 2 || scores.size(1) > kMostClasses)
                return std::nullopt; // not one score per class
            if (k == 0) {
                k = scores.size(1);
                counts.assign(static_cast<size_t>(k * k), 0);
            }
            for (int64_t i = 0; i < count; ++i) {
                const float *row = scores.data() + i * k;
                const int64_t guess = std::max_element(row, row + k) - row;
                const int64_t truth = samples->truth[static_cast<size_t>(first + i)];
                if (truth < 0 || truth >= k)
                    return std::nullopt; // classes the model has no score for
                ++counts[static_cast<size_t>(truth * k + guess)];
                correct += truth == guess;
            }
        }
    } catch (const std::exception &) {
        return std::nullopt; // the script changed the model since: no picture
    }
    const QString kind = validation ? tr("validation") : tr("training");
    const QString what = n < d.rows ? tr("the first %1 %2").arg(n).arg(kind) : kind;
    return Picture{render_confusion(counts, static_cast<int>(k), samples->names),
                   tr("%1 samples: accuracy %2 over %3").arg(what).arg(double(correct) / n, 0, 'f', 4).arg(n)};
}

} // namespace neurite::gui
