// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "main_window.h"

#include "mnemonic.h"
#include "plural.h"

#include "byte_items_model.h"
#include "chunk_table_model.h"
#include "compare_dialog.h"
#include "coverage_view.h"
#include "demo.h"
#include "dtype_totals.h"
#include "export_dialog.h"
#include "files_model.h"
#include "format_units.h"
#include "memory_release.h"
#include "module_tree_model.h"
#include "module_tree_view.h"
#include "name_elide_delegate.h"
#include "output_files_model.h"
#include "problems_model.h"
#include "proportional_columns.h"
#include "target_delegate.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"
#include "value_icons.h"
#include "values_panel.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPainter>
#include <QPainterPath>
#include <QProgressBar>
#include <QPushButton>
#include <QResizeEvent>
#include <QSaveFile>
#include <QScreen>
#include <QScrollBar>
#include <QSettings>
#include <QShowEvent>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QTextDocument>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QUndoStack>
#include <QVBoxLayout>

#include <algorithm>
#include <set>

namespace shardscope {
namespace {

constexpr int kMaxRecent = 8;
// How long after the first show the window manager may still be sizing the window.
constexpr int kSettleMs = 1500;

// A table that says why it is empty: its model's "emptyText" ("No problems", "No tensor
// matches the filter"), painted over the viewport rather than as a placeholder row.
class EmptyStateTable : public QTableView {
public:
    using QTableView::QTableView;

protected:
    void paintEvent(QPaintEvent* event) override {
        QTableView::paintEvent(event);
        if (!model() || model()->rowCount() > 0) return;
        QVariant empty = model()->property("emptyText");
        if (auto* proxy = qobject_cast<QAbstractProxyModel*>(model()); proxy && !empty.isValid())
            empty = proxy->sourceModel()->property("emptyText"); // a plain sorting proxy
        const QString text = empty.toString();
        if (text.isEmpty()) return;
        QPainter p(viewport());
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(viewport()->rect().adjusted(8, 8, -8, -8),
                   Qt::AlignHCenter | Qt::AlignTop | Qt::TextWordWrap, text);
    }
};

// The filter bar: one row when everything fits, else the text filter on a row of its own above
// the combos, so a narrow tensor pane (a 1024 px screen, a DCP checkpoint's extra Kind filter)
// still leaves the details pane its share.
class FilterBar : public QWidget {
public:
    FilterBar(QWidget* text, QWidget* regex, const QList<QWidget*>& combos)
        : m_text(text), m_regex(regex), m_combos(combos) {
        m_grid = new QGridLayout(this);
        m_grid->setContentsMargins(4, 4, 4, 0);
        arrange(false);
    }

    QSize minimumSizeHint() const override { // two rows' width: the splitter may go that far
        const QMargins m = m_grid->contentsMargins();
        const int width = std::max(rowWidth({m_text, m_regex}), rowWidth(m_combos));
        return {width + m.left() + m.right(), m_grid->minimumSize().height()};
    }

protected:
    void resizeEvent(QResizeEvent* event) override {
        rearrange(event->size().width());
        QWidget::resizeEvent(event);
    }
    bool event(QEvent* event) override {
        if (event->type() == QEvent::LayoutRequest) rearrange(width()); // a combo shown, hidden
        return QWidget::event(event);
    }

private:
    int rowWidth(const QList<QWidget*>& widgets) const {
        int width = 0, shown = 0;
        for (const QWidget* w : widgets) {
            if (w->isHidden()) continue;
            width += std::max(w->minimumWidth(), w->minimumSizeHint().width());
            ++shown;
        }
        return width + std::max(0, shown - 1) * m_grid->horizontalSpacing();
    }

    void rearrange(int width) {
        const QMargins m = m_grid->contentsMargins();
        arrange(width - m.left() - m.right() <
                rowWidth(QList<QWidget*>{m_text, m_regex} + m_combos));
    }

    // One row: text, Regex, the combos. Two: text and Regex above, the combos below.
    void arrange(bool twoRows) {
        const int columns = int(m_combos.size());
        if (!m_arranged || twoRows != m_twoRows) {
            m_arranged = true;
            m_twoRows = twoRows;
            for (QWidget* w : QList<QWidget*>{m_text, m_regex} + m_combos)
                m_grid->removeWidget(w);
            m_grid->addWidget(m_text, 0, 0, 1, twoRows ? columns - 1 : 1);
            m_grid->addWidget(m_regex, 0, twoRows ? columns - 1 : 1);
            for (int i = 0; i < columns; ++i)
                m_grid->addWidget(m_combos[i], twoRows ? 1 : 0, twoRows ? i : i + 2);
        }
        // The text filter takes what is left in one row; the visible combos share the second.
        // Only changes are set: setting one requests a layout, and that calls this again.
        for (int c = 0; c < columns + 2; ++c) {
            const bool sharing = twoRows && c < columns && !m_combos[c]->isHidden();
            const int stretch = c == 0 || sharing ? 1 : 0;
            if (m_grid->columnStretch(c) != stretch) m_grid->setColumnStretch(c, stretch);
        }
    }

    QWidget* m_text;
    QWidget* m_regex;
    QList<QWidget*> m_combos;
    QGridLayout* m_grid;
    bool m_twoRows = false, m_arranged = false;
};

QTableView* makeTable(QWidget* parent) {
    auto* view = new EmptyStateTable(parent);
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setAlternatingRowColors(true);
    view->setWordWrap(false);
    view->setTabKeyNavigation(false); // Tab moves to the next pane, arrows move between cells
    // Which pane has the keyboard shows even when it is empty (Tab lands on it).
    view->setStyleSheet("QTableView:focus { border: 1px solid palette(highlight); }");
    view->verticalHeader()->hide();
    view->verticalHeader()->setDefaultSectionSize(view->fontMetrics().height() + 8);
    view->horizontalHeader()->setHighlightSections(false);
    view->horizontalHeader()->setStretchLastSection(true);
    return view;
}

// A curved arrow: a turn back (undo) or forward (redo), unlike the back/forward of navigation.
QPixmap editArrow(int size, bool redo, const QColor& color) {
    QPixmap pixmap(size, size);
    pixmap.fill(Qt::transparent);
    QPainter p(&pixmap);
    p.setRenderHint(QPainter::Antialiasing);
    if (redo) p.setTransform(QTransform(-1, 0, 0, 1, size, 0)); // mirrored
    const qreal s = size;
    QPainterPath hook;
    hook.moveTo(0.30 * s, 0.38 * s);
    hook.lineTo(0.62 * s, 0.38 * s);
    hook.cubicTo(0.95 * s, 0.38 * s, 0.95 * s, 0.84 * s, 0.62 * s, 0.84 * s);
    hook.lineTo(0.40 * s, 0.84 * s);
    p.setPen(QPen(color, std::max<qreal>(1.5, s / 9), Qt::SolidLine, Qt::RoundCap));
    p.drawPath(hook);
    QPainterPath head;
    head.moveTo(0.08 * s, 0.38 * s);
    head.lineTo(0.36 * s, 0.14 * s);
    head.lineTo(0.36 * s, 0.62 * s);
    head.closeSubpath();
    p.fillPath(head, color);
    return pixmap;
}

QIcon editIcon(const QString& themeName, bool redo, const QPalette& palette) {
    if (QIcon::hasThemeIcon(themeName)) return QIcon::fromTheme(themeName);
    QIcon icon;
    for (int size : {16, 22, 24, 32, 48}) {
        icon.addPixmap(editArrow(size, redo, palette.color(QPalette::Active, QPalette::Text)));
        icon.addPixmap(editArrow(size, redo, palette.color(QPalette::Disabled, QPalette::Text)),
                       QIcon::Disabled);
    }
    return icon;
}

// Width of the column's texts cut just after the part that tells them apart ("shard-00003-…"),
// plus what the cells add around the text (icon, margins): below this the column says nothing.
int distinguishingWidth(const QAbstractItemView* view, int column) {
    const QAbstractItemModel* model = view->model();
    std::set<QString> names;
    for (int row = 0; row < model->rowCount(); ++row)
        names.insert(model->index(row, column).data().toString());
    if (names.empty()) return 0;
    qsizetype longest = 0, length = 1;
    for (const QString& n : names)
        longest = std::max(longest, n.size());
    for (; length < longest; ++length) {
        std::set<QString> prefixes;
        for (const QString& n : names)
            prefixes.insert(n.left(length));
        if (prefixes.size() == names.size()) break;
    }
    const QFontMetrics fm = view->fontMetrics();
    int text = 0, cut = 0;
    for (const QString& n : names) {
        text = std::max(text, fm.horizontalAdvance(n));
        cut = std::max(cut, fm.horizontalAdvance(n.left(length + 1) + QChar(0x2026)));
    }
    return view->sizeHintForColumn(column) - text + std::min(cut, text);
}

// A dock's widgets give up focus while the dock is behind another's tab, and take back the
// policy they had when it is shown again.
void takeFocusWhileShown(QDockWidget* dock, bool shown) {
    QWidget* content = dock->widget();
    if (!content) return;
    QList<QWidget*> widgets = content->findChildren<QWidget*>();
    widgets << content; // not "findChildren() << content" in the loop: a dangling temporary
    for (QWidget* w : widgets) {
        const QVariant saved = w->property("shardscopeFocusPolicy");
        if (!shown && !saved.isValid() && w->focusPolicy() != Qt::NoFocus) {
            w->setProperty("shardscopeFocusPolicy", int(w->focusPolicy()));
            w->setFocusPolicy(Qt::NoFocus);
        } else if (shown && saved.isValid()) {
            w->setFocusPolicy(Qt::FocusPolicy(saved.toInt()));
            w->setProperty("shardscopeFocusPolicy", QVariant());
        }
    }
}

// The platform's keys for a standard action, plus `extra` where the platform lacks it, each once.
QList<QKeySequence> standardKeys(QKeySequence::StandardKey key, const QList<QKeySequence>& extra) {
    QList<QKeySequence> keys = QKeySequence::keyBindings(key);
    for (const QKeySequence& k : extra)
        if (!keys.contains(k)) keys << k;
    return keys;
}

// The undo stack's "&Undo Assign …" as the tooltip 'Undo "Assign …" (Ctrl+Z)'.
QString undoToolTip(const QString& verb, const QString& edit, const QKeySequence& key) {
    const QString keyText = key.toString(QKeySequence::NativeText);
    if (edit.isEmpty()) return QObject::tr("Nothing to %1").arg(verb.toLower());
    return QObject::tr("%1 \"%2\" (%3)").arg(verb, edit, keyText);
}

} // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setAcceptDrops(true);
    m_tensors = new TensorTableModel(&m_document, this);
    m_proxy = new TensorFilterProxy(this);
    m_proxy->setSourceModel(m_tensors);
    m_chunks = new ChunkTableModel(this);
    m_outputs = new OutputFilesModel(&m_document, this);
    m_problems = new ProblemsModel(&m_document, this);
    m_files = new FilesModel(&m_document, this);
    m_byteItems = new ByteItemsModel(&m_document, this);

