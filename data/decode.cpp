#include "data/decode.h"

#include <stb_image.h>
#include <zlib.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#ifdef TAILOR_HAVE_LIBJPEG
#include <csetjmp>
#include <jpeglib.h>
#endif

namespace tailor::data {

static std::runtime_error decode_error(const std::string& name, const std::string& what) {
  return std::runtime_error(name + ": " + what);
}

ImageFormat sniff_image_format(const uint8_t* p, size_t n) {
  if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return ImageFormat::Jpeg;
  if (n >= 8 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return ImageFormat::Png;
  if (n >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6')) return ImageFormat::Pnm;
  return ImageFormat::Unknown;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<uint8_t> buf;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f.get())) > 0) buf.insert(buf.end(), chunk, chunk + got);
  if (std::ferror(f.get())) throw std::runtime_error(path + ": read error");
  if (buf.empty()) throw std::runtime_error(path + ": empty file (0 bytes)");
  return buf;
}

void check_jpeg_structure(const uint8_t* p, size_t n, const std::string& name) {
  if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) throw decode_error(name, "not a JPEG file (no SOI marker)");
  size_t pos = 2;
  bool seen_sos = false;
  for (;;) {
    if (pos >= n) throw decode_error(name, "truncated JPEG (ends before the EOI marker)");
    if (p[pos] != 0xFF) throw decode_error(name, "corrupt JPEG (expected a marker at byte " + std::to_string(pos) + ")");
    while (pos < n && p[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) throw decode_error(name, "truncated JPEG (ends inside a marker)");
    uint8_t m = p[pos++];
    if (m == 0xD9) {
      if (!seen_sos) throw decode_error(name, "corrupt JPEG (EOI before any scan)");
      return;
    }
    if (m == 0x00) throw decode_error(name, "corrupt JPEG (stuffed byte outside a scan)");
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // standalone markers
    if (pos + 2 > n) throw decode_error(name, "truncated JPEG (segment header cut off)");
    size_t len = ((size_t)p[pos] << 8) | p[pos + 1];
    if (len < 2) throw decode_error(name, "corrupt JPEG (segment length < 2)");
    if (pos + len > n) throw decode_error(name, "truncated JPEG (segment runs past the end of the file)");
    pos += len;
    if (m == 0xDA) {  // entropy-coded data follows: scan to the next real marker
      seen_sos = true;
      for (;;) {
        if (pos + 1 >= n) throw decode_error(name, "truncated JPEG (scan data ends before the EOI marker)");
        if (p[pos] == 0xFF) {
          uint8_t nx = p[pos + 1];
          if (nx == 0x00 || (nx >= 0xD0 && nx <= 0xD7)) {
            pos += 2;
            continue;
          }
          if (nx == 0xFF) {
            ++pos;
            continue;
          }
          break;  // a marker: continue the segment walk at pos
        }
        ++pos;
      }
    }
  }
}

void check_png_structure(const uint8_t* p, size_t n, const std::string& name) {
  if (n < 8 || std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) != 0) throw decode_error(name, "not a PNG file (bad signature)");
  size_t pos = 8;
  bool first = true;
  for (;;) {
    if (pos + 12 > n) throw decode_error(name, "truncated PNG (ends before the IEND chunk)");
    uint32_t len = ((uint32_t)p[pos] << 24) | ((uint32_t)p[pos + 1] << 16) | ((uint32_t)p[pos + 2] << 8) | p[pos + 3];
    if (len > 0x7fffffffu || (size_t)len > n - pos - 12)
      throw decode_error(name, "truncated PNG (chunk at byte " + std::to_string(pos) + " runs past the end of the file)");
    const uint8_t* type = p + pos + 4;
    uint32_t crc_stored = ((uint32_t)p[pos + 8 + len] << 24) | ((uint32_t)p[pos + 9 + len] << 16) |
                          ((uint32_t)p[pos + 10 + len] << 8) | p[pos + 11 + len];
    uint32_t crc = (uint32_t)crc32(0L, type, (uInt)(len + 4));
    std::string t((const char*)type, 4);
    if (crc != crc_stored) throw decode_error(name, "corrupt PNG (CRC mismatch in chunk " + t + ")");
    if (first && t != "IHDR") throw decode_error(name, "corrupt PNG (first chunk is not IHDR)");
    first = false;
    pos += 12 + len;
    if (t == "IEND") return;
  }
}

