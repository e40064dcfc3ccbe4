#pragma once

#include "kernel_protocol.h"

#include "neurite/core/monitor.h"
#include "neurite/core/tensor.h"

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace neurite {
class Model;
class Module;
} // namespace neurite

namespace neurite::gui {

// The pictures of what a model's layers do, drawn in the run process: for
// a convolutional model, the first Conv2D's filters (a tile per output
// channel, per input channel unless there are 3, shown in colour; one
// scale for all, zero mid grey, so tiles compare) and one sample's feature
// maps (that layer's outputs); for an autoencoder (the script gave the
// inputs as their own targets), originals beside reconstructions.
// ModelPictures decides when they are drawn.
class LayerPictures {
public:
    static constexpr int kReconstructed = 8; // samples beside their reconstructions

    void watch(const std::shared_ptr<const WatchedModel> &watched);
    void reset();
    bool live() const { return m_conv != nullptr || m_autoencoder; }
    // Which sample's feature maps (from 0); any thread may set it.
    void set_sample(int64_t sample) { m_sample.store(sample); }
    int64_t sample_count() const;

    // Every picture this model has, drawn now. The model must be idle.
    std::vector<kernel::TilePicture> draw();
    std::optional<kernel::TilePicture> feature_maps();

private:
    std::optional<kernel::TilePicture> filters() const;
    std::optional<kernel::TilePicture> reconstructions();
    Tensor samples(int64_t first, int64_t count) const;

    std::shared_ptr<const WatchedModel> m_watched;
    Model *m_conv_owner = nullptr; // the model (maybe nested) whose node the Conv2D is
    int m_conv_node = -1;
    Module *m_conv = nullptr;
    std::string m_conv_name; // "Conv2D (layer 1)"
    bool m_autoencoder = false;
    std::atomic<int64_t> m_sample{0};
};

} // namespace neurite::gui
