// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "allocator.h"
#include "main_window.h"
#include "posix_file.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QIcon>

int main(int argc, char** argv) {
    shardscope::tuneAllocator(argv);
    shardscope::raiseOpenFileLimit(); // every shard file is open while exporting
    QApplication app(argc, argv);
    QApplication::setOrganizationName("ShardScope");
    QApplication::setApplicationName("ShardScope");
    QApplication::setApplicationVersion(QStringLiteral(SHARDSCOPE_VERSION));
    QApplication::setWindowIcon(QIcon(":/icons/shardscope.png"));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        "Inspect and consolidate sharded safetensors checkpoints and PyTorch DCP checkpoints.");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("dir", "A checkpoint folder to open: *.safetensors shard files, "
                                        "or a PyTorch DCP checkpoint (.metadata + *.distcp).");
    parser.process(app);

    shardscope::MainWindow window;
    window.show();
    const QStringList args = parser.positionalArguments();
    if (!args.isEmpty())
        window.openDirectory(args.front());
    else
        window.openStartupDirectory();
    return app.exec();
}