    createActions();
    createMenus();
    createToolBar();
    m_mainSplitter = new QSplitter(Qt::Horizontal);
    m_mainSplitter->addWidget(createTensorPane());
    m_mainSplitter->addWidget(createDetails());
    m_mainSplitter->setStretchFactor(0, 3);
    m_mainSplitter->setStretchFactor(1, 2);
    m_mainSplitter->setSizes({960, 480});
    setCentralWidget(m_mainSplitter);
    createDocks();
    createModulesDock();
    createByteItemsDock();
    createStatusBar();
    connectSignals();
    connectValueSession();
    connectExportRules();
    setUpKeyboardNavigation();

    updateFilterChoices(); // the "Any …" entries, also before anything is open
    readSettings();
    showFormatViews();
    updateWindowTitle();
    updateDetails();
    updateStatus();
}

// An editor still open in the table would otherwise commit into the document while QWidget's
// destructor deletes it, after the members it writes to are gone.
MainWindow::~MainWindow() {
    // Docks hide as the window's children go: their focus policies no longer matter.
    for (const QMetaObject::Connection& c : m_dockFocusConnections)
        disconnect(c);
    if (m_table) m_table->reset();
}

// An edit still open in the table (F2 on a name, an output file being chosen) is committed as
// Enter would, so that the unsaved-changes prompt, and whatever follows it, see it.
void MainWindow::commitOpenEdit() {
    QWidget* editor = QApplication::focusWidget();
    if (!editor || !m_table->viewport()->isAncestorOf(editor)) return;
    QAbstractItemDelegate* delegate = m_table->itemDelegateForIndex(m_table->currentIndex());
    emit delegate->commitData(editor);
    emit delegate->closeEditor(editor, QAbstractItemDelegate::NoHint);
}

void MainWindow::createActions() {
    createFileActions();
    createUndoActions();
    createEditActions();
    createValueActions();
    createExportRuleActions();
}

void MainWindow::createFileActions() {
    m_openAction =
        new QAction(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("&Open Checkpoint…"), this);
    m_openAction->setToolTip(tr("Open a checkpoint folder: safetensors shards, or a PyTorch DCP "
                                "checkpoint (.metadata + *.distcp)"));
    m_openAction->setShortcut(QKeySequence::Open);
    connect(m_openAction, &QAction::triggered, this, &MainWindow::openDialog);
    m_demoAction = new QAction(tr("Open &Demo Checkpoint"), this);
    connect(m_demoAction, &QAction::triggered, this, &MainWindow::openDemo);
    m_reloadAction =
        new QAction(style()->standardIcon(QStyle::SP_BrowserReload), tr("Relo&ad"), this);
    m_reloadAction->setShortcut(QKeySequence::Refresh);
    connect(m_reloadAction, &QAction::triggered, this, [this] {
        if (!m_directory.isEmpty()) openDirectory(m_directory);
    });
    m_loadMappingAction = new QAction(tr("&Load Mapping…"), this);
    m_loadMappingAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    connect(m_loadMappingAction, &QAction::triggered, this, &MainWindow::loadMapping);
    m_saveMappingAction =
        new QAction(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("&Save Mapping…"), this);
    m_saveMappingAction->setShortcut(QKeySequence::Save);
    connect(m_saveMappingAction, &QAction::triggered, this, &MainWindow::saveMapping);
    m_exportAction = new QAction(style()->standardIcon(QStyle::SP_DialogApplyButton),
                                 tr("&Export Consolidated…"), this);
    m_exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    connect(m_exportAction, &QAction::triggered, this, [this] { showExportDialog(); });
    m_quitAction = new QAction(tr("&Quit"), this);
    m_quitAction->setShortcut(QKeySequence::Quit);
    connect(m_quitAction, &QAction::triggered, this, &QWidget::close);
}

void MainWindow::createUndoActions() {
    // One action per edit direction and each key once: a key bound twice is ambiguous to Qt
    // and then does nothing. Ctrl+Y and Ctrl+Shift+Z both redo, whatever the platform lists.
    QUndoStack* stack = m_document.undoStack();
    m_undoAction = stack->createUndoAction(this, tr("&Undo"));
    m_undoAction->setShortcuts(QKeySequence::keyBindings(QKeySequence::Undo));
    m_undoAction->setIcon(editIcon("edit-undo", false, palette()));
    m_redoAction = stack->createRedoAction(this, tr("&Redo"));
    m_redoAction->setShortcuts(
        standardKeys(QKeySequence::Redo, {QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z),
                                          QKeySequence(Qt::CTRL | Qt::Key_Y)}));
    m_redoAction->setIcon(editIcon("edit-redo", true, palette()));
    addAction(m_undoAction); // window-wide, also while the menu bar is hidden
    addAction(m_redoAction);
}

void MainWindow::createEditActions() {
    m_assignAction = new QAction(tr("&Assign Selection to File…"), this);
    m_assignAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
    m_assignAction->setEnabled(false);
    connect(m_assignAction, &QAction::triggered, this, &MainWindow::assignDialog);
    m_newFileAction = new QAction(tr("Assign Selection to &New File"), this);
    m_newFileAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_N));
    connect(m_newFileAction, &QAction::triggered, this, [this] {
        if (!m_document.isOpen()) return;
        if (selectedTensors().empty())
            m_document.addOutputFile();
        else
            assignSelectionTo(m_document.fileCount() + 1);
    });
    m_groupAction = new QAction(tr("&Group by Maximum Size…"), this);
    m_groupAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_G));
    connect(m_groupAction, &QAction::triggered, this, &MainWindow::groupBySizeDialog);
    m_findAction = new QAction(tr("&Filter Tensors"), this);
    m_findAction->setShortcut(QKeySequence::Find);
    connect(m_findAction, &QAction::triggered, this, [this] {
        m_filter->setFocus();
        m_filter->selectAll();
    });
    // A toggle: Ctrl+P again shows every tensor. Checked while the coverage filter says
    // "Problems only", however it was chosen.
    m_problemsOnlyAction = new QAction(tr("Show &Problems Only"), this);
    m_problemsOnlyAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
    m_problemsOnlyAction->setCheckable(true);
    connect(m_problemsOnlyAction, &QAction::triggered, this, [this](bool on) {
        m_statusFilter->setCurrentIndex(std::max(
            0,
            m_statusFilter->findData(on ? TensorFilterProxy::AnyProblem : TensorFilterProxy::Any)));
    });
}

void MainWindow::createMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_openAction);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    file->addAction(m_demoAction);
    file->addAction(m_reloadAction);
    file->addSeparator();
    file->addAction(m_checkValuesAction);
    file->addAction(m_compareAction);
    file->addAction(m_clearComparisonAction);
    file->addSeparator();
    file->addAction(m_loadMappingAction);
    file->addAction(m_saveMappingAction);
    file->addAction(m_loadRulesAction);
    file->addAction(m_saveRulesAction);
    file->addSeparator();
    file->addAction(m_exportAction);
    file->addSeparator();
    file->addAction(m_quitAction);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    edit->addAction(m_undoAction);
    edit->addAction(m_redoAction);
    edit->addSeparator();
    edit->addAction(m_assignAction);
    edit->addAction(m_newFileAction);
    edit->addAction(m_groupAction);
    edit->addSeparator();
    edit->addAction(m_excludeAction);
    edit->addAction(m_includeAction);
    edit->addAction(m_renameAction);
    edit->addAction(m_renameRulesAction);
    edit->addSeparator();
    edit->addAction(m_findAction);
    edit->addAction(m_problemsOnlyAction);
    edit->addAction(m_differsOnlyAction);

    m_viewMenu = menuBar()->addMenu(tr("&View"));

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About ShardScope"), this, [this] {
        QMessageBox::about(this, tr("About ShardScope"),
                           tr("<b>ShardScope</b><br>Inspect and consolidate sharded safetensors "
                              "checkpoints and PyTorch DCP checkpoints into Hugging Face files, "
                              "exactly and safely."));
    });
}

void MainWindow::createToolBar() {
    QToolBar* bar = addToolBar(tr("Main"));
    bar->setObjectName("mainToolBar");
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->addAction(m_openAction);
    bar->addAction(m_exportAction);
    bar->addAction(m_checkValuesAction);
    bar->addAction(m_compareAction);
    bar->addSeparator();
    // The menu texts name the edit and grow long: the toolbar says Undo / Redo and the tooltip
    // names the edit. The keys stay on the menu actions only.
    QAction* undo = toolBarProxy(m_undoAction, tr("Undo"), m_undoAction->icon());
    QAction* redo = toolBarProxy(m_redoAction, tr("Redo"), m_redoAction->icon());
    undo->setObjectName("undoToolAction");
    redo->setObjectName("redoToolAction");
    QUndoStack* stack = m_document.undoStack();
    auto tips = [this, stack, undo, redo] {
        undo->setToolTip(undoToolTip(tr("Undo"), stack->undoText(), m_undoAction->shortcut()));
        redo->setToolTip(undoToolTip(tr("Redo"), stack->redoText(), m_redoAction->shortcut()));
    };
    connect(stack, &QUndoStack::indexChanged, this, tips);
    connect(stack, &QUndoStack::cleanChanged, this, tips);
    tips();
    bar->addAction(undo);
    bar->addAction(redo);
}

QAction* MainWindow::toolBarProxy(QAction* action, const QString& text, const QIcon& icon) {
    auto* proxy = new QAction(icon, text, this);
    proxy->setEnabled(action->isEnabled());
    connect(proxy, &QAction::triggered, action, &QAction::trigger);
    connect(action, &QAction::enabledChanged, proxy, &QAction::setEnabled);
    return proxy;
}

QWidget* MainWindow::createFilterBar() {
    m_filter = new QLineEdit;
    m_filter->setObjectName("tensorFilter");
    m_filter->setPlaceholderText(tr("Filter tensors (Ctrl+F)"));
    m_filter->setClearButtonEnabled(true);
    m_filter->installEventFilter(this); // so Ctrl+E exports even while typing a filter
    m_regex = new QCheckBox(tr("Rege&x"));
    m_dtypeFilter = new QComboBox;
    m_statusFilter = new QComboBox;
    m_targetFilter = new QComboBox;
    m_kindFilter = new QComboBox;
    m_kindFilter->setObjectName("kindFilter");
    m_kindFilter->setToolTip(tr("Model weights, or training state (optimizer, scheduler, "
                                "dataloader, trainer)"));
    // Closed combos stay narrow so the filter bar fits a 1024 px window; their lists show all.
    for (QComboBox* c : {m_dtypeFilter, m_statusFilter}) {
        c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        c->setMinimumContentsLength(10);
    }
    // Beside four others on a DCP checkpoint: "Any kind" and most of "Model weights" show.
    m_kindFilter->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_kindFilter->setMinimumContentsLength(8);
    // Output file names are long: the closed combo keeps a modest width, the list shows them whole.
    m_targetFilter->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_targetFilter->setMinimumContentsLength(12);
    // Wide enough for its whole placeholder (and the clear button): narrower, the bar goes to
    // two rows instead of cutting the hint to "Filter tensors (…".
    const QFontMetrics metrics = m_filter->fontMetrics();
    m_filter->setMinimumWidth(metrics.horizontalAdvance(m_filter->placeholderText()) +
                              metrics.height() * 2);
    for (const auto& choice : TensorFilterProxy::statusChoices())
        m_statusFilter->addItem(choice.icon, choice.text, choice.value);
    for (const auto& choice : TensorFilterProxy::kindChoices())
        m_kindFilter->addItem(choice.text, choice.value);
    m_differsOnly = new QCheckBox(tr("&Differs only"));
    m_differsOnly->setObjectName("differsOnlyFilter");
    m_differsOnly->setToolTip(tr("Only the tensors that are not the same in the compared "
                                 "checkpoint: other values, dtype or shape, or missing there "
                                 "(Ctrl+D)"));
    m_differsOnly->setVisible(false); // during a comparison
    auto* bar =
        new FilterBar(m_filter, m_regex,
                      {m_dtypeFilter, m_statusFilter, m_kindFilter, m_targetFilter, m_differsOnly});
    m_filterTimer = new QTimer(this);
    m_filterTimer->setSingleShot(true);
    m_filterTimer->setInterval(120); // typing in a 100,000-row table stays fluid
    connect(m_filterTimer, &QTimer::timeout, this, &MainWindow::applyFilters);
    connect(m_filter, &QLineEdit::textChanged, m_filterTimer, qOverload<>(&QTimer::start));
    connect(m_regex, &QCheckBox::toggled, this, &MainWindow::applyFilters);
    for (QComboBox* c : {m_dtypeFilter, m_statusFilter, m_kindFilter, m_targetFilter})
        connect(c, &QComboBox::currentIndexChanged, this, &MainWindow::applyFilters);
    connect(m_statusFilter, &QComboBox::currentIndexChanged, this, [this] {
        m_problemsOnlyAction->setChecked(m_statusFilter->currentData().toInt() ==
                                         TensorFilterProxy::AnyProblem);
    });
    connect(m_differsOnly, &QCheckBox::toggled, this, &MainWindow::applyFilters);
    return bar;
}

