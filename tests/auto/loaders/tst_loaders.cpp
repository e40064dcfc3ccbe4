// The binary loaders (IDX raw and gzip, NumPy .npy, a folder of images) on
// small files the tests write, every bad input with its exact message, and a
// model trained on what each loader yields.
#include "data_test_support.h"

#include "neurite/core/data/file_bytes.h"
#include "neurite/core/data/idx.h"
#include "neurite/core/data/image_folder.h"
#include "neurite/core/data/npy.h"

#include <QDir>
#include <QImage>
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>
#include <fstream>

#include <random>

#include <sys/resource.h>
#include <zlib.h>

using namespace neurite;
using namespace neurite::data;
using neurite::test::error_of;

namespace {

using Bytes = std::vector<uint8_t>;

void put_be32(Bytes &out, uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<uint8_t>(v >> shift));
}

Bytes idx_file(uint8_t type, const std::vector<uint32_t> &dims, const Bytes &payload)
{
    Bytes out = {0, 0, type, static_cast<uint8_t>(dims.size())};
    for (uint32_t d : dims)
        put_be32(out, d);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

Bytes gzip(const Bytes &plain)
{
    z_stream zs{};
    deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    Bytes out(deflateBound(&zs, static_cast<uLong>(plain.size())) + 32);
    zs.next_in = const_cast<Bytef *>(plain.data());
    zs.avail_in = static_cast<uInt>(plain.size());
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

// A .npy file (format 1.0) with its header padded to 64 bytes as NumPy does.
Bytes npy_file(const std::string &descr, bool fortran, const std::string &shape, const Bytes &payload)
{
    std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                         ", 'shape': " + shape + ", }";
    while ((10 + header.size() + 1) % 64)
        header += ' ';
    header += '\n';
    Bytes out(10 + header.size() + payload.size());
    std::memcpy(out.data(), "\x93NUMPY\x01\x00", 8);
    out[8] = static_cast<uint8_t>(header.size() & 0xFF);
    out[9] = static_cast<uint8_t>(header.size() >> 8);
    std::copy(header.begin(), header.end(), out.begin() + 10);
    std::copy(payload.begin(), payload.end(), out.begin() + 10 + static_cast<std::ptrdiff_t>(header.size()));
    return out;
}

template <class T>
Bytes raw(const std::vector<T> &values)
{
    Bytes out(values.size() * sizeof(T));
    std::memcpy(out.data(), values.data(), out.size());
    return out;
}

void write(const QString &path, const Bytes &bytes)
{
    std::ofstream(path.toStdString(), std::ios::binary)
        .write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Six 2 × 3 images: class c has its left or right column bright.
struct TinyIdx {
    Bytes images, labels;
    TinyIdx()
    {
        Bytes pixels;
        Bytes classes;
        for (int i = 0; i < 6; ++i) {
            const int c = i % 2;
            for (int y = 0; y < 2; ++y)
                for (int x = 0; x < 3; ++x)
                    pixels.push_back((x == 0) == (c == 0) ? 255 : 0);
            classes.push_back(static_cast<uint8_t>(c));
        }
        images = idx_file(0x08, {6, 2, 3}, pixels);
        labels = idx_file(0x08, {6}, classes);
    }
};

// The process's peak resident memory so far, in MiB.
long peak_mib()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss / 1024;
}

// A gzip file whose trailer claims `isize` bytes (mod 2^32) whatever it holds.
Bytes with_forged_size(Bytes gz, uint32_t isize)
{
    for (int i = 0; i < 4; ++i)
        gz[gz.size() - 4 + static_cast<size_t>(i)] = static_cast<uint8_t>(isize >> (8 * i));
    return gz;
}

QImage filled(int w, int h, QColor color)
{
    QImage image(w, h, QImage::Format_RGB32);
    image.fill(color);
    return image;
}

} // namespace

class TestLoaders : public QObject {
    Q_OBJECT

private slots:
    void idx_images_and_labels()
    {
        const TinyIdx tiny;
        const Dataset d = parse_idx(tiny.images, "images", tiny.labels, "labels");
        QCOMPARE(d.size(), 6);
        QCOMPARE(d.input_shape(), (Shape{1, 2, 3})); // grayscale gets its channel dimension
        QCOMPARE(d.class_count(), 2);
        QCOMPARE(d.label(3), 1);
        QCOMPARE(d.sample(0).input.to_vector(), (std::vector<float>{1, 0, 0, 1, 0, 0}));
        IdxOptions raw_bytes;
        raw_bytes.scale_to_unit = false;
        raw_bytes.class_names = {"left", "right", "spare"};
        const Dataset named = parse_idx(tiny.images, "images", tiny.labels, "labels", raw_bytes);
        QCOMPARE(named.sample(0).input[0], 255.0f);
        QCOMPARE(named.class_count(), 3);
        QCOMPARE(named.class_names()[1], std::string("right"));
        const Dataset unlabelled = parse_idx(tiny.images, "images", {}, "");
        QCOMPARE(unlabelled.target_kind(), TargetKind::None);
    }

    // A .gz IDX file is inflated as a stream, checked against its header
    // before anything large is allocated (issue 11: a 28 MB file asked for 6 GB).
    void idx_gzip_is_checked_against_its_header()
    {
        // The tests before this one are small: the peak below is this test's.
        const long peak_before = peak_mib();
        // A header that claims far more than the compressed bytes can hold.
        const Bytes claims = gzip(idx_file(0x08, {60000, 28, 28}, Bytes(100, 7)));
        QCOMPARE(error_of([&] { parse_idx(claims, "bomb.gz", {}, ""); }),
                 QString("bomb.gz: byte 4: the header describes 60000 × 28 × 28 values of type unsigned byte "
                         "(47040016 bytes), more than the %1 compressed bytes can inflate to; the file is "
                         "damaged or forged").arg(claims.size()));
        // A bomb: a one-pixel image, then 32 MiB of zeros that compress to
        // a few dozen KiB. Refused after the pixel, without inflating the rest.
        Bytes plain = idx_file(0x08, {1, 1, 1}, {9});
        plain.resize(plain.size() + (size_t(32) << 20), 0);
        const Bytes bomb = gzip(plain);
        QVERIFY(bomb.size() < 1 << 20);
        QCOMPARE(error_of([&] { parse_idx(bomb, "bomb.gz", {}, ""); }),
                 QString("bomb.gz: byte 17: the compressed data inflates to more than the 17 bytes its header "
                         "describes (1 × 1 × 1 values of type unsigned byte)"));
        // The size in the gzip trailer is forged to 4 GiB: it used to be
        // allocated and zeroed (up to 1032 times the compressed size) before
        // inflating. Random pixels, so 1 MiB stays 1 MiB compressed.
        std::mt19937 rng(5);
        Bytes pixels(size_t(1) << 20);
        for (uint8_t &p : pixels)
            p = static_cast<uint8_t>(rng());
        const Bytes forged = with_forged_size(gzip(idx_file(0x08, {1024, 32, 32}, pixels)), 0xFFFFFFF0u);
        QVERIFY(error_of([&] { parse_idx(forged, "forged.gz", {}, ""); }).contains("incorrect length check"));
        QVERIFY(error_of([&] { gunzip(forged, "forged.gz"); }).contains("incorrect length check"));
        const long grew = peak_mib() - peak_before;
        QVERIFY2(grew < 400, qPrintable(QString("the peak memory grew by %1 MiB").arg(grew)));
        // An honest file still loads, from the stream.
        const TinyIdx tiny;
        QCOMPARE(parse_idx(gzip(tiny.images), "img.gz", gzip(tiny.labels), "lbl.gz").size(), 6);
    }

    void idx_gzip_files_and_other_types()
    {
        const TinyIdx tiny;
        QTemporaryDir dir;
        write(dir.filePath("img.gz"), gzip(tiny.images));
        write(dir.filePath("lbl"), tiny.labels);
        const Dataset d = load_idx(dir.filePath("img.gz").toStdString(), dir.filePath("lbl").toStdString());
        QCOMPARE(d.inputs().to_vector(), parse_idx(tiny.images, "i", tiny.labels, "l").inputs().to_vector());
        // Concatenated gzip members inflate as one stream, as gzip(1) does.
        Bytes twice = gzip({1, 2, 3});
        const Bytes second = gzip({4, 5});
        twice.insert(twice.end(), second.begin(), second.end());
        QCOMPARE(gunzip(twice, "two"), (Bytes{1, 2, 3, 4, 5}));
        // Big-endian float32 samples become float storage.
        Bytes payload;
        for (float v : {1.5f, -2.0f})
            put_be32(payload, std::bit_cast<uint32_t>(v));
        const Dataset floats = parse_idx(idx_file(0x0D, {2, 1}, payload), "f", {}, "");
        QVERIFY(!floats.stored_as_bytes());
        QCOMPARE(floats.inputs().to_vector(), (std::vector<float>{1.5f, -2.0f}));
    }

    void idx_bad_inputs()
    {
        const TinyIdx tiny;
        const Bytes zeros(64, 0);
        QCOMPARE(error_of([&] { parse_idx(zeros, "train-images-idx3-ubyte.gz", tiny.labels, "l"); }),
                 QString("train-images-idx3-ubyte.gz: byte 0: wrong magic number 0x00000000, expected "
                         "0x00000803 (unsigned byte, 3 dimensions)"));
        QCOMPARE(error_of([&] { parse_idx(tiny.images, "i", tiny.images, "labels"); }),
                 QString("labels: byte 0: wrong magic number 0x00000803, expected 0x00000801 "
                         "(unsigned byte, 1 dimension)"));
        const Bytes truncated(tiny.images.begin(), tiny.images.end() - 10);
        QCOMPARE(error_of([&] { parse_idx(truncated, "images", tiny.labels, "l"); }),
                 QString("images: byte 42: truncated: the header describes 6 × 2 × 3 values of type "
                         "unsigned byte (36 bytes after the 16-byte header), but the file ends after 26"));
        const Bytes short_header(tiny.images.begin(), tiny.images.begin() + 9);
        QCOMPARE(error_of([&] { parse_idx(short_header, "images", {}, ""); }),
                 QString("images: byte 4: truncated header: 3 dimension sizes need 12 bytes, only 5 follow"));
        Bytes longer = tiny.images;
        longer.push_back(7);
        QCOMPARE(error_of([&] { parse_idx(longer, "images", {}, ""); }),
                 QString("images: byte 52: 1 unexpected byte follows the data (6 × 2 × 3 values of "
                         "type unsigned byte)"));
        const Bytes five_labels = idx_file(0x08, {5}, {0, 1, 0, 1, 0});
        QCOMPARE(error_of([&] { parse_idx(tiny.images, "images", five_labels, "labels"); }),
                 QString("labels: byte 4: 5 labels, but images holds 6 images; every image needs one label"));
        QCOMPARE(error_of([&] { parse_idx({}, "images", {}, ""); }),
                 QString("images: the file is empty, expected an IDX header"));
        const Bytes negative = idx_file(0x09, {6}, {0, 1, 0, 0xFF, 0, 1});
        QCOMPARE(error_of([&] { parse_idx(tiny.images, "images", negative, "labels"); }),
                 QString("labels: byte 11: label -1 is negative; classes are numbered from 0"));
        const Bytes huge = idx_file(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {});
        QCOMPARE(error_of([&] { parse_idx(huge, "images", {}, ""); }),
                 QString("images: byte 16: truncated: the header describes 4294967295 × 4294967295 × "
                         "4294967295 values of type unsigned byte (more than 2^64 bytes after the "
                         "16-byte header), but the file ends after 0"));
        const Bytes packed = gzip(tiny.images);
        const Bytes cut(packed.begin(), packed.begin() + 20);
        QCOMPARE(error_of([&] { parse_idx(cut, "img.gz", {}, ""); }),
                 QString("img.gz: byte 20: the compressed data ends before the gzip stream does (truncated file?)"));
        Bytes corrupt = packed;
        corrupt[12] ^= 0xFF;
        corrupt[13] ^= 0xFF;
        QVERIFY(error_of([&] { parse_idx(corrupt, "img.gz", {}, ""); }).contains("corrupt compressed data (zlib: "));
        QCOMPARE(error_of([] { load_idx("/nonexistent/images", ""); }),
                 QString("/nonexistent/images: cannot open: No such file or directory"));
    }

    void npy_arrays()
    {
        const Bytes x = npy_file("<f4", false, "(4, 2)", raw(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
        const Bytes y = npy_file("<i8", false, "(4,)", raw(std::vector<int64_t>{0, 2, 1, 2}));
        const Dataset d = parse_npy(x, "x.npy", y, "y.npy");
        QCOMPARE(d.size(), 4);
        QCOMPARE(d.input_shape(), (Shape{2}));
        QCOMPARE(d.target_kind(), TargetKind::Classes);
        QCOMPARE(d.class_count(), 3);
        QCOMPARE(d.sample(3).input.to_vector(), (std::vector<float>{6, 7}));

        const Bytes x8 = npy_file("|u1", false, "(2, 2, 2)", Bytes{0, 51, 102, 255, 1, 2, 3, 4});
        const Bytes y2 = npy_file("<f8", false, "(2, 2)", raw(std::vector<double>{0.5, 1.5, 2.5, 3.5}));
        NpyOptions scaled;
        scaled.scale_to_unit = true;
        const Dataset images = parse_npy(x8, "x8.npy", y2, "y2.npy", scaled);
        QVERIFY(images.stored_as_bytes());
        QCOMPARE(images.input_shape(), (Shape{2, 2}));
        QCOMPARE(images.sample(0).input[3], 1.0f);
        QCOMPARE(images.target_kind(), TargetKind::Values);
        QCOMPARE(images.targets().to_vector(), (std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f}));

        QTemporaryDir dir;
        const Bytes column = npy_file("<f8", false, "(3,)", raw(std::vector<double>{1, 2, 3}));
        write(dir.filePath("x.npy"), column);
        const Dataset loaded = load_npy(dir.filePath("x.npy").toStdString(), "");
        QCOMPARE(loaded.input_shape(), (Shape{1}));
        QCOMPARE(loaded.inputs().to_vector(), (std::vector<float>{1, 2, 3}));
    }

    void npy_bad_inputs()
    {
        const Bytes payload(16, 0);
        QCOMPARE(error_of([&] { parse_npy(npy_file("<c16", false, "(1,)", payload), "x.npy", {}, ""); }),
                 QString("x.npy: byte 20: unsupported dtype '<c16'; supported are float32 ('<f4'), "
                         "float64 ('<f8'), uint8 ('|u1') and int64 ('<i8'), little-endian"));
        QCOMPARE(error_of([&] { parse_npy(npy_file(">f4", false, "(4,)", payload), "x.npy", {}, ""); }).left(39),
                 QString("x.npy: byte 20: unsupported dtype '>f4'"));
        QCOMPARE(error_of([&] { parse_npy(npy_file("<f4", true, "(2, 2)", payload), "x.npy", {}, ""); }),
                 QString("x.npy: byte 44: the array is stored in Fortran (column-major) order; only C "
                         "order is supported (save numpy.ascontiguousarray(a) instead)"));
        QCOMPARE(error_of([&] { parse_npy(npy_file("<f4", false, "(2, 3)", payload), "x.npy", {}, ""); }),
                 QString("x.npy: byte 144: truncated: the header describes a [2, 3] array of float32 "
                         "(24 bytes after the 128-byte header), but the file ends after 16"));
        QCOMPARE(error_of([&] { parse_npy(Bytes{'P', 'K', 3, 4}, "x.npy", {}, ""); }),
                 QString("x.npy: byte 0: not a NumPy .npy file (it must start with \\x93NUMPY)"));
        QCOMPARE(error_of([&] { parse_npy({}, "x.npy", {}, ""); }),
                 QString("x.npy: the file is empty, expected a NumPy .npy header"));
        const Bytes x = npy_file("<f4", false, "(4,)", payload);
        const Bytes y = npy_file("<i8", false, "(3,)", Bytes(24, 0));
        QCOMPARE(error_of([&] { parse_npy(x, "x.npy", y, "y.npy"); }),
                 QString("y.npy: y holds 3 rows, but x.npy holds 4 samples; every sample needs one target"));
        const Bytes minus = npy_file("<i8", false, "(4,)", raw(std::vector<int64_t>{0, 1, -1, 0}));
        QCOMPARE(error_of([&] { parse_npy(x, "x.npy", minus, "y.npy"); }),
                 QString("y.npy: byte 144: target 2 is -1, not a class index (a whole number from 0)"));
        QCOMPARE(error_of([&] { parse_npy(npy_file("<f4", false, "(2,", payload), "x.npy", {}, ""); }),
                 QString("x.npy: byte 63: malformed header: the shape must be a tuple of whole numbers"));
    }

    void image_folder_gray_and_rgb()
    {
        QTemporaryDir dir;
        QDir root(dir.path());
        root.mkpath("dark");
        root.mkpath("red");
        QVERIFY(filled(8, 6, Qt::black).save(root.filePath("dark/a.png")));
        QVERIFY(filled(8, 6, QColor(20, 20, 20)).save(root.filePath("dark/b.jpg"), "JPEG", 100));
        QVERIFY(filled(8, 6, Qt::red).save(root.filePath("red/a.png")));
        QVERIFY(filled(16, 12, Qt::red).save(root.filePath("red/big.png"))); // resized to the first
        write(root.filePath("red/notes.txt"), Bytes{'h', 'i'});              // not an image: ignored

        const Dataset gray = load_image_folder(dir.path().toStdString());
        QCOMPARE(gray.size(), 4);
        QCOMPARE(gray.input_shape(), (Shape{1, 6, 8}));
        QCOMPARE(gray.class_names(), (std::vector<std::string>{"dark", "red"}));
        QCOMPARE(gray.class_counts(), (std::vector<int64_t>{2, 2}));
        QCOMPARE(gray.raw_bytes(0)[0], uint8_t(0));
        QVERIFY(gray.warnings().empty());

        ImageFolderOptions rgb;
        rgb.grayscale = false;
        rgb.width = 4;
        rgb.height = 2;
        const Dataset colour = load_image_folder(dir.path().toStdString(), rgb);
        QCOMPARE(colour.input_shape(), (Shape{3, 2, 4}));
        const Tensor red = colour.sample(2).input; // planes R, G, B
        QCOMPARE(red[0], 1.0f);
        QCOMPARE(red[8], 0.0f);
        QCOMPARE(red[16], 0.0f);
    }

    void image_folder_unreadable_files()
    {
        QTemporaryDir dir;
        QDir root(dir.path());
        root.mkpath("one");
        QVERIFY(filled(4, 4, Qt::white).save(root.filePath("one/good.png")));
        write(root.filePath("one/bad.png"), Bytes{'n', 'o', 't', ' ', 'a', ' ', 'p', 'n', 'g'});
        const std::string bad = root.filePath("one/bad.png").toStdString();
        const Dataset d = load_image_folder(dir.path().toStdString());
        QCOMPARE(d.size(), 1);
        QCOMPARE(d.warnings().size(), size_t(1));
        QCOMPARE(QString::fromStdString(d.warnings()[0]),
                 QString::fromStdString(bad + ": cannot read the image: Unsupported image format (skipped)"));
        ImageFolderOptions strict;
        strict.skip_unreadable = false;
        QCOMPARE(error_of([&] { load_image_folder(dir.path().toStdString(), strict); }),
                 QString::fromStdString(bad + ": cannot read the image: Unsupported image format"));
        QCOMPARE(error_of([] { load_image_folder("/nonexistent"); }), QString("/nonexistent: no such folder"));
        QTemporaryDir empty;
        QCOMPARE(error_of([&] { load_image_folder(empty.path().toStdString()); }),
                 empty.path() + ": no images found; expected one subfolder per class holding image files");
    }

    void every_loader_trains_a_model()
    {
        // Two classes told apart by one bright column, as IDX, .npy and PNG files.
        Bytes pixels, labels;
        std::vector<float> xs;
        std::vector<int64_t> ys;
        QTemporaryDir dir;
        QDir root(dir.path());
        root.mkpath("left");
        root.mkpath("right");
        for (int i = 0; i < 64; ++i) {
            const int c = i % 2;
            QImage image(4, 4, QImage::Format_Grayscale8);
            for (int y = 0; y < 4; ++y)
                for (int x = 0; x < 4; ++x) {
                    const uint8_t v = (x == 0) == (c == 0) ? uint8_t(200 + (i * 7 + y) % 50) : uint8_t((i * 3 + x) % 40);
                    pixels.push_back(v);
                    xs.push_back(v / 255.0f);
                    image.setPixel(x, y, qRgb(v, v, v));
                }
            labels.push_back(static_cast<uint8_t>(c));
            ys.push_back(c);
            QVERIFY(image.save(root.filePath(QString(c ? "right" : "left") + "/" + QString::number(i) + ".png")));
        }
        const Dataset sets[] = {
            parse_idx(idx_file(0x08, {64, 4, 4}, pixels), "idx", idx_file(0x08, {64}, labels), "labels"),
            parse_npy(npy_file("<f4", false, "(64, 16)", raw(xs)), "x.npy",
                      npy_file("<i8", false, "(64,)", raw(ys)), "y.npy"),
            load_image_folder(dir.path().toStdString()),
        };
        for (const Dataset &d : sets) {
            const test::TrainingRun run = test::train_mlp(d, 8, 15, 16, 0.02);
            QVERIFY2(run.epoch_loss.back() < 0.5 * run.epoch_loss.front(), d.source().c_str());
            QVERIFY2(run.accuracy > 0.95, d.source().c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestLoaders)
#include "tst_loaders.moc"
