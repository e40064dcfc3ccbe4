#pragma once

#include "neurite/core/data/normalization.h"
#include "neurite/core/tensor.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace neurite::data {

// What a sample's target is.
enum class TargetKind {
    None,    // unlabelled (features only)
    Classes, // a class index in [0, class_count), stored as float
    Values,  // a real vector of target_width values (regression)
};

// How class targets reach a model; Values datasets ignore it.
enum class TargetEncoding {
    Index,       // {N} class indices as float, as CrossEntropyLoss expects
    OneHot,      // {N, classes}, for CategoricalCrossEntropyLoss or MSELoss
    IndexColumn, // {N, 1}, for one sigmoid output with BCELoss or MSELoss
};

// What a loader makes of a target column or array.
enum class TargetMode {
    Auto,    // CSV: classes when any target is not a number, else values;
             // NPY: classes for an integer 1-D array, else values
    Classes, // CSV: distinct values become classes 0, 1, ... in sorted order;
             // NPY: whole numbers ≥ 0 are the class indices
    Values,  // real numbers (regression)
    None,    // no target: every column is a feature
};

const char *target_kind_name(TargetKind kind);         // "none", "classes", "values"
const char *target_encoding_name(TargetEncoding kind); // "index", "one_hot", "index_column"

// Everything a loader or generator produces, handed to Dataset::create, which
// checks it and then shares it read-only between every view. Features are
// stored compactly (uint8 for images and IDX data, float otherwise) and turned
// into float only when a batch is gathered.
struct DatasetParts {
    Shape input_shape;  // one sample, e.g. {28, 28} or {2}
    int64_t count = 0;  // samples

    // Exactly one of bytes and floats holds count × input_shape.numel() values.
    std::vector<uint8_t> bytes;
    size_t byte_offset = 0; // where the samples start in bytes (a file's header may precede them)
    float byte_scale = 1;   // a byte b is the feature value b × byte_scale (1/255 for pixels)
    std::vector<float> floats;

    TargetKind target_kind = TargetKind::None;
    std::vector<float> targets; // count values (Classes) or count × target_width (Values)
    int64_t target_width = 0;   // Values only: values per sample
    int64_t class_count = 0;    // Classes only
    std::vector<std::string> class_names;   // empty: "0", "1", ... are filled in
    std::vector<std::string> feature_names; // optional (CSV headers)
    std::string target_name;                // optional: the target column's header (CSV)

    std::string source;                // the file or generator, for messages and the GUI
    std::vector<std::string> warnings; // what a loader skipped, and why
};

// One sample, copied out: input shaped input_shape(), target per the encoding.
struct Sample {
    Tensor input;
    Tensor target; // target_shape(), {1} for a class index; undefined for TargetKind::None
    int64_t label = -1; // the class index for Classes, else -1
};

// A cheap view of shared, immutable samples: an optional list of rows (for
// splits and subsets, which copy no features), a target encoding and a
// normalization. Copies share everything; const methods are thread-safe.
class Dataset {
public:
    Dataset() = default;
    // Checks sizes, class indices and names; throws Error naming parts.source.
    static Dataset create(DatasetParts parts);
    // Copies inputs {N, ...} (and targets: {N} class indices for Classes,
    // {N, k} or {N} for Values, ignored for None) into a new dataset.
    static Dataset from_tensors(const Tensor &inputs, const Tensor &targets, TargetKind kind,
                                std::vector<std::string> class_names = {});

    bool empty() const { return size() == 0; }
    int64_t size() const { return m_count; }
    const Shape &input_shape() const;
    int64_t feature_count() const { return m_features; }
    // Per sample, as batches deliver it: {} (Index), {C} (OneHot), {1}, {k} or {} (None).
    Shape target_shape() const;
    // Floats per sample in a target buffer (0 for None).
    int64_t target_width() const;
    TargetKind target_kind() const;
    TargetEncoding target_encoding() const { return m_encoding; }
    int64_t class_count() const;
    const std::vector<std::string> &class_names() const;
    const std::vector<std::string> &feature_names() const;
    const std::string &target_name() const; // "" when the file named none
    const std::string &source() const;
    const std::vector<std::string> &warnings() const;
    bool stored_as_bytes() const;
    // A stored byte b stands for the value b × byte_scale() (1 for float data).
    float byte_scale() const;

    // Random access (i is an index into this view).
    Sample sample(int64_t i) const;
    int64_t label(int64_t i) const; // the class index; Error unless Classes
    // The stored, unnormalized values of sample i: bytes for image and IDX
    // data (raw_floats is then empty) or floats (raw_bytes is then empty).
    std::span<const uint8_t> raw_bytes(int64_t i) const;
    std::span<const float> raw_floats(int64_t i) const;
    // Samples per class over this view (Classes only).
    std::vector<int64_t> class_counts() const;
    // The row in the shared storage behind view index i.
    int64_t storage_row(int64_t i) const;

    // Writes rows (view indices) as float: inputs gets rows.size() ×
    // feature_count() values, normalized; targets gets rows.size() ×
    // target_width() (may be null when target_width() is 0). No allocation.
    void gather(std::span<const int64_t> rows, float *inputs, float *targets) const;
    // The whole view as tensors {N, input_shape...} and {N, target_shape...}.
    Tensor inputs() const;
    Tensor targets() const;

    // Views, sharing the samples.
    Dataset subset(std::span<const int64_t> rows) const;
    Dataset slice(int64_t first, int64_t count) const;
    Dataset with_target_encoding(TargetEncoding encoding) const;
    // Replaces any earlier normalization (statistics are fitted on the stored
    // values, so they do not compose).
    Dataset with_normalization(const Normalization &normalization) const;
    const Normalization &normalization() const;

private:
    void check_index(int64_t i, const char *what) const;
    int64_t row_of(int64_t i) const { return m_rows ? (*m_rows)[static_cast<size_t>(i)] : m_first + i; }
    void write_target(int64_t row, float *target) const;

    std::shared_ptr<const DatasetParts> m_parts;
    // Rows of the storage this view shows; null means m_first .. m_first + m_count.
    std::shared_ptr<const std::vector<int64_t>> m_rows;
    int64_t m_first = 0;
    int64_t m_count = 0;
    int64_t m_features = 0;
    TargetEncoding m_encoding = TargetEncoding::Index;
    std::shared_ptr<const Normalization> m_normalization;
    // The normalization's center and 1 / spread per feature, ready for the
    // gather loop; null without a normalization.
    std::shared_ptr<const std::vector<float>> m_center;
    std::shared_ptr<const std::vector<float>> m_inverse_spread;
};

} // namespace neurite::data
