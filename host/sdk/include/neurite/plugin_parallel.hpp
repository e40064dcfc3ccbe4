// Loops over elements split between the OpenMP team, for plugins built with
// OpenMP (neurite_add_plugin(... LIBRARIES OpenMP::OpenMP_CXX)).
#ifndef NEURITE_PLUGIN_PARALLEL_HPP
#define NEURITE_PLUGIN_PARALLEL_HPP

#include "neurite/plugin.hpp"

#include <omp.h>

#include <cstdint>

namespace neurite::sdk {

// Runs body(first, last) over [0, n): in one call when n is below
// serial_below, where a fork/join costs more than the loop, else one
// contiguous block per thread of the team (row_block), so that each thread
// touches its own cache lines.
template <class Body> void parallel_for(int64_t n, int64_t serial_below, Body &&body)
{
    if (n < serial_below) {
        body(int64_t{0}, n);
        return;
    }
#pragma omp parallel
    {
        const RowBlock r = row_block(n, omp_get_thread_num(), omp_get_num_threads());
        body(r.first, r.last);
    }
}

// Runs body(first, last, part) over [0, n) split into `team` contiguous
// blocks, part numbering them from 0, with at most one thread a block. A
// team of one runs in the calling thread without a parallel region: libgomp
// allocates a team for each region it opens, even of one thread, and a
// training step allocates nothing. team follows the host's thread count.
template <class Body> void parallel_blocks(int team, int64_t n, Body &&body)
{
    if (team <= 1 || n <= 1) {
        body(int64_t{0}, n, 0);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        const int part = omp_get_thread_num(), parts = omp_get_num_threads();
        const RowBlock r = row_block(n, part, parts);
        body(r.first, r.last, part);
    }
}

// Runs the enclosed oneDNN calls on one thread, for work too small to be
// worth a fork/join. oneDNN plans a primitive for the thread count at its
// creation, so creation and execution both run inside one.
class OneThread {
public:
    explicit OneThread(bool active = true) : m_saved(active ? omp_get_max_threads() : 0)
    {
        if (m_saved)
            omp_set_num_threads(1);
    }
    ~OneThread()
    {
        if (m_saved)
            omp_set_num_threads(m_saved);
    }
    OneThread(const OneThread &) = delete;
    OneThread &operator=(const OneThread &) = delete;

private:
    int m_saved;
};

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_PARALLEL_HPP
