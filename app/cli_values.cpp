// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "cli_values.h"

#include "checkpoint.h"
#include "checkpoint_diff.h"
#include "format_units.h"
#include "model_config.h"
#include "name_regex.h"
#include "posix_file.h"
#include "safetensors_writer.h"
#include "tensor_stats.h"
#include "tied_weights.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace shardscope {
namespace {

constexpr int kOk = 0, kFailed = 1;

struct FailKind {
    const char* name;
    ErrorKind kind;
};
constexpr FailKind kFailKinds[] = {
    {"nan", ErrorKind::ValueNaN},         {"inf", ErrorKind::ValueInf},
    {"zeros", ErrorKind::AllZeros},       {"constant", ErrorKind::ConstantTensor},
    {"zero-chunk", ErrorKind::ZeroChunk}, {"norm-spread", ErrorKind::NormSpread},
    {"tied", ErrorKind::TiedWeights},     {"tie-config", ErrorKind::TieConfigMismatch},
};

std::vector<std::string> splitList(const std::string& list) {
    std::vector<std::string> out;
    std::stringstream in(list);
    for (std::string word; std::getline(in, word, ',');)
        if (!word.empty()) out.push_back(word);
    return out;
}

std::set<ErrorKind> failKinds(const std::string& list) {
    std::set<ErrorKind> out;
    for (const auto& word : splitList(list))
        for (const auto& k : kFailKinds)
            if (word == "all" || word == k.name) out.insert(k.kind);
    return out;
}

// "1.5", "-3e-05", "nan", "inf": short for tables.
std::string shortNumber(double v) {
    if (std::isnan(v)) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.5g", v);
    return buf;
}

// JSON has no NaN or Inf: null stands for "none".
void appendJsonNumber(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out += buf;
}

std::string shapeText(const Shape& shape) {
    std::string out = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "]";
}

std::function<void(const StatsProgress&)> progressLine() {
    if (!isatty(STDERR_FILENO)) return {};
    const auto start = std::chrono::steady_clock::now();
    return [start](const StatsProgress& p) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double fraction = p.bytesTotal ? double(p.bytesDone) / double(p.bytesTotal) : 1;
        const double rate = elapsed > 0 ? double(p.bytesDone) / elapsed : 0;
        const std::string eta = rate > 0 && fraction > 0.01
                                    ? formatSeconds(double(p.bytesTotal - p.bytesDone) / rate)
                                    : "?";
        std::fprintf(stderr, "\r\033[K%s [%3d%%] %s / %s  %s/s  ETA %s",
                     p.binning ? "Binning histograms" : "Reading values", int(fraction * 100),
                     formatBytes(p.bytesDone).c_str(), formatBytes(p.bytesTotal).c_str(),
                     formatBytes(uint64_t(rate)).c_str(), eta.c_str());
        std::fflush(stderr);
    };
}

void endProgressLine() {
    if (isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);
}

// Scans, then reads the values of the tensors whose names match `pattern`.
struct Measured {
    Checkpoint ckpt;
    CheckpointStats stats;
    std::vector<size_t> unread; // selected, but of a dtype without statistics (C64, F4, F6)
};

Measured measure(const std::string& dir, const std::string& pattern, int threads,
                 std::stop_token stop, bool onlyIfClean = false) {
    ScanOptions scan;
    scan.stop = stop;
    scan.threads = threads;
    Measured m{scanCheckpoint(dir, scan), {}, {}};
    if (onlyIfClean && m.ckpt.hasErrors()) return m;
    StatsOptions options;
    options.threads = threads;
    options.stop = stop;
    options.progress = progressLine();
    if (!pattern.empty()) {
        const NameRegex re(pattern, "--tensor '" + pattern + "'");
        options.select = [re](const TensorInfo& t) { return re.search(t.fqn); };
    }
    for (size_t i = 0; i < m.ckpt.tensors.size(); ++i) {
        const TensorInfo& t = m.ckpt.tensors[i];
        if (!hasValueStats(t.dtype) && (!options.select || options.select(t)))
            m.unread.push_back(i);
    }
    m.stats = computeStats(m.ckpt, options);
    endProgressLine();
    return m;
}

