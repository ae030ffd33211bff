// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "name_regex.h"

#include "error.h"

#include <re2/re2.h>

namespace shardscope {

namespace {

std::unique_ptr<re2::RE2> compile(const std::string& pattern) {
    RE2::Options options;
    options.set_log_errors(false); // the reason goes into the message, not to stderr
    return std::make_unique<re2::RE2>(pattern, options);
}

} // namespace

std::unique_ptr<re2::RE2> compileRegex(const std::string& pattern, const std::string& what) {
    auto re = compile(pattern);
    if (!re->ok())
        throw Error(ErrorKind::RuleInvalid, "", "",
                    what + ": the regular expression does not compile (" + re->error() + ")");
    return re;
}

NameRegex::NameRegex(const std::string& pattern, const std::string& what)
    : m_re(compileRegex(pattern, what)) {}

bool NameRegex::search(std::string_view name) const {
    return RE2::PartialMatch(re2::StringPiece(name.data(), name.size()), *m_re);
}

std::string NameRegex::problem(const std::string& pattern) {
    const auto re = compile(pattern);
    return re->ok() ? std::string() : re->error();
}

} // namespace shardscope
