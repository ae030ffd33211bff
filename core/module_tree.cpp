// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "module_tree.h"

#include "natural_order.h"
#include "shape.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace shardscope {
namespace {

constexpr uint32_t kNone = UINT32_MAX;

// The names split at dots, before numbered siblings are collapsed. Segments point into the
// tensors' names, which outlive the build; links instead of vectors keep it to one allocation.
struct RawNode {
    std::string_view segment;
    uint32_t parent = kNone;
    uint32_t firstChild = kNone, lastChild = kNone, nextSibling = kNone;
    uint32_t firstExact = kNone, lastExact = kNone; // tensors named exactly this path
};

// (parent, segment) -> child, open addressing over the raw nodes themselves.
class ChildIndex {
public:
    explicit ChildIndex(size_t expected) {
        size_t size = 64;
        while (size < expected * 2)
            size *= 2;
        m_slots.assign(size, kNone);
    }
    // The child of `parent` named `segment`, added to `raw` when it is new.
    uint32_t findOrAdd(std::vector<RawNode>& raw, uint32_t parent, std::string_view segment) {
        if ((m_used + 1) * 2 > m_slots.size()) grow(raw);
        const size_t mask = m_slots.size() - 1;
        for (size_t i = hash(parent, segment) & mask;; i = (i + 1) & mask) {
            const uint32_t n = m_slots[i];
            if (n == kNone) {
                const uint32_t id = uint32_t(raw.size());
                RawNode node;
                node.segment = segment;
                node.parent = parent;
                raw.push_back(node);
                RawNode& p = raw[parent];
                if (p.lastChild == kNone)
                    p.firstChild = id;
                else
                    raw[p.lastChild].nextSibling = id;
                p.lastChild = id;
                m_slots[i] = id;
                ++m_used;
                return id;
            }
            if (raw[n].parent == parent && raw[n].segment == segment) return n;
        }
    }

private:
    static size_t hash(uint32_t parent, std::string_view segment) {
        uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t(parent) * 0x9e3779b97f4a7c15ull);
        for (unsigned char c : segment)
            h = (h ^ c) * 0x100000001b3ull;
        return size_t(h ^ (h >> 29));
    }
    void grow(const std::vector<RawNode>& raw) {
        std::vector<uint32_t> old(m_slots.size() * 2, kNone);
        old.swap(m_slots);
        const size_t mask = m_slots.size() - 1;
        for (uint32_t n : old) {
            if (n == kNone) continue;
            size_t i = hash(raw[n].parent, raw[n].segment) & mask;
            while (m_slots[i] != kNone)
                i = (i + 1) & mask;
            m_slots[i] = n;
        }
    }

    std::vector<uint32_t> m_slots;
    size_t m_used = 0;
};

// All ASCII digits, no leading zero ("01" is a name, not block 1), small enough for 64 bits.
std::optional<uint64_t> blockNumber(std::string_view s) {
    if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    uint64_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + uint64_t(c - '0');
    }
    return value;
}

using Numbered = std::vector<std::pair<uint64_t, uint32_t>>; // block number, raw node

// One node to emit: a raw node (root, module, block) or a group of a raw node's numbered
// children. Emitted depth first, so node ids come out in pre-order.
struct Task {
    ModuleNodeKind kind = ModuleNodeKind::Module;
    uint32_t raw = 0; // for a group: the raw node whose numbered children it holds
    int32_t parent = -1;
    uint32_t row = 0; // position among the parent's children
    std::string label;
    Numbered blocks;          // group only
    uint32_t labelPrefix = 0; // group only: "layers." when the group took its node's place
};

Task groupTask(Numbered blocks, uint32_t raw, int32_t parent, uint32_t row,
               std::string labelPrefix) {
    std::vector<uint64_t> numbers;
    numbers.reserve(blocks.size());
    for (const auto& b : blocks)
        numbers.push_back(b.first);
    Task t;
    t.kind = ModuleNodeKind::Group;
    t.raw = raw;
    t.row = row;
    t.parent = parent;
    t.labelPrefix = uint32_t(labelPrefix.size());
    t.label = std::move(labelPrefix) + formatIndexRanges(numbers);
    t.blocks = std::move(blocks);
    return t;
}

} // namespace

int coverageSeverity(CoverageStatus status) {
    switch (status) {
    case CoverageStatus::Complete:
        return 0;
    case CoverageStatus::Gap:
        return 1;
    case CoverageStatus::Overlap:
        return 2;
    case CoverageStatus::Conflict:
        return 3;
    case CoverageStatus::Invalid:
        return 4;
    }
    return 4;
}