// `integers`: the linear histogram of an I64/U64 tensor, whose lo and hi print exactly.
void appendHistogram(std::string& out, const Histogram& h, const Moments* integers = nullptr) {
    const auto lo = integers ? exactIntegerText(*integers, Extreme::Min) : std::nullopt;
    const auto hi = integers ? exactIntegerText(*integers, Extreme::Max) : std::nullopt;
    out += R"({"lo":)";
    if (lo)
        out += *lo;
    else
        appendJsonNumber(out, h.lo);
    out += R"(,"hi":)";
    if (hi)
        out += *hi;
    else
        appendJsonNumber(out, h.hi);
    out += R"(,"counts":[)";
    for (int b = 0; b < kHistogramBins; ++b) {
        if (b) out += ',';
        appendDecimal(out, h.counts[size_t(b)]);
    }
    out += "]}";
}

void appendTensorJson(std::string& out, const TensorInfo& t, const TensorStats& s) {
    const Moments& m = s.moments;
    out += R"({"name":)";
    appendJsonQuoted(out, t.fqn);
    out += R"(,"dtype":")" + std::string(dtypeName(t.dtype)) + R"(","shape":)" + shapeText(t.shape);
    auto count = [&](const char* key, uint64_t v) {
        out += std::string(",\"") + key + "\":";
        appendDecimal(out, v);
    };
    auto real = [&](const char* key, double v) {
        out += std::string(",\"") + key + "\":";
        appendJsonNumber(out, v);
    };
    // I64/U64 extremes as their exact integers: above 2^53 the doubles round.
    auto extreme = [&](const char* key, double v, Extreme which) {
        if (const auto exact = exactIntegerText(m, which))
            out += std::string(",\"") + key + "\":" + *exact;
        else
            real(key, v);
    };
    count("elements", m.count);
    extreme("min", m.min, Extreme::Min);
    extreme("max", m.max, Extreme::Max);
    real("mean", m.mean());
    real("std", m.stddev());
    if (const long double l2 = m.l2Extended(); !std::isfinite(m.l2()) && std::isfinite(l2)) {
        // Beyond double's range: the extended value, still a JSON number (which has no range).
        char buf[48];
        std::snprintf(buf, sizeof buf, ",\"l2\":%.17Lg", l2);
        out += buf;
    } else {
        real("l2", m.l2());
    }
    extreme("max_abs", m.finite() ? m.maxAbs : std::nan(""), Extreme::MaxAbs);
    count("nan", m.nan);
    count("pos_inf", m.posInf);
    count("neg_inf", m.negInf);
    count("zeros", m.zeros);
    count("subnormals", m.subnormals);
    out += R"(,"histogram":{"linear":)";
    appendHistogram(out, s.linear, &m);
    out += R"(,"log10_abs":)";
    appendHistogram(out, s.log);
    out += "}}";
}

// Said out loud, so a table without them never reads as the whole checkpoint.
void printUnreadText(const Measured& m) {
    if (m.unread.empty()) return;
    std::string names;
    for (size_t k = 0; k < m.unread.size() && k < 5; ++k) {
        const TensorInfo& t = m.ckpt.tensors[m.unread[k]];
        names += (k ? ", " : "") + Error::printable(t.fqn) + " (" +
                 std::string(dtypeName(t.dtype)) + ")";
    }
    if (m.unread.size() > 5) names += ", and " + std::to_string(m.unread.size() - 5) + " more";
    std::printf("%zu tensor%s not read: ShardScope has no value statistics for C64, F4 and F6 "
                "dtypes: %s\n",
                m.unread.size(), m.unread.size() == 1 ? "" : "s", names.c_str());
}

void appendUnreadJson(std::string& out, const Measured& m) {
    out += R"(,"not_read":[)";
    for (size_t k = 0; k < m.unread.size(); ++k) {
        const TensorInfo& t = m.ckpt.tensors[m.unread[k]];
        out += k ? R"(,{"name":)" : R"({"name":)";
        appendJsonQuoted(out, t.fqn);
        out += R"(,"dtype":")" + std::string(dtypeName(t.dtype)) +
               R"(","reason":"no value statistics for this dtype"})";
    }
    out += "]";
}

