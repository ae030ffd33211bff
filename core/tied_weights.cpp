// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "tied_weights.h"

#include "model_config.h"
#include "natural_order.h"
#include "posix_file.h"
#include "tensor_reader.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <map>

namespace shardscope {
namespace {

constexpr uint64_t kWindow = 4 << 20;
constexpr uint64_t kSample = 256;

bool endsWithComponent(std::string_view name, std::string_view tail) {
    if (!name.ends_with(tail)) return false;
    return name.size() == tail.size() || name[name.size() - tail.size() - 1] == '.';
}

// Reads and compares tensors through one reader, counting the bytes for progress.
class ByteComparer {
public:
    ByteComparer(const Checkpoint& ckpt, std::stop_token stop,
                 const std::function<void(uint64_t)>& progress)
        : m_ckpt(ckpt), m_reader(ckpt), m_stop(std::move(stop)), m_progress(progress) {}

    // A few bytes from the start, the middle and the end: trained tensors differ there already,
    // so most candidates never need a full read.
    std::string samples(size_t index) {
        const TensorInfo& t = m_ckpt.tensors[index];
        const uint64_t n = std::min(kSample, t.bytes);
        std::string out;
        for (uint64_t at : std::array<uint64_t, 3>{0, (t.bytes - n) / 2, t.bytes - n}) {
            const size_t old = out.size();
            out.resize(old + n);
            read(t, at, at + n, out.data() + old);
        }
        return out;
    }

    bool equal(size_t a, size_t b) {
        const TensorInfo& ta = m_ckpt.tensors[a];
        const TensorInfo& tb = m_ckpt.tensors[b];
        for (uint64_t from = 0; from < ta.bytes; from += kWindow) {
            const uint64_t to = std::min(ta.bytes, from + kWindow);
            m_a.resize(to - from);
            m_b.resize(to - from);
            read(ta, from, to, m_a.data());
            read(tb, from, to, m_b.data());
            if (std::memcmp(m_a.data(), m_b.data(), to - from) != 0) return false;
        }
        return true;
    }

private:
    void read(const TensorInfo& t, uint64_t from, uint64_t to, char* out) {
        if (m_stop.stop_requested()) throw Cancelled();
        m_reader.read(t, from, to, out, m_scratch, m_stop);
        m_done += to - from;
        if (m_progress) m_progress(m_done);
    }