QWidget* MainWindow::createTensorPane() {
    auto* left = new QWidget;
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(createFilterBar());
    leftLayout->addWidget(createComparisonBanner());
    m_table = makeTable(left);
    configureTensorTable();
    leftLayout->addWidget(m_table);
    return left;
}

void MainWindow::configureTensorTable() {
    m_table->setObjectName("tensorTable");
    m_table->setModel(m_proxy);
    // Names differ at their ends (exp_avg, exp_avg_sq): a cut name keeps its first and last parts.
    m_table->setTextElideMode(Qt::ElideMiddle);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(TensorTableModel::NameColumn, Qt::AscendingOrder);
    m_table->setItemDelegateForColumn(TensorTableModel::TargetColumn,
                                      new TargetDelegate(&m_document, this));
    // Cut by their dotted parts, so that cut names still tell layers apart.
    auto* names = new NameElideDelegate(this);
    m_table->setItemDelegateForColumn(TensorTableModel::NameColumn, names);
    m_table->setItemDelegateForColumn(TensorTableModel::ExportedNameColumn, names);
    m_table->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                             QAbstractItemView::SelectedClicked);
    m_table->setContextMenuPolicy(Qt::CustomContextMenu);
    m_table->installEventFilter(this); // Shift+F10 and the Menu key open the context menu
    QHeaderView* header = m_table->horizontalHeader();
    for (int c = 0; c < TensorTableModel::ColumnCount; ++c)
        header->resizeSection(c, TensorTableModel::defaultColumnWidth(c, m_table->fontMetrics()));
    // The exported name beside the source name: a rename is read across one row.
    header->moveSection(header->visualIndex(TensorTableModel::ExportedNameColumn),
                        header->visualIndex(TensorTableModel::NameColumn) + 1);
    // Statistics and differences come right after the coverage, where they are seen without
    // scrolling; they stay hidden until a value check or comparison has filled them.
    int to = header->visualIndex(TensorTableModel::KindColumn) + 1;
    for (int c = TensorTableModel::DiffColumn; c <= TensorTableModel::CosineColumn; ++c)
        header->moveSection(header->visualIndex(c), to++);
    for (int c = TensorTableModel::MaxAbsColumn; c <= TensorTableModel::NonFiniteColumn; ++c)
        header->moveSection(header->visualIndex(c), to++);
    showValueColumns();
}

void MainWindow::createStatusBar() {
    m_statusLabel = new QLabel(tr("No checkpoint open"));
    m_statusLabel->setObjectName("statusLabel");
    m_scanProgress = new QProgressBar;
    m_scanProgress->setMaximumWidth(220);
    // Room for the longest phase with its percentage, so a long status message cannot squeeze
    // the text onto two lines.
    m_scanProgress->setMinimumWidth(
        m_scanProgress->fontMetrics().horizontalAdvance(QStringLiteral("Comparing replicas 100%")) +
        24);
    m_scanProgress->setVisible(false);
    statusBar()->addWidget(m_statusLabel, 1);
    statusBar()->addPermanentWidget(m_scanProgress);
    m_cancelScanAction =
        new QAction(style()->standardIcon(QStyle::SP_BrowserStop), tr("Cancel Scan"), this);
    m_cancelScanAction->setShortcut(QKeySequence(Qt::Key_Escape));
    m_cancelScanAction->setEnabled(false);
    connect(m_cancelScanAction, &QAction::triggered, this, &MainWindow::cancelRunning);
    addAction(m_cancelScanAction);
    auto* cancelButton = new QToolButton;
    cancelButton->setDefaultAction(m_cancelScanAction);
    cancelButton->setAutoRaise(true);
    statusBar()->addPermanentWidget(cancelButton);
    cancelButton->setVisible(false);
    connect(m_cancelScanAction, &QAction::enabledChanged, cancelButton, &QWidget::setVisible);
}

void MainWindow::connectSignals() {
    connect(m_table, &QTableView::customContextMenuRequested, this, &MainWindow::showTableMenu);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &MainWindow::updateDetails);
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            [this] { m_assignAction->setEnabled(!selectedTensors().empty()); });
    // Rows that leave the table (a filter, an edit under a target filter) take the details along;
    // a sort keeps the current row in view.
    connect(m_proxy, &QAbstractItemModel::rowsRemoved, this, &MainWindow::dropHiddenCurrent);
    connect(m_proxy, &QAbstractItemModel::modelReset, this, &MainWindow::dropHiddenCurrent);
    connect(m_proxy, &QAbstractItemModel::layoutChanged, this, &MainWindow::dropHiddenCurrent);
    connect(m_proxy, &QAbstractItemModel::layoutChanged, this, &MainWindow::scrollToCurrent);
    connect(&m_document, &MappingDocument::targetsChanged, this, [this] {
        updateStatus();
        updateFilterChoices();
        refreshDetailFacts();
    });
    // Saved or not is the mapping's and the rules' own state, not the undo stack's: saving one
    // leaves the other unsaved.
    for (auto signal : {&MappingDocument::targetsChanged, &MappingDocument::mappingSaved,
                        &MappingDocument::resetDone})
        connect(&m_document, signal, this, &MainWindow::updateWindowModified);
    for (auto signal : {&ExportRulesDocument::selectionChanged, &ExportRulesDocument::savedChanged})
        connect(m_document.exportRules(), signal, this, &MainWindow::updateWindowModified);
    // The first rename gives the exported names their half of the room (and undoing the last
    // one takes it back); other rule edits leave widths the user may have set alone.
    connect(m_document.exportRules(), &ExportRulesDocument::selectionChanged, this, [this] {
        if (m_tensors->anyNameChanged() != m_namesFittedRenamed) fitNameColumns();
    });
    connect(&m_scan, &ScanWorker::progress, this, &MainWindow::showScanProgress);
    connect(&m_scan, &ScanWorker::finished, this, &MainWindow::onScanFinished);
    connect(m_problemView, &QTableView::activated, this, [this](const QModelIndex& index) {
        if (index.data(ProblemsModel::FileLevelRole).toBool()) { // a whole shard file
            selectFile(m_files->rowOfFile(index.data(ProblemsModel::FileNameRole).toString()));
            return;
        }
        const int tensor = index.data(ProblemsModel::TensorIndexRole).toInt();
        if (tensor >= 0) selectTensor(tensor);
    });
    connect(m_problemView, &QTableView::clicked, m_problemView, &QTableView::activated);
    // Messages are longer than their column: Ctrl+C or the context menu copies them whole.
    auto* copy = new QAction(tr("&Copy"), m_problemView);
    copy->setShortcut(QKeySequence::Copy);
    copy->setShortcutContext(Qt::WidgetShortcut);
    connect(copy, &QAction::triggered, this, &MainWindow::copyProblems);
    m_problemView->addAction(copy);
    m_problemView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_problemView->installEventFilter(this); // Shift+F10 as well as the Menu key
}

// The selected problems (or the current one), a line each: severity, file, tensor, message.
void MainWindow::copyProblems() {
    QModelIndexList rows = m_problemView->selectionModel()->selectedRows();
    if (rows.isEmpty() && m_problemView->currentIndex().isValid())
        rows << m_problemView->currentIndex();
    std::sort(rows.begin(), rows.end());
    QStringList lines;
    for (const QModelIndex& row : rows) {
        QStringList fields;
        for (int c = 0; c < ProblemsModel::ColumnCount; ++c)
            fields << row.siblingAtColumn(c).data().toString();
        lines << fields.join('\t');
    }
    if (!lines.isEmpty()) QApplication::clipboard()->setText(lines.join('\n'));
}

void MainWindow::setUpKeyboardNavigation() {
    // Tab goes pane to pane: filters, tensors, chunks, problems, output files.
    // In the details, the tabs, then each tab's widgets (a hidden tab's are skipped).
    QList<QWidget*> order{m_filter,
                          m_regex,
                          m_dtypeFilter,
                          m_statusFilter,
                          m_kindFilter,
                          m_targetFilter,
                          m_differsOnly,
                          m_table,
                          m_detailTabs,
                          m_slice,
                          m_valuesPanel->readButton(),
                          m_valuesPanel->logToggle(),
                          m_valuesPanel->statsLabel(),
                          m_chunkView, // under the tabs
                          m_problemView,
                          m_outputView,
                          m_byteItemView};
    for (qsizetype i = 0; i + 1 < order.size(); ++i)
        setTabOrder(order[i], order[i + 1]);
    // A dock behind another's tab stays "visible" to Qt, and Tab landed in it with nothing to
    // see: its widgets take focus only while its tab is the one shown.
    for (QDockWidget* dock : findChildren<QDockWidget*>()) {
        m_dockFocusConnections << connect(dock, &QDockWidget::visibilityChanged, this,
                                          [dock](bool shown) { takeFocusWhileShown(dock, shown); });
    }
}

