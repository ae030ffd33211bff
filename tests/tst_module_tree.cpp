// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// The module tree built by the core: splitting, collapsing of numbered blocks, ranges, sums,
// worst status and the tensor runs a selection filters the table with. Timing is in the
// benchmark (shardscope-bench --only TREE), not here.

#include "module_tree.h"

#include "tensor_values.h"

#include <QTest>

#include <algorithm>
#include <numeric>
#include <set>

using namespace shardscope;

namespace {

TensorInfo tensor(std::string fqn, Shape shape = {4, 4},
                  CoverageStatus status = CoverageStatus::Complete) {
    return testing::tensorValue(std::move(fqn), std::move(shape), status);
}

// Sorted by name in byte order, as a scan delivers them.
std::vector<TensorInfo> sorted(std::vector<TensorInfo> tensors) {
    std::sort(tensors.begin(), tensors.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.fqn < b.fqn; });
    return tensors;
}

std::vector<TensorInfo> llamaLike(int layers = 32) {
    std::vector<TensorInfo> out;
    out.push_back(tensor("model.embed_tokens.weight", {32000, 64}));
    out.push_back(tensor("model.norm.weight", {64}));
    out.push_back(tensor("lm_head.weight", {32000, 64}));
    for (int l = 0; l < layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        out.push_back(tensor(p + "attn.q.weight", {64, 64}));
        out.push_back(tensor(p + "attn.k.weight", {16, 64}));
        out.push_back(tensor(p + "mlp.up.weight", {128, 64}));
    }
    return sorted(std::move(out));
}

size_t idOf(const ModuleTree& tree, const ModuleNode& node) {
    return size_t(&node - tree.nodes.data());
}

std::string pathOf(const ModuleTree& tree, const ModuleNode& node) {
    return tree.path(idOf(tree, node));
}

std::vector<uint64_t> blocksOf(const ModuleTree& tree, const ModuleNode& node) {
    const auto blocks = tree.blocks(idOf(tree, node));
    return {blocks.begin(), blocks.end()};
}

const ModuleNode& child(const ModuleTree& tree, const ModuleNode& parent, std::string_view label) {
    for (uint32_t c : tree.children(idOf(tree, parent)))
        if (tree.nodes[c].label == label) return tree.nodes[c];
    qFatal("no child %s under %s", std::string(label).c_str(), pathOf(tree, parent).c_str());
}

QStringList labels(const ModuleTree& tree, const ModuleNode& parent) {
    QStringList out;
    for (uint32_t c : tree.children(idOf(tree, parent)))
        out << QString::fromStdString(tree.nodes[c].label);
    return out;
}

std::set<std::string> names(const ModuleTree& tree, const std::vector<TensorInfo>& tensors,
                            const ModuleNode& node) {
    std::set<std::string> out;
    for (uint32_t t : tree.tensorsOf(size_t(&node - tree.nodes.data())))
        out.insert(tensors[t].fqn);
    return out;
}

