#pragma once

#include "neurite/core/data/dataset.h"

#include <cstdint>
#include <string>

namespace neurite::data {

// Every generator is deterministic for a seed (std::mt19937_64 with draws
// written out, so every standard library gives the same data) and returns
// samples in a fixed order (class by class, or along x); the batch iterator
// shuffles. A count or noise out of range is an Error naming the generator.

// A logic gate's truth table: inputs {0,0}, {1,0}, {0,1}, {1,1}, class 0 or 1.
// gate is "and", "or", "nand", "nor", "xor" or "xnor" (any case).
Dataset make_gate(const std::string &gate);

// Four clouds around the corners (0,0), (1,0), (0,1), (1,1), labelled by XOR.
struct XorCloudsOptions {
    int64_t count = 200; // spread over the four corners
    double noise = 0.15; // standard deviation of each cloud
    uint64_t seed = 0;
};
Dataset make_xor_clouds(const XorCloudsOptions &options = {});

// Seed 002's data set 1: two Gaussian clouds in 2-D, half the samples each,
// centred at (−separation/2, −separation/2) (class 0) and (+…, +…) (class 1).
struct GaussiansOptions {
    int64_t count = 100;
    double separation = 2.0;
    double stddev = 0.5;
    uint64_t seed = 0;
};
Dataset make_gaussians(const GaussiansOptions &options = {});

// Two interleaving half circles (class 0 above, class 1 below).
struct MoonsOptions {
    int64_t count = 200;
    double noise = 0.1;
    uint64_t seed = 0;
};
Dataset make_moons(const MoonsOptions &options = {});

// `arms` interleaved spiral arms, one class each, from the centre outwards.
struct SpiralsOptions {
    int64_t count = 300; // spread over the arms
    int arms = 2;
    double turns = 1.0; // rotations each arm makes
    double noise = 0.05;
    uint64_t seed = 0;
};
Dataset make_spirals(const SpiralsOptions &options = {});

// Seed 004's function approximation: y = amplitude · sin(frequency · x) +
// noise for x in [x_min, x_max], one input and one real target.
struct SineOptions {
    int64_t count = 200;
    double x_min = -3.14159265358979323846;
    double x_max = 3.14159265358979323846;
    double frequency = 1.0;
    double amplitude = 1.0;
    double noise = 0.0;
    bool evenly_spaced = false; // x on a grid (for plotting the fit) instead of uniform random
    uint64_t seed = 0;
};
Dataset make_sine(const SineOptions &options = {});

} // namespace neurite::data
