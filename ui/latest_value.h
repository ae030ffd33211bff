#pragma once

#include <QMetaObject>
#include <QObject>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace shardscope {

// Carries the newest value a worker thread posts to a callback on the receiver's thread. Only the
// latest value is kept, so a busy GUI thread never builds a queue of stale progress. Once
// detach() has run (the owner's destructor or a superseded run), posts are dropped, so a worker
// that outlives its owner never touches it and nobody has to wait for the worker.
template <typename T> class LatestValue : public std::enable_shared_from_this<LatestValue<T>> {
public:
    LatestValue(QObject* receiver, std::function<void(const T&)> deliver)
        : m_receiver(receiver), m_deliver(std::move(deliver)) {}

    // Any thread.
    void post(T value) {
        std::lock_guard lock(m_mutex);
        if (!m_receiver) return;
        const bool scheduled = m_pending.has_value();
        m_pending = std::move(value);
        if (scheduled) return;
        // Queued to the receiver: Qt drops it if the receiver is deleted first.
        QMetaObject::invokeMethod(
            m_receiver, [self = this->shared_from_this()] { self->deliverPending(); },
            Qt::QueuedConnection);
    }

    // The receiver's thread.
    void detach() {
        std::lock_guard lock(m_mutex);
        m_receiver = nullptr;
        m_pending.reset();
    }

private:
    void deliverPending() {
        std::optional<T> value;
        {
            std::lock_guard lock(m_mutex);
            if (!m_receiver) return;
            value.swap(m_pending);
        }
        if (value) m_deliver(*value);
    }

    std::mutex m_mutex;
    QObject* m_receiver;
    std::function<void(const T&)> m_deliver;
    std::optional<T> m_pending;
};

} // namespace shardscope