std::string formatIndexRanges(const std::vector<uint64_t>& numbers, size_t maxRuns) {
    std::vector<std::pair<uint64_t, uint64_t>> runs;
    for (uint64_t n : numbers) {
        if (!runs.empty() && runs.back().second + 1 == n)
            runs.back().second = n;
        else
            runs.emplace_back(n, n);
    }
    auto appendRun = [](std::string& out, std::pair<uint64_t, uint64_t> run) {
        out += std::to_string(run.first);
        if (run.second == run.first) return;
        out += run.second - run.first >= 2 ? ".." : ",";
        out += std::to_string(run.second);
    };
    std::string out = "{";
    const bool elide = maxRuns >= 2 && runs.size() > maxRuns;
    for (size_t i = 0; i < runs.size(); ++i) {
        if (elide && i == maxRuns - 1) {
            out += "…,";
            i = runs.size() - 1;
        }
        appendRun(out, runs[i]);
        if (i + 1 < runs.size()) out += ',';
    }
    out += '}';
    return out;
}

std::string ModuleTree::path(size_t id) const {
    // Walk up collecting the names' segments, then join them top down. A block contributes its
    // number and, when its group took the place of a node ("layers.{0..31}"), that node's name.
    std::vector<std::string> pieces;
    auto groupSegment = [&](const ModuleNode& group) {
        if (group.labelPrefix > 0) pieces.push_back(group.label.substr(0, group.labelPrefix - 1));
    };
    size_t cur = id;
    if (nodes[cur].kind == ModuleNodeKind::Group) {
        pieces.push_back(nodes[cur].label.substr(nodes[cur].labelPrefix));
        groupSegment(nodes[cur]);
        cur = size_t(nodes[cur].parent);
    }
    while (cur != 0 && cur < nodes.size()) {
        const ModuleNode& n = nodes[cur];
        if (n.kind == ModuleNodeKind::Block) {
            const ModuleNode& group = nodes[size_t(n.parent)];
            pieces.push_back(std::to_string(blockNumbers[group.blockBegin + n.row]));
            groupSegment(group);
            cur = size_t(group.parent);
        } else {
            pieces.push_back(n.label);
            cur = size_t(n.parent);
        }
    }
    std::string out;
    for (size_t i = pieces.size(); i-- > 0;) {
        out += pieces[i];
        if (i > 0) out += '.';
    }
    return out;
}