void check_pnm_structure(const uint8_t* p, size_t n, const std::string& name) {
  // "P5"/"P6", whitespace-separated width, height, maxval (comments start with #), one whitespace, raster.
  if (n < 2 || p[0] != 'P' || (p[1] != '5' && p[1] != '6')) throw decode_error(name, "not a binary PPM/PGM file");
  size_t pos = 2;
  int64_t v[3] = {0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    for (;;) {
      while (pos < n && std::isspace(p[pos])) ++pos;
      if (pos < n && p[pos] == '#') {
        while (pos < n && p[pos] != '\n' && p[pos] != '\r') ++pos;
        continue;
      }
      break;
    }
    if (pos >= n || !std::isdigit(p[pos])) throw decode_error(name, "truncated or corrupt PPM header");
    while (pos < n && std::isdigit(p[pos])) {
      v[k] = v[k] * 10 + (p[pos++] - '0');
      if (v[k] > kMaxImagePixels) throw decode_error(name, "PPM header value too large");
    }
  }
  if (pos >= n || !std::isspace(p[pos])) throw decode_error(name, "truncated or corrupt PPM header");
  ++pos;
  if (v[0] <= 0 || v[1] <= 0 || v[2] <= 0 || v[2] > 65535) throw decode_error(name, "corrupt PPM header values");
  const int64_t need = v[0] * v[1] * (p[1] == '6' ? 3 : 1) * (v[2] > 255 ? 2 : 1);
  if ((int64_t)(n - pos) < need)
    throw decode_error(name, "truncated PPM (" + std::to_string(n - pos) + " of " + std::to_string(need) + " raster bytes)");
}

static void check_dims(int64_t w, int64_t h, const std::string& name) {
  if (w <= 0 || h <= 0) throw decode_error(name, "image has zero size");
  if (w > kMaxImageSide || h > kMaxImageSide || w * h > kMaxImagePixels)
    throw decode_error(name, "image too large (" + std::to_string(w) + "x" + std::to_string(h) + ")");
}

ImageU8 decode_stb(const uint8_t* bytes, size_t n, const std::string& name) {
  if (n > (size_t)INT32_MAX) throw decode_error(name, "file too large");
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes, (int)n, &w, &h, &c))
    throw decode_error(name, std::string("cannot decode (") + (stbi_failure_reason() ? stbi_failure_reason() : "?") + ")");
  check_dims(w, h, name);
  unsigned char* px = stbi_load_from_memory(bytes, (int)n, &w, &h, &c, 3);
  if (!px) throw decode_error(name, std::string("cannot decode (") + (stbi_failure_reason() ? stbi_failure_reason() : "?") + ")");
  ImageU8 im;
  im.height = h;
  im.width = w;
  im.channels = 3;
  im.data.assign(px, px + (size_t)w * h * 3);
  stbi_image_free(px);
  return im;
}

#ifdef TAILOR_HAVE_LIBJPEG
namespace {
struct JpegErr {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
};
void jpeg_error_exit(j_common_ptr cinfo) {
  JpegErr* e = (JpegErr*)cinfo->err;
  (*cinfo->err->format_message)(cinfo, e->msg);
  longjmp(e->jump, 1);
}
void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_error_exit(cinfo);  // corrupt-data warnings are errors (never decode a damaged image)
}
}  // namespace
bool have_libjpeg() { return true; }
const char* jpeg_decoder_name() { return "libjpeg-turbo"; }

