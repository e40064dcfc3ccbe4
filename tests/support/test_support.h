#pragma once

// Shared by the unit tests: one registry over the build's plugin folder, and
// the numeric gradient check every layer, activation and loss must pass.
#include "neurite/core/compute_context.h"
#include "neurite/core/gradient_check.h"
#include "neurite/core/loss.h"
#include "neurite/core/module.h"
#include "neurite/core/optimizer.h"
#include "neurite/core/registry.h"

namespace neurite::test {

inline Registry &registry()
{
    static Registry *reg = [] {
        auto *r = new Registry;
        r->load_default_paths();
        return r;
    }();
    return *reg;
}

inline ComputeContext &context()
{
    static ComputeContext *ctx = new ComputeContext;
    return *ctx;
}

// The gradient check lives in the core, shared with neurite-run --check-plugin.
using neurite::check_layer_gradient;
using neurite::check_loss_gradient;
using neurite::compare_gradient;
using neurite::GradError;
using neurite::random_tensor;

} // namespace neurite::test
