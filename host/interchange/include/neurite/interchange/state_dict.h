#pragma once

// A model's parameters as named tensors, PyTorch's state_dict: a key is the
// node's index counted from 0 as PyTorch counts a Sequential's children
// ("0.weight", "2.bias"), nested models adding their own ("3.0.weight"), so
// an .npz of a Neurite Sequential loads into the same torch.nn.Sequential.
// Buffers (batch norm's running statistics) are included, as in PyTorch.
#include "neurite/core/model.h"
#include "neurite/interchange/npy_io.h"

#include <string>

namespace neurite::interchange {

// Copies of every parameter and buffer, in node order.
NamedTensors state_dict(Model &model);

// Copies values in by name. Everything is checked first and every problem
// is reported in one Error: keys the model lacks ("unexpected"), keys the
// table lacks ("missing", ignored when strict is false) and shapes that
// differ. `what` starts the message ("m:load_state_dict").
void load_state_dict(Model &model, const NamedTensors &values, bool strict, const std::string &what);

} // namespace neurite::interchange
