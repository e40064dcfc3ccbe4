#pragma once

// Data-parallel runs on MPI (Open MPI): the processes ("ranks") of one
// `mpirun -np N neurite-run script.lua` each run the whole script on their
// share of the data, and meet in collectives. Ranks count from 0, as in
// MPI, Slurm (SLURM_PROCID) and torch.distributed: rank 0 is the main one.
//
// Without MPI (a build without it, or a process not started by mpirun or
// srun) every function here acts for a world of one process: rank 0 of 1,
// reductions and broadcasts leave their data as it is, a barrier returns.
//
// Every collective must be called by every rank in the same order; that is
// MPI's rule, and train.fit keeps it. Calls come from the thread that
// initialised MPI (MPI_THREAD_FUNNELED).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace neurite {
class Model;
class Optimizer;
}

namespace neurite::dist {

// Whether this process was started by an MPI launcher: Open MPI's mpirun
// (OMPI_COMM_WORLD_SIZE) or a PMIx launcher such as Slurm's srun --mpi=pmix
// (PMIX_RANK). A plain run leaves MPI alone, so it needs no MPI runtime.
bool launched_by_mpi();
// The rank and size the launcher announced in the environment, before MPI
// is initialised (0 and 1 when there is none): for messages that must name
// the rank even if initialisation fails.
int launcher_rank();
int launcher_size();

// MPI_Init_thread with MPI_THREAD_FUNNELED. Throws neurite::Error when MPI
// cannot start or this build has no MPI ("... built without MPI").
void init();
// Whether MPI was initialised (and not yet finalised) in this process.
bool active();
// Ends MPI normally (every rank must call it); a no-op when not active.
void finalize();
// Ends every rank of the run at once with `code` (MPI_Abort); without MPI,
// exits this process with `code`.
[[noreturn]] void abort(int code);

int rank();
int size();
inline bool is_main() { return rank() == 0; }
// Ranks on this node (MPI_COMM_TYPE_SHARED), for dividing its cores.
int local_size();
// Cores this process may compute on: its CPU affinity (mpirun binds a rank
// to its cores), shared evenly with the other ranks of its node. At least 1.
int usable_cores();

enum class Op { Sum, Mean, Min, Max, Prod };
// "sum", "mean", "min", "max", "prod"; false for another name.
bool parse_op(const std::string &name, Op &op);
const char *op_names(); // "sum, mean, min, max, prod"

// In place, over every rank: data[i] = op over ranks of data[i].
void allreduce(std::span<float> data, Op op);
void allreduce(std::span<double> data, Op op);
// Root's bytes into every rank's `data` (the same size everywhere).
void broadcast(void *data, size_t bytes, int root);
// Root's string to every rank (any length: the length goes first).
void broadcast(std::string &text, int root);
// Sums `data` over the ranks, each rank keeping its own part: afterwards
// data[bounds[r], bounds[r + 1]) on rank r holds the sum (the rest of it is
// left undefined). bounds has size() + 1 ascending entries, from 0 to
// data.size(). MPI_Reduce_scatter.
void reduce_scatter_sum(std::span<float> data, std::span<const size_t> bounds);
// The inverse: rank r's data[bounds[r], bounds[r + 1]) into every rank's
// data, in place. MPI_Allgatherv.
void allgather(std::span<float> data, std::span<const size_t> bounds);
// data = bitwise OR over the ranks of data, the same size on every rank
// (checked: an error names the sizes). How dist merges the ranks' parts of
// a sharded optimizer's state.
void allreduce_bitwise_or(std::span<uint8_t> data);
void barrier();
// A barrier that gives up: true once every rank arrived, false if some had
// not after `seconds` (a rank stuck in another collective, or gone). How
// ranks that stop early agree to finish together, or else abort.
bool barrier_within(double seconds);

// What the collectives cost this process so far (the benchmark reads it):
// calls, bytes reduced or sent, and seconds spent inside MPI.
struct Stats {
    int64_t allreduce_calls = 0;
    int64_t allreduce_bytes = 0;
    double allreduce_seconds = 0;
    // Reduce-scatters count as allreduces (a sharded optimizer's step);
    // the allgathers of the parameters that follow them apart.
    int64_t allgather_calls = 0;
    int64_t allgather_bytes = 0;
    double allgather_seconds = 0;
    int64_t broadcast_calls = 0;
    int64_t broadcast_bytes = 0;
    double broadcast_seconds = 0;
};
const Stats &stats();
void reset_stats();

// ---- models (data_parallel.cpp)

// Sums (Op::Sum) or averages (Op::Mean) the gradients of every trained
// parameter of `model` over the ranks: pending lazy clears are made real
// first, so a rank that ran no backward this step contributes zeros. The
// parameters in the model's arena go in one MPI_Allreduce over its
// contiguous gradient block; parameters outside it (ABI 1.0 layers, Lua
// layers) one call each.
void allreduce_gradients(Model &model, Op op);
// Root's parameter values and buffers (running statistics) into every rank.
void broadcast_parameters(Model &model, int root);
// Averages the buffers (such as batch norm's running statistics, which
// each rank gathered from its own samples) over the ranks.
void average_buffers(Model &model);

// A sharded optimizer step (ZeRO stage 1): each rank steps its own part of
// the model's arena, a contiguous 1/N of it, and keeps the optimizer state
// of that part alone. reduce_gradients then sums the gradients with a
// reduce-scatter (each rank gets its part's sum), the optimizer steps the
// part, and its step ends with an allgather of the parameter values.
// shard_optimizer returns false, and leaves the optimizer whole, in a run of
// one process, when the optimizer cannot step a part (ABI < 1.3 or
// NRT_ERR_UNSUPPORTED on any rank), or when its parameters are not exactly
// the model's arena (parameters outside it, or a subset). Collective.
bool shard_optimizer(Model &model, Optimizer &optimizer);
// Puts the whole state back on every rank (the ranks' parts merged) and
// steps the whole model again; false when it was not sharded. Collective.
bool unshard_optimizer(Optimizer &optimizer);
// After backward: reduce-scatter for a sharded optimizer, else
// allreduce_gradients(model, Op::Sum).
void reduce_gradients(Model &model, Optimizer &optimizer);

} // namespace neurite::dist
