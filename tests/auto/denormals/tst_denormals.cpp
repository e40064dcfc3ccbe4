// Every thread that computes flushes denormals (FTZ/DAZ) unless the user opts
// out, and the opt-out really leaves them unset: the calling thread and its
// OpenMP teams as a plugin sees them during forward and backward (the probe
// plugin mxcsr_probe.cpp reads MXCSR in each), a thread a plugin creates
// (sdk::init_compute_thread) and the batch iterator's prefetch thread. The
// Lua switch and --keep-denormals are tested in tests/lua/denormals.lua, the
// window's run thread in tst_gui_window.
#include "test_support.h"

#include "neurite/core/data/batch_iterator.h"
#include "neurite/core/data/dataset.h"

#include <neurite/plugin.hpp>

#include <QtTest>

#include <xmmintrin.h>

#include <bit>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

using namespace neurite;

namespace {

const std::string kProbeLibrary = PROBE_DIR "/mxcsr_probe.so";

// The probe's columns (see mxcsr_probe.cpp); a mode is FTZ (1) + DAZ (2).
enum Column {
    kCaller,
    kTeam,
    kTeamFlushing,
    kTeamIeee,
    kGrownTeam,
    kGrownFlushing,
    kGrownIeee,
    kOwnThread,
    kOwnThreadUninitialised,
    kColumns
};
constexpr float kFlushing = 3, kIeee = 0;

// What is wrong with one report row, or nothing.
QString mismatches(const float *row, bool flush, const char *call)
{
    const float mode = flush ? kFlushing : kIeee;
    QStringList wrong;
    if (row[kCaller] != mode)
        wrong << QString("the calling thread has mode %1").arg(row[kCaller]);
    if (row[kTeam] < 2 || row[flush ? kTeamFlushing : kTeamIeee] != row[kTeam])
        wrong << QString("%1 of the team's %2 threads have the mode")
                     .arg(row[flush ? kTeamFlushing : kTeamIeee]).arg(row[kTeam]);
    if (row[kGrownTeam] != row[kTeam] + 2 || row[flush ? kGrownFlushing : kGrownIeee] != row[kGrownTeam])
        wrong << QString("%1 of the grown team's %2 threads have the mode")
                     .arg(row[flush ? kGrownFlushing : kGrownIeee]).arg(row[kGrownTeam]);
    if (row[kOwnThread] != mode)
        wrong << QString("the plugin's thread has mode %1 after init_compute_thread").arg(row[kOwnThread]);
    if (row[kOwnThreadUninitialised] != kFlushing - mode)
        wrong << "the probe cannot tell a thread of the other mode"; // the test would prove nothing
    if (wrong.isEmpty())
        return {};
    return QString("%1, expecting mode %2: %3").arg(call).arg(mode).arg(wrong.join("; "));
}

// forward and backward of the probe, as a training step calls them.
QString probe_step(Module &probe, bool flush)
{
    const Tensor x(Shape{2, kColumns});
    Tensor y(probe.prepare(x.shape()));
    probe.forward_plain(x, y, true);
    Tensor dx(x.shape());
    probe.backward_plain(x, y, Tensor(y.shape()), &dx);
    const QString forward = mismatches(y.data() + kColumns, flush, "forward");
    return forward.isEmpty() ? mismatches(dx.data(), flush, "backward") : forward;
}

// One subnormal float, made from its bits: arithmetic in a flushing thread
// (this one, say) would make it 0.
const float kSubnormal = std::bit_cast<float>(uint32_t{0x00100000});

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

} // namespace

class TestDenormals : public QObject {
    Q_OBJECT

private:
    Registry m_registry;
    std::shared_ptr<Module> m_probe;

private slots:
    void initTestCase()
    {
        QVERIFY2(m_registry.load_library(kProbeLibrary),
                 m_registry.refusals().empty() ? "" : m_registry.refusals()[0].reason.c_str());
        m_probe = m_registry.create_layer("MxcsrProbe", {}, test::context(), 0);
        QVERIFY(ComputeContext::flush_denormals()); // the default
    }

