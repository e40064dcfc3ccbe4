#pragma once

#include "neurite/core/data/augment.h"
#include "neurite/core/data/dataset.h"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace neurite::data {

struct BatchOptions {
    int64_t batch_size = 32;
    bool shuffle = true; // a new seeded order every epoch; otherwise dataset order
    uint64_t seed = 0;
    // Without drop_last the last batch of an epoch may be smaller.
    bool drop_last = false;
    // Gather the next batch on a background thread while the caller computes,
    // when a core is free for it: when the machine has more cores than the
    // compute threads use (ComputeContext::num_threads()). With every core
    // computing, a thread waking up per batch would only preempt them, so
    // the caller gathers instead. The batches are the same either way. On
    // its free core the thread polls for the next free buffer (for up to
    // 2 ms, then sleeps) rather than be woken for every batch.
    bool prefetch = true;
    // Use the background thread even when the compute threads use every core.
    bool prefetch_on_busy_cores = false;
    // Inputs {B, input_shape...}, e.g. {B, 1, 28, 28} for images, which a
    // convolution needs and Dense flattens itself; with flatten, {B, features}.
    bool flatten = false;
    // Random crops and flips of image samples (for training batches), drawn
    // from seed: an Error at construction unless the samples are images.
    Augmentation augment;
    // One rank's share of each batch in a data-parallel run: batch_size is
    // the global batch, split into shard_count contiguous parts (see
    // shard_part), and this iterator yields part shard_index, 0-based. Every
    // rank draws the same order from the same seed, so the parts are
    // disjoint and together make the batch a single process would see. A
    // part of a last batch smaller than shard_count may be empty (size 0).
    int64_t shard_index = 0;
    int64_t shard_count = 1;
};

// Where part `index` of `count` begins in a batch of `size` samples, and how
// many it holds: size / count each, and the first size % count parts one
// more. train.lua splits {x =, y =} tensors by the same rule.
struct ShardPart {
    int64_t offset = 0;
    int64_t count = 0;
};
ShardPart shard_part(int64_t size, int64_t index, int64_t count);

// One batch in the iterator's own buffers, valid until the next call to next().
struct Batch {
    Tensor inputs;                 // {size, features} or {size, input_shape...}
    Tensor targets;                // {size, target_shape...}; undefined when unlabelled
    std::span<const int64_t> rows; // the dataset (view) indices of the samples
    int64_t size = 0;
    int64_t index = 0; // within the epoch
    int64_t epoch = 0;
};

// Where the items next() returned came from (ends of epochs count too), to
// see whether prefetching keeps up; the benchmark prints them.
struct BatchStats {
    int64_t ready = 0;       // prefetched: waiting when asked for
    int64_t waited = 0;      // prefetched: being filled when asked for, and waited for
    int64_t filled_here = 0; // gathered in the caller's thread (no thread, or nobody had started it)
    int64_t taken_over = 0;  // gathered in the caller's thread because the thread was late
    double wait_seconds = 0; // time next() spent waiting for the thread
};

// Batches of a dataset, epoch after epoch, in buffers allocated once. When
// prefetching, a background thread fills the next batch while the caller uses
// the current one (across epoch ends too), in three buffers: the one held,
// the one being filled, the one ready. When the thread gets no core in time
// the caller fills its batch itself rather than wait, so prefetching is never
// much slower than not. next(), restart() and stop() belong to one thread.
class BatchIterator {
public:
    // Error for a batch size < 1.
    explicit BatchIterator(Dataset dataset, BatchOptions options = {});
    // Stops the background thread, also in the middle of an epoch.
    ~BatchIterator();
    BatchIterator(const BatchIterator &) = delete;
    BatchIterator &operator=(const BatchIterator &) = delete;

    // The next batch, or nullptr once the epoch is over; the call after that
    // begins the next epoch. An empty dataset only ever gives nullptr.
    const Batch *next();
    // Continues from batch `batch` (0-based) of `epoch`; the batches before
    // it are not gathered, so a resumed run skips them at no cost. Error for
    // a negative epoch or a batch outside 0..batches_per_epoch().
    void restart(int64_t epoch = 0, int64_t batch = 0);
    // Ends the background thread (say, while training is paused); next()
    // carries on from the same place, restarting it.
    void stop();

    // The epoch the following next() belongs to.
    int64_t epoch() const;
    // Whether a background thread gathers batches (see BatchOptions::prefetch).
    bool prefetching() const;
    const BatchStats &stats() const;
    int64_t batches_per_epoch() const;
    // Samples an epoch delivers (fewer than the dataset's with drop_last).
    int64_t samples_per_epoch() const;
    const Dataset &dataset() const;
    const BatchOptions &options() const;

    // The order of view indices epoch e visits; the same for every iterator
    // with these options and this dataset size.
    static std::vector<int64_t> epoch_order(int64_t size, const BatchOptions &options,
                                            int64_t epoch);

private:
    struct State;
    std::unique_ptr<State> m_state;
};

} // namespace neurite::data
