// MaxPool2D's backward finds each window's maximum again instead of reading
// oneDNN's workspace (plugins/layer/pool/max_route.hpp). It must route every
// gradient exactly where oneDNN's own backward does, ties included (the
// first maximum in the window's row-major order), in every layout a
// convolution or the host hands a pool, with overlapping and padded windows.
// Its forward must write what oneDNN's does, bit for bit: NaN, -inf, zeros
// of both signs, ties and padding included.
#include "max_route.hpp"

#include <QtTest>

#include <dnnl.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
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

// Windows that overlap (bf16 leaves them to oneDNN) and those that do not,
// padded or not, whole 2x2 and 3x3 windows (which the route's kernels know
// at compile time) and others, channels that fill the route's chunks of
// lanes, and odd ones (bf16 read one lane a word).
const Case kCases[] = {
    {"2x2 stride 2, as in the CNN", {4, 32, 26, 26}, 2, 2, 2, 2, 0, 0},
    {"2x2 stride 2, odd size (last row and column unused)", {3, 16, 11, 11}, 2, 2, 2, 2, 0, 0},
    {"3x3 stride 2 padding 1, 19 channels (padded blocks)", {2, 19, 7, 5}, 3, 3, 2, 2, 1, 1},
    {"2x3 stride 1, overlapping", {2, 5, 6, 7}, 2, 3, 1, 1, 0, 0},
    {"4x4 stride 1 padding 2, overlapping and padded", {1, 24, 5, 6}, 4, 4, 1, 1, 2, 2},
    {"3x3 stride 3 padding 1, 19 channels", {2, 19, 8, 7}, 3, 3, 3, 3, 1, 1},
    {"2x2 stride 2 padding 1, 64 channels", {2, 64, 7, 9}, 2, 2, 2, 2, 1, 1},
    {"3x2 stride 3, gaps between windows, 6 channels", {2, 6, 10, 11}, 3, 2, 3, 3, 0, 0},
    {"2x2 stride 2, 3 channels", {2, 3, 6, 8}, 2, 2, 2, 2, 0, 0},
};
constexpr int kCaseCount = sizeof kCases / sizeof kCases[0];

// Whether the case's windows overlap (a bf16 route refuses those).
bool overlaps(const Case &c) { return c.stride_h < c.kernel_h || c.stride_w < c.kernel_w; }

// The output size as oneDNN counts it (padding on both sides).
memory::dims out_dims(const Case &c)
{
    return {c.src[0], c.src[1], (c.src[2] + 2 * c.pad_h - c.kernel_h) / c.stride_h + 1,
            (c.src[3] + 2 * c.pad_w - c.kernel_w) / c.stride_w + 1};
}

// Fills m with value(i, plane) for each element i of its plain NCHW order,
// in plane (sample, channel) `plane`; through a plain tensor and a reorder,
// which zeroes a blocked layout's padding lanes as every oneDNN primitive
// leaves them.
template <class Value> void fill_with(memory &m, dnnl::stream &stream, Value &&value)
{
    const memory::desc plain_md(m.get_desc().dims(), memory::data_type::f32, Tag::nchw);
    memory plain(plain_md, m.get_engine());
    auto *p = static_cast<float *>(plain.get_data_handle());
    const memory::dims dims = plain_md.dims();
    const size_t n = plain_md.get_size() / sizeof(float), plane_size = static_cast<size_t>(dims[2] * dims[3]);
    for (size_t i = 0; i < n; ++i)
        p[i] = value(i, i / plane_size);
    dnnl::reorder(plain, m).execute(stream, plain, m);
    stream.wait();
}

// Fills with few distinct values, so that most windows hold ties (zeros of
// both signs among them).
void fill(memory &m, uint32_t seed, int distinct, dnnl::stream &stream)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pick(0, distinct - 1);
    fill_with(m, stream, [&](size_t, size_t) {
        const float v = static_cast<float>(pick(rng)) - 1.0f;
        return v == 0.0f && rng() % 2 ? -0.0f : v; // as ReLU writes: a tie of +0 and -0 is a tie
    });
}