QWidget* MainWindow::createDetails() {
    auto* details = new QWidget;
    auto* layout = new QVBoxLayout(details);
    layout->setContentsMargins(6, 4, 4, 0);
    m_detailTitle = new QLabel;
    m_detailTitle->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont big = m_detailTitle->font();
    big.setBold(true);
    big.setPointSizeF(big.pointSizeF() * 1.15);
    m_detailTitle->setFont(big);
    // A long name is elided, not allowed to widen the pane (the splitter would jump per row).
    m_detailTitle->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_detailTitle->installEventFilter(this);
    m_detailFacts = new QLabel;
    m_detailFacts->setWordWrap(true);
    m_detailFacts->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_detailTitle);
    layout->addWidget(m_detailFacts);

    m_detailSplitter = new QSplitter(Qt::Vertical);
    auto* picture = new QWidget;
    auto* pictureLayout = new QVBoxLayout(picture);
    pictureLayout->setContentsMargins(0, 0, 0, 0);
    auto* sliceRow = new QHBoxLayout;
    m_coverageSummary = new QLabel;
    m_slice = new QSpinBox;
    m_slice->setPrefix(tr("slice "));
    m_slice->setVisible(false);
    sliceRow->addWidget(m_coverageSummary, 1);
    sliceRow->addWidget(m_slice);
    m_coverage = new CoverageView;
    pictureLayout->addLayout(sliceRow);
    pictureLayout->addWidget(m_coverage, 1);
    connect(m_slice, &QSpinBox::valueChanged, this, [this](int v) {
        m_coverage->setSlice(uint64_t(v));
        m_coverageSummary->setText(m_coverage->summary());
    });
    m_chunkView = makeTable(details);
    m_chunkView->setObjectName("chunkTable");
    m_chunkView->setModel(m_chunks);
    // Every column as wide as its header and cells (nothing cut, "replica (counted once)"
    // included); the shard file column gets what is left, so the others stay in view.
    QHeaderView* header = m_chunkView->horizontalHeader();
    header->setStretchLastSection(false);
    // The note (replica, strided, zstd) before the wide byte range, so a narrow pane shows it.
    header->moveSection(header->visualIndex(ChunkTableModel::NoteColumn),
                        header->visualIndex(ChunkTableModel::DataOffsetsColumn));
    m_chunkView->installEventFilter(this); // refit on resize
    m_detailSplitter->addWidget(createDetailTabs(picture));
    m_detailSplitter->addWidget(m_chunkView);
    m_detailSplitter->setStretchFactor(0, 3);
    m_detailSplitter->setStretchFactor(1, 2);
    // The chunk list belongs to the coverage: on the Values tab its room goes to the histograms
    // and statistics (at 1024 x 700 a comparison's second histogram was below the fold).
    connect(m_detailTabs, &QTabWidget::currentChanged, this,
            [this](int tab) { m_chunkView->setHidden(tab != 0); });
    layout->addWidget(m_detailSplitter, 1);
    return details;
}

void MainWindow::createDocks() {
    m_problemView = makeTable(this);
    m_problemView->setObjectName("problemTable");
    m_problemView->setModel(m_problems);
    // "Warning" beside its icon.
    m_problemView->horizontalHeader()->resizeSection(
        ProblemsModel::SeverityColumn,
        m_problemView->fontMetrics().horizontalAdvance(tr("Warning")) + 40);
    // File, tensor and message share the rest, so that a narrow dock still shows the message.
    new ProportionalColumns(m_problemView,
                            {{ProblemsModel::FileColumn, 3},
                             {ProblemsModel::TensorColumn, 4},
                             {ProblemsModel::MessageColumn, 6}},
                            m_problemView->fontMetrics().averageCharWidth() * 6);
    m_problemView->setItemDelegateForColumn(ProblemsModel::TensorColumn,
                                            new NameElideDelegate(m_problemView));
    m_problemView->setItemDelegateForColumn(ProblemsModel::FileColumn,
                                            new FileNameElideDelegate(m_problemView));
    m_problemsDock = new QDockWidget(tr("Problems"), this);
    m_problemsDock->setObjectName("problemsDock");
    m_problemsDock->setWidget(m_problemView);
    addDockWidget(Qt::BottomDockWidgetArea, m_problemsDock);

    m_outputView = makeTable(this);
    m_outputView->setObjectName("outputTable");
    m_outputView->setModel(m_outputs);
    // The counts and sizes stay whole in a narrow dock; the file name takes what is left.
    QHeaderView* outputHeader = m_outputView->horizontalHeader();
    outputHeader->setStretchLastSection(false);
    outputHeader->setSectionResizeMode(QHeaderView::ResizeToContents);
    outputHeader->setSectionResizeMode(OutputFilesModel::NameColumn, QHeaderView::Stretch);
    m_outputsDock = new QDockWidget(tr("Output Files"), this);
    m_outputsDock->setObjectName("outputsDock");
    m_outputsDock->setWidget(m_outputView);
    addDockWidget(Qt::BottomDockWidgetArea, m_outputsDock);
    splitDockWidget(m_problemsDock, m_outputsDock, Qt::Horizontal);

    m_fileView = makeTable(this);
    m_fileView->setObjectName("fileTable");
    m_fileView->setModel(m_files);
    m_fileView->horizontalHeader()->resizeSection(FilesModel::NameColumn, 230);
    m_filesDock = new QDockWidget(tr("Files"), this);
    m_filesDock->setObjectName("filesDock");
    m_filesDock->setWidget(m_fileView);
    tabifyDockWidget(m_problemsDock, m_filesDock);
    m_problemsDock->raise();
    resizeDocks({m_problemsDock}, {170}, Qt::Vertical);
    // Clicking an output file (or Return on it) filters the table to it.
    connect(m_outputView, &QTableView::activated, this, [this](const QModelIndex& index) {
        const int file = index.data(OutputFilesModel::FileIndexRole).toInt();
        m_targetFilter->setCurrentIndex(std::max(0, m_targetFilter->findData(file)));
    });
    connect(m_outputView, &QTableView::clicked, m_outputView, &QTableView::activated);
    m_viewMenu->addAction(viewToggle(m_problemsDock, tr("&Problems")));
    m_viewMenu->addAction(viewToggle(m_outputsDock, tr("&Output Files")));
    m_viewMenu->addAction(viewToggle(m_filesDock, tr("&Files")));
}

// A View menu entry for a dock, with a mnemonic: the dock's own toggle action takes the dock's
// title ("Problems (5)"), which has none and changes.
QAction* MainWindow::viewToggle(QDockWidget* dock, const QString& text) {
    auto* action = new QAction(text, this);
    action->setCheckable(true);
    QAction* own = dock->toggleViewAction();
    action->setChecked(own->isChecked());
    connect(own, &QAction::toggled, action, &QAction::setChecked);
    connect(action, &QAction::triggered, dock, [dock](bool on) {
        dock->setVisible(on);
        if (on) dock->raise(); // a tab behind another comes forward
    });
    return action;
}

// The module tree beside the table; selecting modules narrows the table to their tensors.
void MainWindow::createModulesDock() {
    m_modules = new ModuleTreeView(new ModuleTreeModel(&m_document, this), this);
    m_modulesDock = new QDockWidget(tr("Modules"), this);
    m_modulesDock->setObjectName("modulesDock");
    m_modulesDock->setWidget(m_modules);
    addDockWidget(Qt::LeftDockWidgetArea, m_modulesDock);
    resizeDocks({m_modulesDock}, {320}, Qt::Horizontal);
    // Beside the table it needs a wide screen; on a small one (1024 px) the table and details
    // come first and View ▸ Modules (Ctrl+M) brings the tree in.
    const QScreen* screen = QGuiApplication::primaryScreen();
    if (screen && screen->availableGeometry().width() < 1280) m_modulesDock->hide();
    QAction* toggle = viewToggle(m_modulesDock, tr("&Modules"));
    toggle->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_M));
    m_viewMenu->addAction(toggle);
    connect(m_modules, &ModuleTreeView::tensorFilterChanged, this,
            [this](const std::vector<bool>& mask) {
                m_proxy->setRowSubset(mask);
                if (!m_table->selectionModel()->hasSelection() && m_proxy->rowCount() > 0) {
                    const QModelIndex current = m_table->currentIndex();
                    m_table->selectRow(current.isValid() ? current.row() : 0);
                }
                m_table->scrollTo(m_table->currentIndex());
                updateStatus();
            });
    connect(m_modules, &ModuleTreeView::tensorActivated, this, &MainWindow::selectTensor);
}

// DCP byte items (step counters, RNG state): listed beside Problems and Files, never exported.
void MainWindow::createByteItemsDock() {
    auto* sorted = new QSortFilterProxyModel(this);
    sorted->setSourceModel(m_byteItems);
    sorted->setSortRole(ByteItemsModel::SortRole);
    m_byteItemView = makeTable(this);
    m_byteItemView->setObjectName("byteItemTable");
    m_byteItemView->setModel(sorted);
    m_byteItemView->setSortingEnabled(true);
    m_byteItemView->sortByColumn(ByteItemsModel::NameColumn, Qt::AscendingOrder);
    QHeaderView* header = m_byteItemView->horizontalHeader();
    const QFontMetrics fm = m_byteItemView->fontMetrics();
    header->resizeSection(ByteItemsModel::NameColumn,
                          fm.horizontalAdvance(QString(28, 'm')) * 2 / 3);
    header->resizeSection(ByteItemsModel::TypeColumn, fm.horizontalAdvance("OrderedDict") + 16);
    header->resizeSection(ByteItemsModel::ValueColumn, fm.horizontalAdvance(QString(20, '0')));
    header->resizeSection(ByteItemsModel::SizeColumn, fm.horizontalAdvance("999.99 KiB") + 16);
    m_byteItemsDock = new QDockWidget(tr("Byte Items"), this);
    m_byteItemsDock->setObjectName("byteItemsDock");
    m_byteItemsDock->setWidget(m_byteItemView);
    tabifyDockWidget(m_filesDock, m_byteItemsDock);
    m_problemsDock->raise();
    // Not the dock's own toggle: Ctrl+B on a dock hidden behind another tab brings it forward.
    m_byteItemsAction = new QAction(tr("&Byte Items"), this);
    m_byteItemsAction->setCheckable(true);
    m_byteItemsAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_B));
    m_byteItemsAction->setToolTip(tr("The DCP checkpoint's non-tensor entries (Ctrl+B)"));
    connect(m_byteItemsAction, &QAction::triggered, this, &MainWindow::toggleByteItems);
    // Also emitted when its tab comes to the front or goes behind another.
    connect(m_byteItemsDock, &QDockWidget::visibilityChanged, this, [this](bool inFront) {
        m_byteItemsInFront = inFront;
        m_byteItemsAction->setChecked(!m_byteItemsDock->isHidden());
    });
    m_viewMenu->addAction(m_byteItemsAction);
}

void MainWindow::toggleByteItems() {
    if (m_byteItemsDock->isHidden() || !m_byteItemsInFront) {
        m_byteItemsDock->show();
        m_byteItemsDock->raise();
        m_byteItemView->setFocus();
    } else {
        m_byteItemsDock->hide();
    }
    m_byteItemsAction->setChecked(!m_byteItemsDock->isHidden());
}

// Kinds and byte items exist in DCP checkpoints only; a shard directory shows neither.
void MainWindow::showFormatViews() {
    const auto ckpt = m_document.checkpoint();
    const bool dcp = ckpt && ckpt->format == CheckpointFormat::Dcp;
    m_table->setColumnHidden(TensorTableModel::KindColumn, !dcp);
    fitTargetColumn();
    fitNameColumns();
    if (!dcp) m_kindFilter->setCurrentIndex(0);
    m_kindFilter->setVisible(dcp);
    m_byteItemsAction->setEnabled(dcp);
    if (dcp && m_byteItemsDock->isHidden()) {
        m_byteItemsDock->show();
        m_problemsDock->raise(); // a tab shown again comes to the front; Problems stays there
    } else if (!dcp) {
        m_byteItemsDock->hide();
    }
    m_byteItemsAction->setChecked(dcp);
    m_byteItemsDock->setWindowTitle(
        dcp ? tr("Byte Items (%1)").arg(QLocale().toString(qulonglong(ckpt->byteItems.size())))
            : tr("Byte Items"));
}

