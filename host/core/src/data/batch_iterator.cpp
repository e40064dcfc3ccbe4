#include "neurite/core/data/batch_iterator.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/distributed.h"
#include "neurite/core/error.h"

#include "random.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>


namespace neurite::data {

namespace {

using Clock = std::chrono::steady_clock;
using Order = std::shared_ptr<std::vector<int64_t>>;

// One batch's buffers, allocated for a full batch once; a smaller last batch
// is a view of their first rows.
struct Slot {
    Tensor inputs;  // {batch_size, features}
    Tensor targets; // {batch_size, target width}, undefined when unlabelled
    std::vector<int64_t> rows;
    std::vector<float> augment_scratch; // one sample, when augmenting
    Batch batch;
    bool end_of_epoch = false;
    std::exception_ptr error;
};

int64_t count_batches(int64_t size, const BatchOptions &options)
{
    return options.drop_last ? size / options.batch_size
                             : (size + options.batch_size - 1) / options.batch_size;
}

void fill_order(std::vector<int64_t> &order, int64_t size, const BatchOptions &options, int64_t epoch)
{
    if (!options.shuffle) {
        order.resize(static_cast<size_t>(size));
        std::iota(order.begin(), order.end(), 0);
        return;
    }
    // A fresh, unrelated seed per epoch, so epoch e's order does not depend
    // on how many epochs ran before it (restart(e) gives the same batches).
    detail::fill_permutation(order, size, detail::mix64(options.seed) ^
                                              detail::mix64(static_cast<uint64_t>(epoch) + 1));
}

struct Position {
    int64_t epoch = 0;
    int64_t index = 0; // batch within the epoch; batches_per_epoch means "end of epoch"
};

// One item of the stream and the order of its epoch, which the fill reads.
struct Claim {
    Position position;
    Order order;
};

// The endless stream epoch 0 batch 0, 1, ..., end of epoch 0, epoch 1 batch
// 0, ...: claim() hands out items in order (under the iterator's lock when
// prefetching) and fill() writes one into a slot. Whichever thread fills an
// item runs the same code, so the prefetching and the plain iterator yield
// the same batches.
class Producer {
public:
    Producer(const Dataset &dataset, const BatchOptions &options)
        : m_dataset(dataset), m_options(options), m_batches(count_batches(dataset.size(), options))
    {
    }

    void seek(Position next) { m_next = next; }

    Claim claim()
    {
        const Position p = m_next;
        m_next = p.index < m_batches ? Position{p.epoch, p.index + 1} : Position{p.epoch + 1, 0};
        if (p.index < m_batches && m_order_epoch != p.epoch) {
            m_order = reusable_order();
            fill_order(*m_order, m_dataset.size(), m_options, p.epoch);
            m_order_epoch = p.epoch;
        }
        return {p, m_order};
    }

    // Reads only the dataset and the claim's order: fills may run at once.
    void fill(Slot &slot, const Claim &claim) const
    {
        const Position p = claim.position;
        slot.error = nullptr;
        slot.batch.epoch = p.epoch;
        slot.batch.index = p.index;
        slot.end_of_epoch = p.index >= m_batches;
        if (slot.end_of_epoch) {
            slot.batch.size = 0;
            return;
        }
        const int64_t batch_first = p.index * m_options.batch_size;
        const ShardPart part = shard_part(std::min(m_options.batch_size, m_dataset.size() - batch_first),
                                          m_options.shard_index, m_options.shard_count);
        const int64_t first = batch_first + part.offset;
        const int64_t n = part.count;
        if (n == 0) { // this rank's share of a last, small batch
            slot.rows.clear();
            slot.batch = Batch{{}, {}, {}, 0, p.index, p.epoch};
            return;
        }
        slot.rows.assign(claim.order->begin() + first, claim.order->begin() + first + n);
        m_dataset.gather(slot.rows, slot.inputs.data(),
                         slot.targets.defined() ? slot.targets.data() : nullptr);
        augment_samples(m_options.augment, m_dataset.input_shape(), slot.inputs.data(), n,
                        augmentation_key(m_options.seed, p.epoch), first, slot.augment_scratch.data());
        slot.batch.size = n;
        slot.batch.rows = slot.rows;
        // Views of the first n rows: sharing the buffers allocates nothing.
        Shape input_shape{n};
        if (m_options.flatten)
            input_shape.push_back(m_dataset.feature_count());
        else
            for (int64_t d : m_dataset.input_shape())
                input_shape.push_back(d);
        slot.batch.inputs = slot.inputs.rows(0, n).reshape(input_shape);
        if (slot.targets.defined()) {
            Shape target_shape{n};
            for (int64_t d : m_dataset.target_shape())
                target_shape.push_back(d);
            slot.batch.targets = slot.targets.rows(0, n).reshape(target_shape);
        }
    }

private:
    // A fill the caller stopped waiting for may still be reading the previous
    // epoch's order, so a new epoch writes into whichever of two buffers no
    // claim holds any more (allocating only if both are held).
    Order reusable_order()
    {
        for (Order &spare : m_spares) {
            if (!spare)
                spare = std::make_shared<std::vector<int64_t>>();
            if (spare.use_count() == 1 || (spare == m_order && spare.use_count() == 2))
                return spare;
        }
        return std::make_shared<std::vector<int64_t>>();
    }

