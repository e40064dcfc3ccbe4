#pragma once

// Shared by the dataset tests: the message of an expected Error, and
// training the foundation's Sequential model on a dataset through the batch
// iterator, to show every loader and generator yields data a model learns from.
#include "test_support.h"

#include "neurite/core/data/batch_iterator.h"
#include "neurite/core/sequential.h"

#include <QString>

#include <functional>
#include <vector>

namespace neurite::test {

// The Error's message, "no error" when f returns normally.
inline QString error_of(const std::function<void()> &f)
{
    try {
        f();
    } catch (const Error &e) {
        return QString::fromStdString(e.what());
    }
    return "no error";
}

struct TrainingRun {
    std::vector<double> epoch_loss; // mean loss over each epoch's batches
    double accuracy = -1;           // on the training data after the last epoch (classes only)
};

// Dense(features → hidden, relu) → Dense(hidden → outputs), Adam.
// Classes: CrossEntropyLoss on logits; values: MSELoss.
inline TrainingRun train_mlp(const data::Dataset &dataset, int hidden, int epochs,
                             int64_t batch_size, double lr, uint64_t seed = 7)
{
    const bool classes = dataset.target_kind() == data::TargetKind::Classes;
    const int64_t outputs = classes ? dataset.class_count() : dataset.target_width();
    Sequential model;
    model.add(registry().create_layer("Dense",
                                      {{"inputs", double(dataset.feature_count())},
                                       {"outputs", double(hidden)},
                                       {"activation", std::string("relu")}},
                                      context(), seed));
    model.add(registry().create_layer(
        "Dense", {{"inputs", double(hidden)}, {"outputs", double(outputs)}}, context(), seed + 1));
    auto loss = registry().create_loss(classes ? "CrossEntropyLoss" : "MSELoss", {}, context());
    auto optimizer = registry().create_optimizer("Adam", {{"lr", lr}}, context());
    optimizer->attach(model.parameters());

    data::BatchOptions options;
    options.batch_size = batch_size;
    options.seed = seed;
    data::BatchIterator batches(dataset, options);
    TrainingRun run;
    Tensor diff;
    for (int e = 0; e < epochs; ++e) {
        double total = 0;
        int64_t steps = 0;
        while (const data::Batch *b = batches.next()) {
            model.zero_grad();
            const Tensor &out = model.forward(b->inputs);
            total += loss->forward(out, b->targets);
            if (!(diff.shape() == out.shape()))
                diff = Tensor(out.shape());
            loss->backward(out, b->targets, diff);
            model.backward(b->inputs, diff, false);
            optimizer->step();
            ++steps;
        }
        run.epoch_loss.push_back(total / double(steps));
    }
    if (classes) {
        model.eval();
        const Tensor x = dataset.inputs().reshape(Shape{dataset.size(), dataset.feature_count()});
        const Tensor &out = model.forward(x);
        int64_t correct = 0;
        for (int64_t i = 0; i < dataset.size(); ++i) {
            const float *row = out.data() + i * outputs;
            correct += std::max_element(row, row + outputs) - row == dataset.label(i);
        }
        run.accuracy = double(correct) / double(dataset.size());
    }
    return run;
}

} // namespace neurite::test
