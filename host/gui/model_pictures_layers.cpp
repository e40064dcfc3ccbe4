#include "model_pictures_layers.h"

#include "decision_boundary.h" // EvalMode

#include "neurite/core/data/image_grid.h"
#include "neurite/core/model.h"
#include "neurite/core/module.h"

#include <QCoreApplication>

#include <algorithm>
#include <cmath>

namespace neurite::gui {

namespace {

constexpr int kFilterPixels = 40;  // a 3x3 kernel drawn 13x: each weight a square one can read
constexpr int kMapPixels = 56;     // a 28x28 map at 2x
constexpr int kMostColumns = 8;    // tiles per row: the panel is a column
constexpr int64_t kMostInputPlanes = 16; // of a first convolution on many channels

QString tr(const char *text) { return QCoreApplication::translate("LayerPictures", text); }

// The first Conv2D in node order, nested models searched in place.
bool find_first_conv(Model &model, Model *&owner, int &node, Module *&conv)
{
    for (int i = 0; i < model.node_count(); ++i) {
        Layer &layer = model.layer(i);
        if (auto *nested = dynamic_cast<Model *>(&layer)) {
            if (find_first_conv(*nested, owner, node, conv))
                return true;
        } else if (auto *module = dynamic_cast<Module *>(&layer); module && module->type_name() == "Conv2D") {
            owner = &model, node = i, conv = module;
            return true;
        }
    }
    return false;
}

QImage to_image(const data::ImageGrid &g)
{
    return QImage(reinterpret_cast<const uchar *>(g.pixels.data()), g.width, g.height, g.width * 4,
                  QImage::Format_RGB32)
        .copy(); // owns its pixels: the grid goes away
}

kernel::TilePicture tile_picture(quint8 kind, const data::ImageGrid &g, const QString &caption)
{
    kernel::TilePicture p;
    p.kind = kind;
    p.image = to_image(g);
    p.caption = caption;
    p.tiles = g.tiles, p.columns = g.columns, p.tile_width = g.tile_width, p.tile_height = g.tile_height,
    p.gap = g.gap;
    return p;
}

int scale_for(int64_t h, int64_t w, int pixels) { return std::max(1, pixels / static_cast<int>(std::max(h, w))); }

// A flat sample of F = s*s values (an MLP autoencoder on 784 pixels) as an s x s image.
Tensor as_images(const Tensor &t)
{
    if (t.dim() != 2)
        return t;
    const auto side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(t.size(1)))));
    return side * side == t.size(1) ? t.contiguous().reshape(Shape{t.size(0), side, side}) : Tensor();
}

// One sample [1, ...] as a picture: grey, or in colour with 3 planes; none
// when it is no image (several planes, or features that are no square).
QImage sample_image(const Tensor &sample)
{
    Tensor shown = as_images(sample);
    if (!shown.defined() || shown.dim() < 3 || (shown.dim() == 4 && shown.size(1) != 1 && shown.size(1) != 3))
        return QImage();
    data::ImageGridOptions o;
    o.color = true;
    o.gap = 0;
    o.scale = scale_for(shown.size(shown.dim() - 2), shown.size(shown.dim() - 1), kMapPixels);
    return to_image(data::render_image_grid(shown, o));
}

} // namespace

void LayerPictures::reset()
{
    m_watched.reset();
    m_conv_owner = nullptr;
    m_conv_node = -1;
    m_conv = nullptr;
    m_autoencoder = false; // the sample stays: the window's choice holds across runs
}

void LayerPictures::watch(const std::shared_ptr<const WatchedModel> &watched)
{
    reset();
    m_watched = watched;
    Model &model = *watched->model;
    if (model.input_count() != 1 || model.output_count() != 1 || !watched->data.defined())
        return; // one input to feed and to compare with
    if (find_first_conv(model, m_conv_owner, m_conv_node, m_conv))
        m_conv_name = m_conv->label();
    // What the script said, not the shapes: targets that are the inputs.
    m_autoencoder = watched->data.targets_are_inputs;
}

int64_t LayerPictures::sample_count() const
{
    if (!m_watched)
        return 0;
    const WatchedData &d = m_watched->data;
    return !d.dataset.empty() ? d.dataset.size() : d.x.defined() ? d.x.size(0) : 0;
}

Tensor LayerPictures::samples(int64_t first, int64_t count) const
{
    const WatchedData &d = m_watched->data;
    return !d.dataset.empty() ? d.dataset.slice(first, count).inputs() : d.x.rows(first, count).contiguous();
}

std::vector<kernel::TilePicture> LayerPictures::draw()
{
    std::vector<kernel::TilePicture> drawn;
    if (auto p = filters())
        drawn.push_back(std::move(*p));
    if (auto p = feature_maps())
        drawn.push_back(std::move(*p));
    if (auto p = reconstructions())
        drawn.push_back(std::move(*p));
    return drawn;
}

