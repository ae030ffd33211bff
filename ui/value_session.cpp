// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "value_session.h"

#include <utility>

namespace shardscope {
namespace {

// Pairs read for the details pane are small (two histograms each); this bounds a long session.
constexpr size_t kMaxPairs = 512;

} // namespace

ValueSession::ValueSession(QObject* parent) : QObject(parent) {
    for (JobSignals* job : std::initializer_list<JobSignals*>{&m_checkJob, &m_compareJob})
        connect(job, &JobSignals::progress, this, &ValueSession::progress);
    connect(&m_checkJob, &JobSignals::finished, this, &ValueSession::onCheckFinished);
    connect(&m_compareJob, &JobSignals::finished, this, &ValueSession::onCompareFinished);
    connect(&m_pairJob, &JobSignals::progress, this, &ValueSession::pairProgress);
    connect(&m_pairJob, &JobSignals::finished, this, &ValueSession::onPairFinished);
    connect(&m_checkJob, &JobSignals::failed, this,
            [this](const QString& message) { emit failed(tr("Value check failed"), message); });
    connect(&m_compareJob, &JobSignals::failed, this,
            [this](const QString& message) { emit failed(tr("Comparison failed"), message); });
    connect(&m_pairJob, &JobSignals::failed, this, [this](const QString& message) {
        const int tensor = std::exchange(m_pairTensor, -1);
        m_pairErrors[tensor] = message;
        emit pairReady(tensor);
    });
}

void ValueSession::setCheckpoint(std::shared_ptr<const Checkpoint> checkpoint) {
    if (checkpoint == m_checkpoint) return;
    cancel();
    m_checkpoint = std::move(checkpoint);
    m_check.reset();
    clearComparison(); // and says so when there was one
}

void ValueSession::startCheck() {
    if (!m_checkpoint) return;
    cancel();
    m_checkJob.start([checkpoint = m_checkpoint](JobContext& context) {
        return checkValues(checkpoint, context);
    });
}

void ValueSession::startCompare(CompareRequest request) {
    if (!m_checkpoint) return;
    cancel();
    request.a = m_checkpoint;
    m_compareJob.start(
        [request](JobContext& context) { return compareCheckpoints(request, context); });
}

ValueSession::Task ValueSession::running() const {
    if (m_checkJob.isRunning()) return Task::Check;
    if (m_compareJob.isRunning()) return Task::Compare;
    return Task::None;
}

ValueSession::Task ValueSession::cancel() {
    const Task was = running();
    m_checkJob.cancel();
    m_compareJob.cancel();
    return was;
}

void ValueSession::clearComparison() {
    m_pairJob.cancel();
    m_pairTensor = -1;
    m_pairCancelled = -1;
    m_pairs.clear();
    m_pairErrors.clear();
    if (!m_comparison) return;
    m_comparison.reset();
    emit comparisonChanged();
}

void ValueSession::onCheckFinished() {
    const auto check = m_checkJob.result();
    if (check->checkpoint != m_checkpoint) return; // for a checkpoint closed meanwhile
    m_check = check;
    emit checkFinished();
}

void ValueSession::onCompareFinished() {
    const auto comparison = m_compareJob.result();
    if (comparison->a != m_checkpoint) return;
    clearComparison();
    m_comparison = comparison;
    emit comparisonChanged();
}

const TensorStats* ValueSession::statsA(int tensor) const {
    if (tensor < 0) return nullptr;
    if (m_check)
        if (const TensorStats* s = m_check->statsOf(size_t(tensor))) return s;
    const TensorPairStats* p = pair(tensor);
    return p && p->a ? &*p->a : nullptr;
}

const TensorPairStats* ValueSession::pair(int tensor) const {
    auto it = m_pairs.find(tensor);
    return it == m_pairs.end() ? nullptr : it->second.get();
}

bool ValueSession::isReadingPair(int tensor) const {
    return tensor >= 0 && tensor == pairBeingRead();
}

int ValueSession::pairBeingRead() const {
    return m_pairJob.isRunning() ? m_pairTensor : -1;
}

bool ValueSession::cancelPair() {
    const int tensor = pairBeingRead();
    if (tensor < 0) return false;
    m_pairJob.cancel();
    m_pairTensor = -1;
    m_pairCancelled = tensor;
    return true;
}

QString ValueSession::pairError(int tensor) const {
    auto it = m_pairErrors.find(tensor);
    return it == m_pairErrors.end() ? QString() : it->second;
}

bool ValueSession::requestPair(int tensor, bool again) {
    if (again || tensor != m_pairCancelled) m_pairCancelled = -1;
    if (!m_comparison || tensor < 0 || wasPairCancelled(tensor) || pair(tensor) ||
        m_pairErrors.count(tensor) || isReadingPair(tensor))
        return false;
    const bool readA = !(m_check && m_check->statsOf(size_t(tensor)));
    m_pairTensor = tensor; // supersedes the tensor selected before: only the shown one matters
    m_pairJob.start([comparison = m_comparison, tensor, readA](JobContext& context) {
        return readTensorPair(comparison, tensor, readA, context);
    });
    return true;
}

void ValueSession::onPairFinished() {
    const auto read = m_pairJob.result();
    m_pairTensor = -1;
    if (m_pairs.size() >= kMaxPairs) m_pairs.clear();
    m_pairs[read->tensor] = read;
    emit pairReady(read->tensor);
}

} // namespace shardscope
