#include "editor_autosave.h"

#include "code_editor.h"
#include "editor_tabs.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QStandardPaths>
#include <QUuid>

namespace neurite::gui {

namespace {

constexpr int kDebounceMs = 1500;
const QString kSessionFile = QStringLiteral("session.json");

std::vector<RecoveredScript> read_session(const QString &dir)
{
    QFile file(dir + "/" + kSessionFile);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    const QJsonArray scripts = QJsonDocument::fromJson(file.readAll()).object().value("scripts").toArray();
    std::vector<RecoveredScript> out;
    for (const QJsonValue &v : scripts) {
        const QJsonObject o = v.toObject();
        RecoveredScript s{o.value("path").toString(), o.value("title").toString(), o.value("text").toString(),
                          o.value("modified").toBool()};
        // An untitled script with nothing unsaved has nothing to give back.
        if (s.modified || !s.path.isEmpty())
            out.push_back(s);
    }
    return out;
}

} // namespace

EditorAutosave::EditorAutosave(EditorTabs *tabs, const QString &root)
    : m_tabs(tabs), m_root(root)
{
    m_dir = m_root + QStringLiteral("/session-%1-%2")
                         .arg(QCoreApplication::applicationPid())
                         .arg(QUuid::createUuid().toString(QUuid::Id128).left(8));
    QDir().mkpath(m_dir);
    m_lock = std::make_unique<QLockFile>(m_dir + "/lock");
    m_lock->setStaleLockTime(0); // stale only when its process is gone
    m_lock->tryLock(0);
    m_debounce.setSingleShot(true);
    m_debounce.setInterval(kDebounceMs);
    connect(&m_debounce, &QTimer::timeout, this, &EditorAutosave::save_now);
    connect(tabs, &EditorTabs::scripts_changed, &m_debounce, qOverload<>(&QTimer::start));
}

EditorAutosave::~EditorAutosave()
{
    if (m_finished)
        return;
    // An orderly end without close's prompts (the application quit): keep
    // unsaved text for the next window, drop the rest.
    save_now();
    bool unsaved = false;
    for (const RecoveredScript &s : read_session(m_dir))
        unsaved = unsaved || s.modified;
    if (unsaved)
        m_lock->unlock();
    else
        finish();
}

QString EditorAutosave::default_root()
{
    return QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + "/autosave";
}

void EditorAutosave::save_now()
{
    m_debounce.stop();
    if (m_finished)
        return;
    QJsonArray scripts;
    for (int i = 0; i < m_tabs->count(); ++i) {
        const auto *editor = qobject_cast<const CodeEditor *>(m_tabs->widget(i));
        if (!editor)
            continue;
        QString title = m_tabs->tabText(i);
        if (title.endsWith('*'))
            title.chop(1);
        // A script never saved is in no file: its text counts as unsaved
        // even before the first keystroke (a quick experiment's code).
        const bool modified = editor->document()->isModified() || editor->path().isEmpty();
        QJsonObject o{{"path", editor->path()}, {"title", title}, {"modified", modified}};
        if (modified)
            o.insert("text", editor->toPlainText());
        scripts.append(o);
    }
    const QJsonObject session{{"saved", QDateTime::currentDateTimeUtc().toString(Qt::ISODate)},
                              {"scripts", scripts}};
    QDir().mkpath(m_dir);
    QSaveFile file(m_dir + "/" + kSessionFile); // a crash mid-write keeps the previous copy
    if (file.open(QIODevice::WriteOnly))
        file.write(QJsonDocument(session).toJson(QJsonDocument::Compact));
    file.commit();
}

void EditorAutosave::finish()
{
    m_debounce.stop();
    m_finished = true;
    m_lock->unlock();
    QDir(m_dir).removeRecursively();
}

QStringList EditorAutosave::stale_sessions() const
{
    QStringList stale;
    const QDir root(m_root);
    for (const QString &name : root.entryList({"session-*"}, QDir::Dirs | QDir::NoDotAndDotDot)) {
        const QString dir = root.filePath(name);
        if (QFileInfo(dir).absoluteFilePath() == QFileInfo(m_dir).absoluteFilePath())
            continue;
        QLockFile lock(dir + "/lock");
        lock.setStaleLockTime(0);
        if (lock.tryLock(0)) { // its window is gone (a live one holds it)
            lock.unlock();
            stale << dir;
        }
    }
    return stale;
}

std::vector<RecoveredScript> EditorAutosave::recoverable() const
{
    std::vector<RecoveredScript> out;
    for (const QString &dir : stale_sessions())
        for (const RecoveredScript &s : read_session(dir))
            out.push_back(s);
    return out;
}

void EditorAutosave::restore(const std::vector<RecoveredScript> &scripts)
{
    for (const RecoveredScript &s : scripts) {
        if (!s.modified) {
            if (QFileInfo::exists(s.path))
                m_tabs->open_file(s.path);
            continue;
        }
        CodeEditor *editor = m_tabs->new_script(s.text, s.title);
        editor->set_holds_work(true);
        editor->set_path(s.path);
        editor->document()->setModified(true); // its text is not in its file
    }
    discard_recoverable();
    save_now();
}

void EditorAutosave::discard_recoverable()
{
    for (const QString &dir : stale_sessions())
        QDir(dir).removeRecursively();
}

} // namespace neurite::gui