// Wide enough for "not exported (optimizer state)" when training state is left out; else the
// short "00003/00004" form's width, so the coverage stays in view on a 1024 px screen.
void MainWindow::fitTargetColumn() {
    const QFontMetrics fm = m_table->fontMetrics();
    int width = TensorTableModel::defaultColumnWidth(TensorTableModel::TargetColumn, fm);
    if (const auto ckpt = m_document.checkpoint())
        for (size_t t = 0; t < ckpt->tensors.size(); ++t)
            if (m_document.isExcluded(t))
                width = std::max(width, fm.horizontalAdvance(TensorTableModel::notExportedText(
                                            ckpt->tensors[t].kind)) +
                                            16);
    m_table->horizontalHeader()->resizeSection(TensorTableModel::TargetColumn, width);
}

// The source and exported names share what the columns up to the coverage leave of the table,
// so on a 1024 px screen both names, the output file and the coverage are in view; the names
// are elided in the middle, where they repeat. While no tensor is renamed the exported names
// repeat the source names, and the source name takes nearly all of the room: at 1024 px, 20,000
// expert weights cut to the same "model.laye…roj.weight" could not be told apart.
void MainWindow::fitNameColumns() {
    fitNameColumns(m_tensors->anyNameChanged());
}

void MainWindow::fitNameColumns(bool shareRoom) {
    m_namesFittedRenamed = shareRoom;
    QHeaderView* header = m_table->horizontalHeader();
    int fixed = 0;
    for (int c : {TensorTableModel::DTypeColumn, TensorTableModel::TargetColumn,
                  TensorTableModel::StatusColumn, TensorTableModel::KindColumn})
        if (!header->isSectionHidden(c)) fixed += header->sectionSize(c);
    // Room for a vertical scroll bar that a long checkpoint shows once its rows are in.
    const QScrollBar* bar = m_table->verticalScrollBar();
    const int width =
        m_table->viewport()->width() - (bar->isVisible() ? 0 : bar->sizeHint().width());
    const QFontMetrics fm = m_table->fontMetrics();
    const int least = fm.averageCharWidth() * 12;
    // Names before the output file: a column widened for "not exported (optimizer state)" gives
    // back what the names lack, down to its usual width (the text is then elided; the Kind
    // column and the tooltip still say it). At 1024 px a DCP checkpoint's names had 9 characters.
    const int wanted = fm.averageCharWidth() * (shareRoom ? 48 : 36);
    const int target = header->sectionSize(TensorTableModel::TargetColumn);
    const int usual = TensorTableModel::defaultColumnWidth(TensorTableModel::TargetColumn, fm);
    if (width - fixed < wanted && target > usual) {
        const int give = std::min(target - usual, wanted - (width - fixed));
        header->resizeSection(TensorTableModel::TargetColumn, target - give);
        fixed -= give;
    }
    if (!m_namesFittedRenamed) {
        // The exported names wide enough for their header, "Exported name", and the sort arrow;
        // the source names take the rest.
        const QString title =
            m_tensors
                ->headerData(TensorTableModel::ExportedNameColumn, Qt::Horizontal, Qt::DisplayRole)
                .toString();
        const int exported = std::max(least, header->fontMetrics().horizontalAdvance(title) + 28);
        const int wide = fm.horizontalAdvance(QString(34, QLatin1Char('m')));
        header->resizeSection(TensorTableModel::NameColumn,
                              std::clamp(width - fixed - exported, least, wide));
        header->resizeSection(TensorTableModel::ExportedNameColumn, exported);
        return;
    }
    for (int c : {TensorTableModel::NameColumn, TensorTableModel::ExportedNameColumn}) {
        const int wide = TensorTableModel::defaultColumnWidth(c, fm);
        m_table->horizontalHeader()->resizeSection(
            c, std::clamp((width - fixed) / 2, std::min(least, wide), wide));
    }
}

void MainWindow::readSettings() {
    QSettings s;
    if (!restoreGeometry(s.value("window/geometry").toByteArray())) {
        const QRect screen = QGuiApplication::primaryScreen()
                                 ? QGuiApplication::primaryScreen()->availableGeometry()
                                 : QRect(0, 0, 1440, 900);
        resize(std::min(1480, screen.width() * 9 / 10), std::min(960, screen.height() * 9 / 10));
    }
    m_pendingState = s.value("window/state").toByteArray();
    restoreState(m_pendingState); // which docks show, where; their sizes again in showEvent
    m_mainSplitter->restoreState(s.value("window/mainSplitter").toByteArray());
    m_detailSplitter->restoreState(s.value("window/detailSplitter").toByteArray());
    m_recent = s.value("recentDirectories").toStringList();
    m_lastOutputDirectory = s.value("export/lastOutputDirectory").toString();
    m_lastExportedDirectory = s.value("export/lastShardDirectory").toString();
    m_lastThreads = s.value("export/threads", 0).toInt();
    m_lastCompareDirectory = s.value("compare/lastDirectory").toString();
    rebuildRecentMenu();
}

void MainWindow::writeSettings() {
    QSettings s;
    s.setValue("window/geometry", saveGeometry());
    s.setValue("window/state", saveState());
    s.setValue("window/mainSplitter", m_mainSplitter->saveState());
    s.setValue("window/detailSplitter", m_detailSplitter->saveState());
    s.setValue("recentDirectories", m_recent);
    s.setValue("export/lastOutputDirectory", m_lastOutputDirectory);
    s.setValue("export/lastShardDirectory", m_lastExportedDirectory);
    s.setValue("export/threads", m_lastThreads);
    s.setValue("compare/lastDirectory", m_lastCompareDirectory);
}

void MainWindow::addRecent(const QString& directory) {
    m_recent.removeAll(directory);
    m_recent.prepend(directory);
    while (m_recent.size() > kMaxRecent)
        m_recent.removeLast();
    rebuildRecentMenu();
    QSettings().setValue("recentDirectories", m_recent);
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    for (int i = 0; i < m_recent.size(); ++i) {
        const QString dir = m_recent[i];
        QAction* a = m_recentMenu->addAction(QStringLiteral("&%1 %2").arg(i + 1).arg(dir));
        connect(a, &QAction::triggered, this, [this, dir] { openDirectory(dir); });
    }
    if (!m_recent.isEmpty()) {
        m_recentMenu->addSeparator();
        m_recentMenu->addAction(tr("Clear List"), this, [this] {
            m_recent.clear();
            rebuildRecentMenu();
            QSettings().setValue("recentDirectories", m_recent);
        });
    }
    m_recentMenu->setEnabled(!m_recent.isEmpty());
}

QString MainWindow::demoDirectory() {
    // AppDataLocation appends the organization and the application name, both "ShardScope":
    // ~/.local/share/ShardScope/ShardScope. One level is enough.
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) + "/" +
           QCoreApplication::applicationName() + "/demo-checkpoint";
}

QString MainWindow::ensureDemo(QString* error) {
    const QString dir = demoDirectory();
    if (QFileInfo::exists(dir + "/shard-00004-model-00001-of-00001.safetensors")) return dir;
    try {
        QDir(dir).removeRecursively(); // an interrupted first write: start over
        writeDemoCheckpoint(std::filesystem::path(dir.toStdString()));
        return dir;
    } catch (const std::exception& e) {
        if (error) *error = tr("Cannot write the demo checkpoint: %1").arg(e.what());
        return {};
    }
}

void MainWindow::openStartupDirectory() {
    for (const QString& dir : m_recent)
        if (QFileInfo(dir).isDir()) {
            openDirectory(dir);
            return;
        }
    openDemo();
}

void MainWindow::openDemo() {
    QString error;
    const QString demo = ensureDemo(&error);
    if (demo.isEmpty())
        showMessage(tr("Demo checkpoint"), error, true);
    else
        openDirectory(demo);
}

void MainWindow::openDirectory(const QString& directory) {
    if (m_exportDialog && m_exportDialog->isRunning()) {
        showMessage(tr("Export running"), tr("Wait for the export to finish or cancel it first."),
                    false);
        return;
    }
    if (confirmDiscardEdits()) startScan(directory);
}

void MainWindow::startScan(const QString& directory) {
    if (m_values.cancel() != ValueSession::Task::None) // it was for the checkpoint being replaced
        statusBar()->showMessage(tr("Value check cancelled: another checkpoint is opening"), 4000);
    m_pendingDirectory = QDir::cleanPath(QDir(directory).absolutePath());
    m_cancelScanAction->setEnabled(true);
    m_scanProgress->setRange(0, 0);
    m_scanProgress->setFormat("%p%");
    m_scanProgress->setVisible(true);
    m_statusLabel->setText(tr("Scanning %1…").arg(m_pendingDirectory));
    m_scan.start(m_pendingDirectory); // supersedes a running scan without waiting for it
}

void MainWindow::showScanProgress(const ScanProgress& p) {
    const auto name = scanPhaseName(p.phase);
    const QString phase = QString::fromLatin1(name.data(), qsizetype(name.size()));
    m_scanProgress->setRange(0, 1000);
    m_scanProgress->setValue(p.total ? int(1000.0 * double(p.done) / double(p.total)) : 0);
    m_scanProgress->setFormat(phase + " %p%");
    QString count;
    switch (p.phase) {
    case ScanPhase::ReadingHeaders:
        count = tr("%1 of %2 files").arg(p.done).arg(p.total);
        break;
    case ScanPhase::Merging:
        count = tr("%1 of %2 chunks").arg(p.done).arg(p.total);
        break;
    case ScanPhase::CheckingCoverage:
        count = tr("%1 of %2 tensors").arg(p.done).arg(p.total);
        break;
    case ScanPhase::ComparingReplicas:
    case ScanPhase::ReadingMetadata:
        count = tr("%1 of %2")
                    .arg(QString::fromStdString(formatBytes(p.done)),
                         QString::fromStdString(formatBytes(p.total)));
        break;
    }
    m_statusLabel->setText(tr("Scanning %1 · %2: %3").arg(m_pendingDirectory, phase, count));
}

void MainWindow::onScanFinished(const ScanResult& result) {
    m_scanProgress->setVisible(false);
    m_cancelScanAction->setEnabled(false);
    if (!result.error.empty()) {
        updateStatus();
        showMessage(tr("Cannot open checkpoint"), QString::fromStdString(result.error), true);
        return;
    }
    m_directory = m_pendingDirectory;
    m_scanSeconds = result.seconds;
    addRecent(m_directory);
    std::vector<Problem> extra;
    if (!result.mappingError.empty())
        extra.push_back({Severity::Error, "", "",
                         result.mappingError + " (starting with every tensor in one file)"});
    m_document.reset(result.checkpoint, result.mapping);
    m_openingCheckpoint = true;                // a comparison it ends is not "cleared" by the user
    m_values.setCheckpoint(result.checkpoint); // the last one's statistics and comparison go
    m_openingCheckpoint = false;
    m_problems->setExtra(std::move(extra));
    showFormatViews();
    showValueColumns();
    clearDetails();
    updateWindowTitle();
    updateFilterChoices();
    if (m_proxy->rowCount() > 0) m_table->selectRow(0);
    m_table->horizontalScrollBar()->setValue(0); // names first, not the last one's scroll
    m_table->setFocus();
    updateDetails();
    updateStatus();
    // What the replaced checkpoint held goes back to the system once the views have let go of
    // it too (see memory_release.h).
    QTimer::singleShot(0, this, [] { releaseFreeMemory(); });
    emit checkpointOpened();
}

