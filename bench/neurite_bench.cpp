// neurite-bench: trains the Fashion-MNIST MLP 784-256-128-10 (ReLU,
// cross-entropy on logits, SGD with momentum) and prints one line per case:
//   mlp_b64 samples_per_s=... gflops=... test_acc=...
// Throughput is the median over epochs after the first (which builds the
// primitives and touches fresh memory); accuracy is on the 10,000 test images.
// --phases adds the median time of each part of a step.
#include "neurite/core/compute_context.h"
#include "neurite/core/error.h"
#include "neurite/core/loss.h"
#include "neurite/core/optimizer.h"
#include "neurite/core/registry.h"
#include "neurite/core/sequential.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <zlib.h>

namespace {

// Interim IDX reader for the benchmark only; the dataset loaders replace it.
struct Idx {
    std::vector<uint8_t> bytes;
    std::vector<int> dims;
};

Idx read_idx_gz(const std::string &path)
{
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f)
        throw neurite::Error(path + ": cannot open (install dataset-fashion-mnist)");
    std::vector<uint8_t> all;
    uint8_t chunk[1 << 16];
    int n;
    while ((n = gzread(f, chunk, sizeof chunk)) > 0)
        all.insert(all.end(), chunk, chunk + n);
    gzclose(f);
    if (all.size() < 4 || all[0] != 0 || all[1] != 0 || all[2] != 0x08)
        throw neurite::Error(path + ": not an unsigned-byte IDX file");
    Idx idx;
    const int ndims = all[3];
    size_t offset = 4, count = 1;
    for (int i = 0; i < ndims; ++i, offset += 4) {
        int d = (all[offset] << 24) | (all[offset + 1] << 16) | (all[offset + 2] << 8) | all[offset + 3];
        idx.dims.push_back(d);
        count *= static_cast<size_t>(d);
    }
    if (all.size() != offset + count)
        throw neurite::Error(path + ": truncated");
    idx.bytes.assign(all.begin() + static_cast<long>(offset), all.end());
    return idx;
}

struct Split {
    std::vector<uint8_t> pixels; // n × 784
    std::vector<uint8_t> labels;
    int64_t n = 0;
};

Split load(const std::string &dir, const char *images, const char *labels)
{
    Idx x = read_idx_gz(dir + "/" + images);
    Idx y = read_idx_gz(dir + "/" + labels);
    Split s;
    s.n = x.dims[0];
    s.pixels = std::move(x.bytes);
    s.labels = std::move(y.bytes);
    return s;
}

void gather(const Split &s, const int64_t *idx, int64_t n, neurite::Tensor &x, neurite::Tensor &y)
{
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t *src = s.pixels.data() + idx[i] * 784;
        float *dst = x.data() + i * 784;
        for (int j = 0; j < 784; ++j)
            dst[j] = static_cast<float>(src[j]) * (1.0f / 255.0f);
        y[i] = s.labels[static_cast<size_t>(idx[i])];
    }
}

double accuracy(neurite::Sequential &model, const Split &test)
{
    const int64_t batch = 1000;
    neurite::Tensor x(neurite::Shape{batch, 784}), y(neurite::Shape{batch});
    std::vector<int64_t> idx(static_cast<size_t>(batch));
    int64_t correct = 0;
    model.eval();
    for (int64_t first = 0; first + batch <= test.n; first += batch) {
        std::iota(idx.begin(), idx.end(), first);
        gather(test, idx.data(), batch, x, y);
        const neurite::Tensor &out = model.forward(x);
        for (int64_t i = 0; i < batch; ++i) {
            const float *row = out.data() + i * 10;
            correct += (std::max_element(row, row + 10) - row) == static_cast<int64_t>(y[i]);
        }
    }
    model.train();
    return static_cast<double>(correct) / static_cast<double>(test.n / batch * batch);
}

