#include "plan.h"

#include "natural_order.h"
#include "safetensors_reader.h"
#include "safetensors_writer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace shardscope {

int Mapping::fileCount() const {
    int m = 1;
    for (const auto& [fqn, index] : fileIndex)
        m = std::max(m, index);
    return m;
}

Mapping parseMapping(const std::string& text, const std::string& source) {
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw Error(source, "", std::string("mapping is not valid JSON: ") + e.what());
    }
    if (!doc.is_object())
        throw Error(source, "", "mapping must be a JSON object {\"<fqn>\": <file index>}");
    Mapping m;
    m.source = source;
    for (const auto& [fqn, value] : doc.items()) {
        if (!value.is_number_integer())
            throw Error(source, fqn,
                        "file index must be a positive integer, found " + value.dump());
        if (value.is_number_unsigned()) {
            auto index = value.get<uint64_t>();
            if (index == 0)
                throw Error(source, fqn, "file index 0 is not allowed (indices start at 1)");
            if (index > uint64_t(kMaxFileIndex))
                throw Error(source, fqn,
                            "file index " + std::to_string(index) + " is above the limit of " +
                                std::to_string(kMaxFileIndex));
            m.fileIndex[fqn] = int(index);
        } else {
            throw Error(source, fqn, "file index must be positive, found " + value.dump());
        }
    }
    return m;
}

Mapping loadMapping(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string(), "", "cannot open the mapping file");
    std::stringstream buffer;
    buffer << in.rdbuf();
    return parseMapping(buffer.str(), path.string());
}

std::string mappingToJson(const Mapping& mapping) {
    nlohmann::json doc = nlohmann::json::object();
    for (const auto& [fqn, index] : mapping.fileIndex)
        doc[fqn] = index;
    return doc.dump(2) + "\n";
}

Mapping defaultMapping(const Checkpoint& checkpoint) {
    if (!checkpoint.hfMetadataDir.empty()) {
        fs::path p = checkpoint.hfMetadataDir / kMappingFileName;
        std::error_code ec;
        if (fs::exists(p, ec)) return loadMapping(p);
    }
    return {};
}

Mapping groupBySize(const Checkpoint& checkpoint, uint64_t maxBytes) {
    std::vector<const TensorInfo*> order;
    for (const auto& t : checkpoint.tensors)
        order.push_back(&t);
    std::stable_sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
        return naturalLess(a->fqn, b->fqn);
    });
    Mapping m;
    int index = 1;
    uint64_t used = 0;
    for (const TensorInfo* t : order) {
        if (used > 0 && (t->bytes > maxBytes || used + t->bytes > maxBytes)) ++index, used = 0;
        m.fileIndex[t->fqn] = index;
        used += t->bytes;
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

std::string Plan::indexJson() const {
    nlohmann::json doc;
    doc["metadata"]["total_size"] = totalTensorBytes;
    doc["weight_map"] = nlohmann::json::object();
    for (const auto& [fqn, file] : weightMap)
        doc["weight_map"][fqn] = file;
    return doc.dump(2) + "\n";
}

namespace {

std::string nameList(const std::vector<std::string>& names, size_t limit) {
    std::string out;
    for (size_t i = 0; i < names.size() && i < limit; ++i)
        out += (i ? ", " : "") + names[i];
    if (names.size() > limit) out += ", … (" + std::to_string(names.size() - limit) + " more)";
    return out;
}

} // namespace

Plan makePlan(const Checkpoint& checkpoint, const Mapping& mapping, UnmappedPolicy policy) {
    Plan plan;
    const bool allInOne = mapping.fileIndex.empty();
    plan.fileCount = mapping.fileCount();

    std::map<int, std::vector<HeaderTensor>> byFile;
    for (size_t i = 0; i < checkpoint.tensors.size(); ++i) {
        const TensorInfo& t = checkpoint.tensors[i];
        if (t.status == CoverageStatus::Invalid) continue; // no layout can be trusted
        int index = 1;
        if (!allInOne) {
            auto it = mapping.fileIndex.find(t.fqn);
            if (it == mapping.fileIndex.end()) {
                plan.unmapped.push_back(t.fqn);
                if (policy != UnmappedPolicy::LastFile) continue;
                index = plan.fileCount;
            } else {
                index = it->second;
            }
        }
        byFile[index].push_back({t.fqn, t.dtype, t.shape, 0, t.bytes, i});
    }

    if (!plan.unmapped.empty()) {
        if (policy == UnmappedPolicy::Error)
            plan.problems.push_back(
                {Severity::Error, mapping.source, "",
                 std::to_string(plan.unmapped.size()) +
                     " tensor(s) are in the shards but not in the mapping: " +
                     nameList(plan.unmapped, 10) +
                     ". Assign them, or choose to put unmapped tensors in the last file"});
        else
            plan.problems.push_back(
                {Severity::Warning, mapping.source, "",
                 std::to_string(plan.unmapped.size()) +
                     " unmapped tensor(s) go to the last file: " + nameList(plan.unmapped, 10)});
    }
    size_t absent = 0;
    for (const auto& [fqn, index] : mapping.fileIndex) {
        if (checkpoint.find(fqn)) continue;
        if (++absent <= 50)
            plan.problems.push_back({Severity::Warning, mapping.source, fqn,
                                     "in the mapping but in no shard (a tied or aliased weight?); "
                                     "skipped"});
    }
    if (absent > 50)
        plan.problems.push_back(
            {Severity::Warning, mapping.source, "",
             std::to_string(absent - 50) + " more mapped tensors are in no shard; skipped"});

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
                     "; spread the tensors over more files"});
        for (const auto& t : tensors) {
            file.tensors.push_back({t.tag, t.begin, t.end});
            plan.weightMap[t.name] = file.name;
            plan.totalTensorBytes += t.end - t.begin;
        }
        plan.files.push_back(std::move(file));
    }
    return plan;
}

} // namespace shardscope
