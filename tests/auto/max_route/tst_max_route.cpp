// MaxPool2D's backward finds each window's maximum again instead of reading
// oneDNN's workspace (plugins/layer/pool/max_route.hpp). It must route every
// gradient exactly where oneDNN's own backward does, ties included (the
// first maximum in the window's row-major order), in every layout a
// convolution or the host hands a pool, with overlapping and padded windows.
#include "max_route.hpp"

#include <QtTest>

#include <dnnl.hpp>

#include <cstring>
#include <random>
#include <string>
#include <vector>

using dnnl::memory;
using Tag = memory::format_tag;

namespace {

struct Case {
    const char *name;
    memory::dims src; // N, C, H, W
    int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
};

// The output size as oneDNN counts it (padding on both sides).
memory::dims out_dims(const Case &c)
{
    return {c.src[0], c.src[1], (c.src[2] + 2 * c.pad_h - c.kernel_h) / c.stride_h + 1,
            (c.src[3] + 2 * c.pad_w - c.kernel_w) / c.stride_w + 1};
}

// Fills with few distinct values, so that most windows hold ties (zeros of
// both signs among them); through
// a plain tensor and a reorder, which zeroes a blocked layout's padding
// lanes as every oneDNN primitive leaves them.
void fill(memory &m, uint32_t seed, int distinct, dnnl::stream &stream)
{
    const memory::desc plain_md(m.get_desc().dims(), memory::data_type::f32, Tag::nchw);
    memory plain(plain_md, m.get_engine());
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pick(0, distinct - 1);
    auto *p = static_cast<float *>(plain.get_data_handle());
    const size_t n = plain_md.get_size() / sizeof(float);
    for (size_t i = 0; i < n; ++i) {
        p[i] = static_cast<float>(pick(rng)) - 1.0f;
        if (p[i] == 0.0f && rng() % 2)
            p[i] = -0.0f; // as ReLU writes: a tie of +0 and -0 is a tie
    }
    dnnl::reorder(plain, m).execute(stream, plain, m);
    stream.wait();
}

// A tensor's elements as floats (bf16 widened exactly), in memory order.
std::vector<float> as_floats(const memory &m)
{
    const memory::desc md = m.get_desc();
    if (md.data_type() == memory::data_type::f32) {
        const auto *p = static_cast<const float *>(m.get_data_handle());
        return std::vector<float>(p, p + md.get_size() / sizeof(float));
    }
    const auto *p = static_cast<const uint16_t *>(m.get_data_handle());
    std::vector<float> out(md.get_size() / sizeof(uint16_t));
    for (size_t i = 0; i < out.size(); ++i) {
        const uint32_t bits = static_cast<uint32_t>(p[i]) << 16;
        std::memcpy(&out[i], &bits, sizeof(float));
    }
    return out;
}

} // namespace

class TestMaxRoute : public QObject {
    Q_OBJECT

private slots:
    // bf16 rows: the windows that do not overlap (cases 0 and 1), which a
    // bf16 pool routes itself; overlapping ones are left to oneDNN there.
    void equals_onednn_data()
    {
        QTest::addColumn<int>("tag");
        QTest::addColumn<int>("which");
        QTest::addColumn<bool>("bf16");
        const Tag tags[] = {Tag::nchw, Tag::nhwc, Tag::nChw8c, Tag::nChw16c};
        const char *tag_names[] = {"nchw", "nhwc", "nChw8c", "nChw16c"};
        for (int t = 0; t < 4; ++t)
            for (int c = 0; c < 5; ++c)
                for (bool bf16 : {false, true})
                    if (!bf16 || c < 2)
                        QTest::newRow((std::string(tag_names[t]) + " case " + std::to_string(c) + (bf16 ? " bf16" : ""))
                                          .c_str())
                            << static_cast<int>(tags[t]) << c << bf16;
    }

