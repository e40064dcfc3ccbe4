// libFuzzer target: IDX images + labels (raw or gzip) through parse_idx, then
// every sample read back. Errors are expected; crashes and leaks are not.
#include "fuzz_input.h"

#include "neurite/core/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const neurite::fuzz::Input in = neurite::fuzz::split_input(data, size);
    neurite::data::IdxOptions options;
    options.scale_to_unit = in.options & 1;
    if (in.options & 2)
        options.class_names = {"a", "b", "c"};
    try {
        const bool labelled = in.options & 4;
        const neurite::data::Dataset d =
            neurite::data::parse_idx(in.first, "images", labelled ? in.second : std::span<const uint8_t>{},
                                     labelled ? "labels" : "", options);
        const neurite::Tensor x = d.inputs();
        const neurite::Tensor y = d.with_target_encoding(neurite::data::TargetEncoding::OneHot).targets();
        if (d.target_kind() == neurite::data::TargetKind::Classes)
            d.class_counts();
    } catch (const neurite::Error &) {
    }
    return 0;
}
