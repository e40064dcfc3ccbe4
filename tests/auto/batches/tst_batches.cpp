// The batch iterator: epochs are seeded permutations, the last batch is
// partial or dropped, the prefetching iterator yields exactly what the plain
// one does, it stops and restarts cleanly; and the foundation's model trains
// on every generator and on Fashion-MNIST through it.
#include "data_test_support.h"

#include "neurite/core/data/batch_iterator.h"
#include "neurite/core/data/generators.h"
#include "neurite/core/data/idx.h"
#include "neurite/core/data/split.h"

#include <QtTest>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

using namespace neurite;
using namespace neurite::data;
using neurite::test::error_of;

namespace {

// n samples of 3 bytes: sample i holds i mod 256, i / 256 and 7; class i mod 5.
Dataset numbered(int64_t n)
{
    DatasetParts p;
    p.source = "numbered";
    p.count = n;
    p.input_shape = Shape{3};
    p.target_kind = TargetKind::Classes;
    for (int64_t i = 0; i < n; ++i) {
        p.bytes.insert(p.bytes.end(), {uint8_t(i % 256), uint8_t(i / 256), 7});
        p.targets.push_back(float(i % 5));
    }
    return Dataset::create(std::move(p));
}

// Everything a batch carries, copied out, to compare two iterators.
struct Seen {
    std::vector<float> inputs, targets;
    std::vector<int64_t> rows;
    std::vector<Shape> shapes;
    std::vector<int64_t> positions; // epoch, index, size per batch
    bool operator==(const Seen &) const = default;
};

Seen run_epochs(const Dataset &d, BatchOptions options, int epochs)
{
    BatchIterator it(d, options);
    Seen seen;
    for (int e = 0; e < epochs; ++e)
        while (const Batch *b = it.next()) {
            seen.inputs.insert(seen.inputs.end(), b->inputs.begin(), b->inputs.end());
            if (b->targets.defined())
                seen.targets.insert(seen.targets.end(), b->targets.begin(), b->targets.end());
            seen.rows.insert(seen.rows.end(), b->rows.begin(), b->rows.end());
            seen.shapes.push_back(b->inputs.shape());
            seen.shapes.push_back(b->targets.shape());
            seen.positions.insert(seen.positions.end(), {b->epoch, b->index, b->size});
        }
    return seen;
}

} // namespace

class TestBatches : public QObject {
    Q_OBJECT

private slots:
    void an_epoch_visits_every_sample_once()
    {
        const Dataset d = numbered(103);
        BatchOptions options;
        options.batch_size = 10;
        options.seed = 3;
        BatchIterator it(d, options);
        QCOMPARE(it.batches_per_epoch(), 11);
        std::vector<std::vector<int64_t>> orders;
        for (int e = 0; e < 2; ++e) {
            QCOMPARE(it.epoch(), e);
            std::vector<int64_t> order;
            int64_t batches = 0;
            while (const Batch *b = it.next()) {
                QCOMPARE(b->epoch, int64_t(e));
                QCOMPARE(b->index, batches++);
                QCOMPARE(b->size, batches == 11 ? 3 : 10);
                QCOMPARE(b->inputs.shape(), (Shape{b->size, 3}));
                QCOMPARE(b->targets.shape(), (Shape{b->size}));
                for (int64_t k = 0; k < b->size; ++k) {
                    const int64_t row = b->rows[size_t(k)];
                    QCOMPARE(b->inputs.at(k, 0), float(row % 256));
                    QCOMPARE(b->targets[k], float(row % 5));
                    order.push_back(row);
                }
            }
            std::vector<int64_t> sorted = order;
            std::sort(sorted.begin(), sorted.end());
            std::vector<int64_t> identity(103);
            std::iota(identity.begin(), identity.end(), 0);
            QCOMPARE(sorted, identity);
            QCOMPARE(order, BatchIterator::epoch_order(103, options, e));
            orders.push_back(order);
        }
        QVERIFY(orders[0] != orders[1]); // a new order every epoch
    }