void appendProblemJson(std::string& out, const Problem& p) {
    out += R"({"severity":")";
    out += p.severity == Severity::Error ? "error" : "warning";
    out += R"(","kind":")" + std::string(errorKindName(p.kind)) + R"(","file":)";
    appendJsonQuoted(out, p.file);
    out += R"(,"tensor":)";
    appendJsonQuoted(out, p.tensor);
    out += R"(,"message":)";
    appendJsonQuoted(out, p.message);
    out += "}";
}

// The scan's warnings (an index.json that disagrees with its files, a file it does not name,
// files skipped): the values shown are still right, but the input is not what it says it is.
std::vector<Problem> scanWarnings(const Checkpoint& ckpt) {
    std::vector<Problem> out;
    for (const auto& p : ckpt.problems)
        if (p.severity == Severity::Warning) out.push_back(p);
    return out;
}

// On stderr, so that --json output stays one document; `side` names diff's input ("A: ").
void printScanWarnings(const Checkpoint& ckpt, const std::string& side = {}) {
    for (const auto& p : scanWarnings(ckpt))
        std::fprintf(stderr, "warning: %s%s\n", side.c_str(), p.text().c_str());
}

void appendProblemsJson(std::string& out, const std::vector<Problem>& problems) {
    out += "[";
    for (size_t i = 0; i < problems.size(); ++i) {
        if (i) out += ",\n";
        appendProblemJson(out, problems[i]);
    }
    out += "]";
}

void printStatsJson(const Measured& m) {
    std::string out = R"({"directory":)";
    appendJsonQuoted(out, m.ckpt.directory.string());
    out += R"(,"bytes_read":)";
    appendDecimal(out, m.stats.bytesRead);
    out += R"(,"seconds":)";
    appendJsonNumber(out, m.stats.seconds);
    appendUnreadJson(out, m);
    out += R"(,"warnings":)";
    appendProblemsJson(out, scanWarnings(m.ckpt));
    out += R"(,"tensors":[)";
    bool first = true;
    for (size_t i = 0; i < m.ckpt.tensors.size(); ++i) {
        if (!m.stats.tensors[i].computed) continue;
        if (!first) out += ",\n";
        first = false;
        appendTensorJson(out, m.ckpt.tensors[i], m.stats.tensors[i]);
        if (out.size() > (1 << 20)) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    }
    out += "]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
}

// `integers`: as for appendHistogram; the bins are then labelled by their first integer.
void printHistogramText(const char* title, const Histogram& h, const Moments* integers = nullptr) {
    uint64_t peak = 0;
    for (uint64_t c : h.counts)
        peak = std::max(peak, c);
    if (peak == 0) return;
    const bool exact = integers && integerBinStart(*integers, 0);
    // One value: 64 rows of the same edge would say nothing more. (I64/U64 such as 2^62 and
    // 2^62 + 1 share a double: their integers tell.)
    const bool single =
        exact ? *integerBinStart(*integers, 0) == *exactIntegerText(*integers, Extreme::Max)
              : h.lo == h.hi;
    if (single) {
        std::printf("    %s: all %llu at %s\n", title, (unsigned long long)peak,
                    exact ? exactIntegerText(*integers, Extreme::Max)->c_str()
                          : shortNumber(h.lo).c_str());
        return;
    }
    // In extended range: hi - lo of -1.7e308 and 1.7e308 is past double's (labels read -nan).
    auto edge = [&](int b) {
        return double(h.lo + ((long double)h.hi - h.lo) * b / kHistogramBins);
    };
    // Enough digits that neighbouring edges read differently (1000.0001 and 1000.0002, not
    // 1000 twice), so a narrow range still labels its bins.
    int digits = 5;
    auto text = [&](double v) {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
        return std::string(buf);
    };
    for (int b = 0; b + 1 < kHistogramBins && digits < 17; ++b)
        while (digits < 17 && text(edge(b)) == text(edge(b + 1)))
            ++digits;
    auto label = [&](int b) { return exact ? *integerBinStart(*integers, b) : text(edge(b)); };
    const std::string lo = exact ? *exactIntegerText(*integers, Extreme::Min) : text(h.lo);
    const std::string hi = exact ? *exactIntegerText(*integers, Extreme::Max) : text(h.hi);
    const int width = exact ? int(std::max(lo.size(), hi.size())) : std::max(12, digits + 7);
    std::printf("    %s, %s to %s:\n", title, lo.c_str(), hi.c_str());
    for (int b = 0; b < kHistogramBins; ++b) {
        const uint64_t c = h.counts[size_t(b)];
        std::printf("    %*s %12llu %s\n", width, label(b).c_str(), (unsigned long long)c,
                    std::string(size_t(40.0 * double(c) / double(peak) + 0.5), '#').c_str());
    }
}