void run_case(neurite::Registry &reg, const Split &train, const Split &test, int64_t batch,
              int epochs, bool phases)
{
    neurite::ComputeContext ctx;
    neurite::Sequential model;
    const int sizes[] = {784, 256, 128, 10};
    for (int l = 0; l < 3; ++l)
        model.add(reg.create_layer("Dense",
                                   {{"inputs", double(sizes[l])}, {"outputs", double(sizes[l + 1])},
                                    {"activation", std::string(l < 2 ? "relu" : "identity")}},
                                   ctx, 1234 + static_cast<uint64_t>(l)));
    auto loss = reg.create_loss("CrossEntropyLoss", {}, ctx);
    auto opt = reg.create_optimizer("SGD", {{"lr", 0.05}, {"momentum", 0.9}}, ctx);
    opt->attach(model.parameters());

    neurite::Tensor x(neurite::Shape{batch, 784}), y(neurite::Shape{batch});
    neurite::Tensor dlogits(neurite::Shape{batch, 10});
    std::vector<int64_t> order(static_cast<size_t>(train.n));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(42);
    const int64_t steps = train.n / batch;

    double flops_per_sample = 0;
    for (int l = 0; l < 3; ++l)
        flops_per_sample += 2.0 * sizes[l] * sizes[l + 1] * (l == 0 ? 2 : 3);

    std::vector<double> rates;
    double last_loss = 0;
    constexpr size_t kPhases = 5;
    const char *phase_names[kPhases] = {"zero_grad", "forward", "loss", "backward", "step"};
    std::vector<double> phase_us[kPhases];
    for (int e = 0; e < epochs; ++e) {
        std::shuffle(order.begin(), order.end(), rng);
        double compute_seconds = 0;
        for (int64_t s = 0; s < steps; ++s) {
            gather(train, order.data() + s * batch, batch, x, y);
            using clock = std::chrono::steady_clock;
            const auto t0 = clock::now();
            model.zero_grad();
            const auto t1 = clock::now();
            const neurite::Tensor &logits = model.forward(x);
            const auto t2 = clock::now();
            last_loss = loss->forward(logits, y);
            loss->backward(logits, y, dlogits);
            const auto t3 = clock::now();
            model.backward(x, dlogits, false);
            const auto t4 = clock::now();
            opt->step();
            const auto t5 = clock::now();
            compute_seconds += std::chrono::duration<double>(t5 - t0).count();
            const clock::time_point marks[] = {t0, t1, t2, t3, t4, t5};
            for (size_t p = 0; p < kPhases; ++p)
                phase_us[p].push_back(std::chrono::duration<double, std::micro>(marks[p + 1] - marks[p]).count());
        }
        rates.push_back(static_cast<double>(steps * batch) / compute_seconds);
    }
    std::vector<double> measured(rates.begin() + (rates.size() > 1 ? 1 : 0), rates.end());
    std::sort(measured.begin(), measured.end());
    const double median = measured[measured.size() / 2];
    std::printf("mlp_b%lld samples_per_s=%.0f gflops=%.1f test_acc=%.4f loss=%.4f epochs=%d threads=%d\n",
                static_cast<long long>(batch), median, median * flops_per_sample * 1e-9,
                accuracy(model, test), last_loss, epochs, neurite::ComputeContext::num_threads());
    if (phases) {
        std::printf("  median per step:");
        for (size_t p = 0; p < kPhases; ++p) {
            auto &v = phase_us[p];
            std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
            std::printf(" %s=%.1fus", phase_names[p], v[v.size() / 2]);
        }
        std::printf("\n");
    }
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv)
{
    int epochs = 5;
    bool phases = false;
    std::vector<int64_t> batches = {64, 256};
    std::string dir = NEURITE_FASHION_MNIST_DIR;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "neurite-bench: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--epochs")
            epochs = std::max(1, std::atoi(next().c_str()));
        else if (a == "--batch")
            batches = {std::atoll(next().c_str())};
        else if (a == "--threads")
            neurite::ComputeContext::set_num_threads(std::atoi(next().c_str()));
        else if (a == "--phases")
            phases = true;
        else if (a == "--data")
            dir = next();
        else {
            std::fprintf(stderr, "usage: neurite-bench [--epochs N] [--batch N] [--threads N] [--data DIR] [--phases]\n");
            return 2;
        }
    }
    try {
        neurite::Registry reg;
        reg.load_default_paths();
        for (const auto &r : reg.refusals())
            std::fprintf(stderr, "neurite-bench: plugin %s %s\n", r.file.c_str(), r.reason.c_str());
        const Split train = load(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
        const Split test = load(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
        for (int64_t b : batches)
            run_case(reg, train, test, b, epochs, phases);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "neurite-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
