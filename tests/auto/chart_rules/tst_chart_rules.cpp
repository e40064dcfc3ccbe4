// The chart rules the window's training monitor and neurite-run --plot share
// (neurite/core/chart_rules.h): which metrics share a chart, and the axes.
#include "neurite/core/chart_rules.h"

#include <QtTest>

#include <cmath>

using namespace neurite::charts;
using R = AxisRange;

namespace {

bool near(double a, double b) { return std::fabs(a - b) <= 1e-12 * std::max(1.0, std::fabs(b)); }

bool same_ticks(const std::vector<double> &got, const std::vector<double> &want)
{
    if (got.size() != want.size())
        return false;
    for (size_t i = 0; i < got.size(); ++i)
        if (!near(got[i], want[i]))
            return false;
    return true;
}

QString show(const R &r) { return QString("%1 .. %2, %3 ticks").arg(r.lo).arg(r.hi).arg(r.ticks); }

} // namespace

class TestChartRules : public QObject {
    Q_OBJECT

private slots:
    // Training and validation of a metric share a chart; the per-batch loss,
    // the learning rate and the speed have charts of their own.
    void validation_shares_its_metrics_chart()
    {
        QCOMPARE(chart_of("loss"), std::string("loss"));
        QCOMPARE(chart_of("val_loss"), std::string("loss"));
        QCOMPARE(chart_of("val_accuracy"), std::string("accuracy"));
        QCOMPARE(chart_of("batch_loss"), std::string("batch_loss"));
        QCOMPARE(chart_of("lr"), std::string("lr"));
        QCOMPARE(chart_of("samples_per_s"), std::string("samples_per_s"));
        QCOMPARE(chart_of("val_"), std::string("val_")); // nothing left to share with
        QVERIFY(is_validation("val_loss"));
        QVERIFY(!is_validation("batch_loss"));
        QVERIFY(!is_validation("interval_loss"));
    }

    void ranges_are_round()
    {
        QCOMPARE(nice_range(0, 1875, 5), (R{0, 2000, 5}));
        const R narrow = nice_range(0.52, 0.58, 5);
        QVERIFY(qFuzzyCompare(narrow.lo, 0.52) && qFuzzyCompare(narrow.hi, 0.58) && narrow.ticks == 4);
        QCOMPARE(nice_range(-3, 7, 5), (R{-5, 10, 4}));
        QCOMPARE(nice_range(0.1, 2.9, 5), (R{0, 3, 4}));
        QCOMPARE(nice_range(938, 2814, 5), (R{0, 3000, 4})); // steps of 500 would need 6
        QCOMPARE(nice_range(5, 5, 5), (R{5, 6, 2}));          // degenerate: no endless search
        QCOMPARE(max_ticks(100, 70), 3);
        QCOMPARE(max_ticks(1000, 70), 6);
    }

    // lr = 0.01 all run long is drawn around 0.01, not on -1 .. 1.
    void a_constant_series_gets_an_axis_around_its_value()
    {
        const R lr = value_axis(0.01, 0.01, 6);
        QVERIFY2(near(lr.lo, 0.008) && near(lr.hi, 0.012) && lr.ticks == 5, qPrintable(show(lr)));
        // Smoothing leaves rounding noise: still constant.
        const R noisy = value_axis(0.05, 0.05 * (1 + 1e-12), 6);
        QVERIFY2(noisy.lo >= 0.04 && noisy.lo <= 0.045 && noisy.hi >= 0.055 && noisy.hi <= 0.06, qPrintable(show(noisy)));
        const R negative = value_axis(-3, -3, 6);
        QVERIFY2(negative.lo <= -3.3 && negative.lo >= -3.5 && negative.hi >= -2.7 && negative.hi <= -2.5,
                 qPrintable(show(negative)));
        QCOMPARE(value_axis(0, 0, 6), (R{0, 1, 6}));
        QCOMPARE(value_axis(1, 0, 6), (R{0, 1, 6})); // no values yet
        QCOMPARE(value_axis(1e6, 1e6, 6), (R{800000, 1200000, 5}));
    }

