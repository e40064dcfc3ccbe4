#pragma once

#include "neurite/core/tensor.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace neurite::data {

// Images as a grid of tiles, for people to look at: samples of a dataset,
// a convolution's filters or feature maps, originals beside
// reconstructions. One function draws them for the window (in its run
// process) and for scripts (data.save_images), so both show the same.
struct ImageGridOptions {
    enum class Range {
        Shared,    // black..white = the smallest..largest value of all tiles: tiles compare
        Symmetric, // -m..m with m the largest magnitude: zero is mid grey (weights)
        Given      // lo..hi below; values outside are clipped
    };
    int columns = 0; // tiles per row; 0: about square
    int scale = 1;   // each value drawn as scale × scale pixels
    int gap = 1;     // pixels between tiles and around the grid
    bool color = false; // samples of 3 planes as one RGB tile (else a grey tile per plane)
    Range range = Range::Shared;
    float lo = 0, hi = 1; // Range::Given
};

struct ImageGrid {
    int width = 0, height = 0;
    int tiles = 0, columns = 0, rows = 0;
    int tile_width = 0, tile_height = 0; // pixels, scale included
    int gap = 0;
    float lo = 0, hi = 0;         // the values black and white stand for
    std::vector<uint32_t> pixels; // 0xffRRGGBB, row after row

    // The top-left pixel of tile i (0-based, row by row).
    int tile_x(int i) const { return gap + (i % columns) * (tile_width + gap); }
    int tile_y(int i) const { return gap + (i / columns) * (tile_height + gap); }
};

constexpr uint32_t kImageGridBackground = 0xff505866; // the gaps: neither black nor white

// images: [N, H, W], or [N, C, H, W] (C grey tiles per sample in a row of
// their own order, or one colour tile with options.color and C = 3).
// Error naming the shape when it is neither.
ImageGrid render_image_grid(const Tensor &images, const ImageGridOptions &options);

// The i-th images of each tensor in turn, [N * lists.size(), ...]: drawn
// with columns = lists.size(), row i shows them side by side (originals
// beside reconstructions). Error naming the shapes unless all are alike.
Tensor interleave_images(std::span<const Tensor> lists);

// The grid as an image file of the format its suffix names (.png, .jpg, ...),
// written through a temporary file; Error naming the path when it cannot.
void write_image_grid(const ImageGrid &grid, const std::string &path);

} // namespace neurite::data