void printStatsText(const Measured& m, bool histograms) {
    std::printf("%-48s %-7s %12s %11s %11s %11s %11s %11s %11s %6s %6s %10s %10s\n", "TENSOR",
                "DTYPE", "ELEMENTS", "MIN", "MAX", "MEAN", "STD", "L2", "MAX|X|", "NAN", "INF",
                "ZEROS", "SUBNORMALS");
    size_t shown = 0;
    for (size_t i = 0; i < m.ckpt.tensors.size(); ++i) {
        const TensorStats& s = m.stats.tensors[i];
        if (!s.computed) continue;
        ++shown;
        const TensorInfo& t = m.ckpt.tensors[i];
        const Moments& mo = s.moments;
        char l2[32]; // in extended range, as in JSON: finite past double's 1.8e308
        std::snprintf(l2, sizeof l2, "%.5Lg", mo.l2Extended());
        std::printf("%-48s %-7s %12llu %11s %11s %11s %11s %11s %11s %6llu %6llu %10llu %10llu\n",
                    Error::printable(t.fqn).c_str(), std::string(dtypeName(t.dtype)).c_str(),
                    (unsigned long long)mo.count, shortNumber(mo.min).c_str(),
                    shortNumber(mo.max).c_str(), shortNumber(mo.mean()).c_str(),
                    shortNumber(mo.stddev()).c_str(), l2,
                    shortNumber(mo.finite() ? mo.maxAbs : std::nan("")).c_str(),
                    (unsigned long long)mo.nan, (unsigned long long)(mo.posInf + mo.negInf),
                    (unsigned long long)mo.zeros, (unsigned long long)mo.subnormals);
        if (histograms) {
            printHistogramText("linear", s.linear, &mo);
            printHistogramText("log10|x|", s.log);
        }
    }
    // The rate is of the values' own bytes; a second read, which bins the histograms of wide
    // tensors exactly, is said apart rather than counted as speed.
    uint64_t values = 0;
    for (size_t i = 0; i < m.ckpt.tensors.size(); ++i)
        if (m.stats.tensors[i].computed)
            for (const Chunk& c : m.ckpt.tensors[i].chunks)
                values += c.bytes(); // replicas are read too, for a NaN in one copy
    const double seconds = m.stats.seconds;
    const std::string again = m.stats.bytesRead > values
                                  ? " (" + formatBytes(m.stats.bytesRead) +
                                        " with a second read to bin histograms exactly)"
                                  : "";
    std::printf("%zu %s, %s of values read%s in %.2f s (%s/s)\n", shown,
                shown == 1 ? "tensor" : "tensors", formatBytes(values).c_str(), again.c_str(),
                seconds, formatBytes(seconds > 0 ? uint64_t(double(values) / seconds) : 0).c_str());
    printUnreadText(m);
}

void printProblemsText(const std::vector<Problem>& problems) {
    for (const auto& p : problems)
        std::printf("%s: %s\n", p.severity == Severity::Error ? "error" : "warning",
                    p.text().c_str());
}

size_t countComputed(const CheckpointStats& stats) {
    size_t n = 0;
    for (const auto& t : stats.tensors)
        n += t.computed;
    return n;
}

// Why no tensor's values were read, or empty when some were.
std::string nothingRead(const Measured& m, const std::string& pattern) {
    if (countComputed(m.stats) > 0) return {};
    if (m.ckpt.tensors.empty()) return "the checkpoint holds no tensors";
    if (!m.unread.empty()) return "every selected tensor is of a dtype without statistics";
    if (!pattern.empty()) return "no tensor matches --tensor " + Error::printable(pattern);
    return "no tensor's values could be read";
}