// What must hold for every tree: pre-order ids, rows, runs, sums and worst status.
void checkInvariants(const ModuleTree& tree, const std::vector<TensorInfo>& tensors) {
    QVERIFY(!tree.nodes.empty());
    QCOMPARE(tree.nodes[0].kind, ModuleNodeKind::Root);
    QCOMPARE(tree.nodes[0].tensorCount, uint32_t(tensors.size()));
    std::vector<uint32_t> order = tree.order;
    std::sort(order.begin(), order.end());
    std::vector<uint32_t> all(tensors.size());
    std::iota(all.begin(), all.end(), 0u);
    QVERIFY(order == all); // every tensor exactly once
    for (size_t id = 0; id < tree.nodes.size(); ++id) {
        const ModuleNode& n = tree.nodes[id];
        const std::string path = tree.path(id);
        uint64_t params = 0, bytes = 0;
        CoverageStatus worst = CoverageStatus::Complete;
        for (uint32_t t : tree.tensorsOf(id)) {
            params += checkedNumel(tensors[t].shape).value_or(0);
            bytes += tensors[t].bytes;
            worst = worseStatus(worst, tensors[t].status);
            if (n.kind == ModuleNodeKind::Module || n.kind == ModuleNodeKind::Block) {
                const std::string& fqn = tensors[t].fqn;
                QVERIFY2(fqn == path || fqn.starts_with(path + "."), fqn.c_str());
            }
        }
        QCOMPARE(n.parameters, params);
        QCOMPARE(n.bytes, bytes);
        QCOMPARE(n.worst, worst);
        uint32_t below = n.tensor >= 0 ? 1 : 0;
        if (n.tensor >= 0) QCOMPARE(tensors[size_t(n.tensor)].fqn, path);
        const auto children = tree.children(id);
        for (size_t r = 0; r < children.size(); ++r) {
            const ModuleNode& c = tree.nodes[children[r]];
            QVERIFY(children[r] > id);
            QCOMPARE(c.parent, int32_t(id));
            QCOMPARE(c.row, uint32_t(r));
            below += c.tensorCount;
        }
        QCOMPARE(n.tensorCount, below);
        if (n.kind == ModuleNodeKind::Group) {
            const auto blocks = tree.blocks(id);
            QCOMPARE(blocks.size(), children.size());
            QVERIFY(std::adjacent_find(blocks.begin(), blocks.end(), std::greater_equal<>()) ==
                    blocks.end()); // ascending, distinct
            QCOMPARE(n.tensor, int64_t(-1));
            for (size_t r = 0; r < children.size(); ++r) // a block's path ends in its number
                QVERIFY(tree.path(children[r]).ends_with(std::to_string(blocks[r])));
        } else {
            QVERIFY(tree.blocks(id).empty());
        }
        if (id > 0) QVERIFY(n.tensorCount > 0); // no empty nodes
    }
}

} // namespace

class TestModuleTree : public QObject {
    Q_OBJECT

private slots:
    void llamaLayersCollapse();
    void rangesWithHoles();
    void formatRanges();
    void numberedAndNamedSiblings();
    void numberedNamesAtTheTopLevel();
    void singleNumberedBlock();
    void tensorThatIsAlsoAPrefix();
    void leadingZerosAndOddNames();
    void nestedGroups();
    void worstStatus();
    void emptyCheckpoint();
    void hundredThousandTensors();
};

void TestModuleTree::llamaLayersCollapse() {
    const auto tensors = llamaLike();
    const ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    const ModuleNode& root = tree.nodes[0];
    QCOMPARE(labels(tree, root), QStringList({"lm_head", "model"}));
    const ModuleNode& model = child(tree, root, "model");
    QCOMPARE(labels(tree, model), QStringList({"embed_tokens", "layers.{0..31}", "norm"}));
    const ModuleNode& layers = child(tree, model, "layers.{0..31}");
    QCOMPARE(layers.kind, ModuleNodeKind::Group);
    QCOMPARE(pathOf(tree, layers), "model.layers.{0..31}");
    QCOMPARE(blocksOf(tree, layers).size(), size_t(32));
    QCOMPARE(layers.tensorCount, 96u);
    QCOMPARE(layers.parameters, 32u * (64 * 64 + 16 * 64 + 128 * 64));
    QCOMPARE(layers.bytes, layers.parameters * 4);
    // Blocks by number, not by text: 0, 1, 2, …, 10, not 0, 1, 10.
    QStringList expected;
    for (int l = 0; l < 32; ++l)
        expected << QString("layers.%1").arg(l);
    QCOMPARE(labels(tree, layers), expected);
    const ModuleNode& block3 = child(tree, layers, "layers.3");
    QCOMPARE(block3.kind, ModuleNodeKind::Block);
    QCOMPARE(pathOf(tree, block3), "model.layers.3");
    QCOMPARE(block3.tensorCount, 3u);
    QCOMPARE(labels(tree, block3), QStringList({"attn", "mlp"}));
    QCOMPARE(names(tree, tensors, block3),
             std::set<std::string>({"model.layers.3.attn.q.weight", "model.layers.3.attn.k.weight",
                                    "model.layers.3.mlp.up.weight"}));
    const ModuleNode& attn = child(tree, block3, "attn");
    QCOMPARE(pathOf(tree, attn), "model.layers.3.attn");
    QCOMPARE(labels(tree, attn), QStringList({"k", "q"}));
    const ModuleNode& weight = child(tree, child(tree, attn, "q"), "weight");
    QCOMPARE(weight.tensor, int64_t(tree.order[weight.first]));
    QCOMPARE(tensors[size_t(weight.tensor)].fqn, "model.layers.3.attn.q.weight");
    QCOMPARE(weight.childCount, 0u);
    QCOMPARE(root.tensorCount, uint32_t(tensors.size()));
    QCOMPARE(child(tree, root, "lm_head").parameters, 32000u * 64);
}