    void cleanup() { ComputeContext::set_flush_denormals(true); }

    void compute_threads_flush_by_default()
    {
        const QString wrong = probe_step(*m_probe, true);
        QVERIFY2(wrong.isEmpty(), qPrintable(wrong));
    }

    // Off, on and off again in one process: the change reaches threads that
    // already exist, in this thread's team and in a larger one.
    void opt_out_leaves_them_unset()
    {
        for (const bool flush : {false, true, false}) {
            ComputeContext::set_flush_denormals(flush);
            QCOMPARE(ComputeContext::flush_denormals(), flush);
            const QString wrong = probe_step(*m_probe, flush);
            QVERIFY2(wrong.isEmpty(), qPrintable(wrong));
        }
    }

    // The host's answer crosses the ABI, and a host before 1.1 (whose
    // nrt_host ends before the field) leaves a plugin's thread as it is.
    void sdk_reads_the_host_setting()
    {
        const sdk::Host host(test::context().host());
        ComputeContext::set_flush_denormals(false);
        QCOMPARE(host.flush_denormals(), std::optional<bool>(false));
        ComputeContext::set_flush_denormals(true);
        QCOMPARE(host.flush_denormals(), std::optional<bool>(true));

        nrt_host old = *test::context().host();
        old.struct_size = offsetof(nrt_host, flush_denormals);
        const sdk::Host old_host(&old);
        QCOMPARE(old_host.flush_denormals(), std::optional<bool>());
        bool untouched = false;
        std::thread([&] {
            sdk::set_flush_denormals(false);
            sdk::init_compute_thread(old_host);
            untouched = !sdk::denormals_flushed();
        }).join();
        QVERIFY(untouched);
    }

    void prefetch_thread_follows_the_setting_data()
    {
        QTest::addColumn<bool>("flush");
        QTest::newRow("flush") << true;
        QTest::newRow("keep") << false;
    }

    // The gather multiplies each stored float by 1, which turns a subnormal
    // into 0 in a thread that flushes. This thread computes in the other
    // mode meanwhile, and so does the prefetch thread it creates, so only
    // the batches the prefetch thread filled (after a pause, it has filled
    // the next one) show the mode it chose itself.
    void prefetch_thread_follows_the_setting()
    {
        QFETCH(bool, flush);
        ComputeContext::set_flush_denormals(flush);
        data::DatasetParts parts;
        parts.input_shape = {1};
        parts.count = 16;
        parts.floats.assign(16, kSubnormal);
        parts.source = "subnormals";
        const data::Dataset dataset = data::Dataset::create(std::move(parts));
        data::BatchOptions options;
        options.batch_size = 1;
        options.shuffle = false;
        options.prefetch = true;
        options.prefetch_on_busy_cores = true;

        sdk::set_flush_denormals(!flush);
        int prefetched = 0;
        QString wrong;
        {
            data::BatchIterator batches(dataset, options);
            QVERIFY(batches.prefetching());
            for (int i = 0; i < 12; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                const int64_t before = batches.stats().ready + batches.stats().waited;
                const data::Batch *b = batches.next();
                if (!b || batches.stats().ready + batches.stats().waited == before)
                    continue; // the end, or filled in this thread
                ++prefetched;
                const uint32_t expected = flush ? 0u : bits(kSubnormal);
                if (bits(b->inputs.data()[0]) != expected && wrong.isEmpty())
                    wrong = QString("batch %1 holds the bits %2, expected %3")
                                .arg(i).arg(bits(b->inputs.data()[0]), 0, 16).arg(expected, 0, 16);
            }
        }
        sdk::set_flush_denormals(flush);
        QVERIFY2(wrong.isEmpty(), qPrintable(wrong));
        QVERIFY2(prefetched >= 6, qPrintable(QString("only %1 batches came from the thread").arg(prefetched)));
    }
};

QTEST_GUILESS_MAIN(TestDenormals)
#include "tst_denormals.moc"
