// Augmentation in the batch iterator: every augmented image is the original
// shifted by at most the padding (zeros coming in) and maybe mirrored,
// exactly; the draws cover every shift and flip about as often as asked;
// the same seed gives the same batches, with or without the prefetching
// thread; and data that is not images is refused with its shape.
#include "neurite/core/data/batch_iterator.h"
#include "neurite/core/error.h"

#include <QtTest>

#include <numeric>
#include <set>

using namespace neurite;
using namespace neurite::data;

namespace {

// n images [c, h, w] whose values 1, 2, 3, ... are all distinct and non-zero.
Dataset images(int64_t n, int64_t c, int64_t h, int64_t w)
{
    DatasetParts p;
    p.source = "images";
    p.count = n;
    p.input_shape = Shape{c, h, w};
    p.floats.resize(static_cast<size_t>(n * c * h * w));
    std::iota(p.floats.begin(), p.floats.end(), 1.0f);
    p.target_kind = TargetKind::Classes;
    p.targets.assign(static_cast<size_t>(n), 0.0f);
    return Dataset::create(std::move(p));
}

// Image i of the dataset shifted by (sy, sx) (taking values from y + sy,
// x + sx, zeros outside) and mirrored after, as the augmentation defines.
std::vector<float> expected(const Dataset &d, int64_t row, int64_t sy, int64_t sx, bool flip)
{
    const Shape &s = d.input_shape();
    const int64_t c = s[0], h = s[1], w = s[2];
    const Tensor x = d.sample(row).input;
    std::vector<float> out(static_cast<size_t>(c * h * w), 0.0f);
    for (int64_t p = 0; p < c; ++p)
        for (int64_t y = 0; y < h; ++y)
            for (int64_t xx = 0; xx < w; ++xx) {
                const int64_t cx = flip ? w - 1 - xx : xx;
                const int64_t from_y = y + sy, from_x = cx + sx;
                if (from_y >= 0 && from_y < h && from_x >= 0 && from_x < w)
                    out[static_cast<size_t>((p * h + y) * w + xx)] = x[(p * h + from_y) * w + from_x];
            }
    return out;
}

struct Seen {
    std::set<std::pair<int64_t, int64_t>> shifts;
    int64_t flips = 0, samples = 0;
};

// Finds, for every sample of an epoch, the shift and flip that explain it
// exactly; fails when none does.
Seen explain_epoch(const Dataset &d, BatchOptions options)
{
    Seen seen;
    BatchIterator it(d, options);
    const int64_t pad = options.augment.crop_padding, values = d.feature_count();
    while (const Batch *b = it.next()) {
        for (int64_t k = 0; k < b->size; ++k) {
            const std::vector<float> got(b->inputs.data() + k * values, b->inputs.data() + (k + 1) * values);
            bool found = false;
            for (int64_t sy = -pad; sy <= pad && !found; ++sy)
                for (int64_t sx = -pad; sx <= pad && !found; ++sx)
                    for (bool flip : {false, true})
                        if (!found && got == expected(d, b->rows[size_t(k)], sy, sx, flip)) {
                            found = true;
                            seen.shifts.insert({sy, sx});
                            seen.flips += flip;
                        }
            if (!found)
                return {};
            ++seen.samples;
        }
    }
    return seen;
}

} // namespace

class TestAugment : public QObject {
    Q_OBJECT

private slots:
    void crops_are_shifts_with_zeros()
    {
        const Dataset d = images(300, 2, 5, 4); // two planes, not square
        BatchOptions o;
        o.batch_size = 32;
        o.seed = 7;
        o.augment.crop_padding = 2;
        const Seen seen = explain_epoch(d, o);
        QCOMPARE(seen.samples, int64_t(300)); // every sample explained
        QCOMPARE(seen.flips, int64_t(0));
        QCOMPARE(seen.shifts.size(), size_t(25)); // all of -2..2 × -2..2 occur
    }

    void flips_happen_as_often_as_asked()
    {
        const Dataset d = images(2000, 1, 3, 5);
        BatchOptions o;
        o.batch_size = 50;
        o.seed = 8;
        o.augment.horizontal_flip = 0.3;
        const Seen seen = explain_epoch(d, o);
        QCOMPARE(seen.samples, int64_t(2000));
        QCOMPARE(seen.shifts.size(), size_t(1)); // no crop: no shift
        // 2000 draws of p = 0.3: within 4 standard deviations (82).
        QVERIFY2(std::abs(seen.flips - 600) < 82, qPrintable(QString::number(seen.flips)));
        o.augment.horizontal_flip = 1;
        QCOMPARE(explain_epoch(d, o).flips, int64_t(2000));
    }

    // A 1 × 3 × 3 image, padding 1, flipped: computed by hand for one draw.
    void values_by_hand()
    {
        const Dataset d = images(1, 1, 3, 3); // 1 2 3 / 4 5 6 / 7 8 9
        QCOMPARE(expected(d, 0, 1, -1, false), (std::vector<float>{0, 4, 5, 0, 7, 8, 0, 0, 0}));
        QCOMPARE(expected(d, 0, 1, -1, true), (std::vector<float>{5, 4, 0, 8, 7, 0, 0, 0, 0}));
        QCOMPARE(expected(d, 0, 0, 0, true), (std::vector<float>{3, 2, 1, 6, 5, 4, 9, 8, 7}));
    }

    void same_seed_same_batches_on_any_thread()
    {
        const Dataset d = images(100, 3, 4, 4);
        BatchOptions o;
        o.batch_size = 16;
        o.seed = 9;
        o.augment = {1, 0.5};
        auto epochs = [&](bool prefetch, uint64_t seed) {
            BatchOptions p = o;
            p.prefetch = prefetch;
            p.prefetch_on_busy_cores = prefetch;
            p.seed = seed;
            BatchIterator it(d, p);
            std::vector<float> all;
            for (int e = 0; e < 2; ++e)
                while (const Batch *b = it.next())
                    all.insert(all.end(), b->inputs.data(), b->inputs.data() + b->inputs.numel());
            return all;
        };
        const std::vector<float> a = epochs(false, 9);
        QCOMPARE(epochs(true, 9), a);
        QVERIFY(epochs(false, 10) != a);
        // Two epochs draw differently: the second half is not the first again
        // in the same order of samples.
        o.shuffle = false;
        BatchIterator it(d, o);
        std::vector<float> first, second;
        while (const Batch *b = it.next())
            first.insert(first.end(), b->inputs.data(), b->inputs.data() + b->inputs.numel());
        while (const Batch *b = it.next())
            second.insert(second.end(), b->inputs.data(), b->inputs.data() + b->inputs.numel());
        QVERIFY(first != second);
    }

    void refuses_what_is_not_an_image()
    {
        DatasetParts p;
        p.source = "rows.csv";
        p.count = 4;
        p.input_shape = Shape{6};
        p.floats.assign(24, 1.0f);
        const Dataset rows = Dataset::create(std::move(p));
        BatchOptions o;
        o.augment.horizontal_flip = 0.5;
        QString message;
        try {
            BatchIterator it(rows, o);
        } catch (const Error &e) {
            message = e.what();
        }
        QVERIFY2(message.contains("rows.csv") && message.contains("[6]") && message.contains("[C, H, W]"),
                 qPrintable(message));
        o.augment = {-1, 0};
        message.clear();
        try {
            BatchIterator it(images(2, 1, 2, 2), o);
        } catch (const Error &e) {
            message = e.what();
        }
        QVERIFY2(message.contains("crop_padding = -1"), qPrintable(message));
    }
};

QTEST_GUILESS_MAIN(TestAugment)
#include "tst_augment.moc"
