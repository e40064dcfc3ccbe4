#pragma once

#include "neurite/core/data/dataset.h"

#include <cstdint>
#include <span>
#include <string>

namespace neurite::data {

enum class HeaderMode {
    Auto,    // a header when the first row has text where the second has numbers
    Present,
    Absent,
};

struct CsvOptions {
    char delimiter = 0; // 0: detected from the first lines among , ; tab |
    HeaderMode header = HeaderMode::Auto;
    // The target column by header name; when empty, by target_index.
    std::string target_column;
    // 0-based; negative counts from the end (-1: the last column).
    int target_index = -1;
    TargetMode target = TargetMode::Auto;
    // A row with an empty field or NA/NaN/null/? is an error naming its line;
    // with this set it is skipped and named in the dataset's warnings instead.
    bool skip_incomplete_rows = false;
};

// Comma-, semicolon-, tab- or bar-separated text with optional "quoted"
// fields ("" inside quotes is a quote). Every column but the target must be
// numeric. Class targets (text, or numbers with TargetMode::Classes) become
// classes in sorted order, named by their text. Errors name the line (1-based).
Dataset parse_csv(std::span<const uint8_t> bytes, const std::string &source,
                  const CsvOptions &options = {});
// The same from a file (gzip-compressed files are inflated first).
Dataset load_csv(const std::string &path, const CsvOptions &options = {});

} // namespace neurite::data
