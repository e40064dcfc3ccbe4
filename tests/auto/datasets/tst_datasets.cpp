// The Dataset abstraction: checked construction, views that share samples,
// target encodings, normalization fitted on a training split, the seeded
// generators, splits, and the real Fashion-MNIST from its Debian package.
#include "data_test_support.h"

#include "neurite/core/data/dataset.h"
#include "neurite/core/data/generators.h"
#include "neurite/core/data/idx.h"
#include "neurite/core/data/split.h"

#include <QtTest>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>

using namespace neurite;
using namespace neurite::data;
using neurite::test::error_of;

namespace {

// Six samples of two features, classes 0 1 2 0 1 2.
Dataset small_classes()
{
    DatasetParts p;
    p.source = "small";
    p.count = 6;
    p.input_shape = Shape{2};
    p.floats = {0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15};
    p.target_kind = TargetKind::Classes;
    p.targets = {0, 1, 2, 0, 1, 2};
    p.class_names = {"a", "b", "c"};
    return Dataset::create(std::move(p));
}

std::vector<float> flat(const Tensor &t) { return t.to_vector(); }

} // namespace

class TestDatasets : public QObject {
    Q_OBJECT

private slots:
    void create_checks_its_parts()
    {
        DatasetParts p;
        p.source = "parts";
        p.count = 3;
        p.input_shape = Shape{2};
        p.floats = {1, 2, 3, 4, 5};
        QCOMPARE(error_of([&] { Dataset::create(p); }),
                 QString("parts: 3 samples of 2 features need 6 values, got 5"));
        p.floats.push_back(6);
        p.target_kind = TargetKind::Classes;
        p.targets = {0, 1.5f, 2};
        QCOMPARE(error_of([&] { Dataset::create(p); }),
                 QString("parts: sample 1 has class 1.5; classes are whole numbers from 0"));
        p.targets = {0, 1, 2};
        p.class_names = {"x", "y"};
        QCOMPARE(error_of([&] { Dataset::create(p); }),
                 QString("parts: 3 classes need as many names, got 2"));
        p.class_count = 2;
        QCOMPARE(error_of([&] { Dataset::create(p); }),
                 QString("parts: class 2 is outside the 2 classes declared"));
        p.class_count = 0;
        p.class_names = {};
        const Dataset d = Dataset::create(p);
        QCOMPARE(d.class_count(), 3);
        QCOMPARE(d.class_names(), (std::vector<std::string>{"0", "1", "2"}));
        p.bytes = {1, 2};
        QCOMPARE(error_of([&] { Dataset::create(p); }),
                 QString("parts: features are stored either as bytes or as floats, not both"));
    }

    void from_tensors_copies_inputs_and_targets()
    {
        const Tensor x = Tensor::from(Shape{3, 2}, {1, 2, 3, 4, 5, 6});
        const Tensor y = Tensor::from(Shape{3}, {0.5f, 1.5f, 2.5f});
        const Dataset d = Dataset::from_tensors(x, y, TargetKind::Values);
        QCOMPARE(d.size(), 3);
        QCOMPARE(d.target_shape(), (Shape{1}));
        QCOMPARE(flat(d.sample(2).input), (std::vector<float>{5, 6}));
        QCOMPARE(flat(d.targets()), (std::vector<float>{0.5f, 1.5f, 2.5f}));
        QCOMPARE(error_of([&] { Dataset::from_tensors(x, Tensor(Shape{2}), TargetKind::Values); }),
                 QString("inputs [3, 2] need targets with 3 rows, got [2]"));
    }

    void views_share_the_samples()
    {
        const Dataset d = small_classes();
        const std::vector<int64_t> picked = {5, 1, 3};
        const Dataset sub = d.subset(picked);
        QCOMPARE(sub.size(), 3);
        QCOMPARE(sub.storage_row(0), 5);
        QCOMPARE(sub.raw_floats(0).data(), d.raw_floats(5).data()); // no copy
        const Dataset inner = sub.slice(1, 2);
        QCOMPARE(inner.storage_row(0), 1);
        QCOMPARE(inner.storage_row(1), 3);
        const Dataset tail = d.slice(4, 2);
        QCOMPARE(tail.label(0), 1);
        QCOMPARE(tail.class_counts(), (std::vector<int64_t>{0, 1, 1}));
        QCOMPARE(error_of([&] { d.subset(std::vector<int64_t>{6}); }),
                 QString("small: row 6 is outside the 6 samples of this dataset"));
        QCOMPARE(error_of([&] { d.slice(4, 3); }),
                 QString("small: samples [4, 7) are outside the 6 samples of this dataset"));
    }

