// `tailor verify-data`: dataset pre-flight check (logic in data/verify.cpp, usage in docs/data.md).
#include <iostream>

#include "data/verify.h"

namespace tailor {
int cmd_verify_data(int argc, char** argv) { return data::verify_data_main(argc, argv, std::cout, std::cerr); }
}  // namespace tailor
