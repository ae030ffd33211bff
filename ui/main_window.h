// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype_totals.h"

#include "mapping_document.h"
#include "scan_worker.h"
#include "value_session.h"

#include <QElapsedTimer>
#include <QMainWindow>
#include <QPointer>

class QAction;
class QCheckBox;
class QComboBox;
class QDockWidget;
class QIcon;
class QLabel;
class QLineEdit;
class QMenu;
class QProgressBar;
class QSpinBox;
class QSplitter;
class QTabWidget;
class QTableView;
class QTimer;

namespace shardscope {

class ByteItemsModel;
class ChunkTableModel;
class FilesModel;
class ModuleTreeView;
class CoverageView;
class ExportDialog;
class OutputFilesModel;
class ProblemsModel;
class RenameRulesDialog;
class TensorFilterProxy;
class TensorTableModel;
class ValuesPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    void openDirectory(const QString& directory);
    // The built-in demo, written on first use into the user's data directory.
    static QString demoDirectory();
    static QString ensureDemo(QString* error = nullptr);
    // Opens what a first start should show: the most recent directory, else the demo.
    void openStartupDirectory();

    // Used by the UI tests as much as by the menus.
    MappingDocument* document() { return &m_document; }
    ScanWorker* scanWorker() { return &m_scan; }
    TensorTableModel* tensorModel() { return m_tensors; }
    TensorFilterProxy* tensorProxy() { return m_proxy; }
    QTableView* tensorView() { return m_table; }
    ChunkTableModel* chunkModel() { return m_chunks; }
    CoverageView* coverageView() { return m_coverage; }
    OutputFilesModel* outputFilesModel() { return m_outputs; }
    ProblemsModel* problemsModel() { return m_problems; }
    FilesModel* filesModel() { return m_files; }
    QTableView* filesView() { return m_fileView; }
    ByteItemsModel* byteItemsModel() { return m_byteItems; }
    QTableView* byteItemsView() { return m_byteItemView; }
    QDockWidget* byteItemsDock() { return m_byteItemsDock; }
    ValueSession* valueSession() { return &m_values; }
    ValuesPanel* valuesPanel() { return m_valuesPanel; }
    QTabWidget* detailTabs() { return m_detailTabs; }
    QAction* checkValuesAction() { return m_checkValuesAction; } // File ▸ Check Values (Ctrl+K)
    QAction* compareAction() { return m_compareAction; } // File ▸ Compare With… (Ctrl+Shift+K)
    QAction* clearComparisonAction() { return m_clearComparisonAction; }
    QCheckBox* differsOnlyFilter() { return m_differsOnly; }
    QLabel* comparisonBanner() { return m_comparisonBanner; }
    QAction* byteItemsAction() { return m_byteItemsAction; } // View ▸ Byte Items (Ctrl+B)
    QComboBox* kindFilter() { return m_kindFilter; }
    QTableView* problemsView() { return m_problemView; }
    QString directory() const { return m_directory; }
    QString statusText() const;    // the status bar's summary line
    QString statusToolTip() const; // its per-dtype table
    void selectTensor(int tensor);
    void selectFile(int row); // a row of the Files view, shown and selected
    std::vector<size_t> selectedTensors() const;
    void assignSelectionTo(int fileIndex);
    ExportDialog* showExportDialog(); // nullptr when export is blocked (the reason is shown)
    RenameRulesDialog* showRenameRulesDialog();          // Edit ▸ Rename Rules… (Ctrl+Shift+R)
    QAction* excludeAction() { return m_excludeAction; } // Edit ▸ Exclude from Export (Del)
    QAction* includeAction() { return m_includeAction; } // Edit ▸ Include in Export (Ins)
    QAction* renameAction() { return m_renameAction; }   // Edit ▸ Rename… (F2)
    // Applies a mapping file as one undoable edit; false (with the core's message shown) if bad.
    bool loadMappingFile(const QString& file);
    // File ▸ Save/Load Export Rules: the rules as exportRulesToJson writes them. Loading is one
    // undoable edit; false (with the message shown, naming the file) when it fails.
    bool saveExportRulesFile(const QString& file);
    bool loadExportRulesFile(const QString& file);
    QAction* saveRulesAction() { return m_saveRulesAction; }
    QAction* loadRulesAction() { return m_loadRulesAction; }
    // The details pane as shown: the tensor name, then its facts as plain text.
    QString detailText() const;
    int detailTensor() const { return m_detailTensor; } // -1 when the details show no tensor
    // Check Values and Compare With, as the actions run them (the dialog gives the folder).
    void checkValues();
    void compareWith(const QString& directory, double atol = 0, double rtol = 0);

signals:
    void checkpointOpened();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
    void closeEvent(QCloseEvent* event) override;
    void showEvent(QShowEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void createActions();
    void createFileActions();
    void createEditActions();
    void createUndoActions();
    void createValueActions();
    // Export rules (main_window_export_rules.cpp).
    void createExportRuleActions();
    void connectExportRules();
    void updateExportRuleActions();
    void excludeSelection();
    void includeSelection();
    void renameCurrent();
    void reportRuleProblems();
    void saveExportRules();
    void loadExportRules();
    QString chooseRulesFile(bool save);
    void updateWindowModified(); // [*]: the mapping or the export rules are not saved
    void fitNameColumns();
    void commitOpenEdit();
    void fitNameColumns(bool shareRoom); // shareRoom: both names get half of the room
    void createMenus();
    void createToolBar();
    QAction* toolBarProxy(QAction* action, const QString& text, const QIcon& icon);
    QWidget* createFilterBar();
    QWidget* createTensorPane();
    void configureTensorTable();
    QWidget* createDetails();
    QWidget* createDetailTabs(QWidget* coverage);
    QLabel* createComparisonBanner();
    void createDocks();
    void createModulesDock();
    QAction* viewToggle(QDockWidget* dock, const QString& text);
    void addSortMenu(QMenu& menu);
    void copyProblems();
    void createByteItemsDock();
    void toggleByteItems(); // shows and raises the dock, or hides it when it is in front
    void showFormatViews(); // what only a DCP checkpoint has: kinds, byte items
    void fitTargetColumn();
    QString dtypeTotalsText(const DTypeTotals& totals) const;
    void createStatusBar();
    void connectSignals();
    void setUpKeyboardNavigation();
    void readSettings();
    // The docks' sizes as saved: restored once the window is shown, because before that its
    // layout has no size and the dock areas came back narrower at every start.
    QByteArray m_pendingState;
    bool m_openingCheckpoint = false; // while a newly scanned checkpoint replaces the last
    QElapsedTimer m_shownAt; // the first show: the window manager may still resize the window
    void writeSettings();
    void addRecent(const QString& directory);
    void rebuildRecentMenu();
    void onScanFinished(const ScanResult& result);
    void showScanProgress(const ScanProgress& progress);
    // Check Values and Compare With (main_window_values.cpp).
    void connectValueSession();
    bool canStartValueTask();
    void startValueTask(const QString& text, const QString& cancelText);
    void endValueTask();
    void showPairTask();
    void showValueProgress(const JobProgress& progress);
    void onValueCheckFinished();
    void onComparisonChanged();
    void cancelRunning(); // Esc: the scan, else the value check or comparison, else a tensor read
    void showValueColumns();
    void updateComparisonBanner();
    void showTensorValues(int tensor);
    void openCompareDialog();
    QString valueStatusText() const;
    void askToCancelExportAndQuit();
    void quitAfterExport(); // cancels the export and closes once it has reported
    void updateDetails();   // follows the current row
    void showTensorDetails(int tensor);
    void clearDetails();
    void refreshDetailFacts(); // after a mapping change: same tensor, new output file
    QString detailFacts(int tensor) const;
    void setDetailTitle(const QString& title);
    void elideDetailTitle();
    void fitChunkColumns();
    void updateStatus();
    void updateFilterChoices();
    void applyFilters();
    int currentTensor() const;
    // Keeps the current and selected tensors across a filter change when they stay visible.
    void restoreSelection(int current, const std::vector<size_t>& selected);
    void dropHiddenCurrent(); // after rows leave the table: no details for an unselected row
    void scrollToCurrent();
    void updateWindowTitle();
    void openDialog();
    void loadMapping();
    void saveMapping();
    void groupBySizeDialog();
    void assignDialog();
    void showTableMenu(const QPoint& pos);
    void showTableMenuAtCurrent(); // Shift+F10 and the Menu key
    bool isContextMenuKey(QEvent* event) const;
    void showMessage(const QString& title, const QString& text, bool error);
    // Unsaved mapping or export rules: ask to save or discard. False when the user cancels.
    bool confirmDiscardEdits();
    QString unsavedEditsText(bool mapping, bool rules) const;
    bool saveMappingAs(); // asks for the file; false when cancelled or failed
    void startScan(const QString& directory);
    void openDemo();
    bool writeMapping(const QString& file);

    MappingDocument m_document;
    ScanWorker m_scan;
    ValueSession m_values;   // statistics and comparison of the open checkpoint
    QString m_valueTaskText; // "Reading values of …", before the progress in the status bar
    QString m_lastCompareDirectory;
    QString m_directory;
    QString m_pendingDirectory;

    TensorTableModel* m_tensors;
    bool m_namesFittedRenamed = false; // the name columns were last fitted for renamed tensors
    TensorFilterProxy* m_proxy;
    ChunkTableModel* m_chunks;
    OutputFilesModel* m_outputs;
    ProblemsModel* m_problems;
    FilesModel* m_files;
    ByteItemsModel* m_byteItems;

    QTableView* m_table = nullptr;
    QTableView* m_chunkView = nullptr;
    QTableView* m_outputView = nullptr;
    QTableView* m_problemView = nullptr;
    QTableView* m_fileView = nullptr;
    QTableView* m_byteItemView = nullptr;
    ModuleTreeView* m_modules = nullptr;
    CoverageView* m_coverage = nullptr;
    QLabel* m_detailTitle = nullptr;
    QLabel* m_detailFacts = nullptr;
    QLabel* m_coverageSummary = nullptr;
    QTabWidget* m_detailTabs = nullptr; // Coverage, Values
    ValuesPanel* m_valuesPanel = nullptr;
    QLabel* m_comparisonBanner = nullptr;
    QSpinBox* m_slice = nullptr;
    QSplitter* m_mainSplitter = nullptr;
    QSplitter* m_detailSplitter = nullptr;
    QList<QMetaObject::Connection> m_dockFocusConnections; // see setUpKeyboardNavigation
    QDockWidget* m_problemsDock = nullptr;
    QDockWidget* m_outputsDock = nullptr;
    QDockWidget* m_filesDock = nullptr;
    QDockWidget* m_modulesDock = nullptr;
    QDockWidget* m_byteItemsDock = nullptr;
    bool m_byteItemsInFront = false;               // its tab is the one shown
    std::shared_ptr<const Checkpoint> m_totalsFor; // the checkpoint m_totals was computed for
    DTypeTotals m_totals;
    int m_detailTensor = -1;
    QString m_detailTitleText; // in full; the label shows it elided to its width

    QLineEdit* m_filter = nullptr;
    QCheckBox* m_regex = nullptr;
    QComboBox* m_dtypeFilter = nullptr;
    QComboBox* m_statusFilter = nullptr;
    QComboBox* m_targetFilter = nullptr;
    QComboBox* m_kindFilter = nullptr;  // DCP checkpoints only
    QCheckBox* m_differsOnly = nullptr; // during a comparison only
    QTimer* m_filterTimer = nullptr;

    QLabel* m_statusLabel = nullptr;
    QProgressBar* m_scanProgress = nullptr;
    QAction* m_cancelScanAction = nullptr;

    QAction* m_openAction = nullptr;
    QAction* m_demoAction = nullptr;
    QAction* m_reloadAction = nullptr;
    QAction* m_loadMappingAction = nullptr;
    QAction* m_saveMappingAction = nullptr;
    QAction* m_exportAction = nullptr;
    QAction* m_quitAction = nullptr;
    QAction* m_undoAction = nullptr;
    QAction* m_redoAction = nullptr;
    QAction* m_assignAction = nullptr;
    QAction* m_newFileAction = nullptr;
    QAction* m_groupAction = nullptr;
    QAction* m_findAction = nullptr;
    QAction* m_problemsOnlyAction = nullptr;
    QAction* m_byteItemsAction = nullptr;
    QAction* m_checkValuesAction = nullptr;
    QAction* m_compareAction = nullptr;
    QAction* m_clearComparisonAction = nullptr;
    QAction* m_differsOnlyAction = nullptr;
    QAction* m_excludeAction = nullptr;
    QAction* m_includeAction = nullptr;
    QAction* m_renameAction = nullptr;
    QAction* m_renameRulesAction = nullptr;
    QAction* m_saveRulesAction = nullptr;
    QAction* m_loadRulesAction = nullptr;
    QMenu* m_recentMenu = nullptr;
    QMenu* m_viewMenu = nullptr;
    QStringList m_recent;
    double m_scanSeconds = 0;
    int m_lastThreads = 0;
    QString m_lastOutputDirectory;
    QString m_lastExportedDirectory; // the shard directory m_lastOutputDirectory was written from
    QPointer<ExportDialog> m_exportDialog;
    bool m_quitAfterExport = false;
};

} // namespace shardscope
