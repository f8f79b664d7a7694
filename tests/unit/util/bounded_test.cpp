// Tests util/bounded.hpp: the memo answers what the function answers and forgets on clear(), the
// LRU evicts the least recently used, trim_oldest keeps the newest, spares what it is told and
// copies no key.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <unordered_map>

#include "util/bounded.hpp"

using namespace exfilwatch::util;

TEST_CASE("memo: a hit returns the stored result, a collision recomputes, clear forgets")
{
    Memo<std::string, std::size_t> memo(2);
    int calls = 0;
    auto len = [&](const std::string& s) {
        ++calls;
        return s.size();
    };
    CHECK(memo.get("abc", len) == 3);
    CHECK(memo.get("abc", len) == 3);
    CHECK(calls == 1);
    CHECK(memo.hits() == 1);
    // Whatever slot they share, different keys never get each other's result.
    for (int i = 0; i < 20; ++i) CHECK(memo.get(std::string(i, 'x'), len) == static_cast<std::size_t>(i));
    memo.clear();
    calls = 0;
    memo.get("abc", len);
    CHECK(calls == 1);
}

TEST_CASE("memo: a probe compared in full without building the key")
{
    Memo<std::string, int> memo(8);
    int calls = 0;
    auto f = [&](std::string_view s) {
        ++calls;
        return static_cast<int>(s.size());
    };
    std::string_view probe = "hello";
    CHECK(memo.get_as(probe, 7, f) == 5);
    CHECK(memo.get_as(probe, 7, f) == 5);
    CHECK(calls == 1);
    std::string_view other = "hi";
    CHECK(memo.get_as(other, 7, f) == 2);  // same slot, other key
    CHECK(calls == 2);
}

TEST_CASE("lru: touch orders by use, pop_oldest evicts the least recent")
{
    LruMap<int, std::string> lru;
    bool inserted = false;
    lru.touch(1, &inserted) = "one";
    CHECK(inserted);
    lru.touch(2) = "two";
    lru.touch(3) = "three";
    lru.touch(1, &inserted);
    CHECK_FALSE(inserted);
    CHECK(lru.begin()->first == 1);
    REQUIRE(lru.oldest() != nullptr);
    CHECK(lru.oldest()->first == 2);
    auto e = lru.pop_oldest();
    REQUIRE(e);
    CHECK(e->first == 2);
    CHECK(e->second == "two");
    CHECK(lru.size() == 2);
    CHECK(lru.erase(3));
    CHECK_FALSE(lru.erase(3));
    REQUIRE(lru.find(1) != nullptr);
    CHECK(*lru.find(1) == "one");
    CHECK(lru.find(2) == nullptr);
    lru.clear();
    CHECK(lru.empty());
    CHECK_FALSE(lru.pop_oldest());
}

TEST_CASE("trim_oldest: under the cap nothing; over it the oldest go, the spared one stays")
{
    std::unordered_map<int, int> m;  // key -> age
    for (int i = 0; i < 8; ++i) m[i] = i;
    CHECK(trim_oldest(m, 8, [](int age) { return age; }) == 0);
    m[8] = 8;
    std::vector<int> gone;
    int spare = 0;
    auto n = trim_oldest(
        m, 8, [](int age) { return age; }, [&](int k, int) { gone.push_back(k); }, &spare);
    CHECK(n == 3);  // down to three quarters of the cap
    CHECK(m.size() == 6);
    CHECK(m.count(0) == 1);  // spared although the oldest
    std::sort(gone.begin(), gone.end());
    CHECK(gone == std::vector<int>{1, 2, 3});
    std::map<std::string, int> ordered{{"a", 5}, {"b", 1}, {"c", 3}};
    CHECK(trim_oldest(
              ordered, 2, [](int age) { return age; }, [](const auto&, const auto&) {}, nullptr, 1) == 2);
    CHECK(ordered.count("a") == 1);
}

namespace {
// A key that counts its copies: a trim's work space must not hold one per entry.
struct CountedKey {
    std::string name;
    static inline int copies = 0;
    explicit CountedKey(std::string n) : name(std::move(n)) {}
    CountedKey(const CountedKey& other) : name(other.name) { ++copies; }
    CountedKey(CountedKey&&) = default;
    CountedKey& operator=(const CountedKey& other)
    {
        name = other.name;
        ++copies;
        return *this;
    }
    CountedKey& operator=(CountedKey&&) = default;
    ~CountedKey() = default;
    bool operator==(const CountedKey& other) const { return name == other.name; }
};
struct CountedKeyHash {
    std::size_t operator()(const CountedKey& k) const { return std::hash<std::string>()(k.name); }
};
}  // namespace

TEST_CASE("trim_oldest copies no key: its work space is an iterator and an age per entry")
{
    std::unordered_map<CountedKey, int, CountedKeyHash> m;
    for (int i = 0; i < 1000; ++i) m.emplace(CountedKey("destination-" + std::to_string(i) + ".example.com"), i);
    const CountedKey spare("destination-0.example.com");
    CountedKey::copies = 0;
    std::vector<int> gone;
    auto n = trim_oldest(
        m, 999 - 1, [](int age) { return age; }, [&](const CountedKey&, int age) { gone.push_back(age); }, &spare, 500);
    CHECK(CountedKey::copies == 0);
    CHECK(n == 500);
    CHECK(m.size() == 500);
    CHECK(m.count(spare) == 1);
    std::sort(gone.begin(), gone.end());
    CHECK(gone.front() == 1);  // the oldest but the spared one
    CHECK(gone.back() == 500);
}
