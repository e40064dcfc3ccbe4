#pragma once

#include "neurite/core/model.h"

#include <QImage>
#include <QRectF>

namespace neurite::gui {

// The model in eval mode for one picture, back in training mode after it,
// whether the forward pass works or throws.
class EvalMode {
public:
    explicit EvalMode(Model &model) : m_model(model), m_was_training(model.training()) { m_model.eval(); }
    ~EvalMode()
    {
        if (m_was_training)
            m_model.train();
    }
    EvalMode(const EvalMode &) = delete;
    EvalMode &operator=(const EvalMode &) = delete;

private:
    Model &m_model;
    bool m_was_training;
};

// The seeds' AND / OR / NAND / XOR pictures: a 2-input classifier evaluated
// on a grid over the data's extent, each pixel coloured by the predicted
// class (lighter where the model is unsure), the samples drawn on top.
// Safe to call on the thread that owns the model (QImage, not QPixmap).
struct BoundaryData {
    const Tensor *inputs = nullptr; // {N, 2}
    const Tensor *labels = nullptr; // {N} class indices, may be null
};

// The square that holds the points with a margin; {-0.5, 1.5}² for gates.
QRectF boundary_domain(const Tensor &inputs);

// Evaluates model on a cells × cells grid over domain (one batched forward)
// and paints it on a square of size × size pixels, with x1 below and x2 on
// the left as axes; the window scales it down to its room. Live pictures are
// small: one travels as PNG every quarter second, and a 600-pixel one costs
// the run three times the time. The last one, which stays, is large.
inline constexpr int kLiveBoundarySize = 320;
inline constexpr int kFinalBoundarySize = 600;
QImage render_decision_boundary(Model &model, const BoundaryData &data, const QRectF &domain,
                                int size = kFinalBoundarySize, int cells = 80);

// Seed 004's function approximation: for a 1-input, 1-output regression,
// the data as dots and the model's curve over their extent (a little wider),
// width × height pixels. Throws neurite::Error if the model does not map one
// input to one output.
QImage render_function_fit(Model &model, const Tensor &inputs, const Tensor &targets, int width = 360,
                           int height = 260);

} // namespace neurite::gui
