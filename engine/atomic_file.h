// Whole-file writes that survive a crash and report a full or read-only disk: the bytes go to PATH.tmp,
// which is fsync'ed and renamed over PATH (then the folder is fsync'ed), so PATH is always the old file or the
// new one, never half of one. A failed write removes PATH.tmp and throws naming the file and the system's
// reason ("No space left on device", "Read-only file system"); PATH is left as it was.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace tailor {

void write_file_atomic(const std::string& path, const void* data, size_t size);
// The same for a file produced in pieces (larger than memory): `produce` calls `write` with each piece in order.
using WriteBytes = std::function<void(const void* data, size_t size)>;
void write_file_atomic_with(const std::string& path, const std::function<void(const WriteBytes& write)>& produce);

// One line (a '\n' is added) appended to a log and flushed to the file: throws naming the file and the
// reason when it cannot be (the log keeps the lines before it; a partial line may remain, and a resume
// cuts the log back to its state's length).
void append_line_to(const std::string& path, const std::string& line);

// Why no new file can be made in `folder` (the system's reason: a read-only file system, no inodes left), "" when
// one can: a probe file created and removed, so that a command refuses before its work, not at its first write.
std::string cannot_create_in(const std::string& folder);

// fsync of an existing file (nothing when it does not exist), so that what was appended to it reaches the disk
// before a state that counts its bytes does. Throws naming the file and the reason.
void sync_file(const std::string& path);

}  // namespace tailor
