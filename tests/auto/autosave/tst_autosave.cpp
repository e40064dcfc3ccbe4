// The editor's autosave (issue 11): unsaved text survives a window that
// crashes or is killed, comes back marked unsaved, and a clean close or a
// live window's session is never offered.
#include "code_editor.h"
#include "editor_autosave.h"
#include "editor_tabs.h"

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QSysInfo>
#include <QTemporaryDir>
#include <QTest>

using neurite::gui::CodeEditor;
using neurite::gui::EditorAutosave;
using neurite::gui::EditorTabs;
using neurite::gui::RecoveredScript;

class TestAutosave : public QObject {
    Q_OBJECT

private:
    // A session folder as a window left it when it died: a lock naming a
    // process that no longer runs, and its session.json.
    static void write_dead_session(const QString &root, const QByteArray &json)
    {
        const QString dir = root + "/session-999999-deadbeef";
        QVERIFY(QDir().mkpath(dir));
        QFile lock(dir + "/lock");
        QVERIFY(lock.open(QIODevice::WriteOnly));
        lock.write("999999\nneurite\n" + QSysInfo::machineHostName().toUtf8() + "\n");
        lock.close();
        QFile session(dir + "/session.json");
        QVERIFY(session.open(QIODevice::WriteOnly));
        session.write(json);
    }

private slots:
    void unsaved_text_is_written_after_a_change()
    {
        QTemporaryDir root;
        EditorTabs tabs;
        EditorAutosave autosave(&tabs, root.path());
        CodeEditor *editor = tabs.new_script("print(1)\n");
        editor->moveCursor(QTextCursor::End);
        editor->insertPlainText("print('not saved yet')\n"); // as typed
        // Written within the debounce (1.5 s) without anyone asking.
        const QString file = autosave.session_dir() + "/session.json";
        QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(file), 5000);
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray json = f.readAll();
        QVERIFY2(json.contains("print('not saved yet')"), json.constData());
        QVERIFY(json.contains("\"modified\":true"));
    }

    void a_live_windows_session_is_not_offered()
    {
        QTemporaryDir root;
        EditorTabs first, second;
        EditorAutosave a(&first, root.path());
        first.new_script("x = 1\n")->insertPlainText("x = 2\n");
        a.save_now();
        EditorAutosave b(&second, root.path());
        QCOMPARE(b.recoverable().size(), size_t(0));
    }

    void a_dead_windows_scripts_come_back()
    {
        QTemporaryDir root, scripts;
        const QString saved = scripts.filePath("saved.lua");
        QFile file(saved);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("print('on disk')\n");
        file.close();
        write_dead_session(root.path(),
                           R"({"scripts":[{"path":")" + saved.toUtf8() +
                               R"(","title":"saved.lua","modified":false},)"
                               R"({"path":"","title":"untitled","modified":true,"text":"print('typed')\n"},)"
                               R"({"path":"","title":"untitled","modified":false}]})");
        EditorTabs tabs;
        EditorAutosave autosave(&tabs, root.path());
        const std::vector<RecoveredScript> found = autosave.recoverable();
        QCOMPARE(found.size(), size_t(2)); // the empty untitled one has nothing to give back
        autosave.restore(found);
        QCOMPARE(tabs.count(), 2);
        auto *reopened = qobject_cast<CodeEditor *>(tabs.widget(0));
        auto *typed = qobject_cast<CodeEditor *>(tabs.widget(1));
        QCOMPARE(reopened->path(), QFileInfo(saved).absoluteFilePath());
        QCOMPARE(reopened->toPlainText(), QString("print('on disk')\n"));
        QVERIFY(!reopened->document()->isModified());
        QCOMPARE(typed->toPlainText(), QString("print('typed')\n"));
        QVERIFY2(typed->document()->isModified(), "restored text is not in any file: it must show as unsaved");
        QVERIFY(tabs.tabText(1).endsWith('*'));
        // Offered once: the dead session is gone, ours now holds the scripts.
        QCOMPARE(autosave.recoverable().size(), size_t(0));
        QVERIFY(!QDir(root.path() + "/session-999999-deadbeef").exists());
    }

    void discard_forgets_them()
    {
        QTemporaryDir root;
        write_dead_session(root.path(), R"({"scripts":[{"path":"","title":"a","modified":true,"text":"1"}]})");
        EditorTabs tabs;
        EditorAutosave autosave(&tabs, root.path());
        QCOMPARE(autosave.recoverable().size(), size_t(1));
        autosave.discard_recoverable();
        QCOMPARE(autosave.recoverable().size(), size_t(0));
        QCOMPARE(tabs.count(), 0);
    }

    void a_clean_close_leaves_nothing_and_an_abrupt_quit_keeps_unsaved_text()
    {
        QTemporaryDir root;
        QString dir;
        {
            EditorTabs tabs;
            EditorAutosave autosave(&tabs, root.path());
            tabs.new_script("a\n")->insertPlainText("b\n");
            dir = autosave.session_dir();
            autosave.save_now();
            QVERIFY(QDir(dir).exists());
            autosave.finish(); // the window closed after its prompts
            QVERIFY(!QDir(dir).exists());
        }
        {
            // The application quit without closing the window (no prompt):
            // unsaved text is kept for the next window.
            EditorTabs tabs;
            auto *autosave = new EditorAutosave(&tabs, root.path());
            tabs.new_script("c\n")->insertPlainText("d\n");
            dir = autosave->session_dir();
            delete autosave;
        }
        EditorTabs next;
        EditorAutosave autosave(&next, root.path());
        const std::vector<RecoveredScript> found = autosave.recoverable();
        QCOMPARE(found.size(), size_t(1));
        QCOMPARE(found[0].text, QString("d\nc\n"));
    }
};

QTEST_MAIN(TestAutosave)
#include "tst_autosave.moc"
