#pragma once

namespace neurite::gui::kernel {

// `neurite-run --kernel`: runs the window's scripts in this process, one Lua
// state kept alive between requests (so the console evaluates in the last
// run's state), taking requests as frames on stdin and answering with frames
// on stdout (kernel_protocol.h). Returns the exit code when the window
// closes stdin. A crash here ends this process only: the crash handler's
// line on stderr names the plugin and call, and the window shows it.
int serve();

} // namespace neurite::gui::kernel
