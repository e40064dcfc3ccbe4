#pragma once

// Seeded augmentation of image batches for training: the random crop after
// padding and the horizontal flip of PyTorch's transforms.RandomCrop(size,
// padding) and transforms.RandomHorizontalFlip(p), applied by the batch
// iterator to [C, H, W] samples after they are gathered (and normalized).
// Each sample's draw depends only on the seed, the epoch and the sample's
// position in the epoch, so the batches are the same whichever thread fills
// them, and a resumed run draws what the interrupted one would have.
#include "neurite/core/tensor.h"

#include <cstdint>
#include <string>

namespace neurite::data {

struct Augmentation {
    // Pad each side of the image with this many zeros, then crop a window of
    // the original size at a random place: shifts of up to this many pixels.
    int64_t crop_padding = 0;
    // Mirror left to right with this probability, after the crop.
    double horizontal_flip = 0;

    bool active() const { return crop_padding > 0 || horizontal_flip > 0; }
};

// An Error naming `source` and the sample shape unless `a` is valid and
// applies to samples of this shape ([C, H, W], or [H, W]).
void check_augmentation(const Augmentation &a, const Shape &sample, const std::string &source);

// The key of one epoch's draws under `seed`.
uint64_t augmentation_key(uint64_t seed, int64_t epoch);

// Augments `count` samples of shape `sample`, stored one after another in
// `inputs`, in place; sample k is the one at position first + k of its
// epoch. `scratch` holds one sample. Allocates nothing.
void augment_samples(const Augmentation &a, const Shape &sample, float *inputs, int64_t count, uint64_t key,
                     int64_t first, float *scratch);

} // namespace neurite::data