void TestModuleTree::rangesWithHoles() {
    std::vector<TensorInfo> in;
    for (int l : {0, 1, 2, 5})
        in.push_back(tensor("layers." + std::to_string(l) + ".w"));
    auto tensors = sorted(in);
    ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    QCOMPARE(labels(tree, tree.nodes[0]), QStringList({"layers.{0..2,5}"}));
    const ModuleNode& group = tree.nodes[tree.children(0)[0]];
    QCOMPARE(blocksOf(tree, group), std::vector<uint64_t>({0, 1, 2, 5}));
    QCOMPARE(labels(tree, group), QStringList({"layers.0", "layers.1", "layers.2", "layers.5"}));
    QCOMPARE(group.tensorCount, 4u);

    in.clear();
    for (int l : {0, 1, 2, 3, 5, 6, 7})
        in.push_back(tensor("h." + std::to_string(l) + ".w"));
    tensors = sorted(in);
    tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    QCOMPARE(labels(tree, tree.nodes[0]), QStringList({"h.{0..3,5..7}"}));
}

void TestModuleTree::formatRanges() {
    QCOMPARE(formatIndexRanges({}), "{}");
    QCOMPARE(formatIndexRanges({7}), "{7}");
    QCOMPARE(formatIndexRanges({0, 1}), "{0,1}");
    QCOMPARE(formatIndexRanges({0, 1, 2}), "{0..2}");
    QCOMPARE(formatIndexRanges({0, 1, 5, 7, 8, 9}), "{0,1,5,7..9}");
    QCOMPARE(formatIndexRanges({3, 4, 5, 10, 11, 12, 13}), "{3..5,10..13}");
    std::vector<uint64_t> even;
    for (uint64_t i = 0; i < 100; i += 2)
        even.push_back(i);
    QCOMPARE(formatIndexRanges(even), "{0,2,4,6,8,…,98}");
    QCOMPARE(formatIndexRanges(even, 3), "{0,2,…,98}");
    QCOMPARE(formatIndexRanges({1, 3, 5, 7, 9, 11}), "{1,3,5,7,9,11}"); // exactly maxRuns
}

void TestModuleTree::numberedAndNamedSiblings() {
    // Named siblings only: nothing collapses.
    auto tensors = sorted({tensor("enc.a.w"), tensor("enc.b.w"), tensor("enc.a.b")});
    ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    const ModuleNode& enc = child(tree, tree.nodes[0], "enc");
    QCOMPARE(enc.kind, ModuleNodeKind::Module);
    QCOMPARE(labels(tree, enc), QStringList({"a", "b"}));
    QCOMPARE(labels(tree, child(tree, enc, "a")), QStringList({"b", "w"}));

    // Numbered and named siblings: the numbered ones become a group beside the named ones.
    tensors = sorted({tensor("blocks.0.w"), tensor("blocks.1.w"), tensor("blocks.norm.w"),
                      tensor("blocks.10.w"), tensor("blocks.2.w"), tensor("blocks.Final.w")});
    tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    const ModuleNode& blocks = child(tree, tree.nodes[0], "blocks");
    QCOMPARE(blocks.kind, ModuleNodeKind::Module);
    QCOMPARE(labels(tree, blocks), QStringList({"{0..2,10}", "Final", "norm"}));
    const ModuleNode& group = child(tree, blocks, "{0..2,10}");
    QCOMPARE(group.kind, ModuleNodeKind::Group);
    QCOMPARE(pathOf(tree, group), "blocks.{0..2,10}");
    QCOMPARE(labels(tree, group), QStringList({"0", "1", "2", "10"}));
    QCOMPARE(pathOf(tree, child(tree, group, "10")), "blocks.10");
    QCOMPARE(group.tensorCount, 4u);
    QCOMPARE(names(tree, tensors, child(tree, blocks, "norm")),
             std::set<std::string>({"blocks.norm.w"}));
}

