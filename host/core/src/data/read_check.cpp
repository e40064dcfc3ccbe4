#include "neurite/core/data/read_check.h"

namespace neurite::data {

namespace {
thread_local const ReadCheck *t_read_check = nullptr;
}

ReadCheckScope::ReadCheckScope(const ReadCheck *check) : m_previous(t_read_check) { t_read_check = check; }
ReadCheckScope::~ReadCheckScope() { t_read_check = m_previous; }

const ReadCheck *current_read_check() { return t_read_check; }

void check_read(const std::string &path)
{
    if (t_read_check && *t_read_check)
        (*t_read_check)(path);
}

} // namespace neurite::data