    void value_axes_pad_and_keep_their_bounds()
    {
        const R loss = value_axis(0.17, 2, 6); // never below 0: 0 stays the floor
        QVERIFY2(loss.lo == 0 && loss.hi >= 2.09 && loss.hi <= 3, qPrintable(show(loss)));
        QCOMPARE(value_axis(0.5, 1, 6).hi, 1.0); // an accuracy is not drawn up to 1.2
        const R signed_range = value_axis(-1, 1, 6);
        QVERIFY2(signed_range.lo < -1 && signed_range.hi > 1, qPrintable(show(signed_range)));
    }

    void step_axes()
    {
        QCOMPARE(step_axis(0, 1100, 4), (R{0, 1500, 4}));
        QCOMPARE(step_axis(7, 7, 6), (R{7, 8, 6})); // one step
        QCOMPARE(step_axis(1, 0, 6), (R{0, 1, 6})); // none
    }

    // Whole decades; a constant spans the decades either side of it.
    void log_axes_are_whole_decades()
    {
        const R loss = log_value_axis(0.12, 2);
        QVERIFY(near(loss.lo, 0.1) && near(loss.hi, 10) && loss.ticks == 3);
        const R lr = log_value_axis(0.01, 0.01);
        QVERIFY2(near(lr.lo, 0.001) && near(lr.hi, 0.1), qPrintable(show(lr)));
        const R lr5 = log_value_axis(0.05, 0.05);
        QVERIFY2(near(lr5.lo, 0.01) && near(lr5.hi, 0.1), qPrintable(show(lr5)));
        const R none = log_value_axis(1, 0);
        QVERIFY(near(none.lo, 0.1) && near(none.hi, 1));
    }

    void ticks()
    {
        QVERIFY(same_ticks(linear_ticks(R{0, 2000, 5}), {0, 500, 1000, 1500, 2000}));
        const std::vector<double> around_zero = linear_ticks(R{-0.3, 0.3, 7});
        QCOMPARE(around_zero[3], 0.0); // not 5.55e-17
        // Two decades or fewer: 1, 2 and 5 of each.
        QVERIFY(same_ticks(log_ticks(R{0.01, 1, 3}, 6), {0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}));
        QVERIFY(same_ticks(log_ticks(R{0.1, 1000, 5}, 6), {0.1, 1, 10, 100, 1000}));
        // Ten decades on an axis with room for six labels: every second one.
        QVERIFY(same_ticks(log_ticks(R{1e-8, 1e2, 11}, 6), {1e-8, 1e-6, 1e-4, 1e-2, 1, 1e2}));
    }

    // TensorBoard's style: 100k, not 1e+05; digits only where ticks need them.
    void tick_labels_read_as_numbers()
    {
        using L = std::vector<std::string>;
        QCOMPARE(tick_labels({0.1, 0.2, 0.5, 1, 2, 5, 10}), (L{"0.1", "0.2", "0.5", "1", "2", "5", "10"}));
        QCOMPARE(tick_labels({0, 25000, 50000, 75000, 100000}), (L{"0", "25k", "50k", "75k", "100k"}));
        QCOMPARE(tick_labels({1e5, 1e6, 1e7}), (L{"100k", "1M", "10M"}));
        QCOMPARE(tick_labels({0, 1500, 3000}), (L{"0", "1.5k", "3k"}));
        QCOMPARE(tick_labels({0, 250, 500, 750}), (L{"0", "250", "500", "750"}));
        QCOMPARE(tick_labels({0.8, 0.85, 0.9, 0.95, 1}), (L{"0.8", "0.85", "0.9", "0.95", "1"}));
        QCOMPARE(tick_labels({1e-5, 1e-4, 1e-3}), (L{"1e-05", "0.0001", "0.001"}));
        QCOMPARE(tick_labels({-0.3, 0, 0.3}), (L{"-0.3", "0", "0.3"}));
    }
};

QTEST_APPLESS_MAIN(TestChartRules)
#include "tst_chart_rules.moc"
