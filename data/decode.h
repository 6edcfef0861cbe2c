// Image file decoding: JPEG, PNG and binary PPM/PGM, by content (magic bytes), to interleaved uint8.
//
// Backends: stb_image for everything; libjpeg-turbo for JPEG when built with TAILOR_HAVE_LIBJPEG
// (bit-exact with PIL, which links the same library). Before decoding, a structural check rejects
// truncated files that the decoders would otherwise pad silently: a JPEG must reach its EOI marker, a PNG
// its IEND chunk with valid chunk CRCs, a PPM/PGM must hold its whole raster. Grayscale, palette, alpha, 16-bit and CMYK inputs become RGB
// (alpha dropped, like PIL's convert("RGB")). Every error is a std::runtime_error naming the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace tailor::data {

enum class ImageFormat { Unknown, Jpeg, Png, Pnm };
ImageFormat sniff_image_format(const uint8_t* bytes, size_t n);

// Reads a whole file; throws "<path>: cannot open ..." / "<path>: empty file".
std::vector<uint8_t> read_file(const std::string& path);

// Decodes to `channels` = 3 (RGB) or 1 (luma, PIL's L = (19595 R + 38470 G + 7471 B + 2^15) >> 16).
// `name` is used in error messages.
ImageU8 decode_image(const uint8_t* bytes, size_t n, const std::string& name, int channels = 3);
ImageU8 decode_image_file(const std::string& path, int channels = 3);

// Structural checks (also run by decode_image); throw naming `name`.
void check_jpeg_structure(const uint8_t* p, size_t n, const std::string& name);
void check_png_structure(const uint8_t* p, size_t n, const std::string& name);
void check_pnm_structure(const uint8_t* p, size_t n, const std::string& name);

// Which decoder handles JPEG in this build: "libjpeg-turbo" or "stb_image".
const char* jpeg_decoder_name();

// Decoders by name, for benchmarks and cross-checks (no structural check; RGB output).
ImageU8 decode_stb(const uint8_t* bytes, size_t n, const std::string& name);
bool have_libjpeg();
ImageU8 decode_libjpeg(const uint8_t* bytes, size_t n, const std::string& name);  // throws if !have_libjpeg()

// Largest accepted image: 2^15 per side and 2^26 pixels (guards against decompression bombs).
constexpr int64_t kMaxImageSide = 32768;
constexpr int64_t kMaxImagePixels = 67108864;

}  // namespace tailor::data
