#include "worker/kernels/vector_text.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace ruvector::kernels {

namespace {

bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

const char *skip_space(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

}  // namespace

VectorTextResult parse_vector_text(const char *text, std::span<float> out, std::size_t max_dim,
                                   bool (*overflows)(float))
{
	VectorTextResult r;
	const char *p = skip_space(text);

	if (*p != '[')
		return {VectorTextError::missing_bracket, 0, {}};
	p = skip_space(p + 1);
	if (*p == ']')
		return {VectorTextError::no_dimensions, 0, {}};

	for (;;) {
		if (r.dim == max_dim || r.dim == out.size())
			return {VectorTextError::too_many_dims, r.dim, {}};
		p = skip_space(p);
		if (*p == '\0')
			return {VectorTextError::syntax, r.dim, {}};

		// strtof, as float4in does: reading through double would round twice.
		char *end;
		errno = 0;
		float v = std::strtof(p, &end);
		if (end == p)
			return {VectorTextError::syntax, r.dim, {}};
		if ((errno == ERANGE && std::isinf(v)) || (overflows && overflows(v)))
			return {VectorTextError::out_of_range, r.dim, std::string_view(p, std::size_t(end - p))};
		if (std::isnan(v))
			return {VectorTextError::nan, r.dim, {}};
		if (std::isinf(v))
			return {VectorTextError::infinite, r.dim, {}};
		out[r.dim++] = v;

		p = skip_space(end);
		if (*p == ',')
			p++;
		else if (*p == ']') {
			p++;
			break;
		} else
			return {VectorTextError::syntax, r.dim, {}};
	}

	if (*skip_space(p) != '\0')
		return {VectorTextError::junk_after, r.dim, {}};
	return r;
}

namespace {

// True when the decimal `s` is exactly halfway between `v` and a neighbouring float. Such a
// string reads back as `v` only thanks to round-half-even; PostgreSQL's float4out (ryu without
// accepted bounds) never prints one, so neither do we.
bool on_rounding_boundary(float v, const char *s, std::size_t len)
{
	double d;
	std::from_chars(s, s + len, d);
	double up = std::nextafter(v, std::numeric_limits<float>::infinity());
	double down = std::nextafter(v, -std::numeric_limits<float>::infinity());
	return d == (double(v) + up) / 2 || d == (double(v) + down) / 2;
}

}  // namespace

std::size_t format_float(float value, char *buf)
{
	// No vector the type builds holds these, but a damaged value must still print (and dump) rather
	// than crash: the spellings of PostgreSQL's float4out, which vector_in rejects on reading back.
	if (!std::isfinite(value)) {
		const char *text = std::isnan(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
		std::size_t len = std::strlen(text);
		std::memcpy(buf, text, len);
		return len;
	}

	// Shortest digits that read back as `value`, in scientific form ("-1.2345e+07").
	char sci[32];
	auto res = std::to_chars(sci, sci + sizeof sci, value, std::chars_format::scientific);
	std::size_t len = std::size_t(res.ptr - sci);
	if (value != 0 && on_rounding_boundary(value, sci, len)) {
		for (int precision = 1; precision <= 9; precision++) {
			res = std::to_chars(sci, sci + sizeof sci, value, std::chars_format::scientific, precision);
			len = std::size_t(res.ptr - sci);
			float back;
			std::from_chars(sci, sci + len, back);
			if (back == value && !on_rounding_boundary(value, sci, len))
				break;
		}
	}

	// Split into sign, digits and decimal exponent.
	const char *e = static_cast<const char *>(std::memchr(sci, 'e', len));
	int exp10 = 0;
	std::from_chars(e + 1 + (e[1] == '+'), sci + len, exp10);
	const bool negative = sci[0] == '-';
	char digits[16];
	std::size_t ndigits = 0;
	for (const char *p = sci + negative; p < e; p++)
		if (*p != '.')
			digits[ndigits++] = *p;

	// Scientific outside [-4, 6), like PostgreSQL's float4out (printf's %g rule with FLT_DIG).
	if (exp10 < -4 || exp10 >= 6) {
		std::memcpy(buf, sci, len);
		return len;
	}
	char *out = buf;
	if (negative)
		*out++ = '-';
	if (exp10 < 0) {
		*out++ = '0';
		*out++ = '.';
		for (int i = -1; i > exp10; i--)
			*out++ = '0';
		std::memcpy(out, digits, ndigits);
		out += ndigits;
	} else {
		std::size_t int_digits = std::size_t(exp10) + 1;
		for (std::size_t i = 0; i < int_digits; i++)
			*out++ = i < ndigits ? digits[i] : '0';
		if (ndigits > int_digits) {
			*out++ = '.';
			std::memcpy(out, digits + int_digits, ndigits - int_digits);
			out += ndigits - int_digits;
		}
	}
	return std::size_t(out - buf);
}

std::size_t format_vector_text(std::span<const float> values, char *buf)
{
	char *p = buf;
	*p++ = '[';
	for (std::size_t i = 0; i < values.size(); i++) {
		if (i > 0)
			*p++ = ',';
		p += format_float(values[i], p);
	}
	*p++ = ']';
	return std::size_t(p - buf);
}

}  // namespace ruvector::kernels