std::optional<kernel::TilePicture> LayerPictures::filters() const
{
    if (!m_conv)
        return std::nullopt;
    const auto &declared = m_conv->param_slots();
    const auto weight = std::find_if(declared.begin(), declared.end(), [](const Module::Slot &s) { return s.name == "weight"; });
    if (weight == declared.end() || !weight->value.defined() || weight->value.dim() != 4)
        return std::nullopt; // not bound yet: the next draw has it
    Tensor w = weight->value; // [K, C, kh, kw], plain f32 master values
    const int64_t channels = w.size(1);
    data::ImageGridOptions o;
    o.range = data::ImageGridOptions::Range::Symmetric; // zero mid grey, one scale for all
    o.scale = scale_for(w.size(2), w.size(3), kFilterPixels);
    o.gap = 2;
    o.color = channels == 3;
    if (channels != 1 && channels != 3) {
        w = w.narrow(1, 0, std::min(channels, kMostInputPlanes));
        o.columns = static_cast<int>(w.size(1)); // one row per output channel
    } else {
        o.columns = static_cast<int>(std::min<int64_t>(w.size(0), kMostColumns));
    }
    const data::ImageGrid g = data::render_image_grid(w.contiguous(), o);
    QString what = channels == 3   ? tr("in colour (R, G, B inputs)")
                   : channels == 1 ? tr("one per output channel")
                                   : tr("a row per output channel, a column per input channel");
    if (channels > kMostInputPlanes)
        what += tr(" (the first %1 of %2 input channels)").arg(kMostInputPlanes).arg(channels);
    return tile_picture(kernel::TilePicture::Filters, g,
                        tr("Filters of %1: %2 × %3 × %4, %5; black −%6, white +%6")
                            .arg(QString::fromStdString(m_conv_name))
                            .arg(weight->value.size(0))
                            .arg(weight->value.size(2))
                            .arg(weight->value.size(3))
                            .arg(what)
                            .arg(double(g.hi), 0, 'g', 3));
}

std::optional<kernel::TilePicture> LayerPictures::feature_maps()
{
    const int64_t count = sample_count();
    if (!m_conv || count == 0)
        return std::nullopt;
    const int64_t sample = std::clamp<int64_t>(m_sample.load(), 0, count - 1);
    Model &model = *m_watched->model;
    Tensor maps;
    const Tensor input = samples(sample, 1);
    {
        const EvalMode eval_mode(model); // BatchNorm's running statistics, no dropout: as it predicts
        model.forward(input);
        maps = m_conv_owner->node_output(m_conv_node); // [1, K, H, W]
    }
    if (maps.dim() != 4)
        return std::nullopt;
    maps = maps.reshape(Shape{maps.size(1), maps.size(2), maps.size(3)});
    data::ImageGridOptions o;
    o.scale = scale_for(maps.size(1), maps.size(2), kMapPixels);
    o.gap = 2;
    o.columns = static_cast<int>(std::min<int64_t>(maps.size(0), kMostColumns));
    const data::ImageGrid g = data::render_image_grid(maps, o);
    kernel::TilePicture p = tile_picture(
        kernel::TilePicture::FeatureMaps, g,
        tr("Feature maps of %1 for sample %2 of %3: %4 maps of %5 × %6; black %7, white %8 (one scale for all)")
            .arg(QString::fromStdString(m_conv_name))
            .arg(sample + 1)
            .arg(count)
            .arg(maps.size(0))
            .arg(maps.size(1))
            .arg(maps.size(2))
            .arg(double(g.lo), 0, 'g', 3)
            .arg(double(g.hi), 0, 'g', 3));
    p.sample = sample;
    p.samples = count;
    p.input = sample_image(input);
    return p;
}

std::optional<kernel::TilePicture> LayerPictures::reconstructions()
{
    if (!m_autoencoder)
        return std::nullopt;
    const int64_t n = std::min<int64_t>(kReconstructed, sample_count());
    const Tensor originals = samples(0, n).contiguous();
    Tensor outputs;
    {
        const EvalMode eval_mode(*m_watched->model);
        outputs = m_watched->model->forward(originals).clone();
    }
    const Tensor shown = as_images(originals), rebuilt = as_images(outputs);
    if (outputs.shape() != originals.shape() || !shown.defined() || shown.dim() < 3) {
        m_autoencoder = false; // no image to give back: say nothing more
        return std::nullopt;
    }
    const Tensor pairs[] = {shown, rebuilt};
    const Tensor both = data::interleave_images(pairs);
    data::ImageGridOptions o;
    o.color = both.dim() == 4 && both.size(1) == 3;
    o.columns = 4; // two originals with their reconstructions a row
    o.scale = scale_for(both.size(both.dim() - 2), both.size(both.dim() - 1), kMapPixels);
    o.gap = 2;
    o.range = data::ImageGridOptions::Range::Given; // the originals' range: reconstructions compare
    const auto [lo, hi] = std::minmax_element(originals.begin(), originals.end());
    o.lo = *lo, o.hi = *hi > *lo ? *hi : *lo + 1;
    if (!o.color && both.dim() == 4 && both.size(1) != 1)
        return std::nullopt; // several planes a sample: no one picture of it
    return tile_picture(kernel::TilePicture::Reconstructions, data::render_image_grid(both, o),
                        tr("Autoencoder: the first %1 samples, each (left) beside its reconstruction (right)").arg(n));
}

} // namespace neurite::gui
