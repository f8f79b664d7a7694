// Bounded caches shared by the stages: a memo of a pure function (direct-mapped, compared in full,
// cleared in one call when what it depends on changes), an LRU map (O(1) touch and eviction of the
// least recently used) and trim_oldest for maps that are trimmed in bulk when over their cap.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <list>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace exfilwatch::util {

// Remembers f(key) for recent keys in `slots` direct-mapped slots. A hit compares the whole key,
// so get() returns exactly what `compute` would. clear() forgets every result at once (a rules
// reload). Keys whose `weight` exceeds `max_weight` are computed every time and not stored.
template <typename Key, typename Value, typename Hash = std::hash<Key>>
class Memo {
public:
    explicit Memo(std::size_t slots = 4096) : slots_(slots ? slots : 1) {}

    template <typename Compute>
    const Value& get(const Key& key, Compute&& compute)
    {
        auto& s = slots_[Hash{}(key) % slots_.size()];
        if (!s.used || !(s.key == key)) {
            s.key = key;
            s.value = compute(key);
            s.used = true;
            ++misses_;
        } else {
            ++hits_;
        }
        return s.value;
    }
    // Compares without building a Key (a string_view looked up in a string-keyed memo).
    template <typename Probe, typename Compute>
    const Value& get_as(const Probe& probe, std::size_t hash, Compute&& compute)
    {
        auto& s = slots_[hash % slots_.size()];
        if (!s.used || !(s.key == probe)) {
            s.key = Key(probe);
            s.value = compute(probe);
            s.used = true;
            ++misses_;
        } else {
            ++hits_;
        }
        return s.value;
    }
    void clear()
    {
        for (auto& s : slots_) s.used = false;
    }
    std::size_t slots() const { return slots_.size(); }
    std::uint64_t hits() const { return hits_; }
    std::uint64_t misses() const { return misses_; }

private:
    struct Slot {
        bool used = false;
        Key key{};
        Value value{};
    };
    std::vector<Slot> slots_;
    std::uint64_t hits_ = 0, misses_ = 0;
};

// A map that keeps its entries in order of use. touch() inserts or moves an entry to the front
// (most recent); pop_oldest() evicts from the back. Iteration goes from the most recent.
template <typename Key, typename Value, typename Hash = std::hash<Key>>
class LruMap {
public:
    using Entry = std::pair<Key, Value>;
    using iterator = typename std::list<Entry>::iterator;
    using const_iterator = typename std::list<Entry>::const_iterator;

    // The entry for `key`, created with a default Value when absent, now the most recent.
    // `inserted` tells which.
    Value& touch(const Key& key, bool* inserted = nullptr)
    {
        auto it = index_.find(key);
        if (it != index_.end()) {
            order_.splice(order_.begin(), order_, it->second);
            if (inserted) *inserted = false;
            return it->second->second;
        }
        order_.emplace_front(key, Value{});
        index_.emplace(key, order_.begin());
        if (inserted) *inserted = true;
        return order_.front().second;
    }
    Value* find(const Key& key)
    {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &it->second->second;
    }
    const Value* find(const Key& key) const
    {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &it->second->second;
    }
    bool contains(const Key& key) const { return index_.count(key) != 0; }
    bool erase(const Key& key)
    {
        auto it = index_.find(key);
        if (it == index_.end()) return false;
        order_.erase(it->second);
        index_.erase(it);
        return true;
    }
    // The least recently used entry, or nullptr when empty.
    const Entry* oldest() const { return order_.empty() ? nullptr : &order_.back(); }
    std::optional<Entry> pop_oldest()
    {
        if (order_.empty()) return std::nullopt;
        Entry e = std::move(order_.back());
        index_.erase(e.first);
        order_.pop_back();
        return e;
    }
    std::size_t size() const { return index_.size(); }
    bool empty() const { return index_.empty(); }
    void clear()
    {
        order_.clear();
        index_.clear();
    }
    iterator begin() { return order_.begin(); }
    iterator end() { return order_.end(); }
    const_iterator begin() const { return order_.begin(); }
    const_iterator end() const { return order_.end(); }

private:
    std::list<Entry> order_;
    std::unordered_map<Key, iterator, Hash> index_;
};

// When `map` holds more than `cap` entries, evicts the oldest by `age(value)` until `keep` are
// left (default: three quarters of the cap), never the entry keyed `spare` when given. Calls
// `evicted(key, value)` for each entry before it goes (it must not change `map`). Returns how
// many were evicted. O(n) per trim (nth_element); a map trimmed this way is touched far more
// often than trimmed. The order is of iterators, not keys: an erase leaves the others valid, and
// a copy of every key (65,536 destinations: ~5.7 MiB and most of the trim's time) is not needed.
template <typename Map, typename Age, typename Evicted>
std::size_t trim_oldest(Map& map, std::size_t cap, Age age, Evicted evicted,
                        const typename Map::key_type* spare = nullptr, std::optional<std::size_t> keep = {})
{
    if (map.size() <= cap) return 0;
    std::size_t target = keep ? std::min(*keep, cap) : cap - cap / 4;
    std::vector<std::pair<decltype(age(map.begin()->second)), typename Map::iterator>> order;
    order.reserve(map.size());
    for (auto it = map.begin(); it != map.end(); ++it)
        if (!spare || !(it->first == *spare)) order.emplace_back(age(it->second), it);
    std::size_t remove = std::min(map.size() - target, order.size());
    if (remove == 0) return 0;
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(remove - 1), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < remove; ++i) {
        evicted(order[i].second->first, order[i].second->second);
        map.erase(order[i].second);
    }
    return remove;
}

template <typename Map, typename Age>
std::size_t trim_oldest(Map& map, std::size_t cap, Age age)
{
    return trim_oldest(map, cap, age, [](const auto&, const auto&) {});
}

}  // namespace exfilwatch::util
