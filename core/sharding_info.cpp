// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "sharding_info.h"

#include "json_cursor.h"
#include "name_set.h"
#include "safetensors_reader.h"

#include <algorithm>
#include <unordered_map>

namespace shardscope {

namespace {

// Kinds from the cursor, restated for this document: it is not the safetensors header.
ErrorKind shardingKind(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::JsonSyntax:
        return ErrorKind::ShardingInfoSyntax;
    case ErrorKind::InvalidHeaderField:
    case ErrorKind::MissingField:
        return ErrorKind::InvalidShardingInfo;
    default:
        return kind;
    }
}

void parseEntries(JsonCursor& cur, std::vector<ShardingEntry>& out,
                  std::vector<size_t>& positions) {
    if (!cur.enter('{'))
        cur.fail(ErrorKind::InvalidShardingInfo, {},
                 std::string("sharding info is not a JSON object but ") + cur.describeNext());
    std::string scratch;
    if (!cur.leaveIf('}')) {
        do {
            positions.push_back(cur.position());
            ShardingEntry& e = out.emplace_back();
            e.fqn.assign(cur.string(scratch));
            cur.expect(':', "':'");
            if (!cur.enter('{'))
                cur.fail(ErrorKind::InvalidShardingInfo, e.fqn,
                         std::string("sharding info entry is ") + cur.describeNext() +
                             ", not an object");
            bool found = false;
            if (!cur.leaveIf('}')) {
                do {
                    const size_t keyAt = cur.position();
                    const bool offsets = cur.string(scratch) == "saved_offsets";
                    cur.expect(':', "':'");
                    if (!offsets) {
                        cur.skipValue();
                        continue;
                    }
                    if (found)
                        throw JsonError(ErrorKind::DuplicateKey, keyAt, e.fqn,
                                        "sharding info entry has saved_offsets twice");
                    found = true;
                    cur.unsignedArray(e.offsets, "saved_offsets", e.fqn);
                } while (cur.consume(','));
                cur.leave('}');
            }
            if (!found)
                cur.fail(ErrorKind::InvalidShardingInfo, e.fqn,
                         "sharding info has no saved_offsets");
        } while (cur.consume(','));
        cur.leave('}');
    }
    if (!cur.atEnd()) cur.fail("unexpected characters after the object");
}

} // namespace

std::vector<ShardingEntry> parseShardingInfo(std::string_view text) {
    std::vector<ShardingEntry> out;
    parseShardingInfo(text, out);
    return out;
}

namespace {

// Parses without the duplicate check; `positions` receives each fqn's byte position.
void parseUnchecked(std::string_view text, std::vector<ShardingEntry>& out,
                    std::vector<size_t>& positions) {
    out.clear();
    out.reserve(text.size() / 24); // the fewest bytes an entry takes; see parseSafetensorsHeader
    positions.clear();
    JsonCursor cur(text);
    try {
        parseEntries(cur, out, positions);
    } catch (const JsonError& e) {
        // A syntax error is blamed on the entry being read, as far as one had started.
        std::string tensor = e.tensor().empty() && !out.empty() ? out.back().fqn : e.tensor();
        const ErrorKind kind = shardingKind(e.kind());
        std::string message = e.what();
        if (kind == ErrorKind::ShardingInfoSyntax)
            message = "DCP_SHARDING_INFO is not valid JSON at byte " +
                      std::to_string(e.position()) + ": " + message;
        else if (kind == ErrorKind::NestingTooDeep)
            message = "DCP_SHARDING_INFO at byte " + std::to_string(e.position()) + ": " + message;
        throw JsonError(kind, e.position(), std::move(tensor), message);
    }
}

// Two offsets for one chunk: which is right is unknowable, so refuse rather than pick one.
void refuseDuplicates(const std::vector<ShardingEntry>& out, const std::vector<size_t>& positions) {
    const size_t k = NameSet::firstRepeat(
        out, [](const ShardingEntry& e) -> std::string_view { return e.fqn; });
    if (k < out.size())
        throw JsonError(ErrorKind::DuplicateShardingEntry, positions[k], out[k].fqn,
                        "DCP_SHARDING_INFO lists this tensor twice");
}

} // namespace

void parseShardingInfo(std::string_view text, std::vector<ShardingEntry>& out) {
    std::vector<size_t> positions;
    parseUnchecked(text, out, positions);
    refuseDuplicates(out, positions);
}

std::vector<ShardingEntry> shardingInfoOf(const SafetensorsHeader& header) {
    std::vector<ShardingEntry> out;
    shardingInfoOf(header, out);
    return out;
}

void shardingInfoOf(const SafetensorsHeader& header, std::vector<ShardingEntry>& out) {
    auto it = header.metadata.find("DCP_SHARDING_INFO");
    if (it == header.metadata.end())
        throw Error(ErrorKind::MissingShardingInfo, header.path, "",
                    "no DCP_SHARDING_INFO in __metadata__: this is not a DCP shard file, so "
                    "where its tensors belong is unknown");
    try {
        thread_local std::vector<size_t> positions; // kept: see readSafetensorsHeader
        parseUnchecked(it->second, out, positions);
        // Listed in header order, name for name, they are as free of repeats as the header's
        // names, which were checked; only another order needs a check of its own.
        const bool headerOrder =
            out.size() == header.tensors.size() &&
            std::equal(out.begin(), out.end(), header.tensors.begin(),
                       [](const ShardingEntry& e, const TensorEntry& t) { return e.fqn == t.name; });
        if (!headerOrder) refuseDuplicates(out, positions);
    } catch (const JsonError& e) {
        throw Error(e.kind(), header.path, e.tensor(), e.what());
    }
}

} // namespace shardscope