    const Checkpoint& m_ckpt;
    TensorReader m_reader;
    TensorReader::Scratch m_scratch;
    std::vector<char> m_a, m_b;
    std::stop_token m_stop;
    const std::function<void(uint64_t)>& m_progress;
    uint64_t m_done = 0;
};

bool isCandidate(const TensorInfo& t) {
    return t.kind == TensorKind::Model && t.status == CoverageStatus::Complete && t.bytes > 0;
}

// Splits tensors already alike in their samples into classes of equal bytes.
void splitByBytes(std::vector<size_t> alike, ByteComparer& comparer,
                  std::vector<std::vector<size_t>>& groups) {
    while (alike.size() >= 2) {
        std::vector<size_t> same{alike.front()}, rest;
        for (size_t i = 1; i < alike.size(); ++i)
            (comparer.equal(alike.front(), alike[i]) ? same : rest).push_back(alike[i]);
        if (same.size() >= 2) groups.push_back(std::move(same));
        alike = std::move(rest);
    }
}

} // namespace

bool isOutputEmbedding(std::string_view name) {
    return endsWithComponent(name, "lm_head.weight");
}

bool isInputEmbedding(std::string_view name) {
    for (std::string_view tail :
         {"embed_tokens.weight", "wte.weight", "word_embeddings.weight", "tok_embeddings.weight"})
        if (endsWithComponent(name, tail)) return true;
    return false;
}

std::vector<std::vector<size_t>>
findIdenticalTensors(const Checkpoint& checkpoint, std::stop_token stop,
                     const std::function<void(uint64_t)>& progress) {
    std::map<std::pair<DType, std::string>, std::vector<size_t>> byLayout;
    for (size_t i = 0; i < checkpoint.tensors.size(); ++i) {
        const TensorInfo& t = checkpoint.tensors[i];
        if (isCandidate(t)) byLayout[{t.dtype, formatShape(t.shape)}].push_back(i);
    }
    ByteComparer comparer(checkpoint, stop, progress);
    std::vector<std::vector<size_t>> groups;
    for (auto& [layout, members] : byLayout) {
        if (members.size() < 2) continue;
        std::map<std::string, std::vector<size_t>> bySamples;
        for (size_t i : members)
            bySamples[comparer.samples(i)].push_back(i);
        for (auto& [samples, alike] : bySamples)
            splitByBytes(std::move(alike), comparer, groups);
    }
    for (auto& g : groups)
        std::sort(g.begin(), g.end(), [&](size_t a, size_t b) {
            return naturalLess(checkpoint.tensors[a].exportName(),
                               checkpoint.tensors[b].exportName());
        });
    std::sort(groups.begin(), groups.end());
    return groups;
}

std::map<std::string, std::string> tiedToDrop(const Checkpoint& checkpoint,
                                              const std::vector<std::vector<size_t>>& groups) {
    std::map<std::string, std::string> dropped;
    for (const auto& g : groups) {
        const TensorInfo* input = nullptr;
        for (size_t i : g)
            if (!input && isInputEmbedding(checkpoint.tensors[i].exportName()))
                input = &checkpoint.tensors[i];
        if (!input) continue;
        for (size_t i : g)
            if (isOutputEmbedding(checkpoint.tensors[i].exportName()))
                dropped[checkpoint.tensors[i].fqn] = input->fqn;
    }
    return dropped;
}

namespace {

const TensorInfo* findByRole(const Checkpoint& checkpoint, bool (*role)(std::string_view)) {
    for (const auto& t : checkpoint.tensors)
        if (t.kind == TensorKind::Model && role(t.exportName())) return &t;
    return nullptr;
}

bool inSameGroup(const Checkpoint& checkpoint, const std::vector<std::vector<size_t>>& groups,
                 const TensorInfo* a, const TensorInfo* b) {
    const size_t ia = size_t(a - checkpoint.tensors.data());
    const size_t ib = size_t(b - checkpoint.tensors.data());
    return std::any_of(groups.begin(), groups.end(), [&](const std::vector<size_t>& g) {
        return std::count(g.begin(), g.end(), ia) && std::count(g.begin(), g.end(), ib);
    });
}

void configFindings(const Checkpoint& checkpoint, const std::vector<std::vector<size_t>>& groups,
                    const std::string& configJson, const std::string& configName,
                    std::vector<Problem>& out) {
    bool stated = false;
    const std::optional<bool> tied = tieWordEmbeddings(configJson, &stated);
    const TensorInfo* input = findByRole(checkpoint, isInputEmbedding);
    const TensorInfo* output = findByRole(checkpoint, isOutputEmbedding);
    if (!tied || !input) return;
    if (*tied && output && !inSameGroup(checkpoint, groups, input, output))
        out.push_back({Severity::Warning, configName, output->exportName(),
                       std::string("tie_word_embeddings is ") +
                           (stated ? "true" : "not set (Hugging Face's default is true)") +
                           " but this tensor holds other bytes than " + input->exportName() +
                           ": a loader replaces it with the embedding, silently",
                       ErrorKind::TieConfigMismatch});
    if (!*tied && !output)
        out.push_back({Severity::Warning, configName, "lm_head.weight",
                       "tie_word_embeddings is false but the checkpoint has no lm_head.weight: "
                       "a loader starts it from random values, silently",
                       ErrorKind::TieConfigMismatch});
}

} // namespace

std::vector<Problem> tiedFindings(const Checkpoint& checkpoint,
                                  const std::vector<std::vector<size_t>>& groups,
                                  const std::optional<std::string>& configJson,
                                  const std::string& configName) {
    std::vector<Problem> out;
    for (const auto& g : groups) {
        const TensorInfo& first = checkpoint.tensors[g.front()];
        for (size_t k = 1; k < g.size(); ++k) {
            const TensorInfo& t = checkpoint.tensors[g[k]];
            out.push_back({Severity::Warning, "", t.exportName(),
                           "is identical to " + first.exportName() + " (" +
                               std::string(dtypeName(t.dtype)) + " " + formatShape(t.shape) +
                               ", every byte)",
                           ErrorKind::TiedWeights});
        }
    }
    if (configJson) configFindings(checkpoint, groups, *configJson, configName, out);
    return out;
}

namespace {

// The config a loader would read beside these weights, and its path; none when absent or
// unreadable (a config that cannot be read ties nothing).
std::optional<std::pair<std::string, std::string>> modelConfigOf(const Checkpoint& ckpt) {
    for (const auto& dir : {ckpt.hfMetadataDir, ckpt.hfAssetsDir, ckpt.directory}) {
        std::error_code ec;
        if (dir.empty() || !std::filesystem::is_regular_file(dir / "config.json", ec)) continue;
        try {
            return std::pair{(dir / "config.json").string(),
                             readSmallFile(dir / "config.json", kMaxConfigBytes, "config.json")};
        } catch (const Error&) {
            return std::nullopt;
        }
    }
    return std::nullopt;
}

} // namespace

std::vector<Problem> checkTiedWeights(const Checkpoint& checkpoint, std::stop_token stop,
                                      const std::function<void(uint64_t bytes)>& progress) {
    const auto groups = findIdenticalTensors(checkpoint, stop, progress);
    const auto config = modelConfigOf(checkpoint);
    if (!config) return tiedFindings(checkpoint, groups, std::nullopt);
    return tiedFindings(checkpoint, groups, config->second, config->first);
}

} // namespace shardscope