// Gradients: integers, with -0 (oneDNN's backward adds each to a zeroed
// diff_src, which gives +0) and NaN.
void fill_gradients(memory &m, uint32_t seed, dnnl::stream &stream)
{
    std::mt19937 rng(seed);
    fill_with(m, stream, [&](size_t, size_t) {
        const uint32_t r = rng();
        if (r % 8 == 0)
            return -0.0f;
        if (r % 64 == 1)
            return std::numeric_limits<float>::quiet_NaN();
        return static_cast<float>(static_cast<int>(r / 64 % 1000) - 1);
    });
}

// What a max pool's forward must get right, a kind per plane in turn:
// ties of -1 and zeros of both signs (the first zero in window order wins);
// NaN and -inf among numbers (NaN never wins); only NaN and -inf (no number
// in the window); spread integers.
void fill_special(memory &m, uint32_t seed, dnnl::stream &stream)
{
    constexpr float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const float zeros[] = {-1.0f, 0.0f, -0.0f};
    const float mixed[] = {-inf, nan, 2.0f, 1.0f, -1.0f};
    const float nothing[] = {-inf, nan};
    std::mt19937 rng(seed);
    fill_with(m, stream, [&](size_t, size_t plane) {
        switch (plane % 4) {
        case 0: return zeros[rng() % 3];
        case 1: return mixed[rng() % 5];
        case 2: return nothing[rng() % 2];
        default: return static_cast<float>(static_cast<int>(rng() % 101) - 50);
        }
    });
}

// Writes 3 into a blocked layout's padding lanes (channels past the last,
// which oneDNN's primitives leave zero): oneDNN's bf16 pooling still writes
// zero there (its f32 one the padding's max: a bf16 case only).
void poison_padding(memory &m)
{
    const memory::desc md = m.get_desc();
    const dnnl_memory_desc_t &d = md.data;
    if (d.format_desc.blocking.inner_nblks != 1)
        return;
    const int64_t lanes = d.format_desc.blocking.inner_blks[0], channels = d.dims[1];
    const int64_t plane = d.dims[2] * d.dims[3] * lanes, groups = d.padded_dims[1] / lanes;
    const bool bf16 = md.data_type() == memory::data_type::bf16;
    const size_t count = md.get_size() / (bf16 ? 2 : 4);
    for (size_t i = 0; i < count; ++i) {
        const int64_t channel = static_cast<int64_t>(i / plane) % groups * lanes + static_cast<int64_t>(i) % lanes;
        if (channel < channels)
            continue;
        if (bf16)
            static_cast<uint16_t *>(m.get_data_handle())[i] = 0x4040; // 3 in bf16
        else
            static_cast<float *>(m.get_data_handle())[i] = 3.0f;
    }
}

// A tensor's bits in memory order (bf16's 16, f32's 32).
std::vector<uint32_t> as_bits(const memory &m)
{
    const memory::desc md = m.get_desc();
    if (md.data_type() == memory::data_type::f32) {
        const auto *p = static_cast<const uint32_t *>(m.get_data_handle());
        return std::vector<uint32_t>(p, p + md.get_size() / sizeof(uint32_t));
    }
    const auto *p = static_cast<const uint16_t *>(m.get_data_handle());
    return std::vector<uint32_t>(p, p + md.get_size() / sizeof(uint16_t));
}

