#pragma once

// What scripts hold in memory, against an optional limit (neurite-run
// --max-memory): tensor storage made by the core, and Lua's own allocations
// (strings, tables, tensors made in Lua), which the Lua runtime charges here.
// Memory that plugins allocate for themselves is not counted.
//
// The budget is process-wide: one limit for everything the process runs.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace neurite::memory {

// 0: no limit (the default).
void set_limit(uint64_t bytes);
uint64_t limit();

uint64_t tensor_bytes();
uint64_t lua_bytes();

// Storage for a tensor of `bytes` (64-byte aligned, freed and uncharged with
// its last owner). Throws neurite::Error when it would pass the limit;
// returns null when the system has no memory for it.
std::shared_ptr<float> tensor_storage(size_t bytes);

// Lua's allocations: true when `more` bytes fit under `ceiling` (0: any).
// The Lua runtime decides the ceiling (it lets a script run slightly over
// the limit until its next hook can raise an error at the script's line).
bool charge_lua(uint64_t more, uint64_t ceiling);
void uncharge_lua(uint64_t fewer);

// "1.5 GiB", "300 MiB", "12 KiB", "17 B".
std::string size_text(uint64_t bytes);
// "the memory limit of 1 GiB (in use: Lua 200 MiB, tensors 800 MiB)".
std::string limit_text();
// The machine's physical memory, 0 when unknown.
uint64_t physical_memory();

} // namespace neurite::memory