void MainWindow::updateFilterChoices() {
    auto refill = [](QComboBox* combo, const std::vector<TensorFilterProxy::Choice>& choices) {
        const QVariant current = combo->currentData();
        QSignalBlocker block(combo);
        combo->clear();
        for (const auto& choice : choices)
            combo->addItem(choice.icon, choice.text, choice.value);
        combo->setCurrentIndex(std::max(0, combo->findData(current)));
    };
    refill(m_dtypeFilter, TensorFilterProxy::dtypeChoices(m_document));
    refill(m_targetFilter, TensorFilterProxy::targetChoices(m_document));
    for (QComboBox* combo : {m_dtypeFilter, m_statusFilter, m_kindFilter, m_targetFilter})
        combo->view()->setMinimumWidth(combo->view()->sizeHintForColumn(0) + 24);
}

void MainWindow::updateWindowTitle() {
    // [*] shows while the mapping has edits that are not saved (the undo stack is not clean).
    const auto ckpt = m_document.checkpoint();
    if (m_directory.isEmpty())
        setWindowTitle(tr("ShardScope[*]"));
    else if (ckpt && ckpt->format == CheckpointFormat::Dcp)
        setWindowTitle(tr("%1 (DCP checkpoint)[*] — ShardScope").arg(m_directory));
    else if (ckpt && ckpt->format == CheckpointFormat::HfFolder)
        setWindowTitle(tr("%1 (Hugging Face safetensors folder)[*] — ShardScope").arg(m_directory));
    else
        setWindowTitle(tr("%1[*] — ShardScope").arg(m_directory));
    updateWindowModified();
}

void MainWindow::updateWindowModified() {
    setWindowModified(m_document.isOpen() && (m_document.hasUnsavedMapping() ||
                                              m_document.exportRules()->hasUnsavedEdits()));
}

void MainWindow::applyFilters() {
    const int current = currentTensor();
    const std::vector<size_t> selected = selectedTensors();
    m_proxy->setText(m_filter->text(), m_regex->isChecked());
    m_filter->setStyleSheet(m_proxy->isRegexValid() ? QString() : QStringLiteral("color: #c62828"));
    m_filter->setToolTip(m_proxy->isRegexValid() ? QString()
                                                 : tr("Not a valid regular expression"));
    m_proxy->setDTypeFilter(m_dtypeFilter->currentData().toInt());
    m_proxy->setStatusFilter(m_statusFilter->currentData().toInt());
    m_proxy->setTargetFilter(m_targetFilter->currentData().toInt());
    m_proxy->setKindFilter(m_kindFilter->currentData().toInt());
    m_proxy->setDiffersOnly(m_differsOnly->isChecked() && m_tensors->hasComparison());
    restoreSelection(current, selected);
    updateStatus();
}

int MainWindow::currentTensor() const {
    const QModelIndex current = m_table->selectionModel()->currentIndex();
    return current.isValid() ? current.data(TensorTableModel::TensorIndexRole).toInt() : -1;
}