ModuleTree buildModuleTree(const std::vector<TensorInfo>& tensors) {
    // 1. The plain tree of dotted segments. Names come sorted, so a name usually shares its
    // leading segments with the one before: those are found without hashing.
    std::vector<RawNode> raw(1);
    raw.reserve(tensors.size() * 2 + 1);
    ChildIndex index(tensors.size() * 2);
    std::vector<uint32_t> nextExact(tensors.size(), kNone);
    std::vector<uint32_t> prevNodes, nodes;
    std::vector<std::string_view> prevSegments, segments;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const std::string_view name = tensors[i].fqn;
        uint32_t node = 0;
        bool shared = true;
        nodes.clear();
        segments.clear();
        for (size_t start = 0;;) {
            const size_t dot = name.find('.', start);
            const std::string_view segment = name.substr(
                start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
            const size_t depth = nodes.size();
            if (shared && depth < prevSegments.size() && prevSegments[depth] == segment) {
                node = prevNodes[depth];
            } else {
                shared = false;
                node = index.findOrAdd(raw, node, segment);
            }
            nodes.push_back(node);
            segments.push_back(segment);
            if (dot == std::string_view::npos) break;
            start = dot + 1;
        }
        RawNode& r = raw[node];
        if (r.lastExact == kNone)
            r.firstExact = uint32_t(i);
        else
            nextExact[r.lastExact] = uint32_t(i);
        r.lastExact = uint32_t(i);
        std::swap(nodes, prevNodes);
        std::swap(segments, prevSegments);
    }

    // 2. Emit in pre-order, collapsing numbered siblings; each node's own tensors go to `order`
    // as it is emitted, so a subtree's tensors form one run, and its children get one run of
    // slots in `childIds` as soon as their number is known.
    ModuleTree tree;
    tree.nodes.reserve(raw.size() + raw.size() / 8 + 1);
    tree.order.reserve(tensors.size());
    tree.childIds.reserve(raw.size() + raw.size() / 8);
    std::vector<Task> stack;
    {
        Task root;
        root.kind = ModuleNodeKind::Root;
        stack.push_back(std::move(root));
    }
    std::vector<uint32_t> named;
    Numbered numbered;
    while (!stack.empty()) {
        Task task = std::move(stack.back());
        stack.pop_back();
        named.clear();
        numbered.clear();
        if (task.kind != ModuleNodeKind::Group) {
            for (uint32_t c = raw[task.raw].firstChild; c != kNone; c = raw[c].nextSibling) {
                if (auto n = blockNumber(raw[c].segment))
                    numbered.emplace_back(*n, c);
                else
                    named.push_back(c);
            }
            std::sort(numbered.begin(), numbered.end());
            // A module with nothing but numbered children, and no tensor of its own, is replaced
            // by their group: "layers" -> "layers.{0..31}". (A block keeps its number.)
            if (task.kind == ModuleNodeKind::Module && named.empty() && !numbered.empty() &&
                raw[task.raw].firstExact == kNone) {
                task = groupTask(std::move(numbered), task.raw, task.parent, task.row,
                                 task.label + ".");
                numbered = {};
            }
        }

        const uint32_t id = uint32_t(tree.nodes.size());
        ModuleNode& node = tree.nodes.emplace_back();
        node.kind = task.kind;
        node.label = std::move(task.label);
        node.labelPrefix = task.labelPrefix;
        node.parent = task.parent;
        node.row = task.row;
        node.first = uint32_t(tree.order.size());
        if (task.parent >= 0)
            tree.childIds[tree.nodes[size_t(task.parent)].childBegin + task.row] = id;

        if (task.kind == ModuleNodeKind::Group) {
            node.childBegin = uint32_t(tree.childIds.size());
            node.childCount = uint32_t(task.blocks.size());
            tree.childIds.resize(tree.childIds.size() + task.blocks.size());
            node.blockBegin = uint32_t(tree.blockNumbers.size());
            for (const auto& b : task.blocks)
                tree.blockNumbers.push_back(b.first);
            const std::string_view prefix =
                std::string_view(node.label).substr(0, node.labelPrefix);
            for (size_t k = task.blocks.size(); k-- > 0;) {
                Task block;
                block.kind = ModuleNodeKind::Block;
                block.raw = task.blocks[k].second;
                block.parent = int32_t(id);
                block.row = uint32_t(k);
                block.label = prefix;
                block.label += std::to_string(task.blocks[k].first);
                stack.push_back(std::move(block));
            }
            continue;
        }

        const RawNode& r = raw[task.raw];
        if (r.firstExact != kNone) node.tensor = r.firstExact;
        for (uint32_t t = r.firstExact; t != kNone; t = nextExact[t]) {
            const TensorInfo& info = tensors[t];
            tree.order.push_back(t);
            ++node.tensorCount;
            node.parameters += checkedNumel(info.shape).value_or(0);
            node.bytes += info.bytes;
            node.worst = worseStatus(node.worst, info.status);
        }

        // Children in natural name order; the group of numbered ones where its first number
        // would sort.
        std::sort(named.begin(), named.end(), [&](uint32_t a, uint32_t b) {
            return naturalLess(raw[a].segment, raw[b].segment);
        });
        size_t groupAt = named.size();
        if (!numbered.empty()) {
            const std::string first = std::to_string(numbered.front().first);
            groupAt = size_t(std::lower_bound(named.begin(), named.end(), first,
                                              [&](uint32_t a, const std::string& b) {
                                                  return naturalLess(raw[a].segment, b);
                                              }) -
                             named.begin());
        }
        const size_t childCount = named.size() + (numbered.empty() ? 0 : 1);
        node.childBegin = uint32_t(tree.childIds.size());
        node.childCount = uint32_t(childCount);
        tree.childIds.resize(tree.childIds.size() + childCount);
        const bool grouped = !numbered.empty();
        for (size_t k = named.size() + 1; k-- > 0;) {
            if (k == groupAt && grouped) {
                stack.push_back(
                    groupTask(std::move(numbered), task.raw, int32_t(id), uint32_t(groupAt), {}));
                numbered = {};
            }
            if (k == 0) break;
            const size_t j = k - 1;
            const uint32_t child = named[j];
            Task t;
            t.raw = child;
            t.parent = int32_t(id);
            t.row = uint32_t(grouped && j >= groupAt ? j + 1 : j);
            t.label = std::string(raw[child].segment);
            stack.push_back(std::move(t));
        }
    }

    // 3. Totals: children have larger ids than their parent, so one backward pass sums them.
    for (size_t i = tree.nodes.size(); i-- > 1;) {
        const ModuleNode& child = tree.nodes[i];
        ModuleNode& parent = tree.nodes[size_t(child.parent)];
        parent.tensorCount += child.tensorCount;
        parent.parameters += child.parameters;
        parent.bytes += child.bytes;
        parent.worst = worseStatus(parent.worst, child.worst);
    }
    return tree;
}

} // namespace shardscope