std::string diffDetail(const TensorDiff& d, const Checkpoint& a, const Checkpoint& b) {
    auto layout = [](const Checkpoint& c, int64_t i) {
        const TensorInfo& t = c.tensors[size_t(i)];
        return std::string(dtypeName(t.dtype)) + " " + shapeText(t.shape);
    };
    switch (d.status) {
    case DiffStatus::DtypeChanged:
    case DiffStatus::ShapeChanged:
        return layout(a, d.a) + " -> " + layout(b, d.b);
    case DiffStatus::NotCompared:
        return "not compared: " +
               notComparedReason(a.tensors[size_t(d.a)], b.tensors[size_t(d.b)], "in A", "in B") +
               " (see inspect)";
    case DiffStatus::NotExported:
        return std::string(tensorKindName(d.a >= 0 ? a.tensors[size_t(d.a)].kind
                                                   : b.tensors[size_t(d.b)].kind)) +
               " state in " + (d.a >= 0 ? "A" : "B") + "; " + (d.a >= 0 ? "B" : "A") +
               " holds model weights only, as an export";
    case DiffStatus::Differs:
    case DiffStatus::WithinTolerance: {
        char buf[400];
        if (d.bytesOnly) {
            std::snprintf(buf, sizeof buf,
                          "%llu of %llu elements differ (compared by their bits: %s has no "
                          "numbers to subtract, and no tolerance applies)",
                          (unsigned long long)d.differing, (unsigned long long)d.elements,
                          std::string(dtypeName(a.tensors[size_t(d.a)].dtype)).c_str());
            return buf;
        }
        std::snprintf(buf, sizeof buf,
                      "%llu of %llu elements differ, %llu beyond tolerance, %llu NaN and %llu Inf "
                      "positions differ; max |a-b| %s, rel L2 %s, cosine %s%s",
                      (unsigned long long)d.differing, (unsigned long long)d.elements,
                      (unsigned long long)d.beyondTolerance, (unsigned long long)d.nanMismatch,
                      (unsigned long long)d.infMismatch, shortNumber(d.maxAbsDiff).c_str(),
                      shortNumber(d.relativeL2).c_str(), shortNumber(d.cosine).c_str(),
                      // An Inf against 1 must not read as "max |a-b| 0" alone.
                      d.nanMismatch || d.infMismatch ? " (where both are finite)" : "");
        return buf;
    }
    default:
        return "";
    }
}

// `inputA` and `inputB` as given: a file's checkpoint directory is its folder.
void printDiffJson(const DiffReport& r, const Checkpoint& a, const Checkpoint& b,
                   const std::string& inputA, const std::string& inputB) {
    std::string out = R"({"a":)";
    appendJsonQuoted(out, inputA);
    out += R"(,"b":)";
    appendJsonQuoted(out, inputB);
    out += R"(,"same":)" + std::string(r.same() ? "true" : "false") + R"(,"bytes_read":)" +
           std::to_string(r.bytesRead) + R"(,"warnings":{"a":)";
    appendProblemsJson(out, scanWarnings(a));
    out += R"(,"b":)";
    appendProblemsJson(out, scanWarnings(b));
    out += R"(},"tensors":[)";
    for (size_t i = 0; i < r.tensors.size(); ++i) {
        const TensorDiff& d = r.tensors[i];
        out += i ? ",\n" : "";
        out += R"({"name":)";
        appendJsonQuoted(out, d.name);
        out += R"(,"status":")" + std::string(diffStatusName(d.status)) + "\"";
        if (d.a >= 0)
            out += R"(,"a":{"dtype":")" + std::string(dtypeName(a.tensors[size_t(d.a)].dtype)) +
                   R"(","shape":)" + shapeText(a.tensors[size_t(d.a)].shape) + "}";
        if (d.b >= 0)
            out += R"(,"b":{"dtype":")" + std::string(dtypeName(b.tensors[size_t(d.b)].dtype)) +
                   R"(","shape":)" + shapeText(b.tensors[size_t(d.b)].shape) + "}";
        if (d.compared) {
            out += R"(,"elements":)" + std::to_string(d.elements) + R"(,"differing":)" +
                   std::to_string(d.differing) + R"(,"beyond_tolerance":)" +
                   std::to_string(d.beyondTolerance) + R"(,"nan_mismatch":)" +
                   std::to_string(d.nanMismatch) + R"(,"inf_mismatch":)" +
                   std::to_string(d.infMismatch) + R"(,"max_abs_diff":)";
            appendJsonNumber(out, d.maxAbsDiff);
            out += R"(,"relative_l2":)";
            appendJsonNumber(out, d.relativeL2);
            out += R"(,"cosine":)";
            appendJsonNumber(out, d.cosine);
            if (d.bytesOnly) out += R"(,"bytes_only":true)";
        }
        out += "}";
    }
    out += "]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
}

