// Where a node's links are in an HNSW graph's link array (hnsw_graph.hpp), in one place for the
// kernel, the worker protocol's reply and the page layout (extension/hnsw/hnsw.hpp).
#pragma once
#include "shmem/codec/pg_free.hpp"

#include <cstddef>
#include <cstdint>

namespace ruvector::kernels::hnsw {

// Slots of layer `layer` in a node's link array: layer 0 first (2m slots), then layers 1..level
// (m each). An empty slot is -1. The page layout (extension/hnsw/hnsw.hpp) uses the same order.
constexpr std::size_t layer_slots(std::uint32_t m, std::uint32_t layer) noexcept { return layer == 0 ? 2u * m : m; }
constexpr std::size_t layer_offset(std::uint32_t m, std::uint32_t layer) noexcept
{
	return layer == 0 ? 0 : 2u * m + std::size_t(layer - 1) * m;
}
constexpr std::size_t link_slots(std::uint32_t m, std::uint32_t level) noexcept { return layer_offset(m, level + 1); }

}  // namespace ruvector::kernels::hnsw