    void target_encodings()
    {
        const Dataset d = small_classes().slice(1, 2); // classes 1, 2
        QCOMPARE(d.target_shape(), Shape{});
        QCOMPARE(flat(d.targets()), (std::vector<float>{1, 2}));
        const Dataset one_hot = d.with_target_encoding(TargetEncoding::OneHot);
        QCOMPARE(one_hot.target_shape(), (Shape{3}));
        QCOMPARE(one_hot.targets().shape(), (Shape{2, 3}));
        QCOMPARE(flat(one_hot.targets()), (std::vector<float>{0, 1, 0, 0, 0, 1}));
        QCOMPARE(flat(one_hot.sample(1).target), (std::vector<float>{0, 0, 1}));
        const Dataset column = d.with_target_encoding(TargetEncoding::IndexColumn);
        QCOMPARE(column.targets().shape(), (Shape{2, 1}));
        std::vector<float> x(4), t(6);
        const std::vector<int64_t> rows = {1, 0};
        one_hot.gather(rows, x.data(), t.data());
        QCOMPARE(x, (std::vector<float>{2, 12, 1, 11}));
        QCOMPARE(t, (std::vector<float>{0, 0, 1, 0, 1, 0}));
    }

    void bytes_are_scaled_when_gathered()
    {
        DatasetParts p;
        p.count = 2;
        p.input_shape = Shape{2, 2};
        p.bytes = {9, 9, 0, 255, 51, 102, 204, 255, 0, 0}; // a 2-byte header, then the samples
        p.byte_offset = 2;
        p.byte_scale = 1.0f / 255.0f;
        const Dataset d = Dataset::create(std::move(p));
        QVERIFY(d.stored_as_bytes());
        QCOMPARE(d.raw_bytes(1)[0], uint8_t(204));
        const Tensor x = d.inputs();
        QCOMPARE(x.shape(), (Shape{2, 2, 2}));
        QCOMPARE(x[0], 0.0f);
        QCOMPARE(x[1], 1.0f);
        QVERIFY(std::fabs(x[2] - 0.2f) < 1e-7f);
        QCOMPARE(d.target_kind(), TargetKind::None);
        QVERIFY(!d.targets().defined());
    }

    void standardize_uses_training_statistics()
    {
        const Dataset d = small_classes();
        Splits parts;
        parts.train = d.slice(0, 4); // feature 0: 0 1 2 3, feature 1: 10 11 12 13
        parts.validation = d.slice(4, 1);
        parts.test = d.slice(5, 1);
        normalize(parts, NormalizeMethod::Standardize);
        const Normalization &n = parts.test.normalization();
        QCOMPARE(n.method, NormalizeMethod::Standardize);
        QCOMPARE(n.center, (std::vector<float>{1.5f, 11.5f}));
        const float sd = std::sqrt(1.25f);
        QVERIFY(std::fabs(n.spread[0] - sd) < 1e-6f);
        const Tensor train = parts.train.inputs();
        double mean = 0, squares = 0;
        for (int i = 0; i < 4; ++i) {
            mean += train.at(i, 0);
            squares += train.at(i, 0) * train.at(i, 0);
        }
        QVERIFY(std::fabs(mean) < 1e-6);
        QVERIFY(std::fabs(squares / 4 - 1) < 1e-6);
        // The test sample (5, 15) is transformed with the training mean and spread.
        const Tensor test = parts.test.sample(0).input;
        QVERIFY(std::fabs(test[0] - (5 - 1.5f) / sd) < 1e-5f);
        QVERIFY(std::fabs(test[1] - (15 - 11.5f) / sd) < 1e-5f);
        // Views of a normalized view keep the transform.
        QCOMPARE(parts.train.slice(0, 1).normalization().center, n.center);
    }

    void minmax_scales_to_unit_range()
    {
        DatasetParts p;
        p.count = 3;
        p.input_shape = Shape{2};
        p.bytes = {10, 7, 20, 7, 30, 7}; // feature 1 is constant
        const Dataset d = Dataset::create(std::move(p));
        const Normalization n = Normalization::fit(d, NormalizeMethod::MinMax);
        QCOMPARE(n.spread, (std::vector<float>{20, 1}));
        const Tensor x = d.with_normalization(n).inputs();
        QCOMPARE(flat(x), (std::vector<float>{0, 0, 0.5f, 0, 1, 0}));
        QCOMPARE(flat(d.with_normalization(n).with_normalization({}).inputs()),
                 (std::vector<float>{10, 7, 20, 7, 30, 7}));
        QCOMPARE(normalize_method_from_name("minmax"), NormalizeMethod::MinMax);
        QCOMPARE(error_of([] { normalize_method_from_name("zscore"); }),
                 QString("unknown normalization 'zscore' (use none, standardize or minmax)"));
    }

