// neurite-bench: loads Fashion-MNIST through the IDX loader and trains, from
// the batch iterator, the MLP 784-256-128-10 and the CNN of issue 13 (conv
// 1->32 3x3, ReLU, max-pool 2; conv 32->64 3x3, ReLU, max-pool 2; Dense
// 1600->128, ReLU; Dense 128->10; the ReLUs fused into the layers before
// them), with cross-entropy on logits and SGD with momentum 0.9, one line
// per case:
//   mlp_b64 samples_per_s=... gflops=... test_acc=... with_data_samples_per_s=...
//   cnn_b64 samples_per_s=... (the same fields)
// Throughput is the median over epochs after the first (which builds the
// primitives and touches fresh memory); accuracy is on the 10,000 test images.
// samples_per_s counts the time of the model's steps, as it always has;
// with_data_samples_per_s also counts waiting for each batch (the "data" phase).
// First, a line for the iterator alone (no model), the median of its epochs,
// through the prefetching thread and gathered in the calling thread:
//   batches_b64 samples_per_s=... plain_samples_per_s=... load_s=...
// --phases adds the median time of each part of a step, of each layer's
// forward and backward (its input conversions included; a bf16 model rounds
// its own input before the first layer, inside "forward"), and where the
// batches came from; --net mlp|cnn|all chooses the cases; --precision bf16
// runs the models in mixed precision (Model::set_precision: bf16 Dense and
// activations, f32 master weights, cases named mlp_b64_bf16, ...), and has
// the CNN's convolutions multiply in bfloat16 (Conv2D's precision), handing
// bf16 tensors to the pools and to each other; --precision both runs
// each case in f32 and then in bf16, side by side. A first line names the
// bf16 kernels oneDNN runs (AMX, AVX512-BF16 or none); --prefetch auto|thread|off chooses how the training loop's
// iterator gathers (auto: a thread only when a core is free for it).
// --keep-denormals computes with subnormal floats instead of flushing them to
// zero, to measure what the default (FTZ/DAZ) saves. --steps N ends each
// epoch after N steps, for short profiling runs on a busy machine.
#include "neurite/core/compute_context.h"
#include "neurite/core/data/batch_iterator.h"
#include "neurite/core/data/idx.h"
#include "neurite/core/error.h"
#include "neurite/core/loss.h"
#include "neurite/core/optimizer.h"
#include "neurite/core/arena.h"
#include "neurite/core/precision.h"
#include "neurite/core/registry.h"
#include "neurite/core/sequential.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

// The iterator alone: epochs of batches gathered and handed over, nothing
// computed on them, so this is the most the data side can feed a model.
double iterator_rate(const neurite::data::Dataset &train, int64_t batch, int epochs, bool prefetch)
{
    neurite::data::BatchOptions options;
    options.batch_size = batch;
    options.seed = 42;
    options.prefetch = prefetch;
    options.prefetch_on_busy_cores = true; // nothing computes here: measure the thread itself
    neurite::data::BatchIterator batches(train, options);
    std::vector<double> rates;
    for (int e = 0; e < std::max(epochs, 3); ++e) {
        const auto start = Clock::now();
        int64_t samples = 0;
        while (const neurite::data::Batch *b = batches.next())
            samples += b->size;
        rates.push_back(static_cast<double>(samples) / seconds_since(start));
    }
    return median(rates);
}

// The batch as the network reads it: flat images, or [N, 1, 28, 28].
neurite::Tensor as_input(const neurite::Tensor &flat, const neurite::Shape &sample)
{
    neurite::Shape shape{flat.shape()[0]};
    for (int64_t d : sample)
        shape.push_back(d);
    return neurite::Tensor::view(const_cast<float *>(flat.data()), shape);
}

double accuracy(neurite::Sequential &model, const neurite::data::Dataset &test, const neurite::Shape &sample)
{
    neurite::data::BatchOptions options;
    options.batch_size = 1000;
    options.shuffle = false;
    options.prefetch = false;
    neurite::data::BatchIterator batches(test, options);
    int64_t correct = 0;
    model.eval();
    while (const neurite::data::Batch *b = batches.next()) {
        const neurite::Tensor &out = model.forward(as_input(b->inputs, sample));
        for (int64_t i = 0; i < b->size; ++i) {
            const float *row = out.data() + i * 10;
            correct += (std::max_element(row, row + 10) - row) == static_cast<int64_t>(b->targets[i]);
        }
    }
    model.train();
    return static_cast<double>(correct) / static_cast<double>(test.size());
}