void TestModuleTree::numberedNamesAtTheTopLevel() {
    // An nn.Sequential saved at the top: "0.weight", "1.weight", …
    const auto tensors = sorted({tensor("0.weight"), tensor("0.bias", {4}), tensor("1.weight"),
                                 tensor("2.weight"), tensor("10.weight"), tensor("head.weight")});
    const ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    QCOMPARE(labels(tree, tree.nodes[0]), QStringList({"{0..2,10}", "head"}));
    const ModuleNode& group = child(tree, tree.nodes[0], "{0..2,10}");
    QCOMPARE(pathOf(tree, group), "{0..2,10}");
    QCOMPARE(labels(tree, group), QStringList({"0", "1", "2", "10"}));
    const ModuleNode& zero = child(tree, group, "0");
    QCOMPARE(pathOf(tree, zero), "0");
    QCOMPARE(labels(tree, zero), QStringList({"bias", "weight"}));
    QCOMPARE(zero.parameters, 4u + 16u);
    QCOMPARE(group.tensorCount, 5u);
}

void TestModuleTree::singleNumberedBlock() {
    const auto tensors = sorted({tensor("model.layers.0.w"), tensor("model.layers.0.b", {4})});
    const ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    const ModuleNode& model = child(tree, tree.nodes[0], "model");
    QCOMPARE(labels(tree, model), QStringList({"layers.{0}"}));
    const ModuleNode& group = child(tree, model, "layers.{0}");
    QCOMPARE(group.kind, ModuleNodeKind::Group);
    QCOMPARE(blocksOf(tree, group), std::vector<uint64_t>({0}));
    QCOMPARE(labels(tree, group), QStringList({"layers.0"}));
    QCOMPARE(group.tensorCount, 2u);
}

void TestModuleTree::tensorThatIsAlsoAPrefix() {
    // "a.b" is a tensor and the prefix of "a.b.c"; "a.b-x" sorts between them in byte order
    // but is not under "a.b".
    const auto tensors =
        sorted({tensor("a.b", {2}), tensor("a.b.c", {3}), tensor("a.b-x", {5}), tensor("a.b.d")});
    const ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    const ModuleNode& a = child(tree, tree.nodes[0], "a");
    QCOMPARE(labels(tree, a), QStringList({"b", "b-x"}));
    const ModuleNode& b = child(tree, a, "b");
    QVERIFY(b.tensor >= 0);
    QCOMPARE(tensors[size_t(b.tensor)].fqn, "a.b");
    QCOMPARE(b.tensorCount, 3u);
    QCOMPARE(b.parameters, 2u + 3u + 16u);
    QCOMPARE(labels(tree, b), QStringList({"c", "d"}));
    QCOMPARE(names(tree, tensors, b), std::set<std::string>({"a.b", "a.b.c", "a.b.d"}));
    QCOMPARE(tree.order[b.first], uint32_t(b.tensor)); // its own tensor first

    // A node that is a tensor keeps its name even when all its children are numbered.
    const auto numbered = sorted({tensor("layers"), tensor("layers.0.w"), tensor("layers.1.w")});
    const ModuleTree tree2 = buildModuleTree(numbered);
    checkInvariants(tree2, numbered);
    const ModuleNode& layers = child(tree2, tree2.nodes[0], "layers");
    QCOMPARE(layers.kind, ModuleNodeKind::Module);
    QCOMPARE(labels(tree2, layers), QStringList({"{0,1}"}));
    QCOMPARE(layers.tensorCount, 3u);
}

