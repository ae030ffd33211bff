// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "plan.h"

#include "json_cursor.h"
#include "natural_order.h"
#include "posix_file.h"
#include "safetensors_reader.h"
#include "safetensors_writer.h"
#include "tied_weights.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace fs = std::filesystem;

namespace shardscope {

int Mapping::fileCount() const {
    int m = 1;
    for (const auto& [fqn, index] : fileIndex)
        m = std::max(m, index);
    return m;
}

// A flat object read with the strict pull parser: nothing is built for a value that is not a
// number, so a deeply nested or huge value costs nothing and is only described, never echoed.
namespace {

// Where `key` first appears as a key of the flat object `text` (already parsed up to a repeat
// of it): found again only for the message, so parsing keeps one map, not two.
size_t firstKeyAt(std::string_view text, const std::string& key) {
    JsonCursor cur(text);
    std::string scratch;
    cur.consume('{');
    for (;;) {
        const size_t position = cur.position();
        if (cur.string(scratch) == key) return position;
        cur.expect(':', "':'");
        uint64_t value = 0;
        cur.number(value);
        cur.consume(',');
    }
}

} // namespace

Mapping parseMapping(const std::string& json, const std::string& source) {
    std::string_view text = json;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3); // editors' byte-order mark
    const size_t bom = json.size() - text.size();
    auto where = [&](size_t position) { return lineAndColumn(json, position + bom); };
    if (!isValidUtf8(text))
        throw Error(ErrorKind::MappingInvalid, source, "", "the mapping is not valid UTF-8");

    JsonCursor cur(text);
    Mapping m;
    m.source = source;
    std::string scratch;
    try {
        if (cur.atEnd())
            throw Error(ErrorKind::MappingInvalid, source, "", "the mapping file is empty");
        if (cur.peek() != '{')
            throw Error(ErrorKind::MappingInvalid, source, "",
                        where(cur.position()) +
                            ": the mapping must be a JSON object {\"<fqn>\": <file index>}, "
                            "found " +
                            cur.describeNext());
        cur.consume('{');
        if (!cur.consume('}')) {
            do {
                if (cur.peek() != '"') cur.fail("expected a tensor name in double quotes");
                const size_t keyPosition = cur.position();
                auto [slot, inserted] =
                    m.fileIndex.try_emplace(std::string(cur.string(scratch)), 0);
                const std::string& fqn = slot->first;
                if (!inserted)
                    throw Error(ErrorKind::MappingInvalid, source, fqn,
                                where(keyPosition) + ": listed twice in the mapping (first at " +
                                    where(firstKeyAt(text, fqn)) + ")");
                cur.expect(':', "':' after the tensor name");
                const char next = cur.peek();
                const size_t valuePosition = cur.position();
                if (next != '-' && (next < '0' || next > '9'))
                    throw Error(ErrorKind::MappingInvalid, source, fqn,
                                where(valuePosition) +
                                    ": file index must be a positive integer, found " +
                                    cur.describeNext());
                uint64_t value = 0;
                JsonCursor::Number kind = JsonCursor::Number::Unsigned;
                try {
                    kind = cur.number(value);
                } catch (const JsonError& e) {
                    // Still this tensor's value (a bare '.', a lone '-'): name the tensor.
                    throw Error(ErrorKind::MappingInvalid, source, fqn,
                                where(e.position()) + ": " + e.what());
                }
                if (kind == JsonCursor::Number::Overflow)
                    throw Error(ErrorKind::MappingInvalid, source, fqn,
                                where(valuePosition) + ": file index " + "is above the limit of " +
                                    std::to_string(kMaxFileIndex));
                if (kind == JsonCursor::Number::Fraction)
                    throw Error(ErrorKind::MappingInvalid, source, fqn,
                                where(valuePosition) +
                                    ": file index must be a positive integer, found a fraction");
                if (kind == JsonCursor::Number::Negative ||
                    kind == JsonCursor::Number::NegativeZero)
                    throw Error(ErrorKind::MappingInvalid, source, fqn,
                                where(valuePosition) +
                                    ": file index must be positive, found a negative number");
                if (value == 0)
                    throw Error(ErrorKind::MappingInvalid, source, fqn,
                                where(valuePosition) +
                                    ": file index 0 is not allowed (indices start at 1)");
                if (value > uint64_t(kMaxFileIndex))
                    throw Error(ErrorKind::MappingInvalid, source, fqn,
                                where(valuePosition) + ": file index " + std::to_string(value) +
                                    " is above the limit of " + std::to_string(kMaxFileIndex));
                slot->second = int(value);
            } while (cur.consume(','));
            cur.expect('}', "',' or '}'");
        }
        if (!cur.atEnd()) cur.fail("unexpected text after the mapping's closing '}'");
    } catch (const JsonError& e) {
        throw Error(ErrorKind::MappingInvalid, source, "", where(e.position()) + ": " + e.what());
    }
    return m;
}