ImageU8 decode_libjpeg(const uint8_t* bytes, size_t n, const std::string& name) {
  // libjpeg reports errors by longjmp: nothing with a destructor may live between setjmp and the calls that
  // can jump, so the scanline buffer is malloc'ed and released on both paths.
  jpeg_decompress_struct cinfo;
  JpegErr err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_emit_message;
  err.msg[0] = 0;
  uint8_t* volatile buf = nullptr;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    std::free(buf);
    throw decode_error(name, std::string("cannot decode JPEG (") + err.msg + ")");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes, (unsigned long)n);
  jpeg_read_header(&cinfo, TRUE);
  const bool is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = is_cmyk ? JCS_CMYK : JCS_RGB;
  if ((int64_t)cinfo.image_width <= 0 || (int64_t)cinfo.image_height <= 0 ||
      (int64_t)cinfo.image_width > kMaxImageSide || (int64_t)cinfo.image_height > kMaxImageSide ||
      (int64_t)cinfo.image_width * cinfo.image_height > kMaxImagePixels) {
    jpeg_destroy_decompress(&cinfo);
    throw decode_error(name, "image too large or empty");
  }
  jpeg_start_decompress(&cinfo);
  const int w = (int)cinfo.output_width, h = (int)cinfo.output_height, oc = cinfo.output_components;
  buf = (uint8_t*)std::malloc((size_t)w * h * oc);
  if (!buf) {
    jpeg_destroy_decompress(&cinfo);
    throw decode_error(name, "out of memory");
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = buf + (size_t)cinfo.output_scanline * w * oc;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  ImageU8 im;
  im.height = h;
  im.width = w;
  im.channels = 3;
  im.data.resize((size_t)w * h * 3);
  if (oc == 3) {
    std::memcpy(im.data.data(), buf, im.data.size());
  } else {  // CMYK (Adobe-inverted) -> RGB as stb_image does: R = C*K/255
    for (size_t i = 0; i < (size_t)w * h; ++i)
      for (int k = 0; k < 3; ++k) {
        unsigned t = (unsigned)buf[i * 4 + k] * buf[i * 4 + 3] + 128;
        im.data[i * 3 + k] = (uint8_t)((t + (t >> 8)) >> 8);
      }
  }
  std::free(buf);
  return im;
}
#else
bool have_libjpeg() { return false; }
const char* jpeg_decoder_name() { return "stb_image"; }
ImageU8 decode_libjpeg(const uint8_t*, size_t, const std::string& name) {
  throw decode_error(name, "this build has no libjpeg-turbo decoder (TAILOR_HAVE_LIBJPEG is off)");
}
#endif

static ImageU8 to_luma(const ImageU8& rgb) {
  ImageU8 g;
  g.height = rgb.height;
  g.width = rgb.width;
  g.channels = 1;
  g.data.resize((size_t)rgb.height * rgb.width);
  for (size_t i = 0; i < g.data.size(); ++i) {
    const uint8_t* p = &rgb.data[i * 3];
    g.data[i] = (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
  }
  return g;
}

ImageU8 decode_image(const uint8_t* bytes, size_t n, const std::string& name, int channels) {
  if (channels != 1 && channels != 3) throw decode_error(name, "decode_image: channels must be 1 or 3");
  if (n == 0) throw decode_error(name, "empty file (0 bytes)");
  ImageU8 im;
  switch (sniff_image_format(bytes, n)) {
    case ImageFormat::Jpeg:
      check_jpeg_structure(bytes, n, name);
      im = have_libjpeg() ? decode_libjpeg(bytes, n, name) : decode_stb(bytes, n, name);
      break;
    case ImageFormat::Png:
      check_png_structure(bytes, n, name);
      im = decode_stb(bytes, n, name);  // stb_image handles every format it recognises
      break;
    case ImageFormat::Pnm:
      check_pnm_structure(bytes, n, name);
      im = decode_stb(bytes, n, name);
      break;
    default:
      throw decode_error(name, "not a JPEG, PNG or PPM/PGM image (unrecognised header bytes)");
  }
  return channels == 1 ? to_luma(im) : im;
}

ImageU8 decode_image_file(const std::string& path, int channels) {
  std::vector<uint8_t> b = read_file(path);
  return decode_image(b.data(), b.size(), path, channels);
}

}  // namespace tailor::data