    const Dataset &m_dataset;
    const BatchOptions &m_options;
    const int64_t m_batches;
    Position m_next;
    Order m_order;
    Order m_spares[2];
    int64_t m_order_epoch = -1;
};

void fill_catching(const Producer &producer, Slot &slot, const Claim &claim)
{
    try {
        producer.fill(slot, claim);
    } catch (...) {
        slot.error = std::current_exception();
    }
}

constexpr int kSlots = 3;
constexpr auto kMinimumWait = std::chrono::microseconds(2);
// How long the thread polls for a free slot before it sleeps. Sleeping means
// the caller must wake it for every batch, and a woken thread often runs at
// once on the waker's core, preempting it: the batch is then gathered on the
// compute core after all. A training step is well under this, so while
// training runs the thread never sleeps; it polls only on a core the compute
// threads leave free (see BatchOptions::prefetch).
constexpr auto kPollBeforeSleeping = std::chrono::milliseconds(2);

} // namespace

// Prefetching. The worker claims the next item of the stream and fills it
// into a free slot, then posts it; the caller takes items in order. Three
// slots: the one the caller holds, the one being filled, and the posted one.
// The caller never waits long for data: an item nobody has claimed it fills
// itself, and an item the worker is filling it waits for only about as long
// as a fill takes, then fills its own copy (the worker was descheduled,
// say because OpenMP threads spin on every core); the worker's late copy is
// then dropped. So prefetching is never much slower than gathering in the
// caller's thread, and with a spare core the caller finds its batch ready.
struct BatchIterator::State {
    State(Dataset d, BatchOptions o) : dataset(std::move(d)), options(o), producer(dataset, options) {}

    Dataset dataset;
    BatchOptions options;
    Producer producer;
    Slot slots[kSlots];
    Position caller; // the item next() hands out next
    bool threaded = false;

