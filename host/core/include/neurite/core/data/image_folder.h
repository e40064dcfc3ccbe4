#pragma once

#include "neurite/core/data/dataset.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace neurite::data {

struct ImageFolderOptions {
    // Every image is resized to width × height; 0 for both: the first image's size.
    int width = 0;
    int height = 0;
    bool grayscale = true; // else RGB
    // An image that cannot be decoded is skipped and named in the dataset's
    // warnings; otherwise it is an Error.
    bool skip_unreadable = true;
    bool scale_to_unit = true; // pixels as b / 255
};

// Pixels of one encoded image (PNG, JPEG, or any format Qt reads), resized to
// width × height: grayscale {height, width} or RGB planes {3, height, width}.
// Error "<source>: cannot read the image: <reason>" when it cannot be decoded.
std::vector<uint8_t> decode_image(std::span<const uint8_t> bytes, const std::string &source,
                                  int width, int height, bool grayscale);

// folder/<class>/<image>: one subfolder per class (classes in name order,
// named by their folder), image files (by extension Qt can read) in name
// order. Input shape {height, width} (grayscale) or {3, height, width} (RGB).
Dataset load_image_folder(const std::string &folder, const ImageFolderOptions &options = {});

} // namespace neurite::data