// Mapping files are a few MiB even for the largest models; the limit stops a wrong path (a log,
// a device) from being read into memory whole.
Mapping loadMapping(const fs::path& path) {
    return parseMapping(readSmallFile(path, kMaxMappingBytes, "the mapping"), path.string());
}

std::string mappingToJson(const Mapping& mapping) {
    nlohmann::json doc = nlohmann::json::object();
    for (const auto& [fqn, index] : mapping.fileIndex)
        doc[fqn] = index;
    return doc.dump(2) + "\n";
}

Mapping defaultMapping(const Checkpoint& checkpoint, bool includeTrainingState) {
    // Regrouping by size is what an export of either is usually for.
    if (checkpoint.format == CheckpointFormat::Dcp ||
        checkpoint.format == CheckpointFormat::HfFolder)
        return groupBySize(checkpoint, kDefaultMaxShardBytes, includeTrainingState);
    if (!checkpoint.hfMetadataDir.empty()) {
        fs::path p = checkpoint.hfMetadataDir / kMappingFileName;
        std::error_code ec;
        // symlink_status: a dangling link or a FIFO is reported by loadMapping, not ignored.
        if (fs::exists(fs::symlink_status(p, ec))) return loadMapping(p);
    }
    return {};
}

ExportSelection plainExportSelection(const Checkpoint& checkpoint, bool includeTrainingState) {
    ExportSelection selection;
    selection.tensors.reserve(checkpoint.tensors.size());
    for (const auto& t : checkpoint.tensors) {
        TensorExport x;
        x.name = t.exportName();
        x.dtype = t.dtype;
        if (t.kind != TensorKind::Model && !includeTrainingState) {
            x.excluded = x.byDefault = true;
            x.reason = "training state (" + std::string(tensorKindName(t.kind)) + ")";
        }
        selection.tensors.push_back(std::move(x));
    }
    return selection;
}

// Cast targets are whole-byte dtypes, so the element count is exact.
uint64_t exportedBytes(const TensorInfo& t, const TensorExport& x) {
    if (x.dtype == t.dtype) return t.bytes;
    return t.bytes / (dtypeBits(t.dtype) / 8) * (dtypeBits(x.dtype) / 8);
}

Mapping defaultMapping(const Checkpoint& checkpoint, const ExportSelection& selection) {
    if (checkpoint.format == CheckpointFormat::Dcp ||
        checkpoint.format == CheckpointFormat::HfFolder)
        return groupBySize(checkpoint, kDefaultMaxShardBytes, selection);
    return defaultMapping(checkpoint, false);
}

Mapping groupBySize(const Checkpoint& checkpoint, uint64_t maxBytes, bool includeTrainingState) {
    return groupBySize(checkpoint, maxBytes,
                       plainExportSelection(checkpoint, includeTrainingState));
}

