#pragma once

#include "stored_run.h"

#include <QColor>
#include <QWidget>

class QComboBox;
class QPushButton;
class QTableWidget;

namespace neurite::gui {

// One variant of a train.sweep as the sweep table shows it.
struct SweepVariant {
    QString key; // the monitor's key of the run
    QColor colour;
    StoredRun run;
};

// One train.sweep: its variants, and the metric and direction it ranks by.
struct Sweep {
    QString title;
    QString metric, mode; // mode: "min" or "max"
    QList<SweepVariant> variants;
};

// The variants of the store's runs, grouped into sweeps: a sweep's
// variants share the sweep's name and script and number 1, 2, ... without
// repeating (a variant number seen again begins the next sweep). `runs`
// in order of start.
QList<Sweep> group_sweeps(const QList<SweepVariant> &runs);

// TensorBoard's HParams table for a sweep: a row per variant, best first by
// the sweep's metric, with the variant's configuration and the run's swatch
// (its curves are overlaid in the charts). Several sweeps: a choice of which.
class SweepTable : public QWidget {
    Q_OBJECT

public:
    explicit SweepTable(QWidget *parent = nullptr);

    void set_sweeps(const QList<Sweep> &sweeps);
    int sweep_count() const { return static_cast<int>(m_sweeps.size()); }
    // The shown sweep's run keys, best first, and its columns' headers.
    QStringList keys_in_order() const;
    QStringList columns() const;
    QString cell(int row, const QString &column) const;
    QTableWidget *table() const { return m_table; }

signals:
    // "Show only this sweep": the runs whose lines stay in the charts.
    void show_only(const QStringList &keys);

private:
    void show_sweep(int index);

    QList<Sweep> m_sweeps;
    QComboBox *m_choice;
    QTableWidget *m_table;
    QPushButton *m_only;
    QStringList m_keys; // the shown sweep's keys, best first
};

} // namespace neurite::gui
