#include "neurite/core/durable_file.h"

#include "neurite/core/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace neurite {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string &path, const std::string &what)
{
    throw Error(path + ": cannot write: " + what + ": " + std::strerror(errno));
}

// Closes the descriptor and removes the temporary file unless committed.
class TemporaryFile {
public:
    explicit TemporaryFile(const fs::path &final_path)
    {
        std::random_device entropy;
        for (int attempt = 0; attempt < 100 && m_fd < 0; ++attempt) {
            char suffix[32];
            std::snprintf(suffix, sizeof suffix, ".tmp-%08x", static_cast<unsigned>(entropy()));
            m_path = final_path.string() + suffix;
            m_fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (m_fd < 0 && errno != EEXIST)
                break;
        }
    }
    ~TemporaryFile()
    {
        if (m_fd >= 0)
            ::close(m_fd);
        if (!m_committed && !m_path.empty())
            ::unlink(m_path.c_str());
    }
    TemporaryFile(const TemporaryFile &) = delete;
    TemporaryFile &operator=(const TemporaryFile &) = delete;

    int fd() const { return m_fd; }
    const std::string &path() const { return m_path; }
    int release()
    {
        const int fd = m_fd;
        m_fd = -1;
        return fd;
    }
    void committed() { m_committed = true; }

private:
    std::string m_path;
    int m_fd = -1;
    bool m_committed = false;
};

// Where a write to `path` lands: the target of a symbolic link, so that
// the link itself survives (as QSaveFile does).
fs::path write_target(const std::string &path)
{
    std::error_code ec;
    if (fs::is_symlink(path, ec)) {
        const fs::path resolved = fs::weakly_canonical(path, ec);
        if (!ec)
            return resolved;
    }
    return path;
}

} // namespace

void durable_write(const std::string &path, std::span<const uint8_t> bytes)
{
    const fs::path target = write_target(path);
    const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
    TemporaryFile temp(target);
    if (temp.fd() < 0)
        fail(path, "cannot create a temporary file in " + folder.string());
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(temp.fd(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail(path, "writing " + std::to_string(bytes.size()) + " bytes");
        done += static_cast<size_t>(n);
    }
    // The data reaches the disk before the name does, or a crash could
    // leave the new name on an empty file.
    if (::fsync(temp.fd()) != 0)
        fail(path, "flushing it to disk (fsync)");
    if (::close(temp.release()) != 0)
        fail(path, "closing it");
    if (::rename(temp.path().c_str(), target.c_str()) != 0)
        fail(path, "renaming " + temp.path() + " over it");
    temp.committed();
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        fail(path, "opening its folder to flush the rename");
    const int synced = ::fsync(dir);
    const int saved = errno;
    ::close(dir);
    errno = saved;
    if (synced != 0)
        fail(path, "flushing its folder to disk (fsync)");
}

} // namespace neurite