    void drop_last_and_unshuffled_order()
    {
        const Dataset d = numbered(103);
        BatchOptions options;
        options.batch_size = 10;
        options.drop_last = true;
        options.shuffle = false;
        BatchIterator it(d, options);
        QCOMPARE(it.batches_per_epoch(), 10);
        QCOMPARE(it.samples_per_epoch(), 100);
        int64_t expected_row = 0, batches = 0;
        while (const Batch *b = it.next()) {
            QCOMPARE(b->size, 10);
            for (int64_t row : b->rows)
                QCOMPARE(row, expected_row++);
            ++batches;
        }
        QCOMPARE(batches, 10);
        QCOMPARE(it.epoch(), 1);
    }

    void shuffling_is_reproducible_by_seed()
    {
        const Dataset d = numbered(500);
        BatchOptions options;
        options.batch_size = 32;
        options.seed = 21;
        options.prefetch = false;
        QVERIFY(run_epochs(d, options, 2) == run_epochs(d, options, 2));
        BatchOptions other = options;
        other.seed = 22;
        QVERIFY(run_epochs(d, options, 1).rows != run_epochs(d, other, 1).rows);
    }

    void prefetching_yields_the_plain_batches()
    {
        const Dataset bytes = numbered(1000);
        const Dataset normalized =
            bytes.with_normalization(Normalization::fit(bytes, NormalizeMethod::Standardize));
        const Dataset one_hot = bytes.with_target_encoding(TargetEncoding::OneHot).slice(0, 777);
        for (const Dataset *d : {&bytes, &normalized, &one_hot})
            for (int64_t batch : {1, 7, 64, 1000, 5000})
                for (bool drop_last : {false, true})
                    for (bool flatten : {false, true}) {
                        BatchOptions options;
                        options.batch_size = batch;
                        options.drop_last = drop_last;
                        options.flatten = flatten;
                        options.seed = uint64_t(batch);
                        options.prefetch = false;
                        const Seen plain = run_epochs(*d, options, 3);
                        options.prefetch = true;
                        options.prefetch_on_busy_cores = true; // a thread even on a busy machine
                        QVERIFY2(run_epochs(*d, options, 3) == plain,
                                 qPrintable(QString("batch %1 drop_last %2").arg(batch).arg(drop_last)));
                    }
    }

    // Threads hogging every core deschedule the prefetching thread in the
    // middle of a batch; the caller then takes batches over, and they must
    // still be the same batches, with the same values.
    void prefetching_under_cpu_contention()
    {
        const int64_t n = 6000, features = 1024; // 24 MB: a batch of 1024 takes a while
        Tensor x(Shape{n, features});
        for (int64_t i = 0; i < x.numel(); ++i)
            x[i] = float(i % 9973);
        const Dataset d = Dataset::from_tensors(x, Tensor(), TargetKind::None);
        BatchOptions options;
        options.batch_size = 1024;
        auto checksums = [&](BatchIterator &it, BatchStats *stats) {
            std::vector<double> sums;
            for (int e = 0; e < 3; ++e)
                while (const Batch *b = it.next()) {
                    sums.push_back(std::accumulate(b->inputs.begin(), b->inputs.end(), double(b->rows[0])));
                    // "Compute" a while, so the thread claims the next batch meanwhile.
                    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
                    while (std::chrono::steady_clock::now() < until) {
                    }
                }
            if (stats) {
                stats->ready += it.stats().ready;
                stats->waited += it.stats().waited;
                stats->filled_here += it.stats().filled_here;
                stats->taken_over += it.stats().taken_over;
            }
            return sums;
        };
        options.prefetch = false;
        BatchIterator plain(d, options);
        const std::vector<double> expected = checksums(plain, nullptr);
        std::atomic<bool> done{false};
        std::vector<std::thread> hogs;
        for (unsigned i = 0; i < std::max(2u, std::thread::hardware_concurrency()) + 1; ++i)
            hogs.emplace_back([&] {
                volatile uint64_t spin = 0;
                while (!done.load(std::memory_order_relaxed))
                    spin = spin + 1;
            });
        options.prefetch = true;
        options.prefetch_on_busy_cores = true;
        BatchStats stats;
        bool same = true;
        for (int round = 0; round < 3; ++round) {
            BatchIterator it(d, options);
            same = same && checksums(it, &stats) == expected;
        }
        done = true;
        for (std::thread &t : hogs)
            t.join();
        QVERIFY(same);
        // 6 batches and the end of each of 3 epochs, 3 times, each counted once.
        QCOMPARE(stats.ready + stats.waited + stats.filled_here + stats.taken_over, int64_t(3 * 3 * 7));
        qInfo("ready %lld, waited for %lld, filled by the caller %lld, taken over %lld",
              (long long)stats.ready, (long long)stats.waited, (long long)stats.filled_here,
              (long long)stats.taken_over);
    }

