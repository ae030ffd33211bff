// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "value_jobs.h"

#include "tied_weights.h"

#include <QObject>

namespace shardscope {
namespace {

// One tensor's statistics without a result slot per tensor of the checkpoint: a copy that
// holds only that tensor (the files and stored layouts its chunks point into stay as they are).
std::optional<TensorStats> statsOfOne(const Checkpoint& checkpoint, int64_t tensor,
                                      const QString& phase, JobContext& context) {
    if (tensor < 0 || size_t(tensor) >= checkpoint.tensors.size()) return std::nullopt;
    Checkpoint one;
    one.directory = checkpoint.directory;
    one.format = checkpoint.format;
    one.files = checkpoint.files;
    one.stored = checkpoint.stored;
    one.tensors = {checkpoint.tensors[size_t(tensor)]};
    StatsOptions options;
    options.stop = context.stop();
    options.progress = [&](const StatsProgress& p) {
        context.report(phase, p.bytesDone, p.bytesTotal);
    };
    CheckpointStats stats = computeStats(one, options);
    if (!stats.tensors.front().computed) return std::nullopt;
    return std::move(stats.tensors.front());
}

} // namespace

std::shared_ptr<const ValueCheck> checkValues(std::shared_ptr<const Checkpoint> checkpoint,
                                              JobContext& context) {
    const QString reading = QObject::tr("Reading values");
    const QString binning = QObject::tr("Binning histograms");
    StatsOptions options;
    options.stop = context.stop();
    options.progress = [&](const StatsProgress& p) {
        context.report(p.binning ? binning : reading, p.bytesDone, p.bytesTotal);
    };
    auto check = std::make_shared<ValueCheck>();
    auto stats = std::make_shared<CheckpointStats>(computeStats(*checkpoint, options));
    check->findings = valueFindings(*checkpoint, *stats);
    // The same findings as shardscope-cli check: tensors with equal bytes, and the config's
    // tie_word_embeddings against them. Only tensors whose dtype and shape match are read.
    const QString comparing = QObject::tr("Comparing identical tensors");
    const auto tied = checkTiedWeights(
        *checkpoint, context.stop(), [&](uint64_t bytes) { context.report(comparing, bytes, 0); });
    check->findings.insert(check->findings.end(), tied.begin(), tied.end());
    check->seconds = stats->seconds;
    check->stats = std::move(stats);
    check->checkpoint = std::move(checkpoint);
    return check;
}

std::shared_ptr<const Comparison> compareCheckpoints(const CompareRequest& request,
                                                     JobContext& context) {
    ScanOptions scan;
    scan.stop = context.stop();
    scan.progress = [&](const ScanProgress& p) {
        const auto name = scanPhaseName(p.phase);
        const bool bytes =
            p.phase == ScanPhase::ComparingReplicas || p.phase == ScanPhase::ReadingMetadata;
        context.report(QString::fromLatin1(name.data(), qsizetype(name.size())), p.done, p.total,
                       bytes);
    };
    auto b = std::make_shared<const Checkpoint>(
        scanCheckpoint(std::filesystem::path(request.directory.toStdString()), scan));
    const QString phase = QObject::tr("Comparing values");
    DiffOptions options;
    options.atol = request.atol;
    options.rtol = request.rtol;
    options.tolerance = request.tolerance;
    options.stop = context.stop();
    options.progress = [&](uint64_t done, uint64_t total) { context.report(phase, done, total); };
    auto comparison = std::make_shared<Comparison>();
    auto report = std::make_shared<DiffReport>(diffCheckpoints(*request.a, *b, options));
    comparison->diffOfTensor.assign(request.a->tensors.size(), -1);
    for (size_t i = 0; i < report->tensors.size(); ++i)
        if (report->tensors[i].a >= 0)
            comparison->diffOfTensor[size_t(report->tensors[i].a)] = int(i);
    comparison->seconds = report->seconds;
    comparison->report = std::move(report);
    comparison->a = request.a;
    comparison->b = std::move(b);
    comparison->directory = request.directory;
    if (request.tolerance) comparison->tolerance = std::pair(request.atol, request.rtol);
    return comparison;
}

std::shared_ptr<const TensorPairStats> readTensorPair(std::shared_ptr<const Comparison> comparison,
                                                      int tensor, bool readA, JobContext& context) {
    auto pair = std::make_shared<TensorPairStats>();
    pair->tensor = tensor;
    if (readA) pair->a = statsOfOne(*comparison->a, tensor, QObject::tr("Reading here"), context);
    if (const TensorDiff* d = comparison->diffOf(size_t(tensor))) {
        pair->b = statsOfOne(*comparison->b, d->b, QObject::tr("Reading the other"), context);
        if (d->compared && d->status != DiffStatus::Identical) {
            const QString phase = QObject::tr("Binning the difference");
            pair->difference = differenceHistograms(
                *comparison->a, comparison->a->tensors[size_t(tensor)], *comparison->b,
                comparison->b->tensors[size_t(d->b)], context.stop(),
                [&](uint64_t done, uint64_t total) { context.report(phase, done, total); });
        }
    }
    return pair;
}

} // namespace shardscope