// The rows of a test over layouts x cases x dtypes: bf16 for the windows
// that do not overlap, which a bf16 pool routes itself (overlapping ones
// are left to oneDNN there).
void add_rows()
{
    QTest::addColumn<int>("tag");
    QTest::addColumn<int>("which");
    QTest::addColumn<bool>("bf16");
    const Tag tags[] = {Tag::nchw, Tag::nhwc, Tag::nChw8c, Tag::nChw16c};
    const char *tag_names[] = {"nchw", "nhwc", "nChw8c", "nChw16c"};
    for (int t = 0; t < 4; ++t)
        for (int c = 0; c < kCaseCount; ++c)
            for (bool bf16 : {false, true})
                if (!bf16 || !overlaps(kCases[c]))
                    QTest::newRow((std::string(tag_names[t]) + " case " + std::to_string(c) + (bf16 ? " bf16" : ""))
                                      .c_str())
                        << static_cast<int>(tags[t]) << c << bf16;
}

// A row's case, its tensors' descriptors, window and route.
struct Row {
    const Case &c;
    int which; // the case's index, a seed of its data
    bool bf16;
    memory::desc src_md, dst_md;
    memory::dims strides, kernel, pads;
    std::optional<neurite::pool::MaxRoute> route;
};

// The current row of a test over add_rows().
Row fetched_row()
{
    QFETCH(int, tag);
    QFETCH(int, which);
    QFETCH(bool, bf16);
    const Case &c = kCases[which];
    const memory::data_type type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    const memory::desc src_md(c.src, type, static_cast<Tag>(tag)), dst_md(out_dims(c), type, static_cast<Tag>(tag));
    return {c,
            which,
            bf16,
            src_md,
            dst_md,
            {c.stride_h, c.stride_w},
            {c.kernel_h, c.kernel_w},
            {c.pad_h, c.pad_w},
            neurite::pool::MaxRoute::of(src_md, dst_md,
                                        {c.kernel_h, c.kernel_w, c.stride_h, c.stride_w, c.pad_h, c.pad_w})};
}

QString mismatch(const Case &c, int threads, size_t i, uint32_t got, uint32_t want)
{
    return QString("%1, %2 threads: element %3 is 0x%4, oneDNN gives 0x%5")
        .arg(c.name)
        .arg(threads)
        .arg(i)
        .arg(got, 0, 16)
        .arg(want, 0, 16);
}

} // namespace

class TestMaxRoute : public QObject {
    Q_OBJECT

private slots:
    void equals_onednn_data() { add_rows(); }