void MainWindow::restoreSelection(int current, const std::vector<size_t>& selected) {
    QItemSelectionModel* model = m_table->selectionModel();
    QItemSelection visible;
    for (size_t tensor : selected) {
        const QModelIndex row = m_proxy->mapFromSource(m_tensors->index(int(tensor), 0));
        if (row.isValid()) visible.select(row, row);
    }
    const QModelIndex now =
        current < 0 ? QModelIndex() : m_proxy->mapFromSource(m_tensors->index(current, 0));
    if (!now.isValid()) { // filtered out: nothing shown that is not highlighted
        model->setCurrentIndex(QModelIndex(), QItemSelectionModel::NoUpdate);
        model->select(visible, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
        updateDetails();
        return;
    }
    model->select(visible, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    model->setCurrentIndex(now, QItemSelectionModel::NoUpdate);
    scrollToCurrent();
}

void MainWindow::dropHiddenCurrent() {
    // When its row leaves the table the selection model moves the current index to a
    // neighbour that is not selected; the details must not show that one.
    QItemSelectionModel* model = m_table->selectionModel();
    const QModelIndex current = model->currentIndex();
    if (current.isValid() && !model->isRowSelected(current.row(), current.parent()))
        model->setCurrentIndex(QModelIndex(), QItemSelectionModel::NoUpdate);
    if (!model->currentIndex().isValid() && m_detailTensor >= 0) updateDetails();
}

void MainWindow::scrollToCurrent() {
    const QModelIndex current = m_table->selectionModel()->currentIndex();
    if (current.isValid()) m_table->scrollTo(current);
}

void MainWindow::selectTensor(int tensor) {
    if (!m_document.isOpen()) return;
    QModelIndex source = m_tensors->index(tensor, 0);
    QModelIndex proxied = m_proxy->mapFromSource(source);
    if (!proxied.isValid()) { // hidden by a filter: clear filters so the tensor shows
        if (m_modules) m_modules->clearSelection();
        m_filter->clear();
        m_statusFilter->setCurrentIndex(0);
        m_dtypeFilter->setCurrentIndex(0);
        m_targetFilter->setCurrentIndex(0);
        m_kindFilter->setCurrentIndex(0);
        m_differsOnly->setChecked(false);
        applyFilters();
        proxied = m_proxy->mapFromSource(source);
    }
    m_table->selectionModel()->setCurrentIndex(proxied, QItemSelectionModel::ClearAndSelect |
                                                            QItemSelectionModel::Rows);
    m_table->scrollTo(proxied);
}

std::vector<size_t> MainWindow::selectedTensors() const {
    std::vector<size_t> out;
    for (const QModelIndex& index : m_table->selectionModel()->selectedRows())
        out.push_back(size_t(index.data(TensorTableModel::TensorIndexRole).toInt()));
    std::sort(out.begin(), out.end());
    return out;
}

void MainWindow::assignSelectionTo(int fileIndex) {
    m_document.assign(selectedTensors(), fileIndex);
}

void MainWindow::updateDetails() {
    const int tensor = m_document.isOpen() ? currentTensor() : -1;
    if (tensor < 0)
        clearDetails();
    else
        showTensorDetails(tensor);
}

void MainWindow::clearDetails() {
    const bool open = m_document.isOpen();
    m_detailTensor = -1;
    setDetailTitle(open ? tr("No tensor selected") : tr("No checkpoint open"));
    m_detailFacts->setText(open ? QString()
                                : tr("Open a checkpoint folder (safetensors shards, or a PyTorch "
                                     "DCP checkpoint with .metadata) with Ctrl+O, or drop a "
                                     "folder here."));
    m_chunks->setTensor(nullptr, -1);
    m_coverage->setTensor(nullptr, -1);
    m_coverageSummary->clear();
    m_slice->setVisible(false);
    ValuesContent none;
    none.message = open ? tr("No tensor selected") : QString();
    m_valuesPanel->setContent(none);
}

void MainWindow::showTensorDetails(int tensor) {
    auto ckpt = m_document.checkpoint();
    const bool sameTensor = tensor == m_detailTensor;
    m_detailTensor = tensor;
    setDetailTitle(QString::fromStdString(ckpt->tensors[size_t(tensor)].fqn));
    m_detailFacts->setText(detailFacts(tensor));
    m_chunks->setTensor(ckpt, tensor);
    fitChunkColumns();
    if (!sameTensor) { // a new tensor starts at its first chunk, not where the last one was
        m_chunkView->scrollToTop();
        m_chunkView->horizontalScrollBar()->setValue(0);
    }
    m_coverage->setTensor(ckpt, tensor);
    const uint64_t slices = m_coverage->sliceCount();
    m_slice->setVisible(slices > 1);
    m_slice->blockSignals(true);
    m_slice->setRange(0, int(std::min<uint64_t>(slices, INT32_MAX) - 1));
    m_slice->setValue(0);
    m_slice->blockSignals(false);
    m_coverageSummary->setText(m_coverage->summary());
    showTensorValues(tensor);
}

void MainWindow::selectFile(int row) {
    if (row < 0) return;
    m_filesDock->show();
    m_filesDock->raise();
    m_fileView->selectRow(row);
    m_fileView->scrollTo(m_files->index(row, 0));
}

void MainWindow::refreshDetailFacts() {
    // Every mapping change (an edit, a regrouping, a load, undo/redo) can move the shown tensor
    // to another output file; the picture and chunks stay as they are.
    if (m_detailTensor >= 0 && m_document.isOpen() &&
        size_t(m_detailTensor) < m_document.targets().size())
        m_detailFacts->setText(detailFacts(m_detailTensor));
}

QString MainWindow::detailFacts(int tensor) const {
    const TensorInfo& t = m_document.checkpoint()->tensors[size_t(tensor)];
    auto cell = [&](int column) { return m_tensors->index(tensor, column).data().toString(); };
    const auto status = m_tensors->displayStatus(tensor);
    QString facts = tr("%1 · %2 · %3 · %4 · <span style='color:%5'>%6</span>")
                        .arg(QString::fromLatin1(dtypeName(t.dtype).data()),
                             cell(TensorTableModel::ShapeColumn), // "[3, 6]?" when invalid
                             cell(TensorTableModel::SizeColumn),
                             counted(qint64(t.chunks.size()), tr("chunk"), tr("chunks")))
                        .arg(TensorTableModel::statusColor(status).name(),
                             TensorTableModel::statusText(status));
    if (const QString detail = m_tensors->statusDetail(tensor); !detail.isEmpty())
        facts += "<br>" + detail.toHtmlEscaped().replace('\n', "<br>");
    if (m_tensors->isExcluded(tensor))
        facts += "<br>" + tr("Output: %1 · the export dialog's \"Include training state\" "
                             "exports it")
                              .arg(TensorTableModel::notExportedText(t.kind));
    else
        facts += "<br>" + tr("Output: %1")
                              .arg(TensorTableModel::targetName(m_tensors->exportTarget(tensor),
                                                                m_document.fileCount()));
    if (!t.name.empty())
        facts += "<br>" + tr("Exported as: %1").arg(QString::fromStdString(t.name).toHtmlEscaped());
    if (m_document.checkpoint()->format == CheckpointFormat::Dcp)
        facts += "<br>" + tr("Kind: %1").arg(TensorTableModel::kindText(t.kind));
    return facts;
}

QString MainWindow::detailText() const {
    QTextDocument doc;
    doc.setHtml(m_detailFacts->text());
    return m_detailTitleText + "\n" + doc.toPlainText();
}

void MainWindow::setDetailTitle(const QString& title) {
    m_detailTitleText = title;
    elideDetailTitle();
}

void MainWindow::elideDetailTitle() {
    const QString shown = m_detailTitle->fontMetrics().elidedText(
        m_detailTitleText, Qt::ElideMiddle, std::max(40, m_detailTitle->width()));
    m_detailTitle->setText(shown);
    m_detailTitle->setToolTip(shown == m_detailTitleText ? QString() : m_detailTitleText);
}

void MainWindow::fitChunkColumns() {
    // The other columns fit their header and cells; the file column takes the rest of the width
    // (at least a readable minimum, at most its own contents), so the short columns stay in view.
    QHeaderView* header = m_chunkView->horizontalHeader();
    const QAbstractItemView* view = m_chunkView; // sizeHintForColumn is public up there
    auto contentWidth = [view, header](int c) {
        return std::max(view->sizeHintForColumn(c), header->sectionSizeHint(c));
    };
    int others = 0;
    for (int c = 0; c < header->count(); ++c) {
        if (c == ChunkTableModel::FileColumn || header->isSectionHidden(c)) continue;
        header->resizeSection(c, contentWidth(c));
        others += header->sectionSize(c);
    }
    // Never below its header: a centred "Shard file" narrower than its text lost both ends.
    const int minimum = std::max({m_chunkView->fontMetrics().averageCharWidth() * 8,
                                  distinguishingWidth(view, ChunkTableModel::FileColumn),
                                  header->sectionSizeHint(ChunkTableModel::FileColumn)});
    const int room = m_chunkView->viewport()->width() - others;
    header->resizeSection(
        ChunkTableModel::FileColumn,
        std::min(contentWidth(ChunkTableModel::FileColumn), std::max(minimum, room)));
}

QString MainWindow::statusText() const {
    return m_statusLabel->text();
}

QString MainWindow::statusToolTip() const {
    return m_statusLabel->toolTip();
}

// The per-dtype table behind the status bar's parameter count.
QString MainWindow::dtypeTotalsText(const DTypeTotals& totals) const {
    const QLocale locale;
    QString html = "<table><tr><th align=left>" + tr("dtype") + "</th><th align=right>" +
                   tr("tensors") + "</th><th align=right>" + tr("parameters") +
                   "</th><th align=right>" + tr("size") + "</th></tr>";
    auto row = [&](const QString& name, uint64_t tensors, uint64_t parameters, uint64_t bytes) {
        html += "<tr><td>" + name + "</td><td align=right>" + locale.toString(qulonglong(tensors)) +
                "</td><td align=right>" + locale.toString(qulonglong(parameters)) +
                "</td><td align=right>" + QString::fromStdString(formatBytes(bytes)) + "</td></tr>";
    };
    for (const DTypeTotal& t : totals.byDType)
        row(QString::fromLatin1(dtypeName(t.dtype).data()), t.tensors, t.parameters, t.bytes);
    row("<b>" + tr("total") + "</b>", totals.tensors, totals.parameters, totals.bytes);
    html += "</table>";
    if (totals.invalidTensors)
        html += tr("%1 with problems not counted")
                    .arg(counted(qint64(totals.invalidTensors), tr("tensor"), tr("tensors")));
    return html;
}

void MainWindow::updateStatus() {
    auto ckpt = m_document.checkpoint();
    const bool open = ckpt != nullptr;
    m_exportAction->setEnabled(open);
    m_saveMappingAction->setEnabled(open);
    m_loadMappingAction->setEnabled(open);
    m_groupAction->setEnabled(open);
    m_newFileAction->setEnabled(open);
    m_reloadAction->setEnabled(open);
    m_checkValuesAction->setEnabled(open);
    m_compareAction->setEnabled(open);
    m_clearComparisonAction->setEnabled(m_tensors->hasComparison());
    m_differsOnlyAction->setEnabled(m_tensors->hasComparison());
    if (!open) {
        m_statusLabel->setText(tr("No checkpoint open"));
        return;
    }
    const int errors = m_problems->errorCount();
    const bool dcp = ckpt->format == CheckpointFormat::Dcp;
    QString text =
        tr("%1 of %2 tensors shown · ").arg(m_proxy->rowCount()).arg(ckpt->tensors.size());
    if (dcp)
        text += counted(qint64(ckpt->byteItems.size()), tr("byte item"), tr("byte items")) + " · ";
    text += QString::fromStdString(formatBytes(ckpt->totalBytes())) + " · ";
    const qint64 files = qint64(ckpt->files.size());
    if (dcp)
        text += counted(files, tr(".distcp file"), tr(".distcp files"));
    else if (ckpt->format == CheckpointFormat::HfFolder)
        text += tr("Hugging Face folder: ") +
                counted(files, tr("safetensors file"), tr("safetensors files"));
    else
        text += counted(files, tr("shard file"), tr("shard files"));
    text += " · " + counted(m_document.fileCount(), tr("output file"), tr("output files")) + " · ";
    text += errors == 1 ? tr("1 problem blocks export")
            : errors    ? tr("%1 problems block export").arg(errors)
                        : tr("ready to export");
    text += tr(" · scanned in %1 s").arg(m_scanSeconds, 0, 'f', 2);
    text += valueStatusText();
    if (m_totalsFor != ckpt) { // per checkpoint, not per status update
        m_totalsFor = ckpt;
        m_totals = computeDTypeTotals(*ckpt);
    }
    text = tr("%1 parameters · ").arg(ModuleTreeModel::shortCount(m_totals.parameters)) + text;
    if (dcp) text = tr("DCP checkpoint · ") + text;
    m_statusLabel->setText(text);
    QString tip = dtypeTotalsText(m_totals);
    if (const size_t excluded = m_document.excludedCount())
        tip += "<p>" + tr("%1 left out of the export (Include training state in the export "
                          "dialog exports them).")
                           .arg(counted(qint64(excluded), tr("training-state tensor is"),
                                        tr("training-state tensors are")));
    m_statusLabel->setToolTip(tip);
    const bool listed = errors || m_problems->valueFindingCount();
    m_problemsDock->setWindowTitle(listed ? tr("Problems (%1)").arg(m_problems->rowCount())
                                          : tr("Problems"));
}

void MainWindow::openDialog() {
    if (!confirmDiscardEdits()) return; // before the chooser, not after it
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Open checkpoint folder (safetensors shards or DCP .metadata + .distcp)"),
        m_directory.isEmpty() ? QDir::homePath() : m_directory);
    if (!dir.isEmpty()) startScan(dir);
}

void MainWindow::loadMapping() {
    if (!m_document.isOpen()) return;
    const QString file = QFileDialog::getOpenFileName(this, tr("Load mapping"), m_directory,
                                                      tr("Mapping (*.json);;All files (*)"));
    if (!file.isEmpty()) loadMappingFile(file);
}

bool MainWindow::loadMappingFile(const QString& file) {
    if (!m_document.isOpen()) return false;
    try {
        const Mapping m = shardscope::loadMapping(std::filesystem::path(file.toStdString()));
        m_document.applyMapping(m, tr("Load mapping %1").arg(QFileInfo(file).fileName()));
        return true;
    } catch (const Error& e) { // the core says what is wrong, with the line and column
        showMessage(tr("Cannot load mapping"), QString::fromUtf8(e.what()), true);
    } catch (const std::exception& e) {
        showMessage(
            tr("Cannot load mapping"),
            tr("%1 cannot be read as a mapping (%2).").arg(file, QString::fromUtf8(e.what())),
            true);
    }
    return false;
}

void MainWindow::saveMapping() {
    if (!m_document.isOpen()) return;
    if (m_document.unassignedCount() > 0 &&
        QMessageBox::question(this, tr("Save mapping"),
                              tr("%1 unassigned and will not be in the file. Save anyway?")
                                  .arg(counted(qint64(m_document.unassignedCount()),
                                               tr("tensor is"), tr("tensors are")))) !=
            QMessageBox::Yes)
        return;
    const QString file = QFileDialog::getSaveFileName(
        this, tr("Save mapping"), m_directory + "/" + kMappingFileName, tr("Mapping (*.json)"));
    if (!file.isEmpty()) writeMapping(file);
}

bool MainWindow::writeMapping(const QString& file) {
    QSaveFile out(file); // written whole or not at all
    const std::string json = mappingToJson(m_document.toMapping());
    if (!out.open(QIODevice::WriteOnly) ||
        out.write(json.data(), qint64(json.size())) != qint64(json.size()) || !out.commit()) {
        showMessage(tr("Cannot save mapping"), tr("%1: %2").arg(file, out.errorString()), true);
        return false;
    }
    m_document.markMappingSaved();
    statusBar()->showMessage(tr("Mapping saved to %1").arg(file), 5000);
    return true;
}

bool MainWindow::confirmDiscardEdits() {
    if (!m_document.isOpen()) return true;
    commitOpenEdit();
    const bool mapping = m_document.hasUnsavedMapping();
    const bool rules = m_document.exportRules()->hasUnsavedEdits();
    if (!mapping && !rules) return true;
    QMessageBox box(QMessageBox::Question, tr("Unsaved changes"), unsavedEditsText(mapping, rules),
                    QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, this);
    box.setDefaultButton(QMessageBox::Save);
    box.button(QMessageBox::Save)->setText(mapping && rules ? tr("&Save Both…") : tr("&Save…"));
    box.button(QMessageBox::Discard)->setText(tr("&Discard"));
    box.button(QMessageBox::Cancel)->setText(tr("&Cancel"));
    const auto answer = QMessageBox::StandardButton(box.exec());
    if (answer == QMessageBox::Cancel) return false;
    if (answer == QMessageBox::Discard) return true;
    if (mapping && !saveMappingAs()) return false;
    if (!rules) return true;
    const QString file = chooseRulesFile(true);
    return !file.isEmpty() && saveExportRulesFile(file);
}

// A mapping file holds the output files only: the prompt says which of the two is unsaved.
QString MainWindow::unsavedEditsText(bool mapping, bool rules) const {
    if (!rules)
        return tr("The output-file mapping of %1 has changes that are not saved. Save them "
                  "first?")
            .arg(m_directory);
    if (!mapping)
        return tr("The export rules of %1 (renames, exclusions, cast) are not saved. A mapping "
                  "file does not hold them: save them to an export rules file first?")
            .arg(m_directory);
    return tr("The output-file mapping and the export rules (renames, exclusions, cast) of %1 "
              "have changes that are not saved. Save both first? Each goes to a file of its own: "
              "the mapping, then the export rules.")
        .arg(m_directory);
}

bool MainWindow::saveMappingAs() {
    const QString file = QFileDialog::getSaveFileName(
        this, tr("Save mapping"), m_directory + "/" + kMappingFileName, tr("Mapping (*.json)"));
    return !file.isEmpty() && writeMapping(file);
}

void MainWindow::groupBySizeDialog() {
    auto ckpt = m_document.checkpoint();
    if (!ckpt) return;
    bool ok = false;
    const double gb = QInputDialog::getDouble(this, tr("Group by maximum size"),
                                              tr("Largest output file (GB, like max_shard_size):"),
                                              5.0, 0.001, 100000, 3, &ok);
    if (!ok) return;
    const uint64_t limit = uint64_t(gb * 1e9);
    // With export rules the files hold what the export writes: cast sizes, no excluded tensors.
    const ExportRulesDocument* rules = m_document.exportRules();
    Mapping m = rules->edits() == ExportEdits{} ? groupBySize(*ckpt, limit)
                                                : groupBySize(*ckpt, limit, rules->selection());
    m_document.applyMapping(m, tr("Group by maximum size (%1 GB)").arg(gb));
}

void MainWindow::assignDialog() {
    const auto selected = selectedTensors();
    if (selected.empty()) return;
    QStringList choices;
    const int count = m_document.fileCount();
    for (int i = 1; i <= count; ++i)
        choices << TensorTableModel::targetName(i, count);
    choices << tr("New file (%1)").arg(TensorTableModel::targetName(count + 1, count + 1));
    bool ok = false;
    const QString choice = QInputDialog::getItem(
        this, tr("Assign to output file"),
        tr("%1 go to:")
            .arg(counted(qint64(selected.size()), tr("selected tensor"), tr("selected tensors"))),
        choices, 0, false, &ok);
    if (ok) assignSelectionTo(int(choices.indexOf(choice)) + 1);
}

void MainWindow::showTableMenu(const QPoint& pos) {
    if (!m_document.isOpen()) return;
    const auto selected = selectedTensors();
    QMenu menu(this);
    QMenu* assign = menu.addMenu(
        selected.size() == 1
            ? tr("A&ssign Tensor To")
            : tr("A&ssign %1 Tensors To").arg(QLocale().toString(qint64(selected.size()))));
    assign->setEnabled(!selected.empty());
    const int count = m_document.fileCount();
    for (int i = 1; i <= count; ++i)
        assign->addAction(TensorTableModel::targetName(i, count), this,
                          [this, i] { assignSelectionTo(i); });
    assign->addSeparator();
    assign->addAction(m_newFileAction);
    menu.addAction(m_assignAction);
    menu.addSeparator();
    menu.addAction(m_excludeAction);
    menu.addAction(m_includeAction);
    menu.addAction(m_renameAction);
    menu.addAction(m_renameRulesAction);
    menu.addSeparator();
    menu.addAction(tr("&Copy Name"), this, [selected, this] {
        QStringList names;
        for (size_t t : selected)
            names << QString::fromStdString(m_document.checkpoint()->tensors[t].fqn);
        QApplication::clipboard()->setText(names.join("\n"));
    });
    menu.addSeparator();
    addSortMenu(menu);
    menu.exec(m_table->viewport()->mapToGlobal(pos));
}

// Sort By ▸ the shown columns, then the order: the headers take no keyboard focus, so this is
// how a keyboard sorts the table.
void MainWindow::addSortMenu(QMenu& menu) {
    QMenu* sort = menu.addMenu(tr("S&ort By"));
    const QHeaderView* header = m_table->horizontalHeader();
    const int sorted = header->sortIndicatorSection();
    const Qt::SortOrder order = header->sortIndicatorOrder();
    auto* columns = new QActionGroup(sort);
    const QAbstractItemModel* model = m_table->model();
    const QString ascending = tr("&Ascending"), descending = tr("&Descending");
    QString used; // the columns' mnemonics, after those of the two orders
    for (const QString& text : {ascending, descending})
        if (const qsizetype at = text.indexOf('&'); at >= 0 && at + 1 < text.size())
            used += text.at(at + 1).toLower();
    for (int c = 0; c < model->columnCount(); ++c) {
        if (m_table->isColumnHidden(c)) continue;
        QAction* a =
            sort->addAction(withMnemonic(model->headerData(c, Qt::Horizontal).toString(), used),
                            this, [this, c, order] { m_table->sortByColumn(c, order); });
        a->setCheckable(true);
        a->setChecked(c == sorted);
        columns->addAction(a);
    }
    sort->addSeparator();
    auto* orders = new QActionGroup(sort);
    for (auto [text, o] :
         {std::pair{ascending, Qt::AscendingOrder}, std::pair{descending, Qt::DescendingOrder}}) {
        QAction* a = sort->addAction(
            text, this, [this, sorted, o] { m_table->sortByColumn(std::max(0, sorted), o); });
        a->setCheckable(true);
        a->setChecked(o == order);
        orders->addAction(a);
    }
}

void MainWindow::showTableMenuAtCurrent() {
    const QModelIndex current = m_table->selectionModel()->currentIndex();
    const QRect cell = current.isValid() ? m_table->visualRect(current) : QRect();
    const QRect visible = m_table->viewport()->rect();
    showTableMenu(cell.intersects(visible) ? QPoint(visible.left() + 8, cell.center().y())
                                           : visible.topLeft() + QPoint(8, 8));
}

bool MainWindow::isContextMenuKey(QEvent* event) const {
    if (event->type() != QEvent::KeyPress) return false;
    const auto* key = static_cast<QKeyEvent*>(event);
    return key->key() == Qt::Key_Menu ||
           (key->key() == Qt::Key_F10 && key->modifiers() == Qt::ShiftModifier);
}

ExportDialog* MainWindow::showExportDialog() {
    auto ckpt = m_document.checkpoint();
    if (!ckpt) return nullptr;
    if (m_exportDialog) {
        m_exportDialog->raise();
        return m_exportDialog;
    }
    if (ckpt->hasErrors()) {
        int errors = 0;
        QString first;
        for (const auto& p : ckpt->problems)
            if (p.severity == Severity::Error && errors++ == 0)
                first = QString::fromStdString(p.text());
        showMessage(tr("Export blocked"),
                    tr("This checkpoint cannot be consolidated exactly: %1 in the shards "
                       "(gaps, overlaps or broken files) would give a wrong model.\n\nFirst: %2\n\n"
                       "The Problems panel lists them all; click one to see the tensor.")
                        .arg(counted(errors, tr("problem"), tr("problems")), first),
                    true);
        m_problemsDock->show();
        return nullptr;
    }
    auto* dialog =
        new ExportDialog(ckpt, m_document.toMapping(), m_document.unassignedCount(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setExportRules(m_document.exportRules()->rules());
    // The cast chosen there is a document edit: the DType column shows it, Undo takes it back.
    connect(dialog, &ExportDialog::castRulesChanged, m_document.exportRules(),
            &ExportRulesDocument::setCast);
    dialog->setOutputDirectory(
        proposedOutputDirectory(m_directory, m_lastOutputDirectory, m_lastExportedDirectory));
    if (m_lastThreads > 0) dialog->setThreads(m_lastThreads);
    connect(
        dialog, &ExportDialog::exportFinished, this, [this, dialog](const ExportOutcome& outcome) {
            m_lastThreads = dialog->threads();
            if (outcome.ok) {
                m_lastOutputDirectory =
                    QDir::cleanPath(QDir(dialog->outputDirectory()).absolutePath());
                m_lastExportedDirectory = m_directory;
                statusBar()->showMessage(
                    tr("Exported %1 to %2")
                        .arg(counted(qint64(outcome.result.files.size()), tr("file"), tr("files")))
                        .arg(m_lastOutputDirectory),
                    8000);
            }
            writeSettings();
        });
    m_exportDialog = dialog;
    dialog->open();
    return dialog;
}

void MainWindow::showMessage(const QString& title, const QString& text, bool error) {
    // Window-modal and non-blocking: the event loop (and any running worker) carries on.
    auto* box = new QMessageBox(error ? QMessageBox::Critical : QMessageBox::Information, title,
                                text, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

bool MainWindow::eventFilter(QObject* watched, QEvent* event) {
    if (watched == m_table && isContextMenuKey(event)) {
        showTableMenuAtCurrent();
        return true;
    }
    if (watched == m_problemView && isContextMenuKey(event)) {
        const QRect cell = m_problemView->visualRect(m_problemView->currentIndex());
        QMenu::exec(m_problemView->actions(), m_problemView->viewport()->mapToGlobal(
                                                  cell.isValid() ? cell.center() : QPoint(8, 8)));
        return true;
    }
    if (watched == m_chunkView && event->type() == QEvent::Resize) fitChunkColumns();
    if (watched == m_detailTitle && event->type() == QEvent::Resize) elideDetailTitle();
    // X11 line edits claim Ctrl+E (end of line), Ctrl+K (delete to the end) and Ctrl+D (delete
    // a character); in ShardScope they are Export, Check Values and Differs only everywhere.
    if (watched == m_filter && event->type() == QEvent::ShortcutOverride) {
        auto* key = static_cast<QKeyEvent*>(event);
        const QKeySequence pressed(key->keyCombination());
        if (pressed == m_exportAction->shortcut() || pressed == m_checkValuesAction->shortcut() ||
            pressed == m_differsOnlyAction->shortcut()) {
            event->ignore();
            return true;
        }
    }
    return QMainWindow::eventFilter(watched, event);
}

void MainWindow::showEvent(QShowEvent* event) {
    QMainWindow::showEvent(event);
    if (m_pendingState.isEmpty() || m_shownAt.isValid()) return;
    // After this event the window has its size; restoring then gives the docks theirs.
    m_shownAt.start();
    QMetaObject::invokeMethod(
        this, [this] { restoreState(m_pendingState); }, Qt::QueuedConnection);
    QTimer::singleShot(kSettleMs, this, [this] { m_pendingState.clear(); });
}

// A window restored maximized gets its final size from the window manager after it is shown:
// the docks restored at the smaller size then gave the growth to the last one, and the
// problems panel narrowed at every start (510, 453, 389, 318 px). Until the size settles, the
// saved sizes are restored again at each new size.
void MainWindow::resizeEvent(QResizeEvent* event) {
    QMainWindow::resizeEvent(event);
    if (m_pendingState.isEmpty() || !m_shownAt.isValid()) return;
    QMetaObject::invokeMethod(
        this,
        [this] {
            if (!m_pendingState.isEmpty()) restoreState(m_pendingState);
        },
        Qt::QueuedConnection);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_exportDialog && m_exportDialog->isRunning()) {
        event->ignore(); // closes once the export reports; nothing here waits for it
        if (!m_quitAfterExport) askToCancelExportAndQuit();
        return;
    }
    if (!m_quitAfterExport && !confirmDiscardEdits()) {
        event->ignore();
        return;
    }
    m_scan.cancel(); // stops at its next check; its result is dropped, so no need to wait
    m_values.cancel();
    writeSettings();
    event->accept();
}

void MainWindow::askToCancelExportAndQuit() {
    // Window-modal and non-blocking, so the export's progress keeps arriving meanwhile.
    auto* box = new QMessageBox(QMessageBox::Question, tr("Export running"),
                                tr("An export is running. Cancel it and quit?"),
                                QMessageBox::Yes | QMessageBox::No, this);
    box->setDefaultButton(QMessageBox::No);
    box->setAttribute(Qt::WA_DeleteOnClose);
    connect(box, &QMessageBox::finished, this, [this](int answer) {
        if (answer == QMessageBox::Yes) quitAfterExport();
    });
    box->open();
}

void MainWindow::quitAfterExport() {
    if (!m_exportDialog || !m_exportDialog->isRunning()) {
        close();
        return;
    }
    m_quitAfterExport = true;
    m_exportDialog->requestCancel(); // a no-op once publishing: that export completes first
    centralWidget()->setEnabled(false);
    menuBar()->setEnabled(false);
    statusBar()->showMessage(tr("Stopping the export; ShardScope closes when it has stopped…"));
    connect(m_exportDialog, &ExportDialog::exportFinished, this, &QWidget::close,
            Qt::QueuedConnection);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    for (const QUrl& url : event->mimeData()->urls())
        if (url.isLocalFile() && QFileInfo(url.toLocalFile()).isDir()) {
            event->acceptProposedAction();
            return;
        }
}

void MainWindow::dropEvent(QDropEvent* event) {
    for (const QUrl& url : event->mimeData()->urls())
        if (url.isLocalFile() && QFileInfo(url.toLocalFile()).isDir()) {
            openDirectory(url.toLocalFile());
            event->acceptProposedAction();
            return;
        }
}

} // namespace shardscope
