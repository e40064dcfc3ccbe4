#include "neurite/core/data/current.h"

#include <mutex>

namespace neurite::data {

namespace {

std::mutex g_mutex;
Dataset g_current; // a view: copying it shares the samples

} // namespace

void set_current_dataset(const Dataset &dataset)
{
    std::lock_guard lock(g_mutex);
    g_current = dataset;
}

Dataset current_dataset()
{
    std::lock_guard lock(g_mutex);
    return g_current;
}

} // namespace neurite::data
