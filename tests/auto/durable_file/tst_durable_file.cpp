// durable_write: the new bytes replace the old file whole, after the data
// and before the folder are flushed to disk; a failure leaves the old file
// and no temporary one.
#include "neurite/core/durable_file.h"
#include "neurite/core/error.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

using namespace neurite;

namespace {

// What the code under test asked of the system, in order: "fsync <path>",
// "rename <from> -> <to>". fsync and rename below stand in for libc's
// (an executable's symbols come first when a library's calls are bound)
// and pass each call on after recording it.
std::vector<std::string> g_calls;

std::string fd_path(int fd)
{
    char link[64], target[4096];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    return n > 0 ? std::string(target, static_cast<size_t>(n)) : "?";
}

std::vector<uint8_t> bytes_of(const std::string &text) { return {text.begin(), text.end()}; }

QString read_all(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString("<missing>");
}

} // namespace

extern "C" int fsync(int fd)
{
    g_calls.push_back("fsync " + fd_path(fd));
    static auto real = reinterpret_cast<int (*)(int)>(dlsym(RTLD_NEXT, "fsync"));
    return real(fd);
}

extern "C" int rename(const char *from, const char *to)
{
    g_calls.push_back(std::string("rename ") + from + " -> " + to);
    static auto real = reinterpret_cast<int (*)(const char *, const char *)>(dlsym(RTLD_NEXT, "rename"));
    return real(from, to);
}

class TestDurableFile : public QObject {
    Q_OBJECT

private slots:
    void replaces_the_file_after_flushing_it_then_the_folder()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath("model.nrt");
        const std::string real_dir = QDir(dir.path()).canonicalPath().toStdString();
        durable_write(path.toStdString(), bytes_of("old"));
        g_calls.clear();
        durable_write(path.toStdString(), bytes_of("new contents"));
        QCOMPARE(read_all(path), QString("new contents"));
        QCOMPARE(g_calls.size(), size_t(3));
        // The temporary file is flushed, renamed over the old one, and the
        // folder flushed after the rename.
        QVERIFY2(g_calls[0].rfind("fsync " + real_dir + "/model.nrt.tmp-", 0) == 0, g_calls[0].c_str());
        QVERIFY2(g_calls[1].rfind("rename " + path.toStdString() + ".tmp-", 0) == 0, g_calls[1].c_str());
        QVERIFY2(g_calls[1].find(" -> " + path.toStdString()) != std::string::npos, g_calls[1].c_str());
        QCOMPARE(QString::fromStdString(g_calls[2]), QString::fromStdString("fsync " + real_dir));
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList{"model.nrt"});
    }

    void a_failure_keeps_the_old_file_and_leaves_nothing_behind()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath("model.nrt");
        durable_write(path.toStdString(), bytes_of("old"));
        // A folder in the way of the rename: the write fails at the end.
        const QString blocked = dir.filePath("blocked");
        QVERIFY(QDir(dir.path()).mkpath("blocked/inside"));
        try {
            durable_write(blocked.toStdString(), bytes_of("new"));
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).startsWith(blocked + ": cannot write: renaming "), e.what());
        }
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList{"model.nrt"});
        QCOMPARE(read_all(path), QString("old"));
        // A folder that does not exist.
        try {
            durable_write(dir.filePath("no/such/folder/m.nrt").toStdString(), bytes_of("x"));
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("cannot create a temporary file in"), e.what());
            QVERIFY2(QString(e.what()).endsWith("No such file or directory"), e.what());
        }
    }

    void a_symbolic_link_keeps_pointing_at_the_new_file()
    {
        QTemporaryDir dir;
        const QString target = dir.filePath("real.nrt"), link = dir.filePath("link.nrt");
        durable_write(target.toStdString(), bytes_of("old"));
        QVERIFY(QFile::link(target, link));
        durable_write(link.toStdString(), bytes_of("new"));
        QVERIFY(QFileInfo(link).isSymLink());
        QCOMPARE(read_all(target), QString("new"));
    }
};

QTEST_GUILESS_MAIN(TestDurableFile)
#include "tst_durable_file.moc"
