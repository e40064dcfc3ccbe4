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

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_PARALLEL_HPP