    void equals_onednn()
    {
        QFETCH(int, tag);
        QFETCH(int, which);
        QFETCH(bool, bf16);
        const Case cases[] = {
            {"2x2 stride 2, as in the CNN", {4, 32, 26, 26}, 2, 2, 2, 2, 0, 0},
            {"2x2 stride 2, odd size (last row and column unused)", {3, 16, 11, 11}, 2, 2, 2, 2, 0, 0},
            {"3x3 stride 2 padding 1, 19 channels (padded blocks)", {2, 19, 7, 5}, 3, 3, 2, 2, 1, 1},
            {"2x3 stride 1, overlapping", {2, 5, 6, 7}, 2, 3, 1, 1, 0, 0},
            {"4x4 stride 1 padding 2, overlapping and padded", {1, 24, 5, 6}, 4, 4, 1, 1, 2, 2},
        };
        const Case &c = cases[which];
        dnnl::engine engine(dnnl::engine::kind::cpu, 0);
        dnnl::stream stream(engine);
        const memory::data_type type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
        const memory::desc src_md(c.src, type, static_cast<Tag>(tag));
        const memory::desc dst_md(out_dims(c), type, static_cast<Tag>(tag));
        const memory::dims strides{c.stride_h, c.stride_w}, kernel{c.kernel_h, c.kernel_w}, pads{c.pad_h, c.pad_w};
        const dnnl::pooling_forward::primitive_desc fwd(
            {dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, src_md, dst_md, strides, kernel, pads,
             pads},
            engine);
        const dnnl::pooling_backward::primitive_desc bwd(
            {dnnl::algorithm::pooling_max, src_md, dst_md, strides, kernel, pads, pads}, engine, fwd);
        memory src(src_md, engine), dst(dst_md, engine), workspace(fwd.workspace_desc(), engine);
        memory diff_dst(dst_md, engine), expected(src_md, engine), routed(src_md, engine);
        fill(src, 7 + which, 3, stream);
        fill(diff_dst, 11 + which, 1000, stream);
        dnnl::pooling_forward(fwd).execute(
            stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, workspace}});
        dnnl::pooling_backward(bwd).execute(
            stream, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, expected}, {DNNL_ARG_WORKSPACE, workspace}});
        stream.wait();

        const auto route = neurite::pool::MaxRoute::of(
            src_md, dst_md, {c.kernel_h, c.kernel_w, c.stride_h, c.stride_w, c.pad_h, c.pad_w});
        QVERIFY2(route.has_value(), c.name);
        const size_t count = src_md.get_size() / (bf16 ? 2 : sizeof(float));
        for (int threads : {1, 2}) {
            std::memset(routed.get_data_handle(), 0x7f, src_md.get_size()); // every element must be written
            if (bf16)
                route->backward(static_cast<const uint16_t *>(src.get_data_handle()),
                                static_cast<const uint16_t *>(dst.get_data_handle()),
                                static_cast<const uint16_t *>(diff_dst.get_data_handle()),
                                static_cast<uint16_t *>(routed.get_data_handle()), threads);
            else
                route->backward(static_cast<const float *>(src.get_data_handle()),
                                static_cast<const float *>(dst.get_data_handle()),
                                static_cast<const float *>(diff_dst.get_data_handle()),
                                static_cast<float *>(routed.get_data_handle()), threads);
            const std::vector<float> want = as_floats(expected), got = as_floats(routed);
            int64_t nonzero = 0;
            for (size_t i = 0; i < count; ++i) {
                if (got[i] != want[i])
                    QFAIL(qPrintable(QString("%1, %2 threads: element %3 is %4, oneDNN gives %5")
                                         .arg(c.name)
                                         .arg(threads)
                                         .arg(i)
                                         .arg(got[i])
                                         .arg(want[i])));
                nonzero += want[i] != 0;
            }
            QVERIFY2(nonzero > 0, "the case routes some gradient");
        }
    }

    // A layout blocked on something else than channels is left to oneDNN, so
    // are overlapping bf16 windows and an input and output of two dtypes.
    void refuses_other_blocking()
    {
        const memory::desc blocked_n({16, 16, 4, 4}, memory::data_type::f32, Tag::NChw16n16c);
        const memory::desc dst({16, 16, 2, 2}, memory::data_type::f32, Tag::NChw16n16c);
        QVERIFY(!neurite::pool::MaxRoute::of(blocked_n, dst, {2, 2, 2, 2, 0, 0}).has_value());
        // bf16 with overlapping windows: oneDNN's backward sums and rounds.
        const memory::desc bf16({1, 16, 5, 5}, memory::data_type::bf16, Tag::nChw16c);
        const memory::desc bf16_dst({1, 16, 2, 2}, memory::data_type::bf16, Tag::nChw16c);
        QVERIFY(!neurite::pool::MaxRoute::of(bf16, bf16_dst, {3, 3, 2, 2, 0, 0}).has_value());
        QVERIFY(neurite::pool::MaxRoute::of(bf16, bf16_dst, {2, 2, 2, 2, 0, 0}).has_value());
        const memory::desc f32_dst({1, 16, 2, 2}, memory::data_type::f32, Tag::nChw16c);
        QVERIFY(!neurite::pool::MaxRoute::of(bf16, f32_dst, {2, 2, 2, 2, 0, 0}).has_value());
    }
};

QTEST_GUILESS_MAIN(TestMaxRoute)
#include "tst_max_route.moc"
