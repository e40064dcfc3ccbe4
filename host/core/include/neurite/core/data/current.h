#pragma once

#include "neurite/core/data/dataset.h"

namespace neurite::data {

// The dataset a person opened in the window, which scripts read with
// data.current(). Process-wide and thread-safe: the window sets it on the UI
// thread, a script reads it on its run thread. Empty until something is set.
void set_current_dataset(const Dataset &dataset);
Dataset current_dataset();

} // namespace neurite::data