Mapping groupBySize(const Checkpoint& checkpoint, uint64_t maxBytes,
                    const ExportSelection& selection) {
    std::vector<size_t> order;
    for (size_t i = 0; i < checkpoint.tensors.size(); ++i)
        if (!selection.tensors[i].excluded) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return naturalLess(selection.tensors[a].name, selection.tensors[b].name);
    });
    Mapping m;
    int index = 1;
    uint64_t used = 0;
    for (size_t i : order) {
        const uint64_t bytes = exportedBytes(checkpoint.tensors[i], selection.tensors[i]);
        if (used > 0 && (bytes > maxBytes || used + bytes > maxBytes)) ++index, used = 0;
        m.fileIndex[checkpoint.tensors[i].fqn] = index;
        used += bytes;
    }
    return m;
}

std::string outputFileName(int index, int count) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", index, count);
    return name;
}

bool Plan::ok() const {
    return std::none_of(problems.begin(), problems.end(),
                        [](const Problem& p) { return p.severity == Severity::Error; });
}

uint64_t Plan::totalFileBytes() const {
    uint64_t sum = 0;
    for (const auto& f : files)
        sum += f.fileSize();
    return sum;
}

// Written as nlohmann's dump(2) writes it (same bytes, tests compare), but only the small
// metadata object goes through a document: building one for every weight_map entry, with its
// sorted inserts and its escaping pass, made this the slowest serial step after the scan of a
// 20,000-tensor export (W3), and the engine asks for the index three times.
std::string Plan::indexJson() const {
    nlohmann::json head;
    head["metadata"]["total_size"] = totalTensorBytes;
    if (!exportRecord.empty())
        head["metadata"][kExportRecordKey] = nlohmann::json::parse(exportRecord);
    std::string out = head.dump(2); // "{\n  \"metadata\": {...}\n}"
    out.resize(out.size() - 2);
    out += ",\n  \"weight_map\": {";
    out.reserve(out.size() + weightMap.size() * 64);
    const char* separator = "\n    ";
    for (const auto& [fqn, file] : weightMap) {
        // A document would refuse such a name too; the rules can cut one mid-character.
        if (!isValidUtf8(fqn))
            throw Error(ErrorKind::InvalidUtf8, "", fqn, "the exported name is not valid UTF-8");
        out += separator;
        appendJsonQuoted(out, fqn);
        out += ": ";
        appendJsonQuoted(out, file);
        separator = ",\n    ";
    }
    out += weightMap.empty() ? "}" : "\n  }";
    out += "\n}\n";
    return out;
}

