#include "engine/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace tailor {

namespace {

[[noreturn]] void fail_on(const std::string& file, const std::string& what, int err) {
  throw std::runtime_error(file + ": " + what + " (" + std::strerror(err) + ")");
}

void write_all(int fd, const uint8_t* p, size_t n, const std::string& file) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_on(file, "write failed", errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  write_file_atomic_with(path, [&](const WriteBytes& write) { write(data, size); });
}

void write_file_atomic_with(const std::string& path, const std::function<void(const WriteBytes& write)>& produce) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_on(tmp, "cannot open for writing", errno);
  try {
    produce([&](const void* data, size_t size) { write_all(fd, static_cast<const uint8_t*>(data), size, tmp); });
    if (::fsync(fd) != 0) fail_on(tmp, "fsync failed", errno);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail_on(tmp, "close failed", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail_on(path, "rename from .tmp failed", err);
  }
  const int dfd = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // best effort: make the rename durable
    ::fsync(dfd);
    ::close(dfd);
  }
}

void append_line_to(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) fail_on(path, "cannot open to append", errno);
  const std::string text = line + "\n";
  try {
    write_all(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail_on(path, "close failed", errno);
}

std::string cannot_create_in(const std::string& folder) {
  const std::string probe = (folder.empty() ? std::string(".") : folder) + "/.tailor_write_test";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return std::strerror(errno);
  ::close(fd);
  ::unlink(probe.c_str());
  return "";
}

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;
    fail_on(path, "cannot open to sync", errno);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail_on(path, "fsync failed", err);
  }
  ::close(fd);
}

}  // namespace tailor