void TestModuleTree::leadingZerosAndOddNames() {
    const auto tensors =
        sorted({tensor("x.01.w"), tensor("x.1.w"), tensor("x.2.w"), tensor("a..b"), tensor(".lead"),
                tensor("trail."), tensor("n.99999999999999999999.w")});
    const ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    const ModuleNode& x = child(tree, tree.nodes[0], "x");
    QCOMPARE(labels(tree, x), QStringList({"{1,2}", "01"})); // "01" is a name, not block 1
    QCOMPARE(labels(tree, child(tree, tree.nodes[0], "n")), QStringList({"99999999999999999999"}));
    const ModuleNode& a = child(tree, tree.nodes[0], "a");
    QCOMPARE(labels(tree, a), QStringList({""}));
    QCOMPARE(pathOf(tree, child(tree, a, "")), "a.");
    QCOMPARE(labels(tree, child(tree, tree.nodes[0], "")), QStringList({"lead"}));
    QCOMPARE(child(tree, child(tree, tree.nodes[0], "trail"), "").tensor >= 0, true);
}

void TestModuleTree::nestedGroups() {
    std::vector<TensorInfo> in;
    for (int l = 0; l < 4; ++l)
        for (int e = 0; e < 8; ++e)
            if (!(l == 1 && e == 3))
                in.push_back(tensor("m.layers." + std::to_string(l) + ".experts." +
                                    std::to_string(e) + ".up"));
    const auto tensors = sorted(in);
    const ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    const ModuleNode& layers = child(tree, child(tree, tree.nodes[0], "m"), "layers.{0..3}");
    QCOMPARE(layers.tensorCount, 31u);
    QCOMPARE(labels(tree, child(tree, layers, "layers.0")), QStringList({"experts.{0..7}"}));
    const ModuleNode& experts1 =
        child(tree, child(tree, layers, "layers.1"), "experts.{0..2,4..7}");
    QCOMPARE(pathOf(tree, experts1), "m.layers.1.experts.{0..2,4..7}");
    QCOMPARE(pathOf(tree, child(tree, experts1, "experts.4")), "m.layers.1.experts.4");

    // A block whose children are all numbered keeps its number; they form a group below it.
    const auto blocks = sorted({tensor("x.0.0.w"), tensor("x.0.1.w"), tensor("x.1.w")});
    const ModuleTree tree2 = buildModuleTree(blocks);
    checkInvariants(tree2, blocks);
    const ModuleNode& x = child(tree2, tree2.nodes[0], "x.{0,1}");
    const ModuleNode& x0 = child(tree2, x, "x.0");
    QCOMPARE(x0.kind, ModuleNodeKind::Block);
    QCOMPARE(labels(tree2, x0), QStringList({"{0,1}"}));
    QCOMPARE(pathOf(tree2, child(tree2, x0, "{0,1}")), "x.0.{0,1}");
    QCOMPARE(pathOf(tree2, child(tree2, child(tree2, x0, "{0,1}"), "1")), "x.0.1");
    QCOMPARE(experts1.tensorCount, 7u);
}