    void gates_are_truth_tables()
    {
        const std::pair<const char *, std::vector<float>> gates[] = {
            {"and", {0, 0, 0, 1}}, {"or", {0, 1, 1, 1}}, {"NAND", {1, 1, 1, 0}},
            {"nor", {1, 0, 0, 0}}, {"xor", {0, 1, 1, 0}}, {"xnor", {1, 0, 0, 1}}};
        for (const auto &[name, outputs] : gates) {
            const Dataset g = make_gate(name);
            QCOMPARE(g.size(), 4);
            QCOMPARE(flat(g.inputs()), (std::vector<float>{0, 0, 1, 0, 0, 1, 1, 1}));
            QCOMPARE(flat(g.targets()), outputs);
            QCOMPARE(g.class_count(), 2);
        }
        QCOMPARE(error_of([] { make_gate("nxor"); }),
                 QString("unknown gate 'nxor' (use and, or, nand, nor, xor or xnor)"));
    }

    void generators_are_deterministic()
    {
        const Dataset a = make_moons({200, 0.1, 5});
        const Dataset b = make_moons({200, 0.1, 5});
        const Dataset c = make_moons({200, 0.1, 6});
        QCOMPARE(flat(a.inputs()), flat(b.inputs()));
        QVERIFY(flat(a.inputs()) != flat(c.inputs()));
        QCOMPARE(a.class_counts(), (std::vector<int64_t>{100, 100}));
        QCOMPARE(a.input_shape(), (Shape{2}));

        const Dataset clouds = make_xor_clouds({202, 0.1, 1});
        QCOMPARE(clouds.class_counts(), (std::vector<int64_t>{101, 101})); // corners 51 51 50 50
        QCOMPARE(flat(clouds.inputs()), flat(make_xor_clouds({202, 0.1, 1}).inputs()));

        // Seed 002: 100 examples, two Gaussian distributions.
        const Dataset g = make_gaussians();
        QCOMPARE(g.size(), 100);
        QCOMPARE(g.class_counts(), (std::vector<int64_t>{50, 50}));
        double mean0 = 0;
        for (int64_t i = 0; i < 50; ++i)
            mean0 += g.sample(i).input[0] / 50.0;
        QVERIFY(std::fabs(mean0 + 1.0) < 0.25); // centred at −separation/2

        const Dataset s = make_spirals({301, 3, 1.5, 0.0, 2});
        QCOMPARE(s.class_count(), 3);
        QCOMPARE(s.class_counts(), (std::vector<int64_t>{101, 100, 100}));
        QVERIFY(std::fabs(s.sample(100).input[0] - 1.0f * std::cos(2 * M_PI * 1.5)) < 1e-5);

        SineOptions grid;
        grid.count = 5;
        grid.evenly_spaced = true;
        const Dataset sine = make_sine(grid);
        QCOMPARE(sine.target_kind(), TargetKind::Values);
        QCOMPARE(sine.target_shape(), (Shape{1}));
        QVERIFY(std::fabs(sine.sample(0).input[0] + M_PI) < 1e-6);
        QVERIFY(std::fabs(sine.sample(3).target[0] - std::sin(M_PI / 2)) < 1e-6);
        SineOptions noisy;
        noisy.noise = 0.05;
        noisy.seed = 3;
        QCOMPARE(flat(make_sine(noisy).targets()), flat(make_sine(noisy).targets()));
    }

    void generators_reject_bad_options()
    {
        QCOMPARE(error_of([] { make_moons({0, 0.1, 0}); }),
                 QString("moons: count must be from 2 to 100000000, got 0"));
        QCOMPARE(error_of([] { make_xor_clouds({10, -1, 0}); }),
                 QString("xor_clouds: noise must be a finite number ≥ 0, got -1"));
        QCOMPARE(error_of([] { make_spirals({10, 0, 1, 0, 0}); }),
                 QString("spirals: arms must be from 1 to 1000, got 0"));
        SineOptions backwards;
        backwards.x_min = 1;
        backwards.x_max = -1;
        QCOMPARE(error_of([&] { make_sine(backwards); }),
                 QString("sine: x_min must be below x_max, got 1 and -1"));
    }

    void permutation_is_seeded()
    {
        const std::vector<int64_t> p = permutation(1000, 11);
        std::vector<int64_t> sorted = p;
        std::sort(sorted.begin(), sorted.end());
        std::vector<int64_t> identity(1000);
        std::iota(identity.begin(), identity.end(), 0);
        QCOMPARE(sorted, identity);
        QCOMPARE(permutation(1000, 11), p);
        QVERIFY(permutation(1000, 12) != p);
        QVERIFY(p != identity);
    }

