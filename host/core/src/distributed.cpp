// The process group of a data-parallel run: Open MPI when the build has it
// (NEURITE_HAVE_MPI) and mpirun or srun started the process, else a world of
// one. Only this file includes mpi.h, so the rest of Neurite builds without it.
#include "neurite/core/distributed.h"

#include "neurite/core/error.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <sched.h>
#include <unistd.h>

#ifdef NEURITE_HAVE_MPI
#include <mpi.h>
#endif

namespace neurite::dist {

namespace {

struct World {
    bool active = false;
    int rank = 0;
    int size = 1;
    int local_size = 1;
    // Per-rank MPI counts and displacements of the sharded collectives, kept
    // so that a training step allocates nothing.
    std::vector<int> part_counts, part_starts;
};

World g_world;
Stats g_stats;

int env_int(const char *name, int fallback)
{
    const char *v = std::getenv(name);
    if (!v || !*v)
        return fallback;
    char *end = nullptr;
    const long n = std::strtol(v, &end, 10);
    return (*end == '\0' && n >= 0 && n < INT_MAX) ? static_cast<int>(n) : fallback;
}

#ifdef NEURITE_HAVE_MPI

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// One collective since `start`, of `bytes`, into a kind's counters in g_stats.
void record(int64_t &calls, int64_t &bytes_total, double &seconds, Clock::time_point start, size_t bytes)
{
    seconds += seconds_since(start);
    ++calls;
    bytes_total += static_cast<int64_t>(bytes);
}

MPI_Op mpi_op(Op op)
{
    switch (op) {
    case Op::Min: return MPI_MIN;
    case Op::Max: return MPI_MAX;
    case Op::Prod: return MPI_PROD;
    case Op::Sum:
    case Op::Mean: break;
    }
    return MPI_SUM;
}

// MPI counts are ints: larger blocks go in pieces of 2^30 elements.
template <class T>
void allreduce_in_place(std::span<T> data, Op op, MPI_Datatype type)
{
    constexpr size_t kPiece = size_t{1} << 30;
    for (size_t at = 0; at < data.size(); at += kPiece) {
        const int count = static_cast<int>(std::min(kPiece, data.size() - at));
        MPI_Allreduce(MPI_IN_PLACE, data.data() + at, count, type, mpi_op(op), MPI_COMM_WORLD);
    }
}

#endif

template <class T>
void reduce(std::span<T> data, Op op)
{
    if (!g_world.active || g_world.size == 1 || data.empty())
        return;
#ifdef NEURITE_HAVE_MPI
    const auto start = Clock::now();
    if constexpr (std::is_same_v<T, float>)
        allreduce_in_place(data, op, MPI_FLOAT);
    else
        allreduce_in_place(data, op, MPI_DOUBLE);
    if (op == Op::Mean) {
        const T scale = T(1) / static_cast<T>(g_world.size);
        for (T &v : data)
            v *= scale;
    }
    record(g_stats.allreduce_calls, g_stats.allreduce_bytes, g_stats.allreduce_seconds, start, data.size_bytes());
#else
    (void)op;
#endif
}

} // namespace

bool launched_by_mpi()
{
    return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
}

int launcher_rank()
{
    return env_int("OMPI_COMM_WORLD_RANK", env_int("PMIX_RANK", env_int("SLURM_PROCID", 0)));
}

int launcher_size()
{
    return std::max(1, env_int("OMPI_COMM_WORLD_SIZE", env_int("SLURM_NTASKS", 1)));
}

void init()
{
#ifdef NEURITE_HAVE_MPI
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised)
        return;
    // Ranks on one node reduce the gradients through Open MPI's shared-memory
    // transport (vader). Its default single copy for large messages, CMA
    // (process_vm_readv), made the gradient allreduce of the MLP (940,608
    // bytes, 2 ranks) 0.142-0.147 ms here against 0.115-0.121 ms copying
    // through the shared segment (bench/dist_allreduce.c, docs/cluster.md):
    // a system call per fragment costs more than the second copy of memory
    // that stays in cache. Only a default: `mpirun --mca
    // btl_vader_single_copy_mechanism cma` (or the variable) still decides.
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    // Only the thread that runs the script calls MPI; the compute threads
    // (OpenMP, oneDNN) and the prefetch thread never do.
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        throw Error("MPI_Init_thread failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &g_world.local_size);
    MPI_Comm_free(&node);
    g_world.active = true;
#else
    throw Error("this Neurite was built without MPI (libopenmpi-dev was missing when it was "
                "configured); rebuild it with Open MPI to run under mpirun");
#endif
}

bool active() { return g_world.active; }

void finalize()
{
#ifdef NEURITE_HAVE_MPI
    if (!g_world.active)
        return;
    g_world.active = false;
    MPI_Finalize();
#endif
}

void abort(int code)
{
    std::fflush(nullptr);
#ifdef NEURITE_HAVE_MPI
    if (g_world.active)
        MPI_Abort(MPI_COMM_WORLD, code);
#endif
    _exit(code);
}

int rank() { return g_world.rank; }
int size() { return g_world.size; }
int local_size() { return g_world.local_size; }

int usable_cores()
{
    const int machine = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    int allowed = machine;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        allowed = std::max(1, CPU_COUNT(&set));
    // A rank bound to its own cores sees only those; an unbound one sees
    // the node's, which its node's ranks share.
    return std::max(1, std::min(allowed, machine / std::max(1, g_world.local_size)));
}

bool parse_op(const std::string &name, Op &op)
{
    if (name == "sum") op = Op::Sum;
    else if (name == "mean") op = Op::Mean;
    else if (name == "min") op = Op::Min;
    else if (name == "max") op = Op::Max;
    else if (name == "prod") op = Op::Prod;
    else return false;
    return true;
}

const char *op_names() { return "sum, mean, min, max, prod"; }

void allreduce(std::span<float> data, Op op) { reduce(data, op); }
void allreduce(std::span<double> data, Op op) { reduce(data, op); }

void broadcast(void *data, size_t bytes, int root)
{
    if (root < 0 || root >= g_world.size)
        throw Error("broadcast: the root rank " + std::to_string(root) + " is not one of the ranks 0.." +
                    std::to_string(g_world.size - 1));
    if (!g_world.active || g_world.size == 1 || bytes == 0)
        return;
#ifdef NEURITE_HAVE_MPI
    const auto start = Clock::now();
    constexpr size_t kPiece = size_t{1} << 30;
    auto *bytes_at = static_cast<char *>(data);
    for (size_t at = 0; at < bytes; at += kPiece)
        MPI_Bcast(bytes_at + at, static_cast<int>(std::min(kPiece, bytes - at)), MPI_BYTE, root,
                  MPI_COMM_WORLD);
    record(g_stats.broadcast_calls, g_stats.broadcast_bytes, g_stats.broadcast_seconds, start, bytes);
#else
    (void)data;
#endif
}

void broadcast(std::string &text, int root)
{
    uint64_t length = text.size();
    broadcast(&length, sizeof length, root);
    text.resize(length);
    broadcast(text.data(), length, root);
}

namespace {

#ifdef NEURITE_HAVE_MPI
// MPI counts and displacements are ints.
int mpi_count(size_t n, const char *what)
{
    if (n > static_cast<size_t>(INT_MAX))
        throw Error(std::string(what) + ": a rank's part of " + std::to_string(n) +
                    " elements is more than MPI counts (2^31 - 1)");
    return static_cast<int>(n);
}

void part_counts(std::span<const size_t> bounds, std::vector<int> &counts, std::vector<int> &starts,
                 const char *what)
{
    if (bounds.size() != static_cast<size_t>(g_world.size) + 1)
        throw Error(std::string(what) + ": " + std::to_string(bounds.size()) + " bounds for " +
                    std::to_string(g_world.size) + " ranks");
    counts.resize(g_world.size);
    starts.resize(g_world.size);
    for (int r = 0; r < g_world.size; ++r) {
        counts[r] = mpi_count(bounds[r + 1] - bounds[r], what);
        starts[r] = mpi_count(bounds[r], what);
    }
}
#endif

} // namespace

void reduce_scatter_sum(std::span<float> data, std::span<const size_t> bounds)
{
    if (!g_world.active || g_world.size == 1 || data.empty())
        return;
#ifdef NEURITE_HAVE_MPI
    const auto start = Clock::now();
    std::vector<int> &counts = g_world.part_counts, &starts = g_world.part_starts;
    part_counts(bounds, counts, starts, "reduce_scatter");
    if (g_world.size == 2) {
        // Each part reduced to its rank, in place: for the MLP's 940,608
        // bytes on 2 ranks 0.044 ms with Open MPI's CMA single copy, against
        // 0.12 ms for its MPI_Reduce_scatter (bench/dist_allreduce.c
        // "sharded", docs/cluster.md).
        for (int r = 0; r < g_world.size; ++r) {
            float *part = data.data() + bounds[r];
            MPI_Reduce(r == g_world.rank ? MPI_IN_PLACE : part, part, counts[r], MPI_FLOAT, MPI_SUM, r,
                       MPI_COMM_WORLD);
        }
    } else {
        // In place, MPI puts this rank's sum at the start of the buffer: rank
        // 0's part is where it belongs, another rank's moves to its place.
        MPI_Reduce_scatter(MPI_IN_PLACE, data.data(), counts.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        const size_t mine = bounds[g_world.rank];
        if (mine > 0)
            std::memmove(data.data() + mine, data.data(), counts[g_world.rank] * sizeof(float));
    }
    record(g_stats.allreduce_calls, g_stats.allreduce_bytes, g_stats.allreduce_seconds, start, data.size_bytes());
#else
    (void)bounds;
#endif
}

void allgather(std::span<float> data, std::span<const size_t> bounds)
{
    if (!g_world.active || g_world.size == 1 || data.empty())
        return;
#ifdef NEURITE_HAVE_MPI
    const auto start = Clock::now();
    std::vector<int> &counts = g_world.part_counts, &starts = g_world.part_starts;
    part_counts(bounds, counts, starts, "allgather");
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data.data(), counts.data(), starts.data(), MPI_FLOAT,
                   MPI_COMM_WORLD);
    record(g_stats.allgather_calls, g_stats.allgather_bytes, g_stats.allgather_seconds, start, data.size_bytes());
#else
    (void)bounds;
#endif
}

void allreduce_bitwise_or(std::span<uint8_t> data)
{
    if (!g_world.active || g_world.size == 1)
        return;
#ifdef NEURITE_HAVE_MPI
    long long sizes[2] = {static_cast<long long>(data.size()), -static_cast<long long>(data.size())};
    MPI_Allreduce(MPI_IN_PLACE, sizes, 2, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (sizes[0] != -sizes[1])
        throw Error("merging the ranks' parts: this rank has " + std::to_string(data.size()) +
                    " bytes, another " + std::to_string(sizes[0] == static_cast<long long>(data.size())
                                                            ? -sizes[1] : sizes[0]));
    constexpr size_t kPiece = size_t{1} << 30;
    for (size_t at = 0; at < data.size(); at += kPiece)
        MPI_Allreduce(MPI_IN_PLACE, data.data() + at, static_cast<int>(std::min(kPiece, data.size() - at)),
                      MPI_BYTE, MPI_BOR, MPI_COMM_WORLD);
#endif
}

void barrier()
{
#ifdef NEURITE_HAVE_MPI
    if (g_world.active && g_world.size > 1)
        MPI_Barrier(MPI_COMM_WORLD);
#endif
}

bool barrier_within(double seconds)
{
#ifdef NEURITE_HAVE_MPI
    if (!g_world.active || g_world.size == 1)
        return true;
    MPI_Request request;
    MPI_Ibarrier(MPI_COMM_WORLD, &request);
    const auto start = Clock::now();
    for (;;) {
        int done = 0;
        MPI_Test(&request, &done, MPI_STATUS_IGNORE);
        if (done)
            return true;
        if (seconds_since(start) > seconds)
            return false; // the caller aborts: the request never completes
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
#else
    (void)seconds;
    return true;
#endif
}

const Stats &stats() { return g_stats; }
void reset_stats() { g_stats = Stats{}; }

} // namespace neurite::dist
