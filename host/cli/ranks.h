#pragma once

// neurite-run as one rank of a data-parallel run (mpirun -np N neurite-run
// script.lua, or srun): starting MPI, choosing the compute threads, naming
// the rank in messages, and ending so that no rank is left waiting in a
// collective. In a plain run these do what neurite-run always did.
#include <string>

namespace neurite::cli {

// "neurite-run", or under a launcher "neurite-run (rank 1 of 4)": what a
// crash line starts with. Read from the launcher's environment, so it is
// right before MPI starts.
std::string program_label();

// Starts MPI when a launcher started this process (not in a plain run,
// which then needs no MPI runtime). Returns an error message, or "".
std::string start_ranks();

// Compute threads: `requested` (--threads) when > 0; in a run of several
// ranks, the cores this rank may use (its CPU affinity, shared with the
// other ranks of its node), at most OMP_NUM_THREADS when that is set, so
// that `mpirun -np 2` on 2 cores does not oversubscribe them.
void set_rank_threads(int requested);

// "neurite-run: ", or "neurite-run: rank 1 of 2: " in a run of several ranks.
std::string message_prefix();

// Ends this rank's part of the run with exit code `code`. Success waits for
// every rank (MPI_Finalize). An interrupt (130) waits up to 5 s for the
// others, which stop at the same step when train.fit runs, and aborts the
// run if they do not come. Any other failure aborts every rank at once
// (MPI_Abort), since the others may be waiting for this one in a collective.
int finish_rank(int code);

} // namespace neurite::cli
