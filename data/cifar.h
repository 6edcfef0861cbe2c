// CIFAR-10 / CIFAR-100 in the official binary format.
//   CIFAR-10:  data_batch_1.bin .. data_batch_5.bin (train), test_batch.bin (test); each record is
//              1 label byte + 3072 bytes (R plane, G plane, B plane, 32x32 each, row-major); 10000 records/file.
//              Class names from batches.meta.txt when present.
//   CIFAR-100: train.bin (50000 records), test.bin (10000); each record is coarse byte + fine byte + 3072.
//              Fine labels by default; names from fine_label_names.txt / coarse_label_names.txt when present.
// `root` may also be the parent of cifar-10-batches-bin/ or cifar-100-binary/.
#pragma once
#include <string>

#include "data/dataset.h"

namespace tailor::data {

enum class CifarKind { Auto, Cifar10, Cifar100 };

// split: "train" or "test". Checks: every file present, exact size (a multiple of the record size
// and the expected record count), labels in range. Errors name the file and the record.
Dataset load_cifar_bin(const std::string& root, const std::string& split, CifarKind kind = CifarKind::Auto,
                       bool cifar100_coarse = false);

// The folder holding `kind`'s binary files (any kind for Auto): `root`, or its cifar-10-batches-bin/ or
// cifar-100-binary/; "" when none holds one. load_cifar_bin reads from it.
std::string cifar_binaries_folder(const std::string& root, CifarKind kind);

// Parses one file's bytes (exposed for tests and fuzzing). Appends to `out` (HWC pixels, labels).
void parse_cifar_records(const uint8_t* bytes, size_t n, const std::string& name, bool cifar100, bool coarse,
                         int64_t expected_records, Dataset& out);

}  // namespace tailor::data