void printDiffText(const DiffReport& r, const Checkpoint& a, const Checkpoint& b, bool all) {
    std::map<DiffStatus, size_t> counts;
    for (const TensorDiff& d : r.tensors) {
        ++counts[d.status];
        if (!all && (d.status == DiffStatus::Identical || d.status == DiffStatus::SameLayout ||
                     d.status == DiffStatus::NotExported))
            continue;
        std::printf("%-18s %s%s%s\n", std::string(diffStatusName(d.status)).c_str(),
                    Error::printable(d.name).c_str(), diffDetail(d, a, b).empty() ? "" : ": ",
                    diffDetail(d, a, b).c_str());
    }
    std::string summary;
    for (const auto& [status, n] : counts) // the status names, "5 differ" read as a sentence
        summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " +
                   (status == DiffStatus::Differs && n != 1 ? std::string("differ")
                                                            : std::string(diffStatusName(status)));
    std::printf("%zu %s: %s; %s read in %.2f s\n", r.tensors.size(),
                r.tensors.size() == 1 ? "tensor" : "tensors", summary.c_str(),
                formatBytes(r.bytesRead).c_str(), r.seconds);
}

} // namespace

std::string checkFailOnList(const std::string& list) {
    const auto words = splitList(list);
    if (words.empty()) return "needs at least one kind";
    // "nan,,zeros" or "nan,": a kind lost to a typo must not pass silently.
    if (list.front() == ',' || list.back() == ',' || list.find(",,") != std::string::npos)
        return "empty kind in '" + list + "'";
    for (const auto& word : words) {
        bool known = word == "all";
        for (const auto& k : kFailKinds)
            known = known || word == k.name;
        if (!known) { // the list is the table's, so it never falls behind it
            std::string names;
            for (const auto& k : kFailKinds)
                names += std::string(k.name) + ", ";
            return "unknown kind '" + word + "' (" + names + "all)";
        }
    }
    return {};
}

std::string checkTensorPattern(const std::string& pattern) {
    const std::string problem = NameRegex::problem(pattern);
    return problem.empty() ? problem
                           : "not a valid regular expression: '" + pattern + "' (" + problem + ")";
}

// A checkpoint with scan errors gets no statistics: its tensors' shapes and values cannot be
// trusted, and a table of them would look complete.
static bool refuseBroken(const Checkpoint& ckpt) {
    if (!ckpt.hasErrors()) return false;
    for (const auto& p : ckpt.problems)
        if (p.severity == Severity::Error) std::fprintf(stderr, "error: %s\n", p.text().c_str());
    std::fprintf(stderr, "shardscope-cli: %s has the errors above; no values were read\n",
                 ckpt.opened().string().c_str());
    return true;
}

int runStats(const StatsCommand& c, std::stop_token stop) {
    const Measured m = measure(c.dir, c.tensor, c.threads, stop, true);
    if (refuseBroken(m.ckpt)) return kFailed;
    printScanWarnings(m.ckpt);
    if (c.json)
        printStatsJson(m);
    else
        printStatsText(m, c.histograms);
    std::fflush(stdout);
    if (const std::string why = nothingRead(m, c.tensor); !why.empty())
        std::fprintf(stderr, "note: no values were read: %s\n", why.c_str());
    return kOk;
}

