#include "editor_tabs.h"
#include "save_location.h"

#include "code_editor.h"

#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMessageBox>
#include <QRegularExpression>
#include <QSaveFile>
#include <QSettings>
#include <QTextStream>

#include <algorithm>

namespace neurite::gui {

namespace {

constexpr int kMaxRecent = 10;

} // namespace

EditorTabs::EditorTabs(QWidget *parent) : QTabWidget(parent)
{
    setTabsClosable(true);
    setMovable(true);
    setDocumentMode(true);
    connect(this, &QTabWidget::tabCloseRequested, this, [this](int index) { maybe_close(index); });
}

CodeEditor *EditorTabs::current() const
{
    return qobject_cast<CodeEditor *>(currentWidget());
}

CodeEditor *EditorTabs::new_script(const QString &text, const QString &title)
{
    auto *editor = new CodeEditor;
    editor->setPlainText(text);
    editor->document()->setModified(false);
    const int index = addTab(editor, title.isEmpty() ? editor->display_name() : title);
    setCurrentIndex(index);
    connect(editor->document(), &QTextDocument::modificationChanged, this, [this, editor] { update_title(editor); });
    connect(editor->document(), &QTextDocument::contentsChanged, this, &EditorTabs::scripts_changed);
    emit scripts_changed();
    return editor;
}

CodeEditor *EditorTabs::open_file(const QString &path, QString *error)
{
    const QString canonical = QFileInfo(path).canonicalFilePath();
    for (int i = 0; i < count(); ++i) {
        auto *e = qobject_cast<CodeEditor *>(widget(i));
        if (e && !canonical.isEmpty() && QFileInfo(e->path()).canonicalFilePath() == canonical) {
            setCurrentIndex(i);
            return e;
        }
    }
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly | QIODevice::Text)) {
        if (error)
            *error = tr("%1: cannot open: %2").arg(path, file.errorString());
        return nullptr;
    }
    CodeEditor *editor = new_script(QString::fromUtf8(file.readAll()));
    editor->set_path(QFileInfo(path).absoluteFilePath());
    update_title(editor);
    remember(editor->path());
    emit scripts_changed();
    return editor;
}

bool EditorTabs::save(CodeEditor *editor, QString *error)
{
    if (!editor)
        return false;
    if (editor->path().isEmpty())
        return save_as(editor);
    QSaveFile file(editor->path()); // atomic: a failed save never truncates the script
    if (!file.open(QIODevice::WriteOnly | QIODevice::Text) ||
        file.write(editor->toPlainText().toUtf8()) < 0 || !file.commit()) {
        const QString message = tr("%1: cannot save: %2").arg(editor->path(), file.errorString());
        if (error)
            *error = message;
        else
            QMessageBox::warning(this, tr("Save"), message);
        return false;
    }
    editor->document()->setModified(false);
    update_title(editor);
    remember(editor->path());
    emit scripts_changed();
    return true;
}

bool EditorTabs::save_as(CodeEditor *editor)
{
    if (!editor)
        return false;
    const QString path = QFileDialog::getSaveFileName(this, tr("Save script"),
                                                      editor->path().isEmpty() ? save_location("experiment.lua") : editor->path(),
                                                      tr("Lua scripts (*.lua)"));
    if (path.isEmpty())
        return false;
    editor->set_path(path);
    return save(editor);
}

bool EditorTabs::show_location(const QString &path, int line, bool as_error)
{
    CodeEditor *editor = nullptr;
    const QString wanted = QFileInfo(path).absoluteFilePath();
    // A script without a file ran under its tab's title (the current tab first).
    const auto names = [&](int i) {
        auto *e = qobject_cast<CodeEditor *>(widget(i));
        QString title = tabText(i);
        if (title.endsWith('*'))
            title.chop(1);
        return e && (e->path() == wanted || e->path().endsWith("/" + path) || e->display_name() == path ||
                     (e->path().isEmpty() && title == path));
    };
    for (int k = -1; k < count() && !editor; ++k) {
        const int i = k < 0 ? currentIndex() : k;
        if (i >= 0 && names(i)) {
            editor = qobject_cast<CodeEditor *>(widget(i));
            setCurrentIndex(i);
        }
    }
    if (!editor && QFileInfo::exists(path))
        editor = open_file(path);
    if (!editor)
        return false;
    if (as_error)
        editor->mark_error_line(line);
    editor->go_to_line(line);
    return true;
}

void EditorTabs::show_error(const QString &message, const ErrorFrames &frames)
{
    // "file.lua:12: ..." at the start of the message, when it is a frame of
    // the user's code; Lua shortens long paths to "...end/of/path.lua".
    static const QRegularExpression location(R"(^(.+?):(\d+): )");
    const QRegularExpressionMatch m = location.match(message);
    if (m.hasMatch()) {
        QString named = m.captured(1);
        const bool shortened = named.startsWith("...");
        if (shortened)
            named = named.mid(3);
        for (const ErrorFrame &f : frames)
            if (f.source == named || (shortened && f.source.endsWith(named))) {
                named = f.source;
                break;
            }
        const bool library = std::any_of(frames.begin(), frames.end(),
                                          [&](const ErrorFrame &f) { return f.library && f.source == named; });
        if (!library && show_location(named, m.captured(2).toInt(), true))
            return;
    }
    if (const ErrorFrame *user = innermost_user_frame(frames))
        show_location(user->source, user->line, true);
}

void EditorTabs::show_library_location(const QString &path, int line)
{
    CodeEditor *editor = open_file(path);
    if (!editor)
        return;
    editor->setReadOnly(true);
    update_title(editor);
    editor->go_to_line(line);
}

void EditorTabs::clear_error_marks()
{
    for (int i = 0; i < count(); ++i)
        if (auto *e = qobject_cast<CodeEditor *>(widget(i)))
            e->mark_error_line(0);
}

bool EditorTabs::maybe_close(int index)
{
    auto *editor = qobject_cast<CodeEditor *>(widget(index));
    if (editor && unsaved(editor)) {
        setCurrentIndex(index); // the question is about the tab in front
        const auto answer = QMessageBox::question(
            this, tr("Close"),
            editor->path().isEmpty() ? tr("%1 was never saved. Save it?").arg(tabText(index))
                                     : tr("%1 has unsaved changes. Save them?").arg(editor->display_name()),
            QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel);
        if (answer == QMessageBox::Cancel || (answer == QMessageBox::Save && !save(editor)))
            return false;
    }
    removeTab(index);
    delete editor;
    emit scripts_changed();
    return true;
}

bool EditorTabs::unsaved(const CodeEditor *editor)
{
    return editor->document()->isModified() || (editor->path().isEmpty() && editor->holds_work());
}

bool EditorTabs::close_all()
{
    while (count() > 0)
        if (!maybe_close(count() - 1))
            return false;
    return true;
}

QStringList EditorTabs::recent_files() const
{
    return QSettings().value("editor/recent").toStringList();
}

void EditorTabs::remember(const QString &path)
{
    QStringList recent = recent_files();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > kMaxRecent)
        recent.removeLast();
    QSettings().setValue("editor/recent", recent);
    emit recent_files_changed();
}

void EditorTabs::update_title(CodeEditor *editor)
{
    const int index = indexOf(editor);
    if (index < 0)
        return;
    const QString state = editor->isReadOnly() ? tr(" (read-only)") : editor->document()->isModified() ? "*" : "";
    setTabText(index, editor->display_name() + state);
    setTabToolTip(index, editor->isReadOnly() ? tr("%1\nNeurite's own code, open to read").arg(editor->path())
                                              : editor->path());
}

} // namespace neurite::gui
