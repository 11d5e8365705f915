// What the C++ benchmarks share: a float32 (n, d) array from a .npy file (gen_data.py's output).
#pragma once
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

struct Dataset {
	std::vector<float> x;
	std::size_t n = 0, dim = 0;
};

// Minimal .npy reader: version 1/2 header, little-endian float32, C order, two dimensions.
inline Dataset read_npy(const std::string &path)
{
	std::ifstream f(path, std::ios::binary);
	if (!f)
		throw std::runtime_error("could not open \"" + path + "\"");
	char magic[8];
	f.read(magic, 8);
	if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0)
		throw std::runtime_error("\"" + path + "\" is not a .npy file");
	std::size_t header_len = 0;
	if (magic[6] == 1) {
		unsigned char b[2];
		f.read(reinterpret_cast<char *>(b), 2);
		header_len = b[0] | std::size_t(b[1]) << 8;
	} else {
		unsigned char b[4];
		f.read(reinterpret_cast<char *>(b), 4);
		header_len = b[0] | std::size_t(b[1]) << 8 | std::size_t(b[2]) << 16 | std::size_t(b[3]) << 24;
	}
	std::string header(header_len, '\0');
	f.read(header.data(), std::streamsize(header_len));
	if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
		throw std::runtime_error("\"" + path + "\" must hold a C-order float32 array");
	std::size_t open = header.find('('), n = 0, dim = 0;
	if (open == std::string::npos || std::sscanf(header.c_str() + open, "(%zu, %zu)", &n, &dim) != 2)
		throw std::runtime_error("\"" + path + "\" must hold a two-dimensional array");
	Dataset d{std::vector<float>(n * dim), n, dim};
	f.read(reinterpret_cast<char *>(d.x.data()), std::streamsize(d.x.size() * sizeof(float)));
	if (!f)
		throw std::runtime_error("\"" + path + "\" is truncated");
	return d;
}

}  // namespace bench