    std::thread worker;
    std::mutex mutex;
    std::condition_variable worker_wake;
    std::condition_variable caller_wake;
    std::vector<int> free_slots;
    int posted_slot = -1; // filled by the worker, waiting for the caller
    int64_t posted_item = -1;
    int64_t claimed = 0; // items claimed so far, by either thread
    int64_t taken = 0;   // items the caller has taken
    Claim worker_claim;  // what the worker is filling, should the caller take it over
    int64_t worker_item = -1;
    int64_t abandoned_item = -1; // taken over by the caller: the worker drops its copy
    int held = -1;
    BatchStats stats;
    bool stopping = false;
    bool worker_idle = false; // asleep: the caller must wake it
    bool may_poll = false;
    std::atomic<uint64_t> releases{0}; // bumped when a slot frees or stopping is set
    bool caller_waiting = false;
    std::chrono::nanoseconds typical_fill{20'000}; // a moving average

    // A fill that was descheduled midway counts at most 4 times the typical
    // time, so one long pause does not make the caller wait long afterwards.
    void note_fill_time(Clock::duration took)
    {
        const auto sample = std::min(std::chrono::duration_cast<std::chrono::nanoseconds>(took), typical_fill * 4);
        typical_fill = (typical_fill * 7 + sample) / 8;
    }

    void start_worker()
    {
        producer.seek(caller);
        free_slots = {0, 1, 2};
        posted_slot = held = -1;
        posted_item = worker_item = abandoned_item = -1;
        claimed = taken = 0;
        stopping = false;
        worker = std::thread([this] { run_worker(); });
    }

    bool worker_has_work() const
    {
        return stopping || (posted_slot < 0 && !free_slots.empty() && claimed <= taken + 1);
    }

    // Polls `releases` without the lock until it changes or the time is up.
    void poll_for_work(std::unique_lock<std::mutex> &lock)
    {
        const uint64_t seen = releases.load(std::memory_order_acquire);
        lock.unlock();
        const auto until = Clock::now() + kPollBeforeSleeping;
        while (releases.load(std::memory_order_acquire) == seen && Clock::now() < until)
            for (int i = 0; i < 64; ++i)
                pause();
        lock.lock();
    }

    static void pause()
    {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }

    // Wakes the caller only when it sleeps, and outside the lock: a woken
    // thread often runs at once on the waker's core and would block straight
    // away on a mutex the waker still held.
    void run_worker()
    {
        std::unique_lock lock(mutex);
        for (;;) {
            if (may_poll && !worker_has_work())
                poll_for_work(lock);
            worker_idle = true;
            worker_wake.wait(lock, [&] { return worker_has_work(); });
            worker_idle = false;
            if (stopping)
                return;
            const int s = free_slots.back();
            free_slots.pop_back();
            worker_item = claimed++;
            worker_claim = producer.claim();
            const Claim claim = worker_claim;
            lock.unlock();
            // The caller's floating-point mode (FTZ/DAZ), so that a batch is
            // the same whichever thread fills it; a compare unless it changed.
            ComputeContext::prepare_thread();
            const auto start = Clock::now();
            fill_catching(producer, slots[s], claim);
            const auto took = Clock::now() - start;
            lock.lock();
            note_fill_time(took);
            const int64_t item = worker_item;
            worker_item = -1;
            worker_claim = {};
            if (item == abandoned_item) { // the caller filled it meanwhile
                free_slots.push_back(s);
                continue;
            }
            posted_slot = s;
            posted_item = item;
            if (caller_waiting) {
                lock.unlock();
                caller_wake.notify_one();
                lock.lock();
            }
        }
    }

    void stop_worker()
    {
        if (!worker.joinable())
            return;
        {
            std::lock_guard lock(mutex);
            stopping = true;
        }
        releases.fetch_add(1, std::memory_order_release);
        worker_wake.notify_one();
        worker.join();
        held = -1;
    }

    // Fills `claim` into a free slot in the caller's thread.
    int fill_here(std::unique_lock<std::mutex> &lock, const Claim &claim, bool wake_worker)
    {
        const int s = free_slots.back();
        free_slots.pop_back();
        lock.unlock();
        if (wake_worker)
            worker_wake.notify_one(); // to fill the item after this one meanwhile
        const auto start = Clock::now();
        fill_catching(producer, slots[s], claim);
        const auto took = Clock::now() - start;
        lock.lock();
        note_fill_time(took);
        return s;
    }

    Slot &take_prefetched()
    {
        if (!worker.joinable())
            start_worker();
        std::unique_lock lock(mutex);
        if (held >= 0) {
            free_slots.push_back(held);
            held = -1;
            releases.fetch_add(1, std::memory_order_release);
        }
        const int64_t item = taken;
        int s = -1;
        if (posted_item == item) {
            s = take_posted();
            ++stats.ready;
        } else if (claimed == item) { // nobody has claimed it
            ++claimed;
            s = fill_here(lock, producer.claim(), worker_idle);
            ++stats.filled_here;
        } else { // the worker is filling it
            caller_waiting = true;
            const auto start = Clock::now();
            caller_wake.wait_for(lock, std::max<std::chrono::nanoseconds>(typical_fill, kMinimumWait),
                                 [&] { return posted_item == item; });
            stats.wait_seconds += std::chrono::duration<double>(Clock::now() - start).count();
            caller_waiting = false;
            if (posted_item == item) {
                s = take_posted();
                ++stats.waited;
            } else {
                const Claim late = worker_claim; // a copy: the worker resets its own
                abandoned_item = item;
                s = fill_here(lock, late, false);
                ++stats.taken_over;
            }
        }
        ++taken;
        held = s;
        releases.fetch_add(1, std::memory_order_release); // a polling worker sees it
        if (worker_idle) { // it can fill the next item now
            lock.unlock();
            worker_wake.notify_one();
        }
        return slots[s];
    }

    int take_posted()
    {
        const int s = posted_slot;
        posted_slot = -1;
        posted_item = -1;
        return s;
    }
};

ShardPart shard_part(int64_t size, int64_t index, int64_t count)
{
    const int64_t base = size / count, extra = size % count;
    return {index * base + std::min(index, extra), base + (index < extra ? 1 : 0)};
}

BatchIterator::BatchIterator(Dataset dataset, BatchOptions options)
{
    if (options.batch_size < 1)
        throw Error(dataset.source() + ": the batch size must be at least 1, got " +
                    std::to_string(options.batch_size));
    if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count)
        throw Error(dataset.source() + ": part " + std::to_string(options.shard_index) + " of " +
                    std::to_string(options.shard_count) + " does not exist (parts count from 0)");
    check_augmentation(options.augment, dataset.input_shape(), dataset.source());
    m_state = std::make_unique<State>(std::move(dataset), options);
    State &s = *m_state;
    const int64_t rows = std::min(options.batch_size, std::max<int64_t>(s.dataset.size(), 1));
    const int64_t width = s.dataset.target_width();
    // The cores this rank may use: its own, or its share of the node's.
    const bool spare_core = dist::usable_cores() > ComputeContext::num_threads();
    s.threaded = options.prefetch && (spare_core || options.prefetch_on_busy_cores);
    s.may_poll = spare_core; // polling on a busy core would take it from computing
    for (Slot &slot : s.slots) {
        slot.inputs = Tensor(Shape{rows, std::max<int64_t>(s.dataset.feature_count(), 1)});
        if (width > 0)
            slot.targets = Tensor(Shape{rows, width});
        slot.rows.reserve(static_cast<size_t>(rows));
        if (options.augment.active())
            slot.augment_scratch.resize(static_cast<size_t>(s.dataset.feature_count()));
        if (!s.threaded)
            break; // without the thread, one slot is filled in place
    }
}

BatchIterator::~BatchIterator()
{
    m_state->stop_worker();
}

const Batch *BatchIterator::next()
{
    State &s = *m_state;
    Slot *slot;
    if (s.threaded) {
        slot = &s.take_prefetched();
    } else {
        s.producer.seek(s.caller);
        slot = &s.slots[0];
        fill_catching(s.producer, *slot, s.producer.claim());
        ++s.stats.filled_here;
    }
    if (slot->error) {
        s.stop_worker(); // the next call starts afresh from the same batch
        std::rethrow_exception(slot->error);
    }
    if (slot->end_of_epoch) {
        s.caller = {s.caller.epoch + 1, 0};
        return nullptr;
    }
    ++s.caller.index;
    return &slot->batch;
}

void BatchIterator::restart(int64_t epoch, int64_t batch)
{
    if (epoch < 0)
        throw Error("an epoch number cannot be negative, got " + std::to_string(epoch));
    const int64_t batches = batches_per_epoch();
    if (batch < 0 || batch > batches)
        throw Error(m_state->dataset.source() + ": cannot continue from batch index " +
                    std::to_string(batch) + ": an epoch has " + std::to_string(batches) + " batches");
    m_state->stop_worker();
    m_state->caller = {epoch, batch};
}

void BatchIterator::stop()
{
    m_state->stop_worker();
}

int64_t BatchIterator::epoch() const { return m_state->caller.epoch; }
bool BatchIterator::prefetching() const { return m_state->threaded; }
const BatchStats &BatchIterator::stats() const { return m_state->stats; }

int64_t BatchIterator::batches_per_epoch() const
{
    return count_batches(m_state->dataset.size(), m_state->options);
}

int64_t BatchIterator::samples_per_epoch() const
{
    const int64_t size = m_state->dataset.size();
    return m_state->options.drop_last ? size / m_state->options.batch_size * m_state->options.batch_size
                                      : size;
}

const Dataset &BatchIterator::dataset() const { return m_state->dataset; }
const BatchOptions &BatchIterator::options() const { return m_state->options; }

std::vector<int64_t> BatchIterator::epoch_order(int64_t size, const BatchOptions &options, int64_t epoch)
{
    std::vector<int64_t> order;
    fill_order(order, size, options, epoch);
    return order;
}

} // namespace neurite::data
