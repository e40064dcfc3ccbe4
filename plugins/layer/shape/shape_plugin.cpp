// The library of the layers that move values without learning: Dropout,
// Flatten and Reshape.
#include "shape_common.hpp"

NEURITE_PLUGIN("neurite-shape", "1.0.0", &neurite::shape::kDropoutEntry, &neurite::shape::kFlattenEntry,
               &neurite::shape::kReshapeEntry)
