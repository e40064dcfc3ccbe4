#pragma once

#include <QWidget>

#include <cstdint>

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;
class QLabel;

namespace neurite {
class Registry;
}

namespace neurite::gui {

// A form for people who do not script: dataset, model (dense layers, or a
// small CNN for images), hidden layers, activation, loss, optimizer,
// learning rate, batch size, epochs, precision. It writes the Lua script
// into an editor tab and runs it, so the form teaches scripting. Each
// dataset's defaults (defaults()) reach at least 95% validation accuracy.
class QuickExperiment : public QWidget {
    Q_OBJECT

public:
    explicit QuickExperiment(const Registry &registry, QWidget *parent = nullptr);

    struct Settings {
        QString dataset = "xor";     // a key of datasets()
        QString model = kDense;      // kDense, or kCnn for image data
        QList<int> hidden = {8};     // for kCnn: the dense layers after the convolutions
        QString activation = "tanh";
        QString loss;                // empty: the dataset's natural loss
        QString optimizer = "Adam";
        double lr = 0.01;
        int batch_size = 4;
        int epochs = 200;
        QString precision = "f32"; // or "bf16", where the CPU has bf16 instructions
        int max_samples = 0;       // train (and validate) on the first this many; 0: all
    };
    static constexpr const char *kDense = "mlp";
    static constexpr const char *kCnn = "cnn"; // 2 × (Conv2D 3×3, ReLU, MaxPool 2), Flatten, Dense
    // What the form knows of the dataset open in the Data panel (the key
    // "panel"): the script trains on data.current().
    struct PanelData {
        QString name;           // empty: nothing is open
        int64_t inputs = 0;     // features per sample
        int64_t outputs = 0;    // classes, or target values
        bool regression = false;
        bool has_targets = false;
        QList<qint64> sample_shape; // [C, H, W] for images; empty or 1-D for features
    };
    static constexpr const char *kPanelKey = "panel";
    // Dataset keys with their labels, as offered in the form.
    static QList<QPair<QString, QString>> datasets();
    // The settings the form starts from for a dataset key.
    static Settings defaults(const QString &dataset);
    // Whether the form may train in bf16 here (the CPU's bf16 kernels).
    static bool bf16_available();
    // The script for the settings; the empty string and a message in `error`
    // when they cannot make one (the panel's dataset is missing or unlabelled).
    static QString script(const Settings &s, const PanelData &panel, QString &error);
    void set_panel_data(const PanelData &panel);

    Settings settings() const;
    void set_settings(const Settings &s);
    // Parses "256, 128"; false with a message when it is not a list of sizes.
    static bool parse_hidden(const QString &text, QList<int> &sizes, QString &error);

signals:
    void run_requested(const QString &script, const QString &title);

private:
    void dataset_changed();
    // The model choice is offered for image data only.
    void update_model_choice();

    QComboBox *m_dataset, *m_model, *m_activation, *m_loss, *m_optimizer, *m_precision;
    QLineEdit *m_hidden;
    QDoubleSpinBox *m_lr;
    QSpinBox *m_batch, *m_epochs, *m_samples;
    QLabel *m_error;
    PanelData m_panel;
};

} // namespace neurite::gui
