#pragma once

#include "stored_run.h"

#include <QColor>
#include <QHash>
#include <QIcon>
#include <QWidget>

class QTreeWidget;
class QTreeWidgetItem;

namespace neurite::gui {

// A run's colour as a small bar, for the rows that stand for it.
QIcon run_swatch(const QColor &colour);

// The runs of the training monitor, one row each, and the legend of every
// chart: the row's swatch is its lines' colour, its checkbox shows or hides
// them in all charts. Columns hold what the run store recorded (status,
// start, hyperparameters, final metrics); a click on a header sorts by it.
// The context menu renames, deletes (after asking) or opens the script a
// run ran; the monitor does the work, this widget only asks.
class RunsList : public QWidget {
    Q_OBJECT

public:
    explicit RunsList(QWidget *parent = nullptr);

    void add_run(const QString &key, const QString &name, const QColor &colour, bool visible);
    void remove_run(const QString &key);
    void set_name(const QString &key, const QString &name);
    void set_visible(const QString &key, bool visible);
    // What the run store says of the run; its columns join the list's.
    void set_record(const QString &key, const StoredRun &run);
    // The last value of each metric and how the run ended, for a run the
    // store has not recorded (the store is off).
    void set_final_metrics(const QString &key, const QList<std::pair<QString, double>> &metrics,
                           const QString &status);
    void clear();
    // Many rows at once (the store's runs at start): the columns are worked
    // out and sized once, at the end, not after each row.
    void begin_batch() { m_batch = true; }
    void end_batch();

    // The headers, left to right, and a cell's text ("" when the run has none).
    QStringList columns() const;
    QString cell(const QString &key, const QString &column) const;
    // Run keys top to bottom, as sorted now.
    QStringList keys_in_order() const;
    void sort_by(const QString &column, Qt::SortOrder order);
    QColor colour(const QString &key) const;
    int row_count() const { return static_cast<int>(m_rows.size()); }
    // The height that shows `rows` rows, the header and a scroll bar.
    int height_for_rows(int rows) const;
    QTreeWidget *tree() const { return m_tree; }

signals:
    void visibility_toggled(const QString &key, bool visible);
    void rename_requested(const QString &key);
    void delete_requested(const QString &key);
    void open_script_requested(const QString &key);

private:
    struct Row {
        QString name;
        QColor colour;
        bool has_record = false;
        StoredRun record;
        QList<std::pair<QString, double>> live_metrics;
        QString live_status;
        QDateTime live_started;
        QTreeWidgetItem *item = nullptr;
    };
    // Recomputes the header from every row's keys, refilling the rows when
    // it changed; else refills `only`.
    void update_columns(const QString &only);
    void fill(Row &row);
    QString tooltip(const Row &row) const;
    void show_menu(const QPoint &pos);
    QString key_of(const QTreeWidgetItem *item) const;

    QTreeWidget *m_tree;
    QHash<QString, Row> m_rows;
    QStringList m_order; // keys in order of arrival: the columns' order
    struct Column {
        bool hyperparameter; // else a final metric
        QString key, header;
        bool operator==(const Column &) const = default;
    };
    QList<Column> m_columns; // between Status and Started
    bool m_batch = false;
    bool m_filling = false; // itemChanged from our own edits is no user's toggle
};

} // namespace neurite::gui
