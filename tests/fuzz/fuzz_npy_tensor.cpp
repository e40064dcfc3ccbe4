// libFuzzer target: a tensor .npy through interchange::decode_npy, and the
// same bytes as an .npz archive through decode_npz (libzip), every value read.
#include "fuzz_input.h"

#include "neurite/core/error.h"
#include "neurite/interchange/npy_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const neurite::fuzz::Input in = neurite::fuzz::split_input(data, size);
    try {
        (void)neurite::interchange::decode_npy(in.first, "t.npy").to_vector();
    } catch (const neurite::Error &) {
    }
    try {
        for (const auto &[name, t] : neurite::interchange::decode_npz(in.second, "t.npz"))
            (void)t.to_vector();
    } catch (const neurite::Error &) {
    }
    return 0;
}
