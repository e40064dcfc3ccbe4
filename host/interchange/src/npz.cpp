// .npz archives through libzip: written in memory (so the file itself goes
// through durable_write like every other file Neurite saves) and read from
// memory, with every member's size bounded while it inflates.
#include "neurite/interchange/npy_io.h"

#include "neurite/core/checked.h"
#include "neurite/core/data/file_bytes.h"
#include "neurite/core/durable_file.h"
#include "neurite/core/error.h"

#include <zip.h>

#include <memory>
#include <set>

namespace neurite::interchange {

namespace {

constexpr const char *kSuffix = ".npy";
// A member can hold no more than the largest tensor, plus its header.
constexpr uint64_t kMaxMemberBytes = uint64_t(kMaxTensorElements) * 8 + (1 << 20);

struct ZipCloser {
    void operator()(zip_t *z) const { zip_discard(z); }
};
struct SourceFree {
    void operator()(zip_source_t *s) const { zip_source_free(s); }
};
struct FileCloser {
    void operator()(zip_file_t *f) const { zip_fclose(f); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;
using SourcePtr = std::unique_ptr<zip_source_t, SourceFree>;

std::string zip_message(zip_error_t *error)
{
    std::string text = zip_error_strerror(error);
    zip_error_fini(error);
    return text;
}

// The bytes an in-memory source holds after its archive was closed.
std::vector<uint8_t> source_bytes(zip_source_t *src, const std::string &what)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_source_open(src) < 0)
        throw Error(what + ": cannot read the archive back: " + zip_error_strerror(zip_source_error(src)));
    std::vector<uint8_t> out;
    if (zip_source_stat(src, &st) == 0 && (st.valid & ZIP_STAT_SIZE))
        out.reserve(st.size);
    uint8_t chunk[1 << 16];
    zip_int64_t n = 0;
    while ((n = zip_source_read(src, chunk, sizeof chunk)) > 0)
        out.insert(out.end(), chunk, chunk + n);
    zip_source_close(src);
    if (n < 0)
        throw Error(what + ": cannot read the archive back: " + zip_error_strerror(zip_source_error(src)));
    return out;
}

std::vector<uint8_t> read_member(zip_t *archive, zip_uint64_t index, const std::string &where)
{
    std::unique_ptr<zip_file_t, FileCloser> file(zip_fopen_index(archive, index, 0));
    if (!file)
        throw Error(where + ": cannot open: " + zip_strerror(archive));
    std::vector<uint8_t> bytes;
    uint8_t chunk[1 << 16];
    zip_int64_t n = 0;
    while ((n = zip_fread(file.get(), chunk, sizeof chunk)) > 0) {
        if (bytes.size() + static_cast<uint64_t>(n) > kMaxMemberBytes)
            throw Error(where + ": larger than any tensor can be");
        bytes.insert(bytes.end(), chunk, chunk + n);
    }
    if (n < 0) // a CRC mismatch or corrupt deflate data
        throw Error(where + ": " + zip_file_strerror(file.get()));
    return bytes;
}

} // namespace

std::vector<uint8_t> encode_npz(const NamedTensors &tensors, const std::string &what)
{
    zip_error_t error;
    zip_error_init(&error);
    SourcePtr memory(zip_source_buffer_create(nullptr, 0, 0, &error));
    if (!memory)
        throw Error(what + ": " + zip_message(&error));
    zip_source_keep(memory.get()); // the archive's close would free it otherwise
    ZipPtr archive(zip_open_from_source(memory.get(), ZIP_TRUNCATE, &error));
    if (!archive) {
        zip_source_free(memory.get()); // the keep above
        throw Error(what + ": " + zip_message(&error));
    }
    zip_error_fini(&error);
    // libzip reads the members' bytes when the archive closes.
    std::vector<std::vector<uint8_t>> members;
    members.reserve(tensors.size());
    std::set<std::string> names;
    for (const auto &[name, tensor] : tensors) {
        if (name.empty() || !names.insert(name).second)
            throw Error(what + ": tensor name '" + name + "' is " + (name.empty() ? "empty" : "used twice"));
        members.push_back(encode_npy(tensor, NpyType::Float32, what + " '" + name + "'"));
        zip_source_t *src = zip_source_buffer(archive.get(), members.back().data(), members.back().size(), 0);
        const std::string member = name + kSuffix;
        const zip_int64_t index = src ? zip_file_add(archive.get(), member.c_str(), src, ZIP_FL_ENC_UTF_8) : -1;
        if (index < 0) {
            if (src)
                zip_source_free(src);
            throw Error(what + ": cannot add '" + member + "': " + zip_strerror(archive.get()));
        }
        zip_set_file_compression(archive.get(), static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
    }
    if (zip_close(archive.get()) < 0)
        throw Error(what + ": cannot write the archive: " + zip_strerror(archive.get()));
    archive.release(); // closed: zip_close freed it
    return source_bytes(memory.get(), what);
}

void save_npz(const std::string &path, const NamedTensors &tensors)
{
    durable_write(path, encode_npz(tensors, path));
}

NamedTensors decode_npz(std::span<const uint8_t> bytes, const std::string &source)
{
    zip_error_t error;
    zip_error_init(&error);
    SourcePtr memory(zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error));
    if (!memory)
        throw Error(source + ": " + zip_message(&error));
    ZipPtr archive(zip_open_from_source(memory.get(), ZIP_RDONLY | ZIP_CHECKCONS, &error));
    if (!archive)
        throw Error(source + ": not a readable .npz (zip) archive: " + zip_message(&error));
    memory.release(); // the archive owns it now
    zip_error_fini(&error);
    NamedTensors out;
    const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
    for (zip_int64_t i = 0; i < count; ++i) {
        const char *raw = zip_get_name(archive.get(), static_cast<zip_uint64_t>(i), 0);
        const std::string member = raw ? raw : "";
        const std::string where = source + ": member '" + member + "'";
        if (!member.ends_with(kSuffix) || member.size() == 4)
            throw Error(where + " is not a .npy file (an .npz holds only <name>.npy members)");
        const std::vector<uint8_t> data = read_member(archive.get(), static_cast<zip_uint64_t>(i), where);
        out.emplace_back(member.substr(0, member.size() - 4), decode_npy(data, source + ":" + member));
    }
    return out;
}

NamedTensors load_npz(const std::string &path)
{
    return decode_npz(data::read_file(path), path);
}

} // namespace neurite::interchange