    void buffers_are_allocated_once()
    {
        const Dataset d = numbered(200);
        BatchOptions options;
        options.batch_size = 16;
        options.prefetch_on_busy_cores = true;
        std::set<const float *> buffers;
        BatchIterator prefetching(d, options);
        QVERIFY(prefetching.prefetching());
        for (int i = 0; i < 40; ++i)
            if (const Batch *b = prefetching.next())
                buffers.insert(b->inputs.data());
        QVERIFY(buffers.size() <= 3); // held, being filled, ready
        options.prefetch = false;
        buffers.clear();
        BatchIterator plain(d, options);
        QVERIFY(!plain.prefetching());
        for (int i = 0; i < 40; ++i)
            if (const Batch *b = plain.next())
                buffers.insert(b->inputs.data());
        QCOMPARE(buffers.size(), size_t(1));
    }

    void stop_restart_and_destroy_mid_epoch()
    {
        const Dataset d = numbered(300);
        BatchOptions options;
        options.batch_size = 8;
        options.seed = 5;
        options.prefetch_on_busy_cores = true;
        const Seen whole = run_epochs(d, options, 3);
        // Stopping (as a paused run does) and going on changes nothing.
        BatchIterator it(d, options);
        std::vector<int64_t> rows;
        for (int e = 0; e < 3; ++e)
            for (int k = 0; const Batch *b = it.next(); ++k) {
                rows.insert(rows.end(), b->rows.begin(), b->rows.end());
                if (k % 7 == 3)
                    it.stop();
            }
        QCOMPARE(rows, whole.rows);
        // restart(e) begins epoch e exactly as an uninterrupted run does.
        it.restart(2);
        const Batch *b = it.next();
        QCOMPARE(b->epoch, 2);
        const size_t epoch_size = whole.rows.size() / 3;
        QCOMPARE(std::vector<int64_t>(b->rows.begin(), b->rows.end()),
                 std::vector<int64_t>(whole.rows.begin() + 2 * long(epoch_size),
                                      whole.rows.begin() + 2 * long(epoch_size) + 8));
        // Destroyed right after starting, mid-epoch, or never used: no hang.
        for (int i = 0; i < 200; ++i) {
            BatchIterator short_lived(d, options);
            for (int k = 0; k < i % 4; ++k)
                short_lived.next();
        }
    }

