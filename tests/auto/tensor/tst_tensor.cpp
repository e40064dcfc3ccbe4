// The core Tensor's layouts: views share memory and carry strides, the
// row-major accessors refuse a strided view, a plugin sees its real strides
// (and the SDK's checks refuse it), and sizes that overflow are errors.
#include "test_support.h"

#include "neurite/core/strided.h"

#include <neurite/plugin.hpp>

#include <QtTest>

#include <cstdint>

using namespace neurite;

namespace {

// [[0, 1, 2], [3, 4, 5]]
Tensor iota23() { return Tensor::from(Shape{2, 3}, {0, 1, 2, 3, 4, 5}); }

std::vector<float> values(const Tensor &t) { return t.to_vector(); }

} // namespace

class TestTensor : public QObject {
    Q_OBJECT

private slots:
    void transpose_is_a_strided_view()
    {
        Tensor t = iota23();
        Tensor u = t.transpose(0, 1);
        QCOMPARE(u.shape(), (Shape{3, 2}));
        QCOMPARE(u.stride(0), int64_t(1));
        QCOMPARE(u.stride(1), int64_t(3));
        QVERIFY(!u.is_contiguous());
        QCOMPARE(values(u), (std::vector<float>{0, 3, 1, 4, 2, 5}));
        u.at(2, 0) = 20; // writes through to t
        QCOMPARE(t.at(0, 2), 20.0f);
        QVERIFY(u.contiguous().is_contiguous());
        QCOMPARE(values(u.contiguous()), (std::vector<float>{0, 3, 1, 4, 20, 5}));
    }

    void narrow_select_expand()
    {
        Tensor t = iota23();
        QCOMPARE(values(t.narrow(1, 1, 2)), (std::vector<float>{1, 2, 4, 5}));
        QVERIFY(!t.narrow(1, 1, 2).is_contiguous());
        QVERIFY(t.narrow(0, 1, 1).is_contiguous());
        QCOMPARE(values(t.select(1, 2)), (std::vector<float>{2, 5}));
        QCOMPARE(t.select(0, 1).select(0, 0).dim(), 0);
        QCOMPARE(values(t.select(0, 1).select(0, 0)), (std::vector<float>{3}));
        Tensor row = Tensor::from(Shape{3}, {7, 8, 9});
        Tensor e = row.expand(Shape{2, 3});
        QVERIFY(e.has_overlap());
        QCOMPARE(values(e), (std::vector<float>{7, 8, 9, 7, 8, 9}));
        QCOMPARE(values(t.unsqueeze(1).squeeze(1)), values(t));
        const int order[] = {1, 0};
        QCOMPARE(values(t.permute(order)), values(t.transpose(0, 1)));
        QVERIFY_THROWS_EXCEPTION(Error, e.copy_from(Tensor(Shape{2, 3})));
        QVERIFY_THROWS_EXCEPTION(Error, t.narrow(0, 1, INT64_MAX));
        QVERIFY_THROWS_EXCEPTION(Error, t.expand(Shape{2, 4}));
    }

    void row_major_access_refuses_strided_views()
    {
        const Tensor u = iota23().transpose(0, 1);
        QVERIFY_THROWS_EXCEPTION(Error, u.data());
        QVERIFY_THROWS_EXCEPTION(Error, u.begin());
        QVERIFY_THROWS_EXCEPTION(Error, u.reshape(Shape{6}));
        QVERIFY_THROWS_EXCEPTION(Error, u.first_non_finite());
        QVERIFY(u.data_ptr() != nullptr);
    }

