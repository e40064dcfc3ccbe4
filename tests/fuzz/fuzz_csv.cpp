// libFuzzer target: CSV/TSV text through parse_csv under varying options,
// then every sample read back.
#include "fuzz_input.h"

#include "neurite/core/data/csv.h"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const neurite::fuzz::Input in = neurite::fuzz::split_input(data, size);
    using neurite::data::HeaderMode;
    using neurite::data::TargetMode;
    neurite::data::CsvOptions options;
    const char delimiters[] = {0, ',', ';', '\t'};
    options.delimiter = delimiters[in.options & 3];
    const HeaderMode headers[] = {HeaderMode::Auto, HeaderMode::Present, HeaderMode::Absent, HeaderMode::Auto};
    options.header = headers[(in.options >> 2) & 3];
    const TargetMode targets[] = {TargetMode::Auto, TargetMode::Classes, TargetMode::Values, TargetMode::None};
    options.target = targets[(in.options >> 4) & 3];
    options.skip_incomplete_rows = in.options & 64;
    options.target_index = (in.options & 128) ? 0 : -1;
    try {
        // The second part is the text; the first names a target column.
        options.target_column.assign(in.first.begin(), in.first.begin() + std::min<size_t>(in.first.size(), 8));
        if (in.options & 128)
            options.target_column.clear();
        const neurite::data::Dataset d = neurite::data::parse_csv(in.second, "fuzz.csv", options);
        const neurite::Tensor x = d.inputs();
        const neurite::Tensor y = d.targets();
    } catch (const neurite::Error &) {
    }
    return 0;
}
