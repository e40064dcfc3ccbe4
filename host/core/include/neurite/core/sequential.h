#pragma once

// nn.Sequential is a model whose nodes form a chain: see model.h.
#include "neurite/core/model.h"