// Moves the step's time of every layer into the lists and clears it.
void take_layer_times(neurite::Sequential &model, std::vector<std::vector<double>> &forward_us,
                      std::vector<std::vector<double>> &backward_us)
{
    for (int l = 0; l < model.size(); ++l) {
        neurite::Model::NodeTime *t = model.node_time(l);
        forward_us[static_cast<size_t>(l)].push_back(t->forward_us);
        backward_us[static_cast<size_t>(l)].push_back(t->backward_us);
        *t = {};
    }
}

// How the training loop's iterator gathers: "auto" (a background thread when
// a core is free for it), "thread" (always) or "off" (in the training thread).
neurite::data::BatchOptions gather_options(const std::string &mode)
{
    neurite::data::BatchOptions options;
    options.prefetch = mode != "off";
    options.prefetch_on_busy_cores = mode == "thread";
    return options;
}

// A network of the benchmark: its layers, what one sample looks like to it
// and the floating-point work of one training sample.
struct Network {
    std::string name;
    neurite::Shape sample;
    double flops_per_sample = 0;
};

neurite::ParamList conv(int in, int out, const std::string &precision)
{
    return {{"inputs", double(in)},          {"outputs", double(out)},
            {"kernel", 3.0},                 {"activation", std::string("relu")},
            {"precision", precision}};
}

neurite::ParamList dense(int in, int out, bool relu)
{
    return {{"inputs", double(in)}, {"outputs", double(out)}, {"activation", std::string(relu ? "relu" : "identity")}};
}

// Training costs a forward, the input gradient (except for the first
// layer) and the weight gradient: 2 multiply-adds per weight use, each.
Network build_network(const std::string &name, const std::string &precision, neurite::Registry &reg,
                       neurite::ComputeContext &ctx, neurite::Sequential &model)
{
    Network net{name, {}, 0};
    auto add = [&](const char *entry, const neurite::ParamList &params, uint64_t seed) {
        model.add(reg.create_layer(entry, params, ctx, seed));
    };
    if (name == "mlp") {
        net.sample = neurite::Shape{784};
        const int sizes[] = {784, 256, 128, 10};
        for (int l = 0; l < 3; ++l) {
            add("Dense", dense(sizes[l], sizes[l + 1], l < 2), 1234 + static_cast<uint64_t>(l));
            net.flops_per_sample += 2.0 * sizes[l] * sizes[l + 1] * (l == 0 ? 2 : 3);
        }
        return net;
    }
    net.sample = neurite::Shape{1, 28, 28};
    const neurite::ParamList pool{{"kernel", 2.0}};
    // Both convolutions follow the precision: with one input channel the
    // first gains little from bf16 itself, but its bf16 output halves the
    // memory traffic of the pool, ReLU gradient and conversions after it.
    add("Conv2D", conv(1, 32, precision), 1234);
    add("MaxPool2D", pool, 0);
    add("Conv2D", conv(32, 64, precision), 1235);
    add("MaxPool2D", pool, 0);
    add("Dense", dense(1600, 128, true), 1236);
    add("Dense", dense(128, 10, false), 1237);
    net.flops_per_sample = 2.0 * 26 * 26 * 32 * 9 * 2 + 2.0 * 11 * 11 * 64 * 32 * 9 * 3 + 2.0 * 1600 * 128 * 3 +
                           2.0 * 128 * 10 * 3;
    return net;
}