namespace {

std::string nameList(const std::vector<std::string>& names, size_t limit) {
    std::string out;
    for (size_t i = 0; i < names.size() && i < limit; ++i)
        out += (i ? ", " : "") + names[i];
    if (names.size() > limit) out += ", … (" + std::to_string(names.size() - limit) + " more)";
    return out;
}

// Two tensors exported under one name (a "model." prefix removed from one of them) would make
// the index ambiguous.
template <typename ByFile>
void reportNameClashes(const Checkpoint& checkpoint, const ByFile& byFile, Plan& plan) {
    std::map<std::string_view, size_t> seen;
    for (const auto& [index, tensors] : byFile)
        for (const auto& h : tensors) {
            auto [it, inserted] = seen.emplace(h.name, h.tag);
            if (inserted) continue;
            plan.problems.push_back({Severity::Error, "", h.name,
                                     "both " + checkpoint.tensors[it->second].fqn + " and " +
                                         checkpoint.tensors[h.tag].fqn +
                                         " would be exported under this name",
                                     ErrorKind::NameCollision});
        }
}

// Finds names in a map while they come in the map's (byte) order, as a checkpoint's tensors
// do: one walk instead of a tree search per name, whose string compares were a fifth of
// planning 20,000 tensors. A name out of order starts a search from the root. Names passed in
// must outlive the lookup (the checkpoint's own).
template <class Value> class OrderedLookup {
public:
    explicit OrderedLookup(const std::map<std::string, Value>& map)
        : m_map(map), m_at(map.begin()) {}

    const Value* find(const std::string& name) {
        if (std::string_view(name) < m_last) m_at = m_map.lower_bound(name);
        m_last = name;
        while (m_at != m_map.end() && m_at->first < name)
            ++m_at;
        return m_at != m_map.end() && m_at->first == name ? &m_at->second : nullptr;
    }

private:
    const std::map<std::string, Value>& m_map;
    typename std::map<std::string, Value>::const_iterator m_at;
    std::string_view m_last;
};

// "__metadata__" is the header's own key in safetensors: a tensor exported under it (a DCP
// checkpoint may hold one, a rename may make one) would give the header a repeated key that no
// reader accepts.
template <typename ByFile>
void reportReservedNames(const Checkpoint& checkpoint, const ByFile& byFile, Plan& plan) {
    for (const auto& [index, tensors] : byFile)
        for (const auto& h : tensors)
            if (h.name == kSafetensorsMetadataKey) {
                const std::string& fqn = checkpoint.tensors[h.tag].fqn;
                plan.problems.push_back(
                    {Severity::Error, "", fqn,
                     "cannot be exported as \"" + h.name +
                         "\": safetensors reserves that name for the header's metadata; " +
                         (fqn == h.name
                              ? "rename it (for example --rename '^__metadata__$=>metadata_tensor')"
                              : "a rename rule gives it this name, choose another"),
                     ErrorKind::NameCollision});
            }
}

} // namespace

namespace {

// A plan with no file cannot be exported: said here, so inspect (and the window) say so too
// instead of "ready to consolidate". Broken tensors and rules that select nothing have their own
// errors already.
void reportNothingToWrite(const Checkpoint& checkpoint, Plan& plan) {
    if (!plan.files.empty() || !plan.ok()) return;
    if (std::any_of(checkpoint.tensors.begin(), checkpoint.tensors.end(),
                    [](const TensorInfo& t) { return t.status == CoverageStatus::Invalid; }))
        return;
    std::string text;
    if (checkpoint.tensors.empty())
        text = "nothing to export: the checkpoint holds no tensors" +
               (checkpoint.byteItems.empty()
                    ? std::string()
                    : " (only " + std::to_string(checkpoint.byteItems.size()) +
                          " byte items, which are never exported)");
    else if (!plan.excluded.empty())
        text = kOnlyTrainingStateText;
    else
        return; // an empty mapping's unmapped tensors are reported as such
    plan.problems.push_back(
        {Severity::Error, checkpoint.opened().string(), "", text, ErrorKind::NothingToWrite});
}

} // namespace

Plan makePlan(const Checkpoint& checkpoint, const Mapping& mapping, UnmappedPolicy policy,
              bool includeTrainingState) {
    ExportRules rules;
    rules.includeTrainingState = includeTrainingState;
    return makePlan(checkpoint, mapping, policy, rules,
                    plainExportSelection(checkpoint, includeTrainingState));
}

