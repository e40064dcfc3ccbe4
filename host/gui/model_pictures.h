#pragma once

#include "model_pictures_layers.h"

#include "neurite/core/monitor.h"
#include "neurite/core/tensor.h"

#include <QElapsedTimer>
#include <QImage>
#include <QRectF>
#include <QString>

#include <memory>
#include <optional>

namespace neurite::gui {

// What the window draws of the model a run watches (monitor.watch, which
// train.fit calls): for a model with one input and one output, the decision
// boundary on two-feature class data or the fitted curve on one-feature
// regression data, redrawn while it trains; a convolution's filters and
// feature maps, an autoencoder's reconstructions (LayerPictures), redrawn
// with them; and after the run, on class data, the confusion matrix. Lives in the run process, where the model
// runs: every call here may run the model.
class ModelPictures {
public:
    static constexpr int kIntervalMs = 250; // a picture a quarter second is live enough
    static constexpr int64_t kConfusionRows = 10000; // of training data; validation data counts whole

    struct Picture {
        QImage image;
        QString caption;
    };

    // A new model to draw; takes the data the pictures need from the watch.
    void watch(std::shared_ptr<const WatchedModel> watched);
    void reset();
    const std::shared_ptr<const WatchedModel> &watched() const { return m_watched; }
    // True when the model has a live picture to draw: one cheap test per event.
    bool live() const { return m_live; }

    // The picture after `step`, when the last one is older than
    // kIntervalMs or `now` is set (a run's end); nothing otherwise, nor
    // while the model is computing (a scalar logged inside a layer's forward).
    // The layers' pictures drawn at the same moment go to `tiles`.
    std::optional<Picture> draw(int64_t step, bool now, std::vector<kernel::TilePicture> &tiles);
    // The feature maps of this sample (from 0) from now on; any thread.
    void set_sample(int64_t sample) { m_layers.set_sample(sample); }
    // The feature maps now, after the run (the window chose another sample).
    std::optional<kernel::TilePicture> feature_maps();
    // Why the last draw gave up for good ("" if it did not), once.
    QString take_problem();

    // Which classes the model mixes up, on the validation data the watch
    // gave, else on up to kConfusionRows training samples; class data and
    // a model with one score per class (2 to 20) only.
    std::optional<Picture> confusion();

private:
    std::shared_ptr<const WatchedModel> m_watched;
    bool m_live = false;
    bool m_boundary = false; // a decision boundary or a fitted curve to draw
    LayerPictures m_layers;
    bool m_fit = false; // the fitted curve, else the decision boundary
    Tensor m_inputs, m_labels;
    QRectF m_domain;
    QElapsedTimer m_since_drawn;
    QString m_problem;
};

} // namespace neurite::gui