void TestModuleTree::worstStatus() {
    const CoverageStatus order[] = {CoverageStatus::Complete, CoverageStatus::Gap,
                                    CoverageStatus::Overlap, CoverageStatus::Conflict,
                                    CoverageStatus::Invalid};
    for (size_t i = 0; i < 5; ++i)
        for (size_t j = 0; j < 5; ++j)
            QCOMPARE(worseStatus(order[i], order[j]), order[std::max(i, j)]);

    const auto tensors = sorted({
        tensor("m.layers.0.w", {4}, CoverageStatus::Gap),
        tensor("m.layers.1.w", {4}, CoverageStatus::Conflict),
        tensor("m.layers.2.w", {4}, CoverageStatus::Overlap),
        tensor("m.layers.3.w", {4}),
        tensor("m.norm.w", {4}, CoverageStatus::Invalid),
        tensor("m.head.w", {4}, CoverageStatus::Complete),
        tensor("z.w", {4}, CoverageStatus::Overlap),
        tensor("z.v", {4}, CoverageStatus::Gap),
    });
    const ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    const ModuleNode& m = child(tree, tree.nodes[0], "m");
    QCOMPARE(m.worst, CoverageStatus::Invalid);
    const ModuleNode& layers = child(tree, m, "layers.{0..3}");
    QCOMPARE(layers.worst, CoverageStatus::Conflict);
    QCOMPARE(child(tree, layers, "layers.0").worst, CoverageStatus::Gap);
    QCOMPARE(child(tree, layers, "layers.2").worst, CoverageStatus::Overlap);
    QCOMPARE(child(tree, layers, "layers.3").worst, CoverageStatus::Complete);
    QCOMPARE(child(tree, m, "head").worst, CoverageStatus::Complete);
    QCOMPARE(child(tree, tree.nodes[0], "z").worst, CoverageStatus::Overlap);
    QCOMPARE(tree.nodes[0].worst, CoverageStatus::Invalid);
}

void TestModuleTree::emptyCheckpoint() {
    const ModuleTree tree = buildModuleTree(Checkpoint{});
    QVERIFY(tree.empty());
    QCOMPARE(tree.nodes.size(), size_t(1));
    QCOMPARE(tree.nodes[0].tensorCount, 0u);
    QCOMPARE(tree.nodes[0].parameters, 0u);
    QVERIFY(tree.order.empty());
    QVERIFY(tree.tensorsOf(0).empty());
    checkInvariants(tree, {});
}

void TestModuleTree::hundredThousandTensors() {
    // 100,000 names as a large mixture-of-experts model has them, with a hole and some damage.
    std::vector<TensorInfo> in;
    in.reserve(100000);
    in.push_back(tensor("model.embed_tokens.weight", {1000, 8}));
    in.push_back(tensor("lm_head.weight", {1000, 8}));
    in.push_back(tensor("model.norm.weight", {8}));
    for (int l = 0; in.size() < 100000; ++l) {
        if (l == 7) continue;
        const std::string p = "model.layers." + std::to_string(l) + ".";
        for (const char* w :
             {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
              "self_attn.o_proj.weight", "input_layernorm.weight", "mlp.gate.weight"})
            in.push_back(tensor(p + w, {8, 8}));
        for (int e = 0; e < 64 && in.size() < 100000; ++e)
            for (const char* w : {"gate_proj", "up_proj", "down_proj"})
                in.push_back(
                    tensor(p + "mlp.experts." + std::to_string(e) + "." + w + ".weight", {8, 4},
                           e == 5 && l == 100 ? CoverageStatus::Gap : CoverageStatus::Complete));
    }
    in.resize(100000);
    const auto tensors = sorted(std::move(in));
    const ModuleTree tree = buildModuleTree(tensors);
    checkInvariants(tree, tensors);
    const ModuleNode& model = child(tree, tree.nodes[0], "model");
    QCOMPARE(labels(tree, model).size(), 3);
    const ModuleNode& layers = tree.nodes[tree.children(idOf(tree, model))[1]];
    QCOMPARE(layers.kind, ModuleNodeKind::Group);
    QVERIFY2(layers.label.starts_with("layers.{0..6,8..") && layers.label.ends_with("}"),
             layers.label.c_str());
    QCOMPARE(layers.tensorCount, 100000u - 3);
    QCOMPARE(layers.worst, CoverageStatus::Gap);
    QCOMPARE(child(tree, layers, "layers.100").worst, CoverageStatus::Gap);
    QCOMPARE(child(tree, layers, "layers.99").worst, CoverageStatus::Complete);
}

QTEST_GUILESS_MAIN(TestModuleTree)
#include "tst_module_tree.moc"
