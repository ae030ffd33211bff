#pragma once

#include <stdexcept>
#include <string>

namespace shardscope {

// One error type for the whole core, so every message a user sees names the file and tensor.
class Error : public std::runtime_error {
public:
    Error(std::string file, std::string tensor, const std::string& message)
        : std::runtime_error(compose(file, tensor, message)), m_file(std::move(file)),
          m_tensor(std::move(tensor)), m_message(message) {}

    const std::string& file() const { return m_file; }
    const std::string& tensor() const { return m_tensor; }
    const std::string& message() const { return m_message; }

    static std::string compose(const std::string& file, const std::string& tensor,
                               const std::string& message) {
        std::string out;
        if (!file.empty()) out += file + ": ";
        if (!tensor.empty()) out += "tensor '" + tensor + "': ";
        return out + message;
    }

private:
    std::string m_file;
    std::string m_tensor;
    std::string m_message;
};

// Thrown when the user cancels; not a failure of the input.
class Cancelled : public std::runtime_error {
public:
    Cancelled() : std::runtime_error("cancelled") {}
};

enum class Severity { Warning, Error };

// A finding that does not stop the scan: shown in inspect output and the GUI's problems panel.
struct Problem {
    Severity severity = Severity::Error;
    std::string file;
    std::string tensor;
    std::string message;

    std::string text() const { return Error::compose(file, tensor, message); }
};

} // namespace shardscope
