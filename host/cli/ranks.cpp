#include "ranks.h"

#include "neurite/core/compute_context.h"
#include "neurite/core/distributed.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>

namespace neurite::cli {

namespace {

std::string rank_text(int rank, int size)
{
    return "rank " + std::to_string(rank) + " of " + std::to_string(size);
}

constexpr int kInterrupted = 130;
constexpr double kInterruptWaitSeconds = 5.0;

} // namespace

std::string program_label()
{
    if (!dist::launched_by_mpi() || dist::launcher_size() < 2)
        return "neurite-run";
    return "neurite-run (" + rank_text(dist::launcher_rank(), dist::launcher_size()) + ")";
}

std::string start_ranks()
{
    if (!dist::launched_by_mpi())
        return {};
    try {
        dist::init();
    } catch (const std::exception &e) {
        return e.what();
    }
    return {};
}

void set_rank_threads(int requested)
{
    if (requested > 0) {
        ComputeContext::set_num_threads(requested);
        return;
    }
    if (dist::size() < 2)
        return;
    int threads = dist::usable_cores();
    if (const char *env = std::getenv("OMP_NUM_THREADS"); env && std::atoi(env) > 0)
        threads = std::min(threads, std::atoi(env));
    ComputeContext::set_num_threads(threads);
}

std::string message_prefix()
{
    if (dist::size() < 2)
        return "neurite-run: ";
    return "neurite-run: " + rank_text(dist::rank(), dist::size()) + ": ";
}

int finish_rank(int code)
{
    if (!dist::active())
        return code;
    if (dist::size() > 1 && code != 0) {
        std::fflush(nullptr);
        if (code != kInterrupted || !dist::barrier_within(kInterruptWaitSeconds))
            dist::abort(code);
    }
    dist::finalize();
    return code;
}

} // namespace neurite::cli
