#pragma once

#include <QWidget>

class QTreeWidget;
class QTableWidget;
class QTextBrowser;
class QPushButton;

namespace neurite {
class Registry;
struct Entry;
}

namespace neurite::gui {

// Every registry entry grouped by kind, with its origin file, version,
// summary and parameter schema, plus the libraries that were refused and
// why. Insert puts a constructor call for the selected entry into the editor.
class PluginBrowser : public QWidget {
    Q_OBJECT

public:
    explicit PluginBrowser(const Registry &registry, QWidget *parent = nullptr);

    // Re-reads the registry (after a script defined entries with nn.define).
    void reload();
    int entry_count() const;
    bool select(const QString &name);
    QString details() const;
    QTableWidget *parameter_table() const { return m_params; }

    // The Lua that constructs an entry: nn.Dense{inputs = 1, outputs = 1}, ...
    static QString constructor_call(const Entry &entry);

signals:
    void insert_requested(const QString &code);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void show_details();
    void size_range_column();

    const Registry &m_registry;
    QTreeWidget *m_tree;
    QTextBrowser *m_details;
    QTableWidget *m_params;
    QPushButton *m_insert;
};

} // namespace neurite::gui
