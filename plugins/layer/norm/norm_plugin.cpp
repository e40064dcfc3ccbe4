// The library of the normalization layers: BatchNorm and LayerNorm.
#include "norm_common.hpp"

NEURITE_PLUGIN("neurite-norm", "1.0.0", &neurite::norm::kBatchNormEntry, &neurite::norm::kLayerNormEntry)