    void equals_onednn()
    {
        const Row row = fetched_row();
        const auto &[c, which, bf16, src_md, dst_md, strides, kernel, pads, route] = row;
        QVERIFY2(route.has_value(), c.name);
        dnnl::engine engine(dnnl::engine::kind::cpu, 0);
        dnnl::stream stream(engine);
        const dnnl::pooling_forward::primitive_desc fwd(
            {dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, src_md, dst_md, strides, kernel, pads,
             pads},
            engine);
        const dnnl::pooling_backward::primitive_desc bwd(
            {dnnl::algorithm::pooling_max, src_md, dst_md, strides, kernel, pads, pads}, engine, fwd);
        memory src(src_md, engine), dst(dst_md, engine), workspace(fwd.workspace_desc(), engine);
        memory diff_dst(dst_md, engine), expected(src_md, engine), routed(src_md, engine);
        fill(src, 7 + which, 3, stream);
        fill_gradients(diff_dst, 11 + which, stream);
        dnnl::pooling_forward(fwd).execute(
            stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, workspace}});
        dnnl::pooling_backward(bwd).execute(
            stream, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, expected}, {DNNL_ARG_WORKSPACE, workspace}});
        stream.wait();

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
            const std::vector<uint32_t> want = as_bits(expected), got = as_bits(routed);
            int64_t nonzero = 0;
            for (size_t i = 0; i < count; ++i) {
                if (got[i] != want[i])
                    QFAIL(qPrintable(mismatch(c, threads, i, got[i], want[i])));
                nonzero += want[i] != 0;
            }
            QVERIFY2(nonzero > 0, "the case routes some gradient");
        }
    }

    void forward_equals_onednn_data() { add_rows(); }

    // The route's forward against oneDNN's forward_inference (what the
    // plugin ran before), on 1 and 2 threads, every element in memory order
    // (a blocked layout's padding lanes too) compared as bits.
    void forward_equals_onednn()
    {
        const Row row = fetched_row();
        const auto &[c, which, bf16, src_md, dst_md, strides, kernel, pads, route] = row;
        QVERIFY2(route.has_value(), c.name);
        dnnl::engine engine(dnnl::engine::kind::cpu, 0);
        dnnl::stream stream(engine);
        const dnnl::pooling_v2_forward::primitive_desc fwd({dnnl::prop_kind::forward_inference,
                                                            dnnl::algorithm::pooling_max, src_md, dst_md, strides,
                                                            kernel, memory::dims{0, 0}, pads, pads},
                                                           engine);
        memory src(src_md, engine), expected(dst_md, engine), routed(dst_md, engine);
        fill_special(src, 5 + which, stream);
        if (bf16)
            poison_padding(src);
        std::memset(expected.get_data_handle(), 0, dst_md.get_size());
        dnnl::pooling_v2_forward(fwd).execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, expected}});
        stream.wait();
        // oneDNN 2.6 runs a kernel in C++ for bf16 nChw8c (ref) and bf16 nchw
        // of few channels (simple_nchw), whose window without a number gives
        // the lowest bf16 where its jit kernels (and the route) give -inf.
        const bool reference = std::string(fwd.impl_info_str()).rfind("jit", 0) != 0;
        const uint32_t no_number = bf16 ? 0xff80u : 0xff7fffffu, negative_zero = bf16 ? 0x8000u : 0x80000000u;

        for (int threads : {1, 2}) {
            std::memset(routed.get_data_handle(), 0x7f, dst_md.get_size()); // every element must be written
            if (bf16)
                route->forward(static_cast<const uint16_t *>(src.get_data_handle()),
                               static_cast<uint16_t *>(routed.get_data_handle()), threads);
            else
                route->forward(static_cast<const float *>(src.get_data_handle()),
                               static_cast<float *>(routed.get_data_handle()), threads);
            const std::vector<uint32_t> want = as_bits(expected), got = as_bits(routed);
            int64_t no_numbers = 0, negative_zeros = 0;
            for (size_t i = 0; i < want.size(); ++i) {
                const bool lowest_bf16 = reference && bf16 && want[i] == 0xff7fu && got[i] == no_number;
                if (got[i] != want[i] && !lowest_bf16)
                    QFAIL(qPrintable(mismatch(c, threads, i, got[i], want[i])));
                no_numbers += got[i] == no_number;
                negative_zeros += got[i] == negative_zero;
            }
            // The data reaches the cases that matter: windows of only NaN
            // and -inf, and ties of zeros won by a -0.
            QVERIFY2(no_numbers > 0 && negative_zeros > 0, c.name);
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

    // The forward the plugin runs instead of oneDNN's where it measured
    // faster: bf16 with channels grouped (blocked or last), f32 channels
    // last; not one value a group (nchw), nor f32 blocked.
    void forward_pays_where_measured()
    {
        const auto pays = [](memory::data_type type, Tag tag) {
            const memory::desc src({4, 32, 26, 26}, type, tag), dst({4, 32, 13, 13}, type, tag);
            return neurite::pool::MaxRoute::of(src, dst, {2, 2, 2, 2, 0, 0})->forward_pays();
        };
        QVERIFY(pays(memory::data_type::bf16, Tag::nChw16c));
        QVERIFY(pays(memory::data_type::bf16, Tag::nhwc));
        QVERIFY(pays(memory::data_type::f32, Tag::nhwc));
        QVERIFY(!pays(memory::data_type::f32, Tag::nChw16c));
        QVERIFY(!pays(memory::data_type::bf16, Tag::nchw));
        QVERIFY(!pays(memory::data_type::f32, Tag::nchw));
    }
};

QTEST_GUILESS_MAIN(TestMaxRoute)
#include "tst_max_route.moc"
