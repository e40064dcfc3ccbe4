// libFuzzer target: one encoded image through decode_image (Qt's decoders
// behind it), resized and converted as the image-folder loader does.
#include "neurite/core/data/image_folder.h"
#include "neurite/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    try {
        const int side = 1 + data[0] % 32;
        neurite::data::decode_image({data + 1, size - 1}, "fuzz.png", side, side, data[0] & 128);
    } catch (const neurite::Error &) {
    }
    return 0;
}
