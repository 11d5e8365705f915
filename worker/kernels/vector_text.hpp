// Text form of a vector, "[1,2.5,3]", exactly as pgvector reads and writes it. PG-free so the
// parser and formatter are covered by GoogleTest; extension/vector_io.cpp maps errors to ereport.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include <cstddef>
#include <span>
#include <string_view>

namespace ruvector::kernels {

inline constexpr std::size_t kVectorMaxDim = 16000;

enum class VectorTextError {
	none,
	missing_bracket,  // 22P02, detail: Vector contents must start with "[".
	no_dimensions,    // 22000: vector must have at least 1 dimension
	syntax,           // 22P02: invalid input syntax
	out_of_range,     // 22003: "<token>" is out of range for type vector
	nan,              // 22000: NaN not allowed in vector
	infinite,         // 22000: infinite value not allowed in vector
	too_many_dims,    // 54000: vector cannot have more than 16000 dimensions
	junk_after,       // 22P02, detail: Junk after closing right brace.
};

struct VectorTextResult {
	VectorTextError error = VectorTextError::none;
	std::size_t dim = 0;     // elements parsed into `out`
	std::string_view token;  // the offending number, for out_of_range
};

// Parse `text` (NUL-terminated) into `out`, which must hold max_dim floats. Checks happen in
// pgvector's order, so the same input fails with the same error. `overflows`, when given, says
// which finite floats the element type cannot hold (halfvec: |x| >= 65520): those are
// out_of_range too, at the same point of the checks.
VectorTextResult parse_vector_text(const char *text, std::span<float> out, std::size_t max_dim = kVectorMaxDim,
                                   bool (*overflows)(float) = nullptr);

// Shortest text that reads back as the same float, in PostgreSQL's float4out style (NaN,
// Infinity and -Infinity for non-finite values, which only a damaged vector can hold):
// fixed notation for decimal exponents in [-4, 6), otherwise "1.5e+07". Returns the length
// written (at most kFloatTextMax, no terminator).
inline constexpr std::size_t kFloatTextMax = 16;
std::size_t format_float(float value, char *buf);

// "[a,b,...]" into buf, which needs at most vector_text_capacity(n) bytes; returns the length
// (no terminator).
constexpr std::size_t vector_text_capacity(std::size_t n) { return 2 + n * (kFloatTextMax + 1); }
std::size_t format_vector_text(std::span<const float> values, char *buf);

}  // namespace ruvector::kernels
