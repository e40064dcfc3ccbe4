#include "neurite/core/sequential.h"

#include "neurite/core/error.h"

#include <cmath>
#include <cstdio>

namespace neurite {

namespace {

// Where flat index `flat` of a batch lies, counted from 1 as everywhere in
// the Lua API: "sample 3, feature 5" for [N, F], "sample 3, element [1, 2, 5]"
// for images and the like, "element 7" for a single vector.
std::string position_of(const Shape &shape, int64_t flat)
{
    if (shape.size() < 2)
        return "element " + std::to_string(flat + 1);
    const int64_t per_sample = shape.numel() / shape[0];
    std::string where = "sample " + std::to_string(flat / per_sample + 1) + ", ";
    int64_t within = flat % per_sample;
    if (shape.size() == 2)
        return where + "feature " + std::to_string(within + 1);
    std::string index;
    for (int d = shape.size() - 1; d >= 1; --d) {
        index = std::to_string(within % shape[d] + 1) + (index.empty() ? "" : ", ") + index;
        within /= shape[d];
    }
    return where + "element [" + index + "]";
}

} // namespace

void Sequential::Buffer::resize(const Shape &shape)
{
    if (view.defined() && view.shape() == shape)
        return;
    if (!storage.defined() || storage.numel() < shape.numel())
        storage = Tensor(Shape{shape.numel()});
    view = Tensor::view(storage.data(), shape);
}

void Sequential::add(std::unique_ptr<Module> layer)
{
    if (!layer)
        throw Error("Sequential: cannot add an empty layer");
    layer->set_label("layer " + std::to_string(m_layers.size() + 1) + " (" + layer->name() + ")");
    m_layers.push_back(std::move(layer));
    m_out.emplace_back();
    m_diff.emplace_back();
    m_prepared = false;
}

void Sequential::prepare(const Shape &input)
{
    if (m_prepared && input == m_input_shape)
        return;
    m_prepared = false;
    Shape shape = input;
    for (size_t i = 0; i < m_layers.size(); ++i) {
        shape = m_layers[i]->prepare(shape);
        m_out[i].resize(shape);
        m_diff[i].resize(shape);
    }
    m_diff_input.resize(input);
    m_input_shape = input;
    m_prepared = true;
}

const Tensor &Sequential::forward(const Tensor &input)
{
    if (m_layers.empty())
        throw Error("Sequential: forward on a model without layers");
    if (!input.defined())
        throw Error("Sequential: forward on an empty tensor");
    if (int64_t bad = input.first_non_finite(); bad >= 0)
        throw Error("Sequential: input " + input.shape().to_string() + " holds " +
                    (std::isnan(input[bad]) ? "NaN" : input[bad] > 0 ? "Inf" : "-Inf") + " at " +
                    position_of(input.shape(), bad) + "; NaN and Inf cannot be trained on");
    prepare(input.shape());
    const Tensor *src = &input;
    for (size_t i = 0; i < m_layers.size(); ++i) {
        m_layers[i]->forward(*src, m_out[i].view, m_training);
        src = &m_out[i].view;
    }
    return m_out.back().view;
}

const Tensor &Sequential::backward(const Tensor &input, const Tensor &grad_output, bool input_grad)
{
    if (!m_prepared || !(input.shape() == m_input_shape))
        throw Error("Sequential: backward on input " + input.shape().to_string() +
                    " but the last forward was on " +
                    (m_prepared ? m_input_shape.to_string() : std::string("nothing")));
    const Tensor &output = m_out.back().view;
    if (!(grad_output.shape() == output.shape()))
        throw Error("Sequential: the output gradient " + grad_output.shape().to_string() +
                    " does not match the output " + output.shape().to_string());
    const int n = size();
    for (int i = n - 1; i >= 0; --i) {
        const Tensor &src = i == 0 ? input : m_out[static_cast<size_t>(i - 1)].view;
        const Tensor &diff_dst = i == n - 1 ? grad_output : m_diff[static_cast<size_t>(i)].view;
        Tensor *diff_src = i == 0 ? (input_grad ? &m_diff_input.view : nullptr)
                                  : &m_diff[static_cast<size_t>(i - 1)].view;
        m_layers[static_cast<size_t>(i)]->backward(src, m_out[static_cast<size_t>(i)].view,
                                                   diff_dst, diff_src);
    }
    return input_grad ? m_diff_input.view : m_empty;
}

void Sequential::zero_grad()
{
    for (auto &layer : m_layers)
        layer->zero_grad(true); // the optimizer syncs before it reads
}

std::vector<Parameter> Sequential::parameters() const
{
    std::vector<Parameter> all;
    for (const auto &layer : m_layers) {
        layer->sync_grads();
        for (const Parameter &p : layer->parameters())
            all.push_back(p);
    }
    return all;
}

int64_t Sequential::parameter_count() const
{
    int64_t n = 0;
    for (const auto &layer : m_layers)
        n += layer->parameter_count();
    return n;
}

std::vector<Sequential::SummaryRow> Sequential::summary(const Shape &input)
{
    prepare(input);
    std::vector<SummaryRow> rows;
    for (size_t i = 0; i < m_layers.size(); ++i)
        rows.push_back({static_cast<int>(i + 1), m_layers[i]->name(), m_out[i].view.shape(),
                        m_layers[i]->parameter_count()});
    return rows;
}

std::string Sequential::summary_text(const Shape &input)
{
    std::string text = "  #  layer            output             parameters\n";
    char line[160];
    for (const SummaryRow &r : summary(input)) {
        std::snprintf(line, sizeof line, "%3d  %-16s %-18s %10lld\n", r.index, r.name.c_str(),
                      r.output.to_string().c_str(), static_cast<long long>(r.parameters));
        text += line;
    }
    std::snprintf(line, sizeof line, "     input %s, %lld parameters in all\n",
                  input.to_string().c_str(), static_cast<long long>(parameter_count()));
    return text + line;
}

} // namespace neurite
