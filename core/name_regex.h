// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace shardscope {

// `pattern` compiled by RE2, or Error (RuleInvalid) with RE2's reason; `what` names it in the
// message ("--exclude 'optim('"). RE2 logs nothing to stderr.
std::unique_ptr<re2::RE2> compileRegex(const std::string& pattern, const std::string& what);

// A regular expression searched in tensor names (RE2 syntax, as the export's rules): linear
// time in the name whatever the pattern, where std::regex took exponential time on "(a*)*b"
// against 40 a's and never finished. Copies share the compiled expression; search() may run on
// several threads at once.
class NameRegex {
public:
    // Throws Error (RuleInvalid) with RE2's reason when `pattern` does not compile; `what`
    // names it in the message ("--tensor '('").
    NameRegex(const std::string& pattern, const std::string& what);

    bool search(std::string_view name) const;

    // Why `pattern` does not compile, or "" when it does.
    static std::string problem(const std::string& pattern);

private:
    std::shared_ptr<const re2::RE2> m_re;
};

} // namespace shardscope
