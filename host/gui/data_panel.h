#pragma once

#include "neurite/core/data/dataset.h"

#include <QImage>
#include <QWidget>

class QChartView;
class QLabel;
class QScrollArea;
class QStackedWidget;
class QTableWidget;

namespace neurite::gui {

// Opens IDX (.gz), CSV/TSV, NPY and a folder of images, by dialog or by
// dropping files on it, and shows what was loaded: the shape, a bar chart of
// class counts, per-feature min/mean/max for tables, an image grid with
// labels for images. A file that cannot be read shows its message here; the
// dataset shown is the one scripts get from data.current().
class DataPanel : public QWidget {
    Q_OBJECT

public:
    explicit DataPanel(QWidget *parent = nullptr);

    // Loads by the file's kind: a folder, .csv/.tsv, .npy (with a .npy of
    // targets named like it, if there is one), else IDX. Returns false and
    // shows the error when it cannot.
    bool open_path(const QString &path, const QString &second_path = QString());
    void set_dataset(const data::Dataset &dataset);
    const data::Dataset &current() const { return m_dataset; }
    QString error_text() const;
    QString summary_text() const;
    int shown_images() const { return m_shown_images; }
    int grid_columns() const { return m_grid_columns; }
    // The image grid as drawn (tiles of 28x28 shown at 2x, a label line under each).
    QImage grid_image() const { return m_grid; }
    int feature_rows() const;
    QList<int> bar_counts() const;

signals:
    void dataset_changed(const neurite::data::Dataset &dataset);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    void open_dialog(const QString &kind);
    void show_classes();
    void show_features();
    void show_images();
    int grid_columns_for(int cell_width) const;

    data::Dataset m_dataset;
    QLabel *m_summary;
    QScrollArea *m_scroll;
    QLabel *m_error;
    QChartView *m_classes;
    QStackedWidget *m_detail;
    QTableWidget *m_features;
    QLabel *m_images;
    QImage m_grid;
    int m_shown_images = 0;
    int m_grid_columns = 0;
    QList<int> m_bar_counts;
};

} // namespace neurite::gui
