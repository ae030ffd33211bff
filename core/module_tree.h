// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace shardscope {

enum class ModuleNodeKind : uint8_t {
    Root,   // the whole checkpoint, always node 0; views show its children
    Module, // one dotted segment of the names: "model", "attn", "weight"
    Group,  // numbered sibling blocks collapsed into one: "layers.{0..31}"
    Block,  // one block of a group: "layers.3"
};

struct ModuleNode {
    ModuleNodeKind kind = ModuleNodeKind::Module;
    std::string label; // what a view shows: "attn", "layers.{0..31}", "layers.3", "{0..2,5}"
    // Group only: the length of the label's "layers." when the group took the place of the node
    // "layers" (its blocks are then labelled "layers.3"), 0 for a group "{0..31}" beside names.
    uint32_t labelPrefix = 0;
    int32_t parent = -1; // -1 for the root
    uint32_t row = 0;    // position among the parent's children
    // Children: ModuleTree::childIds[childBegin, childBegin + childCount), in natural name
    // order; a group's blocks by number, their numbers at ModuleTree::blockNumbers[blockBegin…].
    uint32_t childBegin = 0;
    uint32_t childCount = 0;
    uint32_t blockBegin = 0;
    int64_t tensor = -1; // the tensor named exactly path(), if any ("a.b" when "a.b.c" exists)
    // The node's tensors (its own and all below it) are ModuleTree::order[first, first + count).
    uint32_t first = 0;
    uint32_t tensorCount = 0;
    uint64_t parameters = 0; // elements
    uint64_t bytes = 0;
    CoverageStatus worst = CoverageStatus::Complete; // worst among its tensors
};

// The checkpoint's names as a tree of plain values: names split at dots, numbered siblings
// (`layers.0` … `layers.31`) collapsed into one group node that holds the blocks. Runs of ids
// in shared vectors rather than a vector per node keep 100,000 tensors fast to build.
struct ModuleTree {
    std::vector<ModuleNode> nodes;      // nodes[0] is the root; pre-order, so a parent precedes its
                                        // children and a subtree is one run of ids
    std::vector<uint32_t> order;        // indices into Checkpoint::tensors, each node's in one run
    std::vector<uint32_t> childIds;     // node ids, each node's children in one run
    std::vector<uint64_t> blockNumbers; // each group's block numbers, ascending, in one run

    bool empty() const { return nodes.size() <= 1; }
    std::span<const uint32_t> children(size_t node) const {
        const ModuleNode& n = nodes[node];
        return std::span<const uint32_t>(childIds).subspan(n.childBegin, n.childCount);
    }
    // Group only: the numbers of its blocks; empty for other kinds.
    std::span<const uint64_t> blocks(size_t node) const {
        const ModuleNode& n = nodes[node];
        if (n.kind != ModuleNodeKind::Group) return {};
        return std::span<const uint64_t>(blockNumbers).subspan(n.blockBegin, n.childCount);
    }
    // The Checkpoint::tensors indices a node covers (its own tensor and all below it).
    std::span<const uint32_t> tensorsOf(size_t node) const {
        const ModuleNode& n = nodes[node];
        return std::span<const uint32_t>(order).subspan(n.first, n.tensorCount);
    }
    // Dotted from the top: "model.layers.3.attn", "model.layers.{0..31}" for a group, "" for
    // the root. Every tensor under a Module or Block node is named path or path + "." + more.
    std::string path(size_t node) const;
};

// Builds the tree in O(n log n) for n tensors. A segment is a block number when it is all ASCII
// digits without a leading zero (so "01" stays a name); a node whose children are all numbered,
// and that is no tensor itself, becomes the group ("layers" -> "layers.{0..31}"); otherwise the
// numbered children form a group child "{0..31}" beside the named ones.
ModuleTree buildModuleTree(const std::vector<TensorInfo>& tensors);
inline ModuleTree buildModuleTree(const Checkpoint& checkpoint) {
    return buildModuleTree(checkpoint.tensors);
}

// "{0..31}", "{0..2,5}", "{0,1,7..9}": runs of three or more with "..". Past `maxRuns` runs only
// the first maxRuns - 1 and the last are shown: "{0,2,4,6,8,…,98}". `numbers` ascending, distinct.
std::string formatIndexRanges(const std::vector<uint64_t>& numbers, size_t maxRuns = 6);

// Invalid > Conflict > Overlap > Gap > Complete.
int coverageSeverity(CoverageStatus status);
inline CoverageStatus worseStatus(CoverageStatus a, CoverageStatus b) {
    return coverageSeverity(b) > coverageSeverity(a) ? b : a;
}

} // namespace shardscope
