// libFuzzer target: NumPy X and y files through parse_npy, then every sample
// read back.
#include "fuzz_input.h"

#include "neurite/core/data/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const neurite::fuzz::Input in = neurite::fuzz::split_input(data, size);
    using neurite::data::TargetMode;
    neurite::data::NpyOptions options;
    const TargetMode targets[] = {TargetMode::Auto, TargetMode::Classes, TargetMode::Values, TargetMode::None};
    options.target = targets[in.options & 3];
    options.scale_to_unit = in.options & 4;
    try {
        const bool labelled = in.options & 8;
        const neurite::data::Dataset d =
            neurite::data::parse_npy(in.first, "x.npy", labelled ? in.second : std::span<const uint8_t>{},
                                     labelled ? "y.npy" : "", options);
        const neurite::Tensor x = d.inputs();
        const neurite::Tensor y = d.targets();
    } catch (const neurite::Error &) {
    }
    return 0;
}