int runCheck(const CheckCommand& c, std::stop_token stop) {
    const Measured m = measure(c.dir, c.tensor, c.threads, stop);
    FindingOptions options;
    options.normSpread = c.normSpread;
    options.minConstantElements = c.minElements;
    std::vector<Problem> problems;
    for (const auto& p : m.ckpt.problems)
        if (p.severity == Severity::Error) problems.push_back(p);
    // A checkpoint that does not scan cleanly never passes, whatever --fail-on says.
    size_t failed = problems.size();
    const auto warnings = scanWarnings(m.ckpt); // reported, failing nothing by themselves
    problems.insert(problems.end(), warnings.begin(), warnings.end());
    std::string failOn = c.failOn; // lists given more than once arrive joined by newlines
    std::replace(failOn.begin(), failOn.end(), '\n', ',');
    const auto failing = failKinds(failOn);
    std::vector<Problem> findings = valueFindings(m.ckpt, m.stats, options);
    if (c.tensor.empty()) {
        const auto tied = checkTiedWeights(m.ckpt, stop);
        findings.insert(findings.end(), tied.begin(), tied.end());
    }
    for (const auto& p : findings) {
        failed += failing.count(p.kind);
        problems.push_back(p);
    }
    const size_t checked = countComputed(m.stats);
    // A gate that looked at nothing must not pass: an index with an empty weight_map, or a
    // --tensor that matches no name, passed with "0 tensors checked".
    const std::string nothing = nothingRead(m, c.tensor);
    const bool fails = failed > 0 || !nothing.empty();
    if (c.json) {
        std::string out = R"({"directory":)";
        appendJsonQuoted(out, m.ckpt.directory.string());
        out += R"(,"tensors_checked":)" + std::to_string(checked) + R"(,"bytes_read":)" +
               std::to_string(m.stats.bytesRead) + R"(,"failed":)" + (fails ? "true" : "false");
        appendUnreadJson(out, m);
        out += R"(,"findings":)";
        appendProblemsJson(out, problems);
        out += "}\n";
        std::fwrite(out.data(), 1, out.size(), stdout);
    } else {
        printProblemsText(problems);
        std::printf("%zu %s checked (%s read) in %.2f s: %zu finding%s, %zu failing "
                    "(--fail-on %s)\n",
                    checked, checked == 1 ? "tensor" : "tensors",
                    formatBytes(m.stats.bytesRead).c_str(), m.stats.seconds, problems.size(),
                    problems.size() == 1 ? "" : "s", failed, failOn.c_str());
        printUnreadText(m);
    }
    std::fflush(stdout);
    if (!nothing.empty())
        std::fprintf(stderr, "shardscope-cli: nothing was checked: %s\n", nothing.c_str());
    return fails ? kFailed : kOk;
}

} // namespace shardscope

namespace shardscope {

namespace {

// diff's exit codes, as cmp's and diff's: 1 is only ever "they differ", so an input that cannot
// be read, or a cancelled run, is trouble (2), never taken for an answer.
constexpr int kDiffTrouble = 2;

int compareInputs(const DiffCommand& c, std::stop_token stop);

} // namespace

int runDiff(const DiffCommand& c, std::stop_token stop) {
    try {
        return compareInputs(c, stop);
    } catch (const Cancelled&) {
        endProgressLine();
        std::fprintf(stderr, "shardscope-cli: diff cancelled; no answer\n");
    } catch (const std::exception& e) {
        endProgressLine();
        std::fprintf(stderr, "shardscope-cli: error: %s\ndiff has no answer\n", e.what());
    }
    return kDiffTrouble;
}

namespace {

int compareInputs(const DiffCommand& c, std::stop_token stop) {
    ScanOptions scan;
    scan.stop = stop;
    scan.threads = c.threads;
    const Checkpoint a = scanCheckpoint(c.a, scan);
    const Checkpoint b = scanCheckpoint(c.b, scan);
    if (refuseBroken(a) || refuseBroken(b)) return kDiffTrouble;
    printScanWarnings(a, "A: ");
    printScanWarnings(b, "B: ");
    DiffOptions options;
    options.atol = c.atol.value_or(0);
    options.rtol = c.rtol.value_or(0);
    options.tolerance = c.atol || c.rtol;
    options.namesOnly = c.namesOnly;
    options.threads = c.threads;
    options.stop = stop;
    if (const auto line = progressLine())
        options.progress = [line](uint64_t done, uint64_t total) { line({done, total}); };
    const DiffReport report = diffCheckpoints(a, b, options);
    endProgressLine();
    if (c.json)
        printDiffJson(report, a, b, c.a, c.b);
    else
        printDiffText(report, a, b, c.all);
    std::fflush(stdout);
    return report.same() ? kOk : kFailed;
}

} // namespace

} // namespace shardscope