Plan makePlan(const Checkpoint& checkpoint, const Mapping& mapping, UnmappedPolicy policy,
              const ExportRules& rules, const ExportSelection& selection) {
    Plan plan;
    const bool allInOne = mapping.fileIndex.empty();
    plan.fileCount = mapping.fileCount();
    plan.problems = selection.problems;
    if (!rules.isIdentity()) plan.exportRecord = exportRulesToJson(rules);
    plan.castTo = rules.cast.to;
    plan.strictCast = rules.cast.strict;
    plan.tiedEmbeddings = std::any_of(rules.droppedTied.begin(), rules.droppedTied.end(),
                                      [](const auto& d) { return isOutputEmbedding(d.first); });

    std::map<int, std::vector<HeaderTensor>> byFile;
    OrderedLookup<int> inMapping(mapping.fileIndex);
    for (size_t i = 0; i < checkpoint.tensors.size(); ++i) {
        const TensorInfo& t = checkpoint.tensors[i];
        const TensorExport& x = selection.tensors[i];
        if (t.status == CoverageStatus::Invalid) continue; // no layout can be trusted
        const int* mapped = allInOne ? nullptr : inMapping.find(t.fqn);
        const bool named = mapped != nullptr;
        if (x.excluded && !(x.byDefault && named)) {
            plan.excluded.push_back(t.fqn);
            continue;
        }
        int index = 1;
        if (!allInOne) {
            if (!mapped) {
                plan.unmapped.push_back(t.fqn);
                if (policy != UnmappedPolicy::LastFile) continue;
                index = plan.fileCount;
            } else {
                index = *mapped;
            }
        }
        byFile[index].push_back({x.name, x.dtype, t.shape, 0, exportedBytes(t, x), i});
    }
    const bool collisionsKnown =
        std::any_of(plan.problems.begin(), plan.problems.end(),
                    [](const Problem& p) { return p.kind == ErrorKind::NameCollision; });
    if (!collisionsKnown) reportNameClashes(checkpoint, byFile, plan);
    reportReservedNames(checkpoint, byFile, plan);

    if (!plan.unmapped.empty()) {
        if (policy == UnmappedPolicy::Error)
            plan.problems.push_back(
                {Severity::Error, mapping.source, "",
                 std::to_string(plan.unmapped.size()) +
                     " tensor(s) are in the shards but not in the mapping: " +
                     nameList(plan.unmapped, 10) +
                     ". Assign them, or choose to put unmapped tensors in the last file",
                 ErrorKind::Unmapped});
        else
            plan.problems.push_back(
                {Severity::Warning, mapping.source, "",
                 std::to_string(plan.unmapped.size()) +
                     " unmapped tensor(s) go to the last file: " + nameList(plan.unmapped, 10),
                 ErrorKind::Unmapped});
    }
    size_t absent = 0;
    size_t next = 0; // both in byte order: one walk
    for (const auto& [fqn, index] : mapping.fileIndex) {
        while (next < checkpoint.tensors.size() && checkpoint.tensors[next].fqn < fqn)
            ++next;
        if (next < checkpoint.tensors.size() && checkpoint.tensors[next].fqn == fqn) continue;
        if (++absent <= 50)
            plan.problems.push_back({Severity::Warning, mapping.source, fqn,
                                     "in the mapping but in no shard (a tied or aliased weight?); "
                                     "skipped",
                                     ErrorKind::Unmapped});
    }
    if (absent > 50)
        plan.problems.push_back(
            {Severity::Warning, mapping.source, "",
             std::to_string(absent - 50) + " more mapped tensors are in no shard; skipped",
             ErrorKind::Unmapped});

    for (auto& [index, tensors] : byFile) {
        sortForOutput(tensors);
        PlannedFile file;
        file.index = index;
        file.name = outputFileName(index, plan.fileCount);
        file.dataSize = layoutBackToBack(tensors);
        file.header = buildHeader(tensors);
        if (file.header.size() - 8 > kMaxHeaderSize)
            plan.problems.push_back(
                {Severity::Error, file.name, "",
                 "its header would be " + std::to_string(file.header.size() - 8) +
                     " bytes, over the safetensors limit of " + std::to_string(kMaxHeaderSize) +
                     "; spread the tensors over more files",
                 ErrorKind::HeaderTooLarge});
        for (const auto& t : tensors) {
            file.tensors.push_back({t.tag, t.dtype, t.begin, t.end});
            plan.weightMap[t.name] = file.name;
            plan.totalTensorBytes += t.end - t.begin;
        }
        plan.files.push_back(std::move(file));
    }
    reportNothingToWrite(checkpoint, plan);
    return plan;
}

} // namespace shardscope