// The median time of the one pass that rounds the f32 master weights to
// their bf16 copy, which every bf16 forward starts with.
double refresh_us(neurite::ParameterArena &arena)
{
    std::vector<double> us;
    for (int i = 0; i < 51; ++i) {
        const auto t0 = Clock::now();
        arena.refresh_bf16();
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    return median(us);
}

void run_case(neurite::Registry &reg, const neurite::data::TrainTest &data, const std::string &net_name,
              const std::string &precision, int64_t batch, int epochs, int64_t max_steps, bool phases,
              const std::string &prefetch)
{
    neurite::ComputeContext ctx;
    neurite::Sequential model;
    const Network net = build_network(net_name, precision, reg, ctx, model);
    auto loss = reg.create_loss("CrossEntropyLoss", {}, ctx);
    if (precision == "bf16")
        model.set_precision(neurite::DType::BF16);
    auto opt = reg.create_optimizer("SGD", {{"lr", net_name == "mlp" ? 0.05 : 0.02}, {"momentum", 0.9}}, ctx);
    opt->attach(model.parameters());
    model.set_node_timing(phases);
    std::vector<std::vector<double>> layer_forward_us(static_cast<size_t>(model.size())),
        layer_backward_us(static_cast<size_t>(model.size()));

    neurite::Tensor dlogits(neurite::Shape{batch, 10});
    neurite::data::BatchOptions options = gather_options(prefetch);
    options.batch_size = batch;
    options.seed = 42;
    options.drop_last = true; // every step the same shape
    neurite::data::BatchIterator batches(data.train, options);

    std::vector<double> rates, wall_rates;
    double last_loss = 0;
    constexpr size_t kPhases = 6;
    const char *phase_names[kPhases] = {"data", "zero_grad", "forward", "loss", "backward", "step"};
    std::vector<double> phase_us[kPhases];
    std::vector<double> step_us_by_epoch; // where subnormal momentum shows: it builds up over epochs
    for (int e = 0; e < epochs; ++e) {
        const size_t first_step = phase_us[kPhases - 1].size();
        double compute_seconds = 0, wall_seconds = 0;
        int64_t samples = 0;
        for (int64_t step = 0; step < max_steps; ++step) {
            const auto t0 = Clock::now();
            const neurite::data::Batch *b = batches.next();
            if (!b)
                break;
            const auto t1 = Clock::now();
            model.zero_grad();
            const auto t2 = Clock::now();
            const neurite::Tensor input = as_input(b->inputs, net.sample);
            const neurite::Tensor &logits = model.forward(input);
            const auto t3 = Clock::now();
            last_loss = loss->forward(logits, b->targets);
            loss->backward(logits, b->targets, dlogits);
            const auto t4 = Clock::now();
            model.backward(input, dlogits, false);
            const auto t5 = Clock::now();
            opt->step();
            const auto t6 = Clock::now();
            compute_seconds += std::chrono::duration<double>(t6 - t1).count();
            wall_seconds += std::chrono::duration<double>(t6 - t0).count();
            samples += b->size;
            const Clock::time_point marks[] = {t0, t1, t2, t3, t4, t5, t6};
            for (size_t p = 0; p < kPhases; ++p)
                phase_us[p].push_back(std::chrono::duration<double, std::micro>(marks[p + 1] - marks[p]).count());
            if (phases)
                take_layer_times(model, layer_forward_us, layer_backward_us);
        }
        const std::vector<double> &steps = phase_us[kPhases - 1];
        step_us_by_epoch.push_back(median(std::vector<double>(steps.begin() + static_cast<std::ptrdiff_t>(first_step), steps.end())));
        rates.push_back(static_cast<double>(samples) / compute_seconds);
        wall_rates.push_back(static_cast<double>(samples) / wall_seconds);
    }
    const size_t skip = rates.size() > 1 ? 1 : 0;
    const double rate = median(std::vector<double>(rates.begin() + skip, rates.end()));
    const double wall_rate = median(std::vector<double>(wall_rates.begin() + skip, wall_rates.end()));
    model.set_node_timing(false);
    const std::string label = net.name + "_b" + std::to_string(batch) + (precision != "f32" ? "_" + precision : "");
    std::printf("%s samples_per_s=%.0f gflops=%.1f test_acc=%.4f loss=%.4f epochs=%d threads=%d "
                "with_data_samples_per_s=%.0f flush_denormals=%d\n",
                label.c_str(), rate, rate * net.flops_per_sample * 1e-9,
                accuracy(model, data.test, net.sample), last_loss, epochs, neurite::ComputeContext::num_threads(),
                wall_rate, neurite::ComputeContext::flush_denormals() ? 1 : 0);
    if (phases) {
        std::printf("  median per step:");
        for (size_t p = 0; p < kPhases; ++p)
            std::printf(" %s=%.1fus", phase_names[p], median(phase_us[p]));
        std::printf("\n  median per layer (forward/backward):");
        for (int l = 0; l < model.size(); ++l)
            std::printf(" %d:%s=%.1f/%.1fus", l + 1, model.at(l).type_name().c_str(),
                        median(layer_forward_us[static_cast<size_t>(l)]),
                        median(layer_backward_us[static_cast<size_t>(l)]));
        if (model.arena()->has_bf16())
            std::printf("\n  bf16 copy of the weights (inside forward): %.1fus", refresh_us(*model.arena()));
        std::printf("\n  median step by epoch:");
        for (double us : step_us_by_epoch)
            std::printf(" %.1fus", us);
        const neurite::data::BatchStats &st = batches.stats();
        std::printf("\n  batches (%s): ready=%lld waited=%lld filled_here=%lld taken_over=%lld\n",
                    batches.prefetching() ? "background thread" : "gathered in the training thread",
                    static_cast<long long>(st.ready), static_cast<long long>(st.waited),
                    static_cast<long long>(st.filled_here), static_cast<long long>(st.taken_over));
    }
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv)
{
    int epochs = 5;
    int64_t max_steps = INT64_MAX;
    bool phases = false;
    std::string prefetch = "auto";
    std::string nets = "all";
    std::string precision = "f32";
    std::vector<int64_t> batches = {64, 256};
    std::string dir = neurite::data::kFashionMnistDir;
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
        else if (a == "--steps")
            max_steps = std::max<int64_t>(1, std::atoll(next().c_str()));
        else if (a == "--phases")
            phases = true;
        else if (a == "--prefetch")
            prefetch = next();
        else if (a == "--net")
            nets = next();
        else if (a == "--precision")
            precision = next();
        else if (a == "--data")
            dir = next();
        else if (a == "--keep-denormals")
            neurite::ComputeContext::set_flush_denormals(false);
        else {
            std::fprintf(stderr, "usage: neurite-bench [--epochs N] [--steps N] [--batch N] [--threads N] [--data DIR] [--phases]\n"
                                 "                     [--prefetch auto|thread|off] [--keep-denormals] [--net mlp|cnn|all]\n"
                                 "                     [--precision f32|bf16|both]\n");
            return 2;
        }
    }
    if (precision != "f32" && precision != "bf16" && precision != "both") {
        std::fprintf(stderr, "neurite-bench: --precision takes f32, bf16 or both, not %s\n", precision.c_str());
        return 2;
    }
    const neurite::Bf16Kernels kernels = neurite::bf16_kernels();
    std::printf("bf16_kernels=%s isa=%s\n", kernels.name.c_str(), kernels.isa.c_str());
    if (precision != "f32" && !kernels.supported) {
        std::fprintf(stderr, "neurite-bench: --precision %s: this CPU lacks %s\n", precision.c_str(),
                     kernels.missing.c_str());
        return 1;
    }
    std::vector<std::string> precisions = {precision};
    if (precision == "both")
        precisions = {"f32", "bf16"};
    if (nets != "mlp" && nets != "cnn" && nets != "all") {
        std::fprintf(stderr, "neurite-bench: --net takes mlp, cnn or all, not %s\n", nets.c_str());
        return 2;
    }
    if (prefetch != "auto" && prefetch != "thread" && prefetch != "off") {
        std::fprintf(stderr, "neurite-bench: --prefetch takes auto, thread or off, not %s\n", prefetch.c_str());
        return 2;
    }
    try {
        neurite::Registry reg;
        reg.load_default_paths();
        for (const auto &r : reg.refusals())
            std::fprintf(stderr, "neurite-bench: plugin %s %s\n", r.file.c_str(), r.reason.c_str());
        const auto load_start = Clock::now();
        const neurite::data::TrainTest data = neurite::data::load_fashion_mnist(dir);
        const double load_seconds = seconds_since(load_start);
        const int64_t first_batch = batches.front();
        std::printf("batches_b%lld samples_per_s=%.0f plain_samples_per_s=%.0f load_s=%.2f\n",
                    static_cast<long long>(first_batch), iterator_rate(data.train, first_batch, epochs, true),
                    iterator_rate(data.train, first_batch, epochs, false), load_seconds);
        std::fflush(stdout);
        for (const char *net : {"mlp", "cnn"})
            if (nets == "all" || nets == net)
                for (int64_t b : batches)
                    for (const std::string &p : precisions)
                        run_case(reg, data, net, p, b, epochs, max_steps, phases, prefetch);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "neurite-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