    // A plugin gets the view's strides, never a strided view posing as
    // contiguous, and the SDK's require_contiguous refuses it.
    void plugins_see_real_strides()
    {
        const Tensor u = iota23().transpose(0, 1);
        const nrt_tensor d = u.desc();
        QCOMPARE(d.strides[0], int64_t(1));
        QCOMPARE(d.strides[1], int64_t(3));
        QVERIFY(!sdk::is_contiguous(d));
        QVERIFY_THROWS_EXCEPTION(sdk::Error, sdk::require_contiguous(d, "input"));
        QVERIFY(sdk::is_contiguous(iota23().desc()));
        // A contiguous view with a size-1 dimension states row-major strides.
        const nrt_tensor one = iota23().narrow(0, 1, 1).desc();
        QCOMPARE(one.strides[0], int64_t(3));

        auto dense = test::registry().create_layer("Dense", {{"inputs", 2.0}, {"outputs", 3.0}},
                                                   test::context(), 1);
        const Tensor x = Tensor::from(Shape{2, 3}, {1, 2, 3, 4, 5, 6}).transpose(0, 1); // [3, 2]
        Tensor y(dense->prepare(x.shape()));
        try {
            dense->forward_plain(x, y, false);
            QFAIL("Dense accepted a strided input");
        } catch (const Error &e) {
            QVERIFY2(std::string(e.what()).find("must be contiguous") != std::string::npos,
                     e.what());
        }
        dense->forward_plain(x.contiguous(), y, false); // the same values, contiguous: fine
    }

    void copy_between_layouts()
    {
        Tensor t = iota23();
        Tensor dst(Shape{3, 2});
        dst.copy_from(t.transpose(0, 1));
        QCOMPARE(values(dst), (std::vector<float>{0, 3, 1, 4, 2, 5}));
        // A transposed copy of a square matrix onto itself reads a snapshot.
        Tensor sq = Tensor::from(Shape{2, 2}, {1, 2, 3, 4});
        sq.copy_from(sq.transpose(0, 1));
        QCOMPARE(values(sq), (std::vector<float>{1, 3, 2, 4}));
        Tensor col = t.narrow(1, 0, 1);
        col.fill(-1);
        QCOMPARE(values(t), (std::vector<float>{-1, 1, 2, -1, 4, 5}));
    }

    void strided_loops_merge_contiguous_dimensions()
    {
        Tensor a = Tensor::from(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
        Tensor b = Tensor::from(Shape{3}, {10, 20, 30});
        Tensor out(Shape{2, 3});
        strided::map2(out, a, b, [](float x, float y) { return x + y; });
        QCOMPARE(values(out), (std::vector<float>{11, 22, 33, 14, 25, 36}));
        int rows = 0;
        int64_t sa[Shape::kMaxDims];
        strided::broadcast_strides(a, a.shape(), sa);
        strided::for_each_row<1>(
            a.shape(), {a.data_ptr()}, {sa},
            [&](const std::array<float *, 1> &, const std::array<int64_t, 1> &s, int64_t n) {
                ++rows;
                QCOMPARE(s[0], int64_t(1));
                QCOMPARE(n, int64_t(6));
            });
        QCOMPARE(rows, 1);
    }

    void zero_d_and_empty()
    {
        Tensor s(Shape{});
        QVERIFY(s.defined());
        QCOMPARE(s.numel(), int64_t(1));
        QVERIFY(!Tensor().defined());
        Tensor e(Shape{0, 3});
        QCOMPARE(e.numel(), int64_t(0));
        QVERIFY(e.is_contiguous());
        QCOMPARE(e.clone().shape(), (Shape{0, 3}));
    }

    void sizes_that_overflow_are_errors()
    {
        QVERIFY_THROWS_EXCEPTION(Error, Tensor(Shape{int64_t(1) << 62}));
        QVERIFY_THROWS_EXCEPTION(Error, Tensor(Shape{int64_t(1) << 31, int64_t(1) << 31, 4}));
        QVERIFY_THROWS_EXCEPTION(Error,
                                 (Shape{0, int64_t(1) << 62, int64_t(1) << 62}.checked_numel()));
        QCOMPARE((Shape{0, 5}.checked_numel()), int64_t(0));
        QVERIFY_THROWS_EXCEPTION(Error, checked_mul(INT64_MAX, 2));
        QVERIFY_THROWS_EXCEPTION(Error, checked_add(INT64_MAX, 1));
        QVERIFY_THROWS_EXCEPTION(Error, checked_bytes(int64_t(1) << 62, 8));
        QVERIFY_THROWS_EXCEPTION(Error, checked_bytes(-5, 4));
        Shape s;
        QVERIFY_THROWS_EXCEPTION(Error, s.push_back(-5));
    }
};

QTEST_GUILESS_MAIN(TestTensor)
#include "tst_tensor.moc"