    // restart(e, k): a resumed run skips the first k batches of epoch e
    // without gathering them and goes on exactly as an uninterrupted run.
    void restart_inside_an_epoch()
    {
        const Dataset d = numbered(300); // 38 batches of 8, the last one of 4
        for (const bool prefetch : {false, true}) {
            BatchOptions options;
            options.batch_size = 8;
            options.seed = 9;
            options.prefetch_on_busy_cores = prefetch;
            options.prefetch = prefetch;
            const Seen whole = run_epochs(d, options, 3);
            for (const int64_t skip : {int64_t(0), int64_t(5), int64_t(37), int64_t(38)}) {
                BatchIterator it(d, options);
                it.restart(1, skip);
                std::vector<int64_t> rows;
                int64_t gathered = 0;
                for (int e = 1; e < 3; ++e)
                    while (const Batch *b = it.next()) {
                        QCOMPARE(b->epoch, e);
                        rows.insert(rows.end(), b->rows.begin(), b->rows.end());
                        ++gathered;
                    }
                const auto from = whole.rows.begin() + 300 + std::min<int64_t>(8 * skip, 300);
                QCOMPARE(rows, std::vector<int64_t>(from, whole.rows.end()));
                QCOMPARE(gathered, 38 - skip + 38);
                QCOMPARE(it.stats().filled_here + it.stats().ready + it.stats().waited + it.stats().taken_over,
                         gathered + 2); // the ends of both epochs count as items too
            }
        }
        BatchIterator it(d, BatchOptions{}); // 10 batches of 32
        QCOMPARE(error_of([&] { it.restart(0, 11); }),
                 QString("numbered: cannot continue from batch index 11: an epoch has 10 batches"));
        QVERIFY(error_of([&] { it.restart(0, -1); }).contains("batch index -1"));
    }

    void edge_cases()
    {
        BatchOptions options;
        options.batch_size = 0;
        QCOMPARE(error_of([&] { BatchIterator(numbered(3), options); }),
                 QString("numbered: the batch size must be at least 1, got 0"));
        options.batch_size = 4;
        BatchIterator empty(numbered(10).slice(0, 0), options);
        QVERIFY(!empty.next());
        QVERIFY(!empty.next());
        QCOMPARE(empty.epoch(), 2);
        options.drop_last = true;
        BatchIterator too_small(numbered(3), options);
        QVERIFY(!too_small.next());
        // Unlabelled data has no targets; unflattened images keep their shape.
        DatasetParts p;
        p.count = 5;
        p.input_shape = Shape{2, 2};
        p.floats.assign(20, 1.0f);
        options.drop_last = false;
        options.flatten = false;
        BatchIterator images(Dataset::create(std::move(p)), options);
        const Batch *b = images.next();
        QCOMPARE(b->inputs.shape(), (Shape{4, 2, 2}));
        QVERIFY(!b->targets.defined());
        QCOMPARE(images.next()->size, 1);
    }

    void every_generator_trains_a_model()
    {
        const test::TrainingRun gate = test::train_mlp(make_gate("xor"), 8, 300, 4, 0.05);
        QVERIFY(gate.epoch_loss.back() < 0.2 * gate.epoch_loss.front());
        QCOMPARE(gate.accuracy, 1.0);
        const Dataset classified[] = {make_xor_clouds({200, 0.1, 1}), make_gaussians(),
                                      make_moons({200, 0.05, 2}), make_spirals({300, 3, 0.75, 0.02, 3})};
        for (const Dataset &d : classified) {
            const test::TrainingRun run = test::train_mlp(d, 32, 60, 16, 0.02);
            QVERIFY2(run.epoch_loss.back() < 0.5 * run.epoch_loss.front(), d.source().c_str());
            QVERIFY2(run.accuracy > 0.9, qPrintable(QString::fromStdString(d.source()) + " accuracy " +
                                                    QString::number(run.accuracy)));
        }
        // Seed 004: approximating sin(x) with a few hidden neurons.
        const test::TrainingRun sine = test::train_mlp(make_sine(), 20, 100, 16, 0.02);
        QVERIFY(sine.epoch_loss.back() < 0.1 * sine.epoch_loss.front());
    }

    void fashion_mnist_trains_through_the_iterator()
    {
        if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
            QSKIP("dataset-fashion-mnist is not installed");
        const Dataset train = load_fashion_mnist().train;
        const Splits s = split(train, {0.01, 0.0, 0.0, 1, true}); // 600 images, 60 per class
        QCOMPARE(s.train.class_counts(), std::vector<int64_t>(10, 60));
        const test::TrainingRun run = test::train_mlp(s.train, 64, 8, 32, 0.003);
        QVERIFY(run.epoch_loss.back() < 0.5 * run.epoch_loss.front());
        QVERIFY(run.accuracy > 0.8);
    }
};

QTEST_GUILESS_MAIN(TestBatches)
#include "tst_batches.moc"
