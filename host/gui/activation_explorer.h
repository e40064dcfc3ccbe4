#pragma once

#include <QWidget>

#include <vector>

class QChartView;
class QDoubleSpinBox;
class QListWidget;
class QLabel;

namespace neurite {
class ComputeContext;
class Registry;
}

namespace neurite::gui {

// Every activation in the registry plotted with its derivative over a chosen
// range, computed by the plugin's own forward and backward (seed 001's table
// of activations and derivatives, drawn). Softmax-like entries, which are not
// element-wise, are shown over the pair (x, 0): softmax's first output is then
// the sigmoid, which is what the lecture compares it with.
class ActivationExplorer : public QWidget {
    Q_OBJECT

public:
    ActivationExplorer(const Registry &registry, ComputeContext &context, QWidget *parent = nullptr);

    void set_range(double lo, double hi);
    void set_checked(const QString &name, bool checked);
    QStringList activations() const;

    // f and f' of `name` at `points` equally spaced x in [lo, hi]; throws Error.
    struct Curve {
        std::vector<double> x, f, df;
    };
    Curve evaluate(const QString &name, double lo, double hi, int points) const;
    QChartView *f_view() const { return m_f_view; }

protected:
    // The ticks follow the plot's size: redrawn once the charts have a new size.
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void redraw();

    const Registry &m_registry;
    ComputeContext &m_context;
    QListWidget *m_list;
    QDoubleSpinBox *m_lo, *m_hi;
    QChartView *m_f_view, *m_df_view;
    QLabel *m_formula;
    bool m_redraw_queued = false;
};

} // namespace neurite::gui
