// Stand-in for ankerl::unordered_dense 4.x (not packaged in Debian 12), covering what
// mediasoup's worker uses: map, set and hash, mapped onto the std containers.
//
// WHY this is safe: the worker only uses the std-compatible API (find, emplace,
// try_emplace, erase, contains, iteration). std::unordered_map is slower but its
// iterator invalidation rules are strictly weaker (erase only invalidates the erased
// element), and nothing in the worker relies on unordered_dense's insertion order
// (mediasoup's own Node test suite passes against it).
#ifndef GHOSTTALK_ANKERL_UNORDERED_DENSE_STD_H
#define GHOSTTALK_ANKERL_UNORDERED_DENSE_STD_H

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ankerl::unordered_dense
{
	// Same shape as the real one (second parameter for SFINAE specialisations).
	template<class T, class Enable = void>
	struct hash : std::hash<T>
	{
	};

	template<
	  class Key,
	  class T,
	  class Hash      = hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<std::pair<const Key, T>>>
	using map = std::unordered_map<Key, T, Hash, KeyEqual, Allocator>;

	template<class Key, class Hash = hash<Key>, class KeyEqual = std::equal_to<Key>, class Allocator = std::allocator<Key>>
	using set = std::unordered_set<Key, Hash, KeyEqual, Allocator>;
} // namespace ankerl::unordered_dense

#endif
