// Driving one layer on buffers the checker owns: inputs offered in a chosen
// format, guarded memory in the formats the layer reads and declares, and
// the conversions the host would make, for `--check-plugin`'s layer checks.
#pragma once

#include "check_support.h"

#include "neurite/core/desc.h"
#include "neurite/core/module.h"

#include <cstdint>
#include <string>
#include <vector>

namespace neurite::cli::check {

// The shapes of a layer's inputs for one call.
using Case = std::vector<Shape>;

std::string case_text(const Case &c); // "[4, 3]" or "[4, 3] and [4, 3]"
Case with_batch(int64_t n, const Shape &tail, int inputs);
std::vector<Tensor> inputs_for(const Case &c, uint64_t seed);
std::vector<Tensor> outputs_copy(const std::vector<Tensor> &outputs);
std::vector<Desc> plain_offer(const Case &c);
// oneDNN's channel-blocked formats for inputs of this rank (none for 1-D and 2-D).
std::vector<int32_t> blocked_formats(int rank);

// One prepared layer with every buffer of a forward and backward guarded,
// in the formats it reads and declares. Inputs are converted into those
// formats as the host would convert them.
class GuardedCall {
public:
    GuardedCall(Module &layer, const Case &c, std::vector<Desc> offered);
    // Inputs (plain) and output gradients (random, from seed).
    void fill(const std::vector<Tensor> &inputs, uint64_t seed);
    void forward(bool training);
    void backward();
    // What the last call damaged, as a sentence naming the call and the
    // buffer, or "" when nothing was.
    std::string damage(const std::string &call, bool after_backward) const;

private:
    nrt_layer_call make_call(bool with_gradients);

    Module &m_layer;
    std::vector<Desc> m_read, m_dst;
    std::vector<GuardedBuffer> m_src, m_out, m_diff_dst, m_diff_src;
    std::vector<std::vector<float>> m_src_copy, m_out_copy, m_diff_dst_copy;
    std::unique_ptr<GuardedBuffer> m_workspace;
    size_t m_workspace_bytes = 0;
    std::vector<nrt_tensor> m_src_t, m_dst_t, m_diff_dst_t, m_diff_src_t;
    bool m_training = false;
};

// A forward and backward with the inputs offered in one format, everything
// converted back to plain.
struct LayoutRun {
    std::string read; // the formats the layer read, "plain" or "nChw16c"
    std::vector<Tensor> outputs, input_grads, param_grads;
    std::vector<std::string> param_names;
};
LayoutRun run_offered(Module &layer, const Case &c, int32_t offer, const std::vector<Tensor> &inputs,
                      uint64_t seed);
// "" when b matches a within float rounding; otherwise which tensor differs
// and by how much. worst: the largest relative difference seen.
std::string compare_runs(const LayoutRun &a, const LayoutRun &b, double &worst);

} // namespace neurite::cli::check