    void split_sizes_cover_every_sample()
    {
        const Dataset d = make_sine({1000, -1, 1, 1, 1, 0, false, 0});
        const Splits s = split(d, {0.7, 0.2, 0.1, 4, true});
        QCOMPARE(s.train.size(), 700);
        QCOMPARE(s.validation.size(), 200);
        QCOMPARE(s.test.size(), 100);
        std::set<int64_t> rows;
        for (const Dataset *part : {&s.train, &s.validation, &s.test})
            for (int64_t i = 0; i < part->size(); ++i)
                rows.insert(part->storage_row(i));
        QCOMPARE(rows.size(), size_t(1000));
        const Splits again = split(d, {0.7, 0.2, 0.1, 4, true});
        QCOMPARE(again.test.storage_row(0), s.test.storage_row(0));
        QVERIFY(split(d, {0.7, 0.2, 0.1, 5, true}).test.storage_row(0) != s.test.storage_row(0));
        // Fractions below 1 leave the rest out; rounding never overlaps.
        const Splits some = split(d.slice(0, 5), {0.5, 0.5, 0.0, 0, true});
        QCOMPARE(some.train.size() + some.validation.size(), 5);
        QCOMPARE(error_of([&] { split(d, {0.8, 0.3, 0.1, 0, true}); }),
                 QString("sine(count=1000, x=[-1, 1], frequency=1, amplitude=1, noise=0, seed=0): split "
                         "fractions must sum to at most 1, got train 0.8, validation 0.3, test 0.1 (sum 1.200000)"));
    }

    void split_is_stratified()
    {
        DatasetParts p;
        p.count = 1000;
        p.input_shape = Shape{1};
        p.floats.assign(1000, 0.0f);
        p.target_kind = TargetKind::Classes;
        for (int i = 0; i < 1000; ++i)
            p.targets.push_back(i < 900 ? 0.0f : (i < 970 ? 1.0f : 2.0f)); // 900 / 70 / 30
        const Dataset d = Dataset::create(std::move(p));
        const Splits s = split(d, {0.6, 0.2, 0.2, 9, true});
        auto near = [](const std::vector<int64_t> &got, std::vector<double> want) {
            for (size_t c = 0; c < got.size(); ++c)
                if (std::fabs(double(got[c]) - want[c]) > 1.0)
                    return false;
            return true;
        };
        QVERIFY(near(s.train.class_counts(), {540, 42, 18}));
        QVERIFY(near(s.validation.class_counts(), {180, 14, 6}));
        QVERIFY(near(s.test.class_counts(), {180, 14, 6}));
        // Unstratified, the rare class drifts: the option really changes the split.
        const Splits loose = split(d, {0.6, 0.2, 0.2, 9, false});
        QCOMPARE(loose.train.size(), 600);
    }

    void fashion_mnist_from_the_debian_package()
    {
        if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
            QSKIP("dataset-fashion-mnist is not installed");
        const TrainTest f = load_fashion_mnist();
        QCOMPARE(f.train.size(), 60000);
        QCOMPARE(f.test.size(), 10000);
        QCOMPARE(f.train.input_shape(), (Shape{1, 28, 28}));
        QVERIFY(f.train.stored_as_bytes()); // 47 MB, not 188
        QCOMPARE(f.train.class_counts(), std::vector<int64_t>(10, 6000));
        QCOMPARE(f.test.class_counts(), std::vector<int64_t>(10, 1000));
        QCOMPARE(f.train.class_names()[0], std::string("T-shirt/top"));
        QCOMPARE(f.train.class_names()[9], std::string("Ankle boot"));
        const Tensor first = f.train.sample(0).input;
        QCOMPARE(*std::max_element(first.begin(), first.end()), 1.0f);
        QCOMPARE(*std::min_element(first.begin(), first.end()), 0.0f);
        const Splits s = split(f.train, {0.9, 0.1, 0.0, 1, true});
        QCOMPARE(s.train.class_counts(), std::vector<int64_t>(10, 5400));
        QCOMPARE(s.validation.class_counts(), std::vector<int64_t>(10, 600));
        QCOMPARE(error_of([] { load_fashion_mnist("/nonexistent"); }),
                 QString("/nonexistent/train-images-idx3-ubyte.gz: no such file (the Debian package "
                         "dataset-fashion-mnist installs it; or pass the folder that holds the four files)"));
    }
};

QTEST_GUILESS_MAIN(TestDatasets)
#include "tst_datasets.moc"
