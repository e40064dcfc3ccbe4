// libFuzzer target: the zlib inflater wrapper every gzip-compressed dataset
// goes through (corrupt, truncated and concatenated streams).
#include "neurite/core/data/file_bytes.h"
#include "neurite/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try {
        neurite::data::gunzip({data, size}, "fuzz.gz");
    } catch (const neurite::Error &) {
    }
    return 0;
}
